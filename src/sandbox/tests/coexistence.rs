use super::webhooks::{next_webhook, verified, webhook_receiver};
use super::*;
use crate::sandbox::seed;

// ---- A WhatsApp Business app number's syncs ----------------------------------------

async fn sync(sb: &Sandbox, token: &str, phone: &str, sync_type: &str) -> Answer {
    graph_post(sb, token, phone, "smb_app_data", json!({ "messaging_product": "whatsapp", "sync_type": sync_type }))
        .await
}

/// A token from an onboarding of the café's number (which opens its 24 hours).
async fn onboarded(sb: &Sandbox) -> String {
    business_token_for(sb, &[ACME_CAFE_WABA]).await
}

fn value_of(notification: &Value) -> &Value {
    &notification["entry"][0]["changes"][0]["value"]
}

#[tokio::test]
async fn a_sync_needs_metas_body_and_an_app_number() {
    let sb = sandbox();
    let token = onboarded(&sb).await;
    let missing = graph_post(&sb, &token, ACME_CAFE_PHONE, "smb_app_data", json!({ "sync_type": "history" })).await;
    assert_eq!(missing.error(), (100, None));
    assert_eq!(sync(&sb, &token, ACME_CAFE_PHONE, "messages").await.error(), (100, None));
    let cloud = business_token_for(&sb, &[ACME_SALES_WABA]).await;
    let refused = sync(&sb, &cloud, ACME_SALES_PHONE, "history").await;
    assert_eq!(refused.error(), (100, None));
    assert!(refused.text().contains("WhatsApp Business app"));
}

#[tokio::test]
async fn each_sync_is_taken_once_per_onboarding() {
    let sb = sandbox();
    let token = onboarded(&sb).await;
    let first = sync(&sb, &token, ACME_CAFE_PHONE, "smb_app_state_sync").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["messaging_product"], "whatsapp");
    assert!(first.json()["request_id"].is_string());
    assert_eq!(sync(&sb, &token, ACME_CAFE_PHONE, "smb_app_state_sync").await.error(), (2_593_107, None));
    assert_eq!(sync(&sb, &token, ACME_CAFE_PHONE, "history").await.status, StatusCode::OK, "the other sync is its own");
    // Onboarding again (Embedded Signup once more) allows each sync once more.
    let again = onboarded(&sb).await;
    assert_eq!(sync(&sb, &again, ACME_CAFE_PHONE, "smb_app_state_sync").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_sync_after_24_hours_is_refused_with_2593108() {
    let sb = sandbox();
    let token = onboarded(&sb).await;
    sb.age_onboardings(24 * 3600);
    let late = sync(&sb, &token, ACME_CAFE_PHONE, "history").await;
    assert_eq!(late.error(), (2_593_108, None));
    assert!(late.text().contains("24 hours"));
}

#[tokio::test]
async fn a_sync_brings_the_apps_contacts_then_the_history_in_chunks() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = onboarded(&sb).await;
    sync(&sb, &token, ACME_CAFE_PHONE, "smb_app_state_sync").await;
    let contacts = verified(&next_webhook(&mut received).await);
    assert_eq!(contacts["entry"][0]["changes"][0]["field"], "smb_app_state_sync");
    let synced = value_of(&contacts)["state_sync"].as_array().unwrap().clone();
    assert_eq!(synced.len(), seed::CAFE_CONTACTS.len());
    assert_eq!(synced[0]["contact"]["full_name"], seed::CAFE_CONTACTS[0].1);
    assert_eq!(synced[0]["action"], "add");

    sync(&sb, &token, ACME_CAFE_PHONE, "history").await;
    let mut progress = Vec::new();
    for _ in 0..seed::CAFE_HISTORY.len() {
        let chunk = verified(&next_webhook(&mut received).await);
        let history = &value_of(&chunk)["history"][0];
        progress.push(history["metadata"]["progress"].as_u64().unwrap());
        let message = &history["threads"][0]["messages"][1];
        assert_eq!(message["from"], "15550100005", "the business's own messages come from its number");
        assert!(message["to"].is_string() && message["history_context"]["status"].is_string());
    }
    assert_eq!(progress, vec![50, 100]);
}

#[tokio::test]
async fn a_business_that_does_not_share_its_history_is_answered_with_2593109() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let lever = control(&sb, "history-sharing", json!({ "phoneNumberId": ACME_CAFE_PHONE, "shared": false })).await;
    assert_eq!(lever.status, StatusCode::OK);
    let token = onboarded(&sb).await;
    assert_eq!(sync(&sb, &token, ACME_CAFE_PHONE, "history").await.status, StatusCode::OK, "Meta takes the request");
    let declined = verified(&next_webhook(&mut received).await);
    let history = &value_of(&declined)["history"][0];
    assert_eq!(history["errors"][0]["code"], 2_593_109);
    assert!(history.get("threads").is_none());
}

#[tokio::test]
async fn the_business_side_is_played_by_controls_for_app_numbers_only() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let echo =
        control(&sb, "echo", json!({ "phoneNumberId": ACME_CAFE_PHONE, "to": "+16505551234", "text": "On my way" }))
            .await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text());
    let echoed = verified(&next_webhook(&mut received).await);
    assert_eq!(echoed["entry"][0]["changes"][0]["field"], "smb_message_echoes");
    let sent = &value_of(&echoed)["message_echoes"][0];
    assert_eq!((sent["from"].as_str(), sent["to"].as_str()), (Some("15550100005"), Some("16505551234")));
    assert_eq!(sent["id"], echo.json()["messageId"]);

    let contacts =
        json!({ "phoneNumberId": ACME_CAFE_PHONE, "contacts": [{ "phone": "16505551234", "action": "remove" }] });
    assert_eq!(control(&sb, "contacts", contacts).await.status, StatusCode::OK);
    let removed = verified(&next_webhook(&mut received).await);
    let entry = &value_of(&removed)["state_sync"][0];
    assert_eq!(entry["action"], "remove");
    assert!(entry["contact"].get("full_name").is_none(), "Meta names no one it removed");

    let chunk =
        json!({ "phoneNumberId": ACME_CAFE_PHONE, "customer": "16505551234", "text": "Old news", "progress": 30 });
    assert_eq!(control(&sb, "history", chunk).await.status, StatusCode::OK);
    let history = verified(&next_webhook(&mut received).await);
    assert_eq!(value_of(&history)["history"][0]["metadata"]["progress"], 30);

    for (lever, body) in [
        ("echo", json!({ "phoneNumberId": ACME_SALES_PHONE, "to": "16505551234", "text": "x" })),
        ("history", json!({ "phoneNumberId": ACME_SALES_PHONE, "customer": "16505551234", "text": "x" })),
        ("contacts", json!({ "phoneNumberId": ACME_CAFE_PHONE, "contacts": [] })),
        ("contacts", json!({ "phoneNumberId": ACME_CAFE_PHONE, "contacts": [{ "phone": "1", "action": "add" }] })),
        (
            "history",
            json!({ "phoneNumberId": ACME_CAFE_PHONE, "customer": "16505551234", "text": "x", "progress": 101 }),
        ),
    ] {
        assert_eq!(control(&sb, lever, body.clone()).await.status, StatusCode::BAD_REQUEST, "{lever} {body}");
    }
}

#[tokio::test]
async fn offboarding_and_reconnecting_are_announced_as_meta_announces_them() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    for (lever, event) in [("offboard", "ACCOUNT_OFFBOARDED"), ("reconnect", "ACCOUNT_RECONNECTED")] {
        assert_eq!(control(&sb, lever, json!({ "wabaId": ACME_CAFE_WABA })).await.status, StatusCode::OK);
        let notification = verified(&next_webhook(&mut received).await);
        assert_eq!(notification["entry"][0]["id"], ACME_CAFE_WABA);
        assert_eq!(value_of(&notification), &json!({ "event": event }), "the event alone");
    }
    let refused = control(&sb, "offboard", json!({ "wabaId": ACME_SALES_WABA })).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "no app number there");
}
