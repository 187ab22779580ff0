//! The redirect dialog's flow over HTTP against the local stack and its strict Meta sandbox,
//! with both kinds of token, and what every step refuses.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, CALLBACK_PATH, EMPTY, Harness, SALES, SUPPORT};
use waba_connect::sandbox::{Fault, seed};

/// Which kind of token the redirect dialog yields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialog {
    /// A Login for Business configuration (`META_CONFIG_ID`, the sandbox's by default):
    /// a business token that never expires, kept as issued.
    Configuration,
    /// `scope=` (no configuration): a person's short-lived token, exchanged once for a
    /// long-lived one.
    Scope,
}

fn settings(dialog: Dialog) -> &'static [(&'static str, &'static str)] {
    match dialog {
        Dialog::Configuration => &[],
        Dialog::Scope => &[("META_CONFIG_ID", "")],
    }
}

/// Create → init → consent → callback (twice) → accounts → phone numbers → save (and
/// registration) → status → replay refused → disconnect, asserting what each step promises.
async fn walk_the_flow(h: &Harness, dialog: Dialog) {
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;

    let (state, auth_url) = h.init(&owner, &org).await;
    assert!(state.len() >= 43, "at least 256 bits, URL-safe");
    let url = url::Url::parse(&auth_url).unwrap();
    assert!(url.path().ends_with("/v26.0/dialog/oauth"), "the default Graph version is v26.0");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["redirect_uri"], h.url(CALLBACK_PATH));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["state"], state);
    match dialog {
        Dialog::Configuration => {
            assert_eq!(query["config_id"], seed::CONFIG_ID);
            assert_eq!(query["override_default_response_type"], "true");
            assert!(!query.contains_key("scope"));
        }
        Dialog::Scope => {
            assert_eq!(query["scope"], "whatsapp_business_management,whatsapp_business_messaging,business_management");
            assert!(!query.contains_key("config_id"));
        }
    }

    let location = h.consent(&auth_url, &[SUPPORT, SALES], "allow", true).await;
    // The browser's arrival: a redirect to the frontend carrying a new state.
    let (status, redirect, _) = h.text_of(h.browse(&location, false).await).await;
    assert_eq!(status, StatusCode::FOUND);
    let redirect = url::Url::parse(&redirect.unwrap()).unwrap();
    let handed_back = redirect.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    assert_ne!(handed_back, state, "the callback hands back a new state");
    assert!(handed_back.len() >= 43);
    let exchanges = h.sandbox().calls("/oauth/access_token");
    match dialog {
        Dialog::Configuration => assert_eq!(exchanges, 1, "a business token is kept as issued"),
        Dialog::Scope => assert_eq!(exchanges, 2, "the code, then the short-lived user token for a long-lived one"),
    }
    assert!(h.sandbox().calls("/debug_token") >= 1, "debug_token decides what follows the exchange");

    // A second hit of the same callback repeats the answer without a second exchange.
    let (status, body) = h.callback_json(&location).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], handed_back.as_str());
    assert_eq!(h.sandbox().calls("/oauth/access_token"), exchanges);

    // The state init-oauth issued no longer continues the flow; only the one handed back.
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_state")), "{body}");
    let state = handed_back;
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["wabaOptions"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![SUPPORT, SALES]);
    assert_eq!(body["wabaOptions"][0]["name"], "Acme Support");
    assert!(body["wabaOptions"][0]["timezone_id"].is_string());

    let (status, body) =
        h.get(&format!("/api/v1/organizations/whatsapp/phone-numbers?state={state}&wabaId={SUPPORT}"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let phones: Vec<&str> =
        body["phoneOptions"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(phones, seed::ACME_SUPPORT_PHONES.to_vec(), "all pages followed (the sandbox pages by 2)");
    assert!(body["phoneOptions"][0]["displayPhoneNumber"].is_string());
    assert_eq!(body["phoneOptions"][0]["registered"], false);
    assert_eq!(body["phoneOptions"][2]["registered"], true);

    let (status, body) =
        h.get(&format!("/api/v1/organizations/whatsapp/phone-numbers?state={state}&wabaId={EMPTY}"), &owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a WABA that was not granted: {body}");

    // A number that is not on Cloud API yet: saving registers it.
    let chosen = seed::ACME_SUPPORT_PHONES[0];
    assert!(!h.sandbox().is_registered(chosen));
    let (status, body) = h.save(&owner, &org, &state, SUPPORT, chosen).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["whatsappPhoneId"], chosen);
    assert_eq!(body["data"]["whatsappBusinessId"], SUPPORT);
    assert_eq!(body["data"]["isActive"], true);
    assert_eq!(body["data"]["registration"], "registered");
    assert_eq!(body["data"]["canSend"], true);
    assert!(body["data"].get("whatsappToken").is_none());
    assert!(h.sandbox().is_subscribed(SUPPORT));
    assert!(h.sandbox().is_registered(chosen), "registered at Meta");
    assert_eq!(h.sandbox().registration_attempts(chosen), 1);

    let status_body = h.status(&owner, &org).await;
    assert_eq!(status_body["connected"], true);
    assert_eq!(status_body["canSend"], true);
    assert_eq!(status_body["wabaId"], SUPPORT);
    let phone = &status_body["phoneNumbers"][0];
    assert_eq!(phone["phoneNumberId"], chosen);
    assert_eq!(phone["registration"], "registered");
    assert_eq!(phone["mode"], "cloud_api");
    for field in ["id", "displayPhone", "isActive", "qualityRating", "verifiedAt", "createdAt", "canSend", "tokenKind"]
    {
        assert!(phone.get(field).is_some(), "{field}");
    }
    match dialog {
        Dialog::Configuration => {
            assert_eq!(phone["tokenKind"], "business");
            assert_eq!(phone["tokenExpiresAt"], Value::Null, "a business token that never expires");
        }
        Dialog::Scope => {
            assert_eq!(phone["tokenKind"], "user");
            assert!(phone["tokenExpiresAt"].is_string(), "a long-lived user token ends in about 60 days");
        }
    }
    let (_, org_body) = h.get(&format!("/api/v1/organizations/{org}"), &owner).await;
    assert_eq!(org_body["data"]["whatsapp"]["connected"], true);

    // The state is single-use.
    let (status, body) = h.save(&owner, &org, &state, SUPPORT, chosen).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("state_used")));
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("state_used")));

    let (status, body) = h.post(&format!("/api/v1/organizations/{org}/whatsapp/disconnect"), &owner, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status_body = h.status(&owner, &org).await;
    assert_eq!(status_body["connected"], false);
    assert_eq!(status_body["canSend"], false);
    assert_eq!(status_body["wabaId"], Value::Null);
    assert_eq!(status_body["phoneNumbers"][0]["isActive"], false);
    assert!(!h.sandbox().is_subscribed(SUPPORT), "the last connection unsubscribes the app");

    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn the_redirect_dialog_with_a_configuration_on_the_embedded_store() {
    walk_the_flow(&Harness::start(settings(Dialog::Configuration)).await, Dialog::Configuration).await;
}

#[tokio::test]
async fn the_redirect_dialog_with_a_configuration_on_dynamodb_and_kms() {
    walk_the_flow(&Harness::start_on(Backend::Aws, settings(Dialog::Configuration)).await, Dialog::Configuration).await;
}

#[tokio::test]
async fn the_redirect_dialog_with_scopes_on_the_embedded_store() {
    walk_the_flow(&Harness::start(settings(Dialog::Scope)).await, Dialog::Scope).await;
}

#[tokio::test]
async fn the_redirect_dialog_with_scopes_on_dynamodb_and_kms() {
    walk_the_flow(&Harness::start_on(Backend::Aws, settings(Dialog::Scope)).await, Dialog::Scope).await;
}

#[tokio::test]
async fn the_one_shot_route_saves_and_registers_every_phone_of_the_waba() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (state, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SALES, SUPPORT], "allow", true).await;
    // A frontend that receives the redirect dialog's code itself and posts it.
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();

    let (status, body) = h
        .post("/api/integrations/whatsapp/oauth", &owner, json!({ "code": code, "state": state, "wabaId": EMPTY }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a WABA that was not granted: {body}");
    // The same code again: it was exchanged once, and its token waits for the retry.
    let (status, body) =
        h.post("/api/integrations/whatsapp/oauth", &owner, json!({ "code": code, "state": state })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phoneCount"], 3, "the most recently granted WABA (Acme Support) and all its phones");
    let ids: Vec<&str> = body["phones"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, seed::ACME_SUPPORT_PHONES.to_vec());
    let registrations: Vec<&str> =
        body["phones"].as_array().unwrap().iter().map(|p| p["registration"].as_str().unwrap()).collect();
    assert_eq!(registrations, ["registered", "pin_required", "registered"], "{body}");
    assert_eq!(h.sandbox().registration_attempts(seed::ACME_SUPPORT_PHONES[2]), 0, "already on Cloud API: no call");
    assert_eq!(h.sandbox().calls("/oauth/access_token"), 1, "the code was exchanged once across both calls");

    let (_, status_body) = h.get("/api/integrations/whatsapp/status", &owner).await;
    assert_eq!(status_body["connected"], true);
    assert_eq!(status_body["canSend"], true);
    assert!(status_body["action"].as_str().unwrap().contains("two-step verification PIN"), "{status_body}");
    assert_eq!(status_body["phoneNumbers"].as_array().unwrap().len(), 3);

    let (status, body) =
        h.post("/api/integrations/whatsapp/oauth", &owner, json!({ "code": code, "state": state })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("state_used")));

    let (status, _) = h.post("/api/integrations/whatsapp/disconnect", &owner, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, status_body) = h.get("/api/integrations/whatsapp/status", &owner).await;
    assert_eq!(status_body["connected"], false);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn the_one_shot_route_reuses_a_state_the_callback_authorized() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (state, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SALES], "allow", true).await;
    let (status, _) = h.callback_json(&location).await;
    assert_eq!(status, StatusCode::OK);
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let (status, body) = h
        .post("/api/integrations/whatsapp/oauth", &owner, json!({ "code": code, "state": state, "wabaId": SALES }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phones"][0]["id"], seed::ACME_SALES_PHONE);
    assert_eq!(h.sandbox().calls("/oauth/access_token"), 1, "no second exchange of the same code");
}

#[tokio::test]
async fn an_expired_state_is_refused_while_its_item_still_exists() {
    let h = Harness::start(&[("OAUTH_STATE_TTL_SECONDS", "1")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (state, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SUPPORT], "allow", true).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let key = state.parse::<shared::domain::StateToken>().unwrap().key();
    assert!(h.stack.app().records.state(&key).await.unwrap().is_some(), "the item is still stored");

    let (status, body) = h.callback_json(&location).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("state_expired")), "{body}");
    assert_eq!(h.sandbox().calls("/oauth/access_token"), 0, "an expired state never reaches Meta");
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("state_expired")));
    let (status, redirect, _) = h.text_of(h.browse(&location, false).await).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(redirect.unwrap().contains("error=state_expired"));
}

#[tokio::test]
async fn a_state_expiring_between_steps_cannot_be_saved() {
    let h = Harness::start(&[("OAUTH_STATE_TTL_SECONDS", "2")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let state = h.authorized_state(&owner, &org, &[SALES]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = h.save(&owner, &org, &state, SALES, seed::ACME_SALES_PHONE).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("state_expired")));
    assert_eq!(h.status(&owner, &org).await["connected"], false, "nothing was written");
}

#[tokio::test]
async fn cross_organization_attempts_are_refused() {
    let h = Harness::start(&[]).await;
    let alice = h.user("alice");
    let mallory = h.user("mallory");
    let alice_org = h.create_org(&alice, "Alice Co").await;
    let alice_other = h.create_org(&alice, "Alice Two").await;
    let mallory_org = h.create_org(&mallory, "Mallory Co").await;
    let alice_state = h.authorized_state(&alice, &alice_org, &[SUPPORT]).await;

    let forbidden = [
        h.get(&format!("/api/v1/organizations/{alice_org}"), &mallory).await,
        h.call("PUT", &format!("/api/v1/organizations/{alice_org}"), Some(&mallory), Some(json!({"name": "x"}))).await,
        h.call("PUT", &format!("/api/v1/organizations/{alice_org}/settings"), Some(&mallory), Some(json!({}))).await,
        h.call("PUT", &format!("/api/v1/organizations/{alice_org}/agent-settings"), Some(&mallory), Some(json!({})))
            .await,
        h.get(&format!("/api/v1/organizations/{alice_org}/whatsapp/init-oauth"), &mallory).await,
        h.get(&format!("/api/v1/organizations/{alice_org}/whatsapp/status"), &mallory).await,
        h.post(&format!("/api/v1/organizations/{alice_org}/whatsapp/disconnect"), &mallory, json!({})).await,
        h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={alice_state}"), &mallory).await,
        h.get(&format!("/api/v1/organizations/whatsapp/phone-numbers?state={alice_state}&wabaId={SUPPORT}"), &mallory)
            .await,
        h.save(&mallory, &mallory_org, &alice_state, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await,
        h.save(&mallory, &alice_org, &alice_state, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await,
        h.post("/api/integrations/whatsapp/oauth", &mallory, json!({"code": "x", "state": alice_state})).await,
        // Alice's own state, but issued for her other organization.
        h.save(&alice, &alice_other, &alice_state, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await,
        // A claim naming someone else's organization.
        h.get("/api/integrations/whatsapp/status", &h.user_with_org_claim("mallory", &alice_org)).await,
    ];
    for (i, (status, body)) in forbidden.iter().enumerate() {
        assert_eq!(*status, StatusCode::FORBIDDEN, "attempt {i}: {body}");
        assert_eq!(body["code"], "forbidden", "attempt {i}");
    }
    let (status, body) = h.get("/api/v1/organizations/org_doesnotexist", &mallory).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Nothing was changed by any of it: Alice can still finish her own flow.
    assert_eq!(h.status(&mallory, &mallory_org).await["connected"], false);
    let (status, body) = h.save(&alice, &alice_org, &alice_state, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn concurrent_save_configs_on_one_state_have_exactly_one_winner() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        let (a, b) = tokio::join!(
            h.save(&owner, &org, &state, SUPPORT, seed::ACME_SUPPORT_PHONES[0]),
            h.save(&owner, &org, &state, SUPPORT, seed::ACME_SUPPORT_PHONES[1]),
        );
        let statuses = [a.0, b.0];
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{backend:?}: {a:?} {b:?}");
        let loser = if a.0 == StatusCode::OK { &b } else { &a };
        assert_eq!(loser.0, StatusCode::CONFLICT, "{loser:?}");
        let winner_phone = if a.0 == StatusCode::OK { &a.1 } else { &b.1 }["data"]["whatsappPhoneId"].clone();
        let status = h.status(&owner, &org).await;
        let phones = status["phoneNumbers"].as_array().unwrap();
        assert_eq!(phones.len(), 1, "the loser wrote nothing: {status}");
        assert_eq!(phones[0]["phoneNumberId"], winner_phone);
    }
}

#[tokio::test]
async fn meta_denials_and_bad_codes_get_clear_answers() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (state, auth_url) = h.init(&owner, &org).await;

    let denied = h.consent(&auth_url, &[SUPPORT], "deny", true).await;
    assert!(denied.contains("error=access_denied"));
    let (status, redirect, _) = h.text_of(h.browse(&denied, false).await).await;
    assert_eq!(status, StatusCode::FOUND);
    let redirect = redirect.unwrap();
    assert!(redirect.starts_with(&h.url("/")) && redirect.contains("error=access_denied"), "{redirect}");
    let (status, body) = h.callback_json(&denied).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("access_denied")));

    // The person may try again with the same state after declining.
    let location = h.consent(&auth_url, &[SUPPORT], "allow", true).await;
    let forged = location.replace("code=", "code=forged");
    let (status, body) = h.callback_json(&forged).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_code")), "{body}");
    let (status, body) = h.callback_json(&location).await;
    assert_eq!(status, StatusCode::OK, "the real code still works once: {body}");

    let (status, body) =
        h.callback_json(&h.url(&format!("{CALLBACK_PATH}?code=abc&state=not-a-real-state-value-at-all-0000"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_state")));
    let (status, body) = h.callback_json(&h.url(&format!("{CALLBACK_PATH}?state={state}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn grants_without_granular_scopes_fall_back_to_business_discovery() {
    // A person's business-wide grant (user token): the WABAs of their businesses.
    let h = Harness::start(settings(Dialog::Scope)).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SUPPORT, EMPTY], "allow", false).await;
    let (status, body) = h.callback_json(&location).await;
    assert_eq!(status, StatusCode::OK);
    let state = body["state"].as_str().unwrap().to_owned();
    assert!(h.sandbox().calls("/me/businesses") >= 1);
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids: Vec<&str> =
        body["wabaOptions"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected = vec![SUPPORT, EMPTY];
    expected.sort();
    assert_eq!(ids, expected);
    let (status, body) =
        h.get(&format!("/api/v1/organizations/whatsapp/phone-numbers?state={state}&wabaId={EMPTY}"), &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("no_phone_numbers")));
}

#[tokio::test]
async fn a_grant_without_wabas_is_no_waba_found() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let state = h.authorized_state(&owner, &org, &[]).await;
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("no_waba_found")), "{body}");
}

#[tokio::test]
async fn meta_faults_are_retried_then_reported() {
    let h = Harness::start(&[("META_TIMEOUT_MS", "500")]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    let accounts = format!("/api/v1/organizations/whatsapp/accounts?state={state}");

    h.sandbox().inject_faults(Fault::ServerError, 2);
    let (status, body) = h.get(&accounts, &owner).await;
    assert_eq!(status, StatusCode::OK, "two transient failures are absorbed: {body}");

    h.sandbox().inject_faults(Fault::RateLimited, 3);
    let (status, body) = h.get(&accounts, &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("meta_unavailable")));

    h.sandbox().inject_faults(Fault::Timeout(std::time::Duration::from_secs(2)), 3);
    let (status, body) = h.get(&accounts, &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("meta_unavailable")));

    let (status, _) = h.get(&accounts, &owner).await;
    assert_eq!(status, StatusCode::OK, "and the flow goes on once Meta recovers");
}

/// Meta's error text is passed on (answers, the trail, logs) only without the request's
/// secrets: a Graph that repeats its request's code, client secret, token, proof and PIN.
#[tokio::test]
async fn graph_errors_that_repeat_secrets_are_passed_on_without_them() {
    let h = Harness::start(&[]).await;
    h.never_to_be_seen(waba_connect::stack::LOCAL_APP_SECRET);
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;

    let (_, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SUPPORT], "allow", true).await;
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    h.never_to_be_seen(&code);
    h.sandbox().inject_faults_on("oauth/access_token", Fault::EchoingError, 1);
    let (status, body) = h.callback_json(&location).await;
    assert!(!status.is_success(), "{status} {body}");
    assert!(body.to_string().contains("[redacted]") || !body.to_string().contains("Invalid parameter"), "{body}");

    // A registration Meta refuses with the PIN in its text: the trail keeps the reason.
    h.sandbox().inject_faults_on("/register", Fault::EchoingError, 1);
    h.connect(&owner, &org, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await;
    let events = h.events(&owner, &org).await;
    assert!(events.iter().any(|e| e.to_string().contains("[redacted]")), "the refusal is kept, redacted: {events:?}");
    // A send with the stored token.
    h.sandbox().inject_faults_on("/messages", Fault::EchoingError, 1);
    let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
    let (status, body) = h.post(&path, &owner, json!({ "to": "16315551234", "text": "hi" })).await;
    assert!(status.is_client_error(), "{status} {body}");
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn connecting_another_waba_retires_the_previous_phones_and_unsubscribes_the_old_waba() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let first = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    assert_eq!(h.save(&owner, &org, &first, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await.0, StatusCode::OK);
    let second = h.authorized_state(&owner, &org, &[SALES]).await;
    assert_eq!(h.save(&owner, &org, &second, SALES, seed::ACME_SALES_PHONE).await.0, StatusCode::OK);

    let status = h.status(&owner, &org).await;
    assert_eq!(status["wabaId"], SALES);
    let phones = status["phoneNumbers"].as_array().unwrap();
    assert_eq!(phones.len(), 2, "both numbers are kept, one of each WABA: {status}");
    for phone in phones {
        let active = phone["isActive"].as_bool().unwrap();
        assert_eq!(active, phone["wabaId"] == SALES, "only phones of the referenced WABA are active: {phone}");
    }
    assert!(!h.sandbox().is_subscribed(SUPPORT), "the WABA left behind is unsubscribed, as a disconnect does");
    assert!(h.sandbox().is_subscribed(SALES));

    // Moving back while another organization uses the WABA it leaves keeps that one subscribed.
    let other = h.user("owner-2");
    let other_org = h.create_org(&other, "Other").await;
    let state = h.authorized_state(&other, &other_org, &[SALES]).await;
    assert_eq!(h.save(&other, &other_org, &state, SALES, seed::ACME_SALES_PHONE).await.0, StatusCode::OK);
    let third = h.authorized_state(&owner, &org, &[SUPPORT]).await;
    assert_eq!(h.save(&owner, &org, &third, SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await.0, StatusCode::OK);
    assert!(h.sandbox().is_subscribed(SUPPORT) && h.sandbox().is_subscribed(SALES), "Other still uses SALES");
}

#[tokio::test]
async fn a_shared_waba_stays_subscribed_until_its_last_organization_leaves() {
    let h = Harness::start(&[]).await;
    let a = h.user("owner-a");
    let b = h.user("owner-b");
    let org_a = h.create_org(&a, "A").await;
    let org_b = h.create_org(&b, "B").await;
    for (token, org) in [(&a, &org_a), (&b, &org_b)] {
        let state = h.authorized_state(token, org, &[SALES]).await;
        assert_eq!(h.save(token, org, &state, SALES, seed::ACME_SALES_PHONE).await.0, StatusCode::OK);
    }
    assert_eq!(
        h.post(&format!("/api/v1/organizations/{org_a}/whatsapp/disconnect"), &a, json!({})).await.0,
        StatusCode::OK
    );
    assert!(h.sandbox().is_subscribed(SALES), "B still uses the WABA");
    assert_eq!(h.status(&b, &org_b).await["connected"], true);
    assert_eq!(
        h.post(&format!("/api/v1/organizations/{org_b}/whatsapp/disconnect"), &b, json!({})).await.0,
        StatusCode::OK
    );
    assert!(!h.sandbox().is_subscribed(SALES));
}

/// One user owns at most `MAX_ORGANIZATIONS_PER_USER` organizations, however many are
/// created at once; another user is not affected.
#[tokio::test]
async fn a_user_owns_at_most_the_configured_number_of_organizations() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("MAX_ORGANIZATIONS_PER_USER", "3")]).await;
        let owner = h.user("owner-1");
        h.create_org(&owner, "First").await;
        let burst = (0..6).map(|i| h.post("/api/v1/organizations", &owner, json!({ "name": format!("Burst {i}") })));
        let answers = futures_util::future::join_all(burst).await;
        let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
        assert_eq!(created, 2, "{backend:?}: {answers:?}");
        for (status, body) in answers.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
            assert!(
                (*status, body["code"].as_str()) == (StatusCode::UNPROCESSABLE_ENTITY, Some("organization_limit"))
                    || (*status, body["code"].as_str()) == (StatusCode::CONFLICT, Some("conflict")),
                "{backend:?}: {status} {body}"
            );
        }
        let (status, body) = h.post("/api/v1/organizations", &owner, json!({ "name": "One more" })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("organization_limit")));
        let owned = h.stack.app().records.organizations_owned_by(&"owner-1".parse().unwrap()).await.unwrap();
        assert_eq!(owned.len(), 3, "{backend:?}");
        h.create_org(&h.user("owner-2"), "Another's").await;
    }
}

#[tokio::test]
async fn organizations_are_validated_and_updated() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let (status, body) =
        h.post("/api/v1/organizations", &owner, json!({"name": "  Acme  ", "industry": "retail"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["nextStep"], "/onboarding/whatsapp");
    assert_eq!(body["data"]["name"], "Acme");
    assert_eq!(body["data"]["ownerId"], "owner-1");
    let org = body["data"]["id"].as_str().unwrap().to_owned();

    for bad in
        [json!({}), json!({"name": ""}), json!({"name": "x", "whatsappToken": "t"}), json!({"name": 5}), json!([1])]
    {
        let (status, body) = h.post("/api/v1/organizations", &owner, bad.clone()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{bad}");
    }
    let path = format!("/api/v1/organizations/{org}");
    let (status, body) = h
        .call("PUT", &path, Some(&owner), Some(json!({"website": "https://acme.example", "description": "Tools"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["website"], "https://acme.example");
    let (status, _) = h.call("PUT", &path, Some(&owner), Some(json!({"website": "javascript:alert(1)"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) =
        h.call("PUT", &format!("{path}/settings"), Some(&owner), Some(json!({"tone": "friendly"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["settings"]["tone"], "friendly");
    let (status, _) =
        h.call("PUT", &format!("{path}/agent-settings"), Some(&owner), Some(json!(["not", "an", "object"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let big = "x".repeat(20 * 1024);
    let (status, _) =
        h.call("PUT", &format!("{path}/agent-settings"), Some(&owner), Some(json!({ "prompt": big }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = h.get(&path, &owner).await;
    assert_eq!(body["data"]["description"], "Tools");
    assert_eq!(body["data"]["agentSettings"], json!({}));
}

#[tokio::test]
async fn integrations_routes_act_on_the_callers_organization() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let (status, body) = h.get("/api/integrations/whatsapp/status", &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let first = h.create_org(&owner, "One").await;
    let (status, body) = h.get("/api/integrations/whatsapp/status", &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["organizationId"], first);
    let second = h.create_org(&owner, "Two").await;
    let (status, body) = h.get("/api/integrations/whatsapp/status", &owner).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "ambiguous");
    let (status, body) = h.get("/api/integrations/whatsapp/status", &h.user_with_org_claim("owner-1", &second)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["organizationId"], second);
}

#[tokio::test]
async fn requests_without_a_valid_jwt_are_401() {
    let h = Harness::start(&[]).await;
    let expired = waba_connect::auth::sign(&json!({"sub": "x", "exp": 1}), &h.stack.jwt_secret);
    let foreign = waba_connect::auth::token_for("x", serde_json::Map::new(), 60, b"another secret");
    for token in [None, Some("garbage"), Some(expired.as_str()), Some(foreign.as_str())] {
        let (status, body) = h.call("GET", "/api/integrations/whatsapp/status", token, None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    }
    let (status, body) = h.call("GET", "/api/v1/nothing", None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn the_onboarding_page_is_served_with_a_ready_token() {
    let h = Harness::start(&[]).await;
    let page = h.http.get(h.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(&h.stack.demo_token));
    assert!(!html.contains("__DEMO_TOKEN__"));
    let claims =
        waba_connect::auth::verify(&h.stack.demo_token, &h.stack.jwt_secret, shared::clock::Timestamp::now()).unwrap();
    assert_eq!(claims["sub"], "demo-user");
}

#[tokio::test]
async fn two_simultaneous_callbacks_with_one_code_both_succeed() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    let (_, auth_url) = h.init(&owner, &org).await;
    let location = h.consent(&auth_url, &[SALES], "allow", true).await;
    let (a, b) = tokio::join!(h.callback_json(&location), h.callback_json(&location));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    assert_eq!(a.1["state"], b.1["state"], "both are handed back the same state");
    let state = a.1["state"].as_str().unwrap();
    let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.sandbox().issued_tokens().len(), 1, "one business token: the code was redeemed once");
}

#[tokio::test]
async fn a_path_parameter_an_id_cannot_hold_is_refused_whole() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for path in [format!("/api/v1/organizations/{org}&x/settings"), format!("/api/v1/organizations/{org}%26x/settings")]
    {
        let (status, body) = h.call("PUT", &path, Some(&owner), Some(json!({ "tone": "x" }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{path}");
    }
    let (_, body) = h.get(&format!("/api/v1/organizations/{org}"), &owner).await;
    assert_eq!(body["data"]["settings"], json!({}), "nothing landed on the organization");
}

#[tokio::test]
async fn a_jwt_naming_nobody_or_not_yet_valid_is_401() {
    let h = Harness::start(&[]).await;
    let secret = &h.stack.jwt_secret;
    let now = shared::clock::Timestamp::now().seconds();
    let tokens = [
        waba_connect::auth::sign(&json!({ "sub": 42, "exp": now + 60 }), secret),
        waba_connect::auth::sign(&json!({ "sub": ["a"], "exp": now + 60 }), secret),
        waba_connect::auth::sign(&json!({ "exp": now + 60 }), secret),
        waba_connect::auth::sign(&json!({ "sub": "owner-1", "exp": now + 600, "nbf": now + 300 }), secret),
    ];
    for token in &tokens {
        let (status, body) = h.call("GET", "/api/integrations/whatsapp/status", Some(token), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    }
}

#[tokio::test]
async fn a_states_sealed_token_is_erased_once_consumed_or_expired() {
    for backend in [Backend::Embedded, Backend::Aws] {
        // Long enough for a consent and a save on a loaded machine (on moto too), before the
        // second state is left to expire.
        let h = Harness::start_on(backend, &[("OAUTH_STATE_TTL_SECONDS", "5")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let token_of = |state: &str| {
            let key = shared::store::records::state_key(&state.parse::<shared::domain::StateToken>().unwrap().key());
            let store = h.stack.app().records.store().clone();
            async move { store.get(&key).await.unwrap().expect("the item exists").contains_key("tokenCiphertext") }
        };

        let consumed = h.authorized_state(&owner, &org, &[SALES]).await;
        assert!(token_of(&consumed).await, "the authorized state holds the sealed token");
        assert_eq!(h.save(&owner, &org, &consumed, SALES, seed::ACME_SALES_PHONE).await.0, StatusCode::OK);
        assert!(!token_of(&consumed).await, "{backend:?}: consumed, the token is gone");

        let expired = h.authorized_state(&owner, &org, &[SALES]).await;
        tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
        let (status, _) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={expired}"), &owner).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(!token_of(&expired).await, "{backend:?}: expired, the token is erased before DynamoDB's TTL");
    }
}

/// A request whose headers are too large (a 1 MiB cookie) is refused with the contract's
/// JSON error, as every other refusal is; the next connection is served as usual.
#[tokio::test]
async fn oversized_headers_are_refused_with_the_contracts_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start(&[]).await;
    let mut stream = tokio::net::TcpStream::connect(h.stack.addr).await.unwrap();
    let head = format!("GET /openapi.json HTTP/1.1\r\nhost: local\r\ncookie: {}\r\n\r\n", "a".repeat(1024 * 1024));
    let (mut reader, mut writer) = stream.split();
    let (_, answer) = tokio::join!(writer.write_all(head.as_bytes()), async {
        let mut answer = Vec::new();
        reader.read_to_end(&mut answer).await.unwrap();
        answer
    });
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!((body["success"].as_bool(), body["code"].as_str()), (Some(false), Some("validation_error")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("headers"));
    let (status, _) = h.get("/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
}

/// The onboarding page: its scripts are files of its own (no inline script), it is never
/// framed, never sniffed and sends no referrer.
#[tokio::test]
async fn the_onboarding_page_sends_its_security_headers() {
    let h = Harness::start(&[]).await;
    let response = h.browse(&h.url("/"), false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let policy = header("content-security-policy");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.split(';').any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline")), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>") && html.contains("<script src="), "scripts are files, none inline");
}

/// A route asked with a method it does not take answers 405 with the methods it takes in
/// `Allow` (RFC 9110 §15.5.6), and the contract's error.
#[tokio::test]
async fn a_method_a_route_does_not_take_is_answered_with_allow() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for (method, path, allow) in [
        (reqwest::Method::DELETE, format!("/api/v1/organizations/{org}"), "GET, PUT"),
        (reqwest::Method::PUT, format!("/api/v1/organizations/{org}/whatsapp/messages"), "POST, GET"),
    ] {
        let response = h.http.request(method.clone(), h.url(&path)).bearer_auth(&owner).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(response.headers()["allow"].to_str().unwrap(), allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed");
    }
}

/// hyper's own refusals carry the contract's body too: a request that is not HTTP, and a
/// later request of a kept-alive connection whose headers are past hyper's limit.
#[tokio::test]
async fn every_refusal_below_the_routes_is_the_contracts_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start(&[]).await;
    let answer = |raw: Vec<u8>| {
        let address = h.stack.addr;
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let (mut reader, mut writer) = stream.split();
            let (_, answer) = tokio::join!(async { writer.write_all(&raw).await.ok() }, async {
                let mut answer = Vec::new();
                let _ = reader.read_to_end(&mut answer).await;
                answer
            });
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let malformed = answer(b"GET /openapi.json HTTP/1.1\r\nhost local\r\n\r\n".to_vec()).await;
    let big = format!("cookie: {}\r\n", "a".repeat(1024 * 1024));
    let second = answer(
        format!(
            "GET /openapi.json HTTP/1.1\r\nhost: local\r\n\r\nGET /openapi.json HTTP/1.1\r\nhost: local\r\n{big}\r\n"
        )
        .into_bytes(),
    )
    .await;
    let second = &second[second.find("\r\n\r\n{").map_or(0, |i| i + 4)..];
    let second = &second[second.find("HTTP/1.1 ").unwrap_or(0)..];
    for (what, answer, status) in [("malformed", malformed.as_str(), "400"), ("oversized", second, "431")] {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{what}: {answer:.300}"));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {head}");
        let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body:.300}"));
        assert_eq!(
            (body["success"].as_bool(), body["code"].as_str()),
            (Some(false), Some("validation_error")),
            "{what}"
        );
    }
}
