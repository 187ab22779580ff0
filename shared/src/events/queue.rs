//! The queue of delivery retries: what waits for its next attempt. In AWS an SQS queue (its
//! adapter lives with the `events` function, which alone links the SQS client); on one
//! machine [`StoreQueue`], items of the store that the local stack polls. Either way a retry
//! is kept until it was attempted, across a crash or a redeploy.

use super::delivery::RetryJob;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::store::records::Records;
use async_trait::async_trait;

#[async_trait]
pub trait RetryQueue: Send + Sync {
    /// Keeps `job` until its delivery's `next_attempt_at`.
    async fn schedule(&self, job: &RetryJob) -> Result<(), ApiError>;
}

/// Retries as items of the store, ordered by when they are due.
pub struct StoreQueue {
    records: Records,
}

impl StoreQueue {
    pub fn new(records: Records) -> Self {
        Self { records }
    }

    /// Up to `limit` retries due at `now`, oldest first, each with its handle for [`Self::done`].
    pub async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<(String, RetryJob)>, ApiError> {
        self.records.due_retries(now, limit).await
    }

    /// The retry was attempted (and rescheduled or finished): it leaves the queue.
    pub async fn done(&self, handle: &str) -> Result<(), ApiError> {
        self.records.remove_retry(handle).await
    }
}

#[async_trait]
impl RetryQueue for StoreQueue {
    async fn schedule(&self, job: &RetryJob) -> Result<(), ApiError> {
        self.records.queue_retry(job).await
    }
}
