//! The Graph API: `/graph/{version}/...`.
//!
//! Every answer, success or error, carries an `x-fb-trace-id` header; errors use
//! Meta's `{"error":{...}}` envelope with the same id as `fbtrace_id`. Cloud API
//! errors (sending messages) add the `error_data` Meta gives them.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::request::{Params, is_version};
use super::seed::{self, Business, Phone, Waba};
use super::state::{DATA_ACCESS_SECS, GRANTED_SCOPES, Grant, Outbound, TokenKind, TokenProblem};
use super::{Fault, Sandbox, SentMessage, state};

const OAUTH: &str = "OAuthException";
const METHOD: &str = "GraphMethodException";

/// The Cloud API's limit on the body of a text message, in characters.
const MAX_TEXT_BODY_CHARS: usize = 4096;

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

    fn token_problem(problem: TokenProblem) -> Self {
        match problem {
            TokenProblem::Unknown => Self::unparsable_token(),
            TokenProblem::Expired => Self::expired_token(),
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
        json!({ "error": error })
    }
}

/// The parts of a Graph request the endpoints need.
struct Call<'a> {
    method: &'a Method,
    version: &'a str,
    /// The path after the version, e.g. `102290129340398/phone_numbers`.
    path: &'a str,
    params: Params,
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

/// What a user token may see.
struct Session {
    grant: Grant,
}

impl Session {
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
            state.faults.pop_front()
        };
        let result = match fault {
            Some(Fault::ServerError) => Err(GraphError::server_error()),
            Some(Fault::RateLimited) => Err(GraphError::rate_limited()),
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
        let call = Call { method: req.method(), version, path, params, bearer };
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
                    [id] => self.node(&call, &session, id),
                    [id, edge] => self.edge(&call, &session, id, edge),
                    [_, _, rest @ ..] => Err(GraphError::unknown_path(&rest.join("/"))),
                    [] => Err(GraphError::unknown_path("")),
                }
            }
        }
    }

    // ---- OAuth -------------------------------------------------------------

    fn access_token(&self, params: &Params) -> Result<Value, GraphError> {
        self.check_client(params)?;
        match params.get("grant_type") {
            None | Some("authorization_code") => self.exchange_code(params),
            Some("fb_exchange_token") => self.exchange_for_long_lived(params),
            Some(other) => Err(GraphError::oauth(100, format!("(#100) Unsupported grant_type: {other}"))),
        }
    }

    fn check_client(&self, params: &Params) -> Result<(), GraphError> {
        if params.get("client_id") != Some(self.config.app_id.as_str()) {
            return Err(GraphError::oauth(101, "Error validating application. Invalid application ID."));
        }
        let secret = params.get("client_secret").unwrap_or_default();
        if constant_time::verify_slices_are_equal(secret.as_bytes(), self.config.app_secret.as_bytes()).is_err() {
            return Err(GraphError::oauth(1, "Error validating client secret."));
        }
        Ok(())
    }

    fn exchange_code(&self, params: &Params) -> Result<Value, GraphError> {
        let invalid_code = || GraphError::oauth(100, "Invalid verification code format.").with_subcode(36007);
        let code = params.get("code").ok_or_else(invalid_code)?;
        let mut state = self.lock();
        let entry = state.codes.get_mut(code).filter(|c| c.client_id == self.config.app_id).ok_or_else(invalid_code)?;
        if entry.used {
            tracing::info!("meta sandbox: authorization code replayed");
            return Err(GraphError::oauth(100, "This authorization code has been used.").with_subcode(36009));
        }
        if std::time::Instant::now() >= entry.expires_at {
            return Err(GraphError::oauth(100, "This authorization code has expired.").with_subcode(36007));
        }
        // Meta burns a code on the first exchange attempt made by the right app,
        // even one that then fails: whoever holds a leaked code gets a single try,
        // and a client that sends the wrong redirect_uri must restart the dialog.
        entry.used = true;
        if params.get("redirect_uri") != Some(entry.redirect_uri.as_str()) {
            tracing::info!("meta sandbox: code exchange with a different redirect_uri");
            return Err(GraphError::oauth(
                100,
                "Error validating verification code. Please make sure your redirect_uri is \
                 identical to the one you used in the OAuth dialog request",
            )
            .with_subcode(36008));
        }
        let grant = entry.grant.clone();
        let (token, expires_in) = state.issue_token(TokenKind::ShortLived, grant);
        tracing::info!("meta sandbox: code exchanged for a short-lived user token");
        Ok(json!({ "access_token": token, "token_type": "bearer", "expires_in": expires_in }))
    }

    fn exchange_for_long_lived(&self, params: &Params) -> Result<Value, GraphError> {
        let input = params.get("fb_exchange_token").ok_or_else(GraphError::unparsable_token)?;
        let mut state = self.lock();
        let short = state.live_token(input).map_err(GraphError::token_problem)?;
        if short.kind != TokenKind::ShortLived {
            return Err(GraphError::unparsable_token());
        }
        let grant = short.grant.clone();
        let (token, expires_in) = state.issue_token(TokenKind::LongLived, grant);
        tracing::info!("meta sandbox: short-lived token exchanged for a long-lived one");
        Ok(json!({ "access_token": token, "token_type": "bearer", "expires_in": expires_in }))
    }

    /// `GET /debug_token`: with the app access token `{app_id}|{app_secret}`, or a
    /// user token (which then needs its `appsecret_proof`).
    fn debug_token(&self, call: &Call<'_>) -> Result<Value, GraphError> {
        let access = call.access_token().ok_or_else(GraphError::missing_token)?;
        if let Some((app_id, secret)) = access.split_once('|') {
            let secret_ok =
                constant_time::verify_slices_are_equal(secret.as_bytes(), self.config.app_secret.as_bytes()).is_ok();
            if app_id != self.config.app_id || !secret_ok {
                return Err(GraphError::oauth(190, "Invalid OAuth access token signature."));
            }
        } else {
            self.authenticate(call)?;
        }
        let input = call
            .params
            .get("input_token")
            .ok_or_else(|| GraphError::oauth(100, "(#100) The parameter input_token is required"))?;
        let state = self.lock();
        let Some(token) = state.tokens.get(input) else {
            // Meta answers 200 and describes the token as invalid.
            return Ok(json!({
                "data": {
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                    "is_valid": false,
                    "scopes": [],
                }
            }));
        };
        let grant = &token.grant;
        let mut data = json!({
            "app_id": self.config.app_id,
            "type": "USER",
            "application": seed::APP_NAME,
            "data_access_expires_at": grant.granted_at + DATA_ACCESS_SECS,
            "expires_at": token.expires_at,
            "is_valid": !token.is_expired(),
            "scopes": GRANTED_SCOPES,
            "user_id": seed::USER_ID,
        });
        if grant.granular {
            data["granular_scopes"] = json!([
                { "scope": "whatsapp_business_management", "target_ids": grant.waba_ids },
                { "scope": "whatsapp_business_messaging", "target_ids": grant.waba_ids },
            ]);
        }
        if token.is_expired() {
            data["error"] = json!({
                "code": 190,
                "subcode": 463,
                "message": "Error validating access token: Session has expired.",
            });
        }
        Ok(json!({ "data": data }))
    }

    /// Checks the user token and its `appsecret_proof` (the app has "Require App
    /// Secret" on, so a token alone is not enough).
    fn authenticate(&self, call: &Call<'_>) -> Result<Session, GraphError> {
        let token = call.access_token().ok_or_else(GraphError::missing_token)?;
        let grant = {
            let state = self.lock();
            let user = state.live_token(token).map_err(GraphError::token_problem)?;
            user.grant.clone()
        };
        let proof = call
            .params
            .get("appsecret_proof")
            .ok_or_else(|| GraphError::method(100, "API calls from the server require an appsecret_proof argument"))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.config.app_secret.as_bytes());
        let proof_ok = decode_hex(proof).is_some_and(|tag| hmac::verify(&key, token.as_bytes(), &tag).is_ok());
        if !proof_ok {
            return Err(GraphError::method(100, "Invalid appsecret_proof provided in the API argument"));
        }
        Ok(Session { grant })
    }

    // ---- Objects and edges -------------------------------------------------

    fn node(&self, call: &Call<'_>, session: &Session, id: &str) -> Result<Value, GraphError> {
        let node = session.resolve(id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
        call.require_get(id)?;
        let fields = call.params.get("fields");
        match node {
            Node::User => project(&user_fields(), fields, &["id", "name"], "User"),
            Node::Business(b) => project(&business_fields(b), fields, &["id", "name"], "Business"),
            Node::Waba(w) => project(&waba_fields(w), fields, &["id", "name"], "WhatsAppBusinessAccount"),
            Node::Phone(p) => project(&phone_fields(p), fields, PHONE_DEFAULT_FIELDS, "WhatsAppBusinessPhoneNumber"),
        }
    }

    fn edge(&self, call: &Call<'_>, session: &Session, id: &str, edge: &str) -> Result<Value, GraphError> {
        let node = session.resolve(id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
        let fields = call.params.get("fields");
        match (node, edge) {
            (Node::User, "businesses") => {
                call.require_get(id)?;
                let items: Vec<Value> = seed::BUSINESSES
                    .iter()
                    .filter_map(|b| session.visible_business(b.id))
                    .map(|b| project(&business_fields(b), fields, &["id", "name"], "Business"))
                    .collect::<Result<_, _>>()?;
                self.page(call, &items)
            }
            (Node::Business(business), "owned_whatsapp_business_accounts" | "client_whatsapp_business_accounts") => {
                call.require_get(id)?;
                // The seeded businesses own their WABAs; none is shared with them
                // by a client, so the client edge is always empty.
                let owned: Vec<&Waba> = if edge == "owned_whatsapp_business_accounts" {
                    session.granted_wabas().filter(|w| w.business_id == business.id).collect()
                } else {
                    Vec::new()
                };
                let items: Vec<Value> = owned
                    .into_iter()
                    .map(|w| project(&waba_fields(w), fields, &["id", "name"], "WhatsAppBusinessAccount"))
                    .collect::<Result<_, _>>()?;
                self.page(call, &items)
            }
            (Node::Waba(waba), "phone_numbers") => {
                call.require_get(id)?;
                let items: Vec<Value> = seed::phones_of(waba.id)
                    .map(|p| project(&phone_fields(p), fields, PHONE_DEFAULT_FIELDS, "WhatsAppBusinessPhoneNumber"))
                    .collect::<Result<_, _>>()?;
                self.page(call, &items)
            }
            (Node::Waba(waba), "subscribed_apps") => self.subscribed_apps(call, waba),
            (Node::Phone(phone), "messages") => self.send_message(call, phone),
            _ => Err(GraphError::unknown_path(edge)),
        }
    }

    /// `POST /{phone-number-id}/messages`: a text message, checked as strictly as
    /// the Cloud API checks it. The token reached this far only if it was granted
    /// the phone's WABA. Delivery statuses follow as webhooks.
    fn send_message(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let text = TextMessage::from_params(&call.params)?;
        let outbound = Outbound {
            message: SentMessage {
                phone_number_id: phone.id.to_owned(),
                to: text.wa_id.clone(),
                body: text.body,
                message_id: state::new_message_id(),
            },
            phone,
            sent_at: state::unix_now(),
            conversation_id: state::new_conversation_id(),
        };
        self.lock().sent.push(outbound.clone());
        tracing::info!(
            phone_number_id = phone.id,
            message_id = %outbound.message.message_id,
            "meta sandbox: text message accepted"
        );
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": text.input, "wa_id": text.wa_id }],
            "messages": [{ "id": outbound.message.message_id }],
        });
        self.deliver_statuses_later(outbound);
        Ok(answer)
    }

    fn subscribed_apps(&self, call: &Call<'_>, waba: &Waba) -> Result<Value, GraphError> {
        let mut state = self.lock();
        match *call.method {
            Method::GET => {
                let data = if state.subscribed.contains(waba.id) {
                    json!([{
                        "whatsapp_business_api_data": {
                            "id": self.config.app_id,
                            "name": seed::APP_NAME,
                        }
                    }])
                } else {
                    json!([])
                };
                Ok(json!({ "data": data }))
            }
            Method::POST => {
                state.subscribed.insert(waba.id.to_owned());
                tracing::info!(waba_id = waba.id, "meta sandbox: app subscribed to WABA webhooks");
                Ok(json!({ "success": true }))
            }
            Method::DELETE => {
                state.subscribed.remove(waba.id);
                tracing::info!(waba_id = waba.id, "meta sandbox: app unsubscribed from WABA webhooks");
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::unsupported(call.method, waba.id)),
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

// ---- Messages ----------------------------------------------------------------

/// A valid text message request.
struct TextMessage<'a> {
    /// `to` as the client wrote it; the answer echoes it.
    input: &'a str,
    /// `to` as a WhatsApp id: digits only.
    wa_id: String,
    body: String,
}

impl<'a> TextMessage<'a> {
    /// Checks product, recipient, type and content, in that order; the first
    /// problem is the answer. `text` arrives as a JSON object, which the
    /// parameters hold as its JSON text (a form post may send it that way too,
    /// as on Meta).
    fn from_params(params: &'a Params) -> Result<Self, GraphError> {
        match params.get("messaging_product") {
            Some("whatsapp") => {}
            None => return Err(GraphError::required("messaging_product")),
            Some(other) => {
                return Err(GraphError::oauth(
                    100,
                    format!("(#100) Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."),
                ));
            }
        }
        if let Some(kind) = params.get("recipient_type").filter(|kind| *kind != "individual") {
            return Err(GraphError::invalid_parameter(format!(
                "Param recipient_type must be \"individual\" - got \"{kind}\"."
            )));
        }
        let input = params.get("to").ok_or_else(|| GraphError::required("to"))?;
        let wa_id = wa_id(input).ok_or_else(|| {
            GraphError::invalid_parameter(
                "Param to must be a phone number in international format: 7 to 15 digits, optionally after a '+'.",
            )
        })?;
        // The sandbox's stand-in for a test number's recipient allow list: numbers
        // starting with 999 are never on it, so clients can exercise the refusal.
        if wa_id.starts_with("999") {
            return Err(GraphError::not_in_allowed_list());
        }
        // `type` is optional on the Cloud API and defaults to text.
        match params.get("type").unwrap_or("text") {
            "text" => {}
            other => {
                return Err(GraphError::oauth(100, "(#100) Unsupported message type")
                    .with_details(format!("This endpoint sends text messages only - got type \"{other}\".")));
            }
        }
        let text: Value = params.get("text").and_then(|raw| serde_json::from_str(raw).ok()).unwrap_or_default();
        let body = text
            .get("body")
            .and_then(Value::as_str)
            .filter(|body| !body.is_empty())
            .ok_or_else(|| GraphError::required("text['body']"))?;
        if body.chars().count() > MAX_TEXT_BODY_CHARS {
            return Err(GraphError::invalid_parameter(format!(
                "Param text['body'] must be at most {MAX_TEXT_BODY_CHARS} characters long."
            )));
        }
        Ok(Self { input, wa_id, body: body.to_owned() })
    }
}

/// The WhatsApp id of a phone number written as 7 to 15 digits, optionally
/// after a `+`.
pub(super) fn wa_id(number: &str) -> Option<String> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.to_owned())
}

fn cursor_for(item: &Value) -> String {
    STANDARD.encode(item["id"].as_str().unwrap_or_default())
}

fn cursor_id(cursor: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(cursor).ok()?).ok()
}

// ---- Field projection ------------------------------------------------------

/// Meta's default fields on a phone number.
const PHONE_DEFAULT_FIELDS: &[&str] = &[
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "code_verification_status",
    "platform_type",
    "throughput",
];

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

fn user_fields() -> Value {
    json!({ "id": seed::USER_ID, "name": seed::USER_NAME })
}

fn business_fields(b: &Business) -> Value {
    json!({ "id": b.id, "name": b.name, "verification_status": "verified" })
}

fn waba_fields(w: &Waba) -> Value {
    let owner = seed::business(w.business_id).map(|b| json!({ "id": b.id, "name": b.name }));
    json!({
        "id": w.id,
        "name": w.name,
        "timezone_id": w.timezone_id,
        "message_template_namespace": w.message_template_namespace,
        "currency": "USD",
        "country": "US",
        "account_review_status": "APPROVED",
        "business_verification_status": "verified",
        "owner_business_info": owner,
    })
}

fn phone_fields(p: &Phone) -> Value {
    json!({
        "id": p.id,
        "display_phone_number": p.display_phone_number,
        "verified_name": p.verified_name,
        "quality_rating": p.quality_rating,
        "code_verification_status": seed::CODE_VERIFICATION_STATUS,
        "platform_type": seed::PLATFORM_TYPE,
        "messaging_limit_tier": seed::MESSAGING_LIMIT_TIER,
        "throughput": { "level": "STANDARD" },
        "name_status": "APPROVED",
        "status": "CONNECTED",
        "account_mode": "LIVE",
        "is_official_business_account": false,
    })
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
