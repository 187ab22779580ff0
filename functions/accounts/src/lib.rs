//! Step 3 — `GET /api/v1/organizations/whatsapp/accounts?state` (JWT).
//!
//! Lists the WhatsApp Business Accounts the person granted at Meta, for them to pick one.
//! `state` is the one the callback handed back.

use serde_json::json;
use shared::domain::StateToken;
use shared::onboarding;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let token: StateToken = request.query("state")?;
    let state = onboarding::caller_state(app, &caller.user, &token).await?;
    let authorization = onboarding::authorization(&state)?;
    if authorization.granted_wabas.is_empty() {
        return Err(ApiError::no_waba_found());
    }
    let access_token = onboarding::open_state_token(app, &state, authorization).await?;
    let mut options = Vec::with_capacity(authorization.granted_wabas.len());
    for waba in &authorization.granted_wabas {
        let info = app.meta()?.waba(&access_token, waba).await?;
        options.push(json!({ "id": info.id, "name": info.name, "timezone_id": info.timezone_id }));
    }
    Ok(Response::ok(&json!({ "success": true, "wabaOptions": options })))
}
