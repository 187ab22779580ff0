use crate::clock::Timestamp;
use crate::domain::{AccessToken, WabaId};
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
    Graph(GraphError),
    /// Meta timed out, failed or rate-limited through every bounded retry.
    Unavailable(String),
    /// Meta answered something this client does not understand.
    Malformed(String),
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::Graph(e) => write!(f, "Graph error {} ({}): {}", e.code, e.kind, e.message),
            MetaError::Unavailable(m) => write!(f, "Meta unavailable: {m}"),
            MetaError::Malformed(m) => write!(f, "unexpected answer from Meta: {m}"),
        }
    }
}

impl std::error::Error for MetaError {}

impl From<MetaError> for ApiError {
    fn from(error: MetaError) -> Self {
        match error {
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
            MetaError::Unavailable(_) => ApiError::meta_unavailable(),
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
    pub granted_wabas: Option<Vec<WabaId>>,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<String>,
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PhoneInfo {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
}
