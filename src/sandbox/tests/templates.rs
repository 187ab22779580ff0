use super::webhooks::webhook_receiver;
use super::*;

// ---- Templates and business-scoped user IDs ----------------------------------------------

fn template_message(to: &str, name: &str, language: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params.iter().map(|p| json!({ "type": "text", "text": p })).collect();
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": { "name": name, "language": { "code": language }, "components": [{ "type": "body", "parameters": parameters }] },
    })
}

#[tokio::test]
async fn templates_are_listed_by_page_and_status() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let path = format!("{ACME_SUPPORT_WABA}/message_templates");
    let first = graph_get(&sb, &token, &path, &[]).await.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 2, "two per page");
    assert!(first["paging"]["cursors"]["after"].is_string());
    let approved = graph_get(&sb, &token, &path, &[("status", "APPROVED"), ("limit", "2")]).await.json();
    assert!(approved["data"].as_array().unwrap().iter().all(|t| t["status"] == "APPROVED"));
    let refused = graph_get(&sb, &token, &path, &[("status", "SHINY")]).await;
    assert_eq!(refused.error().0, 100);
}

#[tokio::test]
async fn a_template_send_meets_metas_template_errors() {
    let (url, _received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[2];
    let sent =
        send_text(&sb, &token, phone, &template_message("15551234567", "order_update", "en_US", &["Kerry", "#1"]))
            .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    assert_eq!(sb.sent_messages().last().unwrap().body, "Hi Kerry, your order #1 is on its way.");
    let cases = [
        (template_message("15551234567", "order_update", "en_US", &["Kerry"]), 132000),
        (template_message("15551234567", "order_update", "fr_FR", &[]), 132001),
        (template_message("15551234567", "old_promo", "en_US", &[]), 132001),
        (template_message("15551234567", "winter_sale", "en_US", &[]), 132015),
    ];
    for (body, code) in cases {
        assert_eq!(send_text(&sb, &token, phone, &body).await.error().0, code, "{body}");
    }
    let disabled = send_json(
        &sb,
        Method::POST,
        "/control/template-status",
        &json!({ "wabaId": ACME_SUPPORT_WABA, "name": "winter_sale", "event": "DISABLED" }),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text());
    let refused = send_text(&sb, &token, phone, &template_message("15551234567", "winter_sale", "en_US", &[])).await;
    assert_eq!(refused.error().0, 132016);
    let bare = json!({ "messaging_product": "whatsapp", "to": "15551234567", "type": "template", "template": {} });
    assert_eq!(send_text(&sb, &token, phone, &bare).await.error().0, 100, "a template needs its name");
}

#[tokio::test]
async fn a_bsuid_recipient_is_sent_to_only_from_its_business_portfolio() {
    let sb = sandbox();
    let support = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let beta_customer = sb.lock().bsuid(BETA_BUSINESS, "15557654321", false);
    let acme_customer = sb.lock().bsuid(ACME_BUSINESS, "15557654321", true);
    let phone = ACME_SUPPORT_PHONES[2];
    let to_bsuid = |recipient: &str| json!({ "messaging_product": "whatsapp", "recipient": recipient, "type": "text", "text": { "body": "Hi" } });
    let sent = send_text(&sb, &support, phone, &to_bsuid(&acme_customer)).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    assert_eq!(sent.json()["contacts"][0], json!({ "input": acme_customer, "user_id": acme_customer }));
    assert_eq!(send_text(&sb, &support, phone, &to_bsuid(&beta_customer)).await.error().0, 131062);
    assert_eq!(send_text(&sb, &support, phone, &to_bsuid("US.1234")).await.error().0, 131062, "no such customer");
    assert_eq!(send_text(&sb, &support, phone, &to_bsuid("kerry")).await.error().0, 100, "not a BSUID");
}

#[tokio::test]
async fn messaging_levers_refuse_bad_input() {
    let sb = sandbox();
    let cases = [
        (
            "/control/inbound",
            json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hi", "withholdPhone": true }),
        ),
        (
            "/control/inbound",
            json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hi", "username": "kerry" }),
        ),
        ("/control/status", json!({ "messageId": "wamid.nope", "status": "failed" })),
        ("/control/status", json!({ "messageId": "wamid.nope", "status": "read", "errorCode": 131047 })),
        ("/control/error", json!({ "phoneNumberId": ACME_SALES_PHONE, "code": 1 })),
        ("/control/error", json!({ "phoneNumberId": "1", "code": 131042 })),
        ("/control/template-status", json!({ "wabaId": ACME_SALES_WABA, "name": "nope", "event": "PAUSED" })),
        ("/control/template-status", json!({ "wabaId": ACME_SALES_WABA, "name": "hello_world", "event": "SHINY" })),
    ];
    for (path, body) in cases {
        let answer = send_json(&sb, Method::POST, path, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", answer.text());
    }
}

#[tokio::test]
async fn a_changed_bsuid_is_announced_and_the_old_one_no_longer_reaches_the_customer() {
    let (url, mut received) = super::webhooks::webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let old = sb.lock().bsuid(ACME_BUSINESS, "15557654321", false);
    let answer = send_json(
        &sb,
        Method::POST,
        "/control/user-id-update",
        &json!({ "phoneNumberId": ACME_SUPPORT_PHONES[2], "from": "15557654321" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let new = answer.json()["userId"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let delivery = super::webhooks::verified(&super::webhooks::next_webhook(&mut received).await);
    let change = &delivery["entry"][0]["changes"][0];
    assert_eq!(change["field"], "user_id_update");
    assert_eq!(change["value"]["user_id_update"][0]["user_id"], json!({ "previous": old, "current": new }));
    let to = |recipient: &str| json!({ "messaging_product": "whatsapp", "recipient": recipient, "type": "text", "text": { "body": "Hi" } });
    let phone = ACME_SUPPORT_PHONES[2];
    assert_eq!(send_text(&sb, &token, phone, &to(&old)).await.error().0, 131062, "the old BSUID is gone");
    assert_eq!(send_text(&sb, &token, phone, &to(&new)).await.status, StatusCode::OK);
    let bad =
        send_json(&sb, Method::POST, "/control/user-id-update", &json!({ "phoneNumberId": phone, "from": "x" })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
