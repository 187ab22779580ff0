use super::*;

// ---- Code exchange -----------------------------------------------------------

#[tokio::test]
async fn full_flow_mints_short_then_long_lived_tokens_with_the_grant() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SALES_WABA, ACME_SUPPORT_WABA], None).await;
    let short = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(short.status, StatusCode::OK);
    assert!(short.headers.contains_key("x-fb-trace-id"));
    let short = short.json();
    assert_eq!(short["token_type"], "bearer");
    assert_eq!(short["expires_in"], 5183);
    let short = short["access_token"].as_str().unwrap().to_owned();
    assert!(short.starts_with("EAA") && short.len() >= 43);
    assert!(short.bytes().all(|b| b.is_ascii_alphanumeric()));

    // The long-lived exchange, this time as a form POST.
    let body = query(&[
        ("grant_type", "fb_exchange_token"),
        ("client_id", APP_ID),
        ("client_secret", APP_SECRET),
        ("fb_exchange_token", &short),
    ]);
    let long = send(&sb, Method::POST, "/graph/v24.0/oauth/access_token", Some(body)).await;
    assert_eq!(long.status, StatusCode::OK, "{}", long.text());
    let long = long.json();
    assert_eq!(long["expires_in"], 5_183_944);
    let long = long["access_token"].as_str().unwrap().to_owned();
    assert_eq!(sb.issued_tokens(), vec![short.clone(), long.clone()]);

    let data = debug(&sb, &long).await;
    assert_eq!(data["is_valid"], true);
    assert_eq!(data["app_id"], APP_ID);
    assert_eq!(data["type"], "USER");
    assert_eq!(data["user_id"], USER_ID);
    assert!(data["scopes"].as_array().unwrap().contains(&"whatsapp_business_management".into()));
    // Most recently created first, whatever order the boxes were ticked in.
    let expected = serde_json::json!([ACME_SUPPORT_WABA, ACME_SALES_WABA]);
    for granular in data["granular_scopes"].as_array().unwrap() {
        assert_eq!(granular["target_ids"], expected);
    }
    assert_eq!(sb.calls("/oauth/access_token"), 2);
    assert_eq!(sb.calls("/debug_token"), 1);
}

#[tokio::test]
async fn a_code_is_single_use() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
    let again = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error(), (100, Some(36009)));
    assert_eq!(again.json()["error"]["type"], "OAuthException");
    assert_eq!(sb.issued_tokens().len(), 1);
}

#[tokio::test]
async fn a_redirect_uri_mismatch_fails_and_burns_the_code() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let trailing_slash = format!("{REDIRECT_URI}/");
    let wrong = exchange(&sb, &code, &trailing_slash).await;
    assert_eq!(wrong.error(), (100, Some(36008)));
    let retry = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(retry.error(), (100, Some(36009)));
    assert!(sb.issued_tokens().is_empty());
}

#[tokio::test]
async fn client_errors_do_not_burn_the_code() {
    let sb = sandbox();
    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let attempt = |client_id: &'static str, secret: &'static str| {
        let code = code.clone();
        let sb = &sb;
        async move {
            let q = query(&[
                ("client_id", client_id),
                ("client_secret", secret),
                ("redirect_uri", REDIRECT_URI),
                ("code", &code),
            ]);
            get(sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await
        }
    };
    assert_eq!(attempt("42", APP_SECRET).await.error(), (101, None));
    assert_eq!(attempt(APP_ID, "not-the-secret").await.error(), (1, None));
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_and_expired_codes_are_refused() {
    let sb = sandbox();
    let unknown = exchange(&sb, "AQnot-a-code", REDIRECT_URI).await;
    assert_eq!(unknown.error(), (100, Some(36007)));
    assert_eq!(unknown.json()["error"]["message"], "Invalid verification code format.");

    let code = code_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    sb.expire_codes();
    let expired = exchange(&sb, &code, REDIRECT_URI).await;
    assert_eq!(expired.error(), (100, Some(36007)));
    assert_eq!(expired.json()["error"]["message"], "This authorization code has expired.");
}

#[tokio::test]
async fn only_a_short_lived_token_can_be_exchanged_for_a_long_lived_one() {
    let sb = sandbox();
    let q = query(&[
        ("grant_type", "fb_exchange_token"),
        ("client_id", APP_ID),
        ("client_secret", APP_SECRET),
        ("fb_exchange_token", "EAAGnonsense"),
    ]);
    let answer = get(&sb, &format!("/graph/v24.0/oauth/access_token?{q}")).await;
    assert_eq!(answer.error(), (190, None));
}

#[tokio::test]
async fn debug_token_describes_unknown_tokens_as_invalid() {
    let sb = sandbox();
    let data = debug(&sb, "EAAGunknown").await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);

    let q = query(&[("input_token", "EAAGunknown"), ("access_token", &format!("{APP_ID}|wrong"))]);
    let answer = get(&sb, &format!("/graph/v24.0/debug_token?{q}")).await;
    assert_eq!(answer.error(), (190, None));
}

#[tokio::test]
async fn a_business_wide_grant_has_no_granular_scopes() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], Some("off")).await;
    let data = debug(&sb, &token).await;
    assert_eq!(data["is_valid"], true);
    assert!(data.get("granular_scopes").is_none());

    // The client finds the WABA through the businesses instead.
    let businesses = graph_get(&sb, &token, "me/businesses", &[]).await.json();
    assert_eq!(businesses["data"], serde_json::json!([{ "id": ACME_BUSINESS, "name": "Acme Inc" }]));
    let owned = graph_get(
        &sb,
        &token,
        &format!("{ACME_BUSINESS}/owned_whatsapp_business_accounts"),
        &[("fields", "id,name,timezone_id")],
    )
    .await
    .json();
    assert_eq!(owned["data"], serde_json::json!([{ "id": ACME_SALES_WABA, "name": "Acme Sales", "timezone_id": "7" }]));
    let client =
        graph_get(&sb, &token, &format!("{ACME_BUSINESS}/client_whatsapp_business_accounts"), &[]).await.json();
    assert_eq!(client["data"], serde_json::json!([]));
    // A business none of whose WABAs were granted is invisible.
    let beta = graph_get(&sb, &token, &format!("{BETA_BUSINESS}/owned_whatsapp_business_accounts"), &[]).await;
    assert_eq!(beta.error(), (100, Some(33)));
}

// ---- Business tokens and Embedded Signup codes ---------------------------------

#[tokio::test]
async fn an_sdk_code_is_exchanged_without_redirect_uri_for_a_business_token() {
    let sb = sandbox();
    let code = sdk_code(&sb, ACME_SALES_WABA, ACME_SALES_PHONE).await;
    let answer = exchange_without_redirect(&sb, &code).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let grant = answer.json();
    assert!(grant.get("expires_in").is_none(), "a business token that never expires has no expires_in");
    let info = debug(&sb, grant["access_token"].as_str().unwrap()).await;
    assert_eq!(info["type"], "SYSTEM_USER");
    assert_eq!(info["expires_at"], 0);
    assert_eq!(info["is_valid"], true);
    assert_eq!(info["user_id"], SYSTEM_USER_ID);
    assert_eq!(info["granular_scopes"][0]["target_ids"], json!([ACME_SALES_WABA]), "only the WABA picked");
}

#[tokio::test]
async fn an_sdk_code_refuses_any_redirect_uri_and_is_burnt_by_it() {
    let sb = sandbox();
    let code = sdk_code(&sb, ACME_SALES_WABA, ACME_SALES_PHONE).await;
    assert_eq!(exchange(&sb, &code, REDIRECT_URI).await.error(), (100, Some(36008)));
    assert_eq!(exchange_without_redirect(&sb, &code).await.error(), (100, Some(36009)), "the code is spent");
}

#[tokio::test]
async fn an_sdk_code_lives_thirty_seconds_a_dialog_code_ten_minutes() {
    let sb = sandbox();
    let sdk = sdk_code(&sb, ACME_SALES_WABA, ACME_SALES_PHONE).await;
    let dialog = code_for(&sb, &[ACME_SALES_WABA], None).await;
    let lifetime = |code: &str| {
        let state = sb.lock();
        state.codes[code].expires_at.saturating_duration_since(Instant::now())
    };
    assert!(lifetime(&sdk) <= Duration::from_secs(30) && lifetime(&sdk) > Duration::from_secs(25));
    assert!(lifetime(&dialog) > Duration::from_secs(9 * 60));
    sb.expire_codes();
    assert_eq!(exchange_without_redirect(&sb, &sdk).await.error(), (100, Some(36007)));
}

#[tokio::test]
async fn a_dialog_code_needs_its_redirect_uri_even_for_a_business_token() {
    let sb = sandbox();
    let answer = consent_as(&sb, &BUSINESS_CONFIG, &[ACME_SALES_WABA], "allow", None).await;
    let code = param(&answer.location(), "code").unwrap();
    assert_eq!(exchange_without_redirect(&sb, &code).await.error(), (100, Some(36008)));
}

#[tokio::test]
async fn fb_exchange_token_is_refused_for_a_fresh_business_token() {
    let sb = sandbox();
    let token = business_token_for(&sb, &[ACME_SALES_WABA]).await;
    let info = debug(&sb, &token).await;
    assert_eq!(info["type"], "SYSTEM_USER");
    for extra in [&[][..], &[("set_token_expires_in_60_days", "true")][..]] {
        let mut pairs = vec![
            ("client_id", APP_ID),
            ("client_secret", APP_SECRET),
            ("grant_type", "fb_exchange_token"),
            ("fb_exchange_token", token.as_str()),
        ];
        pairs.extend_from_slice(extra);
        let answer = get(&sb, &format!("/graph/v24.0/oauth/access_token?{}", query(&pairs))).await;
        assert_eq!(answer.error(), (100, None), "{extra:?}: {}", answer.text());
        assert!(answer.text().contains("business integration system user"));
    }
}

#[tokio::test]
async fn a_sixty_day_business_token_is_renewed_only_when_asked_for_sixty_days() {
    let sb = sandbox();
    let answer = consent_as(
        &sb,
        &[("config_id", CONFIG_ID_60_DAYS), ("override_default_response_type", "true")],
        &[ACME_SALES_WABA],
        "allow",
        None,
    )
    .await;
    let code = param(&answer.location(), "code").unwrap();
    let grant = exchange(&sb, &code, REDIRECT_URI).await.json();
    assert_eq!(grant["expires_in"], 60 * 24 * 3600);
    let token = grant["access_token"].as_str().unwrap();
    let expires_at = debug(&sb, token).await["expires_at"].as_u64().unwrap();
    assert!(expires_at > crate::sandbox::state::unix_now() + 59 * 24 * 3600);
    let renew = |extra: Vec<(&'static str, &'static str)>| {
        let mut pairs = vec![
            ("client_id", APP_ID.to_owned()),
            ("client_secret", APP_SECRET.to_owned()),
            ("grant_type", "fb_exchange_token".to_owned()),
            ("fb_exchange_token", token.to_owned()),
        ];
        pairs.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("/graph/v24.0/oauth/access_token?{}", query(&pairs))
    };
    assert_eq!(get(&sb, &renew(vec![])).await.error(), (100, None));
    let renewed = get(&sb, &renew(vec![("set_token_expires_in_60_days", "true")])).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    assert_ne!(renewed.json()["access_token"], grant["access_token"]);
}
