//! The one error type of the HTTP API. Every failure a handler can meet becomes an
//! [`ApiError`], and every `ApiError` becomes the contract's error body:
//! `{"success": false, "code": "...", "message": "...", "action": "..."}` with a real status.

use http::StatusCode;
use serde::Serialize;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    pub action: Option<Cow<'static, str>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into(), action: None }
    }

    pub fn with_action(mut self, action: impl Into<Cow<'static, str>>) -> Self {
        self.action = Some(action.into());
        self
    }

    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "A valid bearer token is required.")
            .with_action("Sign in again and send the token as `Authorization: Bearer <JWT>`.")
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message).with_action("Reload and try again.")
    }

    pub fn invalid_state() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_state", "Invalid or unknown OAuth state.")
            .with_action("Restart the WhatsApp connection from the beginning.")
    }

    pub fn state_not_ready(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_state", message)
            .with_action("Finish the authorization at Meta first, or restart the connection.")
    }

    pub fn state_used() -> Self {
        Self::new(StatusCode::CONFLICT, "state_used", "This OAuth state has already been used.")
            .with_action("Restart the WhatsApp connection to get a new state.")
    }

    pub fn state_expired() -> Self {
        Self::new(StatusCode::GONE, "state_expired", "This OAuth state has expired.")
            .with_action("Restart the WhatsApp connection; each attempt is valid for a few minutes.")
    }

    pub fn no_waba_found() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_waba_found",
            "No WhatsApp Business Accounts found for this authorization.",
        )
        .with_action("Create or link a WhatsApp Business Account in Meta Business Suite, then connect again and grant access to it.")
    }

    pub fn no_phone_numbers() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_phone_numbers",
            "No phone numbers found in the selected WhatsApp Business Account.",
        )
        .with_action("Add and verify a phone number in Meta's WhatsApp Manager, then try again.")
    }

    pub fn signup_cancelled() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "signup_cancelled", "Embedded Signup was cancelled or ended in an error.")
            .with_action("Start Embedded Signup again and finish every step; nothing was saved.")
    }

    /// Sending from a connected number that Cloud API has not registered (Meta: 133010).
    pub fn not_registered(action: Option<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "not_registered",
            "This phone number is not registered for Cloud API yet, so it cannot send.",
        )
        .with_action(action.unwrap_or_else(|| {
            "Registration is retried automatically; or retry it now with POST …/phone-numbers/{id}/register.".into()
        }))
    }

    /// Meta refused the phone's token (190): only a person can connect again.
    pub fn reauthorization_required(action: Option<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "reauthorization_required",
            "Meta no longer accepts this connection's authorization, so it cannot send.",
        )
        .with_action(action.unwrap_or_else(|| "Connect WhatsApp again with the same number.".into()))
    }

    /// Meta restricts the number or its account (131031, 368, a blocked number, a restriction).
    pub fn phone_restricted(action: Option<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "phone_restricted", "Meta restricts this number from sending for now.")
            .with_action(action.unwrap_or_else(|| "See WhatsApp Manager's account quality page.".into()))
    }

    /// Meta disabled the WhatsApp Business Account.
    pub fn waba_banned(action: Option<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "waba_banned", "Meta disabled this WhatsApp Business Account.")
            .with_action(action.unwrap_or_else(|| "Request a review in WhatsApp Manager.".into()))
    }

    /// Meta's registration allowance is spent (ten attempts in 72 hours, or its block after
    /// 133016): nothing is asked of Meta before `next`.
    pub fn registration_limited(next: crate::clock::Timestamp) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "registration_limited",
            "Meta allows no registration attempt for this number now (10 per number in 72 hours).",
        )
        .with_action(format!(
            "Try again after {}; a pending registration is retried then by itself.",
            next.to_rfc3339()
        ))
    }

    /// The caller owns as many organizations as one user may (`MAX_ORGANIZATIONS_PER_USER`).
    pub fn organization_limit(max: usize) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "organization_limit",
            format!("One user may own at most {max} organizations."),
        )
        .with_action("Use one of your organizations, or ask the service's operator to raise the limit.")
    }

    /// Another registration attempt of the number is being made; Meta is asked once at a time.
    pub fn registration_under_way() -> Self {
        Self::conflict("Another registration attempt of this number is under way.")
            .with_action("Read the number's status in a moment: it shows that attempt's outcome.")
    }

    pub fn pin_mismatch() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "pin_mismatch", "Meta refused this two-step verification PIN.")
            .with_action("Enter the PIN set for this number in WhatsApp Manager, or reset it there and try again.")
    }

    pub fn not_connected() -> Self {
        Self::new(StatusCode::CONFLICT, "not_connected", "This organization has no active WhatsApp phone number.")
            .with_action("Connect WhatsApp first.")
    }

    pub fn meta_error(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "meta_error", message)
    }

    pub fn meta_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "meta_unavailable",
            "Meta did not answer in time or is rate limiting requests.",
        )
        .with_action("Wait a moment and try again.")
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            success: false,
            code: self.code,
            message: &self.message,
            action: self.action.as_deref(),
        })
        .expect("error body serializes")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_contract_shape() {
        let body: serde_json::Value = serde_json::from_slice(&ApiError::state_expired().body()).unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "state_expired");
        assert!(body["message"].as_str().unwrap().contains("expired"));
        assert!(body["action"].is_string());
        let plain: serde_json::Value = serde_json::from_slice(&ApiError::validation("bad").body()).unwrap();
        assert!(plain.get("action").is_none());
    }
}
