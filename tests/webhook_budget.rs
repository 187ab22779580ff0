//! The AWS request budget of a webhook delivery, counted at moto's server (its request
//! recorder sees every DynamoDB and KMS call the real SDK makes): at most one write per new
//! event, one routing read per entry (strongly consistent, on the table, not an index), no
//! KMS at all. One test in its own binary, so nothing else talks to moto meanwhile.

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{Backend, Harness, SALES};
use waba_connect::sandbox::seed;

const PHONE: &str = seed::ACME_SALES_PHONE;

struct Recorder {
    endpoint: String,
    http: reqwest::Client,
}

/// What one delivery asked of AWS: operation → calls, and the routing queries' parameters.
#[derive(Debug, Default)]
struct Requests {
    operations: BTreeMap<String, usize>,
    queries: Vec<Value>,
}

impl Requests {
    fn count(&self, operation: &str) -> usize {
        self.operations.get(operation).copied().unwrap_or(0)
    }
    fn kms(&self) -> usize {
        self.operations.iter().filter(|(op, _)| op.starts_with("TrentService.")).map(|(_, n)| n).sum()
    }
}

impl Recorder {
    async fn post(&self, action: &str) {
        let url = format!("{}/moto-api/recorder/{action}", self.endpoint);
        assert!(self.http.post(&url).send().await.unwrap().status().is_success(), "{action}");
    }

    /// The AWS requests `work` makes.
    async fn record<F: std::future::Future<Output = Value>>(&self, work: F) -> (Requests, Value) {
        self.post("reset-recording").await;
        self.post("start-recording").await;
        let answer = work.await;
        self.post("stop-recording").await;
        let url = format!("{}/moto-api/recorder/download-recording", self.endpoint);
        let text = self.http.get(&url).send().await.unwrap().text().await.unwrap();
        let mut requests = Requests::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: Value = serde_json::from_str(line).unwrap();
            let target = entry["headers"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("other")
                .to_owned();
            if target.ends_with(".Query") {
                let raw = entry["body"].as_str().unwrap_or_default();
                let body = if entry["body_encoded"] == true {
                    base64::engine::general_purpose::STANDARD.decode(raw).unwrap()
                } else {
                    raw.as_bytes().to_vec()
                };
                requests.queries.push(serde_json::from_slice(&body).unwrap());
            }
            *requests.operations.entry(target).or_default() += 1;
        }
        (requests, answer)
    }
}

fn delivery(ids: std::ops::Range<usize>, salt: &str) -> Vec<u8> {
    let changes: Vec<Value> = ids
        .map(|i| {
            json!({ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550100004", "phone_number_id": PHONE },
                "messages": [{ "from": "16315551234", "id": format!("wamid.{salt}.{i}"), "timestamp": "1795238940",
                               "type": "text", "text": { "body": "hi" } }] }})
        })
        .collect();
    serde_json::to_vec(
        &json!({ "object": "whatsapp_business_account", "entry": [{ "id": SALES, "changes": changes }] }),
    )
    .unwrap()
}

#[tokio::test]
async fn a_delivery_stays_within_its_aws_request_budget() {
    let h = Harness::start_on(Backend::Aws, &[]).await;
    let token = h.user("owner-1");
    let org = h.create_org(&token, "Acme").await;
    h.connect(&token, &org, SALES, PHONE).await;
    let recorder = Recorder { endpoint: std::env::var("MOTO_ENDPOINT").unwrap(), http: reqwest::Client::new() };

    let mut figures = Vec::new();
    for (what, body, delivered, new_events) in [
        ("1 new message", delivery(0..1, "one"), 1_usize, 1),
        ("the same, redelivered", delivery(0..1, "one"), 1, 0),
        ("1000-update batch", delivery(0..1000, "batch"), 1000, 1000),
        ("the same, redelivered", delivery(0..1000, "batch"), 1000, 0),
    ] {
        let (requests, answer) = recorder.record(async { h.webhook(&body, None).await.1 }).await;
        assert_eq!(answer["outcome"]["stored"], new_events, "{what}: {answer}");
        let writes = requests.count("DynamoDB_20120810.PutItem")
            + requests.count("DynamoDB_20120810.UpdateItem")
            + requests.count("DynamoDB_20120810.TransactWriteItems")
            + requests.count("DynamoDB_20120810.BatchWriteItem");
        assert!(writes <= new_events, "{what}: {writes} writes for {new_events} new events: {requests:?}");
        let routing = requests.queries.len();
        assert_eq!(routing, 1, "{what}: one routing read for the delivery's one entry: {requests:?}");
        for query in &requests.queries {
            assert!(query.get("IndexName").is_none(), "{what}: routing reads the table, not an index: {query}");
            assert_eq!(query["ConsistentRead"], true, "{what}: routing is read-after-write: {query}");
        }
        assert_eq!(requests.kms(), 0, "{what}: a delivery never touches KMS: {requests:?}");
        let reads = requests.count("DynamoDB_20120810.BatchGetItem") + requests.count("DynamoDB_20120810.GetItem");
        // What is stored already is read once, 100 keys per BatchGetItem.
        assert!(reads <= delivered.div_ceil(100), "{what}: {reads} reads for {delivered} events: {requests:?}");
        figures.push((what, new_events, writes, routing, reads, requests.kms()));
    }
    println!(
        "\n{:<24} {:>10} {:>7} {:>13} {:>12} {:>4}",
        "delivery", "new events", "writes", "routing reads", "other reads", "KMS"
    );
    for (what, new, writes, routing, reads, kms) in figures {
        println!("{what:<24} {new:>10} {writes:>7} {routing:>13} {reads:>12} {kms:>4}");
    }
}
