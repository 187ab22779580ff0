//! The health sweep, on EventBridge's schedule (`HealthSweepSchedule` in `template.yaml`;
//! locally every `HEALTH_SWEEP_SECONDS`, by the same code): every active connection is
//! checked against Meta and repaired where it can be (see `shared::sweep`). An invocation
//! sweeps for as long as it has, then keeps its position for the next one.

use shared::sweep::{SweepReport, SweepSettings, sweep};
use shared::{ApiError, App};
use std::time::Duration;

/// Runs one sweep within `budget` (the invocation's time, less a margin to answer).
pub async fn handle(app: &App, budget: Duration) -> Result<SweepReport, ApiError> {
    sweep(app, &SweepSettings { budget, ..SweepSettings::default() }).await
}
