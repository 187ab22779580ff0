//! The bus every event is published to, besides the endpoints: in AWS the stack's
//! EventBridge bus (`source: "waba-connect"`, `detail-type` = the event's type), whose
//! rules route events anywhere AWS reaches. Its adapter lives with the `events` function,
//! which alone links the EventBridge client; the local stack has no bus.

use super::Event;
use async_trait::async_trait;

/// The `source` of every event on the bus.
pub const SOURCE: &str = "waba-connect";

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes every event, or fails (the stream hands them over again).
    async fn publish(&self, events: &[Event]) -> Result<(), String>;
}
