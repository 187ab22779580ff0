//! The `Store` port: a small, DynamoDB-shaped item store (single table, two sparse GSIs,
//! conditional writes, all-or-nothing transactions, queries bounded by the sort-key prefix
//! and the page). Two adapters implement it with the same
//! semantics: [`dynamo::DynamoStore`] in AWS and [`embedded::EmbeddedStore`] on one machine.
//! The domain mapping ([`records::Records`]) is written once, above the port.

pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod records;

use async_trait::async_trait;
use std::collections::BTreeMap;

pub use records::Records;

/// The attributes that make up the table's schema. `template.yaml` and the local table
/// creation both follow these names.
pub mod schema {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    /// Epoch seconds; DynamoDB's TTL deletes the item some time after it. Reads never rely
    /// on that deletion.
    pub const TTL: &str = "ttl";
    pub const OWNER_INDEX: &str = "byOwner";
    pub const OWNER_KEY: &str = "ownerKey";
    /// Items of one partition ordered by `at` instead of `sk`: an organization's messages
    /// newest first, while each message's key is its identity (which deduplicates it).
    pub const TIME_INDEX: &str = "byTime";
    pub const TIME_KEY: &str = "at";
    /// What an item is (`phone_number`, `message`, …): what the stream's filters select by.
    pub const ENTITY: &str = "entity";
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    S(String),
    N(i64),
    B(Vec<u8>),
    Bool(bool),
    /// A list of strings (stored as a DynamoDB list, which unlike a string set may be empty).
    L(Vec<String>),
}

impl Value {
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Value::S(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_n(&self) -> Option<i64> {
        match self {
            Value::N(n) => Some(*n),
            _ => None,
        }
    }
}

pub type Item = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    pub fn of(item: &Item) -> Option<Self> {
        Some(Self::new(item.get(schema::PK)?.as_s()?, item.get(schema::SK)?.as_s()?))
    }
}

/// A condition on the item a write touches, evaluated atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    Equals(String, Value),
    /// The attribute exists and is less than the value (same type).
    LessThan(String, Value),
    GreaterThan(String, Value),
    AttributeMissing(String),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    /// Sets and removes attributes; like DynamoDB's UpdateItem it creates the item when it is
    /// missing unless the condition says otherwise.
    Update {
        key: Key,
        set: Vec<(String, Value)>,
        remove: Vec<String>,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    Check {
        key: Key,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> Option<Key> {
        match self {
            WriteOp::Put { item, .. } => Key::of(item),
            WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Some(key.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// Items sharing a partition key, in `sk` order. Strongly consistent.
    Table { pk: String },
    /// Organizations by owner.
    ByOwner(String),
    /// Items of a partition that carry `at`, in `at` order (eventually consistent in AWS).
    ByTime { pk: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    /// Only sort keys starting with this (table queries).
    pub sk_prefix: Option<String>,
    pub descending: bool,
    pub limit: Option<usize>,
    /// The `next` of a previous page.
    pub after: Option<Cursor>,
}

/// Where a page ended: the last item's key and, for an index ordered by another attribute,
/// that attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub index_sort: Option<String>,
    pub key: Key,
}

impl Cursor {
    pub fn of_table(key: Key) -> Self {
        Self { index_sort: None, key }
    }
}

impl Query {
    pub fn new(index: Index) -> Self {
        Self { index, sk_prefix: None, descending: false, limit: None, after: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Where the last item returned is, when more may follow.
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The condition of operation `index` (0 for a single write) did not hold.
    ConditionFailed { index: usize },
    /// Another transaction touched the same items at the same time; nothing was written.
    TransactionConflict,
    /// The request was malformed for this store (a bug, not a caller mistake).
    Invalid(String),
    /// The backend could not be reached or refused the request.
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::ConditionFailed { index } => write!(f, "condition of write {index} failed"),
            StoreError::TransactionConflict => f.write_str("transaction conflict"),
            StoreError::Invalid(m) => write!(f, "invalid store request: {m}"),
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// DynamoDB's TransactWriteItems limit; the embedded store enforces it too, so code that
/// works locally works in AWS.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[async_trait]
pub trait Store: Send + Sync {
    /// A strongly consistent read.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Strongly consistent reads of several items in as few requests as the backend allows,
    /// in the order of `keys`.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// [`Store::get_many`] keeping only the named attributes of each item, as DynamoDB's
    /// `ProjectionExpression` does: for a caller that asks whether items exist, or for one
    /// attribute of each. An item that has none of them is there, and empty.
    async fn get_many_projected(&self, keys: &[Key], attributes: &[&str]) -> Result<Vec<Option<Item>>, StoreError> {
        let items = self.get_many(keys).await?;
        Ok(items.into_iter().map(|item| item.map(|item| project(item, attributes))).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// One operation is a single conditional write; several are one transaction in which
    /// either every operation applies or none does.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Puts each item where its condition holds, independently (not a transaction): the
    /// store-once write of webhook events, the newest-wins write of contacts. Returns, per
    /// item, whether it was written. Adapters batch or parallelize so a delivery of many
    /// items stays fast.
    /// A put without a condition always writes.
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError>;

    /// Writes each item unless an item with its key exists.
    async fn put_each_if_absent(&self, items: Vec<Item>) -> Result<Vec<bool>, StoreError> {
        self.put_each(items.into_iter().map(|item| (item, Some(Condition::NotExists))).collect()).await
    }
}

/// `item` with only the named attributes.
pub(crate) fn project(mut item: Item, attributes: &[&str]) -> Item {
    item.retain(|name, _| attributes.contains(&name.as_str()));
    item
}

/// Checks what both adapters refuse the same way before touching the backend.
pub(crate) fn check_batch(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("no operations".into()));
    }
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!("{} operations exceed the transaction limit", ops.len())));
    }
    let mut keys = std::collections::BTreeSet::new();
    for op in ops {
        let key = op.key().ok_or_else(|| StoreError::Invalid("an item lacks pk or sk".into()))?;
        if !keys.insert(key) {
            return Err(StoreError::Invalid("two operations on one item in a transaction".into()));
        }
    }
    Ok(())
}
