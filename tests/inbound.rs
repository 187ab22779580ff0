//! Webhooks in and messages out, over HTTP against the local stack: the sandbox plays Meta,
//! sending signed deliveries to `/webhook` and accepting sends with the stored token.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Harness, SALES, SUPPORT};
use waba_connect::sandbox::seed;

const CUSTOMER: &str = "16315551234";

async fn connected(h: &Harness, owner: &str, waba: &str, phone: &str) -> String {
    let token = h.user(owner);
    let org = h.create_org(&token, owner).await;
    h.connect(&token, &org, waba, phone).await;
    org
}

/// Waits (bounded) until the organization's stored events satisfy `done`.
async fn eventually(h: &Harness, token: &str, org: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..50 {
        let messages = h.messages(token, org).await;
        if done(&messages) {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the expected events never arrived: {:?}", h.messages(token, org).await);
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages.iter().filter_map(|m| m["text"].as_str()).collect()
}

#[tokio::test]
async fn an_inbound_message_is_stored_once_however_often_meta_redelivers() {
    let h = Harness::start(&[]).await;
    let org = connected(&h, "owner-1", SALES, seed::ACME_SALES_PHONE).await;
    let token = h.user("owner-1");

    let (message_id, status) =
        h.sandbox().send_inbound(seed::ACME_SALES_PHONE, CUSTOMER, "Kerry Fisher", "Hello café 😀").await.unwrap();
    assert_eq!(status, 200);
    let messages = h.messages(&token, &org).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["kind"], "message");
    assert_eq!(message["direction"], "inbound");
    assert_eq!(message["messageId"], message_id.as_str());
    assert_eq!(message["from"], CUSTOMER);
    assert_eq!(message["contactName"], "Kerry Fisher");
    assert_eq!(message["text"], "Hello café 😀");
    assert_eq!(message["phoneNumberId"], seed::ACME_SALES_PHONE);

    // Meta redelivers the identical bytes (for up to 7 days): stored once.
    let delivered = h.sandbox().webhook_bodies().last().unwrap().clone();
    for _ in 0..3 {
        let (status, body) = h.webhook(&delivered, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["outcome"]["stored"], 0);
        assert_eq!(body["outcome"]["duplicates"], 1);
    }
    assert_eq!(h.messages(&token, &org).await.len(), 1);
}

#[tokio::test]
async fn unsigned_or_mis_signed_deliveries_are_refused_and_store_nothing() {
    let h = Harness::start(&[]).await;
    let org = connected(&h, "owner-1", SALES, seed::ACME_SALES_PHONE).await;
    let token = h.user("owner-1");
    h.sandbox().send_inbound(seed::ACME_SALES_PHONE, CUSTOMER, "K", "first").await.unwrap();
    let genuine = h.sandbox().webhook_bodies().last().unwrap().clone();
    let forged = String::from_utf8(genuine.to_vec()).unwrap().replace("first", "forged").replace("wamid.", "wamid.X");
    let good = format!(
        "sha256={}",
        shared::crypto::hex(&shared::crypto::hmac_sha256(waba_connect::stack::LOCAL_APP_SECRET.as_bytes(), &genuine))
    );
    let attempts = [
        (forged.as_bytes().to_vec(), Some(good.clone())),
        (forged.as_bytes().to_vec(), None),
        (forged.as_bytes().to_vec(), Some(good.replace("sha256=", "sha1="))),
        (forged.as_bytes().to_vec(), Some("sha256=".into())),
    ];
    for (body, signature) in attempts {
        let (status, answer) = h.webhook(&body, Some(signature)).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    }
    assert_eq!(texts(&h.messages(&token, &org).await), vec!["first"]);
    let (status, _) = h.webhook(b"{not json", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "signed but not a notification");
}

#[tokio::test]
async fn a_batch_of_entries_and_changes_is_processed_in_full() {
    let h = Harness::start(&[]).await;
    let support_phone = seed::ACME_SUPPORT_PHONES[0];
    let org_a = connected(&h, "owner-a", SUPPORT, support_phone).await;
    let org_b = connected(&h, "owner-b", SALES, seed::ACME_SALES_PHONE).await;
    let message = |id: &str, text: &str| json!({"from": CUSTOMER, "id": id, "timestamp": "1795238940", "type": "text", "text": {"body": text}});
    let change = |phone: &str, messages: Vec<Value>| {
        json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": phone},
        "contacts": [{"profile": {"name": "Kerry"}, "wa_id": CUSTOMER}],
        "messages": messages}})
    };
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": SUPPORT, "changes": [
            change(support_phone, vec![message("wamid.a1", "a1"), message("wamid.a2", "a2")]),
            change(support_phone, vec![message("wamid.a3", "a3")]),
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
        ]},
        {"id": SALES, "changes": [change(seed::ACME_SALES_PHONE, vec![message("wamid.b1", "b1")])]},
        {"id": "999999999999", "changes": [change("111", vec![message("wamid.x", "lost")])]},
        // A phone of a connected WABA that no organization connected.
        {"id": SUPPORT, "changes": [change(seed::ACME_SUPPORT_PHONES[2], vec![message("wamid.c", "other phone")])]},
    ]});
    let (status, answer) = h.webhook(body.to_string().as_bytes(), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"]["stored"], 4);
    assert_eq!(answer["outcome"]["unrouted"], 2);
    assert_eq!(answer["outcome"]["lifecycle"], 1, "the template's status is recorded in the trail");
    assert_eq!(answer["outcome"]["ignored"], 0);
    let mut a = texts(&h.messages(&h.user("owner-a"), &org_a).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    a.sort();
    assert_eq!(a, vec!["a1", "a2", "a3"]);
    assert_eq!(texts(&h.messages(&h.user("owner-b"), &org_b).await), vec!["b1"]);
}

#[tokio::test]
async fn an_unknown_waba_is_acknowledged_not_retried() {
    let h = Harness::start(&[]).await;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "123456789", "changes": [
        {"field": "messages", "value": {"metadata": {"phone_number_id": "987"}, "messages": [
            {"from": CUSTOMER, "id": "wamid.z", "timestamp": "1795238940", "type": "text", "text": {"body": "hi"}}]}}]}]});
    let (status, answer) = h.webhook(body.to_string().as_bytes(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outcome"]["unrouted"], 1);
    assert_eq!(answer["outcome"]["stored"], 0);
}

#[tokio::test]
async fn organizations_sharing_a_waba_each_get_its_events_and_never_each_others_messages() {
    let h = Harness::start(&[]).await;
    let a = h.user("owner-a");
    let b = h.user("owner-b");
    let org_a = connected(&h, "owner-a", SALES, seed::ACME_SALES_PHONE).await;
    let org_b = connected(&h, "owner-b", SALES, seed::ACME_SALES_PHONE).await;

    h.sandbox().send_inbound(seed::ACME_SALES_PHONE, CUSTOMER, "Kerry", "to both").await.unwrap();
    assert_eq!(texts(&h.messages(&a, &org_a).await), vec!["to both"]);
    assert_eq!(texts(&h.messages(&b, &org_b).await), vec!["to both"]);

    let (status, body) = h
        .post(
            &format!("/api/v1/organizations/{org_a}/whatsapp/messages"),
            &a,
            json!({"to": CUSTOMER, "text": "from A"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent_id = body["messageId"].as_str().unwrap().to_owned();
    // Who sent it is kept as long as the message, so a late status still finds its sender.
    let app = h.stack.app();
    let owner = shared::store::Key::new(format!("WAMID#{sent_id}"), "OWNER");
    let kept = app.records.store().get(&owner).await.unwrap().expect("the sender is recorded");
    let until = kept[shared::store::schema::TTL].as_n().unwrap() - shared::clock::Timestamp::now().0;
    let retention = app.config.message_retention.as_secs() as i64;
    assert!((retention - 60..=retention).contains(&until), "kept {until} s, retention {retention} s");
    // The sandbox reports `sent` and `delivered` for it; both reach A alone.
    let messages = eventually(&h, &a, &org_a, |m| m.iter().filter(|e| e["kind"] == "status").count() == 2).await;
    assert!(messages.iter().filter(|m| m["kind"] == "status").all(|m| m["messageId"] == sent_id.as_str()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b_messages = h.messages(&b, &org_b).await;
    assert_eq!(b_messages.len(), 1, "B sees neither A's message nor its statuses: {b_messages:?}");
}

#[tokio::test]
async fn sending_uses_the_stored_token_and_the_inbox_pages_newest_first() {
    let h = Harness::start(&[]).await;
    let token = h.user("owner-1");
    let org = connected(&h, "owner-1", SALES, seed::ACME_SALES_PHONE).await;
    let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
    for text in ["one", "two"] {
        h.sandbox().send_inbound(seed::ACME_SALES_PHONE, CUSTOMER, "Kerry", text).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let (status, body) = h.post(&path, &token, json!({"to": format!("+{CUSTOMER}"), "text": "three"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = h.sandbox().sent_messages();
    assert_eq!(sent.len(), 1, "Meta accepted the send: the token and appsecret_proof were right");
    assert_eq!((sent[0].to.as_str(), sent[0].body.as_str()), (CUSTOMER, "three"));
    assert_eq!(sent[0].message_id, body["messageId"].as_str().unwrap());

    let messages = eventually(&h, &token, &org, |m| m.len() == 5).await;
    let order: Vec<&str> =
        messages.iter().filter(|m| m["kind"] == "message").map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["three", "two", "one"], "newest first, across pages of 3");
    assert_eq!(messages.iter().find(|m| m["text"] == "three").unwrap()["direction"], "outbound");

    for bad in [json!({"to": "12", "text": "x"}), json!({"to": CUSTOMER, "text": "  "}), json!({"to": CUSTOMER})] {
        assert_eq!(h.post(&path, &token, bad).await.0, StatusCode::BAD_REQUEST);
    }
    let (status, _) = h.get(&format!("{path}?cursor=bm9wZQ"), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get(&format!("{path}?limit=0"), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get(&path, &h.user("stranger")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn sending_without_an_active_phone_is_not_connected() {
    let h = Harness::start(&[]).await;
    let token = h.user("owner-1");
    let org = h.create_org(&token, "Idle").await;
    let (status, body) = h
        .post(&format!("/api/v1/organizations/{org}/whatsapp/messages"), &token, json!({"to": CUSTOMER, "text": "hi"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_connected")));
}

#[tokio::test]
async fn lifecycle_changes_update_the_phone_authority() {
    let h = Harness::start(&[]).await;
    let token = h.user("owner-1");
    let org = connected(&h, "owner-1", SUPPORT, seed::ACME_SUPPORT_PHONES[1]).await;

    assert_eq!(h.sandbox().send_quality(seed::ACME_SUPPORT_PHONES[1], "FLAGGED", "TIER_10K").await.unwrap(), 200);
    let status = h.status(&token, &org).await;
    let phone = &status["phoneNumbers"][0];
    assert_eq!(phone["qualityRating"], "RED");
    assert_eq!(phone["qualityEvent"], "FLAGGED");
    assert_eq!(phone["messagingLimit"], "TIER_10K");

    // PARTNER_ADDED names the WABA in waba_info and changes nothing.
    let added = json!({"object": "whatsapp_business_account", "entry": [{"id": seed::ACME_BUSINESS, "time": 1, "changes": [
        {"field": "account_update", "value": {"event": "PARTNER_ADDED", "waba_info": {"waba_id": SUPPORT, "owner_business_id": seed::ACME_BUSINESS}}}]}]});
    assert_eq!(h.webhook(added.to_string().as_bytes(), None).await.0, StatusCode::OK);
    assert_eq!(h.status(&token, &org).await["connected"], true);

    assert_eq!(h.sandbox().send_account_update(SUPPORT, "PARTNER_REMOVED").await.unwrap(), 200);
    let status = h.status(&token, &org).await;
    assert_eq!(status["connected"], false);
    assert_eq!(status["wabaId"], Value::Null);
    assert_eq!(status["phoneNumbers"][0]["isActive"], false);
    let (status, body) = h
        .post(&format!("/api/v1/organizations/{org}/whatsapp/messages"), &token, json!({"to": CUSTOMER, "text": "hi"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_connected")));
}

#[tokio::test]
async fn meta_verifies_the_webhook_with_the_verify_token() {
    let h = Harness::start(&[]).await;
    let verify = |token: &str| {
        h.http
            .get(h.url(&format!("/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")))
            .send()
    };
    let ok = verify(waba_connect::stack::LOCAL_VERIFY_TOKEN).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(verify("wrong").await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_customers_new_number_or_bsuid_keeps_the_old_one_beside_it() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let phone = seed::ACME_SUPPORT_PHONES[0];
    let org = connected(&h, "owner-1", SUPPORT, phone).await;
    let system = |id: &str, from: Value, system: Value| {
        let mut message = json!({ "id": id, "timestamp": "1795238940", "type": "system", "system": system });
        message.as_object_mut().unwrap().extend(from.as_object().unwrap().clone());
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": SUPPORT, "changes": [{ "field": "messages",
            "value": { "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550100001", "phone_number_id": phone },
                "messages": [message] } }] }] })
    };
    // Meta's examples of both system messages.
    let number = system(
        "wamid.SYS1",
        json!({ "from": "16505551234" }),
        json!({ "body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358", "type": "user_changed_number" }),
    );
    let bsuid = system(
        "wamid.SYS2",
        json!({ "from_user_id": "US.13491208655302741918" }),
        json!({ "body": "User Sheena changed from US.13491208655302741918 to US.99", "user_id": "US.99", "type": "user_changed_user_id" }),
    );
    for body in [&number, &bsuid] {
        assert_eq!(h.webhook(body.to_string().as_bytes(), None).await.0, StatusCode::OK);
    }
    let messages = eventually(&h, &owner, &org, |m| m.len() >= 2).await;
    let find = |id: &str| messages.iter().find(|m| m["messageId"] == id).unwrap().clone();
    let changed = find("wamid.SYS1");
    assert_eq!(
        changed["system"],
        json!({ "type": "user_changed_number", "previousWaId": "16505551234", "waId": "12195555358" })
    );
    assert!(changed["text"].as_str().unwrap().contains("changed from"), "the inbox shows Meta's words");
    let changed = find("wamid.SYS2");
    assert_eq!(
        changed["system"],
        json!({ "type": "user_changed_user_id", "previousUserId": "US.13491208655302741918", "userId": "US.99" })
    );
    // Meta's user_id_update (through the sandbox's lever) is the same kind of change.
    let answer = h.control("user-id-update", json!({ "phoneNumberId": phone, "from": CUSTOMER })).await;
    let messages = h.messages(&owner, &org).await;
    let update = messages.iter().find(|m| m["system"]["type"] == "user_id_update").expect("the update is listed");
    assert_eq!(update["system"]["userId"], answer["userId"]);
    assert!(update["system"]["previousUserId"].is_string() && update["system"]["previousUserId"] != answer["userId"]);
    assert_eq!(update["system"]["waId"], CUSTOMER);
}
