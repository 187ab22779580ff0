use super::*;

// ---- Authenticated Graph calls -----------------------------------------------

#[tokio::test]
async fn user_calls_need_a_token_and_its_appsecret_proof() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let waba = format!("/graph/v24.0/{ACME_SUPPORT_WABA}");

    let no_token = get(&sb, &waba).await;
    assert_eq!(no_token.error(), (104, None));

    let unknown = get(&sb, &format!("{waba}?access_token=EAAGunknown")).await;
    assert_eq!(unknown.error(), (190, None));

    let no_proof = get(&sb, &format!("{waba}?{}", query(&[("access_token", &token)]))).await;
    assert_eq!(no_proof.error(), (100, None));
    assert_eq!(no_proof.json()["error"]["type"], "GraphMethodException");
    assert_eq!(no_proof.json()["error"]["message"], "API calls from the server require an appsecret_proof argument");

    let wrong =
        get(&sb, &format!("{waba}?{}", query(&[("access_token", &token), ("appsecret_proof", &proof("other"))]))).await;
    assert_eq!(wrong.json()["error"]["message"], "Invalid appsecret_proof provided in the API argument");

    // The token may also come as a bearer header.
    let req = Request::get(format!("{waba}?{}", query(&[("appsecret_proof", &proof(&token))])))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    let res = sb.handle(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(body, serde_json::json!({ "id": ACME_SUPPORT_WABA, "name": "Acme Support" }));
}

#[tokio::test]
async fn waba_fields_are_honoured() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let waba = graph_get(&sb, &token, ACME_SUPPORT_WABA, &[("fields", "name,timezone_id,message_template_namespace")])
        .await
        .json();
    assert_eq!(waba["id"], ACME_SUPPORT_WABA);
    assert_eq!(waba["timezone_id"], "7");
    assert!(waba["message_template_namespace"].is_string());
    assert!(waba.get("currency").is_none());

    let bogus = graph_get(&sb, &token, ACME_SUPPORT_WABA, &[("fields", "name,bogus")]).await;
    assert_eq!(bogus.error(), (100, None));
}

#[tokio::test]
async fn phone_numbers_are_paged() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let first = graph_get(
        &sb,
        &token,
        &format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        &[("fields", "id,display_phone_number,verified_name,quality_rating")],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let first = first.json();
    let ids: Vec<&str> = first["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ACME_SUPPORT_PHONES[..2]);
    assert_eq!(first["data"][0]["display_phone_number"], "+1 555-010-0001");
    assert!(first["data"][0].get("platform_type").is_none());
    assert!(first["paging"].get("previous").is_none());

    let next = first["paging"]["next"].as_str().expect("a next page");
    let relative = next.strip_prefix(PUBLIC_URL).expect("an absolute next URL");
    let second = get(&sb, relative).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let second = second.json();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], ACME_SUPPORT_PHONES[2]);
    assert_eq!(second["data"][0]["quality_rating"], "YELLOW");
    assert!(second["paging"].get("next").is_none());
    assert!(second["paging"]["previous"].is_string());

    // A larger limit is capped at the page size; a bad cursor is refused.
    let capped = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/phone_numbers"), &[("limit", "50")]).await.json();
    assert_eq!(capped["data"].as_array().unwrap().len(), 2);
    assert_eq!(capped["data"][0]["code_verification_status"], "VERIFIED");
    assert_eq!(capped["data"][0]["platform_type"], "NOT_APPLICABLE", "not registered yet");
    let bad = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/phone_numbers"), &[("after", "bm9wZQ==")]).await;
    assert_eq!(bad.error(), (100, None));
}

#[tokio::test]
async fn an_ungranted_waba_does_not_exist_for_the_token() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    for path in [
        ACME_SUPPORT_WABA.to_owned(),
        format!("{ACME_SUPPORT_WABA}/phone_numbers"),
        format!("{ACME_SUPPORT_WABA}/subscribed_apps"),
        ACME_SUPPORT_PHONES[0].to_owned(),
        "999999999".to_owned(),
    ] {
        let answer = graph_get(&sb, &token, &path, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.error(), (100, Some(33)), "{path}");
        assert_eq!(answer.json()["error"]["type"], "GraphMethodException");
    }
    let sales = graph_get(&sb, &token, &format!("{ACME_SALES_WABA}/phone_numbers"), &[]).await;
    assert_eq!(sales.json()["data"][0]["id"], ACME_SALES_PHONE);
    assert!(sales.json()["paging"].get("next").is_none());
}

#[tokio::test]
async fn a_waba_without_phones_lists_none() {
    let sb = sandbox();
    let token = token_for(&sb, &[BETA_EMPTY_WABA], None).await;
    let answer = graph_get(&sb, &token, &format!("{BETA_EMPTY_WABA}/phone_numbers"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), serde_json::json!({ "data": [] }));
}

#[tokio::test]
async fn subscribing_is_idempotent_and_reversible() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let uri = format!(
        "/graph/v24.0/{ACME_SUPPORT_WABA}/subscribed_apps?{}",
        query(&[("access_token", &token), ("appsecret_proof", &proof(&token))])
    );
    assert!(!sb.is_subscribed(ACME_SUPPORT_WABA));
    for _ in 0..2 {
        let answer = send(&sb, Method::POST, &uri, None).await;
        assert_eq!(answer.json(), serde_json::json!({ "success": true }));
    }
    assert!(sb.is_subscribed(ACME_SUPPORT_WABA));
    let listed = get(&sb, &uri).await.json();
    assert_eq!(listed["data"][0]["whatsapp_business_api_data"]["id"], APP_ID);
    let answer = send(&sb, Method::DELETE, &uri, None).await;
    assert_eq!(answer.json(), serde_json::json!({ "success": true }));
    assert!(!sb.is_subscribed(ACME_SUPPORT_WABA));
    assert_eq!(get(&sb, &uri).await.json()["data"], serde_json::json!([]));
}

#[tokio::test]
async fn parameters_may_come_in_a_json_body() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let body = serde_json::json!({
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "redirect_uri": REDIRECT_URI,
        "code": code,
    });
    let req = Request::post("/graph/v24.0/oauth/access_token")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let res = sb.handle(req).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_versions_are_graph_errors() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let edge = graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/nonsense"), &[]).await;
    assert_eq!(edge.error(), (2500, None));
    let deep = graph_get(&sb, &token, "me/businesses/extra", &[]).await;
    assert_eq!(deep.error(), (2500, None));
    let unversioned = get(&sb, "/graph/me").await;
    assert_eq!(unversioned.status, StatusCode::BAD_REQUEST);
    assert_eq!(unversioned.error(), (2500, None));
    assert!(unversioned.headers.contains_key("x-fb-trace-id"));
    let me = graph_get(&sb, &token, "me", &[]).await.json();
    assert_eq!(me, serde_json::json!({ "id": USER_ID, "name": "Demo Owner" }));
}

// ---- Faults and bookkeeping --------------------------------------------------

#[tokio::test]
async fn injected_faults_hit_the_next_graph_requests_only() {
    let sb = sandbox();
    sb.inject_faults(Fault::ServerError, 1);
    sb.inject_faults(Fault::RateLimited, 1);

    // The dialog is not affected.
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;

    let server = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(server.status, StatusCode::INTERNAL_SERVER_ERROR);
    let error = &server.json()["error"];
    assert_eq!(error["code"], 2);
    assert_eq!(error["is_transient"], true);
    assert_eq!(error["fbtrace_id"].as_str().unwrap(), server.headers["x-fb-trace-id"].to_str().unwrap());
    assert_eq!(error["fbtrace_id"].as_str().unwrap().len(), 20);

    let limited = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(limited.status, StatusCode::BAD_REQUEST);
    assert_eq!(limited.error(), (4, None));
    assert_eq!(limited.json()["error"]["is_transient"], true);

    // Faulted requests never reached the code, so it is still good.
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
    assert_eq!(sb.calls("/oauth/access_token"), 3);
    assert_eq!(sb.calls("/dialog"), 0);
}

#[tokio::test]
async fn a_timeout_fault_delays_then_answers() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.inject_faults(Fault::Timeout(Duration::from_millis(200)), 1);
    let started = Instant::now();
    let answer = exchange(&sb, &code, REDIRECT_URI).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_abandoned_during_a_timeout_has_no_effect() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.inject_faults(Fault::Timeout(Duration::from_secs(30)), 1);
    let gave_up = tokio::time::timeout(Duration::from_millis(50), exchange(&sb, &code, REDIRECT_URI)).await;
    assert!(gave_up.is_err());
    assert_eq!(sb.calls("/oauth/access_token"), 1);
    // The delay comes before any work, so the code was not spent.
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
}

#[tokio::test]
async fn paths_outside_the_mount_are_not_found() {
    let sb = sandbox();
    assert_eq!(get(&sb, "/elsewhere").await.status, StatusCode::NOT_FOUND);
}

#[test]
fn the_sandbox_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<Sandbox>();
    let sb = sandbox();
    let future = sb.handle(Request::new(Bytes::new()));
    sendable(&future);
}

#[test]
fn config_debug_output_hides_the_secret() {
    let printed = format!("{:?}", sandbox());
    assert!(!printed.contains(APP_SECRET));
}

#[tokio::test]
async fn only_the_graph_versions_meta_offers_are_answered() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let proof = proof(&token);
    for version in ["v99.0", "v2.3", "v20.0"] {
        let answer = get(
            &sb,
            &format!("/graph/{version}/me?{}", query(&[("access_token", &token), ("appsecret_proof", &proof)])),
        )
        .await;
        assert_eq!(answer.error(), (2500, None), "{version}");
    }
    let answer =
        get(&sb, &format!("/graph/v26.0/me?{}", query(&[("access_token", &token), ("appsecret_proof", &proof)]))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

#[tokio::test]
async fn each_edge_needs_its_permission() {
    let sb = sandbox();
    // A person who granted only WhatsApp's management permission.
    let answer =
        consent_as(&sb, &[("scope", "whatsapp_business_management")], &[ACME_SUPPORT_WABA], "allow", Some("off")).await;
    let code = param(&answer.location(), "code").unwrap();
    let token = exchange(&sb, &code, REDIRECT_URI).await.json()["access_token"].as_str().unwrap().to_owned();
    for (path, scope) in [
        ("me/businesses".to_owned(), "business_management"),
        (format!("{ACME_BUSINESS}/owned_whatsapp_business_accounts"), "business_management"),
        (format!("{}/messages", ACME_SUPPORT_PHONES[2]), "whatsapp_business_messaging"),
    ] {
        let answer = if path.ends_with("/messages") {
            send_text(&sb, &token, ACME_SUPPORT_PHONES[2], &text_message("15551234567", "Hi")).await
        } else {
            graph_get(&sb, &token, &path, &[]).await
        };
        assert_eq!(answer.error(), (200, None), "{path}");
        assert!(answer.json()["error"]["message"].as_str().unwrap().contains(scope), "{path}");
    }
    assert_eq!(graph_get(&sb, &token, &format!("{ACME_SUPPORT_WABA}/phone_numbers"), &[]).await.status, StatusCode::OK);
    let debug = debug(&sb, &token).await;
    assert_eq!(debug["scopes"], serde_json::json!(["whatsapp_business_management"]));
}
