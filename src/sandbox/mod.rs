//! A strict, in-process stand-in for Meta: the Graph API endpoints the service
//! calls and the OAuth consent dialog a person clicks through.
//!
//! Meta cannot be reached from a developer machine or from CI, yet the service's
//! real HTTP client has to be exercised end to end. The sandbox answers what
//! Meta would answer, with Meta's error shapes and Meta's strictness: codes that
//! are single-use and expire, a `redirect_uri` that must be byte-identical,
//! `appsecret_proof` on every user-token call, per-WABA grants and cursor
//! paging. A client that works against the sandbox should not be surprised by
//! Meta.
//!
//! The messaging side is there too: `POST /{phone-number-id}/messages` accepts
//! text messages the way the Cloud API does, and the sandbox posts signed
//! webhooks (inbound messages, delivery statuses, quality and account updates)
//! to the service, byte for byte in Meta's format.
//!
//! Paths given to [`Sandbox::handle`] are relative to where the sandbox is
//! mounted: `/graph/...` is the Graph API (`META_GRAPH_URL = {public_url}/graph`),
//! `/www/...` the dialog (`META_DIALOG_URL = {public_url}/www`), `/connect/{locale}/sdk.js`
//! the JavaScript SDK a page loads for Embedded Signup, and `/control/...` the
//! sandbox's own switches for playing the customer's side of a chat.

mod coexistence;
mod control;
mod dialog;
mod graph;
mod multipart;
mod persist;
mod request;
pub mod seed;
mod state;
#[cfg(test)]
mod tests;
mod webhook;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};

pub use control::SAMPLE_PNG;
use state::State;
use webhook::Webhooks;

/// Meta's JavaScript SDK, as far as Embedded Signup uses it.
const SDK_JS: &str = include_str!("sdk.js");

/// How the sandbox identifies the app it plays Meta for.
#[derive(Clone)]
pub struct SandboxConfig {
    pub app_id: String,
    pub app_secret: String,
    /// The version the service is configured with, e.g. `v24.0`. Requests may use
    /// any well-formed version; a different one is only noted in the log.
    pub graph_version: String,
    /// Absolute URL where the sandbox is mounted, without a trailing slash,
    /// e.g. `http://127.0.0.1:3000/meta-sandbox`. Used for absolute links
    /// (paging `next`, the dialog's form action).
    pub public_url: String,
    /// Maximum items per page on list edges. Small values make clients page.
    pub page_size: usize,
    /// Absolute URL of the service's webhook, e.g. `http://127.0.0.1:3000/webhook`.
    /// `None` sends nothing, for tests of the Graph API alone.
    pub webhook_url: Option<String>,
    /// The app's Valid OAuth Redirect URIs: the dialog sends a browser back to these alone,
    /// byte for byte (Meta's strict mode).
    pub redirect_uris: Vec<String>,
    /// Where the sandbox keeps what survives a restart (tokens, registrations, templates):
    /// beside the local stack's store. `None` keeps nothing.
    pub state_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("graph_version", &self.graph_version)
            .field("public_url", &self.public_url)
            .field("page_size", &self.page_size)
            .field("webhook_url", &self.webhook_url)
            .field("redirect_uris", &self.redirect_uris)
            .field("state_file", &self.state_file)
            .finish()
    }
}

/// A failure the Graph API can be told to produce, to test retries and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500, code 2, `is_transient: true`.
    ServerError,
    /// HTTP 400, code 4 "(#4) Application request limit reached", `is_transient: true`.
    RateLimited,
    /// HTTP 400, code 17 "(#17) User request limit reached", `is_transient: true`: one
    /// token's limit, not the app's.
    UserRateLimited,
    /// HTTP 400, code 100, whose message and details repeat the request: its query, its body
    /// and its `Authorization` header — tokens, proofs, secrets, PINs and codes included.
    /// Meta's messages do not do this today; the service must not pass them on if they do.
    EchoingError,
    /// Waits this long before doing anything, then answers normally. A caller
    /// that gives up first (drops the future) leaves no trace but the counted call.
    Timeout(Duration),
}

/// A message the Graph API accepted, as `POST /{phone-number-id}/messages` received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub phone_number_id: String,
    /// The recipient's WhatsApp id: the `to` parameter without its leading `+`.
    pub to: String,
    /// What the recipient reads: a text's body, a template's filled-in text, or a line
    /// saying what the message is (`[image] caption`, `[button] body`, …).
    pub body: String,
    /// The `wamid.…` the send answered with; statuses refer to it.
    pub message_id: String,
    /// Meta's `type` (`text`, `image`, `interactive`, …).
    pub kind: String,
    /// The request's message object exactly as it arrived.
    pub object: serde_json::Value,
}

/// The fake Meta. Cheap to share behind an `Arc`; the Graph state sits behind one
/// mutex and the webhook log behind another, neither held across an `.await`.
pub struct Sandbox {
    config: SandboxConfig,
    state: Mutex<State>,
    /// Shared with the background tasks that post delivery statuses after a send
    /// has been answered, which outlive the request that started them.
    webhooks: Arc<Webhooks>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox holding the world described in [`seed`], with no codes, tokens
    /// or subscriptions yet.
    pub fn new(mut config: SandboxConfig) -> Self {
        config.public_url = config.public_url.trim_end_matches('/').to_owned();
        let webhooks = Webhooks::new(config.webhook_url.as_deref(), &config.app_secret);
        let mut state = State::default();
        if let Some(snapshot) = config.state_file.as_deref().and_then(persist::Snapshot::load) {
            snapshot.restore(&mut state);
            tracing::info!("meta sandbox: tokens, registrations and templates restored");
        }
        Self { config, state: Mutex::new(state), webhooks: Arc::new(webhooks) }
    }

    /// Keeps what survives a restart, when the sandbox keeps anything.
    fn save(&self) {
        let Some(path) = &self.config.state_file else { return };
        let snapshot = persist::Snapshot::of(&self.lock());
        if let Err(error) = snapshot.save(path) {
            tracing::warn!(%error, "meta sandbox: its state could not be saved");
        }
    }

    /// Answers one request. The path starts with `/graph/` (Graph API), `/www/`
    /// (consent dialog) or `/control/` (sandbox controls); anything else is a
    /// plain 404.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path();
        if path.starts_with("/graph/") {
            let answer = self.graph(&req).await;
            self.save();
            answer
        } else if path.starts_with("/www/") {
            self.dialog(&req)
        } else if path.starts_with("/control/") {
            let answer = self.control(&req).await;
            self.save();
            answer
        } else if path.starts_with("/media-download/") {
            let bearer = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            self.media_download(path, req.uri().query(), bearer)
        } else if path.starts_with("/connect/") && path.ends_with("/sdk.js") {
            Response::builder()
                .header(http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")
                .header(http::header::CACHE_CONTROL, "no-store")
                .body(Bytes::from_static(SDK_JS.as_bytes()))
                .expect("static response parts are valid")
        } else {
            Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Bytes::from_static(b"not found"))
                .expect("static response parts are valid")
        }
    }

    /// Every access token ever minted, of both kinds, oldest first.
    /// A live business token granted `waba_id`, as a finished Embedded Signup leaves one:
    /// for tests that seed many connections without a dialog each.
    pub fn issue_business_token(&self, waba_id: &str) -> String {
        let waba = seed::waba(waba_id).expect("a seeded WABA");
        let grant = state::Grant {
            waba_ids: vec![waba.id],
            scopes: state::CONFIGURATION_SCOPES.to_vec(),
            granular: true,
            granted_at: state::unix_now(),
        };
        self.lock().issue_token(state::TokenKind::Business { sixty_days: false }, grant).0
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    /// How many Graph requests were received whose path contains `path_contains`
    /// (e.g. `"/oauth/access_token"`). Requests failed by an injected fault count.
    pub fn calls(&self, path_contains: &str) -> usize {
        self.lock().calls.iter().filter(|path| path.contains(path_contains)).count()
    }

    /// Makes the next `count` Graph requests (not dialog requests) fail with
    /// `fault`. Faults queue up: a second call adds after the first's.
    pub fn inject_faults(&self, fault: Fault, count: usize) {
        self.lock().faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Makes the next `count` Graph requests whose path contains `path_contains` (e.g.
    /// `"/register"`) fail with `fault`; other requests are unaffected.
    pub fn inject_faults_on(&self, path_contains: &str, fault: Fault, count: usize) {
        self.lock().targeted_faults.extend(std::iter::repeat_n((path_contains.to_owned(), fault), count));
    }

    /// Faults injected and not produced yet.
    pub fn faults_left(&self) -> usize {
        let state = self.lock();
        state.faults.len() + state.targeted_faults.len()
    }

    /// Every text message the Graph API accepted, oldest first.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.lock().sent.iter().map(|sent| sent.message.clone()).collect()
    }

    /// Whether a customer's message was marked read, and with a typing indicator:
    /// `None` for a message no number received.
    pub fn read_receipt(&self, message_id: &str) -> Option<(bool, bool)> {
        self.lock().received.iter().find(|r| r.message_id == message_id).map(|r| (r.read, r.typing))
    }

    /// The next media URL `GET /{media-id}` hands out has expired by the time it is used,
    /// as if five minutes had passed.
    pub fn expire_next_media_url(&self) {
        self.lock().expire_next_media_url = true;
    }

    /// A media file Meta holds: its MIME type and bytes.
    pub fn media_file(&self, media_id: &str) -> Option<(String, Bytes)> {
        self.lock().media.get(media_id).map(|m| (m.mime_type.clone(), m.bytes.clone()))
    }

    /// How many webhooks the service answered with a 2xx status.
    pub fn webhooks_delivered(&self) -> usize {
        self.webhooks.delivered()
    }

    /// Webhooks answered with an error status, or not answered.
    pub fn webhooks_refused(&self) -> usize {
        self.webhooks.refused()
    }

    /// The exact bytes of every webhook posted (whatever the answer), oldest
    /// first, so they can be replayed as Meta's redeliveries.
    pub fn webhook_bodies(&self) -> Vec<Bytes> {
        self.webhooks.bodies()
    }

    /// Whether the app is currently subscribed to the WABA's webhooks.
    pub fn is_subscribed(&self, waba_id: &str) -> bool {
        self.lock().subscribed.contains(waba_id)
    }

    /// Every two-step verification PIN a number has at Meta now (seeded or set by a
    /// registration), so tests can look for leaks.
    pub fn two_step_pins(&self) -> Vec<String> {
        let state = self.lock();
        seed::PHONES
            .iter()
            .filter_map(|p| state.numbers.get(p.id).map_or(p.two_step_pin.map(str::to_owned), |n| n.pin.clone()))
            .collect()
    }

    /// The verification code Meta last sent to a number (what the person reads on the
    /// phone), while it is valid.
    pub fn verification_code(&self, phone_id: &str) -> Option<String> {
        let state = self.lock();
        let code = state.numbers.get(phone_id)?.code.as_ref()?;
        (code.expires_at > state::unix_now() && code.wrong_tries < state::CODE_TRIES).then(|| code.code.clone())
    }

    /// Every verification code Meta sent, so tests can look for leaks.
    pub fn verification_codes_sent(&self) -> Vec<String> {
        self.lock().codes_sent.clone()
    }

    /// Whether a number is registered for Cloud API.
    pub fn is_registered(&self, phone_id: &str) -> bool {
        seed::phone(phone_id).is_some_and(|p| self.lock().is_registered(p))
    }

    /// How many registration attempts a number has had in the last 72 hours.
    pub fn registration_attempts(&self, phone_id: &str) -> usize {
        seed::phone(phone_id).map_or(0, |p| self.lock().numbers.get(p.id).map_or(0, |n| n.recent_attempts()))
    }

    /// Ends every verification code sent so far, as if ten minutes had passed.
    pub fn expire_verification_codes(&self) {
        for number in self.lock().numbers.values_mut() {
            if let Some(code) = number.code.as_mut() {
                code.expires_at = state::unix_now();
            }
        }
    }

    /// Moves every coexistence onboarding `seconds` into the past.
    pub fn age_onboardings(&self, seconds: u64) {
        for number in self.lock().numbers.values_mut() {
            number.onboarded_at = number.onboarded_at.map(|at| at.saturating_sub(seconds));
        }
    }

    /// Expires every code issued so far, as if ten minutes had passed.
    pub fn expire_codes(&self) {
        let now = Instant::now();
        for code in self.lock().codes.values_mut() {
            code.expires_at = now;
        }
    }

    /// The state lock. A panic elsewhere cannot leave the state half-updated in a
    /// way that matters here, so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
