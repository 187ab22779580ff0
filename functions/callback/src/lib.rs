//! Step 2 — `GET /api/v1/organizations/whatsapp/callback?code&state` (no JWT).
//!
//! The browser arrives here from Meta's dialog; the state authenticates it. The code is
//! exchanged (with the identical `redirect_uri`), `/debug_token` says what kind of token it
//! is, when it ends and which WABAs were granted (a short-lived user token is exchanged for
//! a long-lived one; a business token is kept as issued), and the token is sealed onto a
//! **new** state handed back to this browser: steps 3–5 accept only that one. Browsers are
//! redirected to `FRONTEND_URL` with `state` (or `error`); clients sending
//! `Accept: application/json` get JSON.
//!
//! `source=js_sdk` says the code came from Embedded Signup's popup instead, which Meta issued
//! for no redirect URI: it is exchanged without one. A page whose popup handed it a code but
//! no session event (a known Meta behaviour) continues this way, with the account and
//! number pickers of steps 3–5, rather than failing.

use serde_json::json;
use shared::domain::StateToken;
use shared::onboarding;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let state_param = request.query_value("state").map(str::to_owned);
    let outcome = authorize(app, &request).await;
    Ok(match (outcome, request.accepts_json()) {
        (Ok(state), true) => Response::ok(&json!({
            "success": true,
            "state": state,
            "message": "Authorization successful. Please select your WhatsApp Business Account and phone number.",
        })),
        (Ok(state), false) => Response::redirect(&frontend(app, &[("state", &state)])),
        (Err(error), true) => error.into(),
        (Err(error), false) => {
            let mut params = vec![("error", error.code)];
            if let Some(state) = state_param.as_deref() {
                params.push(("state", state));
            }
            Response::redirect(&frontend(app, &params))
        }
    })
}

/// Returns the new state to hand back to the browser once the code is exchanged.
async fn authorize(app: &App, request: &Request) -> Result<String, ApiError> {
    // Meta sends the person back with `error=access_denied` when they cancel the dialog.
    if let Some(error) = request.query_value("error") {
        let reason = request.query_value("error_reason").unwrap_or(error);
        tracing::info!(reason, "authorization declined at Meta");
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "access_denied",
            "WhatsApp access was not granted at Meta.",
        )
        .with_action("Start the connection again and approve access to your WhatsApp Business Account."));
    }
    let token: StateToken = request.query("state").map_err(|_| ApiError::invalid_state())?;
    let code = request.query_value("code").ok_or_else(|| ApiError::validation("query parameter `code` is required"))?;
    let state = app.records.state(&token.key()).await?.ok_or_else(ApiError::invalid_state)?;
    let source = match request.query_value("source") {
        None => onboarding::CodeSource::Dialog,
        Some("js_sdk") => onboarding::CodeSource::JsSdk,
        Some(_) => return Err(ApiError::validation("`source` must be js_sdk, or absent")),
    };
    let state = onboarding::checked(app, state).await?;
    let handed_back = onboarding::hand_back(app, state, &token, code, source).await?;
    Ok(handed_back.as_str().to_owned())
}

fn frontend(app: &App, params: &[(&str, &str)]) -> String {
    match url::Url::parse(&app.config.frontend_url) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.into()
        }
        Err(_) => app.config.frontend_url.clone(),
    }
}
