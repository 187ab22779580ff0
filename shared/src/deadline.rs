//! One deadline per request, across every Graph call and retry it makes: in Lambda the
//! invocation's own (from the runtime's context, less a margin to answer), locally the
//! configured `REQUEST_TIMEOUT_SECONDS`. Work that cannot finish before it is not started,
//! so a function answers inside its timeout instead of being killed mid-way.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Time kept back from the Lambda deadline to write the answer.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// Runs `work` with `deadline` as the request's deadline.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Time left before the request's deadline; `None` outside a request (no deadline).
pub fn remaining() -> Option<Duration> {
    DEADLINE.try_with(|deadline| deadline.saturating_duration_since(Instant::now())).ok()
}

/// `limit`, or less when the deadline is nearer.
pub fn bounded(limit: Duration) -> Duration {
    remaining().map_or(limit, |left| left.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_bounds_what_is_left() {
        assert_eq!(remaining(), None);
        assert_eq!(bounded(Duration::from_secs(5)), Duration::from_secs(5));
        within(Instant::now() + Duration::from_secs(2), async {
            let left = remaining().unwrap();
            assert!(left <= Duration::from_secs(2) && left > Duration::from_millis(1500));
            assert!(bounded(Duration::from_secs(5)) <= Duration::from_secs(2));
            assert_eq!(bounded(Duration::from_millis(10)), Duration::from_millis(10));
        })
        .await;
        within(Instant::now(), async { assert_eq!(remaining(), Some(Duration::ZERO)) }).await;
    }
}
