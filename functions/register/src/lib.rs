//! Registration — `POST /api/v1/organizations/{organizationId}/whatsapp/phone-numbers/{phoneNumberId}/register`
//! `{pin?}` (JWT, the organization's owner).
//!
//! With `pin`: the number's own two-step verification PIN, which the person enters when Meta
//! answered a registration with 133005 (`pin_required`); it is sealed and kept like a token
//! once Meta accepts it. Without a body: retries a `pending` or `failed` registration now,
//! with the PIN the service registered the number with. Either way one attempt, within
//! Meta's ten per number in 72 hours. A registered (or coexistence) number is answered
//! as it is, without calling Meta.

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use shared::cipher::{Purpose, TokenContext};
use shared::domain::{OrganizationId, PhoneNumberId, Registration, RegistrationPin};
use shared::{ApiError, App, Request, Response, lifecycle, registration};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Register {
    pin: Option<String>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization_id: OrganizationId = request.path("organizationId")?;
    let phone_id: PhoneNumberId = request.path("phoneNumberId")?;
    let body: Register = if request.body.is_empty() { Register::default() } else { request.json()? };
    let given = body.pin.as_deref().map(RegistrationPin::parse).transpose().map_err(ApiError::validation)?;
    let organization = app.owned_organization(&caller, &organization_id).await?;
    let mut phone = app
        .records
        .phone(&organization.id, &phone_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This organization has no such phone number."))?;
    phone.token().ok_or_else(ApiError::not_connected)?;
    if phone.registration.allows_sending() {
        return Ok(answer(StatusCode::OK, &phone));
    }

    let pin_context = TokenContext::new(&organization.id, Purpose::RegistrationPin);
    let (pin, store_pin) = match (given, &phone.pin) {
        (Some(pin), _) => {
            let sealed = app.cipher.seal(&pin, pin_context).await?;
            (pin, Some(sealed))
        }
        (None, Some(sealed)) => (app.cipher.open::<RegistrationPin>(sealed, pin_context).await?, None),
        (None, None) => {
            return Err(ApiError::validation("This number needs its two-step verification PIN to register.")
                .with_action("Send {\"pin\": \"<6 digits>\"}: the PIN set for this number in WhatsApp Manager."));
        }
    };
    let token = lifecycle::phone_token(app, &phone).await?;
    registration::register(app, &mut phone, &token, &pin, store_pin.as_ref(), shared::domain::Source::Api).await;
    match &phone.registration {
        Registration::Registered | Registration::NotRequired => Ok(answer(StatusCode::OK, &phone)),
        // Retried later (the health sweep), within Meta's allowance.
        Registration::Pending { .. } => Ok(answer(StatusCode::ACCEPTED, &phone)),
        Registration::PinRequired => Err(ApiError::pin_mismatch()),
        Registration::Failed { reason } => {
            Err(ApiError::meta_error(format!("Meta refused the registration: {reason}"))
                .with_action("Fix the number in WhatsApp Manager (verification, display name), then retry."))
        }
    }
}

fn answer(status: StatusCode, phone: &shared::domain::PhoneNumber) -> Response {
    Response::json(status, &json!({ "success": true, "phone": phone.view() }))
}
