//! Connection status — `GET /api/integrations/whatsapp/status` (the caller's organization)
//! and `GET /api/v1/organizations/{organizationId}/whatsapp/status`.
//!
//! Read from the PhoneNumber authority; `connected` is true exactly when a phone is active,
//! `canSend` when one can send now, and `action` says what a person must do when something
//! needs them (a two-step verification PIN, a refused registration).

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
    let action = phones.iter().filter(|p| p.is_active()).find_map(shared::registration::action);
    Ok(Response::ok(&json!({
        "success": true,
        "organizationId": organization.id,
        "connected": phones.iter().any(PhoneNumber::is_active),
        "canSend": phones.iter().any(PhoneNumber::can_send),
        "wabaId": organization.waba_id,
        "action": action,
        "phoneNumbers": phones.iter().map(PhoneNumber::view).collect::<Vec<_>>(),
    })))
}
