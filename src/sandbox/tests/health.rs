use super::webhooks::{next_webhook, verified, webhook_receiver};
use super::*;

// ---- Meta's levers on a connection's health ------------------------------------------------

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn health_status(phone: &Value) -> &Value {
    &phone["health_status"]
}

async fn phone_fields(sb: &Sandbox, token: &str, phone: &str) -> Value {
    let answer = graph_get(sb, token, phone, &[("fields", "id,health_status")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_revoked_token_answers_190_everywhere() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let other = business_token_for(&sb, &[ACME_CAFE_WABA]).await;
    let answer = control(&sb, "revoke-token", json!({ "wabaId": ACME_SUPPORT_WABA })).await;
    assert_eq!(answer.json()["revoked"], 1);
    let refused = graph_get(&sb, &token, ACME_SUPPORT_WABA, &[]).await;
    assert_eq!(refused.error().0, 190);
    assert_eq!(debug(&sb, &token).await["is_valid"], false);
    assert_eq!(graph_get(&sb, &other, ACME_CAFE_WABA, &[]).await.status, StatusCode::OK, "another WABA's token lives");
}

#[tokio::test]
async fn a_blocked_number_shows_in_health_status_and_refuses_sends_with_368() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[2];
    assert_eq!(health_status(&phone_fields(&sb, &token, phone).await)["can_send_message"], "AVAILABLE");
    let blocked = json!({ "phoneNumberId": phone, "canSendMessage": "BLOCKED", "errorCode": 141006 });
    assert_eq!(control(&sb, "number-health", blocked).await.status, StatusCode::OK);
    let fields = phone_fields(&sb, &token, phone).await;
    let status = health_status(&fields);
    assert_eq!(status["can_send_message"], "BLOCKED");
    assert_eq!(status["entities"][0]["errors"][0]["error_code"], 141006);
    let refused = send_text(&sb, &token, phone, &text_message("15551234567", "Hi")).await;
    assert_eq!(refused.error().0, 368);
    control(&sb, "number-health", json!({ "phoneNumberId": phone, "canSendMessage": "AVAILABLE" })).await;
    let sent = send_text(&sb, &token, phone, &text_message("15551234567", "Hi")).await;
    assert_eq!(sent.status, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_waba_refuses_sends_with_131031_and_its_webhooks_carry_ban_info() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[2];
    let answer = control(&sb, "ban", json!({ "wabaId": ACME_SUPPORT_WABA, "state": "DISABLE" })).await;
    assert_eq!(answer.json()["webhookStatus"], 200);
    let delivery = verified(&next_webhook(&mut received).await);
    let value = &delivery["entry"][0]["changes"][0]["value"];
    assert_eq!(
        (value["event"].as_str(), value["ban_info"]["waba_ban_state"].as_str()),
        (Some("DISABLED_UPDATE"), Some("DISABLE"))
    );
    let refused = send_text(&sb, &token, phone, &text_message("15551234567", "Hi")).await;
    assert_eq!(refused.error().0, 131031);
    assert_eq!(health_status(&phone_fields(&sb, &token, phone).await)["entities"][1]["can_send_message"], "BLOCKED");
    control(&sb, "ban", json!({ "wabaId": ACME_SUPPORT_WABA, "state": "REINSTATE" })).await;
    verified(&next_webhook(&mut received).await);
    assert_eq!(send_text(&sb, &token, phone, &text_message("15551234567", "Hi")).await.status, StatusCode::OK);

    control(&sb, "restrict", json!({ "wabaId": ACME_SUPPORT_WABA, "expiresInSeconds": 60 })).await;
    let delivery = verified(&next_webhook(&mut received).await);
    let restriction = &delivery["entry"][0]["changes"][0]["value"]["restriction_info"][0];
    assert_eq!(restriction["restriction_type"], "RESTRICTED_BIZ_INITIATED_MESSAGING");
    assert!(restriction["expiration"].as_str().unwrap().ends_with("+0000"), "{restriction}");
}

#[tokio::test]
async fn quality_and_limits_are_sent_in_the_2026_shapes() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let body = json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "THROUGHPUT_UPGRADE", "maxDailyConversationsPerBusiness": "TIER_10K" });
    assert_eq!(control(&sb, "throughput", body).await.status, StatusCode::OK);
    let delivery = verified(&next_webhook(&mut received).await);
    let change = &delivery["entry"][0]["changes"][0];
    assert_eq!(change["field"], "phone_number_quality_update");
    assert_eq!(change["value"]["max_daily_conversations_per_business"], "TIER_10K");
    assert!(change["value"].get("current_limit").is_none(), "the 2026 shape has no current_limit");
    let body = json!({ "wabaId": ACME_SALES_WABA, "maxDailyConversationsPerBusiness": "TIER_UNLIMITED" });
    assert_eq!(control(&sb, "capability", body).await.status, StatusCode::OK);
    let delivery = verified(&next_webhook(&mut received).await);
    assert_eq!(delivery["entry"][0]["changes"][0]["field"], "business_capability_update");
}

#[tokio::test]
async fn a_dropped_subscription_is_gone_from_subscribed_apps() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let path = format!("{ACME_SUPPORT_WABA}/subscribed_apps");
    let subscribe = send(
        &sb,
        Method::POST,
        &format!("/graph/v24.0/{path}?{}", query(&[("access_token", &token), ("appsecret_proof", &proof(&token))])),
        None,
    )
    .await;
    assert_eq!(subscribe.status, StatusCode::OK, "{}", subscribe.text());
    assert_eq!(graph_get(&sb, &token, &path, &[]).await.json()["data"].as_array().unwrap().len(), 1);
    let answer = control(&sb, "unsubscribe", json!({ "wabaId": ACME_SUPPORT_WABA })).await;
    assert_eq!(answer.json()["wasSubscribed"], true);
    assert_eq!(graph_get(&sb, &token, &path, &[]).await.json()["data"], json!([]));
}

#[tokio::test]
async fn business_tokens_near_their_end_are_renewed_only_with_set_token_expires_in_60_days() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let answer =
        control(&sb, "business-tokens", json!({ "expiresInSeconds": 3600, "wabaId": ACME_SUPPORT_WABA })).await;
    assert_eq!(answer.json()["shortened"], 1);
    let ends = debug(&sb, &token).await["expires_at"].as_u64().unwrap();
    assert!(ends <= now() + 3600, "the live token now ends within the hour");
    let renew = |extra: &'static [(&'static str, &'static str)]| {
        let sb = &sb;
        let token = token.clone();
        async move {
            let mut params = vec![
                ("grant_type", "fb_exchange_token"),
                ("client_id", APP_ID),
                ("client_secret", APP_SECRET),
                ("fb_exchange_token", token.as_str()),
            ];
            params.extend_from_slice(extra);
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
            send(sb, Method::POST, "/graph/v24.0/oauth/access_token", Some(body)).await
        }
    };
    assert_eq!(renew(&[]).await.error().0, 100, "without the flag Meta refuses a business token");
    let renewed = renew(&[("set_token_expires_in_60_days", "true")]).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    let expires_in = renewed.json()["expires_in"].as_u64().unwrap();
    assert!(expires_in > 59 * 86_400, "a fresh 60 days: {expires_in}");
    // New tokens keep the lever until it is reset.
    let next = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    assert!(debug(&sb, &next).await["expires_at"].as_u64().unwrap() <= now() + 3600);
    control(&sb, "business-tokens", json!({ "expiresInSeconds": null })).await;
    let last = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    assert_eq!(debug(&sb, &last).await["expires_at"], 0, "as configured again: never");
}

#[tokio::test]
async fn health_levers_refuse_bad_input() {
    let (url, _received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let cases = [
        ("revoke-token", json!({ "wabaId": "1" })),
        ("revoke-token", json!({})),
        ("number-health", json!({ "phoneNumberId": "1", "canSendMessage": "BLOCKED" })),
        ("number-health", json!({ "phoneNumberId": ACME_SALES_PHONE, "canSendMessage": "SOMETIMES" })),
        ("ban", json!({ "wabaId": ACME_SALES_WABA, "state": "MAYBE" })),
        ("ban", json!({ "wabaId": "1", "state": "DISABLE" })),
        ("restrict", json!({ "wabaId": ACME_SALES_WABA, "restrictionType": "no" })),
        (
            "throughput",
            json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "FLAGGED", "maxDailyConversationsPerBusiness": "TIER_1K" }),
        ),
        (
            "throughput",
            json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "ONBOARDING", "maxDailyConversationsPerBusiness": "LOTS" }),
        ),
        ("capability", json!({ "wabaId": ACME_SALES_WABA, "maxDailyConversationsPerBusiness": "LOTS" })),
        ("unsubscribe", json!({ "wabaId": "1" })),
        ("business-tokens", json!({ "expiresInSeconds": -1 })),
        ("business-tokens", json!({ "expiresInSeconds": 60, "wabaId": "1" })),
        ("ban", json!({ "wabaId": ACME_SALES_WABA, "state": "DISABLE", "extra": 1 })),
    ];
    for (lever, body) in cases {
        let answer = control(&sb, lever, body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{lever} {body}");
        assert!(answer.json()["message"].as_str().is_some_and(|m| !m.is_empty()), "{lever} {body}");
    }
    assert!(sb.webhook_bodies().is_empty(), "a refused lever sends nothing");
    assert_eq!(get(&sb, "/control/ban").await.status, StatusCode::METHOD_NOT_ALLOWED);
}
