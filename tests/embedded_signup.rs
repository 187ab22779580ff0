//! Embedded Signup v4 in the popup, as a frontend runs it with Meta's JS SDK: init-oauth's
//! launch parameters, the popup's `WA_EMBEDDED_SIGNUP` message and its 30-second code,
//! posted to the one-shot route; every finish event; and the attack the handed-back state
//! refuses.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness, SALES, SUPPORT};
use waba_connect::sandbox::seed;

const ONE_SHOT: &str = "/api/integrations/whatsapp/oauth";

fn body(code: Option<&str>, state: &str, session: &Value) -> Value {
    json!({ "code": code, "state": state, "embeddedSignup": session })
}

/// Popup → FINISH → one-shot: only the picked number, registered, sending; the code
/// exchanged once and without `redirect_uri`; a business token kept as issued.
async fn finish_in_the_popup(h: &Harness) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (status, init) = h.get(&format!("/api/v1/organizations/{org}/whatsapp/init-oauth"), &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        init["embeddedSignup"],
        json!({
            "appId": waba_connect::stack::LOCAL_APP_ID,
            "configId": seed::CONFIG_ID,
            "graphVersion": "v26.0",
            "responseType": "code",
            "overrideDefaultResponseType": true,
            "extras": { "setup": {} },
        })
    );

    let phone = seed::ACME_SUPPORT_PHONES[0];
    let (state, session, code) = h.embedded_signup(&owner, &org, &format!("{SUPPORT}:{phone}")).await;
    assert_eq!(session["event"], "FINISH");
    let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["phoneCount"], 1, "only the number picked in the popup");
    assert_eq!(answer["phones"][0]["id"], phone);
    assert_eq!(answer["phones"][0]["registration"], "registered");
    assert_eq!(answer["phones"][0]["canSend"], true);
    assert_eq!(h.sandbox().calls("/oauth/access_token"), 1, "exchanged once, never fb_exchange_token");
    assert!(h.sandbox().is_subscribed(SUPPORT));
    assert!(h.sandbox().is_registered(phone));

    let status_body = h.status(&owner, &org).await;
    let phones = status_body["phoneNumbers"].as_array().unwrap();
    assert_eq!(phones.len(), 1, "{status_body}");
    assert_eq!(phones[0]["tokenKind"], "business");
    assert_eq!(phones[0]["tokenExpiresAt"], Value::Null);
    assert_eq!(status_body["canSend"], true);

    let (status, sent) = h
        .post(
            &format!("/api/v1/organizations/{org}/whatsapp/messages"),
            &owner,
            json!({ "to": "15557654321", "text": "Welcome aboard" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the registered number sends: {sent}");

    // The code and the state are spent.
    let (status, again) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
    assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("state_used")));
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn finishing_the_popup_connects_the_picked_number_on_the_embedded_store() {
    finish_in_the_popup(&Harness::start(&[]).await).await;
}

#[tokio::test]
async fn finishing_the_popup_connects_the_picked_number_on_dynamodb_and_kms() {
    finish_in_the_popup(&Harness::start_on(Backend::Aws, &[]).await).await;
}

#[tokio::test]
async fn a_whatsapp_business_app_number_is_connected_without_registration() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Café").await;
        let choice = format!("{}:{}", seed::ACME_CAFE_WABA, seed::ACME_CAFE_PHONE);
        let (state, session, code) = h.embedded_signup(&owner, &org, &choice).await;
        assert_eq!(session["event"], "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING");
        let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {answer}");
        assert_eq!(answer["phones"][0]["mode"], "coexistence");
        assert_eq!(answer["phones"][0]["registration"], "not_required");
        assert_eq!(answer["phones"][0]["canSend"], true);
        assert_eq!(h.sandbox().registration_attempts(seed::ACME_CAFE_PHONE), 0, "never registered");
        assert_eq!(h.sandbox().calls("/register"), 0);
        let status_body = h.status(&owner, &org).await;
        assert_eq!(status_body["phoneNumbers"][0]["mode"], "coexistence");
        assert_eq!(status_body["canSend"], true);
    }
}

#[tokio::test]
async fn finish_only_waba_and_cancel_leave_nothing_half_written() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;

        let (state, session, code) = h.embedded_signup(&owner, &org, &format!("{}:", seed::BETA_EMPTY_WABA)).await;
        assert_eq!(session["event"], "FINISH_ONLY_WABA");
        let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("no_phone_numbers")));
        assert!(answer["action"].as_str().unwrap().contains("WhatsApp Manager"), "{answer}");

        let (state, session, code) = h.embedded_signup(&owner, &org, "").await;
        assert_eq!(session["event"], "CANCEL");
        assert_eq!(code, None, "the SDK hands back no code on cancel");
        let (status, answer) = h.post(ONE_SHOT, &owner, body(None, &state, &session)).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("signup_cancelled")), "{answer}");
        let error = json!({ "event": "ERROR", "data": { "error_message": "x", "error_code": "524126" } });
        let (status, answer) = h.post(ONE_SHOT, &owner, body(None, &state, &error)).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("signup_cancelled")));

        assert_eq!(h.sandbox().calls("/oauth/access_token"), 0, "Meta was not called");
        assert_eq!(h.sandbox().calls("/subscribed_apps"), 0);
        let status_body = h.status(&owner, &org).await;
        assert_eq!(status_body["connected"], false);
        assert_eq!(status_body["phoneNumbers"], json!([]), "{backend:?}: nothing written");
        assert_eq!(status_body["wabaId"], Value::Null);

        // The state of a cancelled signup stays usable: the person tries again.
        let phone = seed::ACME_SALES_PHONE;
        let (_, session, code) = h.embedded_signup(&owner, &org, &format!("{SALES}:{phone}")).await;
        let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {answer}");
    }
}

#[tokio::test]
async fn the_session_must_match_what_the_code_granted() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SALES_PHONE;

    // A WABA the code was not granted (the popup granted only Acme Sales).
    let (state, mut session, code) = h.embedded_signup(&owner, &org, &format!("{SALES}:{phone}")).await;
    session["data"]["waba_id"] = json!(SUPPORT);
    session["data"]["phone_number_id"] = json!(seed::ACME_SUPPORT_PHONES[0]);
    let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{answer}");

    // A number of another WABA than the session's.
    let (state, mut session, code) = h.embedded_signup(&owner, &org, &format!("{SALES}:{phone}")).await;
    session["data"]["phone_number_id"] = json!(seed::ACME_SUPPORT_PHONES[0]);
    let (status, answer) = h.post(ONE_SHOT, &owner, body(code.as_deref(), &state, &session)).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{answer}");

    for (bad, why) in [
        (json!({ "event": "FINISH", "data": { "phone_number_id": phone } }), "no waba_id"),
        (json!({ "event": "SOMETHING_ELSE", "data": {} }), "an unknown event"),
        (json!({ "data": {} }), "no event"),
    ] {
        let (status, answer) = h.post(ONE_SHOT, &owner, body(Some("AQcode"), &state, &bad)).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{why}");
    }
    assert_eq!(h.status(&owner, &org).await["connected"], false, "nothing was connected");
}

#[tokio::test]
async fn an_sdk_code_sent_without_its_session_is_refused_by_meta() {
    // A frontend that forgets `embeddedSignup` makes the service exchange the popup's code
    // as a dialog code, with a redirect_uri: Meta refuses it, as it would.
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (state, _, code) = h.embedded_signup(&owner, &org, &format!("{SALES}:{}", seed::ACME_SALES_PHONE)).await;
    let (status, answer) = h.post(ONE_SHOT, &owner, json!({ "code": code, "state": state })).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("meta_error")), "{answer}");
}

/// RFC 9700 §4.7: someone starts a flow for their own organization and sends the dialog's
/// URL to a victim. The victim approves at Meta; the callback hands the new state to the
/// victim's browser only, so the attacker can neither list nor save the victim's account.
#[tokio::test]
async fn an_authorization_started_by_someone_else_cannot_be_hijacked() {
    let h = Harness::start(&[]).await;
    let mallory = h.user("mallory");
    let mallory_org = h.create_org(&mallory, "Mallory Co").await;
    let (mallory_state, auth_url) = h.init(&mallory, &mallory_org).await;

    // The victim's browser follows the link, approves their WABA, and lands on the callback.
    let location = h.consent(&auth_url, &[SUPPORT], "allow", true).await;
    let (status, redirect, _) = h.text_of(h.browse(&location, false).await).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(!redirect.unwrap().contains(&mallory_state), "the browser gets a new state, not the attacker's");

    // The attacker still holds the state init-oauth gave them: it leads nowhere.
    let phone = seed::ACME_SUPPORT_PHONES[0];
    let attempts = [
        h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={mallory_state}"), &mallory).await,
        h.get(
            &format!("/api/v1/organizations/whatsapp/phone-numbers?state={mallory_state}&wabaId={SUPPORT}"),
            &mallory,
        )
        .await,
        h.save(&mallory, &mallory_org, &mallory_state, SUPPORT, phone).await,
        h.post(ONE_SHOT, &mallory, json!({ "code": "AQguess", "state": mallory_state })).await,
    ];
    for (i, (status, answer)) in attempts.iter().enumerate() {
        assert!(status.is_client_error(), "attempt {i}: {status} {answer}");
        assert_ne!(*status, StatusCode::OK);
    }
    assert_eq!(h.status(&mallory, &mallory_org).await["connected"], false, "the victim's WABA is not theirs");
    assert!(h.status(&mallory, &mallory_org).await["phoneNumbers"].as_array().unwrap().is_empty());
}
