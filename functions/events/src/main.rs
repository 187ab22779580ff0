//! Lambda entry point: build the app (configuration, DynamoDB, KMS for the endpoints'
//! secrets), the delivering HTTP client, the retry queue (SQS) and the bus (EventBridge)
//! once per cold start, then serve the endpoints' routes, the table's stream and the retry
//! queue.

use events::Outbox;
use events::aws::{EventBridgeBus, SqsQueue};
use shared::events::delivery::Deliverer;
use shared::routes::Function;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let wiring = shared::App::lambda()?.with_kms()?;
    let aws = wiring.aws().clone();
    let app = wiring.build()?.leak();
    let queue_url = app.config.event_retry_queue_url.clone().ok_or("EVENT_RETRY_QUEUE_URL is required")?;
    let bus = app.config.event_bus_name.clone().ok_or("EVENT_BUS_NAME is required")?;
    let outbox: &'static Outbox = Box::leak(Box::new(Outbox {
        deliverer: Deliverer::new(app.config.events_allow_private),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url)),
        bus: Some(Arc::new(EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&aws), bus))),
    }));
    shared::lambda::serve_mixed(
        Function::Events,
        |request| events::handle(app, request),
        |invocation| events::invoked(app, outbox, invocation),
    )
    .await
}
