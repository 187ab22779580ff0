//! The table's stream on one machine. In AWS, DynamoDB Streams invokes each function that
//! follows the table (an event source mapping with its filter) and retries what it reports
//! as failed. The local stack does the same from a [`ChangeFeed`]: the embedded store's own
//! stream, or — with `LOCAL_BACKEND=aws` — the table's DynamoDB stream, read through the
//! DynamoDB Streams API. Each consumer keeps its own position, so one that fails waits
//! without holding the others back, and a change is handed over again until its consumer
//! has handled it (after a restart too).

use crate::server::Server;
use async_trait::async_trait;

use shared::store::{Item, Key, StoreError, Value};
use shared::stream::{Batch, Change, ChangeFeed, ChangeKind, Filter};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// What follows the table locally, as each function's trigger does in AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consumer {
    /// The health function's stream trigger: coexistence syncs after a connect.
    CoexistenceSync,
    /// The events function's: every recorded change to the bus and the endpoints.
    Events,
    /// The media function's: received files to fetch.
    Media,
}

impl Consumer {
    pub const ALL: [Consumer; 3] = [Consumer::CoexistenceSync, Consumer::Events, Consumer::Media];

    pub fn name(self) -> &'static str {
        match self {
            Consumer::CoexistenceSync => shared::coexistence::CONSUMER,
            Consumer::Events => "events",
            Consumer::Media => "media",
        }
    }

    /// The function whose stream trigger this consumer plays.
    pub fn function(self) -> shared::routes::Function {
        match self {
            Consumer::CoexistenceSync => shared::routes::Function::Health,
            Consumer::Events => shared::routes::Function::Events,
            Consumer::Media => shared::routes::Function::Media,
        }
    }

    /// The changes its function is handed (its event source mapping's filter in AWS).
    fn filter(self) -> Filter {
        self.function().stream_filter().expect("a consumer's function follows the stream")
    }

    /// Hands a batch to the consumer's handler; the changes it could not handle.
    async fn handle<'c>(self, server: &Server, changes: &'c [Change]) -> Vec<&'c Change> {
        match self {
            Consumer::CoexistenceSync => health::on_changes(&server.app, changes).await,
            Consumer::Events => events::on_changes(&server.app, &server.outbox, changes).await,
            Consumer::Media => media::on_changes(&server.app, server.media.as_ref(), changes).await,
        }
    }
}

/// The events' retries, as SQS hands them to the `events` function in AWS: each due one is
/// attempted, then leaves the queue (a retry attempted again is queued anew). One that
/// could not be attempted (the store failed) stays, and is tried again a moment later.
pub async fn retry_events(server: Arc<Server>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        let mut pause = IDLE;
        match server.retries.due(server.app.now(), BATCH).await {
            Ok(due) => {
                for (handle, job) in due {
                    match events::retry(&server.app, &server.outbox, job).await {
                        Ok(_) => {
                            if let Err(error) = server.retries.done(&handle).await {
                                tracing::warn!(%error, "a retry could not leave the queue");
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "a retry could not be attempted; it stays queued");
                            pause = RETRY_AFTER;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the retry queue could not be read");
                pause = RETRY_AFTER;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// How many changes a consumer is handed at once (Lambda's default batch size).
const BATCH: usize = 100;
/// How often an idle feed is looked at again.
const IDLE: Duration = Duration::from_millis(100);
/// How long a consumer waits after a failure before the changes are handed over again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Reads the feed until the stack stops.
pub async fn follow(server: Arc<Server>, feed: Arc<dyn ChangeFeed>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    for consumer in Consumer::ALL {
        if let Err(error) = feed.subscribe(consumer.name()).await {
            tracing::error!(%error, consumer = consumer.name(), "the table's stream cannot be followed");
            return;
        }
    }
    let mut waiting: HashMap<Consumer, tokio::time::Instant> = HashMap::new();
    loop {
        let mut busy = false;
        for consumer in Consumer::ALL {
            if waiting.get(&consumer).is_some_and(|until| *until > tokio::time::Instant::now()) {
                continue;
            }
            match pass(&server, feed.as_ref(), consumer).await {
                Ok(Pass::Idle) => {}
                Ok(Pass::Handled) => busy = true,
                Ok(Pass::Failed) => {
                    waiting.insert(consumer, tokio::time::Instant::now() + RETRY_AFTER);
                }
                Err(error) => {
                    tracing::warn!(%error, consumer = consumer.name(), "the table's stream could not be read");
                    waiting.insert(consumer, tokio::time::Instant::now() + RETRY_AFTER);
                }
            }
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = stopped.changed() => return,
        }
    }
}

enum Pass {
    Idle,
    Handled,
    Failed,
}

/// One batch for one consumer: what it handled is committed; from the first change it
/// could not handle on, the batch is handed over again later, as Lambda does with
/// `ReportBatchItemFailures`.
async fn pass(server: &Server, feed: &dyn ChangeFeed, consumer: Consumer) -> Result<Pass, StoreError> {
    let Batch { changes, through } = feed.read(consumer.name(), &consumer.filter(), BATCH).await?;
    let Some(through) = through else { return Ok(Pass::Idle) };
    let failed = if changes.is_empty() { Vec::new() } else { consumer.handle(server, &changes).await };
    let first_failed = changes.iter().position(|c| failed.iter().any(|f| std::ptr::eq(*f, c)));
    let handled = match first_failed {
        None => Some(through.as_str()),
        Some(0) => None,
        Some(first) => Some(changes[first - 1].sequence.as_str()),
    };
    if let Some(handled) = handled {
        feed.commit(consumer.name(), handled).await?;
    }
    Ok(if first_failed.is_some() { Pass::Failed } else { Pass::Handled })
}

/// The table's DynamoDB stream (`LOCAL_BACKEND=aws`), read shard by shard through the
/// DynamoDB Streams API. Each consumer's position is kept in a file under the data
/// directory (not in the table, whose every write would be one more change to read).
pub struct DynamoStreamFeed {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    positions_file: PathBuf,
    /// Consumer → shard → last sequence handled.
    positions: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl DynamoStreamFeed {
    pub async fn new(
        config: &aws_types::SdkConfig,
        dynamodb: &aws_sdk_dynamodb::Client,
        table: &str,
        positions_file: PathBuf,
    ) -> Result<Self, shared::BoxError> {
        let described = dynamodb.describe_table().table_name(table).send().await?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| format!("the table {table} has no stream"))?
            .to_owned();
        let positions = match std::fs::read(&positions_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            client: aws_sdk_dynamodbstreams::Client::new(config),
            stream_arn,
            positions_file,
            positions: Mutex::new(positions),
        })
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[async_trait]
impl ChangeFeed for DynamoStreamFeed {
    /// DynamoDB keeps a stream 24 hours whoever reads it; a new consumer starts at its oldest.
    async fn subscribe(&self, _consumer: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Each record is decoded to be filtered, as the event source mapping does.
    async fn read(&self, consumer: &str, filter: &Filter, limit: usize) -> Result<Batch, StoreError> {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let described = self.client.describe_stream().stream_arn(&self.stream_arn).send().await.map_err(unavailable)?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| d.shards().iter().filter_map(|s| s.shard_id().map(str::to_owned)).collect())
            .unwrap_or_default();
        let known = self.positions.lock().await.get(consumer).cloned().unwrap_or_default();
        for shard in shards {
            let mut iterator = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(&shard);
            iterator = match known.get(&shard) {
                Some(sequence) => {
                    iterator.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence)
                }
                None => iterator.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let iterator = iterator.send().await.map_err(unavailable)?;
            let Some(iterator) = iterator.shard_iterator() else { continue };
            let records = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(limit as i32)
                .send()
                .await
                .map_err(unavailable)?;
            let changes: Vec<Change> = records
                .records()
                .iter()
                .filter_map(|record| {
                    let data = record.dynamodb()?;
                    let key = Key::of(&item(data.keys()?)?)?;
                    let image = data.new_image().and_then(item);
                    let kind = ChangeKind::parse(record.event_name()?.as_str())?;
                    // A change of this shard: its position names the shard too.
                    Some(Change::new(format!("{shard}|{}", data.sequence_number()?), kind, key, image))
                })
                .collect();
            if let Some(last) = changes.last() {
                let through = Some(last.sequence.clone());
                return Ok(Batch { changes: changes.into_iter().filter(|c| filter.passes(c)).collect(), through });
            }
        }
        Ok(Batch::default())
    }

    async fn commit(&self, consumer: &str, through: &str) -> Result<(), StoreError> {
        let (shard, sequence) =
            through.split_once('|').ok_or_else(|| StoreError::Invalid("not a stream position".into()))?;
        let mut positions = self.positions.lock().await;
        positions.entry(consumer.to_owned()).or_default().insert(shard.to_owned(), sequence.to_owned());
        let bytes = serde_json::to_vec(&*positions).map_err(unavailable)?;
        std::fs::write(&self.positions_file, bytes).map_err(unavailable)
    }
}

/// An item of a stream record, in the store's own terms.
fn item(attributes: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Option<Item> {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    attributes
        .iter()
        .map(|(name, value)| {
            let value = match value {
                A::S(s) => Value::S(s.clone()),
                A::N(n) => Value::N(n.parse().ok()?),
                A::B(b) => Value::B(b.as_ref().to_vec()),
                A::Bool(b) => Value::Bool(*b),
                A::L(l) => Value::L(l.iter().map(|v| v.as_s().ok().cloned()).collect::<Option<_>>()?),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Consumer;
    use shared::routes::Function;

    #[test]
    fn the_local_stack_plays_every_stream_trigger() {
        for function in Function::ALL.into_iter().filter(|f| f.follows_stream()) {
            assert!(Consumer::ALL.iter().any(|c| c.function() == function), "{function:?}");
        }
        assert!(Consumer::ALL.iter().all(|c| c.function().follows_stream()));
    }
}
