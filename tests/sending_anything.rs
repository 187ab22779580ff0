//! Sending anything Meta sends, on both backends: Meta's message object of every type
//! reaches the sandbox exactly as given (with only the product and the addressee added),
//! is stored and listed with its type and content; Meta's refusals of a message get clear
//! answers; a malformed body never reaches Meta; a received message is marked read, with a
//! typing indicator, and only by the organization that received it.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness};
use waba_connect::sandbox::seed;

const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
const READY: &str = seed::ACME_SUPPORT_PHONES[2];
const CUSTOMER: &str = "16315551234";

fn messages(org: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/messages")
}

/// An organization connected to a registered number, and a message its customer sent.
async fn connected(h: &Harness) -> (String, String, String) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let inbound = h.control("inbound", json!({ "phoneNumberId": READY, "from": CUSTOMER, "text": "Hello?" })).await;
    let received = inbound["messageId"].as_str().expect("the inbound message's id").to_owned();
    (owner, org, received)
}

fn every_type(received: &str) -> Vec<Value> {
    vec![
        json!({ "type": "text", "text": { "body": "You're welcome!", "preview_url": false }, "context": { "message_id": received } }),
        json!({ "type": "image", "image": { "link": "https://cdn.example.com/succulent.jpg", "caption": "The best succulent ever?" } }),
        json!({ "type": "video", "video": { "link": "https://cdn.example.com/growth.mp4" } }),
        json!({ "type": "audio", "audio": { "link": "https://cdn.example.com/note.ogg", "voice": true } }),
        json!({ "type": "document", "document": { "link": "https://cdn.example.com/order.pdf", "filename": "order_abc123.pdf", "caption": "Your order" } }),
        json!({ "type": "sticker", "sticker": { "link": "https://cdn.example.com/smile.webp" } }),
        json!({ "type": "location", "location": { "latitude": 37.44216, "longitude": -122.16153, "name": "Philz Coffee", "address": "101 Forest Ave, Palo Alto" } }),
        json!({ "type": "contacts", "contacts": [{ "name": { "formatted_name": "Barbara J. Johnson", "first_name": "Barbara" }, "phones": [{ "phone": "+16505559999", "type": "Mobile" }] }] }),
        json!({ "type": "interactive", "interactive": {
            "type": "button",
            "body": { "text": "Change or cancel your order?" },
            "footer": { "text": "Lucky Shrub" },
            "action": { "buttons": [
                { "type": "reply", "reply": { "id": "change", "title": "Change" } },
                { "type": "reply", "reply": { "id": "cancel", "title": "Cancel" } },
            ] },
        } }),
        json!({ "type": "interactive", "interactive": {
            "type": "list",
            "header": { "type": "text", "text": "Shipping" },
            "body": { "text": "Which shipping option do you prefer?" },
            "action": { "button": "Options", "sections": [{ "title": "Fast", "rows": [
                { "id": "express", "title": "Express", "description": "Next day" },
                { "id": "standard", "title": "Standard" },
            ] }] },
        } }),
        json!({ "type": "interactive", "interactive": {
            "type": "cta_url",
            "body": { "text": "See the available dates." },
            "action": { "name": "cta_url", "parameters": { "display_text": "See dates", "url": "https://example.com/dates" } },
        } }),
        json!({ "type": "reaction", "reaction": { "message_id": received, "emoji": "👍" } }),
        json!({ "type": "template", "template": { "name": "hello_world", "language": { "code": "en_US" } } }),
    ]
}

async fn every_message_type_reaches_meta_as_given(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let (owner, org, received) = connected(&h).await;
    for message in every_type(&received) {
        let (status, sent) = h.post(&messages(&org), &owner, json!({ "to": CUSTOMER, "message": message })).await;
        assert_eq!(status, StatusCode::OK, "{message}: {sent}");
        let at_meta = h.sandbox().sent_messages().last().cloned().unwrap();
        let mut expected = message.clone();
        expected["messaging_product"] = "whatsapp".into();
        expected["recipient_type"] = "individual".into();
        expected["to"] = CUSTOMER.into();
        assert_eq!(at_meta.object, expected, "exactly the object given, with the product and the addressee");
        assert_eq!(Some(at_meta.message_id.as_str()), sent["messageId"].as_str());
    }
    // Listed with its type and its content.
    let listed = h.messages(&owner, &org).await;
    let button = listed
        .iter()
        .find(|m| m["type"] == "interactive" && m["content"]["type"] == "button")
        .expect("the reply buttons are listed");
    assert_eq!(button["text"], "[interactive] Change or cancel your order?", "{button}");
    assert_eq!(button["content"]["action"]["buttons"][1]["reply"]["title"], "Cancel");
    let location = listed.iter().find(|m| m["type"] == "location").unwrap();
    assert_eq!(location["content"]["name"], "Philz Coffee", "{location}");
    let inbound = listed.iter().find(|m| m["messageId"] == received.as_str()).unwrap();
    assert_eq!(inbound["content"]["body"], "Hello?", "an inbound message's content too: {inbound}");
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn every_message_type_reaches_meta_as_given_on_the_embedded_store() {
    every_message_type_reaches_meta_as_given(Backend::Embedded).await;
}

#[tokio::test]
async fn every_message_type_reaches_meta_as_given_on_dynamodb() {
    every_message_type_reaches_meta_as_given(Backend::Aws).await;
}

#[tokio::test]
async fn metas_refusals_of_a_message_get_clear_answers() {
    let h = Harness::start(&[]).await;
    let (owner, org, _) = connected(&h).await;
    let buttons = |n: usize, title: &str| {
        let buttons: Vec<Value> =
            (0..n).map(|i| json!({ "type": "reply", "reply": { "id": format!("b{i}"), "title": title } })).collect();
        json!({ "type": "interactive", "interactive": { "type": "button", "body": { "text": "Pick one" }, "action": { "buttons": buttons } } })
    };
    let rows: Vec<Value> = (0..11).map(|i| json!({ "id": format!("r{i}"), "title": format!("Row {i}") })).collect();
    let long_list = json!({ "type": "interactive", "interactive": { "type": "list", "body": { "text": "Pick" },
        "action": { "button": "Rows", "sections": [{ "title": "All", "rows": rows }] } } });
    for (message, status, code, says) in [
        (buttons(1, &"x".repeat(21)), 400, "message_rejected", "Button title length invalid"),
        (buttons(4, "Ok"), 400, "message_rejected", "Buttons count invalid"),
        (long_list, 400, "message_rejected", "Total row count exceed max allowed count: 10"),
        (json!({ "type": "text", "text": { "body": "Hi", "bold": true } }), 400, "message_rejected", "Unexpected key"),
        (
            json!({ "type": "image", "image": { "id": "1479537139650973" } }),
            400,
            "message_rejected",
            "not a valid whatsapp business account media attachment ID",
        ),
        (
            json!({ "type": "interactive", "interactive": { "type": "product", "body": { "text": "Buy" }, "action": {} } }),
            422,
            "unsupported_message_type",
            "131051",
        ),
    ] {
        let (answered, body) = h.post(&messages(&org), &owner, json!({ "to": CUSTOMER, "message": message })).await;
        assert_eq!((answered.as_u16(), body["code"].as_str()), (status, Some(code)), "{message}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    // The connection is as healthy as before: a bad message says nothing about it.
    assert_eq!(h.status(&owner, &org).await["phoneNumbers"][0]["health"], "ok");
}

#[tokio::test]
async fn a_malformed_body_never_reaches_meta() {
    let h = Harness::start(&[]).await;
    let (owner, org, _) = connected(&h).await;
    let before = h.sandbox().calls("/messages");
    for body in [
        json!({ "to": CUSTOMER, "message": "hello" }),
        json!({ "to": CUSTOMER, "message": { "type": "text", "to": CUSTOMER, "text": { "body": "x" } } }),
        json!({ "to": CUSTOMER, "message": { "type": "text", "recipient": "US.1", "text": { "body": "x" } } }),
        json!({ "to": CUSTOMER, "message": { "messaging_product": "sms", "type": "text", "text": { "body": "x" } } }),
        json!({ "to": CUSTOMER, "message": { "type": "carousel" } }),
        json!({ "to": CUSTOMER, "text": "Hi", "message": { "type": "text", "text": { "body": "x" } } }),
        json!({ "message": { "type": "text", "text": { "body": "x" } } }),
    ] {
        let (status, answer) = h.post(&messages(&org), &owner, body.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{body}");
    }
    assert_eq!(h.sandbox().calls("/messages"), before, "Meta was not called");
}

#[tokio::test]
async fn a_received_message_is_marked_read_by_its_organization_only() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let (owner, org, received) = connected(&h).await;
        let read = |org: &str, id: &str| format!("{}/{id}/read", messages(org));
        assert_eq!(h.sandbox().read_receipt(&received), Some((false, false)));
        let (status, body) = h.post(&read(&org, &received), &owner, json!({ "typing": true })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            h.sandbox().read_receipt(&received),
            Some((true, true)),
            "{backend:?}: read, with a typing indicator"
        );

        let before = h.sandbox().calls("/messages");
        let (status, _) = h.post(&read(&org, "wamid.unknown"), &owner, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let other = h.user("owner-2");
        let other_org = h.create_org(&other, "Beta").await;
        let (status, _) = h.post(&read(&other_org, &received), &other, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another organization's message");
        let (status, _) = h.post(&read(&org, &received), &other, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = h.post(&read(&org, &received), &owner, json!({ "typing": "yes" })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(h.sandbox().calls("/messages"), before, "Meta was not called");
    }
}

#[tokio::test]
async fn outside_the_customer_service_window_only_a_template_is_delivered() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let stranger = "16505550199";
    let (_, text) = h.post(&messages(&org), &owner, json!({ "to": stranger, "text": "Hello?" })).await;
    let (_, template) = h
        .post(
            &messages(&org),
            &owner,
            json!({ "to": stranger, "template": { "name": "hello_world", "language": "en_US" } }),
        )
        .await;
    let (text, template) = (text["messageId"].clone(), template["messageId"].clone());
    for _ in 0..100 {
        let listed = h.messages(&owner, &org).await;
        let failed = listed.iter().find(|m| m["kind"] == "status" && m["messageId"] == text && m["status"] == "failed");
        let delivered =
            listed.iter().any(|m| m["kind"] == "status" && m["messageId"] == template && m["status"] == "delivered");
        if let (Some(failed), true) = (failed, delivered) {
            assert_eq!(failed["error"]["code"], 131_047, "Meta's re-engagement error: {failed}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the text never failed with 131047, or the template was never delivered: {:?}",
        h.messages(&owner, &org).await
    );
}
