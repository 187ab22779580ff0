//! Disconnect — `POST /api/integrations/whatsapp/disconnect` (the caller's organization) and
//! `POST /api/v1/organizations/{organizationId}/whatsapp/disconnect`.
//!
//! Marks the organization's phones inactive, erases their token and PIN ciphertexts and clears
//! Organization.wabaId in one transaction; then, unless another organization still has an
//! active connection to the WABA, unsubscribes the app from it (best effort: the local
//! state is already correct whatever Meta answers).

use serde_json::json;
use shared::domain::{AccessToken, Organization, OrganizationId, PhoneNumber, Source, WabaId};
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
        unsubscribe_unless_shared(app, &organization, &waba, &token).await;
    }
    Ok(Response::ok(&json!({ "success": true, "message": "WhatsApp disconnected." })))
}

/// Seed 002 lets several organizations connect one WABA; the app's subscription is shared
/// by all of them, so it is removed only when the last active connection goes.
async fn unsubscribe_unless_shared(app: &App, organization: &Organization, waba: &WabaId, token: &AccessToken) {
    let still_used = match still_connected_elsewhere(app, organization, waba).await {
        Ok(used) => used,
        Err(error) => {
            tracing::warn!(%error, %waba, "could not tell whether the WABA is shared; keeping the subscription");
            true
        }
    };
    if still_used {
        tracing::info!(%waba, "another organization still uses this WABA; subscription kept");
        return;
    }
    let unsubscribed = async { Ok::<_, ApiError>(app.meta()?.unsubscribe_app(token, waba).await?) }.await;
    if let Err(error) = unsubscribed {
        tracing::warn!(%error, %waba, "unsubscribing from the WABA failed; the connection is removed regardless");
    }
}

async fn still_connected_elsewhere(app: &App, organization: &Organization, waba: &WabaId) -> Result<bool, ApiError> {
    Ok(app.records.routes(waba, None).await?.iter().any(|route| route.organization_id != organization.id))
}
