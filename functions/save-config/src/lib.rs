//! Step 5 — `POST /api/v1/organizations/{organizationId}/whatsapp/save-config`
//! `{state, wabaId, phoneNumberId}` (JWT).
//!
//! Checks the state (the one the callback handed back: the caller's, for this organization,
//! authorized, unexpired, unused), that the WABA was granted and the phone belongs to it;
//! subscribes the app to the WABA's webhooks; writes PhoneNumber, Organization.wabaId and
//! the state's consumption in one transaction; then registers the number for Cloud API
//! unless it is already registered. Of two concurrent saves on one state exactly one wins.

use serde::Deserialize;
use serde_json::json;
use shared::domain::{OrganizationId, PhoneMode, PhoneNumberId, StateToken, WabaId};
use shared::onboarding::{self, Connect, PhoneToConnect};
use shared::{ApiError, App, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SaveConfig {
    state: String,
    waba_id: WabaId,
    phone_number_id: PhoneNumberId,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization_id: OrganizationId = request.path("organizationId")?;
    let body: SaveConfig = request.json()?;
    let token: StateToken = body.state.parse().map_err(|_| ApiError::invalid_state())?;
    let organization = app.owned_organization(&caller, &organization_id).await?;
    let state = onboarding::caller_state(app, &caller.user, &token).await?;
    if state.organization_id != organization.id {
        return Err(ApiError::forbidden("This OAuth state was issued for another organization."));
    }
    let authorization = onboarding::authorization(&state)?;
    let waba = onboarding::granted(&authorization.granted_wabas, &body.waba_id)?;
    let access_token = onboarding::open_state_token(app, &state, authorization).await?;

    let phones = app.meta()?.phone_numbers(&access_token, waba).await?;
    if phones.is_empty() {
        return Err(ApiError::no_phone_numbers());
    }
    let chosen = phones.into_iter().find(|p| p.id == body.phone_number_id.as_str()).ok_or_else(|| {
        ApiError::validation("This phone number does not belong to the selected WhatsApp Business Account.")
    })?;

    let mode = if chosen.is_on_biz_app { PhoneMode::Coexistence } else { PhoneMode::CloudApi };
    let saved = onboarding::connect(
        app,
        Connect {
            organization: &organization,
            state: &state.key,
            token: &access_token,
            token_kind: authorization.token_kind,
            token_expires_at: authorization.token_expires_at,
            waba,
            phones: vec![PhoneToConnect { info: chosen, mode }],
            onboarding_link: None,
        },
    )
    .await?;
    let phone = &saved[0];
    Ok(Response::ok(&json!({
        "success": true,
        "data": {
            "id": organization.id,
            "name": organization.name.as_str(),
            "whatsappPhoneId": phone.phone_number_id,
            "whatsappBusinessId": phone.waba_id,
            "isActive": phone.is_active(),
            "mode": phone.mode.as_str(),
            "registration": phone.registration.as_str(),
            "registrationReason": phone.registration.reason(),
            "canSend": phone.can_send(),
        },
        "message": "WhatsApp configuration saved successfully",
    })))
}
