//! Onboarding links, end to end: the organization's owner creates a link, the customer opens
//! it (no JWT), connects through the sandbox's Embedded Signup popup, enters the number's PIN
//! and is sent to the SaaS's success URL. A link is single-use, expires, is revoked by a
//! newer one or on request, keeps answering an hour after its use so a PIN or a code can be
//! finished, and authorizes nothing but its own organization's hosted page.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::store::records::link_key;
use shared::store::{Value as Attribute, WriteOp};
use support::receiver::Receiver;
use support::{Backend, Harness, SALES, SUPPORT};
use waba_connect::sandbox::seed;

/// The number that already has a two-step PIN of its own (`seed::EXISTING_TWO_STEP_PIN`).
const PIN_PHONE: &str = seed::ACME_SUPPORT_PHONES[1];

fn links(org: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/onboarding-links")
}

/// The path of a link's URL (`/connect/{token}`).
fn path_of(created: &Value) -> String {
    let url = created["data"]["url"].as_str().unwrap();
    url::Url::parse(url).unwrap().path().to_owned()
}

/// The customer's side: the session, Embedded Signup in the popup on `choice`, `complete`.
async fn connect_through(h: &Harness, link: &str, choice: &str) -> (StatusCode, Value) {
    let (status, session) = h.call("GET", &format!("{link}/session"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let (event, code) = h.popup(&session["embeddedSignup"], choice).await;
    let body = json!({ "code": code, "state": session["state"], "embeddedSignup": event });
    h.call("POST", &format!("{link}/complete"), None, Some(body)).await
}

async fn page(h: &Harness, link: &str) -> (StatusCode, String, String) {
    let response = h.browse(&h.url(link), false).await;
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let policy = header("content-security-policy");
    // Every page, the 410 ones included: never framed, never sniffed, never a referrer.
    assert!(policy.contains("frame-ancestors 'none'"), "{link}: {policy}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{link}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{link}");
    (response.status(), policy, response.text().await.unwrap())
}

async fn a_customer_connects_through_a_link_and_is_sent_back(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme & <Sons>").await;
    h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["connection.connected"] })).await;
    let (status, created) = h
        .create_link(
            &owner,
            &org,
            json!({ "successUrl": "https://app.example.com/whatsapp/done?tab=1", "failureUrl": "https://app.example.com/whatsapp/failed" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let url = created["data"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/connect/", h.stack.base_url)), "{url}");
    assert!(path_of(&created).len() >= "/connect/".len() + 43, "at least 256 bits of token");
    let expires = chrono_days(created["data"]["expiresAt"].as_str().unwrap());
    assert!((6.99..7.01).contains(&expires), "seven days by default: {expires}");
    let link = path_of(&created);

    // The page: the organization's name escaped as served, Meta's SDK, hashed scripts only.
    let (status, policy, html) = page(&h, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Acme &amp; &lt;Sons&gt;") && !html.contains("<Sons>"), "escaped as served");
    assert!(html.contains("/meta-sandbox/connect/en_US/sdk.js"), "the sandbox's SDK on the local stack");
    assert!(policy.contains("script-src 'sha256-") && !policy.contains("unsafe-inline"), "{policy}");

    // Embedded Signup, on a number with a PIN of its own: connected, the PIN still to enter.
    let (status, done) = connect_through(&h, &link, &format!("{SUPPORT}:{PIN_PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["phones"][0]["registration"], "pin_required");
    let redirect = done["redirectUrl"].as_str().unwrap();
    assert_eq!(redirect, format!("https://app.example.com/whatsapp/done?tab=1&organizationId={org}&status=pending"));

    // Used: it starts nothing again, but the page and the PIN are there for an hour.
    let (status, body) = h.call("GET", &format!("{link}/session"), None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_used")));
    let (status, body) =
        h.call("POST", &format!("{link}/complete"), None, Some(json!({ "state": "x".repeat(43) }))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_used")));
    assert_eq!(page(&h, &link).await.0, StatusCode::OK);
    let register = format!("{link}/phone-numbers/{PIN_PHONE}/register");
    let (status, body) = h.call("POST", &register, None, Some(json!({ "pin": "000000" }))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("pin_mismatch")));
    let (status, body) = h.call("POST", &register, None, Some(json!({ "pin": seed::EXISTING_TWO_STEP_PIN }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phone"]["registration"], "registered");
    assert_eq!(
        body["redirectUrl"],
        format!("https://app.example.com/whatsapp/done?tab=1&organizationId={org}&status=connected")
    );

    // The SaaS hears of it, with the link named.
    let link_id = created["data"]["id"].as_str().unwrap();
    let connected = receiver.until(10, |r| !r.is_empty()).await;
    assert_eq!(connected[0].json()["data"]["onboardingLinkId"], link_id, "{:?}", connected[0].json());
    let trail = h.events(&owner, &org).await;
    assert!(trail.iter().any(|e| e["kind"] == "is_active" && e["onboardingLinkId"] == link_id), "{trail:?}");
    let (_, listed) = h.get(&links(&org), &owner).await;
    assert_eq!(listed["links"][0]["status"], "used");
    assert!(listed["links"][0]["usedAt"].is_string());
    assert!(listed["links"][0].get("url").is_none(), "the URL is shown once");
    h.assert_no_token_leaked().await;
}

/// Days from now until an RFC 3339 time.
fn chrono_days(rfc3339: &str) -> f64 {
    let at = time_of(rfc3339);
    (at - shared::clock::Timestamp::now().0) as f64 / 86_400.0
}

fn time_of(rfc3339: &str) -> i64 {
    let date = |s: &str, a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (date(rfc3339, 0, 4), date(rfc3339, 5, 7), date(rfc3339, 8, 10));
    let (hh, mm, ss) = (date(rfc3339, 11, 13), date(rfc3339, 14, 16), date(rfc3339, 17, 19));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400 + hh * 3600 + mm * 60 + ss
}

#[tokio::test]
async fn a_customer_connects_through_a_link_and_is_sent_back_on_the_embedded_store() {
    a_customer_connects_through_a_link_and_is_sent_back(Backend::Embedded).await;
}

#[tokio::test]
async fn a_customer_connects_through_a_link_and_is_sent_back_on_dynamodb() {
    a_customer_connects_through_a_link_and_is_sent_back(Backend::Aws).await;
}

#[tokio::test]
async fn a_new_link_revokes_the_previous_one_and_a_revoked_link_opens_nothing() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, first) = h.create_link(&owner, &org, json!({})).await;
    let (_, second) = h.create_link(&owner, &org, json!({ "expiresInDays": 30 })).await;
    let (status, _, html) = page(&h, &path_of(&first)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("link_revoked") && !html.contains("Acme"), "says which, without the organization");
    let (status, body) = h.call("GET", &format!("{}/session", path_of(&first)), None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_revoked")));
    let (_, listed) = h.get(&links(&org), &owner).await;
    let statuses: Vec<&str> =
        listed["links"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "revoked"], "newest first");

    // Revoked on request; another owner can neither list nor revoke it.
    let id = second["data"]["id"].as_str().unwrap();
    let stranger = h.user("owner-2");
    let (status, _) = h.call("DELETE", &format!("{}/{id}", links(&org)), Some(&stranger), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.call("DELETE", &format!("{}/lnk_0000000000000000", links(&org)), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("DELETE", &format!("{}/{id}", links(&org)), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h.call("GET", &format!("{}/session", path_of(&second)), None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_revoked")));
}

#[tokio::test]
async fn an_expired_link_opens_nothing() {
    let h = Harness::start(&[("ONBOARDING_LINK_TTL_SECONDS", "1")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, created) = h.create_link(&owner, &org, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, html) = page(&h, &path_of(&created)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("This link has expired"));
    let (status, body) = h.call("GET", &format!("{}/session", path_of(&created)), None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_expired")));
    let (_, listed) = h.get(&links(&org), &owner).await;
    assert_eq!(listed["links"][0]["status"], "expired");
}

#[tokio::test]
async fn an_hour_after_its_use_a_link_opens_nothing() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, created) = h.create_link(&owner, &org, json!({})).await;
    let link = path_of(&created);
    let (status, done) = connect_through(&h, &link, &format!("{SUPPORT}:{PIN_PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done.get("redirectUrl").is_none(), "no successUrl, no redirect");
    // An hour and a second ago.
    let used_at = shared::clock::Timestamp::now().0 - shared::links::GRACE_SECONDS - 1;
    let key = link_key(&org.parse().unwrap(), created["data"]["id"].as_str().unwrap());
    let rewind =
        WriteOp::Update { key, set: vec![("statusAt".into(), Attribute::N(used_at))], remove: vec![], condition: None };
    h.stack.app().records.store().write(vec![rewind]).await.unwrap();
    let register = format!("{link}/phone-numbers/{PIN_PHONE}/register");
    let (status, body) = h.call("POST", &register, None, Some(json!({ "pin": seed::EXISTING_TWO_STEP_PIN }))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_used")));
    let (status, _, html) = page(&h, &link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("already used"));
}

#[tokio::test]
async fn a_link_acts_for_its_own_organization_only() {
    let h = Harness::start(&[]).await;
    let (a, b) = (h.user("owner-a"), h.user("owner-b"));
    let (org_a, org_b) = (h.create_org(&a, "A").await, h.create_org(&b, "B").await);
    h.connect(&b, &org_b, SALES, seed::ACME_SALES_PHONE).await;
    let (_, created) = h.create_link(&a, &org_a, json!({})).await;
    let link = path_of(&created);

    // Another organization's number is no number of this link's.
    let (status, _) = h
        .call(
            "POST",
            &format!("{link}/phone-numbers/{}/request-code", seed::ACME_SALES_PHONE),
            None,
            Some(json!({ "method": "SMS" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The token is no bearer token.
    let token = link.rsplit('/').next().unwrap();
    let (status, _) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/status"), token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A state the owner got from init-oauth does not complete through the link, and the
    // link's state does not complete on the owner's route.
    let (_, init) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/init-oauth"), &a).await;
    let (status, body) = h
        .call(
            "POST",
            &format!("{link}/complete"),
            None,
            Some(json!({ "code": "x", "state": init["state"], "embeddedSignup": { "event": "FINISH", "data": {} } })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, session) = h.call("GET", &format!("{link}/session"), None, None).await;
    let (status, _) = h
        .post(
            "/api/integrations/whatsapp/oauth",
            &a,
            json!({ "code": "x", "state": session["state"], "embeddedSignup": { "event": "FINISH", "data": {} } }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(session["organization"]["name"], "A");
}

#[tokio::test]
async fn a_cancelled_signup_sends_the_customer_to_the_failure_url_and_leaves_the_link_open() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, created) = h
        .create_link(
            &owner,
            &org,
            json!({ "failureUrl": "https://app.example.com/failed", "successUrl": "https://app.example.com/ok" }),
        )
        .await;
    let link = path_of(&created);
    let (status, body) = connect_through(&h, &link, "").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("signup_cancelled")));
    assert_eq!(body["redirectUrl"], "https://app.example.com/failed?error=signup_cancelled");
    let (status, done) = connect_through(&h, &link, &format!("{SALES}:{}", seed::ACME_SALES_PHONE)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["redirectUrl"], format!("https://app.example.com/ok?organizationId={org}&status=connected"));
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn bad_links_and_bad_link_requests_are_refused() {
    let h = Harness::start(&[("EVENT_ENDPOINTS_ALLOW_PRIVATE", "false")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for body in [
        json!({ "successUrl": "http://app.example.com/ok" }),
        json!({ "failureUrl": "javascript:alert(1)" }),
        json!({ "successUrl": "https://user:pw@app.example.com/" }),
        json!({ "expiresInDays": 0 }),
        json!({ "expiresInDays": 31 }),
        json!({ "expiresInDays": "7" }),
        json!({ "featureType": "marketing" }),
        json!({ "other": true }),
    ] {
        let (status, answer) = h.create_link(&owner, &org, body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_error")),
            "{body}: {answer}"
        );
    }
    let (status, _) = h.create_link(&h.user("owner-2"), &org, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Unknown and malformed tokens: a 410 page that says so, and the same on the routes.
    for path in ["/connect/short", &format!("/connect/{}", "A".repeat(43)), "/connect/%3Cscript%3E"] {
        let (status, _, html) = page(&h, path).await;
        assert_eq!(status, StatusCode::GONE, "{path}");
        assert!(html.contains("link_unknown"), "{path}");
        let (status, body) = h.call("GET", &format!("{path}/session"), None, None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("link_unknown")), "{path}");
    }
}
