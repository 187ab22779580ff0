//! Meta's repeats of a delivery, byte for byte, against an embedded store: a large delivery
//! handled in full is answered from its receipt, without its events being parsed or looked
//! up again, for Meta's 7 days of redelivery; a small one, or one with a change for no
//! connection, is handled again.

mod common;

use shared::clock::Timestamp;
use shared::store::records::RECEIPT_LIFETIME_SECS;
use shared::store::{Key, Store, WriteOp};

async fn deliver(fixture: &common::Fixture, body: &[u8]) -> (u64, u64) {
    let request = common::request(body.to_vec(), Some(common::sign(body)));
    let response = webhook::handle(&fixture.app, request).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let outcome = &answer["outcome"];
    (outcome["stored"].as_u64().unwrap(), outcome["duplicates"].as_u64().unwrap())
}

/// Removes a stored message behind the webhook's back: handling its delivery again would
/// store it again, answering from a receipt does not.
async fn forget(fixture: &common::Fixture, message_id: &str) {
    let key = Key::new("ORG#org_webhook", format!("MSG#in#{message_id}"));
    fixture.store.write(vec![WriteOp::Delete { key, condition: None }]).await.unwrap();
}

async fn stored(fixture: &common::Fixture, message_id: &str) -> bool {
    let organization = "org_webhook".parse().unwrap();
    fixture.app.records.received_message(&organization, message_id).await.unwrap().is_some()
}

#[tokio::test]
async fn a_large_delivery_handled_in_full_is_answered_from_its_receipt() {
    let fixture = common::fixture().await;
    let body = common::inbound_batch(200, "large");
    assert!(body.len() >= webhook::REMEMBERED_DELIVERY_BYTES, "{} bytes", body.len());
    assert_eq!(deliver(&fixture, &body).await, (200, 0));

    forget(&fixture, "wamid.large.0").await;
    assert_eq!(deliver(&fixture, &body).await, (0, 200), "the repeat is answered as all duplicates");
    assert!(!stored(&fixture, "wamid.large.0").await, "answered from the receipt, not handled again");

    // The same messages in other bytes are another delivery, handled as such.
    let mut other = body.clone();
    other.push(b'\n');
    assert_eq!(deliver(&fixture, &other).await, (1, 199));
    assert!(stored(&fixture, "wamid.large.0").await);

    // Past Meta's redelivery window, a receipt answers nothing.
    let signature = shared::crypto::hmac_sha256(common::SECRET.as_bytes(), &body);
    let now = Timestamp::now();
    assert_eq!(fixture.app.records.delivery_receipt(&signature, now).await.unwrap(), Some(200));
    let later = Timestamp(now.0 + RECEIPT_LIFETIME_SECS + 1);
    assert_eq!(fixture.app.records.delivery_receipt(&signature, later).await.unwrap(), None);
}

#[tokio::test]
async fn a_small_delivery_is_handled_again() {
    let fixture = common::fixture().await;
    let body = common::inbound_batch(5, "small");
    assert!(body.len() < webhook::REMEMBERED_DELIVERY_BYTES);
    assert_eq!(deliver(&fixture, &body).await, (5, 0));
    forget(&fixture, "wamid.small.0").await;
    assert_eq!(deliver(&fixture, &body).await, (1, 4));
    assert!(stored(&fixture, "wamid.small.0").await);
}

#[tokio::test]
async fn a_large_delivery_with_a_change_for_no_connection_leaves_no_receipt() {
    let fixture = common::fixture().await;
    let batch = String::from_utf8(common::inbound_batch(200, "unrouted")).unwrap();
    let body = batch.replace(common::WABA, "102290129340999").into_bytes();
    assert!(body.len() >= webhook::REMEMBERED_DELIVERY_BYTES);
    assert_eq!(deliver(&fixture, &body).await, (0, 0));
    // A repeat may find the connection made since: it is handled again.
    let signature = shared::crypto::hmac_sha256(common::SECRET.as_bytes(), &body);
    assert_eq!(fixture.app.records.delivery_receipt(&signature, Timestamp::now()).await.unwrap(), None);
}
