//! The AWS request budget of a webhook delivery, counted at moto's server (its request
//! recorder sees every DynamoDB and KMS call the real SDK makes): at most one write per new
//! event (and a large delivery's receipt), one routing read per entry (strongly consistent,
//! on the table, not an index), no KMS at all; a large delivery repeated reads its receipt
//! alone. One test in its own binary, so nothing else talks to moto meanwhile (but the
//! stack's own stream consumers, whose reads are told apart).

mod support;

use serde_json::{Value, json};
use support::recorder::Recorder;
use support::{Backend, Harness, SALES};
use waba_connect::sandbox::seed;

const PHONE: &str = seed::ACME_SALES_PHONE;

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
    let recorder = Recorder::at_moto();

    let mut figures = Vec::new();
    let mut handled = std::collections::HashSet::new();
    for (what, body, delivered, new_events) in [
        ("1 new message", delivery(0..1, "one"), 1_usize, 1),
        ("the same, redelivered", delivery(0..1, "one"), 1, 0),
        ("1000-update batch", delivery(0..1000, "batch"), 1000, 1000),
        ("the same, redelivered", delivery(0..1000, "batch"), 1000, 0),
        // The same events in other bytes: no receipt, so each event is looked up.
        ("the same in other bytes", [delivery(0..1000, "batch"), b"\n".to_vec()].concat(), 1000, 0),
    ] {
        let remembered = body.len() >= webhook::REMEMBERED_DELIVERY_BYTES;
        let repeated = !handled.insert(body.clone());
        let (requests, answer) = recorder.record(async { h.webhook(&body, None).await.1 }).await;
        assert_eq!(answer["outcome"]["stored"], new_events, "{what}: {answer}");
        let writes = requests.count("DynamoDB_20120810.PutItem")
            + requests.count("DynamoDB_20120810.UpdateItem")
            + requests.count("DynamoDB_20120810.TransactWriteItems")
            + requests.count("DynamoDB_20120810.BatchWriteItem");
        let receipt = usize::from(remembered);
        assert!(writes <= new_events + receipt, "{what}: {writes} writes for {new_events} new events: {requests:?}");
        let reads = requests.count("DynamoDB_20120810.BatchGetItem") + requests.count("DynamoDB_20120810.GetItem");
        if remembered && repeated {
            // Answered from its receipt: one read, and nothing of the delivery looked up again.
            let routing = requests.queries().iter().filter(|q| q.to_string().contains("\"WABA#")).count();
            assert_eq!((reads, writes, routing), (1, 0, 0), "{what}: {requests:?}");
            figures.push((what, new_events, writes, 0, reads, requests.kms()));
            continue;
        }
        // The stack's background work reads too (the events' endpoint lookups and retry queue):
        // not the webhook's cost, and told apart by the keys they read.
        let (routing_reads, others): (Vec<&Value>, Vec<&Value>) =
            requests.queries().into_iter().partition(|q| q.to_string().contains("\"WABA#"));
        let background = |q: &&Value| ["\"ENDPOINT#", "\"QUEUE#"].iter().any(|k| q.to_string().contains(k));
        assert!(others.iter().all(background), "{what}: {others:?}");
        let routing = routing_reads.len();
        assert_eq!(routing, 1, "{what}: one routing read for the delivery's one entry: {requests:?}");
        for query in routing_reads {
            assert!(query.get("IndexName").is_none(), "{what}: routing reads the table, not an index: {query}");
            assert_eq!(query["ConsistentRead"], true, "{what}: routing is read-after-write: {query}");
        }
        assert_eq!(requests.kms(), 0, "{what}: a delivery never touches KMS: {requests:?}");
        // What is stored already is read once, 100 keys per BatchGetItem (and a large
        // delivery's receipt once).
        let limit = delivered.div_ceil(100) + usize::from(remembered);
        assert!(reads <= limit, "{what}: {reads} reads for {delivered} events: {requests:?}");
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
