//! Cloud API registration, the third server step after the code exchange and the webhook
//! subscription: `POST /{phone}/register` with a six-digit two-step verification PIN.
//!
//! The PIN is generated here (CSPRNG), sealed under its own purpose and stored on the
//! PhoneNumber *before* it is sent to Meta: a number registered with a PIN nobody kept
//! would be locked behind it. Meta allows ten attempts per number in 72 hours, so every
//! attempt is counted on the phone and none is made in a loop; what Meta asks to wait for
//! is `pending`, and the health sweep (or the register route) tries again later.

use crate::app::App;
use crate::cipher::{Purpose, TokenContext};
use crate::domain::{
    AccessToken, Ciphertext, OrganizationId, PhoneMode, PhoneNumber, Registration, RegistrationPin, Source,
};
use crate::error::ApiError;
use crate::lifecycle::{self, Observation};
use crate::meta::{MetaError, PhoneInfo};

/// The reason a phone shows while its registration call is under way.
pub const REGISTERING: &str = "registering with Meta";

/// What connecting a phone does about registration, decided from Meta's phone fields and
/// what the service already knows of the number.
pub enum Plan {
    /// Nothing to call: the outcome is known (already on Cloud API, coexistence, or a
    /// number whose own PIN the person must enter).
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
    let context = TokenContext::new(organization, Purpose::RegistrationPin);
    match known {
        // The PIN this service registered the number with before: the number keeps it.
        Some(PhoneNumber { pin: Some(sealed), .. }) => {
            let pin = app.cipher.open::<RegistrationPin>(sealed, context).await?;
            Ok(Plan::Register { pin, sealed: sealed.clone() })
        }
        // The number has a PIN of its own that only the person knows: asking Meta again
        // with a guess would only spend an attempt.
        Some(PhoneNumber { registration: Registration::PinRequired, .. }) => {
            Ok(Plan::Settled(Registration::PinRequired))
        }
        _ => {
            let pin = RegistrationPin::generate();
            let sealed = app.cipher.seal(&pin, context).await?;
            Ok(Plan::Register { pin, sealed })
        }
    }
}

/// One registration attempt for `phone` with `pin`, within Meta's allowance, and its
/// outcome recorded on the PhoneNumber (with `store_pin` when Meta did not refuse the PIN).
/// Never fails: whatever happens becomes the phone's `registration`.
pub async fn register(
    app: &App,
    phone: &mut PhoneNumber,
    token: &AccessToken,
    pin: &RegistrationPin,
    store_pin: Option<&Ciphertext>,
    source: Source,
) {
    let now = app.now();
    let before = phone.clone();
    if let Some(next) = phone.next_registration_attempt(now) {
        phone.registration = Registration::Pending {
            reason: format!(
                "Meta allows 10 registration attempts per number in 72 hours; the next is possible after {}.",
                next.to_rfc3339()
            ),
        };
    } else {
        phone.record_registration_attempt(now);
        phone.registration = match app.meta() {
            Ok(meta) => {
                let answer = meta.register(token, &phone.phone_number_id, pin).await;
                if let Err(refusal) = &answer {
                    lifecycle::graph_refused(app, phone, refusal, source).await;
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
    match app.records.set_registration(phone, keep_pin, now).await {
        Ok(true) => {
            let events = lifecycle::transitions(Some(&before), phone, &Observation::new(source, now));
            if let Err(error) = app.records.record_events(&events).await {
                tracing::error!(%error, phone = %phone.phone_number_id, "registration events not stored");
            }
        }
        Ok(false) => tracing::info!(phone = %phone.phone_number_id, "the phone was disconnected meanwhile"),
        Err(error) => tracing::error!(%error, phone = %phone.phone_number_id, "registration outcome not stored"),
    }
}

/// What Meta's answer to `/register` means for the number.
pub fn outcome(result: Result<(), MetaError>) -> Registration {
    match result {
        Ok(()) => Registration::Registered,
        // Two step verification PIN mismatch: the number already has a PIN of its own.
        Err(MetaError::Graph(e)) if e.code == 133005 => Registration::PinRequired,
        // 133016: ten attempts in 72 hours; 133015: the number was deleted recently, wait a
        // few minutes; 133004: server temporarily unavailable.
        Err(MetaError::Graph(e)) if matches!(e.code, 133016 | 133015 | 133004) || e.is_transient() => {
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

/// The action a person must take for a phone's registration, if any.
pub fn action(phone: &PhoneNumber) -> Option<String> {
    match &phone.registration {
        Registration::PinRequired => Some(format!(
            "Enter the two-step verification PIN of {} (POST …/phone-numbers/{}/register with {{\"pin\"}}), or reset it in WhatsApp Manager.",
            phone.display_phone, phone.phone_number_id
        )),
        Registration::Failed { reason } => Some(format!(
            "Meta refused to register {}: {reason} Fix it in WhatsApp Manager, then retry the registration.",
            phone.display_phone
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::GraphError;

    fn refused(code: i64, transient: bool) -> Result<(), MetaError> {
        Err(MetaError::Graph(Box::new(GraphError {
            message: "refused".into(),
            kind: "OAuthException".into(),
            code,
            subcode: None,
            fbtrace_id: None,
            status: 400,
            transient,
            details: Some("details".into()),
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
        let failed = outcome(refused(133006, false));
        assert_eq!(failed.as_str(), "failed");
        assert!(failed.reason().unwrap().contains("133006") && failed.reason().unwrap().contains("details"));
    }
}
