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

        // A redelivery of the same bytes changes nothing: rejected events are deduplicated too.
        let (_, again) = h.webhook(&body, None).await;
        assert_eq!((again["outcome"]["stored"].as_u64(), again["outcome"]["duplicates"].as_u64()), (Some(0), Some(5)));
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

/// A WABA with hundreds of numbers is more than one DynamoDB transaction (100 operations)
/// can hold: saving and disconnecting it still work, and routing follows.
#[tokio::test]
async fn a_waba_with_hundreds_of_phones_connects_and_disconnects() {
    use shared::clock::Timestamp;
    use shared::domain::{
        Authorization, Ciphertext, OAuthState, Organization, OrganizationName, PhoneLink, PhoneMode, PhoneNumber,
        Registration, StateStep, StateToken, TokenKind,
    };
    use shared::store::records::Connection;
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let records = &h.stack.app().records;
        let now = Timestamp::now();
        let org = Organization::new(
            "org_large".parse().unwrap(),
            "owner-1".parse().unwrap(),
            OrganizationName::parse("Large").unwrap(),
            now,
        );
        records.create_organization(&org).await.unwrap();
        let waba: shared::domain::WabaId = "900000000000001".parse().unwrap();
        let state = OAuthState {
            key: StateToken::generate().key(),
            organization_id: org.id.clone(),
            caller: "owner-1".parse().unwrap(),
            redirect_uri: "https://example.com/cb".into(),
            created_at: now,
            expires_at: now.plus_seconds(600),
            step: StateStep::Authorized(Authorization {
                token: Ciphertext::from_bytes(vec![1]),
                token_kind: TokenKind::Business,
                granted_wabas: vec![waba.clone()],
                token_expires_at: None,
                code_hash: "c".into(),
                authorized_at: now,
            }),
        };
        records.create_state(&state).await.unwrap();
        let phones: Vec<PhoneNumber> = (0..300)
            .map(|i| PhoneNumber {
                organization_id: org.id.clone(),
                phone_number_id: format!("7000000000{i:05}").parse().unwrap(),
                waba_id: waba.clone(),
                link: PhoneLink::Active {
                    token: Ciphertext::from_bytes(vec![2]),
                    kind: TokenKind::Business,
                    expires_at: None,
                },
                mode: PhoneMode::CloudApi,
                registration: Registration::Registered,
                registration_attempts: Vec::new(),
                registration_limited_until: None,
                pin: None,
                display_phone: format!("+1 555 7{i:05}"),
                verified_name: None,
                quality_rating: None,
                quality_event: None,
                messaging_limit: None,
                name_status: None,
                health: Default::default(),
                sync: None,
                verified_at: now,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let connection = Connection {
            organization: &org,
            state: &state.key,
            waba_id: &waba,
            phones: phones.clone(),
            retire: Vec::new(),
            now,
        };
        records.save_connection(connection).await.unwrap();
        let saved = records.phones(&org.id).await.unwrap();
        assert_eq!(saved.iter().filter(|p| p.is_active()).count(), 300, "{backend:?}");
        assert_eq!(records.routes(&waba, None).await.unwrap().len(), 300);
        let current = records.organization(&org.id).await.unwrap().unwrap();
        assert_eq!(current.waba_id.as_ref(), Some(&waba));

        records.disconnect(&current, &saved, Timestamp::now()).await.unwrap();
        assert!(records.phones(&org.id).await.unwrap().iter().all(|p| !p.is_active() && p.token().is_none()));
        assert!(records.routes(&waba, None).await.unwrap().is_empty(), "{backend:?}: no route is left");
        assert_eq!(records.organization(&org.id).await.unwrap().unwrap().waba_id, None);
    }
}
