//! The AWS request budget of events, counted at moto's server as `webhook_budget.rs` counts a
//! webhook's: for each event, one entry on the stack's EventBridge bus (sent ten at a time),
//! and for each endpoint one table write for the delivery's record and no SQS message when
//! the first attempt succeeds. A failing endpoint costs one SQS message per delivery and one
//! write marking it failing. The events function's own code runs here, on a batch of the
//! table's stream, with the SQS queue and the bus it has in AWS. One test in its own binary,
//! so nothing else talks to moto meanwhile.

mod support;

use serde_json::{Value, json};
use shared::App;
use shared::clock::Timestamp;
use shared::domain::{Customer, Direction, EventKind, MessageEvent};
use shared::events::bus::SOURCE;
use shared::store::records::{message_item, message_key};
use shared::stream::{Change, ChangeKind};
use std::sync::Arc;
use std::time::Duration;
use support::receiver::Receiver;
use support::recorder::{Recorder, Requests};
use support::{Backend, Harness};

const PUT_EVENTS: &str = "AWSEvents.PutEvents";
const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";

/// A batch of the table's stream: `count` inbound messages of `organization`, as their items
/// are written.
fn inbound(organization: &str, salt: &str, count: usize, first_sequence: usize) -> Vec<Change> {
    (0..count)
        .map(|i| {
            let event = MessageEvent {
                organization_id: organization.parse().unwrap(),
                phone_number_id: waba_connect::sandbox::seed::ACME_SALES_PHONE.parse().unwrap(),
                waba_id: support::SALES.parse().unwrap(),
                kind: EventKind::Message { direction: Direction::Inbound },
                message_id: format!("wamid.{salt}.{i}"),
                from: Some("16315551234".into()),
                to: None,
                customer: Customer::default(),
                contact_name: Some("Kerry".into()),
                message_type: Some("text".into()),
                text: Some(format!("message {i}")),
                error: None,
                timestamp: Timestamp::now(),
                received_at: Timestamp::now(),
                payload: None,
                history: false,
                source: None,
                identity_change: None,
                media: None,
            };
            let key = message_key(&event);
            let image = message_item(event, key.clone(), 86_400);
            Change::new(format!("{:021}", first_sequence + i), ChangeKind::Insert, key, Some(image))
        })
        .collect()
}

/// Table writes: each `PutItem`, `UpdateItem` and each item of a batch or a transaction.
fn writes(requests: &Requests) -> usize {
    let batched: usize = requests
        .bodies_of("DynamoDB_20120810.BatchWriteItem")
        .iter()
        .map(|b| b["RequestItems"].as_object().unwrap().values().map(|v| v.as_array().unwrap().len()).sum::<usize>())
        .sum();
    let transacted: usize = requests
        .bodies_of("DynamoDB_20120810.TransactWriteItems")
        .iter()
        .map(|b| b["TransactItems"].as_array().unwrap().len())
        .sum();
    requests.count("DynamoDB_20120810.PutItem") + requests.count("DynamoDB_20120810.UpdateItem") + batched + transacted
}

fn bus_entries(requests: &Requests) -> usize {
    requests.bodies_of(PUT_EVENTS).iter().map(|b| b["Entries"].as_array().unwrap().len()).sum()
}

#[tokio::test]
async fn events_stay_within_their_aws_request_budget() {
    // An organization with two endpoints, made through the API of a stack on moto; the stack
    // then stops, so only the code under measurement talks to moto.
    let h = Harness::start_on(Backend::Aws, &[]).await;
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    for receiver in [&first, &second] {
        let (status, body) = h.create_endpoint(&owner, &org, json!({ "url": receiver.url })).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    }
    let running = h.stack.app();
    let app = App::new(running.config.clone(), running.records.store().clone(), running.cipher.clone());
    let Harness { stack, data_dir: _kept, .. } = h;
    stack.stop().await;

    // The stack's bus and retry queue, and a copy of the bus on a queue to read it back.
    let aws = shared::aws::load(aws_default).unwrap();
    let suffix = shared::crypto::hex(&shared::crypto::random_bytes::<4>());
    let (bridge, sqs) = (aws_sdk_eventbridge::Client::new(&aws), aws_sdk_sqs::Client::new(&aws));
    let bus = format!("events-{suffix}");
    bridge.create_event_bus().name(&bus).send().await.unwrap();
    let retries = sqs.create_queue().queue_name(format!("retries-{suffix}")).send().await.unwrap();
    let copy = sqs.create_queue().queue_name(format!("bus-copy-{suffix}")).send().await.unwrap();
    let copy_url = copy.queue_url().unwrap().to_owned();
    let copy_arn = format!("arn:aws:sqs:us-east-1:123456789012:bus-copy-{suffix}");
    bridge
        .put_rule()
        .name("copy")
        .event_bus_name(&bus)
        .event_pattern(json!({ "source": [SOURCE] }).to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("copy").arn(&copy_arn).build().unwrap();
    bridge.put_targets().rule("copy").event_bus_name(&bus).targets(target).send().await.unwrap();
    let outbox = events::Outbox {
        deliverer: shared::events::delivery::Deliverer::new(true),
        queue: Arc::new(events::aws::SqsQueue::new(sqs.clone(), retries.queue_url().unwrap().to_owned())),
        bus: Some(Arc::new(events::aws::EventBridgeBus::new(bridge.clone(), bus.clone()))),
    };
    let recorder = Recorder::at_moto();

    let mut figures = Vec::new();
    let mut sequence = 0;
    for (what, count, failing) in [
        ("1 event, both endpoints up", 1, false),
        ("25 events, both endpoints up", 25, false),
        ("10 events, the second refuses", 10, true),
        ("10 events, the second failing", 10, true),
    ] {
        if failing {
            second.answer(&[503; 10]);
        }
        let before = (first.received().len(), second.received().len());
        let changes = inbound(&org, &format!("batch{sequence}"), count, sequence);
        sequence += count;
        let (requests, failures) = recorder
            .record(async {
                let failed = events::on_changes(&app, &outbox, &changes).await;
                json!(failed.iter().map(|c| c.sequence.as_str()).collect::<Vec<_>>())
            })
            .await;
        assert_eq!(failures, json!([]), "{what}: every change handled");

        let put_events = requests.count(PUT_EVENTS);
        assert_eq!(bus_entries(&requests), count, "{what}: one bus entry per event: {requests:?}");
        assert_eq!(put_events, count.div_ceil(10), "{what}: entries sent ten at a time: {requests:?}");
        let deliveries = 2 * count;
        let table_writes = writes(&requests);
        let sqs_messages = requests.count(SEND_MESSAGE);
        assert_eq!(first.received().len() - before.0, count, "{what}: the first endpoint got every event at once");
        if failing {
            // One write marks the second endpoint failing, the first time it fails.
            assert!(table_writes <= deliveries + 1, "{what}: {table_writes} writes: {requests:?}");
            assert_eq!(sqs_messages, count, "{what}: one retry queued per refused delivery: {requests:?}");
        } else {
            assert_eq!(second.received().len() - before.1, count);
            assert_eq!(table_writes, deliveries, "{what}: one write per delivery: {requests:?}");
            assert_eq!(sqs_messages, 0, "{what}: no retry when the first attempt succeeds: {requests:?}");
        }
        let reads = requests.count("DynamoDB_20120810.Query") + requests.count("DynamoDB_20120810.GetItem");
        figures.push((
            what,
            count,
            put_events,
            bus_entries(&requests),
            table_writes,
            sqs_messages,
            reads,
            requests.kms(),
        ));
    }
    // Once failing, the second endpoint's deliveries are queued without being attempted.
    assert_eq!(second.received().len(), 1 + 25 + 10, "the last batch waited in the queue instead");

    // What the bus got: every event, as it was delivered.
    let mut on_the_bus = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while on_the_bus.len() < sequence && tokio::time::Instant::now() < deadline {
        let got = sqs.receive_message().queue_url(&copy_url).max_number_of_messages(10).send().await.unwrap();
        for message in got.messages() {
            let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            assert_eq!(envelope["source"], SOURCE);
            assert_eq!(envelope["detail-type"], "message.received");
            assert_eq!(envelope["detail"]["organizationId"], org.as_str());
            on_the_bus.push(envelope["detail"]["id"].as_str().unwrap().to_owned());
        }
    }
    on_the_bus.sort();
    on_the_bus.dedup();
    assert_eq!(on_the_bus.len(), sequence, "every event reached the bus");

    println!(
        "\n{:<32} {:>6} {:>9} {:>11} {:>12} {:>12} {:>6} {:>4}",
        "batch of the stream", "events", "PutEvents", "bus entries", "table writes", "SQS messages", "reads", "KMS"
    );
    for (what, count, put_events, entries, table_writes, sqs_messages, reads, kms) in figures {
        println!(
            "{what:<32} {count:>6} {put_events:>9} {entries:>11} {table_writes:>12} {sqs_messages:>12} {reads:>6} {kms:>4}"
        );
    }
}

/// The credentials and region the tests give moto.
fn aws_default(name: &str) -> Option<String> {
    match name {
        "AWS_ENDPOINT_URL" => std::env::var("MOTO_ENDPOINT").ok(),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    }
}
