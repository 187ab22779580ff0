//! The AWS side of events: the retry queue on SQS and the stack's EventBridge bus. Only
//! this function links their clients.

use async_trait::async_trait;
use shared::ApiError;
use shared::events::Event;
use shared::events::bus::{EventBus, SOURCE};
use shared::events::delivery::RetryJob;
use shared::events::queue::RetryQueue;

/// The longest SQS holds a message back; a later retry waits in hops of this.
const MAX_DELAY_SECONDS: i64 = 900;
/// EventBridge takes at most ten entries per `PutEvents`.
const PUT_EVENTS_BATCH: usize = 10;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self { client, url }
    }
}

#[async_trait]
impl RetryQueue for SqsQueue {
    async fn schedule(&self, job: &RetryJob) -> Result<(), ApiError> {
        let now = shared::clock::Timestamp::now();
        let wait = job.delivery.next_attempt_at.map_or(0, |due| (due.0 - now.0).clamp(0, MAX_DELAY_SECONDS));
        let body = serde_json::to_string(job).expect("a retry serializes");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(wait as i32)
            .send()
            .await
            .map_err(|error| {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "a retry could not be queued");
                ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The retry queue is unavailable.")
            })?;
        Ok(())
    }
}

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: String) -> Self {
        Self { client, name }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[Event]) -> Result<(), String> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        for batch in events.chunks(PUT_EVENTS_BATCH) {
            let entries = batch
                .iter()
                .map(|event| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.name)
                        .source(SOURCE)
                        .detail_type(event.kind.as_str())
                        .detail(String::from_utf8_lossy(&event.body()))
                        .build()
                })
                .collect();
            let answer =
                self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
                    format!("PutEvents failed: {}", aws_sdk_eventbridge::error::DisplayErrorContext(&e))
                })?;
            if answer.failed_entry_count() > 0 {
                let codes: Vec<&str> = answer.entries().iter().filter_map(|e| e.error_code()).collect();
                return Err(format!(
                    "EventBridge refused {} events: {}",
                    answer.failed_entry_count(),
                    codes.join(", ")
                ));
            }
        }
        Ok(())
    }
}
