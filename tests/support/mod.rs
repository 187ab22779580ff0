//! Starts the real local stack on a random port and talks HTTP to it, as a frontend and a
//! browser would. Every response body and header the tests see is kept, and every log line
//! of the process is captured, so each test can finish by proving no token leaked.

#![allow(dead_code)]

pub mod contract;
pub mod outage;
pub mod receiver;
pub mod recorder;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use waba_connect::RunningStack;
use waba_connect::sandbox::seed;

pub const CALLBACK_PATH: &str = "/api/v1/organizations/whatsapp/callback";

// ---- log capture -------------------------------------------------------------------------

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log filter of the capture: DEBUG for everything, TRACE for every crate of the
/// service — the shared crate, the local stack and each function of the route table, so a
/// function added later is covered without anyone remembering to list it.
pub fn capture_filter() -> String {
    let mut filter = vec!["debug".to_owned(), "shared=trace".to_owned(), "waba_connect=trace".to_owned()];
    filter.extend(shared::routes::Function::ALL.iter().map(|f| format!("{}=trace", f.binary().replace('-', "_"))));
    filter.join(",")
}

/// Installs a process-wide subscriber with [`capture_filter`] that writes into memory.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(capture_filter()))
            .with_ansi(false)
            .with_writer(move || shared::telemetry::OneLine(writer.clone()))
            .try_init();
        buffer
    })
    .clone()
}

pub fn logs() -> String {
    String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned()
}

// ---- the stack ---------------------------------------------------------------------------

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let name = format!("waba-connect-e2e-{}", shared::crypto::hex(&shared::crypto::random_bytes::<6>()));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Harness {
    pub stack: RunningStack,
    /// The emulator and DynamoDB table when the backend is `Aws`.
    table: Option<(String, String)>,
    pub http: reqwest::Client,
    pub data_dir: TempDir,
    seen: Mutex<Vec<String>>,
    /// Event endpoints' signing secrets, shown once at creation: never to be seen again.
    secrets: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// DynamoDB and KMS on moto's server, through the real SDK clients.
    Aws,
}

impl Harness {
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        Self::start_on(Backend::Embedded, settings).await
    }

    pub async fn start_on(backend: Backend, settings: &[(&str, &str)]) -> Self {
        Self::start_wrapped(backend, settings, waba_connect::Wrap::default()).await
    }

    /// A stack whose store and cipher `wrap` decorates (an outage on command).
    pub async fn start_wrapped(backend: Backend, settings: &[(&str, &str)], wrap: waba_connect::Wrap) -> Self {
        capture_logs();
        let data_dir = TempDir::new();
        let mut values: Vec<(String, String)> = vec![
            ("PORT".into(), "0".into()),
            ("DATA_DIR".into(), data_dir.0.display().to_string()),
            ("META_MAX_ATTEMPTS".into(), "3".into()),
        ];
        let mut table = None;
        if backend == Backend::Aws {
            let endpoint = std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
                panic!("MOTO_ENDPOINT is not set: run ./scripts/test, which starts moto's server for these tests")
            });
            let suffix = shared::crypto::hex(&shared::crypto::random_bytes::<4>());
            table = Some((endpoint.clone(), format!("e2e-{suffix}")));
            values.extend([
                ("LOCAL_BACKEND".into(), "aws".into()),
                ("AWS_ENDPOINT_URL".into(), endpoint),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
                ("TABLE_NAME".into(), format!("e2e-{suffix}")),
                ("KMS_KEY_ID".into(), format!("alias/e2e-{suffix}")),
            ]);
        }
        values.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let source = |name: &str| values.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let stack = waba_connect::start_wrapped(source, wrap).await.expect("the local stack starts");
        // A route that hangs fails the test that called it, instead of hanging the run.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        Self { stack, table, http, data_dir, seen: Mutex::new(Vec::new()), secrets: Mutex::new(Vec::new()) }
    }

    pub fn sandbox(&self) -> &waba_connect::sandbox::Sandbox {
        self.stack.sandbox.as_deref().expect("the sandbox runs")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.base_url)
    }

    pub fn user(&self, sub: &str) -> String {
        self.stack.token_for(sub, serde_json::Map::new())
    }

    pub fn user_with_org_claim(&self, sub: &str, org: &str) -> String {
        self.stack.token_for(sub, serde_json::Map::from_iter([("org_id".to_owned(), json!(org))]))
    }

    fn remember(&self, response: &reqwest::Response, body: &str) {
        let headers: Vec<String> = response.headers().iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
        self.seen.lock().unwrap().push(format!("{}\n{body}", headers.join("\n")));
    }

    /// Sends a request as a frontend does and returns the status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the stack answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        contract::check(method, path, status.as_u16(), &text);
        self.seen.lock().unwrap().push(text);
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// A raw GET (the browser's view: redirects are not followed).
    pub async fn browse(&self, url: &str, accept_json: bool) -> reqwest::Response {
        let mut request = self.http.get(url);
        if accept_json {
            request = request.header("accept", "application/json");
        }
        request.send().await.expect("the stack answers")
    }

    pub async fn text_of(&self, response: reqwest::Response) -> (StatusCode, Option<String>, String) {
        let status = response.status();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        self.seen.lock().unwrap().push(format!("{headers}\n{body}"));
        (status, location, body)
    }

    // ---- the flow, step by step ----

    pub async fn create_org(&self, token: &str, name: &str) -> String {
        let (status, body) = self.post("/api/v1/organizations", token, json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// init-oauth: returns (state, authUrl).
    pub async fn init(&self, token: &str, org: &str) -> (String, String) {
        let (status, body) = self.get(&format!("/api/v1/organizations/{org}/whatsapp/init-oauth"), token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["state"].as_str().unwrap().to_owned(), body["authUrl"].as_str().unwrap().to_owned())
    }

    /// The person at Meta's redirect dialog: opens it, ticks `wabas`, and answers. Returns
    /// where Meta sends the browser (the callback URL with `code` or `error`).
    pub async fn consent(&self, auth_url: &str, wabas: &[&str], decision: &str, granular: bool) -> String {
        let dialog = self.http.get(auth_url).send().await.unwrap();
        assert_eq!(dialog.status(), StatusCode::OK, "the dialog opens");
        let url = url::Url::parse(auth_url).unwrap();
        // The form carries what the dialog was opened with, as Meta's does.
        let mut form: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                [
                    "client_id",
                    "redirect_uri",
                    "state",
                    "response_type",
                    "scope",
                    "config_id",
                    "override_default_response_type",
                ]
                .contains(&k.as_ref())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        form.push(("decision".to_owned(), decision.to_owned()));
        form.push(("granular".to_owned(), if granular { "on" } else { "off" }.to_owned()));
        form.extend(wabas.iter().map(|w| ("waba".to_owned(), (*w).to_owned())));
        let confirm = format!("{}/meta-sandbox/www/{}/dialog/oauth/confirm", self.stack.base_url, "v26.0");
        let answer = self.http.post(confirm).form(&form).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FOUND, "Meta redirects back");
        answer.headers()["location"].to_str().unwrap().to_owned()
    }

    /// The browser arriving at the callback with `Accept: application/json`.
    pub async fn callback_json(&self, location: &str) -> (StatusCode, Value) {
        let response = self.browse(location, true).await;
        let (status, _, body) = self.text_of(response).await;
        let path = location.split_once("://").map_or(location, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
        contract::check("GET", path, status.as_u16(), &body);
        (status, serde_json::from_str(&body).unwrap())
    }

    /// init-oauth, consent to `wabas`, callback: the authorized state the callback handed
    /// back (not the one init-oauth issued).
    pub async fn authorized_state(&self, token: &str, org: &str, wabas: &[&str]) -> String {
        let (state, auth_url) = self.init(token, org).await;
        let location = self.consent(&auth_url, wabas, "allow", true).await;
        let (status, body) = self.callback_json(&location).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let handed_back = body["state"].as_str().unwrap().to_owned();
        assert_ne!(handed_back, state, "the callback hands back a new state");
        handed_back
    }

    /// init-oauth, then Embedded Signup's popup as Meta's JS SDK runs it, finished on
    /// `choice` (`{waba}:{phone}` or `{waba}:`): the state, and the popup's `message` event
    /// (minus `type`) and code, as a frontend receives them.
    pub async fn embedded_signup(&self, token: &str, org: &str, choice: &str) -> (String, Value, Option<String>) {
        // A WhatsApp Business app number is onboarded through Embedded Signup's app flow.
        let app_number =
            choice.split_once(':').and_then(|(_, phone)| seed::phone(phone)).is_some_and(|p| p.coexistence);
        let feature = if app_number { "?featureType=whatsapp_business_app_onboarding" } else { "" };
        let (status, init) =
            self.get(&format!("/api/v1/organizations/{org}/whatsapp/init-oauth{feature}"), token).await;
        assert_eq!(status, StatusCode::OK, "{init}");
        let (session, code) = self.popup(&init["embeddedSignup"], choice).await;
        (init["state"].as_str().unwrap().to_owned(), session, code)
    }

    /// Embedded Signup in the sandbox's popup, opened with `launch` (what init-oauth or a
    /// link's session hands the frontend): the person picks `choice` (`waba:phone`, or `""`
    /// to cancel). The session event Meta's popup posts (minus `type`) and the code.
    pub async fn popup(&self, launch: &Value, choice: &str) -> (Value, Option<String>) {
        assert_eq!(launch["responseType"], "code");
        assert_eq!(launch["overrideDefaultResponseType"], true);
        let version = launch["graphVersion"].as_str().unwrap();
        let origin = self.stack.base_url.clone();
        let mut form = vec![
            ("client_id", launch["appId"].as_str().unwrap().to_owned()),
            ("config_id", launch["configId"].as_str().unwrap().to_owned()),
            ("response_type", "code".to_owned()),
            ("override_default_response_type", "true".to_owned()),
            ("extras", launch["extras"].to_string()),
            ("display", "popup".to_owned()),
            ("origin", origin),
        ];
        let popup = self
            .http
            .get(format!("{}/meta-sandbox/www/{version}/dialog/oauth", self.stack.base_url))
            .query(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(popup.status(), StatusCode::OK, "the popup opens");
        form.push(("decision", if choice.is_empty() { "cancel" } else { "finish" }.to_owned()));
        form.push(("choice", choice.to_owned()));
        let page = self
            .http
            .post(format!("{}/meta-sandbox/www/{version}/dialog/oauth/confirm", self.stack.base_url))
            .form(&form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let session = page.split("postMessage(JSON.stringify(").nth(1).unwrap().split("), origin);").next().unwrap();
        let mut session: Value = serde_json::from_str(&session.replace("\\u003c", "<")).unwrap();
        let login = page.split("window.opener.postMessage(").nth(2).unwrap().split(", origin);").next().unwrap();
        let login: Value = serde_json::from_str(login).unwrap();
        session.as_object_mut().unwrap().remove("type");
        (session, login["code"].as_str().map(str::to_owned))
    }

    pub async fn save(&self, token: &str, org: &str, state: &str, waba: &str, phone: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/organizations/{org}/whatsapp/save-config"),
            token,
            json!({ "state": state, "wabaId": waba, "phoneNumberId": phone }),
        )
        .await
    }

    /// A whole step-by-step connection of one phone.
    pub async fn connect(&self, token: &str, org: &str, waba: &str, phone: &str) {
        let state = self.authorized_state(token, org, &[waba]).await;
        let (status, body) = self.save(token, org, &state, waba, phone).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// POSTs raw bytes to the webhook, signed with the app secret unless `signature` says
    /// otherwise (`Some(None)`: no header).
    pub async fn webhook(&self, body: &[u8], signature: Option<Option<String>>) -> (StatusCode, Value) {
        let signature = signature.unwrap_or_else(|| {
            let secret = waba_connect::stack::LOCAL_APP_SECRET.as_bytes();
            Some(format!("sha256={}", shared::crypto::hex(&shared::crypto::hmac_sha256(secret, body))))
        });
        let mut request =
            self.http.post(self.url("/webhook")).header("content-type", "application/json").body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        contract::check("POST", "/webhook", status.as_u16(), &text);
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Every stored message and status of the organization, newest first (all pages).
    pub async fn messages(&self, token: &str, org: &str) -> Vec<Value> {
        self.every_page(&format!("/api/v1/organizations/{org}/whatsapp/messages?limit=3"), token, "messages").await
    }

    /// Every item of a paged listing under `field`, following `nextCursor`. A cursor given
    /// twice fails the test: a listing that pages in a circle would otherwise never end.
    pub async fn every_page(&self, first: &str, token: &str, field: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let path = match &cursor {
                Some(c) => format!("{first}&cursor={c}"),
                None => first.to_owned(),
            };
            let (status, body) = self.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            all.extend(body[field].as_array().unwrap().iter().cloned());
            match body["nextCursor"].as_str() {
                Some(next) => {
                    assert!(seen.insert(next.to_owned()), "{first}: the cursor {next} was given before");
                    cursor = Some(next.to_owned());
                }
                None => return all,
            }
        }
    }

    /// Creates an event endpoint: its answer, the one place its secret may be, is kept out of
    /// what the leak check scans, and the secret joins what it looks for.
    pub async fn create_endpoint(&self, token: &str, org: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/organizations/{org}/whatsapp/event-endpoints");
        self.create_shown_once(token, &path, body, |v| v["data"]["secret"].as_str().map(str::to_owned)).await
    }

    /// Creates an onboarding link, likewise: its token is in its URL, shown this once.
    pub async fn create_link(&self, token: &str, org: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/organizations/{org}/whatsapp/onboarding-links");
        let token_of = |v: &Value| v["data"]["url"].as_str().and_then(|url| url.rsplit('/').next()).map(str::to_owned);
        self.create_shown_once(token, &path, body, token_of).await
    }

    /// POSTs what the API answers with a secret shown only this once, found by `secret_of`.
    async fn create_shown_once(
        &self,
        token: &str,
        path: &str,
        body: Value,
        secret_of: impl Fn(&Value) -> Option<String>,
    ) -> (StatusCode, Value) {
        let response = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        contract::check("POST", path, status.as_u16(), &text);
        let value: Value = serde_json::from_str(&text).unwrap();
        if let Some(secret) = secret_of(&value) {
            self.secrets.lock().unwrap().push(secret);
        }
        (status, value)
    }

    /// Pulls one of the sandbox's levers (`/control/{lever}`), as a test or a person would.
    pub async fn control(&self, lever: &str, body: Value) -> Value {
        let url = self.url(&format!("{}/control/{lever}", waba_connect::server::SANDBOX_PREFIX));
        let response = self.http.post(url).json(&body).send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{lever}: {answer}");
        answer
    }

    /// Every event of the organization's trail, newest first (all pages).
    pub async fn events(&self, token: &str, org: &str) -> Vec<Value> {
        self.every_page(&format!("/api/v1/organizations/{org}/whatsapp/events?limit=5"), token, "events").await
    }

    /// Runs one health sweep now, as the schedule would.
    pub async fn sweep(&self) -> shared::sweep::SweepReport {
        health::handle(self.stack.app(), std::time::Duration::from_secs(60)).await.expect("the sweep runs")
    }

    pub async fn status(&self, token: &str, org: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/organizations/{org}/whatsapp/status"), token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Fails if any token the sandbox ever issued, or any two-step verification PIN a
    /// number has at the sandbox, appears in a response the tests saw, in the captured logs,
    /// in any byte under the data directory, or (on DynamoDB) in any attribute of any item of
    /// the table.
    /// A value [`Self::assert_no_token_leaked`] looks for too (a code, the app secret).
    pub fn never_to_be_seen(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_owned());
    }

    pub async fn assert_no_token_leaked(&self) {
        let mut tokens = self.sandbox().issued_tokens();
        assert!(!tokens.is_empty(), "the sandbox issued tokens, so the check means something");
        // A PIN is six digits, which an unrelated number can contain by chance; only the
        // PINs this service set or was given are checked, in their quoted forms.
        tokens.extend(
            self.sandbox().two_step_pins().into_iter().chain(self.sandbox().verification_codes_sent()).flat_map(
                |pin| [format!("\"{pin}\""), format!("pin={pin}"), format!("pin: {pin}"), format!("code={pin}")],
            ),
        );
        tokens.extend(self.secrets.lock().unwrap().iter().flat_map(|secret| {
            let bare = secret.strip_prefix("whsec_").unwrap_or(secret).to_owned();
            [secret.clone(), bare]
        }));
        let seen = self.seen.lock().unwrap().join("\n");
        let logs = logs();
        let mut stored = Vec::new();
        collect_files(&self.data_dir.0, &mut stored);
        if let Some((endpoint, table)) = &self.table {
            let config = shared::aws::emulator(endpoint);
            let items = aws_sdk_dynamodb::Client::new(&config).scan().table_name(table).send().await.unwrap();
            assert!(!items.items().is_empty(), "the table holds the flow's records");
            for item in items.items() {
                for value in item.values() {
                    let bytes = match value {
                        aws_sdk_dynamodb::types::AttributeValue::B(blob) => blob.as_ref().to_vec(),
                        other => format!("{other:?}").into_bytes(),
                    };
                    stored.push(bytes);
                }
            }
        }
        for token in &tokens {
            assert!(!seen.contains(token.as_str()), "a response carried a token");
            assert!(!logs.contains(token.as_str()), "a log line carried a token");
            let encoded = shared::crypto::base64url(token.as_bytes());
            for bytes in &stored {
                assert!(!contains(bytes, token.as_bytes()), "a stored byte sequence is a clear token");
                assert!(!contains(bytes, encoded.as_bytes()), "a stored byte sequence is an encoded token");
            }
        }
    }
}

/// Every file the service keeps under the data directory. The Meta sandbox's own state
/// (`meta-sandbox/`) is Meta's side, which holds its tokens in clear as Meta does: not the
/// service's storage, so not scanned.
fn collect_files(dir: &std::path::Path, out: &mut Vec<Vec<u8>>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "meta-sandbox") {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push(bytes);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
pub const SALES: &str = seed::ACME_SALES_WABA;
pub const EMPTY: &str = seed::BETA_EMPTY_WABA;
