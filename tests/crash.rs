//! An acknowledged delivery survives the process being killed: the service runs as its own
//! process (the `waba-connect` binary), takes webhook deliveries one after another and then
//! many at once (which the local store commits together), and is killed with SIGKILL right
//! after the last acknowledgement, with no chance to flush or close anything. Restarted on
//! the same data directory, every delivery it acknowledged is there.

mod support;

use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Harness, SUPPORT};
use waba_connect::sandbox::seed;

/// Single-message deliveries one after another; then, at once, one batch as large as Meta
/// sends (its write takes long enough that a store acknowledging before it wrote would be
/// caught by the kill) and single messages that arrive while it is written, which share a
/// commit.
const SINGLES: usize = 20;
const BATCH: usize = 1000;
const AT_ONCE: usize = 16;
const MESSAGES: usize = SINGLES + BATCH + AT_ONCE;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn every_acknowledged_delivery_survives_a_kill_9() {
    let phone = seed::ACME_SUPPORT_PHONES[0];
    let parent = support::TempDir::new();
    let data_dir = parent.0.join("data");
    let data = data_dir.display().to_string();
    let (owner, org) = {
        let h = Harness::start(&[("DATA_DIR", &data)]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        h.connect(&owner, &org, SUPPORT, phone).await;
        let Harness { stack, .. } = h;
        stack.stop().await;
        (owner, org)
    };

    let port = free_port();
    let mut service = Killed(
        Command::new(env!("CARGO_BIN_EXE_waba-connect"))
            .env("DATA_DIR", &data)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .env("HEALTH_SWEEP_SECONDS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the service starts"),
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let url = format!("http://127.0.0.1:{port}/webhook");
    for _ in 0..300 {
        if http.get(format!("http://127.0.0.1:{port}/")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = |i: usize| {
        json!({"from": "16315551234", "id": format!("wamid.crash{i}"), "timestamp": "1795238940",
               "type": "text", "text": {"body": format!("before the crash {i}")}})
    };
    let delivery = |messages: Vec<serde_json::Value>| {
        let changes: Vec<serde_json::Value> = messages
            .into_iter()
            .map(|m| {
                json!({"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100001", "phone_number_id": phone},
                    "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551234"}],
                    "messages": [m]}})
            })
            .collect();
        let body =
            json!({"object": "whatsapp_business_account", "entry": [{"id": SUPPORT, "changes": changes}]}).to_string();
        let secret = waba_connect::stack::LOCAL_APP_SECRET.as_bytes();
        let signature =
            format!("sha256={}", shared::crypto::hex(&shared::crypto::hmac_sha256(secret, body.as_bytes())));
        http.post(&url).header("content-type", "application/json").header("x-hub-signature-256", signature).body(body)
    };
    for i in 0..SINGLES {
        let response = delivery(vec![message(i)]).send().await.expect("the service answers");
        assert_eq!(response.status(), 200, "delivery {i} acknowledged");
    }
    let batch = tokio::spawn(delivery((SINGLES..SINGLES + BATCH).map(message).collect()).send());
    // Posted while the batch is handled: they queue for the writer and share commits.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let at_once: Vec<_> =
        (SINGLES + BATCH..MESSAGES).map(|i| tokio::spawn(delivery(vec![message(i)]).send())).collect();
    for (n, posted) in std::iter::once(batch).chain(at_once).enumerate() {
        let response = posted.await.unwrap().expect("the service answers");
        assert_eq!(response.status(), 200, "concurrent delivery {n} acknowledged");
    }
    // SIGKILL, the moment the last acknowledgement is in.
    service.0.kill().unwrap();
    assert!(!service.0.wait().unwrap().success());

    let h = Harness::start(&[("DATA_DIR", &data)]).await;
    let stored =
        h.every_page(&format!("/api/v1/organizations/{org}/whatsapp/messages?limit=100"), &owner, "messages").await;
    assert_eq!(stored.len(), MESSAGES, "every acknowledged message is kept");
    for i in 0..MESSAGES {
        let id = format!("wamid.crash{i}");
        assert!(stored.iter().any(|m| m["messageId"] == id.as_str()), "{id} is lost");
    }
}
