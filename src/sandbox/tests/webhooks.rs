use super::*;

// ---- Webhooks ----------------------------------------------------------------

/// One request the webhook receiver got.
#[derive(Debug)]
pub(super) struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A minimal HTTP server standing in for the service's webhook: it records each
/// request and answers `status`. Returns its URL and the recorded requests.
pub(super) async fn webhook_receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let sender = sender.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let _ = sender.send(Received { path: parts.uri.path().to_owned(), headers: parts.headers, body });
                    let answer = hyper::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::new()))
                        .expect("a valid response");
                    Ok::<_, hyper::Error>(answer)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (url, received)
}

pub(super) async fn next_webhook(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("a webhook within five seconds")
        .expect("the receiver is running")
}

/// Checks the request is signed as Meta signs it and returns the body as JSON.
pub(super) fn verified(request: &Received) -> Value {
    assert_eq!(request.path, "/webhook");
    assert_eq!(request.headers["content-type"], "application/json");
    let signature = request.headers["x-hub-signature-256"].to_str().unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, APP_SECRET.as_bytes());
    let expected: String = hmac::sign(&key, &request.body).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature, format!("sha256={expected}"));
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// Waits for the delivery count, which follows the receiver's answer.
async fn wait_for_deliveries(sb: &Sandbox, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sb.webhooks_delivered() < count {
        assert!(Instant::now() < deadline, "only {} deliveries", sb.webhooks_delivered());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn epoch_string(value: &Value) -> u64 {
    value.as_str().expect("a string timestamp").parse().expect("epoch seconds")
}

#[tokio::test]
async fn an_inbound_message_is_signed_over_the_exact_bytes_sent() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let (message_id, status) = sb
        .send_inbound(ACME_SUPPORT_PHONES[0], "+15557654321", "Jane Doe", "Hi, is my order on its way?")
        .await
        .expect("a delivery");
    assert_eq!(status, 200);
    assert!(message_id.starts_with("wamid."));

    let request = next_webhook(&mut received).await;
    assert_eq!(request.headers["user-agent"], "facebookexternalua");
    let mut body = verified(&request);
    let timestamp = epoch_string(&body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]);
    assert!(timestamp.abs_diff(crate::sandbox::state::unix_now()) < 60);
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "T".into();
    // Every message names the customer's business-scoped user ID, as Meta's do since 2026.
    let user_id = body["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("US.") && user_id.len() > 3, "{user_id}");
    assert_eq!(
        body,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SUPPORT_WABA,
                "changes": [{
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550100001",
                            "phone_number_id": ACME_SUPPORT_PHONES[0],
                        },
                        "contacts": [{ "profile": { "name": "Jane Doe" }, "wa_id": "15557654321", "user_id": user_id }],
                        "messages": [{
                            "from": "15557654321",
                            "from_user_id": user_id,
                            "id": message_id,
                            "timestamp": "T",
                            "text": { "body": "Hi, is my order on its way?" },
                            "type": "text",
                        }],
                    },
                    "field": "messages",
                }],
            }],
        })
    );
    // What was sent is what is kept, byte for byte, for replays.
    assert_eq!(sb.webhook_bodies(), vec![request.body.clone()]);
    assert_eq!(sb.webhooks_delivered(), 1);
}

#[tokio::test]
async fn a_send_is_followed_by_sent_and_delivered_statuses() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    assert_eq!(register(&sb, &token, ACME_SALES_PHONE, "246810").await.status, StatusCode::OK);
    // The customer wrote first: the business may answer freely for 24 hours.
    sb.send_inbound(ACME_SALES_PHONE, "15557654321", "Kerry", "Where is my order?").await.unwrap();
    verified(&next_webhook(&mut received).await);
    let answer = send_text(&sb, &token, ACME_SALES_PHONE, &text_message("+15557654321", "Your order shipped")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let message_id = answer.json()["messages"][0]["id"].as_str().unwrap().to_owned();

    let mut conversations = Vec::new();
    for expected in ["sent", "delivered"] {
        let body = verified(&next_webhook(&mut received).await);
        let entry = &body["entry"][0];
        assert_eq!(entry["id"], ACME_SALES_WABA);
        assert_eq!(entry["changes"][0]["field"], "messages");
        let value = &entry["changes"][0]["value"];
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(
            value["metadata"],
            json!({ "display_phone_number": "15550100004", "phone_number_id": ACME_SALES_PHONE })
        );
        let status = &value["statuses"][0];
        assert_eq!(status["id"], message_id.as_str());
        assert_eq!(status["status"], expected);
        assert_eq!(status["recipient_id"], "15557654321");
        epoch_string(&status["timestamp"]);
        assert_eq!(status["conversation"]["origin"], json!({ "type": "service" }));
        assert_eq!(status["pricing"], json!({ "billable": true, "pricing_model": "CBP", "category": "service" }));
        conversations.push(status["conversation"]["id"].clone());
    }
    assert_eq!(conversations[0], conversations[1]);
    wait_for_deliveries(&sb, 3).await;
    assert_eq!(sb.webhook_bodies().len(), 3);

    // Later statuses can be sent on demand; only sent messages have any.
    assert_eq!(sb.send_status(&message_id, "read").await, Ok(200));
    let read = verified(&next_webhook(&mut received).await);
    assert_eq!(read["entry"][0]["changes"][0]["value"]["statuses"][0]["status"], "read");
    assert!(sb.send_status("wamid.unknown", "read").await.is_err());
    assert!(sb.send_status(&message_id, "seen").await.is_err());
    assert_eq!(sb.webhook_bodies().len(), 4, "the inbound message, sent, delivered, read");
}

#[tokio::test]
async fn quality_and_account_updates_have_metas_shapes() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);

    assert_eq!(sb.send_quality(ACME_SUPPORT_PHONES[2], "FLAGGED", "TIER_1K").await, Ok(200));
    let mut quality = verified(&next_webhook(&mut received).await);
    assert!(quality["entry"][0]["time"].as_u64().is_some());
    quality["entry"][0]["time"] = 0.into();
    assert_eq!(
        quality,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SUPPORT_WABA,
                "time": 0,
                "changes": [{
                    "value": {
                        "display_phone_number": "15550100003",
                        "event": "FLAGGED",
                        "current_limit": "TIER_1K",
                    },
                    "field": "phone_number_quality_update",
                }],
            }],
        })
    );

    assert_eq!(sb.send_account_update(ACME_SALES_WABA, "PARTNER_REMOVED").await, Ok(200));
    let mut update = verified(&next_webhook(&mut received).await);
    assert!(update["entry"][0]["time"].as_u64().is_some());
    update["entry"][0]["time"] = 0.into();
    assert_eq!(
        update,
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": ACME_SALES_WABA,
                "time": 0,
                "changes": [{
                    "value": {
                        "event": "PARTNER_REMOVED",
                        "waba_info": { "waba_id": ACME_SALES_WABA, "owner_business_id": ACME_BUSINESS },
                    },
                    "field": "account_update",
                }],
            }],
        })
    );

    // Unknown ids and malformed values are refused before anything is sent.
    assert!(sb.send_quality("1", "FLAGGED", "TIER_1K").await.is_err());
    assert!(sb.send_quality(ACME_SALES_PHONE, "RED", "TIER_1K").await.is_err());
    assert!(sb.send_quality(ACME_SALES_PHONE, "FLAGGED", "TIER_2K").await.is_err());
    assert!(sb.send_account_update("1", "PARTNER_REMOVED").await.is_err());
    assert!(sb.send_account_update(ACME_SALES_WABA, "partner removed").await.is_err());
    assert!(sb.send_inbound("1", "15557654321", "Jane", "Hi").await.is_err());
    assert!(sb.send_inbound(ACME_SALES_PHONE, "555", "Jane", "Hi").await.is_err());
    assert!(sb.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", " ").await.is_err());
    assert_eq!(sb.webhook_bodies().len(), 2);
    assert_eq!(sb.webhooks_delivered(), 2);
}

#[tokio::test]
async fn a_refused_or_failed_delivery_is_reported_not_counted() {
    let (url, mut received) = webhook_receiver(StatusCode::UNAUTHORIZED).await;
    let sb = sandbox_posting_to(&url);
    let (_, status) = sb.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", "Hi").await.expect("an answer");
    assert_eq!(status, 401);
    next_webhook(&mut received).await;
    assert_eq!(sb.webhooks_delivered(), 0);
    assert_eq!(sb.webhook_bodies().len(), 1);

    // Nobody listening: an error, not a hang.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/webhook", listener.local_addr().unwrap())
    };
    let unreachable = sandbox_posting_to(&closed);
    let error =
        unreachable.send_account_update(ACME_SALES_WABA, "PARTNER_REMOVED").await.expect_err("no one to deliver to");
    assert!(!error.contains(APP_SECRET));

    let silent = sandbox();
    assert!(silent.send_inbound(ACME_SALES_PHONE, "15557654321", "Jane", "Hi").await.is_err());
    assert!(silent.webhook_bodies().is_empty());
}

// ---- Control endpoints -------------------------------------------------------

#[tokio::test]
async fn control_endpoints_send_webhooks_and_list_sent_messages() {
    let (url, mut received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    // Control requests are not Graph calls: they neither count nor meet faults.
    sb.inject_faults(Fault::ServerError, 1);

    let answer = send_json(
        &sb,
        Method::POST,
        "/control/inbound",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hello", "name": "" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.headers["content-type"], "application/json");
    let answer = answer.json();
    assert_eq!(answer["success"], true);
    assert_eq!(answer["webhookStatus"], 200);
    let inbound = verified(&next_webhook(&mut received).await);
    let value = &inbound["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["id"], answer["messageId"]);
    assert_eq!(value["messages"][0]["text"]["body"], "Hello");
    assert!(value["contacts"][0]["profile"]["name"].as_str().is_some_and(|n| !n.is_empty()));

    let quality = send_json(
        &sb,
        Method::POST,
        "/control/quality",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "DOWNGRADE", "currentLimit": null }),
    )
    .await;
    assert_eq!(quality.json(), json!({ "success": true, "webhookStatus": 200 }));
    let quality = verified(&next_webhook(&mut received).await);
    assert_eq!(quality["entry"][0]["changes"][0]["value"]["current_limit"], "TIER_1K");

    let update = send_json(
        &sb,
        Method::POST,
        "/control/account-update",
        &json!({ "wabaId": ACME_SALES_WABA, "event": "PARTNER_REMOVED" }),
    )
    .await;
    assert_eq!(update.json(), json!({ "success": true, "webhookStatus": 200 }));
    let update = verified(&next_webhook(&mut received).await);
    assert_eq!(update["entry"][0]["changes"][0]["field"], "account_update");

    let listed = get(&sb, "/control/sent-messages").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json(), json!({ "data": [] }));
    assert_eq!(sb.calls("/control"), 0);

    // The fault is still waiting for the first Graph request.
    let token_exchange = exchange(&sb, "AQnot-a-code", REDIRECT_URI).await;
    assert_eq!(token_exchange.status, StatusCode::INTERNAL_SERVER_ERROR);

    let token = token_for(&sb, &[ACME_SALES_WABA], None).await;
    assert_eq!(register(&sb, &token, ACME_SALES_PHONE, "246810").await.status, StatusCode::OK);
    let sent = send_text(&sb, &token, ACME_SALES_PHONE, &text_message("15557654321", "On its way")).await;
    let message_id = sent.json()["messages"][0]["id"].clone();
    let listed = get(&sb, "/control/sent-messages").await.json();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["phoneNumberId"], ACME_SALES_PHONE);
    assert_eq!(data[0]["to"], "15557654321");
    assert_eq!(data[0]["body"], "On its way");
    assert_eq!(data[0]["messageId"], message_id);
    assert!(data[0]["timestamp"].as_u64().is_some());

    let read =
        send_json(&sb, Method::POST, "/control/status", &json!({ "messageId": message_id, "status": "read" })).await;
    assert_eq!(read.json(), json!({ "success": true, "webhookStatus": 200 }));
}

#[tokio::test]
async fn control_endpoints_refuse_bad_input() {
    let (url, _received) = webhook_receiver(StatusCode::OK).await;
    let sb = sandbox_posting_to(&url);
    let cases = [
        ("/control/inbound", json!({ "phoneNumberId": ACME_SALES_PHONE, "text": "Hi" })),
        ("/control/inbound", json!({ "phoneNumberId": "1", "from": "15557654321", "text": "Hi" })),
        ("/control/inbound", json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "x", "text": "Hi" })),
        ("/control/inbound", json!([])),
        ("/control/status", json!({ "messageId": "wamid.nope", "status": "read" })),
        ("/control/quality", json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "PURPLE" })),
        ("/control/quality", json!({ "phoneNumberId": ACME_SALES_PHONE, "event": "FLAGGED", "currentLimit": "LOTS" })),
        ("/control/account-update", json!({ "wabaId": "1", "event": "PARTNER_REMOVED" })),
        ("/control/account-update", json!({ "wabaId": ACME_SALES_WABA })),
    ];
    for (path, body) in cases {
        let answer = send_json(&sb, Method::POST, path, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body}");
        let answer = answer.json();
        assert_eq!(answer["success"], false, "{path} {body}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{path} {body}");
    }
    let wrong_method = get(&sb, "/control/inbound").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["success"], false);
    assert_eq!(get(&sb, "/control/nothing").await.status, StatusCode::NOT_FOUND);
    assert!(sb.webhook_bodies().is_empty());

    // With nowhere to send to, the control reports a gateway failure.
    let silent = sandbox();
    let answer = send_json(
        &silent,
        Method::POST,
        "/control/inbound",
        &json!({ "phoneNumberId": ACME_SALES_PHONE, "from": "15557654321", "text": "Hi" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(answer.json()["success"], false);
}
