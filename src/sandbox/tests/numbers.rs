use super::*;

// ---- Cloud API registration ----------------------------------------------------

#[tokio::test]
async fn registering_sets_the_pin_and_moves_the_number_to_cloud_api() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SALES_WABA]).await;
    let fields = "status,platform_type,throughput,is_on_biz_app";
    let before = graph_get(&sb, &token, ACME_SALES_PHONE, &[("fields", fields)]).await.json();
    assert_eq!(
        (before["status"].as_str(), before["platform_type"].as_str()),
        (Some("PENDING"), Some("NOT_APPLICABLE"))
    );
    let answer = register(&sb, &token, ACME_SALES_PHONE, "135790").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json(), json!({ "success": true }));
    let after = graph_get(&sb, &token, ACME_SALES_PHONE, &[("fields", fields)]).await.json();
    assert_eq!((after["status"].as_str(), after["platform_type"].as_str()), (Some("CONNECTED"), Some("CLOUD_API")));
    assert!(sb.is_registered(ACME_SALES_PHONE));
    // The number now has that PIN: registering again with another is a mismatch.
    assert_eq!(register(&sb, &token, ACME_SALES_PHONE, "135791").await.error(), (133_005, None));
    assert_eq!(register(&sb, &token, ACME_SALES_PHONE, "135790").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_number_with_its_own_pin_accepts_only_that_pin() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[1];
    let refused = register(&sb, &token, phone, "000000").await;
    assert_eq!(refused.error(), (133_005, None));
    assert!(refused.json()["error"]["error_data"]["details"].as_str().unwrap().contains("PIN"));
    assert!(!sb.is_registered(phone));
    assert_eq!(register(&sb, &token, phone, EXISTING_TWO_STEP_PIN).await.status, StatusCode::OK);
    assert!(sb.is_registered(phone));
}

#[tokio::test]
async fn ten_attempts_in_72_hours_then_133016() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[1];
    for attempt in 1..=10 {
        assert_eq!(register(&sb, &token, phone, "000000").await.error(), (133_005, None), "attempt {attempt}");
    }
    assert_eq!(sb.registration_attempts(phone), 10);
    let limited = register(&sb, &token, phone, EXISTING_TWO_STEP_PIN).await;
    assert_eq!(limited.error(), (133_016, None), "even the right PIN waits out the window");
    assert!(!sb.is_registered(phone));
}

#[tokio::test]
async fn a_coexistence_number_is_never_registered() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_CAFE_WABA]).await;
    let fields =
        graph_get(&sb, &token, ACME_CAFE_PHONE, &[("fields", "is_on_biz_app,platform_type,status")]).await.json();
    assert_eq!(fields["is_on_biz_app"], true);
    assert_eq!(fields["platform_type"], "CLOUD_API");
    let refused = register(&sb, &token, ACME_CAFE_PHONE, "123456").await;
    assert_eq!(refused.error(), (100, None));
    assert!(refused.text().contains("coexistence"));
}

#[tokio::test]
async fn registration_needs_metas_body() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SALES_WABA]).await;
    for pin in ["12345", "1234567", "12a456"] {
        assert_eq!(register(&sb, &token, ACME_SALES_PHONE, pin).await.error(), (100, None), "{pin}");
    }
    let uri = format!(
        "/graph/v24.0/{ACME_SALES_PHONE}/register?{}",
        query(&[("access_token", &token), ("appsecret_proof", &proof(&token))])
    );
    let answer = send_json(&sb, Method::POST, &uri, &json!({ "pin": "123456" })).await;
    assert_eq!(answer.error(), (100, None), "messaging_product is required");
    let other = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    assert_eq!(register(&sb, &other, ACME_SALES_PHONE, "123456").await.error(), (100, Some(33)), "not granted");
    assert_eq!(sb.registration_attempts(ACME_SALES_PHONE), 0, "refused requests are not attempts");
}
