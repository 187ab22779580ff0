//! The webhook's own checks, against an embedded store: a delivery whose signature is not
//! Meta's over these very bytes is refused and changes nothing; what the service does not
//! handle is counted as ignored.

mod common;

use serde_json::json;

fn delivery(field: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "object": "whatsapp_business_account", "entry": [{ "id": common::WABA, "changes": [
        { "field": field, "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550100001", "phone_number_id": common::PHONES[0] },
            "messages": [{ "from": "16315551234", "id": "wamid.signed", "timestamp": "1795238940", "type": "text", "text": { "body": "hi" } }] } }
    ] }] }))
    .unwrap()
}

#[tokio::test]
async fn only_metas_signature_over_these_bytes_is_taken() {
    let fixture = common::fixture().await;
    let body = delivery("messages");
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    for (bytes, signature) in [
        (body.clone(), None),
        (body.clone(), Some("sha256=00".to_owned())),
        (tampered, Some(common::sign(&body))),
        (body.clone(), Some(common::sign(&body).replace("sha256=", "sha1="))),
    ] {
        let refused = webhook::handle(&fixture.app, common::request(bytes, signature.clone())).await.unwrap_err();
        assert_eq!((refused.status, refused.code), (http::StatusCode::UNAUTHORIZED, "unauthorized"), "{signature:?}");
    }
    let organization = "org_webhook".parse().unwrap();
    let (stored, _) = fixture.app.records.messages(&organization, 10, None).await.unwrap();
    assert!(stored.is_empty(), "nothing of a refused delivery is stored");
    let taken = webhook::handle(&fixture.app, common::request(body.clone(), Some(common::sign(&body)))).await;
    assert_eq!(taken.unwrap().status, http::StatusCode::OK);
}

#[tokio::test]
async fn what_the_service_does_not_handle_is_counted_as_ignored() {
    let fixture = common::fixture().await;
    let body = delivery("some_future_field");
    let notification = webhook::payload::parse(&body).unwrap();
    let outcome = webhook::process(&fixture.app, &notification).await.unwrap();
    assert_eq!((outcome.ignored, outcome.stored), (1, 0));

    // An entry without an id, and a change that is not an object: skipped, and counted.
    let mut body: serde_json::Value = serde_json::from_slice(&delivery("messages")).unwrap();
    body["entry"].as_array_mut().unwrap().push(json!({ "changes": [] }));
    body["entry"][0]["changes"].as_array_mut().unwrap().push(json!(42));
    let body = serde_json::to_vec(&body).unwrap();
    let notification = webhook::payload::parse(&body).unwrap();
    let outcome = webhook::process(&fixture.app, &notification).await.unwrap();
    assert_eq!((outcome.ignored, outcome.stored), (2, 1));
}
