//! Connection status — `GET /api/integrations/whatsapp/status` (the caller's organization)
//! and `GET /api/v1/organizations/{organizationId}/whatsapp/status`.
//!
//! Read from the PhoneNumber authority; `connected` is true exactly when a phone is active.

use serde_json::json;
use shared::domain::{OrganizationId, PhoneNumber};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization = match request.route.action {
        Action::OrganizationStatus => {
            let id: OrganizationId = request.path("organizationId")?;
            app.owned_organization(&caller, &id).await?
        }
        _ => app.caller_organization(&caller).await?,
    };
    let phones = app.records.phones(&organization.id).await?;
    Ok(Response::ok(&json!({
        "success": true,
        "organizationId": organization.id,
        "connected": phones.iter().any(PhoneNumber::is_active),
        "wabaId": organization.waba_id,
        "phoneNumbers": phones.iter().map(PhoneNumber::view).collect::<Vec<_>>(),
    })))
}
