//! Events to the organization's own systems, end to end: an endpoint created through the
//! API receives every event of its organization as a Standard Webhook — verified here with
//! the Standard Webhooks Python library as any consumer would — retried with the same id
//! until it answers, kept across a crash, never sent to another organization's endpoint, and
//! never to an address that is not public unless the stack allows it.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::receiver::{Received, Receiver};
use support::{Backend, Harness, SALES, SUPPORT};
use waba_connect::sandbox::seed;

fn endpoints(org: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/event-endpoints")
}

/// Verifies a delivery with the Standard Webhooks library for Python (pinned with the test
/// tools), as a consumer of the events would.
fn verified_by_the_reference_library(secret: &str, received: &Received) {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    assert!(std::path::Path::new(python).exists(), "{python} is missing: run ./scripts/test, which installs it");
    let script = "import sys, json\n\
        from standardwebhooks import Webhook\n\
        body = sys.stdin.buffer.read()\n\
        headers = json.loads(sys.argv[2])\n\
        Webhook(sys.argv[1]).verify(body, headers)\n\
        print('verified')";
    let headers = json!({
        "webhook-id": received.header("webhook-id"),
        "webhook-timestamp": received.header("webhook-timestamp"),
        "webhook-signature": received.header("webhook-signature"),
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&received.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
    // A byte changed, and the library refuses it.
    let mut tampered = received.clone();
    let mut body = tampered.body.to_vec();
    body[10] ^= 1;
    tampered.body = body.into();
    let mut child = std::process::Command::new(python)
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tampered.body).unwrap();
    assert!(!child.wait().unwrap().success(), "a tampered body fails verification");
}

async fn an_inbound_message_reaches_the_organizations_endpoint_signed(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (status, created) = h.create_endpoint(&owner, &org, json!({ "url": receiver.url })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, listed) = h.get(&endpoints(&org), &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["endpoints"][0]["id"], created["data"]["id"]);
    assert!(listed["endpoints"][0].get("secret").is_none(), "the secret is shown once");

    h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
    let (message_id, _) =
        h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", "Hi!").await.unwrap();
    let received = receiver.until(10, |r| r.iter().any(|r| r.json()["type"] == "message.received")).await;
    let delivery = received.iter().find(|r| r.json()["type"] == "message.received").unwrap();
    let event = delivery.json();
    assert_eq!(event["data"]["messageId"], message_id.as_str());
    assert_eq!(event["organizationId"], org.as_str());
    assert_eq!(event["version"], 1);
    assert_eq!(delivery.header("webhook-id"), event["id"].as_str().unwrap());
    assert_eq!(delivery.header("content-type"), "application/json");
    verified_by_the_reference_library(&secret, delivery);
    let connected = receiver.events_of("connection.connected");
    assert_eq!(connected.len(), 1, "{backend:?}: the connect is an event too");
    assert_eq!(connected[0]["data"]["phoneNumberId"], seed::ACME_SALES_PHONE);

    // What this service sends, and Meta's statuses of it.
    let (status, _) = h
        .post(
            &format!("/api/v1/organizations/{org}/whatsapp/messages"),
            &owner,
            json!({ "to": "16315551234", "text": "Hello" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    receiver.until(10, |r| r.iter().any(|r| r.json()["type"] == "message.status")).await;
    assert_eq!(receiver.events_of("message.sent").len(), 1);

    // Each delivery is in the endpoint's log.
    let id = created["data"]["id"].as_str().unwrap();
    let log = h.every_page(&format!("{}/{id}/deliveries?limit=2", endpoints(&org)), &owner, "deliveries").await;
    assert!(log.len() >= 4, "{log:?}");
    assert!(log.iter().all(|d| d["attempts"] == 1 && d["lastStatus"] == 200 && d["deliveredAt"].is_string()));
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn an_inbound_message_reaches_the_organizations_endpoint_signed_on_the_embedded_store() {
    an_inbound_message_reaches_the_organizations_endpoint_signed(Backend::Embedded).await;
}

#[tokio::test]
async fn an_inbound_message_reaches_the_organizations_endpoint_signed_on_dynamodb() {
    an_inbound_message_reaches_the_organizations_endpoint_signed(Backend::Aws).await;
}

#[tokio::test]
async fn a_refused_delivery_is_retried_with_the_same_id_until_it_is_taken() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let receiver = Receiver::start().await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let (_, created) =
            h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["message.received"] })).await;
        h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
        receiver.answer(&[503]);
        let started = std::time::Instant::now();
        h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", "Anyone?").await.unwrap();
        let received = receiver.until(15, |r| r.len() >= 2).await;
        assert!(started.elapsed() < Duration::from_secs(12), "{backend:?}: the first retry within 10 s");
        assert_eq!(received.len(), 2, "{backend:?}: only message.received, as the endpoint asked");
        assert_eq!(received[0].header("webhook-id"), received[1].header("webhook-id"), "the same id on every attempt");
        assert_eq!(received[0].body, received[1].body, "the same event");
        assert_ne!(received[0].header("webhook-timestamp"), "");
        let id = created["data"]["id"].as_str().unwrap();
        let (status, log) = h.get(&format!("{}/{id}/deliveries", endpoints(&org)), &owner).await;
        assert_eq!(status, StatusCode::OK);
        let delivery = &log["deliveries"][0];
        assert_eq!((delivery["attempts"].as_u64(), delivery["lastStatus"].as_u64()), (Some(2), Some(200)), "{log}");
        assert!(delivery["deliveredAt"].is_string() && delivery["nextAttemptAt"].is_null());
    }
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_even_across_a_crash() {
    let h = Harness::start(&[]).await;
    let mut receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["message.received"] })).await;
    h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
    receiver.down();
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        sent.push(h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", text).await.unwrap().0);
    }
    // Recorded, attempted, refused: queued. The stack dies.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let data_dir = h.data_dir.0.clone();
    let Harness { stack, data_dir: kept, .. } = h;
    stack.crash().await;
    receiver.up().await;
    // Another process on the same data.
    let h = Harness::start(&[("DATA_DIR", &data_dir.display().to_string())]).await;
    let received = receiver.until(20, |r| r.len() >= 3).await;
    let mut ids: Vec<String> =
        received.iter().map(|r| r.json()["data"]["messageId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids.dedup();
    sent.sort();
    assert_eq!(ids, sent, "every event, once each at least");
    drop(kept);
    drop(h);
}

#[tokio::test]
async fn an_event_recorded_just_before_a_crash_is_delivered_after_the_restart() {
    let h = Harness::start(&[]).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["message.received"] })).await;
    h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
    let (id, _) = h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", "last words").await.unwrap();
    // Killed right after Meta's webhook was acknowledged (recorded), whatever was under way.
    let data_dir = h.data_dir.0.clone();
    let Harness { stack, data_dir: kept, .. } = h;
    stack.crash().await;
    let h = Harness::start(&[("DATA_DIR", &data_dir.display().to_string())]).await;
    let received = receiver.until(15, |r| !r.is_empty()).await;
    assert!(received.iter().all(|r| r.json()["data"]["messageId"] == id.as_str()));
    drop(kept);
    drop(h);
}

#[tokio::test]
async fn an_organizations_events_never_reach_another_organizations_endpoint() {
    let h = Harness::start(&[]).await;
    let (receiver_a, receiver_b) = (Receiver::start().await, Receiver::start().await);
    let (a, b) = (h.user("owner-a"), h.user("owner-b"));
    let (org_a, org_b) = (h.create_org(&a, "A").await, h.create_org(&b, "B").await);
    let (_, endpoint_a) = h.create_endpoint(&a, &org_a, json!({ "url": receiver_a.url })).await;
    h.create_endpoint(&b, &org_b, json!({ "url": receiver_b.url })).await;
    // Both connected to the same WABA: each gets its own copy of the same inbound message.
    h.connect(&a, &org_a, SUPPORT, seed::ACME_SUPPORT_PHONES[2]).await;
    h.connect(&b, &org_b, SALES, seed::ACME_SALES_PHONE).await;
    h.sandbox().send_inbound(seed::ACME_SUPPORT_PHONES[2], "16315551234", "Kerry", "to A").await.unwrap();
    receiver_a.until(10, |r| r.iter().any(|r| r.json()["type"] == "message.received")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver_a.received().iter().all(|r| r.json()["organizationId"] == org_a.as_str()));
    assert!(receiver_b.received().iter().all(|r| r.json()["organizationId"] == org_b.as_str()));
    assert!(receiver_b.events_of("message.received").is_empty());
    // Another owner cannot see, read or delete A's endpoint.
    let id = endpoint_a["data"]["id"].as_str().unwrap();
    let (status, _) = h.get(&endpoints(&org_a), &b).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.get(&format!("{}/{id}/deliveries", endpoints(&org_b)), &b).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "A's endpoint is no endpoint of B's");
    let (status, _) = h.call("DELETE", &format!("{}/{id}", endpoints(&org_b)), Some(&b), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("DELETE", &format!("{}/{id}", endpoints(&org_a)), Some(&a), None).await;
    assert_eq!(status, StatusCode::OK);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn endpoints_must_be_public_https_unless_the_stack_allows_otherwise() {
    let h = Harness::start(&[("EVENT_ENDPOINTS_ALLOW_PRIVATE", "false")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hooks",
        "https://localhost/hooks",
        "https://metadata.google.internal/",
        "https://user:pass@hooks.example.com/",
        "not a url",
    ] {
        let (status, body) = h.create_endpoint(&owner, &org, json!({ "url": url })).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_error")),
            "{url}: {body}"
        );
    }
    let (status, body) = h
        .create_endpoint(&owner, &org, json!({ "url": "https://hooks.example.com/", "types": ["message.nope"] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("message.received"), "names the known types");
    let (status, _) =
        h.create_endpoint(&owner, &org, json!({ "url": "https://hooks.example.com/", "types": [] })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.create_endpoint(&owner, &org, json!({ "url": "https://hooks.example.com/", "extra": 1 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // On a developer's machine (the local stack's default), their own receiver is fine.
    let local = Harness::start(&[]).await;
    let owner = local.user("owner-1");
    let org = local.create_org(&owner, "Acme").await;
    let (status, _) = local.create_endpoint(&owner, &org, json!({ "url": "http://127.0.0.1:9/hooks" })).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_organization_has_at_most_ten_endpoints() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for i in 0..10 {
        let (status, _) = h.create_endpoint(&owner, &org, json!({ "url": format!("http://127.0.0.1:9/{i}") })).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = h.create_endpoint(&owner, &org, json!({ "url": "http://127.0.0.1:9/eleven" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_disabled_and_the_trail_says_so() {
    let h = Harness::start(&[]).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, created) =
        h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["message.received"] })).await;
    h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
    // As if every delivery had failed for three days.
    let id = created["data"]["id"].as_str().unwrap();
    let app = h.stack.app();
    let organization = org.parse().unwrap();
    let mut endpoint = app.records.endpoint(&organization, id).await.unwrap().unwrap();
    let three_days_ago = shared::clock::Timestamp(app.now().0 - 3 * 86_400);
    app.records.set_endpoint_health(&endpoint, Some(three_days_ago), None).await.unwrap();
    endpoint.failing_since = Some(three_days_ago);
    receiver.answer(&[500, 500, 500]);
    h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", "hello?").await.unwrap();
    receiver.until(15, |r| !r.is_empty()).await;
    let (_, listed) = h.get(&endpoints(&org), &owner).await;
    let mut disabled = false;
    for _ in 0..100 {
        let (_, listed) = h.get(&endpoints(&org), &owner).await;
        if listed["endpoints"][0]["status"] == "disabled" {
            disabled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(disabled, "{listed}");
    // The trail records it right after.
    let mut recorded = false;
    for _ in 0..50 {
        if h.events(&owner, &org).await.iter().any(|e| e["kind"] == "event_endpoint_disabled") {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recorded, "the trail says the endpoint was disabled");
    let before = receiver.received().len();
    h.sandbox().send_inbound(seed::ACME_SALES_PHONE, "16315551234", "Kerry", "still there?").await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), before, "nothing more is sent to a disabled endpoint");
}

/// The signature every delivery carries, checked against the Standard Webhooks reference
/// vectors too (`shared::events::signing`'s tests); here, a delivery's own fields.
#[tokio::test]
async fn each_attempt_is_signed_over_its_own_timestamp() {
    let h = Harness::start(&[]).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, created) =
        h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["connection.connected"] })).await;
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    h.connect(&owner, &org, SALES, seed::ACME_SALES_PHONE).await;
    let received = receiver.until(10, |r| !r.is_empty()).await;
    let delivery = &received[0];
    let key = shared::crypto::from_base64_standard(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let timestamp: i64 = delivery.header("webhook-timestamp").parse().unwrap();
    assert!((shared::clock::Timestamp::now().0 - timestamp).abs() < 60);
    let expected = shared::events::signing::sign(&key, delivery.header("webhook-id"), timestamp, &delivery.body);
    assert_eq!(delivery.header("webhook-signature"), expected);
    let event: Value = delivery.json();
    assert_eq!(event["type"], "connection.connected");
}
