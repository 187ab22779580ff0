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
    ACME_BUSINESS, ACME_SALES_PHONE, ACME_SALES_WABA, ACME_SUPPORT_PHONES, ACME_SUPPORT_WABA, BETA_BUSINESS,
    BETA_EMPTY_WABA, USER_ID,
};
use super::{Fault, Sandbox, SandboxConfig, SentMessage};

const APP_ID: &str = "1234567890123456";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const PUBLIC_URL: &str = "http://127.0.0.1:3000/meta-sandbox";
const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/v1/organizations/whatsapp/callback";

fn config() -> SandboxConfig {
    SandboxConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        graph_version: "v24.0".into(),
        public_url: PUBLIC_URL.into(),
        page_size: 2,
        webhook_url: None,
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

/// Posts the consent form and returns the redirect.
async fn consent(sb: &Sandbox, wabas: &[&str], decision: &str, granular: Option<&str>) -> Answer {
    let mut pairs =
        vec![("client_id", APP_ID), ("redirect_uri", REDIRECT_URI), ("state", "st-123"), ("decision", decision)];
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

// ---- Dialog ------------------------------------------------------------------

#[tokio::test]
async fn dialog_renders_consent_for_every_waba() {
    let sb = sandbox();
    let answer = get(&sb, &dialog_uri(&GOOD_DIALOG)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
    let page = answer.text();
    assert!(page.contains("Demo Owner"));
    assert!(page.contains(&format!("action=\"{PUBLIC_URL}/www/v24.0/dialog/oauth/confirm\"")));
    for waba in [ACME_SUPPORT_WABA, ACME_SALES_WABA, BETA_EMPTY_WABA] {
        assert!(page.contains(&format!("name=\"waba\" value=\"{waba}\" checked")));
    }
    assert!(page.contains("Acme Inc") && page.contains("Beta LLC"));
    assert!(page.contains("value=\"allow\"") && page.contains("value=\"deny\""));
}

#[tokio::test]
async fn dialog_accepts_config_id_instead_of_scope_and_escapes_state() {
    let sb = sandbox();
    let uri = dialog_uri(&[
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "\"><script>x</script>"),
        ("response_type", "code"),
        ("config_id", "987654321"),
    ]);
    let answer = get(&sb, &uri).await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = answer.text();
    assert!(!page.contains("<script>"));
    assert!(page.contains("&quot;&gt;&lt;script&gt;"));
}

#[tokio::test]
async fn dialog_refuses_malformed_requests_with_an_error_page() {
    let sb = sandbox();
    let without =
        |name: &str| -> Vec<(&str, &str)> { GOOD_DIALOG.iter().copied().filter(|(k, _)| *k != name).collect() };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut pairs = without(name);
        pairs.push((name, value));
        pairs
    };
    let cases = [
        ("wrong client_id", with("client_id", "999")),
        ("missing client_id", without("client_id")),
        ("missing redirect_uri", without("redirect_uri")),
        ("relative redirect_uri", with("redirect_uri", "/callback")),
        ("response_type token", with("response_type", "token")),
        ("missing response_type", without("response_type")),
        ("neither scope nor config_id", without("scope")),
        ("unknown scope", with("scope", "whatsapp_business_managment")),
    ];
    for (case, pairs) in cases {
        let answer = get(&sb, &dialog_uri(&pairs)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert!(answer.headers.get("location").is_none(), "{case}");
        assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8", "{case}");
    }
    let bad_version = get(&sb, "/www/latest/dialog/oauth").await;
    assert_eq!(bad_version.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn allow_redirects_with_a_fresh_code_and_the_state() {
    let sb = sandbox();
    let answer = consent(&sb, &[ACME_SUPPORT_WABA], "allow", None).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.location();
    assert!(location.as_str().starts_with(&format!("{REDIRECT_URI}?code=")));
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    let code = param(&location, "code").unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(code, code_for(&sb, &[ACME_SUPPORT_WABA], None).await);
}

#[tokio::test]
async fn allow_appends_to_a_redirect_uri_that_has_a_query() {
    let sb = sandbox();
    let body = query(&[
        ("client_id", APP_ID),
        ("redirect_uri", "https://app.example/cb?tenant=7"),
        ("state", "s"),
        ("decision", "allow"),
        ("waba", ACME_SALES_WABA),
    ]);
    let answer = send(&sb, Method::POST, "/www/v24.0/dialog/oauth/confirm", Some(body)).await;
    let location = answer.location();
    assert!(location.as_str().starts_with("https://app.example/cb?tenant=7&code="));
    assert_eq!(param(&location, "tenant").as_deref(), Some("7"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let sb = sandbox();
    let answer = consent(&sb, &[ACME_SUPPORT_WABA], "deny", None).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.location().as_str(),
        format!(
            "{REDIRECT_URI}?error=access_denied&error_code=200&error_description=Permissions+error\
             &error_reason=user_denied&state=st-123"
        )
    );
}

#[tokio::test]
async fn confirm_refuses_unknown_wabas_and_decisions() {
    let sb = sandbox();
    assert_eq!(consent(&sb, &["1"], "allow", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(consent(&sb, &[], "maybe", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(consent(&sb, &[], "allow", Some("sometimes")).await.status, StatusCode::BAD_REQUEST);
}

// ---- Code exchange -----------------------------------------------------------

#[tokio::test]
async fn full_flow_mints_short_then_long_lived_tokens_with_the_grant() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SALES_WABA, ACME_SUPPORT_WABA], None).await;
    let short = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(short.status, StatusCode::OK);
    assert!(short.headers.contains_key("x-fb-trace-id"));
    let short = short.json();
    assert_eq!(short["token_type"], "bearer");
    assert_eq!(short["expires_in"], 5183);
    let short = short["access_token"].as_str().unwrap().to_owned();
    assert!(short.starts_with("EAA") && short.len() >= 43);
    assert!(short.bytes().all(|b| b.is_ascii_alphanumeric()));

    // The long-lived exchange, this time as a form POST.
    let body = query(&[
        ("grant_type", "fb_exchange_token"),
        ("client_id", APP_ID),
        ("client_secret", APP_SECRET),
        ("fb_exchange_token", &short),
    ]);
    let long = send(&sb, Method::POST, "/graph/v24.0/oauth/access_token", Some(body)).await;
    assert_eq!(long.status, StatusCode::OK, "{}", long.text());
    let long = long.json();
    assert_eq!(long["expires_in"], 5_183_944);
    let long = long["access_token"].as_str().unwrap().to_owned();
    assert_eq!(sb.issued_tokens(), vec![short.clone(), long.clone()]);

    let data = debug(&sb, &long).await;
    assert_eq!(data["is_valid"], true);
    assert_eq!(data["app_id"], APP_ID);
    assert_eq!(data["type"], "USER");
    assert_eq!(data["user_id"], USER_ID);
    assert!(data["scopes"].as_array().unwrap().contains(&"whatsapp_business_management".into()));
    // Most recently created first, whatever order the boxes were ticked in.
    let expected = serde_json::json!([ACME_SUPPORT_WABA, ACME_SALES_WABA]);
    for granular in data["granular_scopes"].as_array().unwrap() {
        assert_eq!(granular["target_ids"], expected);
    }
    assert_eq!(sb.calls("/oauth/access_token"), 2);
    assert_eq!(sb.calls("/debug_token"), 1);
}

#[tokio::test]
async fn a_code_is_single_use() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
    let again = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error(), (100, Some(36009)));
    assert_eq!(again.json()["error"]["type"], "OAuthException");
    assert_eq!(sb.issued_tokens().len(), 1);
}

#[tokio::test]
async fn a_redirect_uri_mismatch_fails_and_burns_the_code() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let trailing_slash = format!("{REDIRECT_URI}/");
    let wrong = exchange(&sb, &code, &trailing_slash).await;
    assert_eq!(wrong.error(), (100, Some(36008)));
    let retry = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(retry.error(), (100, Some(36009)));
    assert!(sb.issued_tokens().is_empty());
}

#[tokio::test]
async fn client_errors_do_not_burn_the_code() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let attempt = |client_id: &'static str, secret: &'static str| {
        let code = code.clone();
        let sb = &sb;
        async move {
            let q = query(&[
                ("client_id", client_id),
                ("client_secret", secret),
                ("redirect_uri", REDIRECT_URI),
                ("code", &code),
            ]);
            get(sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await
        }
    };
    assert_eq!(attempt("42", APP_SECRET).await.error(), (101, None));
    assert_eq!(attempt(APP_ID, "not-the-secret").await.error(), (1, None));
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_and_expired_codes_are_refused() {
    let sb = sandbox();
    let unknown = exchange(&sb, "AQnot-a-code", REDIRECT_URI).await;
    assert_eq!(unknown.error(), (100, Some(36007)));
    assert_eq!(unknown.json()["error"]["message"], "Invalid verification code format.");

    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.expire_codes();
    let expired = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(expired.error(), (100, Some(36007)));
    assert_eq!(expired.json()["error"]["message"], "This authorization code has expired.");
}

#[tokio::test]
async fn only_a_short_lived_token_can_be_exchanged_for_a_long_lived_one() {
    let sb = sandbox();
    let q = query(&[
        ("grant_type", "fb_exchange_token"),
        ("client_id", APP_ID),
        ("client_secret", APP_SECRET),
        ("fb_exchange_token", "EAAGnonsense"),
    ]);
    let answer = get(&sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await;
    assert_eq!(answer.error(), (190, None));
}

#[tokio::test]
async fn debug_token_describes_unknown_tokens_as_invalid() {
    let sb = sandbox();
    let data = debug(&sb, "EAAGunknown").await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);

    let q = query(&[("input_token", "EAAGunknown"), ("access_token", &format!("{APP_ID}|wrong"))]);
    let answer = get(&sb, &format!("/graph/v24.0/debug_token?{q}")).await;
    assert_eq!(answer.error(), (190, None));
}

#[tokio::test]
async fn a_business_wide_grant_has_no_granular_scopes() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], Some("off")).await;
    let data = debug(&sb, &token).await;
    assert_eq!(data["is_valid"], true);
    assert!(data.get("granular_scopes").is_none());

    // The client finds the WABA through the businesses instead.
    let businesses = graph_get(&sb, &token, "me/businesses", &[]).await.json();
    assert_eq!(businesses["data"], serde_json::json!([{ "id": ACME_BUSINESS, "name": "Acme Inc" }]));
    let owned = graph_get(
        &sb,
        &token,
        &format!("{ACME_BUSINESS}/owned_whatsapp_business_accounts"),
        &[("fields", "id,name,timezone_id")],
    )
    .await
    .json();
    assert_eq!(owned["data"], serde_json::json!([{ "id": ACME_SALES_WABA, "name": "Acme Sales", "timezone_id": "7" }]));
    let client =
        graph_get(&sb, &token, &format!("{ACME_BUSINESS}/client_whatsapp_business_accounts"), &[]).await.json();
    assert_eq!(client["data"], serde_json::json!([]));
    // A business none of whose WABAs were granted is invisible.
    let beta = graph_get(&sb, &token, &format!("{BETA_BUSINESS}/owned_whatsapp_business_accounts"), &[]).await;
    assert_eq!(beta.error(), (100, Some(33)));
}

// ---- Authenticated Graph calls -----------------------------------------------

#[tokio::test]
async fn user_calls_need_a_token_and_its_appsecret_proof() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let waba = format!("/graph/v24.0/{ACME_SUPPORT_WABA}");

    let no_token = get(&sb, &waba).await;
    assert_eq!(no_token.error(), (104, None));

    let unknown = get(&sb, &format!("{waba}?access_token=EAAGunknown")).await;
    assert_eq!(unknown.error(), (190, None));

    let no_proof = get(&sb, &format!("{waba}?{}", query(&[("access_token", &token)]))).await;
    assert_eq!(no_proof.error(), (100, None));
    assert_eq!(no_proof.json()["error"]["type"], "GraphMethodException");
    assert_eq!(no_proof.json()["error"]["message"], "API calls from the server require an appsecret_proof argument");

    let wrong =
        get(&sb, &format!("{waba}?{}", query(&[("access_token", &token), ("appsecret_proof", &proof("other"))]))).await;
    assert_eq!(wrong.json()["error"]["message"], "Invalid appsecret_proof provided in the API argument");

    // The token may also come as a bearer header.
    let req = Request::get(format!("{waba}?{}", query(&[("appsecret_proof", &proof(&token))])))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    let res = sb.handle(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(body, serde_json::json!({ "id": ACME_SUPPORT_WABA, "name": "Acme Support" }));
}

#[tokio::test]
async fn waba_fields_are_honoured() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let waba = graph_get(&sb, &token, ACME_SUPPORT_WABA, &[("fields", "name,timezone_id,message_template_namespace")])
        .await
        .json();
    assert_eq!(waba["id"], ACME_SUPPORT_WABA);
    assert_eq!(waba["timezone_id"], "7");
    assert!(waba["message_template_namespace"].is_string());
    assert!(waba.get("currency").is_none());

    let bogus = graph_get(&sb, &token, ACME_SUPPORT_WABA, &[("fields", "name,bogus")]).await;
    assert_eq!(bogus.error(), (100, None));
}

#[tokio::test]
async fn phone_numbers_are_paged() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let first = graph_get(
        &sb,
        &token,
        &format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        &[("fields", "id,display_phone_number,verified_name,quality_rating")],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let first = first.json();
    let ids: Vec<&str> = first["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ACME_SUPPORT_PHONES[..2]);
    assert_eq!(first["data"][0]["display_phone_number"], "+1 555-010-0001");
    assert!(first["data"][0].get("platform_type").is_none());
    assert!(first["paging"].get("previous").is_none());

    let next = first["paging"]["next"].as_str().expect("a next page");
    let relative = next.strip_prefix(PUBLIC_URL).expect("an absolute next URL");
    let second = get(&sb, relative).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let second = second.json();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], ACME_SUPPORT_PHONES[2]);
    assert_eq!(second["data"][0]["quality_rating"], "YELLOW");
    assert!(second["paging"].get("next").is_none());
    assert!(second["paging"]["previous"].is_string());

    // A larger limit is capped at the page size; a bad cursor is refused.
    let capped = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/phone_numbers"), &[("limit", "50")]).await.json();
    assert_eq!(capped["data"].as_array().unwrap().len(), 2);
    assert_eq!(capped["data"][0]["code_verification_status"], "VERIFIED");
    assert_eq!(capped["data"][0]["platform_type"], "CLOUD_API");
    let bad = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/phone_numbers"), &[("after", "bm9wZQ==")]).await;
    assert_eq!(bad.error(), (100, None));
}

#[tokio::test]
async fn an_ungranted_waba_does_not_exist_for_the_token() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    for path in [
        ACME_SUPPORT_WABA.to_owned(),
        format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        format!("{ACME_SUPPORT_WABA}/subscribed_apps"),
        ACME_SUPPORT_PHONES[0].to_owned(),
        "999999999".to_owned(),
    ] {
        let answer = graph_get(&sb, &token, &path, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.error(), (100, Some(33)), "{path}");
        assert_eq!(answer.json()["error"]["type"], "GraphMethodException");
    }
    let sales = graph_get(&sb, &token, &format!("{ACME_SALES_WABA}/phone_numbers"), &[]).await;
    assert_eq!(sales.json()["data"][0]["id"], ACME_SALES_PHONE);
    assert!(sales.json()["paging"].get("next").is_none());
}

#[tokio::test]
async fn a_waba_without_phones_lists_none() {
    let sb = sandbox();
    let token = token_for(&sb, &[BETA_EMPTY_WABA], None).await;
    let answer = graph_get(&sb, &token, &format!("{BETA_EMPTY_WABA}/phone_numbers"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), serde_json::json!({ "data": [] }));
}

#[tokio::test]
async fn subscribing_is_idempotent_and_reversible() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let uri = format!(
        "/graph/v24.0/{ACME_SUPPORT_WABA}/subscribed_apps?{}",
        query(&[("access_token", &token), ("appsecret_proof", &proof(&token))])
    );
    assert!(!sb.is_subscribed(ACME_SUPPORT_WABA));
    for _ in 0..2 {
        let answer = send(&sb, Method::POST, &uri, None).await;
        assert_eq!(answer.json(), serde_json::json!({ "success": true }));
    }
    assert!(sb.is_subscribed(ACME_SUPPORT_WABA));
    let listed = get(&sb, &uri).await.json();
    assert_eq!(listed["data"][0]["whatsapp_business_api_data"]["id"], APP_ID);
    let answer = send(&sb, Method::DELETE, &uri, None).await;
    assert_eq!(answer.json(), serde_json::json!({ "success": true }));
    assert!(!sb.is_subscribed(ACME_SUPPORT_WABA));
    assert_eq!(get(&sb, &uri).await.json()["data"], serde_json::json!([]));
}

#[tokio::test]
async fn parameters_may_come_in_a_json_body() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let body = serde_json::json!({
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "redirect_uri": REDIRECT_URI,
        "code": code,
    });
    let req = Request::post("/graph/v24.0/oauth/access_token")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let res = sb.handle(req).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_versions_are_graph_errors() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let edge = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/nonsense"), &[]).await;
    assert_eq!(edge.error(), (2500, None));
    let deep = graph_get(&sb, &token, "me/businesses/extra", &[]).await;
    assert_eq!(deep.error(), (2500, None));
    let unversioned = get(&sb, "/graph/me").await;
    assert_eq!(unversioned.status, StatusCode::BAD_REQUEST);
    assert_eq!(unversioned.error(), (2500, None));
    assert!(unversioned.headers.contains_key("x-fb-trace-id"));
    let me = graph_get(&sb, &token, "me", &[]).await.json();
    assert_eq!(me, serde_json::json!({ "id": USER_ID, "name": "Demo Owner" }));
}

// ---- Faults and bookkeeping --------------------------------------------------

#[tokio::test]
async fn injected_faults_hit_the_next_graph_requests_only() {
    let sb = sandbox();
    sb.inject_faults(Fault::ServerError, 1);
    sb.inject_faults(Fault::RateLimited, 1);

    // The dialog is not affected.
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;

    let server = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(server.status, StatusCode::INTERNAL_SERVER_ERROR);
    let error = &server.json()["error"];
    assert_eq!(error["code"], 2);
    assert_eq!(error["is_transient"], true);
    assert_eq!(error["fbtrace_id"].as_str().unwrap(), server.headers["x-fb-trace-id"].to_str().unwrap());
    assert_eq!(error["fbtrace_id"].as_str().unwrap().len(), 20);

    let limited = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(limited.status, StatusCode::BAD_REQUEST);
    assert_eq!(limited.error(), (4, None));
    assert_eq!(limited.json()["error"]["is_transient"], true);

    // Faulted requests never reached the code, so it is still good.
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
    assert_eq!(sb.calls("/oauth/access_token"), 3);
    assert_eq!(sb.calls("/dialog"), 0);
}

#[tokio::test]
async fn a_timeout_fault_delays_then_answers() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.inject_faults(Fault::Timeout(Duration::from_millis(200)), 1);
    let started = Instant::now();
    let answer = exchange(&sb, &code, REDIRECT_URI).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_abandoned_during_a_timeout_has_no_effect() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.inject_faults(Fault::Timeout(Duration::from_secs(30)), 1);
    let gave_up = tokio::time::timeout(Duration::from_millis(50), exchange(&sb, &code, REDIRECT_URI)).await;
    assert!(gave_up.is_err());
    assert_eq!(sb.calls("/oauth/access_token"), 1);
    // The delay comes before any work, so the code was not spent.
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
}

#[tokio::test]
async fn paths_outside_the_mount_are_not_found() {
    let sb = sandbox();
    assert_eq!(get(&sb, "/elsewhere").await.status, StatusCode::NOT_FOUND);
}

#[test]
fn the_sandbox_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<Sandbox>();
    let sb = sandbox();
    let future = sb.handle(Request::new(Bytes::new()));
    sendable(&future);
}

#[test]
fn config_debug_output_hides_the_secret() {
    let printed = format!("{:?}", sandbox());
    assert!(!printed.contains(APP_SECRET));
}

// ---- Sending messages --------------------------------------------------------

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

#[tokio::test]
async fn a_text_message_is_accepted_and_recorded() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[1], &text_message("+15551234567", "Hello there")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.headers.contains_key("x-fb-trace-id"));
    let answer = answer.json();
    let message_id = answer["messages"][0]["id"].as_str().expect("a message id").to_owned();
    assert_eq!(
        answer,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "+15551234567", "wa_id": "15551234567" }],
            "messages": [{ "id": message_id }],
        })
    );
    let random = message_id.strip_prefix("wamid.").expect("a wamid");
    assert!(random.len() >= 24);
    assert!(random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        sb.sent_messages(),
        vec![SentMessage {
            phone_number_id: ACME_SUPPORT_PHONES[1].into(),
            to: "15551234567".into(),
            body: "Hello there".into(),
            message_id: message_id.clone(),
        }]
    );

    // `type` may be left out (it defaults to text), and a body of 4096
    // characters is fine even when they take more bytes.
    let mut longest = text_message("15551234567", &"é".repeat(4096));
    longest.as_object_mut().unwrap().remove("type");
    let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[1], &longest).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let second = answer.json()["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(second, message_id);
    assert_eq!(sb.sent_messages().len(), 2);
    assert_eq!(sb.calls("/messages"), 2);

    // Without a webhook URL nothing goes out.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(sb.webhook_bodies().is_empty());
    assert_eq!(sb.webhooks_delivered(), 0);
}

#[tokio::test]
async fn a_malformed_message_is_refused_like_the_cloud_api_does() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let good = text_message("15551234567", "Hi");
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        ("no product", without("messaging_product"), 100, "(#100) The parameter messaging_product is required."),
        ("other product", with("messaging_product", "sms".into()), 100, ""),
        ("group recipient", with("recipient_type", "group".into()), 100, "(#100) Invalid parameter"),
        ("no recipient", without("to"), 100, "(#100) The parameter to is required."),
        ("too short", with("to", "123456".into()), 100, "(#100) Invalid parameter"),
        ("too long", with("to", "1234567890123456".into()), 100, "(#100) Invalid parameter"),
        ("formatted", with("to", "+1 555-123-4567".into()), 100, "(#100) Invalid parameter"),
        ("two plus signs", with("to", "++15551234567".into()), 100, "(#100) Invalid parameter"),
        (
            "not allowed",
            with("to", "+9991234567".into()),
            131_030,
            "(#131030) Recipient phone number not in allowed list",
        ),
        ("image", with("type", "image".into()), 100, "(#100) Unsupported message type"),
        ("no text", without("text"), 100, "(#100) The parameter text['body'] is required."),
        ("empty body", with("text", json!({ "body": "" })), 100, "(#100) The parameter text['body'] is required."),
        ("text as a string", with("text", "Hi".into()), 100, "(#100) The parameter text['body'] is required."),
        ("body too long", with("text", json!({ "body": "a".repeat(4097) })), 100, "(#100) Invalid parameter"),
    ];
    for (case, body, code, message) in cases {
        let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(answer.error(), (code, None), "{case}");
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "OAuthException", "{case}");
        if !message.is_empty() {
            assert_eq!(error["message"], message, "{case}");
        }
        if error["message"] == "(#100) Invalid parameter" || code == 131_030 {
            assert_eq!(error["error_data"]["messaging_product"], "whatsapp", "{case}");
            assert!(error["error_data"]["details"].is_string(), "{case}");
        }
    }
    let not_allowed = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &with("to", "+9991234567".into())).await;
    assert!(
        not_allowed.json()["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .starts_with("Recipient phone number not in allowed list")
    );
    assert!(sb.sent_messages().is_empty());
}

#[tokio::test]
async fn sending_needs_the_phones_waba_and_a_proof() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    let message = text_message("15551234567", "Hi");
    let other_waba = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &message).await;
    assert_eq!(other_waba.error(), (100, Some(33)));
    assert_eq!(other_waba.json()["error"]["type"], "GraphMethodException");

    let uri = format!("/graph/v24.0/{ACME_SALES_PHONE}/messages?{}", query(&[("access_token", &token)]));
    let no_proof = send_json(&sb, Method::POST, &uri, &message).await;
    assert_eq!(no_proof.error(), (100, None));
    assert_eq!(no_proof.json()["error"]["type"], "GraphMethodException");

    let listing = graph_get(&sb, &token, &format!("{ACME_SALES_PHONE}/messages"), &[]).await;
    assert_eq!(listing.error(), (100, Some(33)));
    let from_a_waba = send_text(&sb, &token, ACME_SALES_WABA, &message).await;
    assert_eq!(from_a_waba.error(), (2500, None));
    assert!(sb.sent_messages().is_empty());

    assert_eq!(send_text(&sb, &token, ACME_SALES_PHONE, &message).await.status, StatusCode::OK);
}

// ---- Webhooks ----------------------------------------------------------------

/// One request the webhook receiver got.
#[derive(Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A minimal HTTP server standing in for the service's webhook: it records each
/// request and answers `status`. Returns its URL and the recorded requests.
async fn webhook_receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let sender = sender.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let _ = sender.send(Received { path: parts.uri.path().to_owned(), headers: parts.headers, body });
                    let answer = hyper::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::new()))
                        .expect("a valid response");
                    Ok::<_, hyper::Error>(answer)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (url, received)
}

async fn next_webhook(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("a webhook within five seconds")
        .expect("the receiver is running")
}

/// Checks the request is signed as Meta signs it and returns the body as JSON.
fn verified(request: &Received) -> Value {
    assert_eq!(request.path, "/webhook");
    assert_eq!(request.headers["content-type"], "application/json");
    let signature = request.headers["x-hub-signature-256"].to_str().unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, APP_SECRET.as_bytes());
    let expected: String = hmac::sign(&key, &request.body).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature, format!("sha256={expected}"));
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// Waits for the delivery count, which follows the receiver's answer.
async fn wait_for_deliveries(sb: &Sandbox, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sb.webhooks_delivered() < count {
        assert!(Instant::now() < deadline, "only {} deliveries", sb.webhooks_delivered());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn epoch_string(value: &Value) -> u64 {
    value.as_str().expect("a string timestamp").parse().expect("epoch seconds")
}

#[tokio::test]
async fn an_inbound_message_is_signed_over_the_exact_bytes_sent() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let (message_id, status) = sb
        .send_inbound(ACME_SUPPORT_PHONES[0], "+15557654321", "Jane Doe", "Hi, is my order on its way?")
        .await
        .expect("a delivery");
    assert_eq!(status, 200);
    assert!(message_id.starts_with("wamid."));

    let request = next_webhook(&mut received).await;
    assert_eq!(request.headers["user-agent"], "facebookexternalua");
    let mut body = verified(&request);
    let timestamp = epoch_string(&body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]);
    assert!(timestamp.abs_diff(super::state::unix_now()) < 60);
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "T".into();
    assert_eq!(
        body,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SUPPORT_WABA,
                "changes": [{
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550100001",
                            "phone_number_id": ACME_SUPPORT_PHONES[0],
                        },
                        "contacts": [{ "profile": { "name": "Jane Doe" }, "wa_id": "15557654321" }],
                        "messages": [{
                            "from": "15557654321",
                            "id": message_id,
                            "timestamp": "T",
                            "text": { "body": "Hi, is my order on its way?" },
                            "type": "text",
                        }],
                    },
                    "field": "messages",
                }],
            }],
        })
    );
    // What was sent is what is kept, byte for byte, for replays.
    assert_eq!(sb.webhook_bodies(), vec![request.body.clone()]);
    assert_eq!(sb.webhooks_delivered(), 1);
}

#[tokio::test]
async fn a_send_is_followed_by_sent_and_delivered_statuses() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    let answer = send_text(&sb, &token, ACME_SALES_PHONE, &text_message("+15557654321", "Your order shipped")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let message_id = answer.json()["messages"][0]["id"].as_str().unwrap().to_owned();

    let mut conversations = Vec::new();
    for expected in ["sent", "delivered"] {
        let body = verified(&next_webhook(&mut received).await);
        let entry = &body["entry"][0];
        assert_eq!(entry["id"], ACME_SALES_WABA);
        assert_eq!(entry["changes"][0]["field"], "messages");
        let value = &entry["changes"][0]["value"];
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(
            value["metadata"],
            json!({ "display_phone_number": "15550100004", "phone_number_id": ACME_SALES_PHONE })
        );
        let status = &value["statuses"][0];
        assert_eq!(status["id"], message_id.as_str());
        assert_eq!(status["status"], expected);
        assert_eq!(status["recipient_id"], "15557654321");
        epoch_string(&status["timestamp"]);
        assert_eq!(status["conversation"]["origin"], json!({ "type": "service" }));
        assert_eq!(status["pricing"], json!({ "billable": true, "pricing_model": "CBP", "category": "service" }));
        conversations.push(status["conversation"]["id"].clone());
    }
    assert_eq!(conversations[0], conversations[1]);
    wait_for_deliveries(&sb, 2).await;
    assert_eq!(sb.webhook_bodies().len(), 2);

    // Later statuses can be sent on demand; only sent messages have any.
    assert_eq!(sb.send_status(&message_id, "read").await, Ok(200));
    let read = verified(&next_webhook(&mut received).await);
    assert_eq!(read["entry"][0]["changes"][0]["value"]["statuses"][0]["status"], "read");
    assert!(sb.send_status("wamid.unknown", "read").await.is_err());
    assert!(sb.send_status(&message_id, "seen").await.is_err());
    assert_eq!(sb.webhook_bodies().len(), 3);
}

#[tokio::test]
async fn quality_and_account_updates_have_metas_shapes() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);

    assert_eq!(sb.send_quality(ACME_SUPPORT_PHONES[2], "FLAGGED", "TIER_1K").await, Ok(200));
    let mut quality = verified(&next_webhook(&mut received).await);
    assert!(quality["entry"][0]["time"].as_u64().is_some());
    quality["entry"][0]["time"] = 0.into();
    assert_eq!(
        quality,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SUPPORT_WABA,
                "time": 0,
                "changes": [{
                    "value": {
                        "display_phone_number": "15550100003",
                        "event": "FLAGGED",
                        "current_limit": "TIER_1K",
                    },
                    "field": "phone_number_quality_update",
                }],
            }],
        })
    );

    assert_eq!(sb.send_account_update(ACME_SALES_WABA, "PARTNER_REMOVED").await, Ok(200));
    let mut update = verified(&next_webhook(&mut received).await);
    assert!(update["entry"][0]["time"].as_u64().is_some());
    update["entry"][0]["time"] = 0.into();
    assert_eq!(
        update,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SALES_WABA,
                "time": 0,
                "changes": [{
                    "value": {
                        "event": "PARTNER_REMOVED",
                        "waba_info": { "waba_id": ACME_SALES_WABA, "owner_business_id": ACME_BUSINESS },
                    },
                    "field": "account_update",
                }],
            }],
        })
    );

    // Unknown ids and malformed values are refused before anything is sent.
    assert!(sb.send_quality("1", "FLAGGED", "TIER_1K").await.is_err());
    assert!(sb.send_quality(ACME_SALES_PHONE, "RED", "TIER_1K").await.is_err());
    assert!(sb.send_quality(ACME_SALES_PHONE, "FLAGGED", "TIER_2K").await.is_err());
    assert!(sb.send_account_update("1", "PARTNER_REMOVED").await.is_err());
    assert!(sb.send_account_update(ACME_SALES_WABA, "partner removed").await.is_err());
    assert!(sb.send_inbound("1", "15557654321", "Jane", "Hi").await.is_err());
    assert!(sb.send_inbound(ACME_SALES_PHONE, "555", "Jane", "Hi").await.is_err());
    assert!(sb.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", " ").await.is_err());
    assert_eq!(sb.webhook_bodies().len(), 2);
    assert_eq!(sb.webhooks_delivered(), 2);
}

#[tokio::test]
async fn a_refused_or_failed_delivery_is_reported_not_counted() {
    let (url, mut received) = webhook_receiver(StatusCode::UNAUTHORIZED).await;
    let sb = sandbox_posting_to(&url);
    let (_, status) = sb.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", "Hi").await.expect("an answer");
    assert_eq!(status, 401);
    next_webhook(&mut received).await;
    assert_eq!(sb.webhooks_delivered(), 0);
    assert_eq!(sb.webhook_bodies().len(), 1);

    // Nobody listening: an error, not a hang.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/webhook", listener.local_addr().unwrap())
    };
    let unreachable = sandbox_posting_to(&closed);
    let error =
        unreachable.send_account_update(ACME_SALES_WABA, "PARTNER_REMOVED").await.expect_err("no one to deliver to");
    assert!(!error.contains(APP_SECRET));

    let silent = sandbox();
    assert!(silent.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", "Hi").await.is_err());
    assert!(silent.webhook_bodies().is_empty());
}

// ---- Control endpoints -------------------------------------------------------

#[tokio::test]
async fn control_endpoints_send_webhooks_and_list_sent_messages() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    // Control requests are not Graph calls: they neither count nor meet faults.
    sb.inject_faults(Fault::ServerError, 1);

    let answer = send_json(
        &sb,
        Method::POST,
        "/control/inbound",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hello", "name": "" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.headers["content-type"], "application/json");
    let answer = answer.json();
    assert_eq!(answer["success"], true);
    assert_eq!(answer["webhookStatus"], 200);
    let inbound = verified(&next_webhook(&mut received).await);
    let value = &inbound["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["id"], answer["messageId"]);
    assert_eq!(value["messages"][0]["text"]["body"], "Hello");
    assert!(value["contacts"][0]["profile"]["name"].as_str().is_some_and(|n| !n.is_empty()));

    let quality = send_json(
        &sb,
        Method::POST,
        "/control/quality",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "DOWNGRADE", "currentLimit": null }),
    )
    .await;
    assert_eq!(quality.json(), json!({ "success": true, "webhookStatus": 200 }));
    let quality = verified(&next_webhook(&mut received).await);
    assert_eq!(quality["entry"][0]["changes"][0]["value"]["current_limit"], "TIER_1K");

    let update = send_json(
        &sb,
        Method::POST,
        "/control/account-update",
        &json!({ "wabaId": ACME_SALES_WABA, "event": "PARTNER_REMOVED" }),
    )
    .await;
    assert_eq!(update.json(), json!({ "success": true, "webhookStatus": 200 }));
    let update = verified(&next_webhook(&mut received).await);
    assert_eq!(update["entry"][0]["changes"][0]["field"], "account_update");

    let listed = get(&sb, "/control/sent-messages").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json(), json!({ "data": [] }));
    assert_eq!(sb.calls("/control"), 0);

    // The fault is still waiting for the first Graph request.
    let token_exchange = exchange(&sb, "AQnot-a-code", REDIRECT_URI).await;
    assert_eq!(token_exchange.status, StatusCode::INTERNAL_SERVER_ERROR);

    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    let sent = send_text(&sb, &token, ACME_SALES_PHONE, &text_message("15557654321", "On its way")).await;
    let message_id = sent.json()["messages"][0]["id"].clone();
    let listed = get(&sb, "/control/sent-messages").await.json();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["phoneNumberId"], ACME_SALES_PHONE);
    assert_eq!(data[0]["to"], "15557654321");
    assert_eq!(data[0]["body"], "On its way");
    assert_eq!(data[0]["messageId"], message_id);
    assert!(data[0]["timestamp"].as_u64().is_some());

    let read =
        send_json(&sb, Method::POST, "/control/status", &json!({ "messageId": message_id, "status": "read" })).await;
    assert_eq!(read.json(), json!({ "success": true, "webhookStatus": 200 }));
}

#[tokio::test]
async fn control_endpoints_refuse_bad_input() {
    let (url, _received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let cases = [
        ("/control/inbound", json!({ "phoneNumberId": ACME_SALES_PHONE, "text": "Hi" })),
        ("/control/inbound", json!({ "phoneNumberId": "1", "from": "15557654321", "text": "Hi" })),
        ("/control/inbound", json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "x", "text": "Hi" })),
        ("/control/inbound", json!([])),
        ("/control/status", json!({ "messageId": "wamid.nope", "status": "read" })),
        ("/control/quality", json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "PURPLE" })),
        ("/control/quality", json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "FLAGGED", "currentLimit": "LOTS" })),
        ("/control/account-update", json!({ "wabaId": "1", "event": "PARTNER_REMOVED" })),
        ("/control/account-update", json!({ "wabaId": ACME_SALES_WABA })),
    ];
    for (path, body) in cases {
        let answer = send_json(&sb, Method::POST, path, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body}");
        let answer = answer.json();
        assert_eq!(answer["success"], false, "{path} {body}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{path} {body}");
    }
    let wrong_method = get(&sb, "/control/inbound").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["success"], false);
    assert_eq!(get(&sb, "/control/nothing").await.status, StatusCode::NOT_FOUND);
    assert!(sb.webhook_bodies().is_empty());

    // With nowhere to send to, the control reports a gateway failure.
    let silent = sandbox();
    let answer = send_json(
        &silent,
        Method::POST,
        "/control/inbound",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hi" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(answer.json()["success"], false);
}
