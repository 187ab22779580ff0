use super::*;
use crate::sandbox::seed::{ACME_POPUP_PHONE, ACME_POPUP_WABA};

// ---- Numbers Meta has not verified -------------------------------------------------

async fn request_code(sb: &Sandbox, token: &str, body: Value) -> Answer {
    graph_post(sb, token, ACME_POPUP_PHONE, "request_code", body).await
}

async fn verify_code(sb: &Sandbox, token: &str, code: &str) -> Answer {
    graph_post(sb, token, ACME_POPUP_PHONE, "verify_code", json!({ "code": code })).await
}

fn details(answer: &Answer) -> String {
    answer.json()["error"]["error_data"]["details"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_unverified_number_says_so_and_is_refused_registration_with_133006() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    let fields = graph_get(&sb, &token, ACME_POPUP_PHONE, &[("fields", "code_verification_status")]).await.json();
    assert_eq!(fields["code_verification_status"], "NOT_VERIFIED");
    let refused = register(&sb, &token, ACME_POPUP_PHONE, "123456").await;
    assert_eq!(refused.error(), (133_006, None));
    assert!(details(&refused).contains("verified"));
    assert_eq!(sb.registration_attempts(ACME_POPUP_PHONE), 0, "refused before it counts");
}

#[tokio::test]
async fn a_code_request_needs_a_method_and_a_language() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    for body in [json!({ "language": "en_US" }), json!({ "code_method": "SMS" })] {
        assert_eq!(request_code(&sb, &token, body.clone()).await.error(), (100, None), "{body}");
    }
    let fax = request_code(&sb, &token, json!({ "code_method": "FAX", "language": "en_US" })).await;
    assert_eq!(fax.error(), (100, None));
    assert!(sb.verification_code(ACME_POPUP_PHONE).is_none(), "nothing was sent");
}

#[tokio::test]
async fn codes_are_limited_per_hour_and_not_sent_to_verified_numbers() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    let sms = json!({ "code_method": "SMS", "language": "en_US" });
    for _ in 0..3 {
        assert_eq!(request_code(&sb, &token, sms.clone()).await.json(), json!({ "success": true }));
    }
    let limited = request_code(&sb, &token, sms.clone()).await;
    assert_eq!(limited.error(), (136_024, None));
    assert!(details(&limited).contains("Too many"));
    let verified = business_token_for(&sb, &[ACME_SALES_WABA]).await;
    let answer = graph_post(&sb, &verified, ACME_SALES_PHONE, "request_code", sms).await;
    assert_eq!(answer.error(), (136_024, None));
    assert!(details(&answer).contains("already verified"));
}

#[tokio::test]
async fn a_wrong_or_missing_code_is_refused_with_136025_and_three_void_it() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    let none = verify_code(&sb, &token, "123456").await;
    assert_eq!(none.error(), (136_025, None));
    assert!(details(&none).contains("No verification code"));
    request_code(&sb, &token, json!({ "code_method": "VOICE", "language": "es_ES" })).await;
    let code = sb.verification_code(ACME_POPUP_PHONE).expect("a code was sent");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        let answer = verify_code(&sb, &token, wrong).await;
        assert_eq!(answer.error(), (136_025, None));
        assert!(details(&answer).contains("incorrect"));
    }
    let void = verify_code(&sb, &token, &code).await;
    assert_eq!(void.error(), (136_025, None), "three wrong tries void the code");
    assert!(details(&void).contains("expired"));
    assert!(sb.verification_code(ACME_POPUP_PHONE).is_none());
}

#[tokio::test]
async fn an_expired_code_is_refused_and_the_right_one_verifies_the_number() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    let sms = json!({ "code_method": "SMS", "language": "en_US" });
    request_code(&sb, &token, sms.clone()).await;
    let old = sb.verification_code(ACME_POPUP_PHONE).unwrap();
    sb.expire_verification_codes();
    assert_eq!(verify_code(&sb, &token, &old).await.error(), (136_025, None));
    request_code(&sb, &token, sms).await;
    let code = sb.verification_code(ACME_POPUP_PHONE).unwrap();
    assert_eq!(verify_code(&sb, &token, &code).await.json(), json!({ "success": true }));
    let fields = graph_get(&sb, &token, ACME_POPUP_PHONE, &[("fields", "code_verification_status")]).await.json();
    assert_eq!(fields["code_verification_status"], "VERIFIED");
    assert_eq!(register(&sb, &token, ACME_POPUP_PHONE, "246810").await.status, StatusCode::OK);
    assert_eq!(verify_code(&sb, &token, &code).await.error(), (136_025, None), "nothing left to verify");
}

#[tokio::test]
async fn the_code_is_read_off_the_phone_through_a_control() {
    let sb = sandbox();
    let path = format!("/control/verification-code?phoneNumberId={ACME_POPUP_PHONE}");
    assert_eq!(get(&sb, &path).await.status, StatusCode::NOT_FOUND, "no code sent yet");
    let token = business_token_for(&sb, &[ACME_POPUP_WABA]).await;
    request_code(&sb, &token, json!({ "code_method": "SMS", "language": "en_US" })).await;
    let shown = get(&sb, &path).await.json();
    assert_eq!(shown["code"].as_str(), sb.verification_code(ACME_POPUP_PHONE).as_deref());
    assert_eq!(get(&sb, "/control/verification-code").await.status, StatusCode::BAD_REQUEST);
}

// ---- Registration that drifts ------------------------------------------------------

#[tokio::test]
async fn a_number_unregistered_behind_the_services_back_refuses_sends_with_133010() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SUPPORT_WABA]).await;
    let phone = ACME_SUPPORT_PHONES[2];
    assert!(sb.is_registered(phone));
    let answer = control(&sb, "unregister", json!({ "phoneNumberId": phone })).await;
    assert_eq!(answer.json()["wasRegistered"], true);
    let send =
        json!({ "messaging_product": "whatsapp", "to": "16315551234", "type": "text", "text": { "body": "hi" } });
    assert_eq!(graph_post(&sb, &token, phone, "messages", send).await.error(), (133_010, None));
    let fields = graph_get(&sb, &token, phone, &[("fields", "platform_type,status")]).await.json();
    assert_eq!(
        (fields["platform_type"].as_str(), fields["status"].as_str()),
        (Some("NOT_APPLICABLE"), Some("PENDING"))
    );
    let app = control(&sb, "unregister", json!({ "phoneNumberId": ACME_CAFE_PHONE })).await;
    assert_eq!(app.status, StatusCode::BAD_REQUEST, "an app number is never registered");
}
