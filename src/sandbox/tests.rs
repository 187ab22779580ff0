use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use url::{Url, form_urlencoded};

use super::seed::{
    ACME_BUSINESS, ACME_SALES_PHONE, ACME_SALES_WABA, ACME_SUPPORT_PHONES, ACME_SUPPORT_WABA, BETA_BUSINESS,
    BETA_EMPTY_WABA, USER_ID,
};
use super::{Fault, Sandbox, SandboxConfig};

const APP_ID: &str = "1234567890123456";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const PUBLIC_URL: &str = "http://127.0.0.1:3000/meta-sandbox";
const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/v1/organizations/whatsapp/callback";

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        graph_version: "v24.0".into(),
        public_url: PUBLIC_URL.into(),
        page_size: 2,
    })
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
        (
            error["code"].as_i64().expect("an error code"),
            error["error_subcode"].as_i64(),
        )
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn send(sb: &Sandbox, method: Method, uri: &str, body: Option<String>) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = builder
        .body(Bytes::from(body.unwrap_or_default()))
        .expect("a valid request");
    let res = sb.handle(req).await;
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn get(sb: &Sandbox, uri: &str) -> Answer {
    send(sb, Method::GET, uri, None).await
}

fn proof(token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, APP_SECRET.as_bytes());
    hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    let mut pairs = vec![
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "st-123"),
        ("decision", decision),
    ];
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
    let q = query(&[
        ("client_id", APP_ID),
        ("client_secret", APP_SECRET),
        ("redirect_uri", redirect_uri),
        ("code", code),
    ]);
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
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
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
    assert_eq!(
        consent(&sb, &["1"], "allow", None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(consent(&sb, &[], "maybe", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        consent(&sb, &[], "allow", Some("sometimes")).await.status,
        StatusCode::BAD_REQUEST
    );
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
    assert!(
        data["scopes"]
            .as_array()
            .unwrap()
            .contains(&"whatsapp_business_management".into())
    );
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
    assert_eq!(
        expired.json()["error"]["message"],
        "This authorization code has expired."
    );
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

    let q = query(&[
        ("input_token", "EAAGunknown"),
        ("access_token", &format!("{APP_ID}|wrong")),
    ]);
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
    assert_eq!(
        businesses["data"],
        serde_json::json!([{ "id": ACME_BUSINESS, "name": "Acme Inc" }])
    );
    let owned = graph_get(
        &sb,
        &token,
        &format!("{ACME_BUSINESS}/owned_whatsapp_business_accounts"),
        &[("fields", "id,name,timezone_id")],
    )
    .await
    .json();
    assert_eq!(
        owned["data"],
        serde_json::json!([{ "id": ACME_SALES_WABA, "name": "Acme Sales", "timezone_id": "7" }])
    );
    let client = graph_get(
        &sb,
        &token,
        &format!("{ACME_BUSINESS}/client_whatsapp_business_accounts"),
        &[],
    )
    .await
    .json();
    assert_eq!(client["data"], serde_json::json!([]));
    // A business none of whose WABAs were granted is invisible.
    let beta = graph_get(
        &sb,
        &token,
        &format!("{BETA_BUSINESS}/owned_whatsapp_business_accounts"),
        &[],
    )
    .await;
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
    assert_eq!(
        no_proof.json()["error"]["message"],
        "API calls from the server require an appsecret_proof argument"
    );

    let wrong = get(
        &sb,
        &format!(
            "{waba}?{}",
            query(&[("access_token", &token), ("appsecret_proof", &proof("other"))])
        ),
    )
    .await;
    assert_eq!(
        wrong.json()["error"]["message"],
        "Invalid appsecret_proof provided in the API argument"
    );

    // The token may also come as a bearer header.
    let req = Request::get(format!("{waba}?{}", query(&[("appsecret_proof", &proof(&token))])))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    let res = sb.handle(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "id": ACME_SUPPORT_WABA, "name": "Acme Support" })
    );
}

#[tokio::test]
async fn waba_fields_are_honoured() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let waba = graph_get(
        &sb,
        &token,
        ACME_SUPPORT_WABA,
        &[("fields", "name,timezone_id,message_template_namespace")],
    )
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
    let ids: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
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
    let capped = graph_get(
        &sb,
        &token,
        &format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        &[("limit", "50")],
    )
    .await
    .json();
    assert_eq!(capped["data"].as_array().unwrap().len(), 2);
    assert_eq!(capped["data"][0]["code_verification_status"], "VERIFIED");
    assert_eq!(capped["data"][0]["platform_type"], "CLOUD_API");
    let bad = graph_get(
        &sb,
        &token,
        &format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        &[("after", "bm9wZQ==")],
    )
    .await;
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
    assert_eq!(
        error["fbtrace_id"].as_str().unwrap(),
        server.headers["x-fb-trace-id"].to_str().unwrap()
    );
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
