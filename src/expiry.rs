//! Time to live on one machine. In AWS, DynamoDB deletes the table's expired items (each
//! `ttl`: messages after `MESSAGE_RETENTION_DAYS`, OAuth states, webhook receipts…) and the
//! media bucket's lifecycle rule deletes received files after the same retention. The local
//! stack does both itself: when it starts, then hourly.

use shared::media::files::FileMediaStore;
use shared::store::embedded::EmbeddedStore;
use std::time::{Duration, SystemTime};

/// How often expired items and files are looked for. DynamoDB takes up to a few days; every
/// read that depends on an expiry checks it anyway.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What the local stack keeps that expires.
pub struct Expiry {
    pub store: EmbeddedStore,
    pub media: FileMediaStore,
    /// How long a received file is kept.
    pub retention: Duration,
}

impl Expiry {
    /// One pass: the items whose `ttl` has passed, then the files past the retention.
    pub async fn run(&self) {
        match self.store.delete_expired(shared::clock::Timestamp::now()).await {
            Ok(0) => {}
            Ok(items) => tracing::info!(items, "deleted the store's expired items"),
            Err(error) => tracing::warn!(%error, "expired items could not be deleted; tried again later"),
        }
        let cutoff = SystemTime::now() - self.retention;
        match self.media.delete_written_before(cutoff).await {
            Ok(0) => {}
            Ok(files) => tracing::info!(files, "deleted received files past the retention"),
            Err(error) => tracing::warn!(%error, "old received files could not be deleted; tried again later"),
        }
    }
}

/// Runs a pass now and every [`EVERY`] until the stack stops.
pub async fn expire_every(expiry: Expiry, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        expiry.run().await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
