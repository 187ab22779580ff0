//! The Graph API: `/graph/{version}/...`, split by surface: [`oauth`] (codes and
//! tokens), [`numbers`] (WABAs, phone numbers, subscriptions, registration),
//! [`verification`] (codes for numbers Meta has not verified), [`coexistence`] (a
//! WhatsApp Business app number's syncs), [`messages`] (sending) and [`templates`]. This module routes, authenticates, pages and renders errors.
//!
//! Every answer, success or error, carries an `x-fb-trace-id` header; errors use
//! Meta's `{"error":{...}}` envelope with the same id as `fbtrace_id`. Cloud API
//! errors add the `error_data` Meta gives them.

mod business;
mod coexistence;
mod media;
mod message_objects;
mod messages;
mod numbers;
mod oauth;
pub(in crate::sandbox) mod templates;
mod verification;

pub(in crate::sandbox) use coexistence::SYNC_TYPES;
pub(in crate::sandbox) use media::kind_of as media_kind;
pub(in crate::sandbox) use messages::wa_id;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::request::{GRAPH_VERSIONS, Params, is_version};
use super::seed::{self, Business, Phone, Waba};
use super::state::{Grant, TokenProblem};
use super::{Fault, Sandbox, state};

const OAUTH: &str = "OAuthException";
const METHOD: &str = "GraphMethodException";

/// A Graph API error, rendered in Meta's envelope.
#[derive(Debug)]
pub(super) struct GraphError {
    status: StatusCode,
    kind: &'static str,
    code: u32,
    subcode: Option<u32>,
    message: String,
    transient: bool,
    /// The Cloud API's `error_data.details`: what exactly was wrong.
    details: Option<String>,
    /// What the answer carries beside the error (a partial failure's outcome).
    beside: Option<Box<(&'static str, Value)>>,
}

impl GraphError {
    fn new(kind: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind,
            code,
            subcode: None,
            message: message.into(),
            transient: false,
            details: None,
            beside: None,
        }
    }

    fn oauth(code: u32, message: impl Into<String>) -> Self {
        Self::new(OAUTH, code, message)
    }

    fn method(code: u32, message: impl Into<String>) -> Self {
        Self::new(METHOD, code, message)
    }

    fn with_subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    fn with_answer(mut self, key: &'static str, value: Value) -> Self {
        self.beside = Some(Box::new((key, value)));
        self
    }

    fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            transient: true,
            ..Self::oauth(2, "An unexpected error has occurred. Please retry your request later.")
        }
    }

    fn rate_limited() -> Self {
        Self { transient: true, ..Self::oauth(4, "(#4) Application request limit reached") }
    }

    fn echoing(req: &Request<Bytes>) -> Self {
        let query = req.uri().query().unwrap_or("");
        let body = String::from_utf8_lossy(req.body());
        let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        Self::oauth(100, format!("(#100) Invalid parameter in {query} {body}"))
            .with_details(format!("The request carried Authorization: {authorization}; {query}; {body}"))
    }

    fn user_rate_limited() -> Self {
        Self { transient: true, ..Self::oauth(17, "(#17) User request limit reached") }
    }

    /// What Meta says about an object that does not exist *or* that the token may
    /// not see: the two are deliberately indistinguishable.
    fn unsupported(method: &Method, id: &str) -> Self {
        Self::method(
            100,
            format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. \
                 Please read the Graph API documentation at \
                 https://developers.facebook.com/docs/graph-api",
                method.as_str().to_ascii_lowercase()
            ),
        )
        .with_subcode(33)
    }

    fn unknown_path(component: &str) -> Self {
        Self::oauth(2500, format!("Unknown path components: /{component}"))
    }

    fn missing_token() -> Self {
        Self::oauth(104, "An access token is required to request this resource.")
    }

    fn unparsable_token() -> Self {
        Self::oauth(190, "Invalid OAuth access token - Cannot parse access token")
    }

    fn expired_token() -> Self {
        Self::oauth(190, "Error validating access token: Session has expired.").with_subcode(463)
    }

    /// What Meta answers when the customer removed the app (the token dies with it).
    fn revoked_token() -> Self {
        Self::oauth(190, "Error validating access token: The user has not authorized application.").with_subcode(458)
    }

    fn token_problem(problem: TokenProblem) -> Self {
        match problem {
            TokenProblem::Unknown => Self::unparsable_token(),
            TokenProblem::Expired => Self::expired_token(),
            TokenProblem::Revoked => Self::revoked_token(),
        }
    }

    fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::oauth(100, format!("(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"))
    }

    fn required(parameter: &str) -> Self {
        Self::oauth(100, format!("(#100) The parameter {parameter} is required."))
    }

    /// The Cloud API's answer to a parameter it cannot use.
    fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::oauth(100, "(#100) Invalid parameter").with_details(details)
    }

    /// Cloud API calls name their product: `messaging_product` must be `whatsapp`.
    fn check_product(given: Option<&str>) -> Result<(), Self> {
        match given {
            Some("whatsapp") => Ok(()),
            None => Err(Self::required("messaging_product")),
            Some(other) => Err(Self::oauth(
                100,
                format!("(#100) Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."),
            )),
        }
    }

    /// What a test number answers for a recipient missing from its allow list.
    fn not_in_allowed_list() -> Self {
        Self::oauth(131_030, "(#131030) Recipient phone number not in allowed list").with_details(
            "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.",
        )
    }

    fn body(&self, trace_id: &str) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), self.message.clone().into());
        error.insert("type".into(), self.kind.into());
        error.insert("code".into(), self.code.into());
        if let Some(details) = &self.details {
            error.insert("error_data".into(), json!({ "messaging_product": "whatsapp", "details": details }));
        }
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".into(), subcode.into());
        }
        if self.transient {
            error.insert("is_transient".into(), true.into());
        }
        error.insert("fbtrace_id".into(), trace_id.into());
        let mut body = json!({ "error": error });
        if let Some(beside) = &self.beside {
            let (key, value) = beside.as_ref();
            body["messaging_product"] = "whatsapp".into();
            body[*key] = value.clone();
        }
        body
    }
}

/// The parts of a Graph request the endpoints need.
struct Call<'a> {
    method: &'a Method,
    version: &'a str,
    /// The path after the version, e.g. `102290129340398/phone_numbers`.
    path: &'a str,
    params: Params,
    /// The body, when it is a JSON object: message objects are checked key by key.
    json: Option<Map<String, Value>>,
    /// The body as sent, and its type (a media upload is multipart).
    body: &'a Bytes,
    content_type: Option<&'a str>,
    bearer: Option<&'a str>,
}

impl Call<'_> {
    /// The access token, from `Authorization: Bearer|OAuth <token>` or the
    /// `access_token` parameter, like Meta accepts it.
    fn access_token(&self) -> Option<&str> {
        self.bearer.or_else(|| self.params.get("access_token"))
    }

    fn require_get(&self, id: &str) -> Result<(), GraphError> {
        if self.method == Method::GET { Ok(()) } else { Err(GraphError::unsupported(self.method, id)) }
    }
}

/// What a token may see.
struct Session {
    grant: Grant,
    /// A business integration system user token (else a person's token).
    business: bool,
}

impl Session {
    /// Meta's permission check: the token must carry `scope`.
    fn require(&self, scope: &str) -> Result<(), GraphError> {
        if self.grant.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(GraphError::oauth(200, format!("(#200) Requires {scope} permission to manage the object")))
        }
    }

    fn visible_business(&self, id: &str) -> Option<&'static Business> {
        seed::business(id).filter(|b| seed::wabas_of(b.id).any(|w| self.grant.allows(w.id)))
    }

    fn visible_waba(&self, id: &str) -> Option<&'static Waba> {
        seed::waba(id).filter(|w| self.grant.allows(w.id))
    }

    fn visible_phone(&self, id: &str) -> Option<&'static Phone> {
        seed::phone(id).filter(|p| self.grant.allows(p.waba_id))
    }

    /// The granted WABAs, most recently created first.
    fn granted_wabas(&self) -> impl Iterator<Item = &'static Waba> + '_ {
        self.grant.waba_ids.iter().filter_map(|id| seed::waba(id))
    }

    /// The object `id` names, if it exists and the token may see it.
    fn resolve(&self, id: &str) -> Option<Node> {
        if id == "me" || id == seed::USER_ID {
            return Some(Node::User);
        }
        self.visible_waba(id)
            .map(Node::Waba)
            .or_else(|| self.visible_business(id).map(Node::Business))
            .or_else(|| self.visible_phone(id).map(Node::Phone))
    }
}

/// A Graph object the token may see.
enum Node {
    User,
    Business(&'static Business),
    Waba(&'static Waba),
    Phone(&'static Phone),
}

impl Sandbox {
    pub(super) async fn graph(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let trace_id = state::new_trace_id();
        let fault = {
            let mut state = self.lock();
            state.calls.push(req.uri().path().to_owned());
            let path = req.uri().path();
            match state.targeted_faults.iter().position(|(part, _)| path.contains(part.as_str())) {
                Some(i) => Some(state.targeted_faults.remove(i).1),
                None => state.faults.pop_front(),
            }
        };
        let result = match fault {
            Some(Fault::ServerError) => Err(GraphError::server_error()),
            Some(Fault::RateLimited) => Err(GraphError::rate_limited()),
            Some(Fault::UserRateLimited) => Err(GraphError::user_rate_limited()),
            Some(Fault::EchoingError) => Err(GraphError::echoing(req)),
            Some(Fault::Timeout(delay)) => {
                tokio::time::sleep(delay).await;
                self.route(req)
            }
            None => self.route(req),
        };
        let (status, body) = match result {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => {
                tracing::debug!(
                    code = error.code,
                    subcode = error.subcode,
                    fbtrace_id = %trace_id,
                    "meta sandbox: graph error"
                );
                (error.status, error.body(&trace_id))
            }
        };
        Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .header("x-fb-trace-id", &trace_id)
            .body(Bytes::from(body.to_string()))
            .expect("static response parts are valid")
    }

    fn route(&self, req: &Request<Bytes>) -> Result<Value, GraphError> {
        let path = req.uri().path().trim_start_matches("/graph/");
        let (version, path) = path.split_once('/').unwrap_or((path, ""));
        if !is_version(version) {
            return Err(GraphError::oauth(
                2500,
                format!("Unknown path components: /{version} (expected a version such as v24.0)"),
            ));
        }
        if !GRAPH_VERSIONS.contains(&version) {
            return Err(GraphError::oauth(
                2500,
                format!("Unknown path components: /{version} (the Graph API offers {})", GRAPH_VERSIONS.join(", ")),
            ));
        }
        if version != self.config.graph_version {
            tracing::debug!(
                version,
                configured = %self.config.graph_version,
                "meta sandbox: request uses another Graph API version than configured"
            );
        }
        let params = Params::from_request(req)
            .map_err(|_| GraphError::oauth(100, "(#100) The request body is not a valid JSON object"))?;
        let bearer = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")).then(|| token.trim())
        });
        let path = path.strip_suffix('/').unwrap_or(path);
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let json = match serde_json::from_slice(req.body()) {
            Ok(Value::Object(map)) if is_json && req.method() != Method::GET => Some(map),
            _ => None,
        };
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let call = Call { method: req.method(), version, path, params, json, body: req.body(), content_type, bearer };
        let segments: Vec<&str> = path.split('/').collect();
        if let Some(empty) = segments.iter().position(|s| s.is_empty()) {
            return Err(GraphError::unknown_path(&segments[empty..].join("/")));
        }
        match segments.as_slice() {
            ["oauth", "access_token"] => {
                if call.method != Method::GET && call.method != Method::POST {
                    return Err(GraphError::unsupported(call.method, "oauth"));
                }
                self.access_token(&call.params)
            }
            ["debug_token"] => {
                call.require_get("debug_token")?;
                self.debug_token(&call)
            }
            _ => {
                let session = self.authenticate(&call)?;
                match segments.as_slice() {
                    [id] if self.lock().media.contains_key(*id) => self.media_node(&call, &session, id),
                    [id] => self.node(&call, &session, id),
                    [id, edge] => self.edge(&call, &session, id, edge),
                    [id, "message_qrdls", code] => {
                        let phone =
                            session.visible_phone(id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
                        self.qr_codes(&call, phone, Some(code))
                    }
                    [_, _, rest @ ..] => Err(GraphError::unknown_path(&rest.join("/"))),
                    [] => Err(GraphError::unknown_path("")),
                }
            }
        }
    }

    // ---- Paging ------------------------------------------------------------

    /// One page of `items` (each with an `id`), honouring `limit` (capped at the
    /// configured page size), `after` and `before`. Cursors are base64 of the
    /// item id, as on many Meta edges; `next` / `previous` are absolute URLs and
    /// appear only when there is something there.
    fn page(&self, call: &Call<'_>, items: &[Value]) -> Result<Value, GraphError> {
        let max = self.config.page_size.max(1);
        let limit = match call.params.get("limit") {
            None => max,
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| GraphError::oauth(100, "(#100) Param limit must be an integer"))?
                .clamp(1, max),
        };
        let position = |name: &str, cursor: &str| {
            cursor_id(cursor)
                .and_then(|id| items.iter().position(|item| item["id"] == id.as_str()))
                .ok_or_else(|| GraphError::oauth(100, format!("(#100) The {name} cursor is not valid")))
        };
        let (start, end) = if let Some(cursor) = call.params.get("after") {
            let start = position("after", cursor)? + 1;
            (start, (start + limit).min(items.len()))
        } else if let Some(cursor) = call.params.get("before") {
            let end = position("before", cursor)?;
            (end.saturating_sub(limit), end)
        } else {
            (0, limit.min(items.len()))
        };
        let data = &items[start..end];
        let (Some(first), Some(last)) = (data.first(), data.last()) else {
            return Ok(json!({ "data": [] }));
        };
        let before = cursor_for(first);
        let after = cursor_for(last);
        let mut paging = json!({ "cursors": { "before": before, "after": after } });
        if end < items.len() {
            paging["next"] = self.page_link(call, limit, "after", &after).into();
        }
        if start > 0 {
            paging["previous"] = self.page_link(call, limit, "before", &before).into();
        }
        Ok(json!({ "data": data, "paging": paging }))
    }

    /// The URL of a neighbouring page. Like Meta's, it repeats the request's
    /// parameters, access token included, so it can be followed as is.
    fn page_link(&self, call: &Call<'_>, limit: usize, direction: &str, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in call.params.iter() {
            if !matches!(key, "limit" | "after" | "before" | "access_token") {
                query.append_pair(key, value);
            }
        }
        if let Some(token) = call.access_token() {
            query.append_pair("access_token", token);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair(direction, cursor);
        format!("{}/graph/{}/{}?{}", self.config.public_url, call.version, call.path, query.finish())
    }
}

fn cursor_for(item: &Value) -> String {
    STANDARD.encode(item["id"].as_str().unwrap_or_default())
}

fn cursor_id(cursor: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(cursor).ok()?).ok()
}

// ---- Field projection ------------------------------------------------------

/// Keeps the requested `fields` (or the defaults) of an object; `id` is always
/// there. Asking for a field the node type lacks is an error, as on Meta.
fn project(full: &Value, fields: Option<&str>, defaults: &[&str], node_type: &str) -> Result<Value, GraphError> {
    let requested: Vec<&str> = match fields {
        Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty()).collect(),
        None => defaults.to_vec(),
    };
    let mut out = Map::new();
    out.insert("id".into(), full["id"].clone());
    for field in requested {
        let value = full.get(field).ok_or_else(|| GraphError::nonexisting_field(field, node_type))?;
        out.insert(field.to_owned(), value.clone());
    }
    Ok(Value::Object(out))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}
