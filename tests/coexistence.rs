//! Coexistence end to end, on both backends: a business that keeps its WhatsApp Business
//! app connects its number through Embedded Signup's app flow; the service asks Meta once
//! each, right after, for the app's contacts and chat history; Meta's `smb_app_state_sync`,
//! `history` and `smb_message_echoes` webhooks fill the contacts and the inbox, each message
//! stored once whatever field (or redelivery) brings it; a change of device offboards the
//! number until Meta reconnects it, with nothing for anyone to do.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::outage::Outage;
use support::{Backend, Harness};
use waba_connect::sandbox::seed::{self, ACME_CAFE_PHONE, ACME_CAFE_WABA, CAFE_CONTACTS, CAFE_HISTORY};

const ONE_SHOT: &str = "/api/integrations/whatsapp/oauth";

/// Connects the café's WhatsApp Business app number through Embedded Signup's app flow.
async fn connect_cafe(h: &Harness, owner: &str, name: &str) -> String {
    let org = h.create_org(owner, name).await;
    let (state, session, code) = h.embedded_signup(owner, &org, &format!("{ACME_CAFE_WABA}:{ACME_CAFE_PHONE}")).await;
    assert_eq!(session["data"], json!({ "waba_id": ACME_CAFE_WABA }), "Meta's event names no number");
    let body = json!({ "code": code, "state": state, "embeddedSignup": session });
    let (status, answer) = h.post(ONE_SHOT, owner, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["phones"][0]["id"], ACME_CAFE_PHONE, "the WABA's app number");
    assert_eq!(answer["phones"][0]["mode"], "coexistence");
    org
}

fn cafe(status: &Value) -> &Value {
    status["phoneNumbers"].as_array().unwrap().iter().find(|p| p["phoneNumberId"] == ACME_CAFE_PHONE).unwrap()
}

/// Waits (at most ten seconds) until the number's syncs read `contacts` and `history`.
async fn until_synced(h: &Harness, owner: &str, org: &str, contacts: &str, history: &str) -> Value {
    for _ in 0..100 {
        let status = h.status(owner, org).await;
        let sync = &cafe(&status)["sync"];
        if sync["contacts"] == contacts && sync["history"] == history {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs: Vec<String> = support::logs()
        .lines()
        .filter(|l| !l.contains("hyper") && !l.contains("aws_") && !l.contains("reqwest"))
        .map(str::to_owned)
        .collect();
    panic!("the syncs did not reach {contacts}/{history}: {}\n{}", cafe(&h.status(owner, org).await), logs.join("\n"));
}

async fn contacts(h: &Harness, owner: &str, org: &str) -> Vec<Value> {
    h.every_page(&format!("/api/v1/organizations/{org}/whatsapp/contacts?limit=2"), owner, "contacts").await
}

async fn the_app_numbers_contacts_and_history_reach_the_inbox(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let owner = h.user("owner-1");
    let org = connect_cafe(&h, &owner, "Café").await;
    let status = until_synced(&h, &owner, &org, "complete", "complete").await;
    assert_eq!(cafe(&status)["registration"], "not_required");
    assert_eq!(cafe(&status)["canSend"], true);
    assert_eq!(h.sandbox().calls("/smb_app_data"), 2, "contacts and history, asked once each");
    assert_eq!(h.sandbox().calls("/register"), 0, "an app number is never registered");

    let listed = contacts(&h, &owner, &org).await;
    let mut names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = CAFE_CONTACTS.iter().map(|(_, name)| *name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);

    let messages = h.messages(&owner, &org).await;
    let history: Vec<&Value> = messages.iter().filter(|m| m["history"] == true).collect();
    let expected_count: usize = CAFE_HISTORY.iter().map(|(_, m)| m.len()).sum();
    assert_eq!(history.len(), expected_count, "{messages:#?}");
    let (customer, chat) = &CAFE_HISTORY[0];
    let answer = history.iter().find(|m| m["text"] == chat[1].1).expect("the business's own answer");
    assert_eq!((answer["direction"].as_str(), answer["to"].as_str()), (Some("outbound"), Some(*customer)));
    let question = history.iter().find(|m| m["text"] == chat[0].1).expect("the customer's question");
    assert_eq!((question["direction"].as_str(), question["from"].as_str()), (Some("inbound"), Some(*customer)));
    let at = |m: &Value| m["timestamp"].as_str().unwrap().to_owned();
    assert!(at(question) < at(answer), "each keeps its own time");

    // The business writes from the app: an outbound message marked as the app's.
    let echo = h
        .control("echo", json!({ "phoneNumberId": ACME_CAFE_PHONE, "to": "16505551234", "text": "Table ready!" }))
        .await;
    let messages = h.messages(&owner, &org).await;
    let echoed = messages.iter().find(|m| m["messageId"] == echo["messageId"]).expect("the echo is in the inbox");
    assert_eq!(
        (echoed["direction"].as_str(), echoed["source"].as_str(), echoed["to"].as_str()),
        (Some("outbound"), Some("business_app"), Some("16505551234"))
    );

    // Every webhook again (Meta redelivers), and the echo again as a history message: nothing
    // is stored twice, and no sync is asked for again.
    let before = h.messages(&owner, &org).await.len();
    for body in h.sandbox().webhook_bodies() {
        assert_eq!(h.webhook(&body, None).await.0, StatusCode::OK);
    }
    let replayed = json!({ "object": "whatsapp_business_account", "entry": [{ "id": ACME_CAFE_WABA, "changes": [{
        "field": "history", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550100005", "phone_number_id": ACME_CAFE_PHONE },
            "history": [{ "metadata": { "phase": 0, "chunk_order": 9, "progress": 100 }, "threads": [{ "id": "16505551234",
                "messages": [{ "from": "15550100005", "to": "16505551234", "id": echo["messageId"], "timestamp": "1795000000",
                    "type": "text", "text": { "body": "Table ready!" }, "history_context": { "status": "READ" } }] }] }] } }] }] });
    let (status, outcome) = h.webhook(replayed.to_string().as_bytes(), None).await;
    assert_eq!((status, outcome["outcome"]["stored"].as_u64()), (StatusCode::OK, Some(0)), "{outcome}");
    assert_eq!(h.messages(&owner, &org).await.len(), before);
    assert_eq!(contacts(&h, &owner, &org).await.len(), CAFE_CONTACTS.len());
    assert_eq!(h.sandbox().calls("/smb_app_data"), 2);

    // A contact removed in the app leaves the list; an older change arriving late does not
    // bring it back.
    let (removed, _) = CAFE_CONTACTS[0];
    h.control(
        "contacts",
        json!({ "phoneNumberId": ACME_CAFE_PHONE, "contacts": [{ "phone": removed, "action": "remove" }] }),
    )
    .await;
    let stale = json!({ "object": "whatsapp_business_account", "entry": [{ "id": ACME_CAFE_WABA, "changes": [{
        "field": "smb_app_state_sync", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550100005", "phone_number_id": ACME_CAFE_PHONE },
            "state_sync": [{ "type": "contact", "contact": { "full_name": "Old Name", "phone_number": removed },
                "action": "add", "metadata": { "timestamp": "1000000000" } }] } }] }] });
    assert_eq!(h.webhook(stale.to_string().as_bytes(), None).await.0, StatusCode::OK);
    let listed = contacts(&h, &owner, &org).await;
    assert_eq!(listed.len(), CAFE_CONTACTS.len() - 1);
    assert!(listed.iter().all(|c| c["phone"] != removed));

    // The trail tells the syncs' story, once.
    let events = h.events(&owner, &org).await;
    let syncs: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("sync_"))
        .map(|e| (e["kind"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    for expected in [("sync_contacts", "requested"), ("sync_contacts", "complete"), ("sync_history", "complete")] {
        assert_eq!(syncs.iter().filter(|s| **s == expected).count(), 1, "{expected:?} in {syncs:?}");
    }
    h.assert_no_token_leaked().await;
}

/// `complete` means the history is in the inbox: a chunk whose messages could not be stored
/// (the webhook refused, for Meta to deliver again) leaves the sync where it was.
#[tokio::test]
async fn a_history_not_stored_is_not_complete_until_meta_delivers_it_again() {
    let (store, cipher) = (Outage::default(), Outage::default());
    let h = Harness::start_wrapped(Backend::Embedded, &[], Outage::wrap(&store, &cipher)).await;
    let owner = h.user("owner-1");
    store.begin_batch_writes();
    let org = connect_cafe(&h, &owner, "Café").await;
    // The contacts and both history chunks, each refused.
    for _ in 0..100 {
        if h.sandbox().webhooks_refused() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.sandbox().webhooks_refused(), 3);
    let status = h.status(&owner, &org).await;
    assert_eq!(cafe(&status)["sync"]["history"], "requested", "{}", cafe(&status));
    assert!(h.messages(&owner, &org).await.is_empty());

    store.end();
    for body in h.sandbox().webhook_bodies() {
        assert_eq!(h.webhook(&body, None).await.0, StatusCode::OK);
    }
    until_synced(&h, &owner, &org, "complete", "complete").await;
    let expected: usize = CAFE_HISTORY.iter().map(|(_, m)| m.len()).sum();
    assert_eq!(h.messages(&owner, &org).await.len(), expected);
}

#[tokio::test]
async fn the_app_numbers_contacts_and_history_reach_the_inbox_on_the_embedded_store() {
    the_app_numbers_contacts_and_history_reach_the_inbox(Backend::Embedded).await;
}

#[tokio::test]
async fn the_app_numbers_contacts_and_history_reach_the_inbox_on_dynamodb() {
    the_app_numbers_contacts_and_history_reach_the_inbox(Backend::Aws).await;
}

#[tokio::test]
async fn two_organizations_sharing_the_app_number_each_get_its_contacts_and_chats() {
    let h = Harness::start(&[]).await;
    let (a, b) = (h.user("owner-a"), h.user("owner-b"));
    let org_a = connect_cafe(&h, &a, "Café A").await;
    until_synced(&h, &a, &org_a, "complete", "complete").await;
    // The second onboarding is a new one to Meta: it allows its own syncs.
    let org_b = connect_cafe(&h, &b, "Café B").await;
    until_synced(&h, &b, &org_b, "complete", "complete").await;
    let echo = h
        .control("echo", json!({ "phoneNumberId": ACME_CAFE_PHONE, "to": "16505559876", "text": "Both see this" }))
        .await;
    for (owner, org) in [(&a, &org_a), (&b, &org_b)] {
        assert_eq!(contacts(&h, owner, org).await.len(), CAFE_CONTACTS.len());
        let messages = h.messages(owner, org).await;
        assert_eq!(messages.iter().filter(|m| m["messageId"] == echo["messageId"]).count(), 1);
    }
    let (status, body) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/contacts"), &b).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "another owner's contacts");
}

#[tokio::test]
async fn a_business_that_does_not_share_its_history_shows_it_declined() {
    let h = Harness::start(&[]).await;
    h.control("history-sharing", json!({ "phoneNumberId": ACME_CAFE_PHONE, "shared": false })).await;
    let owner = h.user("owner-1");
    let org = connect_cafe(&h, &owner, "Café").await;
    let status = until_synced(&h, &owner, &org, "complete", "declined").await;
    assert_eq!(cafe(&status)["canSend"], true, "the connection works without its history");
    assert!(h.messages(&owner, &org).await.iter().all(|m| m["history"] == false));
}

#[tokio::test]
async fn a_sync_meta_did_not_take_is_asked_again_by_the_sweep_and_a_late_one_fails() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        // Meta's app-wide rate limit on the first request: Meta did not take it.
        h.sandbox().inject_faults_on("/smb_app_data", waba_connect::sandbox::Fault::RateLimited, 1);
        let owner = h.user("owner-1");
        let org = connect_cafe(&h, &owner, "Café").await;
        for _ in 0..100 {
            if h.sandbox().calls("/smb_app_data") > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = until_synced(&h, &owner, &org, "not_requested", "not_requested").await;
        assert_eq!(h.sandbox().calls("/smb_app_data"), 1, "{backend:?}: no retry loop through the stream");
        assert!(cafe(&status).get("action").is_none() || cafe(&status)["action"].is_null());
        h.sweep().await;
        until_synced(&h, &owner, &org, "complete", "complete").await;
        assert_eq!(h.sandbox().calls("/smb_app_data"), 3, "{backend:?}");
    }
    // A server error: Meta may have taken it, so it is not asked again; past 24 hours the
    // other sync fails without asking.
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    h.sandbox().inject_faults_on("/smb_app_data", waba_connect::sandbox::Fault::ServerError, 1);
    h.sandbox().inject_faults_on("/smb_app_data", waba_connect::sandbox::Fault::RateLimited, 1);
    let owner = h.user("owner-1");
    let org = connect_cafe(&h, &owner, "Café").await;
    for _ in 0..100 {
        if h.sandbox().calls("/smb_app_data") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_synced(&h, &owner, &org, "failed", "not_requested").await;
    let connected = h.stack.app().records.phones(&org.parse().unwrap()).await.unwrap();
    let mut phone = connected.into_iter().next().unwrap();
    // As if the onboarding were a day old.
    phone.verified_at = shared::clock::Timestamp(phone.verified_at.0 - 24 * 3600);
    let ops = vec![shared::store::WriteOp::Put { item: shared::store::records::phone_item(&phone), condition: None }];
    h.stack.app().records.store().write(ops).await.unwrap();
    let calls = h.sandbox().calls("/smb_app_data");
    h.sweep().await;
    let status = until_synced(&h, &owner, &org, "failed", "failed").await;
    assert_eq!(h.sandbox().calls("/smb_app_data"), calls, "nothing is asked outside Meta's 24 hours");
    assert!(cafe(&status)["sync"]["historyReason"].as_str().unwrap().contains("24 hours"));
    assert!(status["action"].as_str().unwrap().contains("connect again"), "{status}");
}

#[tokio::test]
async fn a_change_of_device_keeps_the_connection_and_meta_reconnects_it() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = connect_cafe(&h, &owner, "Café").await;
        let send = json!({ "to": "16505551234", "text": "Hello" });
        let messages = format!("/api/v1/organizations/{org}/whatsapp/messages");
        assert_eq!(h.post(&messages, &owner, send.clone()).await.0, StatusCode::OK);

        let answer = h.control("offboard", json!({ "wabaId": ACME_CAFE_WABA })).await;
        assert_eq!(answer["webhookStatus"], 200);
        let status = h.status(&owner, &org).await;
        let phone = cafe(&status);
        assert_eq!(
            (phone["isActive"].as_bool(), phone["health"].as_str()),
            (Some(true), Some("restricted")),
            "{backend:?}"
        );
        assert_eq!(phone["healthReasons"][0]["code"], "ACCOUNT_OFFBOARDED");
        assert_eq!(phone["canSend"], false);
        let sent_before = h.sandbox().sent_messages().len();
        let (status, refused) = h.post(&messages, &owner, send.clone()).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("phone_restricted")));
        assert_eq!(h.sandbox().sent_messages().len(), sent_before, "Meta is not asked");

        h.control("reconnect", json!({ "wabaId": ACME_CAFE_WABA })).await;
        let status = h.status(&owner, &org).await;
        assert_eq!((cafe(&status)["health"].as_str(), cafe(&status)["canSend"].as_bool()), (Some("ok"), Some(true)));
        assert_eq!(h.post(&messages, &owner, send).await.0, StatusCode::OK, "{backend:?}: working, with nothing done");
        let kinds: Vec<String> =
            h.events(&owner, &org).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
        let disconnected = h.events(&owner, &org).await.iter().any(|e| e["kind"] == "is_active" && e["to"] == "false");
        assert!(!disconnected, "never disconnected: {kinds:?}");
        h.assert_no_token_leaked().await;
    }
}

#[tokio::test]
async fn a_coexistence_event_for_a_number_not_on_the_app_does_not_skip_registration() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let (state, mut session, code) =
            h.embedded_signup(&owner, &org, &format!("{}:{}", seed::ACME_SALES_WABA, seed::ACME_SALES_PHONE)).await;
        // A page (or an attacker) claims the business app flow for a Cloud API number.
        session["event"] = json!("FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING");
        let (status, answer) =
            h.post(ONE_SHOT, &owner, json!({ "code": code, "state": state, "embeddedSignup": session })).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {answer}");
        let phone = &answer["phones"][0];
        let shown = (phone["mode"].as_str(), phone["registration"].as_str(), phone["canSend"].as_bool());
        assert_eq!(shown, (Some("cloud_api"), Some("registered"), Some(true)), "{backend:?}");
        assert!(h.sandbox().is_registered(seed::ACME_SALES_PHONE), "{backend:?}: registered as Graph says it must be");
    }
}

#[tokio::test]
async fn the_app_flow_is_asked_for_by_feature_type_and_nothing_else() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Café").await;
    let path = format!("/api/v1/organizations/{org}/whatsapp/init-oauth");
    let (status, init) = h.get(&format!("{path}?featureType=whatsapp_business_app_onboarding"), &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        init["embeddedSignup"]["extras"],
        json!({ "setup": {}, "featureType": "whatsapp_business_app_onboarding" })
    );
    assert!(init["authUrl"].as_str().unwrap().contains("whatsapp_business_app_onboarding"), "the dialog too");
    let (status, refused) = h.get(&format!("{path}?featureType=app_only_install"), &owner).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")));
}

/// A media message in the app's history first arrives as Meta's `media_placeholder`; the
/// message with its media follows under the same id, in the `history` field's `messages`,
/// and takes the placeholder's place. Neither a redelivered placeholder nor the message
/// again changes it after that.
#[tokio::test]
async fn a_history_placeholder_gives_way_to_its_media_and_never_comes_back() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = connect_cafe(&h, &owner, "Café").await;
    until_synced(&h, &owner, &org, "complete", "complete").await;
    let id = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
    let history = |value: Value| {
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": ACME_CAFE_WABA, "changes": [{ "field": "history",
            "value": value.as_object().unwrap().clone().into_iter().chain([
                ("messaging_product".to_owned(), json!("whatsapp")),
                ("metadata".to_owned(), json!({ "display_phone_number": "15550100005", "phone_number_id": ACME_CAFE_PHONE })),
            ]).collect::<serde_json::Map<_, _>>() }] }] })
        .to_string()
    };
    let placeholder = history(json!({ "history": [{ "metadata": { "phase": 0, "chunk_order": 7, "progress": 100 },
        "threads": [{ "id": "16505551234", "messages": [{ "from": "16505551234", "id": id, "timestamp": "1795000100",
            "type": "media_placeholder", "history_context": { "status": "READ" } }] }] }] }));
    let media = history(
        json!({ "messages": [{ "from": "16505551234", "id": id, "timestamp": "1795000100", "type": "image",
        "image": { "id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "HgKyNeSgKhh3Pq3h2GBYfkZk0ZdKZ3fBHwQHs9KsE2Y=" },
        "history_context": { "status": "READ" } }] }),
    );
    let stored = |body: String| {
        let h = &h;
        async move {
            let (status, outcome) = h.webhook(body.as_bytes(), None).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
            outcome["outcome"]["stored"].as_u64().unwrap()
        }
    };
    let listed =
        |messages: Vec<Value>| -> Vec<Value> { messages.into_iter().filter(|m| m["messageId"] == id).collect() };

    assert_eq!(stored(placeholder.clone()).await, 1);
    assert_eq!(stored(placeholder.clone()).await, 0, "a placeholder redelivered before its media is kept once");
    let shown = listed(h.messages(&owner, &org).await);
    assert_eq!((shown.len(), shown[0]["type"].as_str()), (1, Some("media_placeholder")), "{shown:?}");
    assert_eq!(stored(media.clone()).await, 1, "the media takes the placeholder's place");
    let shown = listed(h.messages(&owner, &org).await);
    assert_eq!((shown.len(), shown[0]["type"].as_str()), (1, Some("image")), "{shown:?}");
    assert_eq!(stored(placeholder).await, 0, "a redelivered placeholder changes nothing");
    assert_eq!(stored(media).await, 0, "nor the media again");
    let shown = listed(h.messages(&owner, &org).await);
    assert_eq!((shown.len(), shown[0]["type"].as_str()), (1, Some("image")), "{shown:?}");
}
