use super::*;
use crate::sandbox::seed;

// ---- Dialog ------------------------------------------------------------------

#[tokio::test]
async fn dialog_renders_consent_for_every_waba() {
    let sb = sandbox();
    let answer = get(&sb, &dialog_uri(&GOOD_DIALOG)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
    let page = answer.text();
    assert!(page.contains("Demo Owner"));
    assert!(page.contains(&format!("action=\"{PUBLIC_URL}/www/v24.0/dialog/oauth/confirm\"")));
    for waba in [ACME_SUPPORT_WABA, ACME_SALES_WABA, BETA_EMPTY_WABA] {
        assert!(page.contains(&format!("name=\"waba\" value=\"{waba}\" checked")));
    }
    assert!(page.contains("Acme Inc") && page.contains("Beta LLC"));
    assert!(page.contains("value=\"allow\"") && page.contains("value=\"deny\""));
}

#[tokio::test]
async fn dialog_accepts_config_id_instead_of_scope_and_escapes_state() {
    let sb = sandbox();
    let uri = dialog_uri(&[
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "\"><script>x</script>"),
        ("response_type", "code"),
        ("config_id", CONFIG_ID),
        ("override_default_response_type", "true"),
    ]);
    let answer = get(&sb, &uri).await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = answer.text();
    assert!(!page.contains("<script>"));
    assert!(page.contains("&quot;&gt;&lt;script&gt;"));
}

#[tokio::test]
async fn a_configuration_needs_the_code_grant_and_must_exist() {
    let sb = sandbox();
    let base = [("client_id", APP_ID), ("redirect_uri", REDIRECT_URI), ("state", "s"), ("response_type", "code")];
    let mut without_override = base.to_vec();
    without_override.push(("config_id", CONFIG_ID));
    let answer = get(&sb, &dialog_uri(&without_override)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("override_default_response_type=true"));
    let mut unknown = base.to_vec();
    unknown.extend([("config_id", "999"), ("override_default_response_type", "true")]);
    let answer = get(&sb, &dialog_uri(&unknown)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("Invalid config_id"));
    // The form's answer is held to the same rules.
    let answer = consent_as(&sb, &[("config_id", CONFIG_ID)], &[ACME_SALES_WABA], "allow", None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.headers.get("location").is_none(), "no code without the code grant");
}

// ---- Embedded Signup's popup -----------------------------------------------------

fn popup_uri(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", APP_ID),
        ("display", "popup"),
        ("response_type", "code"),
        ("override_default_response_type", "true"),
        ("config_id", CONFIG_ID),
        ("origin", PAGE_ORIGIN),
        ("extras", "{\"setup\":{}}"),
        ("sdk", "joey"),
    ];
    pairs.extend_from_slice(extra);
    dialog_uri(&pairs)
}

#[tokio::test]
async fn the_popup_offers_every_number_of_its_flow_and_the_phoneless_waba() {
    let sb = sandbox();
    let answer = get(&sb, &popup_uri(&[])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let page = answer.text();
    for phone in ACME_SUPPORT_PHONES.iter().chain([&ACME_SALES_PHONE, &seed::ACME_POPUP_PHONE]) {
        assert!(page.contains(&format!(":{phone}\"")), "{phone}");
    }
    assert!(page.contains(&format!("value=\"{BETA_EMPTY_WABA}:\"")));
    assert!(page.contains("not verified yet"), "a new number is told apart");
    assert!(!page.contains(ACME_CAFE_PHONE), "an app number is not offered in the default flow");
    // The WhatsApp Business app flow offers the app's numbers alone.
    let answer = get(&sb, &popup_uri(&[("extras", APP_ONBOARDING)])).await;
    let page = answer.text();
    assert!(page.contains(&format!("value=\"{ACME_CAFE_WABA}:{ACME_CAFE_PHONE}\"")), "{page}");
    assert!(!page.contains(ACME_SALES_PHONE) && !page.contains(&format!("{BETA_EMPTY_WABA}:")));
}

#[tokio::test]
async fn each_flow_refuses_the_other_flows_numbers() {
    let sb = sandbox();
    let cafe = format!("{ACME_CAFE_WABA}:{ACME_CAFE_PHONE}");
    let answer = finish_signup(&sb, CONFIG_ID, Some(&cafe), "finish").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("WhatsApp Business app flow"));
    let sales = format!("{ACME_SALES_WABA}:{ACME_SALES_PHONE}");
    let answer = finish_signup_with(&sb, CONFIG_ID, Some(&sales), "finish", APP_ONBOARDING).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("not a WhatsApp Business app number"));
    let phoneless = format!("{BETA_EMPTY_WABA}:");
    let answer = finish_signup_with(&sb, CONFIG_ID, Some(&phoneless), "finish", APP_ONBOARDING).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_popup_posts_its_session_event_first_last_or_never_as_told() {
    let sb = sandbox();
    let sales = format!("{ACME_SALES_WABA}:{ACME_SALES_PHONE}");
    for (behaviour, order) in [("first", Some(true)), ("last", Some(false)), ("none", None)] {
        let answer = control(&sb, "popup", json!({ "sessionEvent": behaviour })).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let page = finish_signup(&sb, CONFIG_ID, Some(&sales), "finish").await.text();
        let session = page.find("postMessage(JSON.stringify(");
        let code = page.find("sandbox-sdk:login").expect("the code is always handed over");
        assert_eq!(session.map(|s| s < code), order, "{behaviour}");
    }
    let answer = control(&sb, "popup", json!({ "sessionEvent": "sometimes" })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_popup_refuses_what_meta_refuses() {
    let sb = sandbox();
    for (name, value, shows) in [
        ("client_id", "42", "Invalid App ID"),
        ("config_id", "999", "Invalid config_id"),
        ("override_default_response_type", "false", "override_default_response_type=true"),
        ("origin", "javascript:alert(1)", "origin"),
        ("origin", "http://127.0.0.1:3000/page", "origin"),
        ("response_type", "token", "response_type"),
    ] {
        let answer = get(&sb, &popup_uri(&[(name, value)])).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}={value}");
        assert!(answer.text().contains(shows), "{name}={value}: {}", answer.text());
    }
    let mut without_config = vec![("client_id", APP_ID), ("display", "popup"), ("response_type", "code")];
    without_config.push(("origin", PAGE_ORIGIN));
    let answer = get(&sb, &dialog_uri(&without_config)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("configuration"));
}

#[tokio::test]
async fn finishing_the_popup_posts_metas_session_info_and_an_sdk_code() {
    let sb = sandbox();
    let default = "{\"setup\":{}}";
    for (choice, event, extras) in [
        (format!("{ACME_SALES_WABA}:{ACME_SALES_PHONE}"), "FINISH", default),
        (format!("{ACME_CAFE_WABA}:{ACME_CAFE_PHONE}"), "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", APP_ONBOARDING),
        (format!("{BETA_EMPTY_WABA}:"), "FINISH_ONLY_WABA", default),
    ] {
        let answer = finish_signup_with(&sb, CONFIG_ID, Some(&choice), "finish", extras).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let csp = answer.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'unsafe-inline'") && csp.contains("default-src 'none'"));
        assert!(answer.text().contains(&format!("\"{PAGE_ORIGIN}\"")), "messages go to the opener's origin only");
        let (session, code) = popup_messages(&answer);
        assert_eq!(session["type"], "WA_EMBEDDED_SIGNUP");
        assert_eq!(session["event"], event);
        let (waba, phone) = choice.split_once(':').unwrap();
        assert_eq!(session["data"]["waba_id"], waba);
        if event == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING" {
            assert_eq!(session["data"], json!({ "waba_id": waba }), "Meta's app onboarding names the WABA alone");
        } else {
            assert_eq!(session["data"]["business_id"], seed::waba(waba).unwrap().business_id);
            assert_eq!(
                session["data"].get("phone_number_id").and_then(Value::as_str),
                Some(phone).filter(|p| !p.is_empty())
            );
        }
        assert!(code.is_some_and(|c| c.starts_with("AQ")), "{event}: a code for the SDK");
    }
}

#[tokio::test]
async fn cancelling_the_popup_gives_no_code() {
    let sb = sandbox();
    let answer = finish_signup(&sb, CONFIG_ID, None, "cancel").await;
    assert_eq!(answer.status, StatusCode::OK);
    let (session, code) = popup_messages(&answer);
    assert_eq!(session["event"], "CANCEL");
    assert!(session["data"]["current_step"].is_string());
    assert_eq!(code, None);
    let answer = finish_signup(&sb, CONFIG_ID, Some("nonsense"), "finish").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let mismatched = format!("{ACME_SALES_WABA}:{}", ACME_SUPPORT_PHONES[0]);
    let answer = finish_signup(&sb, CONFIG_ID, Some(&mismatched), "finish").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "a number of another WABA");
}

#[tokio::test]
async fn the_sdk_has_metas_signatures() {
    let sb = sandbox();
    let answer = get(&sb, "/connect/en_US/sdk.js").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let js = answer.text();
    for needle in [
        "window.FB",
        "init: function (options)",
        "login: login",
        "fbAsyncInit",
        "override_default_response_type",
        "config_id",
        "authResponse",
    ] {
        assert!(js.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn dialog_refuses_malformed_requests_with_an_error_page() {
    let sb = sandbox();
    let without =
        |name: &str| -> Vec<(&str, &str)> { GOOD_DIALOG.iter().copied().filter(|(k, _)| *k != name).collect() };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut pairs = without(name);
        pairs.push((name, value));
        pairs
    };
    let cases = [
        ("wrong client_id", with("client_id", "999")),
        ("missing client_id", without("client_id")),
        ("missing redirect_uri", without("redirect_uri")),
        ("relative redirect_uri", with("redirect_uri", "/callback")),
        ("response_type token", with("response_type", "token")),
        ("missing response_type", without("response_type")),
        ("neither scope nor config_id", without("scope")),
        ("unknown scope", with("scope", "whatsapp_business_managment")),
    ];
    for (case, pairs) in cases {
        let answer = get(&sb, &dialog_uri(&pairs)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert!(answer.headers.get("location").is_none(), "{case}");
        assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8", "{case}");
    }
    let bad_version = get(&sb, "/www/latest/dialog/oauth").await;
    assert_eq!(bad_version.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn allow_redirects_with_a_fresh_code_and_the_state() {
    let sb = sandbox();
    let answer = consent(&sb, &[ACME_SUPPORT_WABA], "allow", None).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.location();
    assert!(location.as_str().starts_with(&format!("{REDIRECT_URI}?code=")));
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    let code = param(&location, "code").unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(code, code_for(&sb, &[ACME_SUPPORT_WABA], None).await);
}

#[tokio::test]
async fn allow_appends_to_a_redirect_uri_that_has_a_query() {
    let sb = Sandbox::new(SandboxConfig { redirect_uris: vec!["https://app.example/cb?tenant=7".into()], ..config() });
    let body = query(&[
        ("client_id", APP_ID),
        ("redirect_uri", "https://app.example/cb?tenant=7"),
        ("state", "s"),
        ("decision", "allow"),
        ("response_type", "code"),
        ("scope", "whatsapp_business_management"),
        ("waba", ACME_SALES_WABA),
    ]);
    let answer = send(&sb, Method::POST, "/www/v24.0/dialog/oauth/confirm", Some(body)).await;
    let location = answer.location();
    assert!(location.as_str().starts_with("https://app.example/cb?tenant=7&code="));
    assert_eq!(param(&location, "tenant").as_deref(), Some("7"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let sb = sandbox();
    let answer = consent(&sb, &[ACME_SUPPORT_WABA], "deny", None).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.location().as_str(),
        format!(
            "{REDIRECT_URI}?error=access_denied&error_code=200&error_description=Permissions+error\
             &error_reason=user_denied&state=st-123"
        )
    );
}

#[tokio::test]
async fn confirm_refuses_unknown_wabas_and_decisions() {
    let sb = sandbox();
    assert_eq!(consent(&sb, &["1"], "allow", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(consent(&sb, &[], "maybe", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(consent(&sb, &[], "allow", Some("sometimes")).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_the_apps_valid_redirect_uris_are_sent_back_to() {
    let sb = sandbox();
    for uri in [
        "http://127.0.0.1:3000/api/v1/organizations/whatsapp/callback/",
        "http://127.0.0.1:3000/api/v1/organizations/whatsapp/callback?x=1",
        "https://attacker.example.com/callback",
    ] {
        let answer = get(
            &sb,
            &dialog_uri(&[
                ("client_id", APP_ID),
                ("redirect_uri", uri),
                ("state", "s"),
                ("response_type", "code"),
                ("scope", "whatsapp_business_management"),
            ]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(answer.text().contains("not whitelisted"), "{uri}");
        assert!(answer.headers.get("location").is_none(), "{uri}: never a redirect to it");
    }
    let answer = get(&sb, &dialog_uri(&GOOD_DIALOG)).await;
    assert_eq!(answer.status, StatusCode::OK, "the registered one, byte for byte");
}
