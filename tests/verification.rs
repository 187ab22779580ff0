//! Numbers that need verifying, registrations that drift, and Meta's registration block,
//! end to end on both backends: a new number Meta has not verified is verified with the code
//! Meta sends it and registered at once; a number Meta unregisters behind the service's
//! back is registered again by itself (at once after a refused send, else by the sweep);
//! after Meta's 133016 nothing asks Meta to register the number until its 72 hours end.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness, SUPPORT};
use waba_connect::sandbox::Fault;
use waba_connect::sandbox::seed::{self, ACME_POPUP_PHONE, ACME_POPUP_WABA};

fn phone_path(org: &str, phone: &str, step: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/phone-numbers/{phone}/{step}")
}

async fn send(h: &Harness, owner: &str, org: &str) -> (StatusCode, Value) {
    h.post(
        &format!("/api/v1/organizations/{org}/whatsapp/messages"),
        owner,
        json!({ "to": "15557654321", "text": "Hi" }),
    )
    .await
}

/// Connects `phone` of `waba` through Embedded Signup's popup.
async fn connect(h: &Harness, owner: &str, org: &str, waba: &str, phone: &str) -> Value {
    let (state, session, code) = h.embedded_signup(owner, org, &format!("{waba}:{phone}")).await;
    let body = json!({ "code": code, "state": state, "embeddedSignup": session });
    let (status, answer) = h.post("/api/integrations/whatsapp/oauth", owner, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["phones"][0].clone()
}

async fn a_new_number_is_verified_with_metas_code_then_registered(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme Pop-up").await;
    let connected = connect(&h, &owner, &org, ACME_POPUP_WABA, ACME_POPUP_PHONE).await;
    assert_eq!(
        (connected["registration"].as_str(), connected["canSend"].as_bool()),
        (Some("verification_required"), Some(false))
    );
    assert_eq!(h.sandbox().calls("/register"), 0, "Meta would refuse it (133006): not asked");
    let status = h.status(&owner, &org).await;
    assert!(status["action"].as_str().unwrap().contains("request-code"), "{status}");
    let (code, refused) = send(&h, &owner, &org).await;
    assert_eq!((code, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not_registered")));
    let (code, refused) = h.post(&phone_path(&org, ACME_POPUP_PHONE, "register"), &owner, json!({})).await;
    assert_eq!((code, refused["code"].as_str()), (StatusCode::CONFLICT, Some("verification_required")));

    let (code, requested) =
        h.post(&phone_path(&org, ACME_POPUP_PHONE, "request-code"), &owner, json!({ "method": "SMS" })).await;
    assert_eq!(code, StatusCode::OK, "{requested}");
    let sent = h.sandbox().verification_code(ACME_POPUP_PHONE).expect("Meta sent a code");
    let wrong = if sent == "000000" { "111111" } else { "000000" };
    let (code, refused) =
        h.post(&phone_path(&org, ACME_POPUP_PHONE, "verify-code"), &owner, json!({ "code": wrong })).await;
    assert_eq!((code, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_code")), "{refused}");
    assert!(refused["message"].as_str().unwrap().starts_with("Meta refused the verification code: "), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("incorrect"), "Meta's reason: {refused}");

    let (code, verified) =
        h.post(&phone_path(&org, ACME_POPUP_PHONE, "verify-code"), &owner, json!({ "code": sent })).await;
    assert_eq!(code, StatusCode::OK, "{verified}");
    assert_eq!(
        (verified["phone"]["registration"].as_str(), verified["phone"]["canSend"].as_bool()),
        (Some("registered"), Some(true))
    );
    assert!(h.sandbox().is_registered(ACME_POPUP_PHONE), "registered at once");
    assert_eq!(send(&h, &owner, &org).await.0, StatusCode::OK);
    let (code, again) =
        h.post(&phone_path(&org, ACME_POPUP_PHONE, "verify-code"), &owner, json!({ "code": sent })).await;
    assert_eq!((code, again["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "nothing left to verify");
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_new_number_is_verified_with_metas_code_then_registered_on_the_embedded_store() {
    a_new_number_is_verified_with_metas_code_then_registered(Backend::Embedded).await;
}

#[tokio::test]
async fn a_new_number_is_verified_with_metas_code_then_registered_on_dynamodb() {
    a_new_number_is_verified_with_metas_code_then_registered(Backend::Aws).await;
}

#[tokio::test]
async fn verification_refusals_are_the_callers_with_metas_reason() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let mallory = h.user("mallory");
    let org = h.create_org(&owner, "Acme Pop-up").await;
    connect(&h, &owner, &org, ACME_POPUP_WABA, ACME_POPUP_PHONE).await;
    let request = phone_path(&org, ACME_POPUP_PHONE, "request-code");
    for body in
        [json!({ "method": "FAX" }), json!({ "method": "SMS", "language": "en US!" }), json!({ "methods": "SMS" })]
    {
        let (code, refused) = h.post(&request, &owner, body.clone()).await;
        assert_eq!((code, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{body}");
    }
    let (code, _) = h.post(&phone_path(&org, ACME_POPUP_PHONE, "verify-code"), &owner, json!({ "code": "12ab" })).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(h.sandbox().calls("/request_code") + h.sandbox().calls("/verify_code"), 0, "Meta not called");
    let (code, _) = h.post(&request, &mallory, json!({ "method": "SMS" })).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "another user's organization");
    for _ in 0..3 {
        assert_eq!(h.post(&request, &owner, json!({ "method": "VOICE", "language": "pt_BR" })).await.0, StatusCode::OK);
    }
    let (code, limited) = h.post(&request, &owner, json!({ "method": "SMS" })).await;
    assert_eq!((code, limited["code"].as_str()), (StatusCode::BAD_REQUEST, Some("verification_refused")), "{limited}");
    assert!(limited["message"].as_str().unwrap().starts_with("Meta did not send a verification code: "), "{limited}");
    assert!(limited["message"].as_str().unwrap().contains("Too many"), "Meta's reason: {limited}");
    // A lapse on Meta's side is not the caller's to fix: Meta's error, to try again later.
    h.sandbox().inject_faults_on("/request_code", Fault::ServerError, 1);
    let (code, lapse) = h.post(&request, &owner, json!({ "method": "SMS" })).await;
    assert_eq!((code, lapse["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("meta_error")), "{lapse}");
    // A verified number has nothing to verify: Meta is not asked.
    let sales = h.create_org(&owner, "Acme Sales").await;
    connect(&h, &owner, &sales, seed::ACME_SALES_WABA, seed::ACME_SALES_PHONE).await;
    let calls = h.sandbox().calls("/request_code");
    let (code, _) =
        h.post(&phone_path(&sales, seed::ACME_SALES_PHONE, "request-code"), &owner, json!({ "method": "SMS" })).await;
    assert_eq!((code, h.sandbox().calls("/request_code")), (StatusCode::CONFLICT, calls));
    h.assert_no_token_leaked().await;
}

async fn a_number_unregistered_behind_the_services_back_is_registered_again(backend: Backend) {
    let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme Sales").await;
    let phone = seed::ACME_SALES_PHONE;
    assert_eq!(connect(&h, &owner, &org, seed::ACME_SALES_WABA, phone).await["registration"], "registered");
    let pins = h.sandbox().two_step_pins();

    // Meta refuses a send (133010): the number is registered again at once, with its PIN.
    h.control("unregister", json!({ "phoneNumberId": phone })).await;
    let (code, refused) = send(&h, &owner, &org).await;
    assert_eq!((code, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not_registered")), "{refused}");
    assert!(refused["action"].as_str().unwrap().contains("registered again"), "{refused}");
    assert!(h.sandbox().is_registered(phone));
    assert_eq!(h.sandbox().two_step_pins(), pins, "with the PIN it was registered with");
    assert_eq!(send(&h, &owner, &org).await.0, StatusCode::OK);

    // The sweep reads another platform: registered again in the same sweep.
    h.control("unregister", json!({ "phoneNumberId": phone })).await;
    let report = h.sweep().await;
    assert_eq!(report.registrations_retried, 1, "{report:?}");
    assert!(h.sandbox().is_registered(phone));
    let registrations: Vec<(String, String)> = h
        .events(&owner, &org)
        .await
        .iter()
        .filter(|e| e["kind"] == "registration")
        .map(|e| (e["from"].as_str().unwrap_or("").to_owned(), e["to"].as_str().unwrap().to_owned()))
        .collect();
    let drifted = registrations.iter().filter(|(from, to)| from == "registered" && to == "pending").count();
    assert_eq!(drifted, 2, "{backend:?}: each drift is in the trail: {registrations:?}");
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_number_unregistered_behind_the_services_back_is_registered_again_on_the_embedded_store() {
    a_number_unregistered_behind_the_services_back_is_registered_again(Backend::Embedded).await;
}

#[tokio::test]
async fn a_number_unregistered_behind_the_services_back_is_registered_again_on_dynamodb() {
    a_number_unregistered_behind_the_services_back_is_registered_again(Backend::Aws).await;
}

#[tokio::test]
async fn after_metas_133016_nothing_asks_to_register_until_its_72_hours_end() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let phone = seed::ACME_SUPPORT_PHONES[1];
    // Another organization spent the number's ten attempts at Meta with wrong PINs.
    let first = h.user("owner-a");
    let org_a = h.create_org(&first, "A").await;
    connect(&h, &first, &org_a, SUPPORT, phone).await;
    for _ in 0..9 {
        h.post(&phone_path(&org_a, phone, "register"), &first, json!({ "pin": "000000" })).await;
    }
    assert_eq!(h.sandbox().registration_attempts(phone), 10);

    let owner = h.user("owner-b");
    let org = h.create_org(&owner, "B").await;
    let (state, session, code) = h.embedded_signup(&owner, &org, &format!("{SUPPORT}:{phone}")).await;
    let body = json!({ "code": code, "state": state, "embeddedSignup": session });
    h.post("/api/integrations/whatsapp/oauth", &owner, body).await;
    // This organization's first attempt met Meta's 133016.
    let status = h.status(&owner, &org).await;
    let saved = &status["phoneNumbers"][0];
    assert_eq!(saved["registration"], "pending", "{saved}");
    assert!(saved["registrationReason"].as_str().unwrap().contains("133016"), "{saved}");
    let after = saved["registrationPossibleAfter"].as_str().expect("when Meta allows again");
    let calls = h.sandbox().calls("/register");

    let (code, limited) =
        h.post(&phone_path(&org, phone, "register"), &owner, json!({ "pin": seed::EXISTING_TWO_STEP_PIN })).await;
    assert_eq!((code, limited["code"].as_str()), (StatusCode::CONFLICT, Some("registration_limited")), "{limited}");
    assert!(limited["action"].as_str().unwrap().contains(after), "names when: {limited}");
    h.sweep().await;
    h.sweep().await;
    assert_eq!(h.sandbox().calls("/register"), calls, "no /register inside Meta's 72 hours");
}
