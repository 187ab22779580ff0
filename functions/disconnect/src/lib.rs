//! Disconnect — `POST /api/integrations/whatsapp/disconnect` (the caller's organization) and
//! `POST /api/v1/organizations/{organizationId}/whatsapp/disconnect`.
//!
//! Marks the organization's phones inactive, erases their token and PIN ciphertexts and clears
//! Organization.wabaId in one transaction; then, unless another organization still has an
//! active connection to the WABA, unsubscribes the app from it (best effort: the local
//! state is already correct whatever Meta answers).

use serde_json::json;
use shared::domain::{OrganizationId, PhoneNumber, Source};
use shared::lifecycle::{self, Observation};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization = match request.route.action {
        Action::OrganizationDisconnect => {
            let id: OrganizationId = request.path("organizationId")?;
            app.owned_organization(&caller, &id).await?
        }
        _ => app.caller_organization(&caller).await?,
    };
    let active: Vec<PhoneNumber> =
        app.records.phones(&organization.id).await?.into_iter().filter(PhoneNumber::is_active).collect();
    if active.is_empty() && organization.waba_id.is_none() {
        return Ok(Response::ok(&json!({ "success": true, "message": "WhatsApp was not connected." })));
    }

    // Open a token before the ciphertexts are erased: the unsubscribe call needs one.
    let unsubscribe = match (organization.waba_id.clone(), active.first()) {
        (Some(waba), Some(phone)) => lifecycle::phone_token(app, phone).await.ok().map(|token| (waba, token)),
        _ => None,
    };

    let seen = Observation::new(Source::Api, app.now());
    lifecycle::disconnect(app, &organization, &active, &seen, &[]).await?;
    tracing::info!(organization = %organization.id, phones = active.len(), "WhatsApp disconnected");

    if let Some((waba, token)) = unsubscribe {
        lifecycle::unsubscribe_unless_shared(app, &organization, &waba, &token).await;
    }
    Ok(Response::ok(&json!({ "success": true, "message": "WhatsApp disconnected." })))
}
