//! The durable embedded adapter: a redb file under the local data directory. redb write
//! transactions are serialized and atomic, so conditions are evaluated and writes applied
//! under one transaction exactly as DynamoDB does for a conditional write or
//! TransactWriteItems.

use super::{Condition, Cursor, Index, Item, Key, Page, Query, Store, StoreError, Value, WriteOp, check_batch, schema};
use crate::stream::{Change, ChangeFeed, ChangeKind};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde::Deserialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

// Keys are compared as bytes: a `&str` key would be UTF-8 validated on every comparison of
// every B-tree descent. (Every key written is a Rust string, so its bytes are UTF-8.)
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items2");
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index2");
/// The tables of earlier versions, keyed by `&str`: copied over once, then dropped.
const OLD_ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
const OLD_INDEX: TableDefinition<&str, ()> = TableDefinition::new("index");
/// The table's change stream, as DynamoDB Streams keeps it in AWS: each write's new image
/// (or its deletion) under an increasing position, in the write's own transaction.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// How far each consumer of the stream has handled it.
const FEED_POSITIONS: TableDefinition<&str, u64> = TableDefinition::new("feed_positions");
const SEP: char = '\u{0}';

/// Attribute values as the JSON format of earlier versions wrote them.
#[derive(Deserialize)]
enum Stored {
    S(String),
    N(i64),
    B(Vec<u8>),
    Bool(bool),
    L(Vec<String>),
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`, readable by its owner only: it holds sealed
    /// tokens and everything the organizations connected.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            private_dir(parent).map_err(unavailable)?;
        }
        owner_only(path).map_err(unavailable)?;
        let db = Database::create(path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        {
            let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
            let mut index = txn.open_table(INDEX).map_err(unavailable)?;
            let old: Vec<String> = txn.list_tables().map_err(unavailable)?.map(|t| t.name().to_owned()).collect();
            if old.iter().any(|name| name == OLD_ITEMS.name()) {
                let old_items = txn.open_table(OLD_ITEMS).map_err(unavailable)?;
                for row in old_items.iter().map_err(unavailable)? {
                    let (key, value) = row.map_err(unavailable)?;
                    let item = decode(value.value())?;
                    items.insert(key.value().as_bytes(), encode(&item).as_slice()).map_err(unavailable)?;
                    for entry in index_entries(&item) {
                        index.insert(entry.as_bytes(), ()).map_err(unavailable)?;
                    }
                }
                drop(old_items);
                txn.delete_table(OLD_ITEMS).map_err(unavailable)?;
            }
            if old.iter().any(|name| name == OLD_INDEX.name()) {
                txn.delete_table(OLD_INDEX).map_err(unavailable)?;
            }
        }
        txn.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

/// Creates the data directory with mode 0700 when missing (and its parents as usual), and
/// narrows an existing one to it: it holds sealed tokens and the local key.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // Created 0700 from the start, not narrowed after a moment at the umask's mode.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)
}

/// Creates `path` with mode 0600 when missing, and narrows an existing file to it.
#[cfg(unix)]
pub(crate) fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
pub(crate) fn owner_only(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn item_key(key: &Key) -> String {
    format!("{}{SEP}{}", key.pk, key.sk)
}

/// Items on disk: a format byte, then each attribute as its name (u8 length), a type tag and
/// the value (u32 lengths, i64 little-endian). Written straight from the item, without
/// copying or escaping it first; files of the JSON format that came before still read.
const BINARY: u8 = 1;

fn encode(item: &Item) -> Vec<u8> {
    let size: usize = item
        .iter()
        .map(|(name, value)| {
            2 + name.len()
                + match value {
                    Value::S(s) => 4 + s.len(),
                    Value::B(b) => 4 + b.len(),
                    Value::N(_) => 8,
                    Value::Bool(_) => 1,
                    Value::L(l) => 4 + l.iter().map(|s| 4 + s.len()).sum::<usize>(),
                }
        })
        .sum();
    let mut out = Vec::with_capacity(1 + size);
    out.push(BINARY);
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    for (name, value) in item {
        out.push(name.len().min(255) as u8);
        out.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        match value {
            Value::S(s) => {
                out.push(b'S');
                bytes(&mut out, s.as_bytes());
            }
            Value::N(n) => {
                out.push(b'N');
                out.extend_from_slice(&n.to_le_bytes());
            }
            Value::B(b) => {
                out.push(b'B');
                bytes(&mut out, b);
            }
            Value::Bool(v) => {
                out.push(b'T');
                out.push(u8::from(*v));
            }
            Value::L(l) => {
                out.push(b'L');
                out.extend_from_slice(&(l.len() as u32).to_le_bytes());
                for s in l {
                    bytes(&mut out, s.as_bytes());
                }
            }
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    let Some((&BINARY, rest)) = bytes.split_first() else {
        return decode_json(bytes);
    };
    let mut r = Bytes(rest);
    let mut item = Item::new();
    while !r.0.is_empty() {
        let len = usize::from(r.take(1)?[0]);
        let name = r.text(len)?;
        let value = match r.take(1)?[0] {
            b'S' => {
                let n = r.length()?;
                Value::S(r.text(n)?)
            }
            b'N' => Value::N(i64::from_le_bytes(r.take(8)?.try_into().expect("eight bytes"))),
            b'B' => {
                let n = r.length()?;
                Value::B(r.take(n)?.to_vec())
            }
            b'T' => Value::Bool(r.take(1)?[0] != 0),
            b'L' => {
                let count = r.length()?;
                let mut list = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    let n = r.length()?;
                    list.push(r.text(n)?);
                }
                Value::L(list)
            }
            _ => return Err(Bytes::corrupt()),
        };
        item.insert(name, value);
    }
    Ok(item)
}

/// A reader over an encoded item.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn corrupt() -> StoreError {
        StoreError::Unavailable("corrupt item".into())
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(Self::corrupt());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn length(&mut self) -> Result<usize, StoreError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")) as usize)
    }
    fn text(&mut self, n: usize) -> Result<String, StoreError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Self::corrupt())
    }
}

/// The JSON format of earlier versions.
fn decode_json(bytes: &[u8]) -> Result<Item, StoreError> {
    let stored: BTreeMap<String, Stored> =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Unavailable(format!("corrupt item: {e}")))?;
    Ok(stored
        .into_iter()
        .map(|(name, v)| {
            let value = match v {
                Stored::S(s) => Value::S(s),
                Stored::N(n) => Value::N(n),
                Stored::B(b) => Value::B(b),
                Stored::Bool(b) => Value::Bool(b),
                Stored::L(l) => Value::L(l),
            };
            (name, value)
        })
        .collect())
}

/// The sparse indexes, as (name, hash attribute, range attribute): the same as the table's
/// GSIs in `infra/table.json`.
const INDEXES: [(&str, &str, &str); 2] =
    [(schema::OWNER_INDEX, schema::OWNER_KEY, schema::PK), (schema::TIME_INDEX, schema::PK, schema::TIME_KEY)];

/// The index entries an item contributes, `{index}\0{hash}\0{range}\0{pk}\0{sk}`: one per
/// index whose hash and range attributes it carries. Entries sort as the GSI does.
fn index_entries(item: &Item) -> Vec<String> {
    let Some(key) = Key::of(item) else { return Vec::new() };
    INDEXES
        .into_iter()
        .filter_map(|(index, hash, range)| {
            let hash = item.get(hash)?.as_s()?;
            let range = item.get(range)?.as_s()?;
            Some(format!("{index}{SEP}{hash}{SEP}{range}{SEP}{}{SEP}{}", key.pk, key.sk))
        })
        .collect()
}

/// The smallest string greater than every string starting with `prefix` (which ends in a
/// character below U+10FFFF, as every key here does).
fn after_prefix(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    match chars.pop() {
        Some(last) => {
            let next = char::from_u32(last as u32 + 1).unwrap_or(char::MAX);
            chars.push(next);
            chars.into_iter().collect()
        }
        None => String::from(char::MAX),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::S(x), Value::S(y)) => Some(x.cmp(y)),
        (Value::N(x), Value::N(y)) => Some(x.cmp(y)),
        (Value::B(x), Value::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Evaluates a condition the way DynamoDB does: comparisons against a missing attribute are
/// false, and comparisons across types are false.
pub(crate) fn holds(condition: &Condition, item: Option<&Item>) -> bool {
    let attribute = |name: &str| item.and_then(|i| i.get(name));
    match condition {
        Condition::Exists => item.is_some(),
        Condition::NotExists => item.is_none(),
        Condition::Equals(name, value) => attribute(name) == Some(value),
        Condition::LessThan(name, value) => attribute(name).and_then(|a| compare(a, value)) == Some(Ordering::Less),
        Condition::GreaterThan(name, value) => {
            attribute(name).and_then(|a| compare(a, value)) == Some(Ordering::Greater)
        }
        Condition::AttributeMissing(name) => attribute(name).is_none(),
        Condition::And(all) => all.iter().all(|c| holds(c, item)),
        Condition::Or(any) => any.iter().any(|c| holds(c, item)),
    }
}

/// The item as it will be after `op`, or `None` when the op deletes it (or only checks).
fn apply(op: &WriteOp, current: Option<&Item>) -> Option<Option<Item>> {
    match op {
        WriteOp::Put { item, .. } => Some(Some(item.clone())),
        WriteOp::Update { key, set, remove, .. } => {
            let mut item = current.cloned().unwrap_or_else(|| {
                Item::from([
                    (schema::PK.to_owned(), Value::S(key.pk.clone())),
                    (schema::SK.to_owned(), Value::S(key.sk.clone())),
                ])
            });
            for (name, value) in set {
                item.insert(name.clone(), value.clone());
            }
            for name in remove {
                item.remove(name);
            }
            Some(Some(item))
        }
        WriteOp::Delete { .. } => Some(None),
        WriteOp::Check { .. } => None,
    }
}

fn condition_of(op: &WriteOp) -> Option<&Condition> {
    match op {
        WriteOp::Put { condition, .. } | WriteOp::Update { condition, .. } | WriteOp::Delete { condition, .. } => {
            condition.as_ref()
        }
        WriteOp::Check { condition, .. } => Some(condition),
    }
}

fn write_all(db: &Database, ops: Vec<WriteOp>) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut index = txn.open_table(INDEX).map_err(unavailable)?;
        // Read and check everything first: a failed condition must leave no write behind.
        let mut planned = Vec::with_capacity(ops.len());
        for (position, op) in ops.iter().enumerate() {
            let key = op.key().expect("checked by check_batch");
            let current =
                items.get(item_key(&key).as_bytes()).map_err(unavailable)?.map(|v| decode(v.value())).transpose()?;
            if let Some(condition) = condition_of(op)
                && !holds(condition, current.as_ref())
            {
                return Err(StoreError::ConditionFailed { index: position });
            }
            if let Some(next) = apply(op, current.as_ref()) {
                planned.push((key, current, next));
            }
        }
        let mut stream = Stream::open(&txn)?;
        for (key, current, next) in planned {
            store_item(&mut items, &mut index, &key, current.as_ref(), next.as_ref())?;
            stream.record(&key, current.is_some(), next.as_ref())?;
        }
    }
    txn.commit().map_err(unavailable)
}

/// Writes `next` in place of `current` (or deletes the item), keeping the indexes in step.
fn store_item(
    items: &mut redb::Table<&[u8], &[u8]>,
    index: &mut redb::Table<&[u8], ()>,
    key: &Key,
    current: Option<&Item>,
    next: Option<&Item>,
) -> Result<(), StoreError> {
    for entry in current.map(index_entries).unwrap_or_default() {
        index.remove(entry.as_bytes()).map_err(unavailable)?;
    }
    match next {
        Some(item) => {
            for entry in index_entries(item) {
                index.insert(entry.as_bytes(), ()).map_err(unavailable)?;
            }
            items.insert(item_key(key).as_bytes(), encode(item).as_slice()).map_err(unavailable)?;
        }
        None => {
            items.remove(item_key(key).as_bytes()).map_err(unavailable)?;
        }
    }
    Ok(())
}

/// The change stream inside one write transaction.
struct Stream<'t> {
    changes: redb::Table<'t, u64, &'static [u8]>,
    next: u64,
}

impl<'t> Stream<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        let changes = txn.open_table(CHANGES).map_err(unavailable)?;
        let next = changes.last().map_err(unavailable)?.map_or(1, |(k, _)| k.value() + 1);
        Ok(Self { changes, next })
    }

    /// A change: what it did, the key, then the new image when there is one.
    fn record(&mut self, key: &Key, existed: bool, image: Option<&Item>) -> Result<(), StoreError> {
        let kind = match (existed, image) {
            (_, None) => b'R',
            (false, Some(_)) => b'I',
            (true, Some(_)) => b'M',
        };
        let mut bytes = vec![kind];
        for part in [&key.pk, &key.sk] {
            bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        if let Some(image) = image {
            bytes.extend_from_slice(&encode(image));
        }
        self.changes.insert(self.next, bytes.as_slice()).map_err(unavailable)?;
        self.next += 1;
        Ok(())
    }
}

fn decode_change(position: u64, bytes: &[u8]) -> Result<Change, StoreError> {
    let mut r = Bytes(bytes);
    let kind = match r.take(1)?[0] {
        b'I' => ChangeKind::Insert,
        b'M' => ChangeKind::Modify,
        b'R' => ChangeKind::Remove,
        _ => return Err(Bytes::corrupt()),
    };
    let n = r.length()?;
    let pk = r.text(n)?;
    let n = r.length()?;
    let sk = r.text(n)?;
    let image = if r.0.is_empty() { None } else { Some(decode(r.0)?) };
    Ok(Change { sequence: position.to_string(), kind, key: Key::new(pk, sk), image })
}

/// A query reads only the keys it returns (and one more, to tell whether another page
/// follows): a range of the table or of an index, bounded by the partition, the sort-key
/// prefix and the cursor, walked in order and cut at the limit. Its cost is the page's,
/// whatever the partition holds.
fn run_query(db: &Database, query: &Query) -> Result<Page, StoreError> {
    if query.sk_prefix.is_some() && !matches!(query.index, Index::Table { .. }) {
        return Err(StoreError::Invalid("a sort-key prefix applies to table queries only".into()));
    }
    let txn = db.begin_read().map_err(unavailable)?;
    let items = txn.open_table(ITEMS).map_err(unavailable)?;
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut found: Vec<Cursor> = Vec::new();
    match &query.index {
        Index::Table { pk } => {
            let low = format!("{pk}{SEP}{}", query.sk_prefix.as_deref().unwrap_or_default());
            let high = after_prefix(&low);
            let at = query.after.as_ref().map(|c| item_key(&c.key));
            let (start, end) = bounds(&low, &high, at.as_deref(), query.descending);
            let rows = items.range::<&[u8]>((start, end)).map_err(unavailable)?;
            walk(rows, query.descending, |row| {
                let (k, _) = row.map_err(unavailable)?;
                let key = std::str::from_utf8(k.value()).map_err(unavailable)?;
                let sk = &key[pk.len() + SEP.len_utf8()..];
                found.push(Cursor::of_table(Key::new(pk.clone(), sk)));
                Ok(found.len() > limit)
            })?;
        }
        Index::ByOwner(_) | Index::ByTime { .. } => {
            let (name, hash) = match &query.index {
                Index::ByOwner(owner) => (schema::OWNER_INDEX, owner),
                Index::ByTime { pk } => (schema::TIME_INDEX, pk),
                Index::Table { .. } => unreachable!("matched above"),
            };
            let low = format!("{name}{SEP}{hash}{SEP}");
            let high = after_prefix(&low);
            let at = query.after.as_ref().map(|c| {
                let range = c.index_sort.clone().unwrap_or_else(|| c.key.pk.clone());
                format!("{low}{range}{SEP}{}{SEP}{}", c.key.pk, c.key.sk)
            });
            let (start, end) = bounds(&low, &high, at.as_deref(), query.descending);
            let index = txn.open_table(INDEX).map_err(unavailable)?;
            let rows = index.range::<&[u8]>((start, end)).map_err(unavailable)?;
            walk(rows, query.descending, |row| {
                let (k, _) = row.map_err(unavailable)?;
                let key = std::str::from_utf8(k.value()).map_err(unavailable)?;
                let mut parts = key[low.len()..].splitn(3, SEP);
                let (Some(range), Some(pk), Some(sk)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(unavailable("corrupt index entry"));
                };
                let index_sort = matches!(query.index, Index::ByTime { .. }).then(|| range.to_owned());
                found.push(Cursor { index_sort, key: Key::new(pk, sk) });
                Ok(found.len() > limit)
            })?;
        }
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let mut page = Vec::with_capacity(found.len());
    for cursor in &found {
        if let Some(bytes) = items.get(item_key(&cursor.key).as_bytes()).map_err(unavailable)? {
            page.push(decode(bytes.value())?);
        }
    }
    let next = if more { found.pop() } else { None };
    Ok(Page { items: page, next })
}

/// Hands rows to `take` in the query's direction until it says the page is full.
fn walk<R>(
    rows: impl DoubleEndedIterator<Item = R>,
    descending: bool,
    mut take: impl FnMut(R) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let rows: Box<dyn Iterator<Item = R>> = if descending { Box::new(rows.rev()) } else { Box::new(rows) };
    for row in rows {
        if take(row)? {
            break;
        }
    }
    Ok(())
}

/// The range `[low, high)` narrowed by a cursor: what comes after it in the walk's direction.
fn bounds<'a>(
    low: &'a str,
    high: &'a str,
    after: Option<&'a str>,
    descending: bool,
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let (low, high, after) = (low.as_bytes(), high.as_bytes(), after.map(str::as_bytes));
    match (after, descending) {
        (None, _) => (Bound::Included(low), Bound::Excluded(high)),
        (Some(at), false) => (Bound::Excluded(at), Bound::Excluded(high)),
        (Some(at), true) => (Bound::Included(low), Bound::Excluded(at)),
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    // Reads run where they are awaited: a read transaction serves from redb's page cache in
    // microseconds, less than handing the work to a blocking thread and back would cost.
    // Writes, which wait for an fsync, go to a blocking thread.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let items = txn.open_table(ITEMS).map_err(unavailable)?;
        items.get(item_key(key).as_bytes()).map_err(unavailable)?.map(|v| decode(v.value())).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let items = txn.open_table(ITEMS).map_err(unavailable)?;
        keys.iter()
            .map(|key| items.get(item_key(key).as_bytes()).map_err(unavailable)?.map(|v| decode(v.value())).transpose())
            .collect()
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        run_query(&self.db, query)
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        self.blocking(move |db| write_all(db, ops)).await
    }

    /// One redb transaction for the whole batch: one fsync however many events a delivery
    /// carries.
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError> {
        if puts.iter().any(|(item, _)| Key::of(item).is_none()) {
            return Err(StoreError::Invalid("an item lacks pk or sk".into()));
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let mut written = Vec::with_capacity(puts.len());
            {
                let mut table = txn.open_table(ITEMS).map_err(unavailable)?;
                let mut index = txn.open_table(INDEX).map_err(unavailable)?;
                let mut stream = Stream::open(&txn)?;
                for (item, condition) in &puts {
                    let key = Key::of(item).expect("checked above");
                    let stored = table.get(item_key(&key).as_bytes()).map_err(unavailable)?.map(|v| v.value().to_vec());
                    // The store-once write decides on existence alone, without decoding.
                    let current = match (condition, &stored) {
                        (Some(Condition::NotExists), _) | (_, None) => None,
                        (_, Some(bytes)) => Some(decode(bytes)?),
                    };
                    let holds = match condition {
                        Some(Condition::NotExists) => stored.is_none(),
                        Some(other) => holds(other, current.as_ref()),
                        None => true,
                    };
                    if holds {
                        store_item(&mut table, &mut index, &key, current.as_ref(), Some(item))?;
                        stream.record(&key, stored.is_some(), Some(item))?;
                    }
                    written.push(holds);
                }
            }
            txn.commit().map_err(unavailable)?;
            Ok(written)
        })
        .await
    }
}

#[async_trait]
impl ChangeFeed for EmbeddedStore {
    async fn subscribe(&self, consumer: &str) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut positions = txn.open_table(FEED_POSITIONS).map_err(unavailable)?;
                if positions.get(consumer.as_str()).map_err(unavailable)?.is_none() {
                    positions.insert(consumer.as_str(), 0).map_err(unavailable)?;
                }
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn read(&self, consumer: &str, limit: usize) -> Result<Vec<Change>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let after = match txn.open_table(FEED_POSITIONS) {
            Ok(positions) => positions.get(consumer).map_err(unavailable)?.map_or(0, |v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(other) => return Err(unavailable(other)),
        };
        let changes = match txn.open_table(CHANGES) {
            Ok(changes) => changes,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(other) => return Err(unavailable(other)),
        };
        let mut out = Vec::new();
        for row in changes.range(after + 1..).map_err(unavailable)?.take(limit) {
            let (position, bytes) = row.map_err(unavailable)?;
            out.push(decode_change(position.value(), bytes.value())?);
        }
        Ok(out)
    }

    /// Moves the consumer on, then drops what every consumer has handled.
    async fn commit(&self, consumer: &str, through: &Change) -> Result<(), StoreError> {
        let position: u64 = through.sequence.parse().map_err(|_| StoreError::Invalid("not a feed position".into()))?;
        let consumer = consumer.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut positions = txn.open_table(FEED_POSITIONS).map_err(unavailable)?;
                let known = positions.get(consumer.as_str()).map_err(unavailable)?.map_or(0, |v| v.value());
                positions.insert(consumer.as_str(), known.max(position)).map_err(unavailable)?;
                let mut handled = u64::MAX;
                for row in positions.iter().map_err(unavailable)? {
                    handled = handled.min(row.map_err(unavailable)?.1.value());
                }
                // The last change every consumer handled stays: the next position counts on
                // from it.
                let mut changes = txn.open_table(CHANGES).map_err(unavailable)?;
                changes.retain_in(..handled, |_, _| false).map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }
}
