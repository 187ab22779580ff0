//! Cloud API registration over HTTP: every outcome (`registered`, `pin_required` and the PIN
//! route, `pending` and its retry, Meta's allowance of ten attempts), sends refused without
//! calling Meta until a number can send, and the PIN kept as secret as a token.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{Backend, Harness, SUPPORT};
use waba_connect::sandbox::{Fault, seed};

fn register_path(org: &str, phone: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/phone-numbers/{phone}/register")
}

async fn send(h: &Harness, token: &str, org: &str) -> (StatusCode, serde_json::Value) {
    h.post(
        &format!("/api/v1/organizations/{org}/whatsapp/messages"),
        token,
        json!({ "to": "15557654321", "text": "Hello" }),
    )
    .await
}

async fn pin_required_then_the_persons_pin(h: &Harness) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SUPPORT_PHONES[1];
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    let (status, body) = h.save(&owner, &org, &state, SUPPORT, phone).await;
    assert_eq!(status, StatusCode::OK, "the connection is saved whatever registration meets: {body}");
    assert_eq!(body["data"]["registration"], "pin_required");
    assert_eq!(body["data"]["canSend"], false);

    let status_body = h.status(&owner, &org).await;
    assert_eq!(status_body["connected"], true);
    assert_eq!(status_body["canSend"], false);
    assert!(status_body["action"].as_str().unwrap().contains("two-step verification PIN"), "{status_body}");

    let sends_before = h.sandbox().calls("/messages");
    let (status, refused) = send(h, &owner, &org).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not_registered")), "{refused}");
    assert!(refused["action"].as_str().unwrap().contains("PIN"));
    assert_eq!(h.sandbox().calls("/messages"), sends_before, "Meta was not asked");

    let path = register_path(&org, phone);
    let (status, wrong) = h.post(&path, &owner, json!({ "pin": "000000" })).await;
    assert_eq!((status, wrong["code"].as_str()), (StatusCode::BAD_REQUEST, Some("pin_mismatch")), "{wrong}");
    for bad in [json!({ "pin": "12345" }), json!({ "pin": 123456 }), json!({ "pin": "1234567" }), json!({ "x": 1 })] {
        let (status, answer) = h.post(&path, &owner, bad.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{bad}");
    }
    let (status, answer) = h.post(&path, &owner, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no stored PIN to retry with: {answer}");

    let (status, registered) = h.post(&path, &owner, json!({ "pin": seed::EXISTING_TWO_STEP_PIN })).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["phone"]["registration"], "registered");
    assert_eq!(registered["phone"]["canSend"], true);
    assert!(h.sandbox().is_registered(phone));
    let (status, sent) = send(h, &owner, &org).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    // A registered number is answered as it is, without spending an attempt.
    let attempts = h.sandbox().registration_attempts(phone);
    assert_eq!(h.post(&path, &owner, json!({})).await.0, StatusCode::OK);
    assert_eq!(h.sandbox().registration_attempts(phone), attempts);

    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_number_with_its_own_pin_asks_the_person_for_it_on_the_embedded_store() {
    pin_required_then_the_persons_pin(&Harness::start(&[]).await).await;
}

#[tokio::test]
async fn a_number_with_its_own_pin_asks_the_person_for_it_on_dynamodb_and_kms() {
    pin_required_then_the_persons_pin(&Harness::start_on(Backend::Aws, &[]).await).await;
}

#[tokio::test]
async fn a_pending_registration_is_retried_with_the_stored_pin() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let phone = seed::ACME_SUPPORT_PHONES[0];
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        h.sandbox().inject_faults_on("/register", Fault::ServerError, 1);
        let (status, body) = h.save(&owner, &org, &state, SUPPORT, phone).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["registration"], "pending", "{body}");
        assert!(body["data"]["registrationReason"].is_string());
        assert_eq!(h.sandbox().calls("/register"), 1, "one attempt, never a loop");
        assert_eq!(send(&h, &owner, &org).await.1["code"], "not_registered");

        let (status, answer) = h.post(&register_path(&org, phone), &owner, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {answer}");
        assert_eq!(answer["phone"]["registration"], "registered");
        assert!(h.sandbox().is_registered(phone));
        assert_eq!(send(&h, &owner, &org).await.0, StatusCode::OK);
        h.assert_no_token_leaked().await;
    }
}

#[tokio::test]
async fn registration_stays_within_metas_ten_attempts() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SUPPORT_PHONES[0];
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    h.sandbox().inject_faults_on("/register", Fault::ServerError, 10);
    assert_eq!(h.save(&owner, &org, &state, SUPPORT, phone).await.0, StatusCode::OK);
    for _ in 0..9 {
        let (status, answer) = h.post(&register_path(&org, phone), &owner, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "retried later: {answer}");
    }
    assert_eq!(h.sandbox().calls("/register"), 10);
    let (status, answer) = h.post(&register_path(&org, phone), &owner, json!({})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("registration_limited")), "{answer}");
    assert!(answer["action"].as_str().unwrap().contains("Try again after"), "{answer}");
    assert_eq!(h.sandbox().calls("/register"), 10, "the eleventh attempt is not made");
    let status = h.status(&owner, &org).await;
    assert!(status["phoneNumbers"][0]["registrationPossibleAfter"].is_string(), "{status}");
}

#[tokio::test]
async fn the_register_route_is_the_owners_and_needs_a_connected_number() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let mallory = h.user("mallory");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SUPPORT_PHONES[1];
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    assert_eq!(h.save(&owner, &org, &state, SUPPORT, phone).await.0, StatusCode::OK);

    let pin = json!({ "pin": seed::EXISTING_TWO_STEP_PIN });
    let (status, body) = h.post(&register_path(&org, phone), &mallory, pin.clone()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (status, body) = h.post(&register_path(&org, seed::ACME_SALES_PHONE), &owner, pin.clone()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) = h.post(&register_path(&org, "not-an-id"), &owner, pin.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(
        h.post(&format!("/api/v1/organizations/{org}/whatsapp/disconnect"), &owner, json!({})).await.0,
        StatusCode::OK
    );
    let (status, body) = h.post(&register_path(&org, phone), &owner, pin).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_connected")));
    assert_eq!(h.sandbox().registration_attempts(phone), 1, "only the save's attempt reached Meta");
}

/// Sixteen registrations of one number at once, one with the right PIN: Meta is asked one
/// attempt at a time and never beyond its allowance, and once Meta took the right PIN the
/// number is stored registered, whatever the wrong ones met.
#[tokio::test]
async fn concurrent_registrations_of_one_number_are_made_one_at_a_time() {
    for (round, backend) in
        [Backend::Embedded, Backend::Embedded, Backend::Embedded, Backend::Aws].into_iter().enumerate()
    {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let phone = seed::ACME_SUPPORT_PHONES[1];
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        assert_eq!(h.save(&owner, &org, &state, SUPPORT, phone).await.0, StatusCode::OK);
        let path = register_path(&org, phone);
        let right = 5 + round;
        let race = (0..16).map(|i| {
            let pin = if i == right { seed::EXISTING_TWO_STEP_PIN.to_owned() } else { format!("{:06}", 100_000 + i) };
            h.post(&path, &owner, json!({ "pin": pin }))
        });
        let answers = futures_util::future::join_all(race).await;
        for (status, answer) in &answers {
            let code = answer["code"].as_str();
            let expected = *status == StatusCode::OK
                || (*status, code) == (StatusCode::BAD_REQUEST, Some("pin_mismatch"))
                || (*status, code) == (StatusCode::CONFLICT, Some("conflict"))
                || (*status, code) == (StatusCode::CONFLICT, Some("registration_limited"));
            assert!(expected, "{backend:?}: {status} {answer}");
        }
        assert!(h.sandbox().registration_attempts(phone) <= 10, "{backend:?}: Meta was asked beyond its allowance");
        let stored = h.status(&owner, &org).await;
        let stored =
            stored["phoneNumbers"].as_array().unwrap().iter().find(|p| p["phoneNumberId"] == phone).unwrap().clone();
        if h.sandbox().is_registered(phone) {
            assert_eq!(stored["registration"], "registered", "{backend:?}: Meta took the PIN: {stored}");
        } else {
            assert_ne!(stored["registration"], "registered", "{backend:?}: {stored}");
            let (status, answer) = h.post(&path, &owner, json!({ "pin": seed::EXISTING_TWO_STEP_PIN })).await;
            assert_eq!(status, StatusCode::OK, "{backend:?}: the right PIN after the race: {answer}");
            assert!(h.sandbox().is_registered(phone));
        }
        assert_eq!(send(&h, &owner, &org).await.0, StatusCode::OK, "{backend:?}");
        h.assert_no_token_leaked().await;
    }
}

/// The PIN a number is registered with is stored, sealed, before Meta is asked: were the
/// service to stop while Meta registers the number, the PIN it is locked behind is kept.
#[tokio::test]
async fn the_pin_is_kept_before_meta_is_asked_to_register_with_it() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SUPPORT_PHONES[0];
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    h.sandbox().inject_faults_on("/register", Fault::Timeout(std::time::Duration::from_secs(2)), 1);
    let key = shared::store::records::phone_key(&org.parse().unwrap(), &phone.parse().unwrap());
    let while_meta_registers = async {
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        assert_eq!(h.sandbox().calls("/register"), 1, "Meta is being asked");
        h.stack.app().records.store().get(&key).await.unwrap().expect("the phone is saved first")
    };
    let ((status, body), stored) = tokio::join!(h.save(&owner, &org, &state, SUPPORT, phone), while_meta_registers);
    assert_eq!((status, body["data"]["registration"].as_str()), (StatusCode::OK, Some("registered")), "{body}");
    assert!(stored.contains_key("pinCiphertext"), "{:?}", stored.keys().collect::<Vec<_>>());
    assert!(h.sandbox().is_registered(phone));
}

/// A number with a PIN of its own that only the person knows is not guessed at again when it
/// is connected again: that would only spend one of Meta's ten attempts.
#[tokio::test]
async fn reconnecting_a_number_that_needs_its_own_pin_spends_no_attempt() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let phone = seed::ACME_SUPPORT_PHONES[1];
    for connection in ["first", "again"] {
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        let (status, body) = h.save(&owner, &org, &state, SUPPORT, phone).await;
        assert_eq!(
            (status, body["data"]["registration"].as_str()),
            (StatusCode::OK, Some("pin_required")),
            "{connection}: {body}"
        );
    }
    assert_eq!(h.sandbox().registration_attempts(phone), 1, "only the first connection asked Meta");
    assert_eq!(h.sandbox().calls("/register"), 1);
}
