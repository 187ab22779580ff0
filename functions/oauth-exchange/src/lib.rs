//! One-shot connection — `POST /api/integrations/whatsapp/oauth` `{code, state, wabaId?}`
//! (JWT), the Embedded Signup style of seed 002.
//!
//! Exchanges the code (once: a state the callback already authorized with this code is
//! reused), picks the WABA (the one given, which must be granted, else the most recently
//! granted), saves every phone number of it, points the organization at it and subscribes
//! the app to its webhooks.

use serde::Deserialize;
use serde_json::json;
use shared::domain::{OrganizationId, StateToken, WabaId};
use shared::onboarding;
use shared::{ApiError, App, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Exchange {
    code: String,
    state: String,
    waba_id: Option<WabaId>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let body: Exchange = request.json()?;
    let token: StateToken = body.state.parse().map_err(|_| ApiError::invalid_state())?;
    let state = onboarding::caller_state(app, &caller.user, &token).await?;

    // The state names the organization; a claim naming another one is a mismatch, not a choice.
    if let Some(claimed) = caller.claims.get(&app.config.org_claim)
        && claimed.parse::<OrganizationId>().ok().as_ref() != Some(&state.organization_id)
    {
        return Err(ApiError::forbidden("This OAuth state was issued for another organization."));
    }
    let organization = app.owned_organization(&caller, &state.organization_id).await?;

    let state = onboarding::authorize(app, state, &body.code).await?;
    let authorization = onboarding::authorization(&state)?;
    let waba = match &body.waba_id {
        Some(requested) => onboarding::granted(authorization, requested)?,
        None => authorization.granted_wabas.first().ok_or_else(ApiError::no_waba_found)?,
    };
    let access_token = onboarding::open_state_token(app, &state, authorization).await?;
    let phones = app.meta.phone_numbers(&access_token, waba).await?;
    if phones.is_empty() {
        return Err(ApiError::no_phone_numbers());
    }
    let saved = onboarding::connect(app, &organization, &state, &access_token, waba, &phones).await?;

    Ok(Response::ok(&json!({
        "success": true,
        "message": "WhatsApp connected successfully",
        "wabaId": waba,
        "phoneCount": saved.len(),
        "phones": saved.iter().map(|p| json!({ "id": p.phone_number_id, "display": p.display_phone })).collect::<Vec<_>>(),
    })))
}
