//! The request and response every handler sees, whatever carried them (API Gateway in AWS,
//! the local stack's HTTP server on one machine).

use crate::domain::UserId;
use crate::error::ApiError;
use crate::routes::Route;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::str::FromStr;

/// Request bodies are small JSON documents; anything larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub route: &'static Route,
    pub path_params: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The validated JWT's claims, as API Gateway's JWT authorizer passes them (string values).
    pub claims: Option<HashMap<String, String>>,
}

/// The authenticated caller: the JWT's `sub` and the rest of its claims.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub claims: HashMap<String, String>,
}

impl Request {
    pub fn caller(&self) -> Result<Caller, ApiError> {
        let claims = self.claims.as_ref().ok_or_else(ApiError::unauthorized)?;
        let user = claims.get("sub").and_then(|s| s.parse().ok()).ok_or_else(ApiError::unauthorized)?;
        Ok(Caller { user, claims: claims.clone() })
    }

    pub fn path<T: FromStr<Err = String>>(&self, name: &str) -> Result<T, ApiError> {
        let raw = self
            .path_params
            .get(name)
            .ok_or_else(|| ApiError::validation(format!("missing path parameter `{name}`")))?;
        raw.parse().map_err(ApiError::validation)
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A listing's `cursor`, when given: see [`decode_cursor`].
    pub fn cursor<T>(&self, issued: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
        self.query_value("cursor").map(|raw| decode_cursor(raw, issued)).transpose()
    }

    /// A listing's `limit`: `default` when absent, else a whole number from 1 to `max`.
    pub fn page_limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.query_value("limit") {
            None => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::validation(format!("`limit` must be a whole number from 1 to {max}"))),
        }
    }

    pub fn query<T: FromStr<Err = String>>(&self, name: &str) -> Result<T, ApiError> {
        let raw = self
            .query_value(name)
            .ok_or_else(|| ApiError::validation(format!("query parameter `{name}` is required")))?;
        raw.parse().map_err(ApiError::validation)
    }

    /// Parses the body as JSON into `T`; unknown fields and wrong types are a 400.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "validation_error",
                format!("the body exceeds {MAX_BODY_BYTES} bytes"),
            ));
        }
        if self.body.is_empty() {
            return Err(ApiError::validation("a JSON body is required"));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))
    }

    /// Whether the client asked for JSON rather than a browser redirect.
    pub fn accepts_json(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|part| part.trim().starts_with("application/json")))
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Responses carry OAuth states and organization data: never cache them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self { status, headers, body: Bytes::from(serde_json::to_vec(value).expect("responses serialize")) }
    }

    pub fn ok(value: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn redirect(location: &str) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(location) {
            headers.insert(header::LOCATION, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // The state must not leak to the frontend's third parties through the Referer.
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        Self { status: StatusCode::FOUND, headers, body: Bytes::new() }
    }
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self { status: error.status, headers, body: Bytes::from(error.body()) }
    }
}

/// Runs a handler and turns its error into the contract's error response, logging the
/// outcome without any request data beyond the route.
pub async fn respond(
    route: &Route,
    outcome: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    match outcome.await {
        Ok(response) => {
            tracing::info!(route = %route.key(), status = response.status.as_u16(), "handled");
            response
        }
        Err(error) => {
            if error.status.is_server_error() {
                tracing::error!(route = %route.key(), status = error.status.as_u16(), code = error.code, message = %error.message, "failed");
            } else {
                tracing::info!(route = %route.key(), status = error.status.as_u16(), code = error.code, "refused");
            }
            error.into()
        }
    }
}

/// Where a listing's next page starts, as the API hands it out: an opaque encoding of a
/// position, which only [`decode_cursor`] reads back.
pub fn encode_cursor(position: &str) -> String {
    crate::crypto::base64url(position.as_bytes())
}

/// A cursor this API issued, read back as the position `issued` recognises (and, for a
/// store position, confines to the caller's own partition); anything else is refused.
pub fn decode_cursor<T>(raw: &str, issued: impl FnOnce(&str) -> Option<T>) -> Result<T, ApiError> {
    crate::crypto::from_base64url(raw)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|position| issued(&position))
        .ok_or_else(|| ApiError::validation("`cursor` is not a cursor this API issued"))
}

/// Text made safe for HTML: in an element, or in a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whole numbers in a JSON body as JSON Schema counts them: `9` and `9.0` alike (serde
/// would refuse the second for an integer field). For `#[serde(deserialize_with = …)]`.
pub mod whole_number {
    use serde::de::{Deserialize, Deserializer, Error};

    fn whole<E: Error>(number: serde_json::Number) -> Result<u64, E> {
        number
            .as_u64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(f))
                    .map(|f| f as u64)
            })
            .ok_or_else(|| E::custom(format!("`{number}` is not a whole number of at least 0")))
    }

    pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        whole(serde_json::Number::deserialize(deserializer)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?.map(whole).transpose()
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "super::required")]
            size: u64,
            #[serde(default, deserialize_with = "super::optional")]
            days: Option<u64>,
        }

        #[test]
        fn whole_numbers_are_taken_in_either_spelling() {
            let body: Body = serde_json::from_str(r#"{"size": 9.0, "days": 3}"#).unwrap();
            assert_eq!((body.size, body.days), (9, Some(3)));
            let body: Body = serde_json::from_str(r#"{"size": 9}"#).unwrap();
            assert_eq!((body.size, body.days), (9, None));
            for refused in [r#"{"size": 9.5}"#, r#"{"size": -1}"#, r#"{"size": "9"}"#, r#"{"size": 1, "days": 2.5}"#] {
                assert!(serde_json::from_str::<Body>(refused).is_err(), "{refused}");
            }
        }
    }
}
