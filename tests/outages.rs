//! Outages of the store and of KMS, on both backends: a webhook during a store outage is
//! answered 5xx (Meta delivers it again) and nothing of it is lost once the store is back;
//! a save during a KMS outage leaves no half-written connection and can be made again;
//! events recorded during an outage of KMS (the endpoints' secrets) are delivered once it
//! ends; a registration that cannot take its lease on the number is answered 503, without
//! asking Meta; a callback whose hand-over was made but its answer lost is answered as done;
//! a large delivery that fails midway leaves no receipt, so its repeat is handled again, and
//! one whose receipt cannot be written is answered all the same.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::outage::Outage;
use support::receiver::Receiver;
use support::{Backend, Harness, SUPPORT};
use waba_connect::sandbox::{Fault, seed};

const READY: &str = seed::ACME_SUPPORT_PHONES[0];

fn delivery(ids: &[&str]) -> Vec<u8> {
    let changes: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550100001", "phone_number_id": READY },
                "messages": [{ "from": "16315551234", "id": id, "timestamp": "1795238940", "type": "text", "text": { "body": id } }] } })
        })
        .collect();
    serde_json::to_vec(
        &json!({ "object": "whatsapp_business_account", "entry": [{ "id": SUPPORT, "changes": changes }] }),
    )
    .unwrap()
}

/// 150 messages: a delivery large enough to leave a receipt once handled in full.
fn large_delivery(name: &str) -> Vec<u8> {
    let ids: Vec<String> = (0..150).map(|i| format!("wamid.{name}.{i}")).collect();
    let body = delivery(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(body.len() >= webhook::REMEMBERED_DELIVERY_BYTES, "{} bytes: remembered once handled", body.len());
    body
}

/// A stack whose store fails on command, with an organization connected to a phone.
async fn connected_behind_an_outage(backend: Backend) -> (Harness, Outage, String, String) {
    let (store, cipher) = (Outage::default(), Outage::default());
    let h = Harness::start_wrapped(backend, &[], Outage::wrap(&store, &cipher)).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    (h, store, owner, org)
}

/// Delivers `body` during the outage `begin` starts (refused 5xx, so Meta delivers it again),
/// then again once it is over: the second answer.
async fn refused_then_taken(h: &Harness, store: &Outage, begin: fn(&Outage), body: &[u8]) -> Value {
    begin(store);
    let (status, answer) = h.webhook(body, None).await;
    assert!(status.is_server_error(), "Meta must deliver it again: {status} {answer}");
    store.end();
    let (status, answer) = h.webhook(body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn a_webhook_during_a_store_outage_is_refused_and_nothing_is_lost() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let (h, store, owner, org) = connected_behind_an_outage(backend).await;
        let body = delivery(&["wamid.out.1", "wamid.out.2", "wamid.out.3"]);
        let answer = refused_then_taken(&h, &store, Outage::begin, &body).await;
        assert_eq!(answer["outcome"]["stored"], 3, "{backend:?}: every event of the delivery, once");
        let listed = h.messages(&owner, &org).await;
        for id in ["wamid.out.1", "wamid.out.2", "wamid.out.3"] {
            assert_eq!(listed.iter().filter(|m| m["messageId"] == id).count(), 1, "{backend:?}: {id}");
        }
    }
}

#[tokio::test]
async fn a_large_delivery_that_fails_midway_leaves_no_receipt_and_is_handled_again() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let (h, store, owner, org) = connected_behind_an_outage(backend).await;
        let body = large_delivery("large");
        // Routed and looked up, then its messages cannot be written.
        let answer = refused_then_taken(&h, &store, Outage::begin_batch_writes, &body).await;
        assert_eq!(answer["outcome"]["stored"], 150, "{backend:?}: handled again, not answered from a receipt");
        assert_eq!(h.messages(&owner, &org).await.len(), 150, "{backend:?}");
        // Now handled in full: its repeat is answered from its receipt.
        let (_, answer) = h.webhook(&body, None).await;
        let counts = (answer["outcome"]["stored"].as_u64(), answer["outcome"]["duplicates"].as_u64());
        assert_eq!(counts, (Some(0), Some(150)), "{backend:?}");
    }
}

#[tokio::test]
async fn a_delivery_whose_receipt_cannot_be_written_is_answered_and_its_repeat_handled_again() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let (h, store, owner, org) = connected_behind_an_outage(backend).await;
        let body = large_delivery("unreceipted");
        store.begin_receipt_writes();
        let (status, answer) = h.webhook(&body, None).await;
        assert_eq!((status, &answer["outcome"]["stored"]), (StatusCode::OK, &json!(150)), "{backend:?}: {answer}");
        assert_eq!(store.receipt_writes(), 1, "{backend:?}: its receipt was tried");
        assert!(support::logs().contains("the receipt of a webhook delivery was not written"), "{backend:?}");
        assert_eq!(h.messages(&owner, &org).await.len(), 150, "{backend:?}");
        store.end();
        // Without a receipt, the repeat is handled again, event by event, and leaves one.
        let (_, answer) = h.webhook(&body, None).await;
        assert_eq!(answer["outcome"]["duplicates"], 150, "{backend:?}: {answer}");
        assert_eq!(store.receipt_writes(), 2, "{backend:?}: handled again, so its receipt is written now");
        let (_, answer) = h.webhook(&body, None).await;
        assert_eq!(answer["outcome"]["duplicates"], 150, "{backend:?}: {answer}");
        assert_eq!(store.receipt_writes(), 2, "{backend:?}: answered from the receipt");
    }
}

#[tokio::test]
async fn a_hand_over_made_but_answered_as_refused_is_recognised_as_done() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let (store, cipher) = (Outage::default(), Outage::default());
        let h = Harness::start_wrapped(backend, &[], Outage::wrap(&store, &cipher)).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        store.begin_repeated_hand_overs();
        // The callback's own hand-over answers "refused"; the state shows it was this code's.
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        store.end();
        let (status, body) = h.save(&owner, &org, &state, SUPPORT, READY).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {body}");
    }
}

#[tokio::test]
async fn a_save_during_a_kms_outage_leaves_no_half_written_connection() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let (store, cipher) = (Outage::default(), Outage::default());
        let h = Harness::start_wrapped(backend, &[], Outage::wrap(&store, &cipher)).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        cipher.begin();
        let (status, body) = h.save(&owner, &org, &state, SUPPORT, READY).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{backend:?}: {body}");
        cipher.end();
        let shown = h.status(&owner, &org).await;
        assert_eq!(shown["connected"], false, "{backend:?}: nothing half-written: {shown}");
        assert!(shown["phoneNumbers"].as_array().unwrap().is_empty(), "{shown}");
        let (_, organization) = h.get(&format!("/api/v1/organizations/{org}"), &owner).await;
        assert!(organization["data"]["whatsapp"]["wabaId"].is_null(), "{organization}");
        // The state was not spent: the same save goes through once KMS is back.
        let (status, body) = h.save(&owner, &org, &state, SUPPORT, READY).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {body}");
        assert_eq!(h.status(&owner, &org).await["canSend"], true);
    }
}

#[tokio::test]
async fn events_recorded_during_an_outage_are_delivered_once_it_ends() {
    let (store, cipher) = (Outage::default(), Outage::default());
    let h = Harness::start_wrapped(Backend::Embedded, &[], Outage::wrap(&store, &cipher)).await;
    let receiver = Receiver::start().await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.create_endpoint(&owner, &org, json!({ "url": receiver.url, "types": ["message.received"] })).await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    // The endpoint's secret cannot be opened: nothing can be signed, so nothing is sent.
    cipher.begin();
    let (status, _) = h.webhook(&delivery(&["wamid.during.1"]), None).await;
    assert_eq!(status, StatusCode::OK, "the webhook itself needs no KMS");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.received().is_empty(), "nothing delivered during the outage");
    cipher.end();
    let received = receiver.until(15, |r| !r.is_empty()).await;
    assert_eq!(received[0].json()["data"]["messageId"], "wamid.during.1");
}

#[tokio::test]
async fn a_registration_the_store_cannot_lease_is_unavailable_and_meta_is_not_asked() {
    let (store, cipher) = (Outage::default(), Outage::default());
    let h = Harness::start_wrapped(Backend::Embedded, &[], Outage::wrap(&store, &cipher)).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    h.sandbox().inject_faults_on("/register", Fault::ServerError, 1);
    let (status, body) = h.save(&owner, &org, &state, SUPPORT, READY).await;
    assert_eq!((status, body["data"]["registration"].as_str()), (StatusCode::OK, Some("pending")), "{body}");
    let path = format!("/api/v1/organizations/{org}/whatsapp/phone-numbers/{READY}/register");
    store.begin_writes();
    let (status, answer) = h.post(&path, &owner, json!({})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("service_unavailable")),
        "{answer}"
    );
    assert_eq!(h.sandbox().calls("/register"), 1, "no attempt without the lease");
    store.end();
    let (status, answer) = h.post(&path, &owner, json!({})).await;
    assert_eq!((status, answer["phone"]["registration"].as_str()), (StatusCode::OK, Some("registered")), "{answer}");
    assert_eq!(h.sandbox().calls("/register"), 2);
}
