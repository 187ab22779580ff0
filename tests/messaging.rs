//! Messaging as of 2026, over HTTP on both backends: customers known only by their
//! business-scoped user ID (BSUID) and username write in and are answered; a username
//! change and a changed BSUID are kept; a failed delivery shows Meta's reason; value-level
//! errors reach the event trail.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness};
use waba_connect::sandbox::seed;

const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
const READY: &str = seed::ACME_SUPPORT_PHONES[2];
const CUSTOMER: &str = "16315551234";

async fn inbound(h: &Harness, body: Value) -> Value {
    h.control("inbound", body).await
}

/// Waits for what the sandbox's asynchronous status webhooks leave in the listing.
async fn listed_until(h: &Harness, token: &str, org: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let all = h.messages(token, org).await;
        if done(&all) {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the listing never showed what was expected: {:?}", h.messages(token, org).await);
}

async fn a_customer_known_only_by_bsuid_writes_and_is_answered(h: &Harness) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;

    inbound(
        h,
        json!({ "phoneNumberId": READY, "from": CUSTOMER, "text": "Hi, it's me", "name": "Kerry", "username": "@kerry", "withholdPhone": true }),
    )
    .await;
    let listed = h.messages(&owner, &org).await;
    let message = listed.iter().find(|m| m["text"] == "Hi, it's me").expect("a message without a phone number is kept");
    assert_eq!(message["from"], Value::Null, "Meta withheld the number: {message}");
    assert_eq!(message["username"], "@kerry");
    assert_eq!(message["contactName"], "Kerry");
    let user_id = message["userId"].as_str().expect("the BSUID").to_owned();
    assert!(user_id.starts_with("US."), "{user_id}");

    // The reply goes to the BSUID, as Meta's `recipient`.
    let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
    let (status, sent) = h.post(&path, &owner, json!({ "recipient": user_id, "text": "Hello Kerry" })).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let at_meta = h.sandbox().sent_messages();
    assert_eq!(at_meta.last().unwrap().to, user_id, "sent to the BSUID");
    let listed = listed_until(h, &owner, &org, |all| {
        all.iter().any(|m| m["kind"] == "status" && m["status"] == "delivered" && m["messageId"] == sent["messageId"])
    })
    .await;
    let reply = listed.iter().find(|m| m["kind"] == "message" && m["text"] == "Hello Kerry").unwrap();
    assert_eq!((reply["to"].clone(), reply["userId"].as_str()), (Value::Null, Some(user_id.as_str())));
    let delivered = listed.iter().find(|m| m["status"] == "delivered").unwrap();
    assert_eq!(delivered["userId"], user_id.as_str(), "statuses name the recipient's BSUID");
    assert_eq!(delivered["to"], Value::Null, "and no number Meta withholds");

    // The customer changes their username: the next message shows the new one.
    inbound(
        h,
        json!({ "phoneNumberId": READY, "from": CUSTOMER, "text": "New name", "name": "Kerry", "username": "@kerry_f", "withholdPhone": true }),
    )
    .await;
    let listed = h.messages(&owner, &org).await;
    let renamed = listed.iter().find(|m| m["text"] == "New name").unwrap();
    assert_eq!((renamed["username"].as_str(), renamed["userId"].as_str()), (Some("@kerry_f"), Some(user_id.as_str())));

    // Meta gives the customer a new BSUID: the inbox gets the change, and the reply goes
    // to the new one.
    let changed = h.control("user-id-update", json!({ "phoneNumberId": READY, "from": CUSTOMER })).await;
    let new_id = changed["userId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, user_id);
    let listed = h.messages(&owner, &org).await;
    assert!(listed.iter().any(|m| m["type"] == "system" && m["userId"] == new_id.as_str()), "{listed:?}");
    let (status, _) = h.post(&path, &owner, json!({ "recipient": user_id, "text": "To the old id" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the old BSUID no longer reaches the customer");
    let (status, sent) = h.post(&path, &owner, json!({ "recipient": new_id, "text": "To the new id" })).await;
    assert_eq!(status, StatusCode::OK, "{sent}");

    // A BSUID of no customer of this business: Meta refuses, the caller is told clearly.
    let (status, refused) = h.post(&path, &owner, json!({ "recipient": "US.99999999999", "text": "Hi" })).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("recipient_not_supported")));
    assert!(refused["action"].as_str().unwrap().contains("phone number"), "{refused}");
    for bad in [
        json!({ "text": "x" }),
        json!({ "to": CUSTOMER, "recipient": user_id, "text": "x" }),
        json!({ "recipient": "kerry", "text": "x" }),
    ] {
        let (status, answer) = h.post(&path, &owner, bad.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{bad}");
    }
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_customer_known_only_by_bsuid_writes_and_is_answered_on_the_embedded_store() {
    a_customer_known_only_by_bsuid_writes_and_is_answered(&Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await)
        .await;
}

#[tokio::test]
async fn a_customer_known_only_by_bsuid_writes_and_is_answered_on_dynamodb_and_kms() {
    let h = Harness::start_on(Backend::Aws, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    a_customer_known_only_by_bsuid_writes_and_is_answered(&h).await;
}

#[tokio::test]
async fn a_failed_delivery_shows_metas_reason_and_value_errors_reach_the_trail() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        h.connect(&owner, &org, SUPPORT, READY).await;
        let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
        let (status, sent) = h.post(&path, &owner, json!({ "to": CUSTOMER, "text": "Still there?" })).await;
        assert_eq!(status, StatusCode::OK, "{sent}");
        let id = sent["messageId"].as_str().unwrap();
        h.control("status", json!({ "messageId": id, "status": "failed", "errorCode": 131047 })).await;
        let listed = listed_until(&h, &owner, &org, |all| all.iter().any(|m| m["status"] == "failed")).await;
        let failed = listed.iter().find(|m| m["status"] == "failed").unwrap();
        assert_eq!(failed["error"]["code"], 131047, "{failed}");
        assert_eq!(failed["error"]["title"], "Re-engagement message");
        assert!(failed["error"]["details"].as_str().unwrap().contains("24 hours"), "{failed}");
        assert!(failed["error"].get("message").is_some());

        h.control("error", json!({ "phoneNumberId": READY, "code": 131042 })).await;
        let events = h.events(&owner, &org).await;
        let recorded: Vec<&Value> = events.iter().filter(|e| e["kind"] == "meta_error").collect();
        assert_eq!(recorded.len(), 1, "{events:?}");
        assert_eq!(recorded[0]["to"], "131042");
        assert!(recorded[0]["reason"].as_str().unwrap().contains("payment"), "{:?}", recorded[0]);
        let delivery = h.sandbox().webhook_bodies().last().unwrap().clone();
        h.webhook(&delivery, None).await;
        let again = h.events(&owner, &org).await;
        assert_eq!(again.iter().filter(|e| e["kind"] == "meta_error").count(), 1, "a redelivery is recorded once");
    }
}

async fn templates_are_listed_sent_and_refused_as_meta_refuses_them(h: &Harness) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let templates = format!("/api/v1/organizations/{org}/whatsapp/templates");

    // Meta pages by two here; the API reads every page, then pages by its own limit.
    let all = h.every_page(&format!("{templates}?limit=2"), &owner, "templates").await;
    assert_eq!(all.len(), 5, "{all:?}");
    let approved = h.every_page(&format!("{templates}?status=approved&limit=2"), &owner, "templates").await;
    let names: Vec<String> = approved
        .iter()
        .map(|t| format!("{}:{}", t["name"].as_str().unwrap(), t["language"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["hello_world:en_US", "order_update:en_US", "order_update:es_ES"]);
    assert!(
        approved.iter().all(|t| t["status"] == "APPROVED" && t["category"].is_string() && t["components"].is_array())
    );
    let (status, bad) = h.get(&format!("{templates}?status=approved;drop"), &owner).await;
    assert_eq!((status, bad["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")));

    let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
    let order = |params: Vec<&str>| {
        let parameters: Vec<Value> = params.iter().map(|p| json!({ "type": "text", "text": p })).collect();
        json!({ "to": CUSTOMER, "template": { "name": "order_update", "language": "en_US", "components": [{ "type": "body", "parameters": parameters }] } })
    };
    let (status, sent) = h.post(&path, &owner, order(vec!["Kerry", "#1042"])).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(h.sandbox().sent_messages().last().unwrap().body, "Hi Kerry, your order #1042 is on its way.");
    let listed = h.messages(&owner, &org).await;
    assert!(listed.iter().any(|m| m["type"] == "template" && m["messageId"] == sent["messageId"]));

    let (status, refused) = h.post(&path, &owner, order(vec!["Kerry"])).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("template_error")),
        "{refused}"
    );
    assert!(refused["message"].as_str().unwrap().contains("132000"), "{refused}");
    let paused = json!({ "to": CUSTOMER, "template": { "name": "winter_sale", "language": "en_US" } });
    let (status, refused) = h.post(&path, &owner, paused).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("template_error")));
    assert!(refused["action"].as_str().unwrap().contains("paused"), "{refused}");
    let missing = json!({ "to": CUSTOMER, "template": { "name": "order_update", "language": "fr_FR" } });
    let (_, refused) = h.post(&path, &owner, missing).await;
    assert!(refused["message"].as_str().unwrap().contains("132001"), "{refused}");
    for bad in [
        json!({ "to": CUSTOMER, "text": "x", "template": { "name": "hello_world", "language": "en_US" } }),
        json!({ "to": CUSTOMER, "template": { "name": "Hello World", "language": "en_US" } }),
        json!({ "to": CUSTOMER, "template": { "name": "hello_world", "language": "en_US", "components": {} } }),
    ] {
        let (status, answer) = h.post(&path, &owner, bad.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{bad}");
    }

    // Meta pauses a template: the change is in the trail, and the list follows.
    h.control("template-status", json!({ "wabaId": SUPPORT, "name": "order_update", "event": "PAUSED" })).await;
    let events = h.events(&owner, &org).await;
    assert!(events.iter().any(|e| e["kind"] == "message_template_status_update" && e["to"] == "PAUSED"), "{events:?}");
    let approved = h.every_page(&format!("{templates}?status=APPROVED"), &owner, "templates").await;
    assert_eq!(approved.len(), 1);
}

#[tokio::test]
async fn templates_are_listed_sent_and_refused_on_the_embedded_store() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    templates_are_listed_sent_and_refused_as_meta_refuses_them(&h).await;
}

#[tokio::test]
async fn templates_are_listed_sent_and_refused_on_dynamodb_and_kms() {
    let h = Harness::start_on(Backend::Aws, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    templates_are_listed_sent_and_refused_as_meta_refuses_them(&h).await;
}

#[tokio::test]
async fn a_changed_bsuid_reaches_the_inbox_once_under_the_new_id() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        h.connect(&owner, &org, SUPPORT, READY).await;
        let body =
            json!({"object": "whatsapp_business_account", "entry": [{"id": SUPPORT, "time": 1795238940, "changes": [{
                "field": "user_id_update",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100003", "phone_number_id": READY},
                    "contacts": [{"profile": {"name": "Kerry"}, "wa_id": CUSTOMER}],
                    "user_id_update": [{"wa_id": CUSTOMER, "detail": "User id for Kerry has been updated.",
                        "user_id": {"previous": "US.111", "current": "US.222"}, "timestamp": "1795238940"}],
                },
            }]}]})
            .to_string();
        for _ in 0..2 {
            let (status, answer) = h.webhook(body.as_bytes(), None).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
        let listed = h.messages(&owner, &org).await;
        let changes: Vec<&Value> = listed.iter().filter(|m| m["type"] == "system").collect();
        assert_eq!(changes.len(), 1, "a redelivery is the same message: {listed:?}");
        assert_eq!(changes[0]["userId"], "US.222");
        assert_eq!(changes[0]["text"], "User id for Kerry has been updated.");
    }
}
