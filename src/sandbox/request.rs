//! Request parameters, read the way Meta reads them: from the query string and,
//! for requests with a body, from a form or JSON body.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request};
use url::form_urlencoded;

#[derive(Debug, Default)]
pub(super) struct Params(Vec<(String, String)>);

/// The body was declared JSON but is not a JSON object.
#[derive(Debug)]
pub(super) struct InvalidJsonBody;

impl Params {
    /// Query parameters, then body parameters (GET bodies are ignored, as Meta does).
    pub fn from_request(req: &Request<Bytes>) -> Result<Self, InvalidJsonBody> {
        let mut params = Self::default();
        if let Some(query) = req.uri().query() {
            params.extend_form(query.as_bytes());
        }
        let body = req.body();
        if req.method() == Method::GET || req.method() == Method::HEAD || body.is_empty() {
            return Ok(params);
        }
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        if is_json {
            params.extend_json(body)?;
        } else {
            params.extend_form(body);
        }
        Ok(params)
    }

    fn extend_form(&mut self, raw: &[u8]) {
        self.0.extend(form_urlencoded::parse(raw).into_owned());
    }

    fn extend_json(&mut self, raw: &[u8]) -> Result<(), InvalidJsonBody> {
        let serde_json::Value::Object(map) = serde_json::from_slice(raw).map_err(|_| InvalidJsonBody)? else {
            return Err(InvalidJsonBody);
        };
        for (key, value) in map {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            self.0.push((key, value));
        }
        Ok(())
    }

    /// The value of a parameter; an empty value counts as absent, as on Meta.
    /// When a name repeats, the last one wins, so a body overrides the query.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of a repeated parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The parameters as one JSON object, as a form post of a message reads: objects and
    /// lists are given as their JSON text, everything else as a string; the last value wins.
    pub fn as_object(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut object = serde_json::Map::new();
        for (key, value) in &self.0 {
            let structured =
                (value.starts_with('{') || value.starts_with('[')).then(|| serde_json::from_str(value).ok()).flatten();
            object.insert(key.clone(), structured.unwrap_or_else(|| serde_json::Value::String(value.clone())));
        }
        object
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The Graph API versions Meta offers (each for about two years): v21.0 (October 2024) to
/// v26.0.
pub(super) const GRAPH_VERSIONS: [&str; 6] = ["v21.0", "v22.0", "v23.0", "v24.0", "v25.0", "v26.0"];

/// Whether a path segment is a Graph API version such as `v24.0`.
pub(super) fn is_version(segment: &str) -> bool {
    let Some(number) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = number.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}
