//! Cloud API registration, the third server step after the code exchange and the webhook
//! subscription: `POST /{phone}/register` with a six-digit two-step verification PIN — and
//! what comes before and after it: verifying a number Meta has not verified, and
//! registering again a number Meta unregistered behind the service's back.
//!
//! The PIN is generated here (CSPRNG), sealed under its own purpose and stored on the
//! PhoneNumber *before* it is sent to Meta: a number registered with a PIN nobody kept
//! would be locked behind it. Meta allows ten attempts per number in 72 hours and, once
//! they are spent (133016), none for the next 72 hours: every attempt is counted on the
//! phone, Meta's block is kept, and no attempt is made in a loop or inside the block. What
//! Meta asks to wait for is `pending`, and the health sweep (or the register route) tries
//! again later.

use crate::app::App;
use crate::cipher::{Purpose, TokenContext};
use crate::domain::{
    AccessToken, Ciphertext, OrganizationId, PhoneMode, PhoneNumber, REGISTRATION_WINDOW_SECONDS, Registration,
    RegistrationPin, Source, VerificationCode,
};
use crate::error::ApiError;
use crate::lifecycle::{self, Observation};
use crate::meta::{MetaError, PhoneInfo};

/// The reason a phone shows while its registration call is under way.
pub const REGISTERING: &str = "registering with Meta";
/// Meta's answer for an attempt beyond the ten of its window: no registration for 72 hours.
pub const RATE_LIMITED: i64 = 133016;
/// Meta's answer for registering a number it has not verified.
pub const NEEDS_VERIFICATION: i64 = 133006;

/// What connecting a phone does about registration, decided from Meta's phone fields and
/// what the service already knows of the number.
pub enum Plan {
    /// Nothing to call: the outcome is known (already on Cloud API, coexistence, a number
    /// to verify first, or a number whose own PIN the person must enter).
    Settled(Registration),
    /// Register with this PIN; `sealed` is what the phone stores.
    Register { pin: RegistrationPin, sealed: Ciphertext },
}

impl Plan {
    pub fn registration(&self) -> Registration {
        match self {
            Plan::Settled(registration) => registration.clone(),
            Plan::Register { .. } => Registration::Pending { reason: REGISTERING.into() },
        }
    }

    pub fn sealed_pin(&self) -> Option<&Ciphertext> {
        match self {
            Plan::Settled(_) => None,
            Plan::Register { sealed, .. } => Some(sealed),
        }
    }
}

pub async fn plan(
    app: &App,
    organization: &OrganizationId,
    info: &PhoneInfo,
    mode: PhoneMode,
    known: Option<&PhoneNumber>,
) -> Result<Plan, ApiError> {
    if mode == PhoneMode::Coexistence {
        return Ok(Plan::Settled(Registration::NotRequired));
    }
    if info.is_registered() {
        return Ok(Plan::Settled(Registration::Registered));
    }
    // Meta refuses to register a number it has not verified (133006): the person verifies
    // it first, with the code Meta sends to it.
    if info.needs_verification() {
        return Ok(Plan::Settled(Registration::VerificationRequired));
    }
    match known {
        // The number has a PIN of its own that only the person knows: asking Meta again
        // with a guess would only spend an attempt.
        Some(PhoneNumber { registration: Registration::PinRequired, pin: None, .. }) => {
            Ok(Plan::Settled(Registration::PinRequired))
        }
        _ => pin_for(app, organization, known).await,
    }
}

/// The PIN to register a number with: the one this service registered it with before (the
/// number keeps it), else a new one, sealed.
async fn pin_for(app: &App, organization: &OrganizationId, known: Option<&PhoneNumber>) -> Result<Plan, ApiError> {
    let context = TokenContext::new(organization, Purpose::RegistrationPin);
    match known.and_then(|p| p.pin.as_ref()) {
        Some(sealed) => {
            let pin = app.cipher.open::<RegistrationPin>(sealed, context).await?;
            Ok(Plan::Register { pin, sealed: sealed.clone() })
        }
        None => {
            let pin = RegistrationPin::generate();
            let sealed = app.cipher.seal(&pin, context).await?;
            Ok(Plan::Register { pin, sealed })
        }
    }
}

/// Why an attempt may not be made now, if it may not: Meta's block after 133016, or a
/// full window.
pub fn limited(phone: &PhoneNumber, now: crate::clock::Timestamp) -> Option<String> {
    phone.next_registration_attempt(now).map(|next| {
        format!(
            "Meta allows 10 registration attempts per number in 72 hours; the next is possible after {}.",
            next.to_rfc3339()
        )
    })
}

/// One registration attempt for `phone` with `pin`, within Meta's allowance, and its
/// outcome recorded on the PhoneNumber (with `store_pin` when Meta did not refuse the PIN).
/// Attempts on one number are made one at a time, under a lease on it: each is decided on
/// the number as the last one left it, so Meta is never asked beyond its allowance and a
/// PIN Meta accepted is never overwritten by a later refusal. `phone` is left as stored.
/// Whatever Meta answers becomes the phone's `registration`; the call fails only when the
/// lease cannot be taken (the store is unavailable), and then no attempt was made.
pub async fn register(
    app: &App,
    phone: &mut PhoneNumber,
    token: &AccessToken,
    pin: &RegistrationPin,
    store_pin: Option<&Ciphertext>,
    source: Source,
) -> Result<Attempt, ApiError> {
    let now = app.now();
    let owner = crate::crypto::random_token::<12>();
    let until = now.plus_seconds(REGISTRATION_LEASE_SECONDS);
    match app.records.lease_registration(phone, &owner, now, until).await? {
        Some(current) => *phone = current,
        None => {
            tracing::info!(phone = %phone.phone_number_id, "another registration attempt of this number is under way");
            if let Ok(Some(current)) = app.records.phone(&phone.organization_id, &phone.phone_number_id).await {
                *phone = current;
            }
            return Ok(Attempt::UnderWay);
        }
    }
    if phone.registration.allows_sending() {
        // An attempt that held the lease before this one registered it.
        if let Err(error) = app.records.release_registration(phone, &owner).await {
            tracing::warn!(%error, phone = %phone.phone_number_id, "the registration lease was not given back");
        }
        return Ok(Attempt::Made);
    }
    let before = phone.clone();
    if let Some(reason) = limited(phone, now) {
        phone.registration = Registration::Pending { reason };
    } else {
        phone.record_registration_attempt(now);
        phone.registration = match app.meta() {
            Ok(meta) => {
                let answer = meta.register(token, &phone.phone_number_id, pin).await;
                if let Err(refusal) = &answer {
                    lifecycle::graph_refused(app, phone, refusal, source).await;
                }
                if matches!(&answer, Err(MetaError::Graph(e)) if e.code == RATE_LIMITED) {
                    // Meta's block starts now, whatever this service counted.
                    phone.registration_limited_until = Some(now.plus_seconds(REGISTRATION_WINDOW_SECONDS));
                }
                outcome(answer)
            }
            Err(error) => Registration::Failed { reason: error.message.into_owned() },
        };
    }
    let keep_pin = if phone.registration == Registration::PinRequired { None } else { store_pin };
    tracing::info!(
        organization = %phone.organization_id,
        phone = %phone.phone_number_id,
        registration = phone.registration.as_str(),
        "registration attempted"
    );
    match app.records.set_registration(phone, keep_pin, &owner, now).await {
        Ok(true) => {
            let events = lifecycle::transitions(Some(&before), phone, &Observation::new(source, now));
            if let Err(error) = app.records.record_events(&events).await {
                tracing::error!(%error, phone = %phone.phone_number_id, "registration events not stored");
            }
        }
        Ok(false) => tracing::info!(phone = %phone.phone_number_id, "the phone was disconnected meanwhile"),
        Err(error) => tracing::error!(%error, phone = %phone.phone_number_id, "registration outcome not stored"),
    }
    Ok(Attempt::Made)
}

/// How long one attempt holds a number's registration: well past one Graph call.
const REGISTRATION_LEASE_SECONDS: i64 = 60;

/// Whether [`register`] decided an attempt (made it, found the number registered, or found
/// Meta's allowance spent), or found another attempt on the number under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Attempt {
    Made,
    UnderWay,
}

/// Registers a drifted (`pending`) number again with the PIN it was registered with, when
/// Meta's allowance permits: at once after a send Meta refused with 133010, and from the
/// sweep. Whether an attempt was made.
pub async fn register_again(app: &App, phone: &PhoneNumber, token: &AccessToken, source: Source) -> bool {
    let (Registration::Pending { .. }, Some(sealed)) = (&phone.registration, &phone.pin) else { return false };
    if limited(phone, app.now()).is_some() {
        return false;
    }
    let context = TokenContext::new(&phone.organization_id, Purpose::RegistrationPin);
    let pin = match app.cipher.open::<RegistrationPin>(sealed, context).await {
        Ok(pin) => pin,
        Err(error) => {
            tracing::error!(%error, phone = %phone.phone_number_id, "the registration PIN could not be opened");
            return false;
        }
    };
    let mut phone = phone.clone();
    matches!(register(app, &mut phone, token, &pin, None, source).await, Ok(Attempt::Made))
}

/// Asks Meta to send a verification code to a number that needs one (`request_code`), by
/// `method` (`SMS` or `VOICE`) in `language` (Meta requires one). Meta's refusals are the
/// caller's to read: a 4xx with Meta's reason, never a 5xx.
pub async fn request_code(app: &App, phone: &PhoneNumber, method: &str, language: &str) -> Result<(), ApiError> {
    needs_verification(phone)?;
    let token = lifecycle::phone_token(app, phone).await?;
    let answer = app.meta()?.request_code(&token, &phone.phone_number_id, method, language).await;
    drop(token);
    tracing::info!(organization = %phone.organization_id, phone = %phone.phone_number_id, method, "verification code requested");
    verification_answer(app, phone, answer, "verification_refused").await
}

/// Verifies a number with the code the person received, then registers it at once. The
/// code is used for this one call and kept nowhere.
pub async fn verify_code(app: &App, phone: &mut PhoneNumber, code: VerificationCode) -> Result<(), ApiError> {
    needs_verification(phone)?;
    let token = lifecycle::phone_token(app, phone).await?;
    let answer = app.meta()?.verify_code(&token, &phone.phone_number_id, &code).await;
    drop(code);
    verification_answer(app, phone, answer, "invalid_code").await?;
    tracing::info!(organization = %phone.organization_id, phone = %phone.phone_number_id, "number verified");
    let Plan::Register { pin, sealed } = pin_for(app, &phone.organization_id, Some(phone)).await? else {
        unreachable!("pin_for always plans a registration")
    };
    phone.registration = Registration::Pending { reason: REGISTERING.into() };
    match register(app, phone, &token, &pin, Some(&sealed), Source::Api).await? {
        Attempt::Made => Ok(()),
        Attempt::UnderWay => Err(ApiError::registration_under_way()),
    }
}

fn needs_verification(phone: &PhoneNumber) -> Result<(), ApiError> {
    if phone.registration == Registration::VerificationRequired {
        return Ok(());
    }
    Err(ApiError::conflict("This number does not need verifying.")
        .with_action("Verification applies to a number whose registration is `verification_required`."))
}

/// Meta's answer to `request_code` or `verify_code` as the caller's: its refusal is a 400
/// with Meta's reason (`code` names which); a lapse on Meta's side stays Meta's error (502,
/// or 503 when Meta did not answer), and a refusal about the connection itself is recorded
/// on it as every other call's is.
async fn verification_answer(
    app: &App,
    phone: &PhoneNumber,
    answer: Result<(), MetaError>,
    code: &'static str,
) -> Result<(), ApiError> {
    match answer {
        Ok(()) => Ok(()),
        Err(MetaError::Graph(e)) if !e.is_transient() && !lifecycle::concerns_connection(&e) => {
            let (message, action) = if code == "invalid_code" {
                ("Meta refused the verification code", "Check the code Meta sent, or request a new one.")
            } else {
                ("Meta did not send a verification code", "Wait a while before asking again, or try the other method.")
            };
            Err(ApiError::new(http::StatusCode::BAD_REQUEST, code, format!("{message}: {}", e.reason()))
                .with_action(action))
        }
        Err(refusal) => lifecycle::answered(app, phone, Err(refusal)).await,
    }
}

/// What Meta's answer to `/register` means for the number.
pub fn outcome(result: Result<(), MetaError>) -> Registration {
    match result {
        Ok(()) => Registration::Registered,
        // Two step verification PIN mismatch: the number already has a PIN of its own.
        Err(MetaError::Graph(e)) if e.code == 133005 => Registration::PinRequired,
        Err(MetaError::Graph(e)) if e.code == NEEDS_VERIFICATION => Registration::VerificationRequired,
        // 133016: ten attempts in 72 hours; 133015: the number was deleted recently, wait a
        // few minutes; 133004: server temporarily unavailable.
        Err(MetaError::Graph(e)) if matches!(e.code, RATE_LIMITED | 133015 | 133004) || e.is_transient() => {
            Registration::Pending { reason: e.reason() }
        }
        Err(MetaError::Graph(e)) => Registration::Failed { reason: e.reason() },
        Err(MetaError::Unavailable(reason) | MetaError::Throttled(reason)) => {
            Registration::Pending { reason: format!("Meta did not answer in time: {reason}") }
        }
        // A 2xx Meta did not explain may have registered the number: check again later.
        Err(MetaError::Malformed(reason)) => Registration::Pending { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::GraphError;

    fn refused(code: i64, transient: bool) -> Result<(), MetaError> {
        Err(MetaError::Graph(Box::new(GraphError {
            transient,
            details: Some("details".into()),
            ..GraphError::example(code)
        })))
    }

    #[test]
    fn metas_answers_map_to_registration_states() {
        assert_eq!(outcome(Ok(())), Registration::Registered);
        assert_eq!(outcome(refused(133005, false)), Registration::PinRequired);
        for code in [133016, 133015, 133004] {
            assert_eq!(outcome(refused(code, false)).as_str(), "pending", "{code}");
        }
        assert_eq!(outcome(refused(2, true)).as_str(), "pending");
        assert_eq!(outcome(Err(MetaError::Unavailable("timeout".into()))).as_str(), "pending");
        assert_eq!(outcome(refused(133006, false)), Registration::VerificationRequired);
        let failed = outcome(refused(133000, false));
        assert_eq!(failed.as_str(), "failed");
        assert!(failed.reason().unwrap().contains("133000") && failed.reason().unwrap().contains("details"));
    }
}
