//! The durable embedded adapter: one SQLite database under the local data directory (WAL,
//! `synchronous=FULL`: a write is on disk before it is acknowledged). One connection
//! writes, on a thread of its own, in `BEGIN IMMEDIATE` transactions, so conditions are
//! evaluated and writes applied under one transaction exactly as DynamoDB does for a
//! conditional write or TransactWriteItems; writes that arrive together share a commit, each
//! in a savepoint of its own ([`writer`]). Reads take a connection of their own and see the
//! last commit.
//!
//! The schema is plain so that ordinary tools read it: `items` (the key, the two index
//! attributes, the expiry and the item as JSON), the sparse indexes as SQLite partial
//! indexes, the table's change stream and each consumer's position in it.
//!
//! Items whose `ttl` has passed are deleted by [`EmbeddedStore::delete_expired`], as
//! DynamoDB's time to live deletes them in AWS.

pub(crate) mod json;
pub mod upgrade;
mod writer;

use super::{Condition, Cursor, Index, Item, Key, Page, Query, Store, StoreError, Value, WriteOp, check_batch, schema};
use crate::clock::Timestamp;
use crate::stream::{Batch, Change, ChangeFeed, ChangeKind, Expected, Filter};
use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, params};
use std::cmp::Ordering;
use std::path::Path;
use std::sync::{Arc, Mutex};
use writer::Writer;

use crate::private_files::{owner_only, private_dir};

/// The file name of the store in the data directory.
pub const FILE_NAME: &str = "store.sqlite3";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS items (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        owner_key TEXT,
        at TEXT,
        expires INTEGER,
        item TEXT NOT NULL,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS by_owner ON items (owner_key, pk, sk) WHERE owner_key IS NOT NULL;
    CREATE INDEX IF NOT EXISTS by_time ON items (pk, at, sk) WHERE at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS changes (
        position INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        image TEXT,
        entity TEXT
    );
    CREATE TABLE IF NOT EXISTS feed_positions (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
";

#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Writer,
    /// Idle read connections; a read takes one (or opens one) and puts it back.
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`, readable by its owner only: it holds sealed
    /// tokens and everything the organizations connected. SQLite gives its write-ahead log
    /// and shared-memory files the database file's mode.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::start(path, prepare(path)?)
    }

    /// Opens the store of a data directory, first carrying over, once, a store an earlier
    /// version kept there (see [`upgrade`]).
    pub fn open_in(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut connection = prepare(&path)?;
        upgrade::carry_over(dir, &mut connection)?;
        Self::start(&path, connection)
    }

    /// The store whose writes `writer` (a connection to `path`, prepared) makes.
    fn start(path: &Path, writer: Connection) -> Result<Self, StoreError> {
        let writer = Writer::start(writer)?;
        Ok(Self { shared: Arc::new(Shared { writer, readers: Mutex::new(Vec::new()), path: path.into() }) })
    }

    /// Deletes the items whose `ttl` is `now` or earlier, as DynamoDB's time to live does in
    /// AWS: each deletion is a `REMOVE` on the table's stream. A few hundred per transaction,
    /// so a delivery waits for one of them at most; how many were deleted.
    ///
    /// A deletion is not synced on its own: a power cut can only bring an expired item back
    /// until the next pass, and every read that cares checks the `ttl` anyway.
    pub async fn delete_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        const AT_ONCE: i64 = 500;
        let mut deleted = 0;
        loop {
            let count = self
                .write_transaction(Durability::Deferred, move |txn| {
                    let mut expired = txn
                        .prepare_cached(
                            "SELECT pk, sk FROM items INDEXED BY by_expiry
                             WHERE expires IS NOT NULL AND expires <= ?1 ORDER BY expires LIMIT ?2",
                        )
                        .map_err(unavailable)?;
                    let keys = expired
                        .query_map(params![now.0, AT_ONCE], |row| {
                            Ok(Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                        })
                        .and_then(Iterator::collect::<Result<Vec<Key>, _>>)
                        .map_err(unavailable)?;
                    for key in &keys {
                        store_item(txn, key, true, None)?;
                    }
                    Ok(keys.len())
                })
                .await?;
            deleted += count;
            if (count as i64) < AT_ONCE {
                return Ok(deleted);
            }
        }
    }

    /// Runs `work` in one write transaction, which a moment's other writes may share: it
    /// waits for an fsync.
    async fn writing<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Txn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_transaction(Durability::Immediate, work).await
    }

    async fn write_transaction<T: Send + 'static>(
        &self,
        durability: Durability,
        work: impl FnOnce(&Txn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.shared.writer.write(durability, work).await
    }

    /// Runs `read` on a read connection. Reads run where they are awaited: a read serves from
    /// SQLite's page cache in microseconds, less than handing it to a blocking thread costs.
    fn reading<T>(&self, read: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.shared.readers.lock().map_err(|_| unavailable("a store reader panicked"))?.pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => connect(&self.shared.path)?,
        };
        let out = read(&mut connection);
        if let Ok(mut idle) = self.shared.readers.lock() {
            idle.push(connection);
        }
        out
    }
}

/// A transaction on one connection, begun and ended by statements kept prepared like every
/// other statement (rusqlite's own transactions compile `BEGIN` and `COMMIT` anew each
/// time, and compiling a statement costs more than running it). Dropped without
/// [`Txn::commit`], it rolls back.
struct Txn<'c> {
    connection: &'c Connection,
}

impl<'c> Txn<'c> {
    fn begin(connection: &'c Connection, begin: &str) -> Result<Self, StoreError> {
        run(connection, begin)?;
        Ok(Self { connection })
    }

    fn commit(self) -> Result<(), StoreError> {
        run(self.connection, "COMMIT")
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.connection.is_autocommit() {
            // Nothing of it was committed, whether or not this succeeds; a connection that
            // cannot roll back fails its next BEGIN, and so its next write.
            let _ = run(self.connection, "ROLLBACK");
        }
    }
}

impl std::ops::Deref for Txn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

/// Runs a statement that takes no parameters and returns no rows, kept prepared.
fn run(connection: &Connection, sql: &str) -> Result<(), StoreError> {
    connection.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map(drop).map_err(unavailable)
}

/// When a commit reaches the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Before the commit returns: every write the service acknowledges.
    Immediate,
    /// With the next full commit (or checkpoint): the stream consumers' positions. A power
    /// cut can only take a position back, so changes are handed over again, which at least
    /// once allows; the log's order keeps the database consistent either way.
    Deferred,
}

impl Durability {
    /// The setting that gives a commit this durability.
    fn pragma(self) -> &'static str {
        match self {
            Durability::Immediate => "PRAGMA synchronous = FULL",
            Durability::Deferred => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// Opens (or creates) the store's file, owner-only, with the schema as this version keeps it:
/// the connection that writes.
fn prepare(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent() {
        private_dir(parent).map_err(unavailable)?;
    }
    owner_only(path).map_err(unavailable)?;
    let connection = connect(path)?;
    connection.execute_batch(SCHEMA).map_err(unavailable)?;
    migrate(&connection)?;
    Ok(connection)
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;")
        .map_err(unavailable)?;
    // One plan whatever the parameters: otherwise SQLite compiles a prepared query again
    // each time it runs with another `LIMIT` (which every query binds), and the routing
    // query of every webhook was compiled anew.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(unavailable)?;
    // Every statement the store runs stays prepared (under thirty, with each query's variants):
    // compiling one again costs more than running it.
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// The schema's version (`PRAGMA user_version`), which [`migrate`] brings a database to.
const SCHEMA_VERSION: i64 = 2;

/// Brings a database an earlier version wrote to this schema, once, in one transaction.
/// Version 0 kept no `entity` beside each change, which the feed's filters read; versions
/// before 2 kept no `expires` beside each item, which the deletion of expired items reads.
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let txn = Txn::begin(connection, "BEGIN IMMEDIATE")?;
    let version: i64 = txn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(unavailable)?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    if !has_column(&txn, "changes", "entity")? {
        txn.execute_batch(
            "ALTER TABLE changes ADD COLUMN entity TEXT;
             UPDATE changes SET entity = json_extract(image, '$.entity') WHERE image IS NOT NULL;",
        )
        .map_err(unavailable)?;
    }
    if !has_column(&txn, "items", "expires")? {
        txn.execute_batch(&format!(
            "ALTER TABLE items ADD COLUMN expires INTEGER;
             UPDATE items SET expires = json_extract(item, '$.{ttl}') WHERE json_type(item, '$.{ttl}') = 'integer';",
            ttl = schema::TTL
        ))
        .map_err(unavailable)?;
    }
    txn.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS by_expiry ON items (expires) WHERE expires IS NOT NULL;
         PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(unavailable)?;
    txn.commit()
}

fn has_column(connection: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    connection
        .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")
        .and_then(|mut statement| statement.exists(params![table, column]))
        .map_err(unavailable)
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
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

/// An index attribute's column: the attribute when it is a string, as the GSIs key on
/// strings; an item without it is not in that index.
fn index_attribute<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s()
}

fn read_item(connection: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT item FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
    let mut rows = statement.query(params![key.pk, key.sk]).map_err(unavailable)?;
    match rows.next().map_err(unavailable)? {
        Some(row) => Ok(Some(item_of(row, 0)?)),
        None => Ok(None),
    }
}

/// Writes `next` in place of what `key` holds (or deletes it), and records the change.
fn store_item(txn: &Txn<'_>, key: &Key, existed: bool, next: Option<&Item>) -> Result<(), StoreError> {
    let image = next.map(|item| (item, json::encode(item)));
    match &image {
        Some((item, json)) => {
            put_row(txn, key, item, json, OnConflict::Replace)?;
        }
        None => {
            let mut statement =
                txn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
            statement.execute(params![key.pk, key.sk]).map_err(unavailable)?;
        }
    }
    record_change(txn, key, existed, image.as_ref().map(|(item, json)| (*item, json.as_str())))
}

/// Stores `item` unless its key is taken, deciding on the key alone; whether it was stored.
fn insert_new(txn: &Txn<'_>, key: &Key, item: &Item) -> Result<bool, StoreError> {
    let image = json::encode(item);
    let inserted = put_row(txn, key, item, &image, OnConflict::Keep)?;
    if inserted {
        record_change(txn, key, false, Some((item, &image)))?;
    }
    Ok(inserted)
}

/// What a row does to one already under its key.
#[derive(Clone, Copy)]
enum OnConflict {
    Replace,
    Keep,
}

/// Writes the row of `item` (whose JSON is `image`), its index columns with it; whether it
/// was written.
fn put_row(
    connection: &Connection,
    key: &Key,
    item: &Item,
    image: &str,
    on_conflict: OnConflict,
) -> Result<bool, StoreError> {
    let sql = match on_conflict {
        OnConflict::Replace => {
            "INSERT INTO items (pk, sk, owner_key, at, expires, item) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (pk, sk) DO UPDATE SET
                 owner_key = excluded.owner_key, at = excluded.at, expires = excluded.expires, item = excluded.item"
        }
        OnConflict::Keep => {
            "INSERT INTO items (pk, sk, owner_key, at, expires, item) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING"
        }
    };
    let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
    let owner = index_attribute(item, schema::OWNER_KEY);
    let at = index_attribute(item, schema::TIME_KEY);
    // DynamoDB's time to live reads a number of seconds, and ignores any other type.
    let expires = item.get(schema::TTL).and_then(Value::as_n);
    Ok(statement.execute(params![key.pk, key.sk, owner, at, expires, image]).map_err(unavailable)? == 1)
}

/// The table's change stream, as DynamoDB Streams keeps it in AWS: each write's new image
/// (the item and its JSON), or its deletion, under an increasing position, in the write's
/// own transaction. The image's entity is kept beside it for the consumers' filters.
fn record_change(txn: &Txn<'_>, key: &Key, existed: bool, image: Option<(&Item, &str)>) -> Result<(), StoreError> {
    let kind = match (existed, image) {
        (_, None) => ChangeKind::Remove,
        (false, Some(_)) => ChangeKind::Insert,
        (true, Some(_)) => ChangeKind::Modify,
    };
    let entity = image.and_then(|(item, _)| entity_of(item));
    let mut statement = txn
        .prepare_cached("INSERT INTO changes (kind, pk, sk, image, entity) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(unavailable)?;
    statement
        .execute(params![kind.name(), key.pk, key.sk, image.map(|(_, json)| json), entity])
        .map_err(unavailable)?;
    Ok(())
}

/// What a change's image is, kept beside it for the consumers' filters.
fn entity_of(item: &Item) -> Option<&str> {
    item.get(schema::ENTITY)?.as_s()
}

/// A consumer's filter as a condition on a change's row: its kind and entity are columns,
/// so a change the filter leaves is never decoded; an attribute's value is read from the
/// image by SQLite's JSON functions.
fn filter_sql(filter: &Filter) -> String {
    fn quoted(text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }
    fn list<'a>(values: impl Iterator<Item = &'a str>) -> String {
        values.map(quoted).collect::<Vec<_>>().join(", ")
    }
    let patterns: Vec<String> = filter
        .0
        .iter()
        .map(|pattern| {
            let mut terms = Vec::new();
            if !pattern.kinds.is_empty() {
                terms.push(format!("kind IN ({})", list(pattern.kinds.iter().map(|k| k.name()))));
            }
            if !pattern.entities.is_empty() {
                terms.push(format!("entity IN ({})", list(pattern.entities.iter().copied())));
            }
            for (name, expected) in pattern.attributes {
                let path = quoted(&format!("$.\"{name}\""));
                terms.push(match expected {
                    Expected::S(value) => format!("json_extract(image, {path}) = {}", quoted(value)),
                    // Exactly a JSON boolean: `json_extract` would read `true` and `1` alike.
                    Expected::Bool(value) => format!("json_type(image, {path}) = '{value}'"),
                });
            }
            if terms.is_empty() { "1".to_owned() } else { format!("({})", terms.join(" AND ")) }
        })
        .collect();
    if patterns.is_empty() { "0".to_owned() } else { patterns.join(" OR ") }
}

fn write_all(txn: &Txn<'_>, ops: &[WriteOp]) -> Result<(), StoreError> {
    // Read and check everything first: a failed condition must leave no write behind.
    let mut planned = Vec::with_capacity(ops.len());
    for (position, op) in ops.iter().enumerate() {
        let key = op.key().expect("checked by check_batch");
        let current = read_item(txn, &key)?;
        if let Some(condition) = condition_of(op)
            && !holds(condition, current.as_ref())
        {
            return Err(StoreError::ConditionFailed { index: position });
        }
        if let Some(next) = apply(op, current.as_ref()) {
            planned.push((key, current.is_some(), next));
        }
    }
    for (key, existed, next) in planned {
        store_item(txn, &key, existed, next.as_ref())?;
    }
    Ok(())
}

/// The smallest string greater than every string starting with `prefix` (which ends in a
/// character below U+10FFFF, as every key here does). UTF-8 orders as code points do, so it
/// bounds the prefix under SQLite's byte-wise comparison too.
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

/// A query reads only the rows it returns (and one more, to tell whether another page
/// follows): a range of the table or of an index, bounded by the partition, the sort-key
/// prefix and the cursor, walked in order and cut at the limit. Its cost is the page's,
/// whatever the partition holds.
fn run_query(connection: &Connection, query: &Query) -> Result<Page, StoreError> {
    if query.sk_prefix.is_some() && !matches!(query.index, Index::Table { .. }) {
        return Err(StoreError::Invalid("a sort-key prefix applies to table queries only".into()));
    }
    let order @ (direction, after) = if query.descending { ("DESC", "<") } else { ("ASC", ">") };
    let (page, limit) = (query.limit, sql_limit(query.limit));
    let (rows, more): (Vec<(Cursor, Item)>, bool) = match &query.index {
        Index::Table { pk } => {
            let low = query.sk_prefix.clone().unwrap_or_default();
            let high = after_prefix(&low);
            let at = query.after.as_ref().map(|c| c.key.sk.clone());
            let sql = format!(
                "SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 {} ORDER BY sk {direction} LIMIT ?5",
                if at.is_some() { format!("AND sk {after} ?4") } else { "AND ?4 IS NULL".into() }
            );
            let mut statement = connection.prepare_cached(&sql).map_err(unavailable)?;
            let found = statement.query(params![pk, low, high, at, limit]).map_err(unavailable)?;
            page_of(found, page, |row| {
                let sk: String = row.get(0).map_err(unavailable)?;
                Ok((Cursor::of_table(Key::new(pk.clone(), sk)), item_of(row, 1)?))
            })?
        }
        Index::ByOwner(owner) => {
            // The GSI's range attribute is the partition key: rows in (pk, sk) order.
            let at = query.after.as_ref().map(|c| (c.key.pk.clone(), c.key.sk.clone()));
            let filter = "owner_key = ?1";
            let (found, more) = index_rows(connection, "by_owner", filter, "pk", owner, at, order, page)?;
            let cursor = |pk, sk| Cursor { index_sort: None, key: Key::new(pk, sk) };
            (found.into_iter().map(|(pk, sk, item)| (cursor(pk, sk), item)).collect(), more)
        }
        Index::ByTime { pk } => {
            let at = query.after.as_ref().map(|c| (c.index_sort.clone().unwrap_or_default(), c.key.sk.clone()));
            let filter = "pk = ?1 AND at IS NOT NULL";
            let (found, more) = index_rows(connection, "by_time", filter, "at", pk, at, order, page)?;
            let cursor = |time, sk| Cursor { index_sort: Some(time), key: Key::new(pk.clone(), sk) };
            (found.into_iter().map(|(time, sk, item)| (cursor(time, sk), item)).collect(), more)
        }
    };
    let next = if more { rows.last().map(|(cursor, _)| cursor.clone()) } else { None };
    Ok(Page { items: rows.into_iter().map(|(_, item)| item).collect(), next })
}

/// The rows a query of `page` items reads: one more, which tells whether more follow and is
/// not decoded. SQLite reads a negative limit as none.
fn sql_limit(page: Option<usize>) -> i64 {
    page.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX - 1) + 1)
}

/// The first `page` rows of a query run with [`sql_limit`], each decoded by `decode`, and
/// whether more follow: the row beyond the page only says so, and is not decoded.
fn page_of<T>(
    mut rows: rusqlite::Rows<'_>,
    page: Option<usize>,
    mut decode: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<(Vec<T>, bool), StoreError> {
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        if Some(found.len()) == page {
            return Ok((found, true));
        }
        found.push(decode(row)?);
    }
    Ok((found, false))
}

/// The item in column `column` of a row, decoded from the stored bytes as they are.
fn item_of(row: &rusqlite::Row<'_>, column: usize) -> Result<Item, StoreError> {
    json::decode(row.get_ref(column).and_then(|value| Ok(value.as_bytes()?)).map_err(unavailable)?)
}

/// A row of a sparse index: its range value, its sort key and the item.
type IndexRow = (String, String, Item);

/// The rows of a sparse index where `filter` holds (`?1` is the index's hash value), in
/// (`range`, `sk`) order (`direction`, and the comparison that goes past the cursor), after
/// the cursor's (`range`, `sk`) when there is one: at most `page` of them, and whether more
/// follow.
#[allow(clippy::too_many_arguments)]
fn index_rows(
    connection: &Connection,
    index: &str,
    filter: &str,
    range: &str,
    hash: &str,
    at: Option<(String, String)>,
    (direction, after): (&str, &str),
    page: Option<usize>,
) -> Result<(Vec<IndexRow>, bool), StoreError> {
    let cursor = if at.is_some() {
        format!("AND ({range}, sk) {after} (?2, ?3)")
    } else {
        "AND ?2 IS NULL AND ?3 IS NULL".into()
    };
    let sql = format!(
        "SELECT {range}, sk, item FROM items INDEXED BY {index} WHERE {filter} {cursor} \
         ORDER BY {range} {direction}, sk {direction} LIMIT ?4"
    );
    let (at_range, at_sk) = at.unzip();
    let mut statement = connection.prepare_cached(&sql).map_err(unavailable)?;
    let rows = statement.query(params![hash, at_range, at_sk, sql_limit(page)]).map_err(unavailable)?;
    page_of(rows, page, |row| {
        Ok((row.get(0).map_err(unavailable)?, row.get(1).map_err(unavailable)?, item_of(row, 2)?))
    })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.reading(|connection| read_item(connection, key))
    }

    /// One read transaction: every key as of the same commit.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.reading(|connection| {
            let txn = Txn::begin(connection, "BEGIN")?;
            let items = keys.iter().map(|key| read_item(&txn, key)).collect();
            txn.commit()?;
            items
        })
    }

    /// Each named attribute is read out of the stored JSON by SQLite, so an item is never
    /// decoded whole.
    async fn get_many_projected(&self, keys: &[Key], attributes: &[&str]) -> Result<Vec<Option<Item>>, StoreError> {
        let columns: Vec<String> = (0..attributes.len()).map(|i| format!("item -> ?{}", i + 3)).collect();
        let sql = format!("SELECT 1, {} FROM items WHERE pk = ?1 AND sk = ?2", columns.join(", "));
        let paths: Vec<String> = attributes.iter().map(|name| format!("$.\"{name}\"")).collect();
        self.reading(|connection| {
            let txn = Txn::begin(connection, "BEGIN")?;
            let mut statement = txn.prepare_cached(&sql).map_err(unavailable)?;
            let mut items = Vec::with_capacity(keys.len());
            for key in keys {
                let parameters = [&key.pk, &key.sk].into_iter().chain(&paths);
                let mut rows = statement.query(rusqlite::params_from_iter(parameters)).map_err(unavailable)?;
                let Some(row) = rows.next().map_err(unavailable)? else {
                    items.push(None);
                    continue;
                };
                let mut item = Item::new();
                for (i, name) in attributes.iter().enumerate() {
                    if let Some(json) =
                        row.get_ref(i + 1).and_then(|v| Ok(v.as_bytes_or_null()?)).map_err(unavailable)?
                    {
                        item.insert((*name).to_owned(), json::decode_value(json)?);
                    }
                }
                items.push(Some(item));
            }
            drop(statement);
            txn.commit()?;
            Ok(items)
        })
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.reading(|connection| run_query(connection, query))
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        self.writing(move |txn| write_all(txn, &ops)).await
    }

    /// One transaction for the whole batch: one fsync however many events a delivery
    /// carries.
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError> {
        if puts.iter().any(|(item, _)| Key::of(item).is_none()) {
            return Err(StoreError::Invalid("an item lacks pk or sk".into()));
        }
        self.writing(move |txn| {
            let mut written = Vec::with_capacity(puts.len());
            for (item, condition) in &puts {
                let key = Key::of(item).expect("checked above");
                // The store-once write decides on the key alone, without reading the item.
                let stored = match condition {
                    Some(Condition::NotExists) => insert_new(txn, &key, item)?,
                    _ => {
                        let current = read_item(txn, &key)?;
                        let holds = condition.as_ref().is_none_or(|c| holds(c, current.as_ref()));
                        if holds {
                            store_item(txn, &key, current.is_some(), Some(item))?;
                        }
                        holds
                    }
                };
                written.push(stored);
            }
            Ok(written)
        })
        .await
    }
}

#[async_trait]
impl ChangeFeed for EmbeddedStore {
    async fn subscribe(&self, consumer: &str) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.writing(move |txn| {
            txn.prepare_cached("INSERT INTO feed_positions (consumer, position) VALUES (?1, 0) ON CONFLICT DO NOTHING")
                .and_then(|mut statement| statement.execute(params![consumer]))
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn read(&self, consumer: &str, filter: &Filter, limit: usize) -> Result<Batch, StoreError> {
        let rows_sql = format!(
            "SELECT position, kind, pk, sk, image FROM changes
             WHERE position > ?1 AND position <= ?2 AND ({}) ORDER BY position LIMIT ?3",
            filter_sql(filter)
        );
        self.reading(|connection| {
            // One snapshot: the consumer's position, the last change and the rows between.
            let txn = Txn::begin(connection, "BEGIN")?;
            let mut bounds = txn
                .prepare_cached(
                    "SELECT coalesce((SELECT position FROM feed_positions WHERE consumer = ?1), 0),
                            coalesce((SELECT max(position) FROM changes), 0)",
                )
                .map_err(unavailable)?;
            let (after, last): (i64, i64) =
                bounds.query_row(params![consumer], |row| Ok((row.get(0)?, row.get(1)?))).map_err(unavailable)?;
            if last <= after {
                return Ok(Batch::default());
            }
            let mut statement = txn.prepare_cached(&rows_sql).map_err(unavailable)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = statement.query(params![after, last, limit]).map_err(unavailable)?;
            let mut changes = Vec::new();
            while let Some(row) = rows.next().map_err(unavailable)? {
                let position: i64 = row.get(0).map_err(unavailable)?;
                let kind = row.get_ref(1).and_then(|v| Ok(v.as_str()?)).map_err(unavailable)?;
                let kind = ChangeKind::parse(kind).ok_or_else(|| unavailable("corrupt change"))?;
                let image = row.get_ref(4).map_err(unavailable)?.as_bytes_or_null().map_err(unavailable)?;
                let key = Key::new(
                    row.get::<_, String>(2).map_err(unavailable)?,
                    row.get::<_, String>(3).map_err(unavailable)?,
                );
                changes.push(Change::stored(position.to_string(), kind, key, image.map(Box::from)));
            }
            // A full batch ends at its last change; otherwise the read looked at every change.
            let through = match changes.last() {
                Some(change) if changes.len() as i64 == limit => change.sequence.clone(),
                _ => last.to_string(),
            };
            drop(rows);
            drop(statement);
            drop(bounds);
            txn.commit()?;
            Ok(Batch { changes, through: Some(through) })
        })
    }

    /// Moves the consumer on, then drops what every consumer has handled.
    async fn commit(&self, consumer: &str, through: &str) -> Result<(), StoreError> {
        let position: i64 = through.parse().map_err(|_| StoreError::Invalid("not a feed position".into()))?;
        let consumer = consumer.to_owned();
        self.write_transaction(Durability::Deferred, move |txn| {
            txn.prepare_cached(
                "INSERT INTO feed_positions (consumer, position) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)",
            )
            .and_then(|mut statement| statement.execute(params![consumer, position]))
            .map_err(unavailable)?;
            // The last change every consumer handled stays: the next position counts on
            // from it.
            run(txn, "DELETE FROM changes WHERE position < (SELECT min(position) FROM feed_positions)")?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch_dir;
    use rusqlite::StatementStatus;

    /// An item of no record of the service's, under partition `P`.
    fn thing(sk: &str) -> Item {
        Item::from([
            (schema::PK.to_owned(), Value::S("P".into())),
            (schema::SK.to_owned(), Value::S(sk.into())),
            (schema::ENTITY.to_owned(), Value::S("thing".into())),
        ])
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_gets_its_changes_entities_and_items_expiries_once() {
        use crate::stream::{Expected, Pattern};
        let dir = scratch_dir("embedded-migrate");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        let first = SCHEMA.replace(",\n        entity TEXT\n", "\n").replace("        expires INTEGER,\n", "");
        assert!(!first.contains("entity") && !first.contains("expires"), "{first}");
        let earlier = Connection::open(&path).unwrap();
        earlier.execute_batch(&first).unwrap();
        earlier
            .execute_batch(
                r#"INSERT INTO changes (kind, pk, sk, image) VALUES ('INSERT', 'P', 'A', '{"entity":"message","x":true}');
                   INSERT INTO changes (kind, pk, sk, image) VALUES ('REMOVE', 'P', 'B', NULL);
                   INSERT INTO items (pk, sk, item) VALUES ('P', 'OLD', '{"pk":"P","sk":"OLD","ttl":100}');
                   INSERT INTO items (pk, sk, item) VALUES ('P', 'NEW', '{"pk":"P","sk":"NEW","ttl":300}');
                   INSERT INTO items (pk, sk, item) VALUES ('P', 'TEXT', '{"pk":"P","sk":"TEXT","ttl":"100"}');"#,
            )
            .unwrap();
        drop(earlier);

        let store = EmbeddedStore::open(&path).unwrap();
        const MESSAGES: Filter =
            Filter(&[Pattern { kinds: &[], entities: &["message"], attributes: &[("x", Expected::Bool(true))] }]);
        let batch = store.read("new", &MESSAGES, 10).await.unwrap();
        assert_eq!(batch.changes.iter().map(|c| c.key.sk.as_str()).collect::<Vec<_>>(), ["A"]);
        assert_eq!(batch.through.as_deref(), Some("2"));
        drop(store);
        let version: i64 = connect(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let store = EmbeddedStore::open(&path).unwrap();
        let again = store.read("new", &MESSAGES, 10).await.unwrap();
        assert_eq!(again.changes, batch.changes, "opened again, it is as it was");
        // Each item's expiry was read from its `ttl` when it is a number, as DynamoDB reads it.
        assert_eq!(store.delete_expired(Timestamp(200)).await.unwrap(), 1);
        for (sk, kept) in [("OLD", false), ("NEW", true), ("TEXT", true)] {
            assert_eq!(store.get(&Key::new("P", sk)).await.unwrap().is_some(), kept, "{sk}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn expired_items_are_deleted_as_dynamodbs_time_to_live_deletes_them() {
        let dir = scratch_dir("embedded-expiry");
        let store = EmbeddedStore::open(&dir.join(FILE_NAME)).unwrap();
        let item = |sk: &str, ttl: Option<Value>| {
            let mut item = thing(sk);
            item.extend(ttl.map(|ttl| (schema::TTL.to_owned(), ttl)));
            item
        };
        // More than one transaction's worth of expired items, and one at each side of `now`.
        let mut puts: Vec<_> = (0..1_201).map(|i| (item(&format!("OLD#{i:04}"), Some(Value::N(999))), None)).collect();
        puts.push((item("NOW", Some(Value::N(1_000))), None));
        puts.push((item("LATER", Some(Value::N(1_001))), None));
        puts.push((item("NEVER", None), None));
        puts.push((item("NOT-A-NUMBER", Some(Value::S("999".into()))), None));
        store.put_each(puts).await.unwrap();
        // An item whose `ttl` a later write took away, or moved on, is kept.
        store
            .put_each(vec![(item("OLD#0000", None), None), (item("OLD#0001", Some(Value::N(5_000))), None)])
            .await
            .unwrap();
        store.subscribe("after").await.unwrap();
        let written = store.read("after", &Filter::EVERY, 10_000).await.unwrap();
        store.commit("after", &written.through.unwrap()).await.unwrap();

        assert_eq!(store.delete_expired(Timestamp(1_000)).await.unwrap(), 1_200);
        let left = store.query(&Query::new(Index::Table { pk: "P".into() })).await.unwrap().items;
        let left: Vec<&str> = left.iter().map(|item| item[schema::SK].as_s().unwrap()).collect();
        assert_eq!(left, ["LATER", "NEVER", "NOT-A-NUMBER", "OLD#0000", "OLD#0001"]);
        let removed = store.read("after", &Filter::EVERY, 10_000).await.unwrap().changes;
        assert_eq!(removed.len(), 1_200);
        assert!(removed.iter().all(|c| c.kind == ChangeKind::Remove && c.image().is_none()));
        assert_eq!(store.delete_expired(Timestamp(1_000)).await.unwrap(), 0, "nothing is deleted twice");
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn writes_that_arrive_together_share_a_commit_and_each_fails_alone() {
        let dir = scratch_dir("embedded-group");
        let path = dir.join(FILE_NAME);
        let store = EmbeddedStore::open(&path).unwrap();
        let key = |sk: &str| Key::new("P", sk);
        store.subscribe("after").await.unwrap();

        // One write holds the writer while the others queue behind it; they are then taken
        // together, in the order they came.
        let (started, running) = tokio::sync::oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holding = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .writing(move |_| {
                        started.send(()).unwrap();
                        held.recv().unwrap();
                        Ok(())
                    })
                    .await
            }
        });
        running.await.unwrap();
        let first = store.write(vec![WriteOp::Put { item: thing("FIRST"), condition: Some(Condition::NotExists) }]);
        let reader = path.clone();
        let seen = store.writing(move |txn| {
            // What the write before it did, in the same transaction, not yet committed.
            let inside = read_item(txn, &key("FIRST"))?.is_some();
            let outside = read_item(&connect(&reader)?, &key("FIRST"))?.is_some();
            Ok((inside, outside))
        });
        let refused = store.write(vec![
            WriteOp::Put { item: thing("HALF"), condition: None },
            WriteOp::Put { item: thing("FIRST"), condition: Some(Condition::NotExists) },
        ]);
        let failed = store.writing(move |txn| {
            store_item(txn, &key("UNDONE"), false, Some(&thing("UNDONE")))?;
            Err::<(), _>(StoreError::Invalid("fails after writing".into()))
        });
        let panicked = store.writing(move |txn| -> Result<(), StoreError> {
            store_item(txn, &key("PANICKED"), false, Some(&thing("PANICKED")))?;
            panic!("a write that panics")
        });
        let last = store.write(vec![WriteOp::Put { item: thing("LAST"), condition: None }]);
        // Each is handed to the writer when first polled, in this order; then it is let go.
        let go = async { release.send(()).unwrap() };
        let (first, seen, refused, failed, panicked, last, ()) =
            tokio::join!(biased; first, seen, refused, failed, panicked, last, go);
        holding.await.unwrap().unwrap();

        first.unwrap();
        assert_eq!(seen.unwrap(), (true, false), "one transaction, committed after the last of them");
        assert_eq!(refused, Err(StoreError::ConditionFailed { index: 1 }));
        assert_eq!(failed, Err(StoreError::Invalid("fails after writing".into())));
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))), "{panicked:?}");
        last.unwrap();
        let kept = store.query(&Query::new(Index::Table { pk: "P".into() })).await.unwrap().items;
        let kept: Vec<&str> = kept.iter().map(|item| item[schema::SK].as_s().unwrap()).collect();
        assert_eq!(kept, ["FIRST", "LAST"], "a failed write leaves nothing behind, and the others stay");
        let changes = store.read("after", &Filter::EVERY, 100).await.unwrap().changes;
        let changed: Vec<&str> = changes.iter().map(|change| change.key.sk.as_str()).collect();
        assert_eq!(changed, ["FIRST", "LAST"], "nor a change on the stream");
        store.write(vec![WriteOp::Put { item: thing("AFTER"), condition: None }]).await.unwrap();
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_commit_waits_for_the_disk_exactly_when_a_write_in_it_must() {
        let dir = scratch_dir("embedded-sync");
        let store = EmbeddedStore::open(&dir.join(FILE_NAME)).unwrap();
        // SQLite's `PRAGMA synchronous` as the writing connection has it: 1 NORMAL, 2 FULL.
        let level =
            |txn: &Txn<'_>| txn.query_row("PRAGMA synchronous", [], |row| row.get::<_, i64>(0)).map_err(unavailable);
        // Back and forth twice: SQLite applies the setting when it compiles the statement, and
        // a `PRAGMA` kept prepared is compiled again each time it runs (it expires itself).
        for _ in 0..2 {
            assert_eq!(store.write_transaction(Durability::Deferred, level).await.unwrap(), 1);
            assert_eq!(store.writing(level).await.unwrap(), 2);
        }
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_prepared_query_is_planned_once_whatever_its_parameters() {
        let dir = scratch_dir("embedded-plan");
        let store = EmbeddedStore::open(&dir.join(FILE_NAME)).unwrap();
        let connection = connect(&store.shared.path).unwrap();
        // A page's shape: each query's limit is one more than its page, or none (-1).
        let mut page = connection
            .prepare_cached("SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 ORDER BY sk LIMIT ?3")
            .unwrap();
        for (pk, low, limit) in [("WABA#1", "PHONE#", 11), ("WABA#2", "ROUTE#", -1), ("ORG#3", "", 51)] {
            assert!(page.query(params![pk, low, limit]).unwrap().next().unwrap().is_none());
        }
        assert_eq!(page.get_status(StatementStatus::RePrepare), 0);
        drop(page);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
