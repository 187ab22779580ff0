//! Nothing lost, nothing doubled, on both backends: deduplication by Meta's identity of an
//! event (never its timestamp), events that cannot be stored kept as rejected while the rest
//! of the delivery is stored and acknowledged, routing that sees a connection the moment it
//! commits, and a listing page whose work is the page's.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness, SALES};
use waba_connect::sandbox::seed;

const PHONE: &str = seed::ACME_SALES_PHONE;

fn delivery(messages: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": SALES, "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550100004", "phone_number_id": PHONE },
            "contacts": [{ "profile": { "name": "Kerry" }, "wa_id": "16315551234" }],
            "messages": messages,
        }}]}],
    }))
    .unwrap()
}

fn text(id: &str, timestamp: &str, body: &str) -> Value {
    json!({ "from": "16315551234", "id": id, "timestamp": timestamp, "type": "text", "text": { "body": body } })
}

async fn connected(h: &Harness) -> (String, String) {
    let token = h.user("owner-1");
    let org = h.create_org(&token, "Acme").await;
    h.connect(&token, &org, SALES, PHONE).await;
    (token, org)
}

#[tokio::test]
async fn one_message_id_with_two_timestamps_is_stored_once() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let (token, org) = connected(&h).await;
        let first = delivery(vec![text("wamid.same", "1795238940", "hello")]);
        let again = delivery(vec![text("wamid.same", "1795239999", "hello")]);
        for body in [&first, &again, &first] {
            let (status, answer) = h.webhook(body, None).await;
            assert_eq!(status, StatusCode::OK, "{backend:?}: {answer}");
        }
        let messages = h.messages(&token, &org).await;
        assert_eq!(messages.len(), 1, "{backend:?}: {messages:?}");
        // Within one delivery too.
        let twice = delivery(vec![text("wamid.twice", "1", "a"), text("wamid.twice", "2", "a")]);
        let (_, answer) = h.webhook(&twice, None).await;
        assert_eq!(
            (answer["outcome"]["stored"].as_u64(), answer["outcome"]["duplicates"].as_u64()),
            (Some(1), Some(1))
        );
    }
}

#[tokio::test]
async fn what_cannot_be_stored_is_rejected_with_its_reason_and_the_rest_is_kept() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let (token, org) = connected(&h).await;
        let huge = "x".repeat(320 * 1024);
        let body = delivery(vec![
            text("wamid.good.1", "1795238940", "first"),
            text(&"i".repeat(2000), "1795238941", "an id no key can hold"),
            text("wamid.huge", "1795238942", &huge),
            json!({ "from": "16315551234", "timestamp": "1795238943", "type": "text", "text": { "body": "no id" } }),
            text("wamid.good.2", "1795238944", "last"),
        ]);
        let (status, answer) = h.webhook(&body, None).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: acknowledged, so Meta does not redeliver: {answer}");
        assert_eq!(answer["outcome"]["rejected"], 3, "{answer}");
        assert_eq!(answer["outcome"]["stored"], 5);

        let messages = h.messages(&token, &org).await;
        let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
        assert!(texts.contains(&"first") && texts.contains(&"last"), "{texts:?}");
        let rejected: Vec<&Value> = messages.iter().filter(|m| m["kind"] == "rejected").collect();
        assert_eq!(rejected.len(), 3, "{backend:?}: {messages:?}");
        let reasons: Vec<&str> = rejected.iter().map(|m| m["reason"].as_str().unwrap()).collect();
        assert!(reasons.iter().any(|r| r.contains("not a WhatsApp message id")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("over the")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("no id")), "{reasons:?}");

        // The same events again change nothing: rejected events are deduplicated too. (In
        // other bytes: a repeat of these, over 32 KiB, is answered from the delivery's
        // receipt without a look at its events.)
        for again in [[body.as_slice(), b"\n"].concat(), body.clone()] {
            let (_, again) = h.webhook(&again, None).await;
            let counts = (again["outcome"]["stored"].as_u64(), again["outcome"]["duplicates"].as_u64());
            assert_eq!(counts, (Some(0), Some(5)), "{backend:?}");
        }
        assert_eq!(h.messages(&token, &org).await.len(), 5);
    }
}

#[tokio::test]
async fn a_webhook_right_after_a_connection_is_routed() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let (token, org) = connected(&h).await;
        // No wait between the save and the first delivery: routing reads the connection's
        // own routing items, written in its transaction, with a strongly consistent read.
        let (_, answer) = h.webhook(&delivery(vec![text("wamid.first", "1795238940", "first!")]), None).await;
        assert_eq!(answer["outcome"]["stored"], 1, "{backend:?}: {answer}");
        assert_eq!(h.messages(&token, &org).await.len(), 1);

        // And a disconnection stops routing at once.
        let (status, _) = h.post(&format!("/api/v1/organizations/{org}/whatsapp/disconnect"), &token, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, answer) = h.webhook(&delivery(vec![text("wamid.after", "1795238941", "late")]), None).await;
        assert_eq!(answer["outcome"]["unrouted"], 1, "{backend:?}: {answer}");
    }
}

/// A webhook's values cannot start a forged log line: a line break in an id or a field name
/// stays inside its own record.
#[tokio::test]
async fn a_webhook_cannot_forge_a_log_line() {
    let h = Harness::start(&[]).await;
    let forged = "FORGED-LINE INFO webhook_connected organization=org_admin";
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": format!("102\n{forged}"), "changes": [
        { "field": format!("messages\n{forged}"), "value": { "messaging_product": "whatsapp" } },
        { "field": "messages", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "1", "phone_number_id": format!("106\r\n{forged}") },
            "messages": [{ "from": "1", "id": "wamid.forged", "timestamp": "1", "type": "text", "text": { "body": forged } }] } }
    ] }] });
    let (status, answer) = h.webhook(body.to_string().as_bytes(), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let logs = support::logs();
    assert!(logs.contains("FORGED-LINE"), "the values were logged, so the check means something");
    assert!(!logs.lines().any(|line| line.starts_with("FORGED-LINE")), "a forged line:\n{logs}");
}
