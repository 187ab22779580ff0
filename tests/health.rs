//! Connection health over HTTP, on both backends: every lever of the sandbox, pulled, shows
//! up in `GET …/status` and in the event trail within one webhook or one sweep, with the
//! right `action`; a reconnect repairs; redelivered webhooks change nothing twice; sends
//! that Meta would refuse are refused without asking it; no token leaks.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness};
use waba_connect::sandbox::{Fault, seed};

const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
/// Already registered at the sandbox: it can send as soon as it is connected.
const READY: &str = seed::ACME_SUPPORT_PHONES[2];

async fn send(h: &Harness, token: &str, org: &str) -> (StatusCode, Value) {
    h.post(
        &format!("/api/v1/organizations/{org}/whatsapp/messages"),
        token,
        json!({ "to": "15557654321", "text": "Hello" }),
    )
    .await
}

fn phone<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["phoneNumbers"].as_array().unwrap().iter().find(|p| p["phoneNumberId"] == id).expect("the phone is listed")
}

fn has_event(events: &[Value], kind: &str, to: &str) -> bool {
    events.iter().any(|e| e["kind"] == kind && e["to"] == to)
}

async fn connected(h: &Harness, owner: &str, name: &str, waba: &str, phone: &str) -> String {
    let org = h.create_org(owner, name).await;
    h.connect(owner, &org, waba, phone).await;
    org
}

async fn a_dead_token_is_noticed_refused_and_repaired(h: &Harness) {
    let owner = h.user("owner-1");
    let org = connected(h, &owner, "Acme", SUPPORT, READY).await;
    let (status, sent) = send(h, &owner, &org).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let created = phone(&h.status(&owner, &org).await, READY)["createdAt"].clone();

    h.control("revoke-token", json!({ "wabaId": SUPPORT })).await;
    let (status, refused) = send(h, &owner, &org).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("reauthorization_required")),
        "Meta refused with 190: {refused}"
    );
    let status_body = h.status(&owner, &org).await;
    assert_eq!(status_body["connected"], true);
    assert_eq!(status_body["canSend"], false);
    assert!(status_body["action"].as_str().unwrap().contains("connect WhatsApp again"), "{status_body}");
    let shown = phone(&status_body, READY);
    assert_eq!(shown["health"], "needs_reauthorization");
    assert!(shown["healthReasons"][0]["code"].as_str().unwrap().starts_with("190"), "{shown}");
    let events = h.events(&owner, &org).await;
    assert!(has_event(&events, "health", "needs_reauthorization"), "{events:?}");
    assert!(events.iter().all(|e| e["source"] == "api"), "a refused send is noticed by the API");

    let calls = h.sandbox().calls("/messages");
    let (status, refused) = send(h, &owner, &org).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("reauthorization_required")));
    assert_eq!(h.sandbox().calls("/messages"), calls, "Meta was not asked again");

    // The person connects the same number again: the same PhoneNumber, repaired.
    h.connect(&owner, &org, SUPPORT, READY).await;
    let status_body = h.status(&owner, &org).await;
    let shown = phone(&status_body, READY);
    assert_eq!((shown["health"].as_str(), shown["canSend"].as_bool()), (Some("ok"), Some(true)), "{shown}");
    assert_eq!(shown["createdAt"], created, "the same PhoneNumber");
    assert_eq!(shown["registration"], "registered");
    let sent = h.messages(&owner, &org).await;
    assert_eq!(sent.iter().filter(|m| m["kind"] == "message" && m["direction"] == "outbound").count(), 1);
    assert!(has_event(&h.events(&owner, &org).await, "health", "ok"));
    let (status, _) = send(h, &owner, &org).await;
    assert_eq!(status, StatusCode::OK);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_dead_token_is_noticed_refused_and_repaired_on_the_embedded_store() {
    a_dead_token_is_noticed_refused_and_repaired(&Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await).await;
}

#[tokio::test]
async fn a_dead_token_is_noticed_refused_and_repaired_on_dynamodb_and_kms() {
    let h = Harness::start_on(Backend::Aws, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    a_dead_token_is_noticed_refused_and_repaired(&h).await;
}

async fn account_webhooks_reach_exactly_the_connections_of_their_waba(h: &Harness) {
    let (a, b, c) = (h.user("owner-a"), h.user("owner-b"), h.user("owner-c"));
    let org_a = connected(h, &a, "A", SUPPORT, READY).await;
    let org_b = connected(h, &b, "B", SUPPORT, READY).await;
    let org_c = connected(h, &c, "C", seed::ACME_CAFE_WABA, seed::ACME_CAFE_PHONE).await;

    let ban = h.control("ban", json!({ "wabaId": SUPPORT, "state": "DISABLE" })).await;
    assert_eq!(ban["webhookStatus"], 200);
    for (owner, org) in [(&a, &org_a), (&b, &org_b)] {
        let status = h.status(owner, org).await;
        assert_eq!(phone(&status, READY)["health"], "banned", "{status}");
        assert!(status["action"].as_str().unwrap().contains("review"), "{status}");
        let events = h.events(owner, org).await;
        assert!(has_event(&events, "account_update", "DISABLED_UPDATE"), "{events:?}");
        assert!(has_event(&events, "health", "banned"));
        assert!(events.iter().filter(|e| e["kind"] == "account_update").all(|e| e["source"] == "webhook"));
    }
    let status_c = h.status(&c, &org_c).await;
    assert_eq!(phone(&status_c, seed::ACME_CAFE_PHONE)["health"], "ok", "another WABA's connection is untouched");
    assert!(!has_event(&h.events(&c, &org_c).await, "account_update", "DISABLED_UPDATE"));

    // Meta redelivers: nothing changes twice.
    let trail_before = h.events(&a, &org_a).await.len();
    let delivery = h.sandbox().webhook_bodies().last().unwrap().clone();
    let (status, _) = h.webhook(&delivery, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.events(&a, &org_a).await.len(), trail_before, "a redelivery is recorded once");

    let (status, refused) = send(h, &a, &org_a).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("waba_banned")), "{refused}");

    h.control("ban", json!({ "wabaId": SUPPORT, "state": "REINSTATE" })).await;
    assert_eq!(phone(&h.status(&a, &org_a).await, READY)["health"], "ok");
    h.control("ban", json!({ "wabaId": SUPPORT, "state": "SCHEDULE_FOR_DISABLE", "date": "2026-12-24" })).await;
    let shown = h.status(&b, &org_b).await;
    let shown = phone(&shown, READY);
    assert_eq!(shown["health"], "ok", "a scheduled ban warns");
    assert!(shown["healthReasons"][0]["message"].as_str().unwrap().contains("2026-12-24"), "{shown}");

    let restricted = h.control("restrict", json!({ "wabaId": SUPPORT, "expiresInSeconds": 3600 })).await;
    let shown = h.status(&a, &org_a).await;
    let shown = phone(&shown, READY);
    assert_eq!(shown["health"], "restricted");
    let reason =
        shown["healthReasons"].as_array().unwrap().iter().find(|r| r["code"] == "RESTRICTED_BIZ_INITIATED_MESSAGING");
    let until = reason.expect("the restriction is a reason")["until"].as_str().unwrap();
    assert_eq!(until.replace('Z', "+0000"), restricted["expiration"].as_str().unwrap(), "until Meta's expiration");

    // Quality and limits, in the 2026 shapes.
    h.control(
        "throughput",
        json!({ "phoneNumberId": READY, "event": "THROUGHPUT_UPGRADE", "maxDailyConversationsPerBusiness": "TIER_10K" }),
    )
    .await;
    assert_eq!(phone(&h.status(&a, &org_a).await, READY)["messagingLimit"], "TIER_10K");
    h.control("capability", json!({ "wabaId": SUPPORT, "maxDailyConversationsPerBusiness": "TIER_100K" })).await;
    assert_eq!(phone(&h.status(&b, &org_b).await, READY)["messagingLimit"], "TIER_100K");
    assert_eq!(phone(&h.status(&c, &org_c).await, seed::ACME_CAFE_PHONE)["messagingLimit"], Value::Null);
    assert!(h.events(&b, &org_b).await.iter().any(|e| e["kind"] == "business_capability_update"));

    // The customer removes the app: the connections to that WABA end.
    h.control("account-update", json!({ "wabaId": SUPPORT, "event": "PARTNER_APP_UNINSTALLED" })).await;
    for (owner, org) in [(&a, &org_a), (&b, &org_b)] {
        let status = h.status(owner, org).await;
        assert_eq!(status["connected"], false, "{status}");
        assert_eq!(phone(&status, READY)["health"], "disconnected");
        assert!(has_event(&h.events(owner, org).await, "is_active", "false"));
    }
    assert_eq!(h.status(&c, &org_c).await["connected"], true);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn account_webhooks_reach_exactly_the_connections_of_their_waba_on_the_embedded_store() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    account_webhooks_reach_exactly_the_connections_of_their_waba(&h).await;
}

#[tokio::test]
async fn account_webhooks_reach_exactly_the_connections_of_their_waba_on_dynamodb_and_kms() {
    let h = Harness::start_on(Backend::Aws, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    account_webhooks_reach_exactly_the_connections_of_their_waba(&h).await;
}

async fn the_sweep_notices_what_no_webhook_says(h: &Harness) {
    let owner = h.user("owner-1");
    let org = connected(h, &owner, "Acme", SUPPORT, READY).await;
    let report = h.sweep().await;
    assert_eq!((report.connections_checked, report.changes, report.finished), (1, 0, true), "{report:?}");
    assert!(phone(&h.status(&owner, &org).await, READY)["checkedAt"].is_string());

    // Meta blocks the number: the sweep reads it from `health_status`.
    h.control(
        "number-health",
        json!({ "phoneNumberId": READY, "canSendMessage": "BLOCKED", "errorCode": 141006, "description": "Blocked." }),
    )
    .await;
    let report = h.sweep().await;
    assert_eq!(report.changes, 1, "{report:?}");
    let status = h.status(&owner, &org).await;
    let shown = phone(&status, READY);
    assert_eq!(shown["health"], "restricted");
    assert_eq!(shown["healthReasons"][0]["code"], "141006");
    let events = h.events(&owner, &org).await;
    assert!(events.iter().any(|e| e["kind"] == "health" && e["to"] == "restricted" && e["source"] == "sweep"));
    let calls = h.sandbox().calls("/messages");
    let (status, refused) = send(h, &owner, &org).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("phone_restricted")));
    assert_eq!(h.sandbox().calls("/messages"), calls);
    h.control("number-health", json!({ "phoneNumberId": READY, "canSendMessage": "AVAILABLE" })).await;
    h.sweep().await;
    assert_eq!(phone(&h.status(&owner, &org).await, READY)["health"], "ok", "the next answer clears it");

    // The app's subscription disappears: subscribed again.
    h.control("unsubscribe", json!({ "wabaId": SUPPORT })).await;
    assert!(!h.sandbox().is_subscribed(SUPPORT));
    let report = h.sweep().await;
    assert_eq!(report.resubscribed, 1);
    assert!(h.sandbox().is_subscribed(SUPPORT));
    assert!(has_event(&h.events(&owner, &org).await, "resubscribed", "subscribed"));

    // A 60-day business token in its last days: renewed and resealed.
    h.control("business-tokens", json!({ "expiresInSeconds": 3 * 86_400, "wabaId": SUPPORT })).await;
    h.control("business-tokens", json!({ "expiresInSeconds": null })).await;
    let report = h.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let shown = h.status(&owner, &org).await;
    let ends = phone(&shown, READY)["tokenExpiresAt"].as_str().unwrap().to_owned();
    // About 60 days from now, not the 3 it had left.
    let in_55_days = shared::clock::Timestamp::now().plus_seconds(55 * 86_400).to_rfc3339();
    assert!(ends > in_55_days, "about 60 days from now: {ends}");
    assert!(has_event(&h.events(&owner, &org).await, "token_renewed", &ends));
    let (status, _) = send(h, &owner, &org).await;
    assert_eq!(status, StatusCode::OK, "the renewed token sends");
    assert_eq!(h.sweep().await.renewed, 0, "renewed once");

    // The customer removes the app without a webhook reaching us: the sweep finds out.
    h.control("revoke-token", json!({ "wabaId": SUPPORT })).await;
    h.sweep().await;
    let status = h.status(&owner, &org).await;
    assert_eq!(phone(&status, READY)["health"], "needs_reauthorization", "{status}");
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn the_sweep_notices_what_no_webhook_says_on_the_embedded_store() {
    the_sweep_notices_what_no_webhook_says(&Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await).await;
}

#[tokio::test]
async fn the_sweep_notices_what_no_webhook_says_on_dynamodb_and_kms() {
    let h = Harness::start_on(Backend::Aws, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    the_sweep_notices_what_no_webhook_says(&h).await;
}

#[tokio::test]
async fn the_sweep_holds_a_lease_stops_on_a_rate_limit_and_resumes_where_it_stopped() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        let mut orgs = Vec::new();
        for i in 0..3 {
            let owner = h.user(&format!("owner-{i}"));
            orgs.push((owner.clone(), connected(&h, &owner, &format!("Org {i}"), SUPPORT, READY).await));
        }

        // Another sweep holds the lease: this one does nothing.
        let now = shared::clock::Timestamp::now();
        let records = &h.stack.app().records;
        assert!(records.acquire_sweep("another", now, now.plus_seconds(60)).await.unwrap().is_some());
        let report = h.sweep().await;
        assert!(report.skipped && report.connections_checked == 0, "{report:?}");
        assert!(records.release_sweep("another", None).await.unwrap());

        // Meta rate-limits every attempt of the checks under way (three at once, three
        // attempts each): the sweep stops and keeps its place; the next one checks
        // everything from there.
        h.sandbox().inject_faults_on("debug_token", Fault::RateLimited, 9);
        let report = h.sweep().await;
        assert_eq!(report.stopped.as_deref(), Some("Meta rate limit"), "{report:?}");
        assert!(!report.finished);
        let report = h.sweep().await;
        assert_eq!((report.connections_checked, report.finished), (3, true), "{report:?}");

        // A token's own limit (17), however often Meta answers it, is that connection's: it
        // waits for the next sweep, and the sweep does not stop for the others.
        h.sandbox().inject_faults_on("debug_token", Fault::UserRateLimited, 9);
        let report = h.sweep().await;
        assert_eq!((report.stopped.as_deref(), report.finished), (None, true), "{backend:?}: {report:?}");
        assert_eq!(h.sandbox().faults_left(), 0, "{backend:?}: every attempt met the limit");
        let report = h.sweep().await;
        assert_eq!((report.connections_checked, report.finished), (3, true), "{backend:?}: {report:?}");
    }
}

#[tokio::test]
async fn the_sweep_retries_a_pending_registration_within_metas_allowance() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let waiting = seed::ACME_SUPPORT_PHONES[0];
        h.sandbox().inject_faults_on("/register", Fault::ServerError, 1);
        h.connect(&owner, &org, SUPPORT, waiting).await;
        assert_eq!(phone(&h.status(&owner, &org).await, waiting)["registration"], "pending");
        let report = h.sweep().await;
        assert_eq!(report.registrations_retried, 1, "{report:?}");
        let status = h.status(&owner, &org).await;
        assert_eq!(phone(&status, waiting)["registration"], "registered", "{status}");
        let events = h.events(&owner, &org).await;
        assert!(
            events.iter().any(|e| e["kind"] == "registration" && e["to"] == "registered" && e["source"] == "sweep")
        );
        assert_eq!(h.sweep().await.registrations_retried, 0, "nothing left to retry");
        assert_eq!(h.sandbox().registration_attempts(waiting), 1, "the sweep's; the failed one never reached Meta");
        h.assert_no_token_leaked().await;
    }
}

#[tokio::test]
async fn the_event_trail_pages_newest_first_and_a_cursor_reads_only_its_own_organization() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let (a, b) = (h.user("owner-a"), h.user("owner-b"));
    let org_a = connected(&h, &a, "A", SUPPORT, READY).await;
    let org_b = connected(&h, &b, "B", seed::ACME_CAFE_WABA, seed::ACME_CAFE_PHONE).await;
    for state in ["DISABLE", "REINSTATE", "DISABLE", "REINSTATE"] {
        h.control("ban", json!({ "wabaId": SUPPORT, "state": state })).await;
    }
    let events = h.events(&a, &org_a).await;
    assert!(events.len() > 5, "more than one page: {}", events.len());
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    let (_, page) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/events?limit=2"), &a).await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let (status, other) = h.get(&format!("/api/v1/organizations/{org_b}/whatsapp/events?cursor={cursor}"), &b).await;
    assert_eq!(status, StatusCode::OK);
    assert!(other["events"].as_array().unwrap().iter().all(|e| e["wabaId"] != SUPPORT), "{other}");
    let (status, _) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/events"), &b).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another owner's trail");
    for bad in ["limit=0", "limit=101", "cursor=%25%25", "cursor=TVNHI2lu"] {
        let (status, body) = h.get(&format!("/api/v1/organizations/{org_a}/whatsapp/events?{bad}"), &a).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")), "{bad}");
    }
}

#[tokio::test]
async fn a_restriction_a_refused_send_left_ends_when_meta_says_the_number_can_send() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let owner = h.user("owner-1");
    let org = connected(&h, &owner, "Acme", SUPPORT, READY).await;
    h.control("number-health", json!({ "phoneNumberId": READY, "canSendMessage": "BLOCKED" })).await;
    let (status, _) = send(&h, &owner, &org).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "Meta refused with 368");
    assert_eq!(phone(&h.status(&owner, &org).await, READY)["health"], "restricted");
    h.control("number-health", json!({ "phoneNumberId": READY, "canSendMessage": "AVAILABLE" })).await;
    h.sweep().await;
    let status = h.status(&owner, &org).await;
    assert_eq!(phone(&status, READY)["health"], "ok", "{status}");
    let (status, _) = send(&h, &owner, &org).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_notice_older_than_the_connection_does_not_end_it() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let owner = h.user("owner-1");
    let org = connected(&h, &owner, "Acme", SUPPORT, READY).await;
    let long_ago = shared::clock::Timestamp::now().plus_seconds(-3600).0;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": SUPPORT, "time": long_ago, "changes": [{
        "field": "account_update", "value": {"event": "PARTNER_REMOVED", "waba_info": {"waba_id": SUPPORT}}}]}]});
    let (status, _) = h.webhook(body.to_string().as_bytes(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.status(&owner, &org).await["connected"], true, "a late notice leaves the new connection alone");
}

#[tokio::test]
async fn a_waba_meta_keeps_failing_for_does_not_stop_the_sweep() {
    let h = Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    for i in 0..3 {
        let owner = h.user(&format!("owner-{i}"));
        connected(&h, &owner, &format!("Org {i}"), SUPPORT, READY).await;
    }
    // Every attempt of the checks under way fails with a server error: those checks are
    // inconclusive, and the sweep goes on to the end.
    h.sandbox().inject_faults_on("debug_token", Fault::ServerError, 9);
    let report = h.sweep().await;
    assert_eq!((report.stopped.as_deref(), report.finished), (None, true), "{report:?}");
}

#[tokio::test]
async fn a_deleted_account_ends_every_connection_to_it_and_erases_its_secrets() {
    let h = Harness::start(&[]).await;
    let (a, b) = (h.user("owner-a"), h.user("owner-b"));
    let org_a = connected(&h, &a, "A", SUPPORT, READY).await;
    let org_b = connected(&h, &b, "B", SUPPORT, seed::ACME_SUPPORT_PHONES[0]).await;
    h.control("account-update", json!({ "wabaId": SUPPORT, "event": "ACCOUNT_DELETED" })).await;
    for (owner, org) in [(&a, &org_a), (&b, &org_b)] {
        let status = h.status(owner, org).await;
        assert_eq!(status["connected"], false, "{status}");
        let events = h.events(owner, org).await;
        assert!(
            events.iter().any(|e| e["kind"] == "account_update" && e["to"] == "ACCOUNT_DELETED"),
            "the trail says why: {events:?}"
        );
        let (status, body) = send(&h, owner, org).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_connected")));
    }
}

/// No signed webhook can grow a phone's item past what DynamoDB stores (400 KB), which
/// would refuse every later write to it and poison the delivery for Meta's seven days of
/// retries: restriction lists as long and as wide as a delivery allows are bounded.
#[tokio::test]
async fn an_oversized_restriction_list_is_bounded_before_it_is_stored() {
    use shared::store::Value as Stored;
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
        let owner = h.user("owner-1");
        let org = connected(&h, &owner, "Acme", SUPPORT, READY).await;
        for batch in 0..4 {
            let restrictions: Vec<Value> = (0..40)
                .map(|i| json!({ "restriction_type": format!("R{batch}_{i}_{}", "X".repeat(15_000)), "expiration": "2099-01-01T00:00:00+0000" }))
                .collect();
            let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": SUPPORT, "changes": [{
                "field": "account_update", "value": { "event": "ACCOUNT_RESTRICTION", "restriction_info": restrictions } }] }] });
            let (status, answer) = h.webhook(body.to_string().as_bytes(), None).await;
            assert_eq!(status, StatusCode::OK, "{backend:?} batch {batch}: {answer}");
        }
        let key = shared::store::records::phone_key(&org.parse().unwrap(), &READY.parse().unwrap());
        let item = h.stack.app().records.store().get(&key).await.unwrap().unwrap();
        let size: usize = item
            .iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        Stored::S(s) => s.len(),
                        Stored::B(b) => b.len(),
                        Stored::N(n) => n.to_string().len(),
                        Stored::Bool(_) => 1,
                        Stored::L(items) => items.iter().map(|s| s.len() + 3).sum(),
                    }
            })
            .sum();
        assert!(size < 100_000, "{backend:?}: the phone's item is {size} bytes");
        let status = h.status(&owner, &org).await;
        assert_eq!(phone(&status, READY)["health"], "restricted", "{backend:?}: {status}");
        let reasons = phone(&status, READY)["healthReasons"].as_array().unwrap().len();
        assert!((1..=shared::domain::MAX_REASONS).contains(&reasons), "{backend:?}: {reasons} reasons");
    }
}
