//! Step 4 — `GET /api/v1/organizations/whatsapp/phone-numbers?state&wabaId` (JWT).
//!
//! Lists every phone number of a granted WABA (all pages), for the person to pick one.

use serde_json::json;
use shared::domain::{StateToken, WabaId};
use shared::onboarding;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let token: StateToken = request.query("state")?;
    let waba: WabaId = request.query("wabaId")?;
    let state = onboarding::caller_state(app, &caller.user, &token).await?;
    let authorization = onboarding::authorization(&state)?;
    let waba = onboarding::granted(&authorization.granted_wabas, &waba)?;
    let access_token = onboarding::open_state_token(app, &state, authorization).await?;
    let phones = app.meta()?.phone_numbers(&access_token, waba).await?;
    if phones.is_empty() {
        return Err(ApiError::no_phone_numbers());
    }
    let options: Vec<_> = phones
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "displayPhoneNumber": p.display_phone_number,
                "verifiedName": p.verified_name,
                "qualityRating": p.quality_rating,
                "registered": p.is_registered(),
                "coexistence": p.is_on_biz_app,
                "nameStatus": p.name_status,
            })
        })
        .collect();
    Ok(Response::ok(&json!({ "success": true, "phoneOptions": options })))
}
