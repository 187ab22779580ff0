//! The sandbox's own tests: each refusal Meta makes, made here too. One file per Meta
//! surface, as the sandbox itself is split.

mod coexistence;
mod dialog;
mod graph;
mod health;
mod messages;
mod numbers;
mod oauth;
mod templates;
mod verification;
mod webhooks;

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::{Url, form_urlencoded};

use super::seed::{
    ACME_BUSINESS, ACME_CAFE_PHONE, ACME_CAFE_WABA, ACME_SALES_PHONE, ACME_SALES_WABA, ACME_SUPPORT_PHONES,
    ACME_SUPPORT_WABA, BETA_BUSINESS, BETA_EMPTY_WABA, CONFIG_ID, CONFIG_ID_60_DAYS, EXISTING_TWO_STEP_PIN,
    SYSTEM_USER_ID, USER_ID,
};
use super::{Fault, Sandbox, SandboxConfig, SentMessage};

const APP_ID: &str = "1234567890123456";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const PUBLIC_URL: &str = "http://127.0.0.1:3000/meta-sandbox";
const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/v1/organizations/whatsapp/callback";

/// What the service's `scope=` dialog asks for.
const ALL_SCOPES: &str = "whatsapp_business_management,whatsapp_business_messaging,business_management";

fn config() -> SandboxConfig {
    SandboxConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        graph_version: "v24.0".into(),
        public_url: PUBLIC_URL.into(),
        page_size: 2,
        webhook_url: None,
        state_file: None,
        redirect_uris: vec![REDIRECT_URI.into()],
    }
}

fn sandbox() -> Sandbox {
    Sandbox::new(config())
}

/// A sandbox that posts its webhooks to `webhook_url`.
fn sandbox_posting_to(webhook_url: &str) -> Sandbox {
    Sandbox::new(SandboxConfig { webhook_url: Some(webhook_url.into()), ..config() })
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("a UTF-8 body")
    }

    fn location(&self) -> Url {
        let location = self.headers["location"].to_str().expect("an ASCII location");
        Url::parse(location).expect("an absolute location")
    }

    /// The Graph error's code and subcode.
    fn error(&self) -> (i64, Option<i64>) {
        let error = &self.json()["error"];
        (error["code"].as_i64().expect("an error code"), error["error_subcode"].as_i64())
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn send(sb: &Sandbox, method: Method, uri: &str, body: Option<String>) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = builder.body(Bytes::from(body.unwrap_or_default())).expect("a valid request");
    let res = sb.handle(req).await;
    let (parts, body) = res.into_parts();
    Answer { status: parts.status, headers: parts.headers, body }
}

async fn get(sb: &Sandbox, uri: &str) -> Answer {
    send(sb, Method::GET, uri, None).await
}

fn proof(token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, APP_SECRET.as_bytes());
    hmac::sign(&key, token.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Graph GET with the token and its proof, `path` relative to the version.
async fn graph_get(sb: &Sandbox, token: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
    let proof = proof(token);
    let mut pairs = vec![("access_token", token), ("appsecret_proof", &proof)];
    pairs.extend_from_slice(extra);
    get(sb, &format!("/graph/v24.0/{path}?{}", query(&pairs))).await
}

/// Posts the consent form of a `scope=` dialog and returns the redirect.
async fn consent(sb: &Sandbox, wabas: &[&str], decision: &str, granular: Option<&str>) -> Answer {
    consent_as(sb, &[("scope", ALL_SCOPES)], wabas, decision, granular).await
}

/// Posts the consent form of a dialog opened with `how` (its `scope`, or `config_id` and
/// `override_default_response_type`) and returns the redirect.
async fn consent_as(
    sb: &Sandbox,
    how: &[(&str, &str)],
    wabas: &[&str],
    decision: &str,
    granular: Option<&str>,
) -> Answer {
    let mut pairs = vec![
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "st-123"),
        ("decision", decision),
        ("response_type", "code"),
    ];
    pairs.extend_from_slice(how);
    pairs.extend(wabas.iter().map(|w| ("waba", *w)));
    if let Some(granular) = granular {
        pairs.push(("granular", granular));
    }
    send(sb, Method::POST, "/www/v24.0/dialog/oauth/confirm", Some(query(&pairs))).await
}

async fn code_for(sb: &Sandbox, wabas: &[&str], granular: Option<&str>) -> String {
    let answer = consent(sb, wabas, "allow", granular).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    param(&answer.location(), "code").expect("a code in the redirect")
}

/// The form of a Login for Business configuration whose codes yield business tokens.
const BUSINESS_CONFIG: [(&str, &str); 2] = [("config_id", CONFIG_ID), ("override_default_response_type", "true")];

/// A business token granted `wabas`, through the redirect dialog with the configuration.
async fn business_token_for(sb: &Sandbox, wabas: &[&str]) -> String {
    let answer = consent_as(sb, &BUSINESS_CONFIG, wabas, "allow", None).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    let code = param(&answer.location(), "code").expect("a code in the redirect");
    let answer = exchange(sb, &code, REDIRECT_URI).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

const PAGE_ORIGIN: &str = "http://127.0.0.1:3000";

/// Answers Embedded Signup's popup: `decision` is `finish` (with `choice`, `{waba}:{phone}`)
/// or `cancel`.
async fn finish_signup(sb: &Sandbox, config_id: &str, choice: Option<&str>, decision: &str) -> Answer {
    finish_signup_with(sb, config_id, choice, decision, "{\"setup\":{}}").await
}

/// Embedded Signup's `extras` for a business keeping its WhatsApp Business app.
const APP_ONBOARDING: &str = "{\"setup\":{},\"featureType\":\"whatsapp_business_app_onboarding\"}";

/// [`finish_signup`] for the flow `extras` names.
async fn finish_signup_with(
    sb: &Sandbox,
    config_id: &str,
    choice: Option<&str>,
    decision: &str,
    extras: &str,
) -> Answer {
    let mut pairs = vec![
        ("extras", extras),
        ("client_id", APP_ID),
        ("display", "popup"),
        ("config_id", config_id),
        ("response_type", "code"),
        ("override_default_response_type", "true"),
        ("origin", PAGE_ORIGIN),
        ("decision", decision),
    ];
    if let Some(choice) = choice {
        pairs.push(("choice", choice));
    }
    send(sb, Method::POST, "/www/v26.0/dialog/oauth/confirm", Some(query(&pairs))).await
}

/// What the popup's last page posts to its opener: the session info (Meta's JSON string,
/// parsed) and the SDK's code.
fn popup_messages(answer: &Answer) -> (Value, Option<String>) {
    let page = answer.text();
    let session = page
        .split("postMessage(JSON.stringify(")
        .nth(1)
        .and_then(|rest| rest.split("), origin);").next())
        .expect("the page posts the session info");
    let login = page
        .split("window.opener.postMessage(")
        .nth(2)
        .and_then(|rest| rest.split(", origin);").next())
        .expect("the page hands the SDK its code");
    let session: Value = serde_json::from_str(&session.replace("\\u003c", "<")).unwrap();
    let login: Value = serde_json::from_str(login).unwrap();
    (session, login["code"].as_str().map(str::to_owned))
}

/// Pulls one of the sandbox's levers.
async fn control(sb: &Sandbox, lever: &str, body: Value) -> Answer {
    send_json(sb, Method::POST, &format!("/control/{lever}"), &body).await
}

/// A code from Embedded Signup's popup, for `waba` and `phone` (a WhatsApp Business app
/// number through the app flow).
async fn sdk_code(sb: &Sandbox, waba: &str, phone: &str) -> String {
    let extras =
        if super::seed::phone(phone).is_some_and(|p| p.coexistence) { APP_ONBOARDING } else { "{\"setup\":{}}" };
    let answer = finish_signup_with(sb, CONFIG_ID, Some(&format!("{waba}:{phone}")), "finish", extras).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    popup_messages(&answer).1.expect("a code")
}

/// Exchanges a code the way a server should for an SDK code: without `redirect_uri`.
async fn exchange_without_redirect(sb: &Sandbox, code: &str) -> Answer {
    let q = query(&[("client_id", APP_ID), ("client_secret", APP_SECRET), ("code", code)]);
    get(sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn exchange(sb: &Sandbox, code: &str, redirect_uri: &str) -> Answer {
    let q =
        query(&[("client_id", APP_ID), ("client_secret", APP_SECRET), ("redirect_uri", redirect_uri), ("code", code)]);
    get(sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await
}

/// A short-lived user token granted `wabas`.
async fn token_for(sb: &Sandbox, wabas: &[&str], granular: Option<&str>) -> String {
    let code = code_for(sb, wabas, granular).await;
    let answer = exchange(sb, &code, REDIRECT_URI).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

async fn debug(sb: &Sandbox, token: &str) -> Value {
    let app_token = format!("{APP_ID}|{APP_SECRET}");
    let q = query(&[("input_token", token), ("access_token", &app_token)]);
    let answer = get(sb, &format!("/graph/v24.0/debug_token?{q}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["data"].clone()
}

fn dialog_uri(pairs: &[(&str, &str)]) -> String {
    format!("/www/v24.0/dialog/oauth?{}", query(pairs))
}

const GOOD_DIALOG: [(&str, &str); 5] = [
    ("client_id", APP_ID),
    ("redirect_uri", REDIRECT_URI),
    ("state", "st-123"),
    ("response_type", "code"),
    ("scope", "whatsapp_business_management,whatsapp_business_messaging"),
];

/// `POST /{phone}/messages` with a JSON body, the token and its proof in the query.
async fn send_text(sb: &Sandbox, token: &str, phone: &str, body: &Value) -> Answer {
    let uri = format!(
        "/graph/v24.0/{phone}/messages?{}",
        query(&[("access_token", token), ("appsecret_proof", &proof(token))])
    );
    send_json(sb, Method::POST, &uri, body).await
}

async fn send_json(sb: &Sandbox, method: Method, uri: &str, body: &Value) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("a valid request");
    let (parts, body) = sb.handle(req).await.into_parts();
    Answer { status: parts.status, headers: parts.headers, body }
}

fn text_message(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "body": body, "preview_url": false },
    })
}

/// Registers `phone` with `pin` using `token`, as Cloud API expects it.
/// `POST /{object}/{edge}` with a JSON body, as the service's Graph client sends it.
async fn graph_post(sb: &Sandbox, token: &str, object: &str, edge: &str, body: Value) -> Answer {
    let uri = format!(
        "/graph/v24.0/{object}/{edge}?{}",
        query(&[("access_token", token), ("appsecret_proof", &proof(token))])
    );
    send_json(sb, Method::POST, &uri, &body).await
}

async fn register(sb: &Sandbox, token: &str, phone: &str, pin: &str) -> Answer {
    let uri = format!(
        "/graph/v24.0/{phone}/register?{}",
        query(&[("access_token", token), ("appsecret_proof", &proof(token))])
    );
    send_json(sb, Method::POST, &uri, &json!({ "messaging_product": "whatsapp", "pin": pin })).await
}
