use super::*;

// ---- Sending messages --------------------------------------------------------

#[tokio::test]
async fn a_text_message_is_accepted_and_recorded() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[2], &text_message("+15551234567", "Hello there")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.headers.contains_key("x-fb-trace-id"));
    let answer = answer.json();
    let message_id = answer["messages"][0]["id"].as_str().expect("a message id").to_owned();
    assert_eq!(
        answer,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "+15551234567", "wa_id": "15551234567" }],
            "messages": [{ "id": message_id }],
        })
    );
    let random = message_id.strip_prefix("wamid.").expect("a wamid");
    assert!(random.len() >= 24);
    assert!(random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        sb.sent_messages(),
        vec![SentMessage {
            phone_number_id: ACME_SUPPORT_PHONES[2].into(),
            to: "15551234567".into(),
            body: "Hello there".into(),
            message_id: message_id.clone(),
            kind: "text".into(),
            object: text_message("+15551234567", "Hello there"),
        }]
    );

    // `type` may be left out (it defaults to text), and a body of 4096
    // characters is fine even when they take more bytes.
    let mut longest = text_message("15551234567", &"é".repeat(4096));
    longest.as_object_mut().unwrap().remove("type");
    let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[2], &longest).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let second = answer.json()["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(second, message_id);
    assert_eq!(sb.sent_messages().len(), 2);
    assert_eq!(sb.calls("/messages"), 2);

    // Without a webhook URL nothing goes out.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(sb.webhook_bodies().is_empty());
    assert_eq!(sb.webhooks_delivered(), 0);
}

#[tokio::test]
async fn a_malformed_message_is_refused_like_the_cloud_api_does() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SUPPORT_WABA], None).await;
    let good = text_message("15551234567", "Hi");
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        ("no product", without("messaging_product"), 100, "(#100) The parameter messaging_product is required."),
        ("other product", with("messaging_product", "sms".into()), 100, ""),
        ("group recipient", with("recipient_type", "group".into()), 100, "(#100) Invalid parameter"),
        ("no recipient", without("to"), 100, "(#100) The parameter to is required."),
        ("too short", with("to", "123456".into()), 100, "(#100) Invalid parameter"),
        ("too long", with("to", "1234567890123456".into()), 100, "(#100) Invalid parameter"),
        ("formatted", with("to", "+1 555-123-4567".into()), 100, "(#100) Invalid parameter"),
        ("two plus signs", with("to", "++15551234567".into()), 100, "(#100) Invalid parameter"),
        (
            "not allowed",
            with("to", "+9991234567".into()),
            131_030,
            "(#131030) Recipient phone number not in allowed list",
        ),
        ("image with text", with("type", "image".into()), 100, "(#100) Unexpected key \"text\" on param \"message\"."),
        ("unknown type", with("type", "order".into()), 100, "(#100) Unexpected key \"text\" on param \"message\"."),
        ("no text", without("text"), 100, "(#100) The parameter text is required."),
        ("empty body", with("text", json!({ "body": "" })), 100, "(#100) The parameter text['body'] is required."),
        ("text as a string", with("text", "Hi".into()), 100, "(#100) Invalid parameter"),
        (
            "unknown text key",
            with("text", json!({ "body": "Hi", "bold": true })),
            100,
            "(#100) Unexpected key \"bold\" on param \"text\".",
        ),
        ("body too long", with("text", json!({ "body": "a".repeat(4097) })), 100, "(#100) Invalid parameter"),
    ];
    for (case, body, code, message) in cases {
        let answer = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(answer.error(), (code, None), "{case}");
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "OAuthException", "{case}");
        if !message.is_empty() {
            assert_eq!(error["message"], message, "{case}");
        }
        if error["message"] == "(#100) Invalid parameter" || code == 131_030 {
            assert_eq!(error["error_data"]["messaging_product"], "whatsapp", "{case}");
            assert!(error["error_data"]["details"].is_string(), "{case}");
        }
    }
    let not_allowed = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &with("to", "+9991234567".into())).await;
    assert!(
        not_allowed.json()["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .starts_with("Recipient phone number not in allowed list")
    );
    assert!(sb.sent_messages().is_empty());
}

#[tokio::test]
async fn sending_needs_the_phones_waba_and_a_proof() {
    let sb = sandbox();
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    let message = text_message("15551234567", "Hi");
    let other_waba = send_text(&sb, &token, ACME_SUPPORT_PHONES[0], &message).await;
    assert_eq!(other_waba.error(), (100, Some(33)));
    assert_eq!(other_waba.json()["error"]["type"], "GraphMethodException");

    let uri = format!("/graph/v24.0/{ACME_SALES_PHONE}/messages?{}", query(&[("access_token", &token)]));
    let no_proof = send_json(&sb, Method::POST, &uri, &message).await;
    assert_eq!(no_proof.error(), (100, None));
    assert_eq!(no_proof.json()["error"]["type"], "GraphMethodException");

    let listing = graph_get(&sb, &token, &format!("{ACME_SALES_PHONE}/messages"), &[]).await;
    assert_eq!(listing.error(), (100, Some(33)));
    let from_a_waba = send_text(&sb, &token, ACME_SALES_WABA, &message).await;
    assert_eq!(from_a_waba.error(), (2500, None));
    assert!(sb.sent_messages().is_empty());

    let unregistered = send_text(&sb, &token, ACME_SALES_PHONE, &message).await;
    assert_eq!(unregistered.error(), (133_010, None), "an unregistered number cannot send");
    assert_eq!(register(&sb, &token, ACME_SALES_PHONE, "246810").await.status, StatusCode::OK);
    assert_eq!(send_text(&sb, &token, ACME_SALES_PHONE, &message).await.status, StatusCode::OK);
}
