use crate::clock::Timestamp;
use crate::domain::{AccessToken, TokenKind, WabaId};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// Graph's error object, as Meta documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub message: String,
    pub kind: String,
    pub code: i64,
    pub subcode: Option<i64>,
    pub fbtrace_id: Option<String>,
    pub status: u16,
    pub transient: bool,
    /// Cloud API's `error_data.details`: what exactly was wrong (Meta says to build error
    /// handling on `code` and this, not on titles).
    pub details: Option<String>,
}

impl GraphError {
    pub(super) fn server(status: u16) -> Self {
        Self {
            message: format!("HTTP {status}"),
            kind: "ServerError".into(),
            code: 2,
            subcode: None,
            fbtrace_id: None,
            status,
            transient: true,
            details: None,
        }
    }

    /// A refusal of a client's request with this code, for tests to vary.
    #[cfg(test)]
    pub(crate) fn example(code: i64) -> Self {
        Self {
            message: "refused".into(),
            kind: "OAuthException".into(),
            code,
            subcode: None,
            fbtrace_id: None,
            status: 400,
            transient: false,
            details: None,
        }
    }

    /// Meta's words for the refusal, for a person to read: the details when given.
    pub fn reason(&self) -> String {
        match &self.details {
            Some(details) if !details.is_empty() => format!("{} (code {}): {details}", self.message, self.code),
            _ => format!("{} (code {})", self.message, self.code),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// A permission or unknown-object answer about a specific id (Graph code 100/33, 10, 200).
    pub fn is_missing_permission(&self) -> bool {
        (self.code == 100 && self.subcode == Some(33)) || self.code == 10 || (200..300).contains(&self.code)
    }
}

#[derive(Debug)]
pub enum MetaError {
    /// Meta answered with an error that retrying will not fix.
    Graph(Box<GraphError>),
    /// Meta timed out or failed through every bounded retry.
    Unavailable(String),
    /// Meta's app-wide rate limit held through every bounded retry: stop asking for now.
    Throttled(String),
    /// Meta answered something this client does not understand.
    Malformed(String),
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::Graph(e) => write!(f, "Graph error {} ({}): {}", e.code, e.kind, e.message),
            MetaError::Unavailable(m) => write!(f, "Meta unavailable: {m}"),
            MetaError::Throttled(m) => write!(f, "Meta rate-limited: {m}"),
            MetaError::Malformed(m) => write!(f, "unexpected answer from Meta: {m}"),
        }
    }
}

impl std::error::Error for MetaError {}

impl From<MetaError> for ApiError {
    fn from(error: MetaError) -> Self {
        match error {
            // The recipient cannot be reached by BSUID for this message: the caller can fix it.
            MetaError::Graph(e) if e.code == 131062 => ApiError::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "recipient_not_supported",
                format!("Meta does not accept this business-scoped user ID as the recipient: {}", e.reason()),
            )
            .with_action("Send to the customer's phone number (`to`) instead, or reply to the customer from a number of the business portfolio their BSUID belongs to."),
            // Meta's template errors: what to change is the caller's (or the template's).
            MetaError::Graph(e) if (132000..=132016).contains(&e.code) => ApiError::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "template_error",
                format!("Meta refused the template: {}", e.reason()),
            )
            .with_action(match e.code {
                132000 | 132012 => "Give exactly the template's parameters, formatted as its variables expect.",
                132001 => "Use an approved template's exact name and language (GET …/whatsapp/templates?status=APPROVED).",
                132005 => "Shorten the parameter values: the filled-in text is too long.",
                132007 => "Change the template in WhatsApp Manager: its content breaks a WhatsApp policy.",
                132015 => "The template is paused for low quality: edit it in WhatsApp Manager or use another.",
                132016 => "The template is disabled for good: create a new one in WhatsApp Manager.",
                _ => "Check the template in WhatsApp Manager.",
            }),
            MetaError::Graph(e) => {
                ApiError::meta_error(format!("Meta refused the request: {} (code {}).", e.message, e.code)).with_action(
                    match e.code {
                        190 => "The authorization is no longer valid; connect WhatsApp again.",
                        100 if matches!(e.subcode, Some(36007..=36009)) => {
                            "The authorization code is used or expired; start the connection again."
                        }
                        _ => "Check the app's configuration at Meta, or try again later.",
                    },
                )
            }
            MetaError::Unavailable(_) | MetaError::Throttled(_) => ApiError::meta_unavailable(),
            MetaError::Malformed(m) => ApiError::meta_error(format!("Meta answered in an unexpected way: {m}")),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GraphErrorEnvelope {
    pub error: RawGraphError,
}

#[derive(Deserialize)]
pub(super) struct RawGraphError {
    #[serde(default)]
    message: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: i64,
    error_subcode: Option<i64>,
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: bool,
    error_data: Option<RawErrorData>,
}

#[derive(Deserialize)]
pub(super) struct RawErrorData {
    details: Option<String>,
}

impl RawGraphError {
    pub(super) fn into_graph_error(self, status: u16) -> GraphError {
        GraphError {
            message: self.message,
            kind: self.kind,
            code: self.code,
            subcode: self.error_subcode,
            fbtrace_id: self.fbtrace_id,
            status,
            transient: self.is_transient,
            details: self.error_data.and_then(|d| d.details),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    access_token: String,
    expires_in: Option<i64>,
}

impl TokenResponse {
    pub(super) fn into_grant(self) -> TokenGrant {
        TokenGrant { token: AccessToken::new(self.access_token), expires_in: self.expires_in }
    }
}

/// A token Meta issued, with its lifetime in seconds when Meta said.
#[derive(Debug)]
pub struct TokenGrant {
    pub token: AccessToken,
    pub expires_in: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub kind: TokenKind,
    pub granted_wabas: Option<Vec<WabaId>>,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<String>,
}

/// A short-lived user token lasts an hour or two; a long-lived one about 60 days.
const SHORT_LIVED_SECONDS: i64 = 24 * 3600;

impl TokenInfo {
    /// A person's token that must be exchanged for a long-lived one before it is kept.
    pub fn is_short_lived_user_token(&self, now: Timestamp) -> bool {
        self.kind == TokenKind::User && self.expires_at.is_some_and(|t| t.0 - now.0 < SHORT_LIVED_SECONDS)
    }
}

#[derive(Deserialize)]
pub(super) struct ListPage<T> {
    pub data: Vec<T>,
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub(super) struct Paging {
    pub cursors: Option<Cursors>,
    pub next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Cursors {
    pub after: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct IdOnly {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WabaInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub timezone_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct PhoneInfo {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    pub code_verification_status: Option<String>,
    /// `CLOUD_API`, `ON_PREMISE`, or `NOT_APPLICABLE` until the number is registered.
    pub platform_type: Option<String>,
    /// `PENDING` until registered, then `CONNECTED` (or `FLAGGED`, `RESTRICTED`, …).
    pub status: Option<String>,
    pub throughput: Option<Throughput>,
    pub name_status: Option<String>,
    pub account_mode: Option<String>,
    /// A WhatsApp Business app number shared with Cloud API (coexistence).
    #[serde(default)]
    pub is_on_biz_app: bool,
    /// Whether Meta lets the number send now, and why not.
    pub health_status: Option<HealthStatus>,
}

/// `health_status`: `can_send_message` is `AVAILABLE`, `LIMITED` or `BLOCKED` for the number
/// and for each entity it depends on (the app, the business, the WABA), each with Meta's
/// errors.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct HealthStatus {
    pub can_send_message: Option<String>,
    #[serde(default)]
    pub entities: Vec<HealthEntity>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct HealthEntity {
    pub entity_type: Option<String>,
    pub id: Option<String>,
    pub can_send_message: Option<String>,
    #[serde(default)]
    pub errors: Vec<HealthError>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct HealthError {
    pub error_code: Option<i64>,
    pub error_description: Option<String>,
    pub possible_solution: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct Throughput {
    pub level: Option<String>,
}

impl PhoneInfo {
    /// Whether Meta has verified the number (`code_verification_status`). Meta writes
    /// `NOT_VERIFIED` in one place and `UNVERIFIED` in another; a number it does not
    /// describe is taken as verified, as every number was before v4 allowed others.
    pub fn needs_verification(&self) -> bool {
        matches!(self.code_verification_status.as_deref(), Some("NOT_VERIFIED" | "UNVERIFIED" | "EXPIRED"))
    }

    /// Whether Meta says the number is on Cloud API, whatever its status: what tells a
    /// number Meta unregistered behind the service's back.
    pub fn is_on_cloud_api(&self) -> bool {
        self.platform_type.as_deref() == Some("CLOUD_API")
    }

    /// Whether Meta reports the number as already on Cloud API, so registering it again
    /// would only spend one of its ten attempts.
    pub fn is_registered(&self) -> bool {
        let status = self.status.as_deref().unwrap_or("PENDING");
        let pending = matches!(status, "PENDING" | "DISCONNECTED" | "UNVERIFIED" | "UNKNOWN");
        let provisioned = self.platform_type.as_deref() == Some("CLOUD_API")
            && self.throughput.as_ref().and_then(|t| t.level.as_deref()) != Some("NOT_APPLICABLE");
        provisioned && !pending
    }
}
