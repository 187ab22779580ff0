//! The Meta Graph API client. Every call has a timeout; transient failures (5xx, Graph's
//! rate-limit and transient codes) are retried a bounded number of times with jittered
//! backoff; Graph's error object is parsed (its `fbtrace_id` goes to the logs); calls made
//! with a user token carry `appsecret_proof`; list edges are followed across all pages.
//! Tokens travel in the `Authorization` header or a form body; the one exception is
//! `debug_token`'s `input_token`, and no URL is ever logged or put into an error.

mod types;

pub use types::{
    GraphError, HealthEntity, HealthError, HealthStatus, MetaError, PhoneInfo, TokenGrant, TokenInfo, WabaInfo,
};

/// The phone fields the service reads: what the pickers show, and what decides whether the
/// number must be registered (`status`, `platform_type`, `is_on_biz_app`, …).
pub const PHONE_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,code_verification_status,\
platform_type,status,throughput,name_status,account_mode,is_on_biz_app,health_status";

use crate::clock::Timestamp;
use crate::crypto;
use crate::domain::{
    AccessToken, PhoneNumberId, RegistrationPin, Secret, SyncKind, TokenKind, VerificationCode, WabaId,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;
use types::{GraphErrorEnvelope, ListPage, TokenResponse};

/// What a message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    /// An approved template, with Meta's `components` (the parameters) as given.
    Template {
        name: String,
        language: String,
        components: Option<Value>,
    },
    /// Meta's message object of any type (`image`, `interactive`, `reaction`, …, with
    /// `context` for a reply), sent as it is but for the product and the addressee.
    Message(serde_json::Map<String, Value>),
}

/// What `GET /{media-id}` says of a file.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: String,
    pub sha256: String,
    /// Meta writes it as a string.
    #[serde(default)]
    pub file_size: Option<serde_json::Value>,
}

/// A message template as Meta lists it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct TemplateInfo {
    pub id: Option<String>,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: Option<String>,
    #[serde(default)]
    pub components: Vec<Value>,
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    /// A phone number, digits only (E.164 without the `+`).
    Phone(String),
    /// A business-scoped user id (BSUID), for a customer whose number is withheld.
    User(String),
}

/// Graph codes that mean "try again later" rather than "you did something wrong".
const TRANSIENT_CODES: &[i64] =
    &[1, 2, 4, 17, 32, 341, 613, 80001, 80002, 80003, 80004, 80005, 80006, 80007, 80008, 80009, 130429];
/// Graph's app-wide rate limit: whatever is asked next is refused too, so a batch job (the
/// health sweep) stops. The others concern one token (17 per user, 32 per page, 613 per
/// call type) or one WABA (80008): the next connection is asked as usual.
const APP_RATE_LIMITS: &[i64] = &[4];
/// Graph's rate limits: a refusal with one of them shows Meta did not act on the request.
pub const RATE_LIMIT_CODES: &[i64] = &[4, 17, 32, 613, 80007, 80008, 130429];
/// A list edge longer than this many pages is a loop, not data.
const MAX_PAGES: usize = 100;
/// The least time worth giving one Graph request.
const MIN_ATTEMPT: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct MetaSettings {
    /// `{META_GRAPH_URL}/{META_GRAPH_VERSION}`, without a trailing slash.
    pub graph_base: String,
    pub app_id: String,
    pub app_secret: Secret,
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

#[derive(Clone)]
pub struct MetaClient {
    /// Built on the first call: a cold start that answers without Meta does not pay for TLS.
    http: std::sync::OnceLock<reqwest::Client>,
    settings: MetaSettings,
    /// Requests sent so far (every attempt), for the figures of a run such as the sweep.
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Whether repeating a request after an ambiguous failure (a timeout after the request was
/// sent) is safe. Exchanging a code is not: Meta may have burned it already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    OnlyWhenRefused,
    /// One attempt whatever happens: each call spends a scarce allowance at Meta
    /// (registration: 10 per number per 72 hours).
    Never,
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    /// A user token: sent with `appsecret_proof`, as apps with "Require App Secret" must.
    User(&'a AccessToken),
    /// The app token (`app_id|app_secret`).
    App(&'a AccessToken),
}

enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
    /// A body of its own type (a multipart upload).
    Raw {
        content_type: &'a str,
        bytes: &'a bytes::Bytes,
    },
}

impl MetaClient {
    pub fn new(settings: MetaSettings) -> Self {
        Self { http: std::sync::OnceLock::new(), settings, sent: Default::default() }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.settings.timeout)
                .connect_timeout(self.settings.timeout.min(Duration::from_secs(3)))
                .user_agent(concat!("waba-connect/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds")
        })
    }

    /// How many requests this client has sent to Meta, retries included.
    pub fn requests_sent(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn settings(&self) -> &MetaSettings {
        &self.settings
    }

    fn appsecret_proof(&self, token: &AccessToken) -> String {
        crypto::hex(&crypto::hmac_sha256(self.settings.app_secret.expose().as_bytes(), token.expose().as_bytes()))
    }

    /// Sends one Graph request with bounded retries and parses the answer as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
        auth: Auth<'_>,
        retry: Retry,
    ) -> Result<T, MetaError> {
        let url = format!("{}/{}", self.settings.graph_base, path.trim_start_matches('/'));
        let proof = match auth {
            Auth::User(token) => Some(self.appsecret_proof(token)),
            Auth::None | Auth::App(_) => None,
        };
        let token = match auth {
            Auth::User(token) | Auth::App(token) => Some(token),
            Auth::None => None,
        };
        let secrets = Secrets::of(self.settings.app_secret.expose(), token, proof.as_deref(), query, &body);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Each attempt ends by the request's deadline; one that could not finish in time
            // is not started.
            let budget = crate::deadline::bounded(self.settings.timeout);
            if budget < MIN_ATTEMPT {
                tracing::warn!(path, attempt, "no time left for Meta before the request's deadline");
                return Err(MetaError::Unavailable("the request's deadline left no time to call Meta".into()));
            }
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = self.http().request(method.clone(), &url).query(query).timeout(budget);
            if let Some(token) = token {
                request = request.bearer_auth(token.expose());
            }
            if let Some(proof) = &proof {
                request = request.query(&[("appsecret_proof", proof.as_str())]);
            }
            request = match &body {
                Body::None => request,
                Body::Form(fields) => request.form(fields),
                Body::Json(value) => request.json(value),
                Body::Raw { content_type, bytes } => {
                    request.header(reqwest::header::CONTENT_TYPE, *content_type).body((*bytes).clone())
                }
            };
            let failure = match self.attempt::<T>(request, &secrets).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let retryable = match &failure {
                _ if retry == Retry::Never => false,
                Attempt::Refused(error) => error.is_transient(),
                Attempt::Unanswered { sent, .. } => !sent || retry == Retry::Safe,
                Attempt::Malformed(_) => false,
            };
            if !retryable || attempt >= self.settings.attempts {
                return Err(match failure {
                    // A call made once hands its caller Meta's refusal as it is: what a
                    // transient code means for that call (taken or not) is the caller's to say.
                    Attempt::Refused(error) if error.is_transient() && retry != Retry::Never => {
                        tracing::warn!(path, code = error.code, fbtrace_id = ?error.fbtrace_id, attempt, "Meta kept refusing transiently");
                        let reason = format!("Meta answered code {} after {attempt} attempts", error.code);
                        if APP_RATE_LIMITS.contains(&error.code) {
                            MetaError::Throttled(reason)
                        } else {
                            MetaError::Unavailable(reason)
                        }
                    }
                    Attempt::Refused(error) => {
                        tracing::warn!(path, code = error.code, subcode = ?error.subcode, fbtrace_id = ?error.fbtrace_id, message = %error.message, "Meta refused the request");
                        MetaError::Graph(Box::new(error))
                    }
                    Attempt::Unanswered { reason, .. } => {
                        tracing::warn!(path, %reason, attempt, "Meta did not answer");
                        MetaError::Unavailable(reason)
                    }
                    Attempt::Malformed(reason) => {
                        tracing::warn!(path, %reason, "Meta's answer was not understood");
                        MetaError::Malformed(reason)
                    }
                });
            }
            let base = self.settings.backoff.as_millis() as u64;
            let jitter = u64::from(crypto::random_bytes::<1>()[0]) * base / 255;
            let pause = Duration::from_millis(base * (1 << (attempt - 1).min(6)) + jitter);
            if crate::deadline::bounded(pause + MIN_ATTEMPT) < pause + MIN_ATTEMPT {
                tracing::warn!(path, attempt, "no time left to retry Meta before the request's deadline");
                return Err(MetaError::Unavailable("Meta kept failing until the request's deadline".into()));
            }
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &Secrets<'_>,
    ) -> Result<T, Attempt> {
        let response = request.send().await.map_err(|e| Attempt::Unanswered {
            // A connect failure means Meta never saw the request, so any call may be repeated.
            sent: !e.is_connect(),
            reason: e.without_url().to_string(),
        })?;
        let status = response.status();
        let trace_header = response.headers().get("x-fb-trace-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Attempt::Unanswered { sent: true, reason: e.without_url().to_string() })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Attempt::Malformed(format!("unexpected Graph response: {e}")));
        }
        let mut error = match serde_json::from_slice::<GraphErrorEnvelope>(&bytes) {
            Ok(envelope) => envelope.error.into_graph_error(status.as_u16()),
            Err(_) if status.is_server_error() => GraphError::server(status.as_u16()),
            Err(_) => {
                return Err(Attempt::Malformed(format!("HTTP {status} without a Graph error object")));
            }
        };
        if error.fbtrace_id.is_none() {
            error.fbtrace_id = trace_header;
        }
        if status.is_server_error() {
            error.transient = true;
        }
        if TRANSIENT_CODES.contains(&error.code) {
            error.transient = true;
        }
        // Meta's messages do not echo what was sent today; this keeps it that way if they
        // ever do: what is passed on or logged holds no secret.
        error.message = secrets.redact(&error.message);
        error.details = error.details.map(|details| secrets.redact(&details));
        Err(Attempt::Refused(error))
    }

    /// A call authenticated with the app token (`app_id|app_secret`), which needs no proof.
    async fn call_as_app<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        app_token: &AccessToken,
    ) -> Result<T, MetaError> {
        self.call(method, path, query, Body::None, Auth::App(app_token), Retry::Safe).await
    }

    /// Follows a list edge across every page using its `after` cursor.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: &AccessToken,
    ) -> Result<Vec<T>, MetaError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params: Vec<(&str, &str)> = query.to_vec();
            if let Some(cursor) = after.as_deref() {
                params.push(("after", cursor));
            }
            let page: ListPage<T> =
                self.call(reqwest::Method::GET, path, &params, Body::None, Auth::User(token), Retry::Safe).await?;
            items.extend(page.data);
            match page.paging.and_then(|p| p.next.is_some().then_some(p.cursors).flatten()).and_then(|c| c.after) {
                Some(cursor) => after = Some(cursor),
                None => return Ok(items),
            }
        }
        Err(MetaError::Malformed(format!("{path} did not end after {MAX_PAGES} pages")))
    }

    /// Step 2a: an authorization code for a token. A code from the redirect dialog needs the
    /// byte-identical `redirect_uri` the dialog was opened with; a code the JS SDK handed to
    /// the frontend (Embedded Signup's popup) was issued for none, and any value is refused.
    pub async fn exchange_code(&self, code: &str, redirect_uri: Option<&str>) -> Result<TokenGrant, MetaError> {
        match redirect_uri {
            Some(redirect_uri) => self.access_token(&[("redirect_uri", redirect_uri), ("code", code)]).await,
            None => self.access_token(&[("code", code)]).await,
        }
    }

    /// Step 2b, for a short-lived user token only: exchanged for a long-lived one (about 60
    /// days). Meta does not apply this to a freshly issued business token.
    pub async fn exchange_long_lived(&self, short_lived: &AccessToken) -> Result<TokenGrant, MetaError> {
        self.access_token(&[("grant_type", "fb_exchange_token"), ("fb_exchange_token", short_lived.expose())]).await
    }

    /// `POST /oauth/access_token` with the app's credentials and `grant` in the form body.
    /// Not repeated after an ambiguous failure: Meta may already have redeemed the grant.
    async fn access_token(&self, grant: &[(&str, &str)]) -> Result<TokenGrant, MetaError> {
        let mut fields =
            vec![("client_id", self.settings.app_id.as_str()), ("client_secret", self.settings.app_secret.expose())];
        fields.extend_from_slice(grant);
        let response: TokenResponse = self
            .call(
                reqwest::Method::POST,
                "oauth/access_token",
                &[],
                Body::Form(&fields),
                Auth::None,
                Retry::OnlyWhenRefused,
            )
            .await?;
        Ok(response.into_grant())
    }

    /// Renews a 60-day business token for another 60 days (`set_token_expires_in_60_days`),
    /// before it ends: Meta does not renew an expired one.
    pub async fn renew_business_token(&self, token: &AccessToken) -> Result<TokenGrant, MetaError> {
        self.access_token(&[
            ("grant_type", "fb_exchange_token"),
            ("fb_exchange_token", token.expose()),
            ("set_token_expires_in_60_days", "true"),
        ])
        .await
    }

    /// What the token is (business or user), when it ends, and what it may reach.
    /// `granted_wabas` is `None` when Meta gave no granular scopes (a business-wide grant).
    pub async fn debug_token(&self, token: &AccessToken) -> Result<TokenInfo, MetaError> {
        // Graph takes `input_token` only as a parameter; the URL never reaches a log line
        // (errors are stripped of it) and the app token rides in the Authorization header.
        let app_token = AccessToken::new(format!("{}|{}", self.settings.app_id, self.settings.app_secret.expose()));
        let response: Value = self
            .call_as_app(reqwest::Method::GET, "debug_token", &[("input_token", token.expose())], &app_token)
            .await?;
        TokenInfo::parse(&response)
    }

    /// WABAs reachable through the businesses the person manages: the fallback when the
    /// token carries no granular scopes.
    pub async fn wabas_via_businesses(&self, token: &AccessToken) -> Result<Vec<WabaId>, MetaError> {
        let businesses: Vec<types::IdOnly> = self.list("me/businesses", &[("fields", "id")], token).await?;
        let mut wabas = Vec::new();
        for business in businesses {
            for edge in ["owned_whatsapp_business_accounts", "client_whatsapp_business_accounts"] {
                let found: Vec<types::IdOnly> =
                    self.list(&format!("{}/{edge}", business.id), &[("fields", "id")], token).await?;
                for waba in found {
                    let id: WabaId = waba.id.parse().map_err(MetaError::Malformed)?;
                    if !wabas.contains(&id) {
                        wabas.push(id);
                    }
                }
            }
        }
        Ok(wabas)
    }

    pub async fn waba(&self, token: &AccessToken, waba: &WabaId) -> Result<WabaInfo, MetaError> {
        self.call(
            reqwest::Method::GET,
            waba.as_str(),
            &[("fields", "id,name,timezone_id")],
            Body::None,
            Auth::User(token),
            Retry::Safe,
        )
        .await
    }

    /// Every phone number of a WABA, across all pages, with [`PHONE_FIELDS`].
    pub async fn phone_numbers(&self, token: &AccessToken, waba: &WabaId) -> Result<Vec<PhoneInfo>, MetaError> {
        self.list(&format!("{waba}/phone_numbers"), &[("fields", PHONE_FIELDS)], token).await
    }

    /// Registers a number for Cloud API with its two-step verification PIN. One attempt:
    /// Meta allows ten per number in 72 hours, so a transient failure is reported, not
    /// repeated here.
    pub async fn register(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        pin: &RegistrationPin,
    ) -> Result<(), MetaError> {
        let body = serde_json::json!({ "messaging_product": "whatsapp", "pin": pin.expose() });
        let _: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/register"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::Never,
            )
            .await?;
        Ok(())
    }

    /// Asks Meta to send a verification code to a number it has not verified, by SMS or voice
    /// call, in `language` (Meta requires one). One attempt: Meta limits how often a code
    /// may be requested.
    pub async fn request_code(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        method: &str,
        language: &str,
    ) -> Result<(), MetaError> {
        let body = serde_json::json!({ "code_method": method, "language": language });
        let _: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/request_code"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::Never,
            )
            .await?;
        Ok(())
    }

    /// Verifies a number with the code Meta sent to it. One attempt: a code is not guessed.
    pub async fn verify_code(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        code: &VerificationCode,
    ) -> Result<(), MetaError> {
        let body = serde_json::json!({ "code": code.expose() });
        let _: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/verify_code"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::Never,
            )
            .await?;
        Ok(())
    }

    /// Asks Meta once for a coexistence number's contacts or chat history
    /// (`smb_app_data`); Meta answers with a request id and sends the data as webhooks.
    /// One attempt: Meta allows each sync once per onboarding.
    pub async fn smb_app_data(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        kind: SyncKind,
    ) -> Result<Option<String>, MetaError> {
        let body = serde_json::json!({ "messaging_product": "whatsapp", "sync_type": kind.sync_type() });
        let answer: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/smb_app_data"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::Never,
            )
            .await?;
        Ok(answer["request_id"].as_str().map(str::to_owned))
    }

    /// One phone number's fields, [`PHONE_FIELDS`].
    pub async fn phone(&self, token: &AccessToken, phone: &PhoneNumberId) -> Result<PhoneInfo, MetaError> {
        self.call(
            reqwest::Method::GET,
            phone.as_str(),
            &[("fields", PHONE_FIELDS)],
            Body::None,
            Auth::User(token),
            Retry::Safe,
        )
        .await
    }

    /// Subscribes this app to the WABA's webhooks (idempotent at Meta).
    pub async fn subscribe_app(&self, token: &AccessToken, waba: &WabaId) -> Result<(), MetaError> {
        let _: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{waba}/subscribed_apps"),
                &[],
                Body::None,
                Auth::User(token),
                Retry::Safe,
            )
            .await?;
        Ok(())
    }

    /// The WABA's message templates, every page; only those in `status` when given.
    pub async fn message_templates(
        &self,
        token: &AccessToken,
        waba: &WabaId,
        status: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, MetaError> {
        let mut query = vec![("fields", "id,name,language,status,category,components")];
        if let Some(status) = status {
            query.push(("status", status));
        }
        self.list(&format!("{waba}/message_templates"), &query, token).await
    }

    /// The ids of the apps subscribed to the WABA's webhooks.
    pub async fn subscribed_apps(&self, token: &AccessToken, waba: &WabaId) -> Result<Vec<String>, MetaError> {
        let apps: Vec<Value> = self.list(&format!("{waba}/subscribed_apps"), &[], token).await?;
        Ok(apps.iter().filter_map(|app| app["whatsapp_business_api_data"]["id"].as_str().map(str::to_owned)).collect())
    }

    /// Whether this app is among them.
    pub fn app_id(&self) -> &str {
        &self.settings.app_id
    }

    pub async fn unsubscribe_app(&self, token: &AccessToken, waba: &WabaId) -> Result<(), MetaError> {
        let _: Value = self
            .call(
                reqwest::Method::DELETE,
                &format!("{waba}/subscribed_apps"),
                &[],
                Body::None,
                Auth::User(token),
                Retry::Safe,
            )
            .await?;
        Ok(())
    }

    /// Sends a message; returns Meta's message id (`wamid…`). Not retried after an
    /// unanswered attempt, so a message is never sent twice.
    pub async fn send_message(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        to: &Addressee,
        content: &Content,
    ) -> Result<String, MetaError> {
        let mut body = serde_json::json!({ "messaging_product": "whatsapp", "recipient_type": "individual" });
        match content {
            Content::Message(message) => {
                for (key, value) in message {
                    body[key.as_str()] = value.clone();
                }
                body["messaging_product"] = "whatsapp".into();
            }
            Content::Text(text) => {
                body["type"] = "text".into();
                body["text"] = serde_json::json!({ "preview_url": false, "body": text });
            }
            Content::Template { name, language, components } => {
                body["type"] = "template".into();
                body["template"] = serde_json::json!({ "name": name, "language": { "code": language } });
                if let Some(components) = components {
                    body["template"]["components"] = components.clone();
                }
            }
        }
        // A phone number goes in `to`, a BSUID in `recipient` (Meta ignores `recipient`
        // when `to` is there too, so never both).
        match to {
            Addressee::Phone(number) => body["to"] = Value::String(number.clone()),
            Addressee::User(user_id) => body["recipient"] = Value::String(user_id.clone()),
        }
        let response: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/messages"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::OnlyWhenRefused,
            )
            .await?;
        response["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MetaError::Malformed("the send answer carried no message id".into()))
    }

    /// One Graph request as the caller gave it (the scoped Graph route): Meta's status and
    /// body as Meta answered, refusals included, with the token and its proof never in it.
    /// One attempt: whatever it does is the caller's to repeat.
    pub async fn pass_through(
        &self,
        token: &AccessToken,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), MetaError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| MetaError::Malformed(e.to_string()))?;
        let url = format!("{}/{}", self.settings.graph_base, path.trim_start_matches('/'));
        let budget = crate::deadline::bounded(self.settings.timeout);
        if budget < MIN_ATTEMPT {
            return Err(MetaError::Unavailable("the request's deadline left no time to call Meta".into()));
        }
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let proof = self.appsecret_proof(token);
        let mut request = self
            .http()
            .request(method, &url)
            .query(query)
            .query(&[("appsecret_proof", proof.as_str())])
            .bearer_auth(token.expose())
            .timeout(budget);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| MetaError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| MetaError::Unavailable(e.without_url().to_string()))?;
        if status >= 500 {
            return Err(MetaError::Unavailable(format!("Meta answered HTTP {status}")));
        }
        let mut answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| MetaError::Malformed(format!("HTTP {status} without a JSON body")))?;
        scrub(&mut answer, token.expose(), &proof);
        Ok((status, answer))
    }

    /// What Meta holds of a media id: a URL that serves it for five minutes, its type, its
    /// digest and its size.
    pub async fn media_info(&self, token: &AccessToken, media_id: &str) -> Result<MediaInfo, MetaError> {
        self.call(reqwest::Method::GET, media_id, &[], Body::None, Auth::User(token), Retry::Safe).await
    }

    /// The bytes at a media URL `media_info` gave, which Meta serves only with the token;
    /// `Ok(None)` when the URL has expired (Meta answers 404), so a fresh one is asked for.
    pub async fn download_media(
        &self,
        token: &AccessToken,
        url: &str,
        max_bytes: usize,
    ) -> Result<Option<bytes::Bytes>, MetaError> {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = self
            .http()
            .get(url)
            .bearer_auth(token.expose())
            .timeout(Duration::from_secs(60).max(self.settings.timeout))
            .send()
            .await
            .map_err(|e| MetaError::Unavailable(e.without_url().to_string()))?;
        match response.status() {
            status if status.is_success() => {}
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => return Ok(None),
            status if status.is_server_error() => return Err(MetaError::Unavailable(format!("HTTP {status}"))),
            status => return Err(MetaError::Malformed(format!("the media URL answered HTTP {status}"))),
        }
        if response.content_length().is_some_and(|n| n as usize > max_bytes) {
            return Err(MetaError::Malformed(format!("the file is larger than {max_bytes} bytes")));
        }
        let bytes = response.bytes().await.map_err(|e| MetaError::Unavailable(e.without_url().to_string()))?;
        if bytes.len() > max_bytes {
            return Err(MetaError::Malformed(format!("the file is larger than {max_bytes} bytes")));
        }
        Ok(Some(bytes))
    }

    /// Uploads a file for a number to send (`POST /{phone}/media`, multipart): its media id.
    /// One attempt: a retry after an unanswered upload could leave two files at Meta.
    pub async fn upload_media(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        mime_type: &str,
        file: &bytes::Bytes,
    ) -> Result<String, MetaError> {
        let boundary = format!("waba-connect-{}", crypto::hex(&crypto::random_bytes::<12>()));
        let mut body = Vec::with_capacity(file.len() + 512);
        for (name, value) in [("messaging_product", "whatsapp"), ("type", mime_type)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: {mime_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let bytes = bytes::Bytes::from(body);
        let answer: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/media"),
                &[],
                Body::Raw { content_type: &content_type, bytes: &bytes },
                Auth::User(token),
                Retry::OnlyWhenRefused,
            )
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MetaError::Malformed("the upload answer carried no media id".into()))
    }

    /// Marks a received message read (and the chat's earlier ones), with a typing
    /// indicator if asked: the customer sees blue ticks, and "typing…" for up to 25 seconds.
    pub async fn mark_read(
        &self,
        token: &AccessToken,
        phone: &PhoneNumberId,
        message_id: &str,
        typing: bool,
    ) -> Result<(), MetaError> {
        let mut body =
            serde_json::json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id });
        if typing {
            body["typing_indicator"] = serde_json::json!({ "type": "text" });
        }
        let _: Value = self
            .call(
                reqwest::Method::POST,
                &format!("{phone}/messages"),
                &[],
                Body::Json(&body),
                Auth::User(token),
                Retry::Safe,
            )
            .await?;
        Ok(())
    }
}

/// Meta's refusal in a passed-through answer, if it is one.
pub fn refusal_of(status: u16, answer: &Value) -> Option<GraphError> {
    if status < 400 {
        return None;
    }
    let envelope: GraphErrorEnvelope = serde_json::from_value(answer.clone()).ok()?;
    Some(envelope.error.into_graph_error(status))
}

/// Names whose values are secret wherever they appear as `name=value` in Meta's text.
const SECRET_PARAMETERS: [&str; 8] =
    ["access_token", "appsecret_proof", "client_secret", "input_token", "fb_exchange_token", "code", "pin", "secret"];
/// What is left of a secret in text passed on.
const REDACTED: &str = "[redacted]";

/// The secrets of one request: the app secret, the token and its proof, and the values of
/// secret parameters in its query and body (a code, a PIN, a client secret).
struct Secrets<'a> {
    values: Vec<std::borrow::Cow<'a, str>>,
}

impl<'a> Secrets<'a> {
    fn of(
        app_secret: &'a str,
        token: Option<&'a AccessToken>,
        proof: Option<&'a str>,
        query: &'a [(&'a str, &'a str)],
        body: &'a Body<'a>,
    ) -> Self {
        use std::borrow::Cow;
        let mut values: Vec<Cow<'a, str>> = vec![Cow::Borrowed(app_secret)];
        values.extend(token.map(|t| Cow::Borrowed(t.expose())));
        values.extend(proof.map(Cow::Borrowed));
        let named = |name: &str| SECRET_PARAMETERS.contains(&name);
        values.extend(query.iter().filter(|(k, _)| named(k)).map(|(_, v)| Cow::Borrowed(*v)));
        match body {
            Body::Form(fields) => {
                values.extend(fields.iter().filter(|(k, _)| named(k)).map(|(_, v)| Cow::Borrowed(*v)))
            }
            Body::Json(Value::Object(map)) => values.extend(
                map.iter().filter(|(k, _)| named(k)).filter_map(|(_, v)| v.as_str()).map(|v| Cow::Owned(v.to_owned())),
            ),
            _ => {}
        }
        // A value too short to be a secret would blank unrelated text.
        values.retain(|v| v.len() >= 4);
        Self { values }
    }

    /// `text` with every secret of the request, and every `name=value` of a secret
    /// parameter, replaced.
    fn redact(&self, text: &str) -> String {
        let mut text = self.values.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_ref(), REDACTED));
        for name in SECRET_PARAMETERS {
            let pattern = format!("{name}=");
            let mut from = 0;
            while let Some(found) = text[from..].find(&pattern) {
                let start = from + found + pattern.len();
                let preceded_by_word =
                    text[..from + found].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                let end = text[start..]
                    .find(|c: char| c.is_whitespace() || "&\"',;)]}".contains(c))
                    .map_or(text.len(), |i| start + i);
                if !preceded_by_word && end > start && &text[start..end] != REDACTED {
                    text.replace_range(start..end, REDACTED);
                }
                from = start;
            }
        }
        text
    }
}

/// Takes the token and its proof out of an answer: Meta's paging links repeat them.
fn scrub(value: &mut Value, token: &str, proof: &str) {
    match value {
        Value::String(text) if text.contains(token) || text.contains(proof) => {
            *text = match url::Url::parse(text) {
                Ok(mut url) => {
                    let kept: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    url.query_pairs_mut().clear().extend_pairs(kept);
                    url.to_string()
                }
                Err(_) => text.replace(token, "[redacted]").replace(proof, "[redacted]"),
            };
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, token, proof)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, token, proof)),
        _ => {}
    }
}

enum Attempt {
    /// Meta answered with a Graph error.
    Refused(GraphError),
    /// No usable answer; `sent` is false when the request never left.
    Unanswered {
        sent: bool,
        reason: String,
    },
    Malformed(String),
}

impl TokenInfo {
    fn parse(response: &Value) -> Result<Self, MetaError> {
        let data = &response["data"];
        if data["is_valid"] != Value::Bool(true) {
            return Err(MetaError::Graph(Box::new(GraphError {
                message: "The access token Meta issued is not valid.".into(),
                kind: "OAuthException".into(),
                code: 190,
                subcode: None,
                fbtrace_id: None,
                status: 200,
                transient: false,
                details: None,
            })));
        }
        let granted_wabas = data.get("granular_scopes").and_then(Value::as_array).map(|scopes| {
            let mut ids: Vec<WabaId> = Vec::new();
            for scope in scopes {
                let name = scope["scope"].as_str().unwrap_or_default();
                if name != "whatsapp_business_management" && name != "whatsapp_business_messaging" {
                    continue;
                }
                for id in scope["target_ids"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if let Ok(id) = id.parse::<WabaId>()
                        && !ids.contains(&id)
                    {
                        ids.push(id);
                    }
                }
            }
            ids
        });
        // Meta writes 0 for a token that never expires (a business token by default).
        let expires_at = data["expires_at"].as_i64().filter(|&t| t > 0).map(Timestamp);
        let scopes = data["scopes"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let kind = match data["type"].as_str() {
            Some("USER") => TokenKind::User,
            // A business integration system user token (Login for Business configuration).
            Some("SYSTEM_USER") => TokenKind::Business,
            other => {
                return Err(MetaError::Malformed(format!(
                    "Meta issued a token of type {} where a user or business token was expected",
                    other.unwrap_or("(none)")
                )));
            }
        };
        Ok(TokenInfo { kind, granted_wabas: granted_wabas.filter(|ids| !ids.is_empty()), expires_at, scopes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_requests_secrets_and_secret_parameters_wherever_they_appear() {
        let token = AccessToken::new("EAAGtoken1234567890".into());
        let body = serde_json::json!({ "messaging_product": "whatsapp", "pin": "123456" });
        let body = Body::Json(&body);
        let query = [("input_token", "EAAGinput999"), ("fields", "id")];
        let secrets = Secrets::of("app-secret-xyz", Some(&token), Some("proofhex"), &query, &body);
        let text = "bad EAAGtoken1234567890 app-secret-xyz proofhex EAAGinput999 pin 123456 \
                    client_secret=other&code=AQBx-1 access_token=abc) fields=id";
        let redacted = secrets.redact(text);
        for secret in
            ["EAAGtoken1234567890", "app-secret-xyz", "proofhex", "EAAGinput999", "123456", "other", "AQBx-1", "abc)"]
        {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        assert!(redacted.contains("fields=id") && redacted.starts_with("bad [redacted]"), "{redacted}");
        // A parameter name inside another word is not a parameter.
        assert_eq!(secrets.redact("zipcode=94110"), "zipcode=94110");
    }
}
