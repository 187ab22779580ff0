//! Registration — the organization's routes for a number's Cloud API registration (JWT,
//! the organization's owner):
//!
//! - `POST …/phone-numbers/{phoneNumberId}/register` `{pin?}`. With `pin`: the number's own
//!   two-step verification PIN, which the person enters when Meta answered a registration
//!   with 133005 (`pin_required`); it is sealed and kept like a token once Meta accepts it.
//!   Without a body: retries a `pending` or `failed` registration now, with the PIN the
//!   service registered the number with. Either way one attempt, within Meta's ten per
//!   number in 72 hours, and none while Meta blocks the number after 133016 (409
//!   `registration_limited`, Meta not called). A registered (or coexistence) number is
//!   answered as it is, without calling Meta.
//! - `POST …/phone-numbers/{phoneNumberId}/request-code` `{method: "SMS"|"VOICE", language?}`:
//!   Meta sends a verification code to a number it has not verified.
//! - `POST …/phone-numbers/{phoneNumberId}/verify-code` `{code}`: the code the person
//!   received; on success the number is registered at once. The code is never kept.

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use shared::cipher::{Purpose, TokenContext};
use shared::domain::{OrganizationId, PhoneNumber, PhoneNumberId, Registration, RegistrationPin, VerificationCode};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, lifecycle, registration};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Register {
    pin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestCode {
    method: String,
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyCode {
    code: String,
}

/// The language Meta's `request_code` requires, when the person names none.
const DEFAULT_LANGUAGE: &str = "en_US";

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization_id: OrganizationId = request.path("organizationId")?;
    let phone_id: PhoneNumberId = request.path("phoneNumberId")?;
    // The body is checked before anything is read, so a malformed one costs nothing.
    let body = Body::parse(request.route.action, &request)?;
    let organization = app.owned_organization(&caller, &organization_id).await?;
    act(app, &organization.id, &phone_id, body).await
}

/// The same routes for an organization its caller already may act for (an onboarding link's
/// hosted page).
pub async fn for_organization(
    app: &App,
    organization: &OrganizationId,
    request: &Request,
) -> Result<Response, ApiError> {
    let phone_id: PhoneNumberId = request.path("phoneNumberId")?;
    let body = Body::parse(request.route.action, request)?;
    act(app, organization, &phone_id, body).await
}

async fn act(
    app: &App,
    organization: &OrganizationId,
    phone_id: &PhoneNumberId,
    body: Body,
) -> Result<Response, ApiError> {
    let phone = app
        .records
        .phone(organization, phone_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This organization has no such phone number."))?;
    phone.token().ok_or_else(ApiError::not_connected)?;
    match body {
        Body::Register(given) => register(app, phone, given).await,
        Body::RequestCode { method, language } => {
            registration::request_code(app, &phone, &method, &language).await?;
            Ok(Response::ok(&json!({
                "success": true,
                "message": format!("Meta is sending a verification code to {} by {method}.", phone.display_phone),
                "phone": phone.view(),
            })))
        }
        Body::VerifyCode(code) => {
            let mut phone = phone;
            registration::verify_code(app, &mut phone, code).await?;
            registered(&phone)
        }
    }
}

/// A route's body, parsed before anything is read.
enum Body {
    Register(Option<RegistrationPin>),
    RequestCode { method: String, language: String },
    VerifyCode(VerificationCode),
}

impl Body {
    fn parse(action: Action, request: &Request) -> Result<Self, ApiError> {
        Ok(match action {
            Action::RegisterPhone | Action::LinkRegisterPhone => {
                let body: Register = if request.body.is_empty() { Register::default() } else { request.json()? };
                Body::Register(
                    body.pin.as_deref().map(RegistrationPin::parse).transpose().map_err(ApiError::validation)?,
                )
            }
            Action::RequestVerificationCode | Action::LinkRequestVerificationCode => {
                let body: RequestCode = request.json()?;
                if !matches!(body.method.as_str(), "SMS" | "VOICE") {
                    return Err(ApiError::validation("`method` must be SMS or VOICE"));
                }
                let language = body.language.unwrap_or_else(|| DEFAULT_LANGUAGE.into());
                let shaped =
                    (2..=7).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
                if !shaped {
                    return Err(ApiError::validation("`language` must be a language code such as en_US"));
                }
                Body::RequestCode { method: body.method, language }
            }
            Action::VerifyCode | Action::LinkVerifyCode => {
                let body: VerifyCode = request.json()?;
                Body::VerifyCode(VerificationCode::parse(&body.code).map_err(ApiError::validation)?)
            }
            other => return Err(ApiError::internal(format!("register does not serve {other:?}"))),
        })
    }
}

async fn register(app: &App, mut phone: PhoneNumber, given: Option<RegistrationPin>) -> Result<Response, ApiError> {
    if phone.registration.allows_sending() {
        return Ok(answer(StatusCode::OK, &phone));
    }
    if phone.registration == Registration::VerificationRequired {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "verification_required",
            "Meta has not verified this number, so it cannot be registered yet.",
        )
        .with_action(lifecycle::action(&phone, app.now()).unwrap_or_default()));
    }
    // Meta's window is full, or Meta blocks the number after 133016: asking would only be
    // refused (and, during a block, prolong nothing but the person's wait).
    if let Some(next) = phone.next_registration_attempt(app.now()) {
        return Err(ApiError::registration_limited(next));
    }
    let pin_context = TokenContext::new(&phone.organization_id, Purpose::RegistrationPin);
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
    let attempt =
        registration::register(app, &mut phone, &token, &pin, store_pin.as_ref(), shared::domain::Source::Api).await?;
    if attempt == registration::Attempt::UnderWay {
        return Err(ApiError::registration_under_way());
    }
    registered(&phone)
}

/// The answer once a registration was attempted: the phone as it now stands, or why not.
fn registered(phone: &PhoneNumber) -> Result<Response, ApiError> {
    match &phone.registration {
        Registration::Registered | Registration::NotRequired => Ok(answer(StatusCode::OK, phone)),
        Registration::Pending { .. } => match phone.registration_limited_until {
            Some(until) if until > shared::clock::Timestamp::now() => Err(ApiError::registration_limited(until)),
            // Retried later (the health sweep), within Meta's allowance.
            _ => Ok(answer(StatusCode::ACCEPTED, phone)),
        },
        Registration::PinRequired => Err(ApiError::pin_mismatch()),
        Registration::VerificationRequired => Err(ApiError::new(
            StatusCode::CONFLICT,
            "verification_required",
            "Meta asks to verify this number before it is registered.",
        )
        .with_action("Request a verification code (POST …/request-code), then enter it (POST …/verify-code).")),
        Registration::Failed { reason } => {
            Err(ApiError::meta_error(format!("Meta refused the registration: {reason}"))
                .with_action("Fix the number in WhatsApp Manager (verification, display name), then retry."))
        }
    }
}

fn answer(status: StatusCode, phone: &PhoneNumber) -> Response {
    Response::json(status, &json!({ "success": true, "phone": phone.view() }))
}
