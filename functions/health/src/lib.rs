//! Connection health, outside any request:
//!
//! - **The sweep**, on EventBridge's schedule (`HealthSweepSchedule` in `template.yaml`;
//!   locally every `HEALTH_SWEEP_SECONDS`, by the same code): every active connection is
//!   checked against Meta and repaired where it can be (see `shared::sweep`). An invocation
//!   sweeps for as long as it has, then keeps its position for the next one.
//! - **What follows a connect**, from the table's stream (in AWS an event source mapping
//!   filtered to coexistence phones with a sync due; locally the stack's feed): the one-time
//!   contacts and history syncs are asked of Meta within seconds of the connect (see
//!   `shared::coexistence`).

use shared::lambda::Invocation;
use shared::stream::{Change, batch_response};
use shared::sweep::{SweepReport, SweepSettings, sweep};
use shared::{ApiError, App};
use std::time::Duration;

/// Runs one sweep within `budget` (the invocation's time, less a margin to answer).
pub async fn handle(app: &App, budget: Duration) -> Result<SweepReport, ApiError> {
    sweep(app, &SweepSettings { budget, ..SweepSettings::default() }).await
}

/// Handles a batch of the table's changes; the ones to retry.
pub async fn on_changes<'c>(app: &App, changes: &'c [Change]) -> Vec<&'c Change> {
    shared::coexistence::on_changes(app, changes).await
}

/// One Lambda invocation, whichever trigger made it.
pub async fn invoked(app: &App, invocation: Invocation) -> Result<serde_json::Value, ApiError> {
    match invocation {
        Invocation::Scheduled { budget } => {
            let report = handle(app, budget).await?;
            Ok(serde_json::to_value(report).expect("a report serializes"))
        }
        Invocation::Stream(changes) => Ok(batch_response(&on_changes(app, &changes).await)),
        Invocation::Queue(_) => Err(ApiError::internal("health follows no queue")),
    }
}
