//! `openapi.json` is the API's description: the document the route table and each action's
//! schemas build, kept in the repository and served by the local stack. These tests keep
//! the file equal to what the code builds, its paths and methods equal to the route table,
//! and its schemas valid JSON Schema; the end-to-end tests check every answer against it
//! (`tests/support/contract.rs`).
//!
//! After changing a route or an answer, regenerate the file with
//! `UPDATE_OPENAPI=1 cargo test --test openapi`.

mod support;

use serde_json::Value;
use shared::routes::ROUTES;
use std::collections::BTreeSet;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

fn committed() -> Value {
    serde_json::from_str(&std::fs::read_to_string(PATH).expect("openapi.json exists")).expect("openapi.json is JSON")
}

#[test]
fn the_committed_document_is_the_one_the_code_builds() {
    let built = shared::openapi::text();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(PATH, &built).unwrap();
    }
    let on_disk = std::fs::read_to_string(PATH).unwrap();
    assert!(on_disk == built, "openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test --test openapi`");
}

#[test]
fn its_paths_and_methods_are_the_route_table() {
    let document = committed();
    assert_eq!(document["openapi"], "3.1.0");
    let described: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_ascii_uppercase(), path.clone())))
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    assert_eq!(described, routed);
    for route in ROUTES {
        let op = &document["paths"][route.path][route.method.to_ascii_lowercase()];
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, route.auth == shared::routes::Auth::Jwt, "{} {}", route.method, route.path);
        assert!(op["responses"]["default"].is_object(), "every operation describes its errors");
    }
}

#[test]
fn every_schema_of_it_compiles_as_json_schema_2020_12() {
    let document = committed();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler.add_resource("http://waba-connect.local/openapi.json", document.clone()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut count = 0;
    for name in document["components"]["schemas"].as_object().unwrap().keys() {
        let location = format!("http://waba-connect.local/openapi.json#/components/schemas/{name}");
        compiler.compile(&location, &mut schemas).unwrap_or_else(|e| panic!("{location}: {e}"));
        count += 1;
    }
    assert!(count >= 8);
    let error =
        compiler.compile("http://waba-connect.local/openapi.json#/components/schemas/Error", &mut schemas).unwrap();
    let refused = serde_json::json!({ "success": false, "code": "no_such_code", "message": "m" });
    assert!(schemas.validate(&refused, error).is_err(), "the error codes are a closed list");
}

#[tokio::test]
async fn the_local_stack_serves_it() {
    let h = support::Harness::start(&[("HEALTH_SWEEP_SECONDS", "0")]).await;
    let response = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, committed());
}

#[test]
fn the_end_to_end_check_refuses_what_the_document_does_not_describe() {
    use support::contract::check;
    let status = "/api/v1/organizations/org_1/whatsapp/status";
    let refuses = |method: &'static str, path: &'static str, code: u16, body: &'static str| {
        std::panic::catch_unwind(|| check(method, path, code, body)).is_err()
    };
    assert!(refuses("GET", status, 200, r#"{"success":true}"#), "required fields");
    assert!(
        refuses(
            "GET",
            status,
            200,
            r#"{"success":true,"organizationId":"o","connected":"yes","canSend":false,"wabaId":null,"phoneNumbers":[]}"#
        ),
        "types"
    );
    assert!(refuses("GET", status, 404, r#"{"success":false,"code":"gone","message":"m"}"#), "error codes");
    assert!(refuses("GET", status, 201, r#"{"success":true}"#), "an unlisted success status");
    assert!(!refuses(
        "GET",
        status,
        200,
        r#"{"success":true,"organizationId":"o","connected":false,"canSend":false,"wabaId":null,"action":null,"phoneNumbers":[]}"#
    ));
    assert!(!refuses("GET", status, 404, r#"{"success":false,"code":"not_found","message":"m"}"#));
    assert!(!refuses("GET", "/meta-sandbox/anything", 200, "{}"), "outside the route table nothing is checked");
}
