//! The business's WhatsApp settings through the connection, on both backends: the business
//! profile read and changed, QR codes, blocked users and templates managed through the
//! scoped Graph route, Meta's answers (refusals included) passed through as Meta gave them
//! and never carrying the token; the edges this service owns, other methods, another
//! organization's objects and a smuggled `access_token` refused before Meta is called.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness};
use waba_connect::sandbox::seed;

const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
const READY: &str = seed::ACME_SUPPORT_PHONES[2];
const CUSTOMER: &str = "16315551234";

fn graph(org: &str, path: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/graph/{path}")
}

async fn the_business_manages_its_whatsapp_through_the_route(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;

    // The business profile.
    let profile = graph(&org, &format!("{READY}/whatsapp_business_profile"));
    let (status, body) =
        h.post(&profile, &owner, json!({ "messaging_product": "whatsapp", "about": "Succulents, delivered." })).await;
    assert_eq!((status, body.clone()), (StatusCode::OK, json!({ "success": true })));
    let (status, body) = h.get(&format!("{profile}?fields=about,vertical"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["about"], "Succulents, delivered.");
    // Meta's refusal, as Meta gave it.
    let (status, body) =
        h.post(&profile, &owner, json!({ "messaging_product": "whatsapp", "about": "x".repeat(140) })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], 100, "{body}");

    // QR codes: created, listed, read, deleted.
    let codes = graph(&org, &format!("{READY}/message_qrdls"));
    let (status, created) =
        h.post(&codes, &owner, json!({ "prefilled_message": "Cyber Monday", "generate_qr_image": "SVG" })).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let code = created["code"].as_str().unwrap().to_owned();
    assert!(created["deep_link_url"].as_str().unwrap().ends_with(&code));
    let (_, listed) = h.get(&codes, &owner).await;
    assert_eq!(listed["data"][0]["code"], code.as_str());
    let (status, one) = h.get(&format!("{codes}/{code}"), &owner).await;
    assert_eq!((status, one["data"][0]["prefilled_message"].as_str()), (StatusCode::OK, Some("Cyber Monday")));
    let (status, _) = h.call("DELETE", &format!("{codes}/{code}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);

    // Blocked users: only a customer who wrote in the last day.
    h.control("inbound", json!({ "phoneNumberId": READY, "from": CUSTOMER, "text": "spam" })).await;
    let block = graph(&org, &format!("{READY}/block_users"));
    let (status, body) =
        h.post(&block, &owner, json!({ "messaging_product": "whatsapp", "block_users": [{ "user": CUSTOMER }] })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["block_users"]["added_users"][0]["wa_id"], CUSTOMER);
    let (status, body) = h
        .post(&block, &owner, json!({ "messaging_product": "whatsapp", "block_users": [{ "user": "16505550000" }] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], 139_100, "{body}");
    assert_eq!(body["block_users"]["failed_users"][0]["errors"][0]["code"], 131_047);

    // Templates on the WABA: created, listed (every page's links without the token), deleted.
    let templates = graph(&org, &format!("{SUPPORT}/message_templates"));
    let (status, created) = h
        .post(
            &templates,
            &owner,
            json!({ "name": "order_shipped", "language": "en_US", "category": "UTILITY",
                    "components": [{ "type": "BODY", "text": "Your order {{1}} has shipped." }] }),
        )
        .await;
    assert_eq!((status, created["status"].as_str()), (StatusCode::OK, Some("PENDING")), "{created}");
    let (status, again) = h
        .post(&templates, &owner, json!({ "name": "order_shipped", "language": "en_US", "category": "UTILITY", "components": [{ "type": "BODY", "text": "x" }] }))
        .await;
    assert_eq!((status, again["error"]["error_subcode"].as_u64()), (StatusCode::BAD_REQUEST, Some(2_388_024)));
    let (status, page) = h.get(&format!("{templates}?limit=2"), &owner).await;
    assert_eq!(status, StatusCode::OK);
    let next = page["paging"]["next"].as_str().expect("more pages");
    assert!(!next.contains("access_token") && !next.contains("appsecret_proof"), "{next}");
    let (status, _) = h.call("DELETE", &format!("{templates}?name=order_shipped"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn the_business_manages_its_whatsapp_through_the_route_on_the_embedded_store() {
    the_business_manages_its_whatsapp_through_the_route(Backend::Embedded).await;
}

#[tokio::test]
async fn the_business_manages_its_whatsapp_through_the_route_on_dynamodb() {
    the_business_manages_its_whatsapp_through_the_route(Backend::Aws).await;
}

#[tokio::test]
async fn the_route_refuses_what_it_does_not_reach_before_meta() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let other = h.user("owner-2");
    let other_org = h.create_org(&other, "Beta").await;
    h.connect(&other, &other_org, seed::ACME_SALES_WABA, seed::ACME_SALES_PHONE).await;
    let before = h.sandbox().calls("/");
    let cases: Vec<(&str, String, Option<Value>, StatusCode, &str)> = vec![
        (
            "POST",
            format!("{READY}/register"),
            Some(json!({ "pin": "123456" })),
            StatusCode::FORBIDDEN,
            "edge_not_allowed",
        ),
        ("POST", format!("{READY}/messages"), Some(json!({})), StatusCode::FORBIDDEN, "edge_not_allowed"),
        ("GET", format!("{SUPPORT}/subscribed_apps"), None, StatusCode::FORBIDDEN, "edge_not_allowed"),
        ("POST", format!("{READY}/smb_app_data"), Some(json!({})), StatusCode::FORBIDDEN, "edge_not_allowed"),
        ("GET", format!("{READY}/media"), None, StatusCode::FORBIDDEN, "edge_not_allowed"),
        ("DELETE", format!("{READY}/whatsapp_business_profile"), None, StatusCode::FORBIDDEN, "edge_not_allowed"),
        ("GET", format!("{SUPPORT}/whatsapp_business_profile"), None, StatusCode::FORBIDDEN, "edge_not_allowed"),
        (
            "GET",
            format!("{}/whatsapp_business_profile", seed::ACME_SALES_PHONE),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        ("GET", format!("{}/message_templates", seed::ACME_SALES_WABA), None, StatusCode::NOT_FOUND, "not_found"),
        ("GET", "me/businesses".into(), None, StatusCode::NOT_FOUND, "not_found"),
        (
            "GET",
            format!("{READY}/whatsapp_business_profile?access_token=EAAGx"),
            None,
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
        (
            "POST",
            format!("{READY}/whatsapp_business_profile"),
            Some(json!({ "access_token": "EAAGx", "about": "x" })),
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (answered, answer) = h.call(method, &graph(&org, &path), Some(&owner), body).await;
        assert_eq!((answered, answer["code"].as_str()), (status, Some(code)), "{method} {path}: {answer}");
    }
    assert_eq!(h.sandbox().calls("/"), before, "Meta was not called");
}
