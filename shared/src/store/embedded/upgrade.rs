//! Carries over a store an earlier version kept in the data directory: a redb file,
//! `store.redb`. On the first start after the upgrade its items, its pending changes and each
//! consumer's position are copied into SQLite in one transaction, which also records that
//! the copy happened; then the file is renamed `store.redb.carried-over` (kept, owner-only,
//! until the operator deletes it). A crash anywhere in between leaves either the earlier file
//! to carry over again or the record that it was, never half a copy. A data directory whose
//! SQLite store already holds items beside an earlier file that was never carried over (an
//! earlier version run again after the upgrade) is refused with what to do, not merged.

use super::{OnConflict, json, put_row, unavailable};
use crate::store::{Item, Key, StoreError, Value};
use crate::stream::ChangeKind;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The earlier store's file in the data directory, and its name once carried over.
pub const EARLIER_FILE: &str = "store.redb";
pub const CARRIED_OVER_FILE: &str = "store.redb.carried-over";

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items2");
/// The table of versions before that, keyed by `&str`, with JSON items.
const OLDER_ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
const FEED_POSITIONS: TableDefinition<&str, u64> = TableDefinition::new("feed_positions");

/// What a carry-over copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CarriedOver {
    pub items: u64,
    pub changes: u64,
    pub consumers: u64,
}

/// Carries over `dir`'s earlier store into the store `connection` writes, once, and says so
/// in the log.
pub(crate) fn carry_over(dir: &Path, connection: &mut rusqlite::Connection) -> Result<Option<CarriedOver>, StoreError> {
    let earlier = dir.join(EARLIER_FILE);
    if !earlier.exists() {
        return Ok(None);
    }
    let kept = dir.join(CARRIED_OVER_FILE);
    let txn = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(unavailable)?;
    txn.execute_batch("CREATE TABLE IF NOT EXISTS carried_over (file TEXT PRIMARY KEY, items INTEGER NOT NULL, changes INTEGER NOT NULL, consumers INTEGER NOT NULL, at TEXT NOT NULL)")
        .map_err(unavailable)?;
    let done: Option<(u64, u64, u64)> = txn
        .query_row("SELECT items, changes, consumers FROM carried_over WHERE file = ?1", params![EARLIER_FILE], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
        .map_err(unavailable)?;
    let copied = match done {
        // Copied before a crash that came ahead of the rename: only the rename is left.
        Some((items, changes, consumers)) => CarriedOver { items, changes, consumers },
        None => {
            let holds_items: bool =
                txn.query_row("SELECT EXISTS (SELECT 1 FROM items)", [], |row| row.get(0)).map_err(unavailable)?;
            if holds_items {
                return Err(StoreError::Unavailable(format!(
                    "{} holds items and so does {}, which was never carried over (was an earlier                      version run on this data directory after the upgrade?). Refusing to merge them:                      move the one you do not want out of the directory and start again.",
                    dir.join(super::FILE_NAME).display(),
                    earlier.display()
                )));
            }
            let copied = copy(&earlier, &txn)?;
            txn.execute(
                "INSERT INTO carried_over (file, items, changes, consumers, at) VALUES (?1, ?2, ?3, ?4, datetime('now'))",
                params![EARLIER_FILE, copied.items, copied.changes, copied.consumers],
            )
            .map_err(unavailable)?;
            copied
        }
    };
    txn.commit().map_err(unavailable)?;
    std::fs::rename(&earlier, &kept).map_err(unavailable)?;
    tracing::info!(
        items = copied.items,
        pending_changes = copied.changes,
        consumers = copied.consumers,
        "carried the earlier store ({EARLIER_FILE}) over to {}; the earlier file is kept as {CARRIED_OVER_FILE} and may be deleted",
        super::FILE_NAME
    );
    Ok(Some(copied))
}

/// Copies every item, pending change and consumer position of the redb file at `path`.
fn copy(path: &Path, txn: &rusqlite::Transaction<'_>) -> Result<CarriedOver, StoreError> {
    let db = redb::Database::open(path).map_err(unavailable)?;
    let read = db.begin_read().map_err(unavailable)?;
    let tables: Vec<String> = read.list_tables().map_err(unavailable)?.map(|t| t.name().to_owned()).collect();
    let has = |name: &str| tables.iter().any(|t| t == name);
    let mut copied = CarriedOver::default();
    let mut put = |item: Item| -> Result<(), StoreError> {
        let key = Key::of(&item).ok_or_else(|| unavailable("an item of the earlier store lacks pk or sk"))?;
        put_row(txn, &key, &item, &json::encode(&item), OnConflict::Replace)?;
        copied.items += 1;
        Ok(())
    };
    // The oldest table first: where both are present, the newer one wins.
    if has(OLDER_ITEMS.name()) {
        for row in read.open_table(OLDER_ITEMS).map_err(unavailable)?.iter().map_err(unavailable)? {
            put(decode(row.map_err(unavailable)?.1.value())?)?;
        }
    }
    if has(ITEMS.name()) {
        for row in read.open_table(ITEMS).map_err(unavailable)?.iter().map_err(unavailable)? {
            put(decode(row.map_err(unavailable)?.1.value())?)?;
        }
    }
    if has(CHANGES.name()) {
        for row in read.open_table(CHANGES).map_err(unavailable)?.iter().map_err(unavailable)? {
            let (position, bytes) = row.map_err(unavailable)?;
            let (kind, key, image) = decode_change(bytes.value())?;
            let position = i64::try_from(position.value()).map_err(unavailable)?;
            txn.execute(
                "INSERT INTO changes (position, kind, pk, sk, image, entity) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    position,
                    kind.name(),
                    key.pk,
                    key.sk,
                    image.as_ref().map(json::encode),
                    image.as_ref().and_then(super::entity_of),
                ],
            )
            .map_err(unavailable)?;
            copied.changes += 1;
        }
    }
    if has(FEED_POSITIONS.name()) {
        for row in read.open_table(FEED_POSITIONS).map_err(unavailable)?.iter().map_err(unavailable)? {
            let (consumer, position) = row.map_err(unavailable)?;
            let position = i64::try_from(position.value()).map_err(unavailable)?;
            txn.execute(
                "INSERT INTO feed_positions (consumer, position) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                params![consumer.value(), position],
            )
            .map_err(unavailable)?;
            copied.consumers += 1;
        }
    }
    Ok(copied)
}

/// Attribute values as the JSON format of earlier versions wrote them.
#[derive(Deserialize)]
enum Stored {
    S(String),
    N(i64),
    B(Vec<u8>),
    Bool(bool),
    L(Vec<String>),
}

/// Items in the earlier file: a format byte, then each attribute as its name (u8 length), a
/// type tag and the value (u32 lengths, i64 little-endian); or, older still, JSON.
const BINARY: u8 = 1;

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

fn decode_change(bytes: &[u8]) -> Result<(ChangeKind, Key, Option<Item>), StoreError> {
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
    Ok((kind, Key::new(pk, sk), image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    /// Writes an item as the earlier version did.
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

    /// A change as the earlier version recorded it: what it did, the key, the new image.
    fn encode_change(kind: u8, key: &Key, image: Option<&Item>) -> Vec<u8> {
        let mut bytes = vec![kind];
        for part in [&key.pk, &key.sk] {
            bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        if let Some(image) = image {
            bytes.extend_from_slice(&encode(image));
        }
        bytes
    }

    fn item(pk: &str, sk: &str, extra: &[(&str, Value)]) -> Item {
        let mut item = Item::from([("pk".to_owned(), Value::S(pk.into())), ("sk".to_owned(), Value::S(sk.into()))]);
        item.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        item
    }

    fn organization() -> Item {
        item("ORG#1", "PROFILE", &[("ownerKey", Value::S("owner-1".into())), ("sealed", Value::B(vec![0, 255, 7]))])
    }

    fn message(n: i64) -> Item {
        let at = ("at", Value::S(format!("2026-12-0{n}")));
        item("ORG#1", &format!("MSG#{n}"), &[at, ("entity", Value::S("message".into())), ("n", Value::N(n))])
    }

    /// A data directory as the earlier version left it: items of both earlier formats, three
    /// changes still in the stream, consumer `a` through the first and `b` through the second.
    fn earlier_data_dir() -> std::path::PathBuf {
        let dir = crate::testing::scratch_dir("waba-connect-upgrade");
        std::fs::create_dir_all(&dir).unwrap();
        let db = redb::Database::create(dir.join(EARLIER_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut items = txn.open_table(ITEMS).unwrap();
            for item in [organization(), message(1), message(2)] {
                let key = Key::of(&item).unwrap();
                items.insert(format!("{}\u{0}{}", key.pk, key.sk).as_bytes(), encode(&item).as_slice()).unwrap();
            }
            let mut older = txn.open_table(OLDER_ITEMS).unwrap();
            let json = br#"{"pk":{"S":"ORG#old"},"sk":{"S":"PROFILE"},"ownerKey":{"S":"owner-1"},"n":{"N":7}}"#;
            older.insert("ORG#old\u{0}PROFILE", json.as_slice()).unwrap();
            let mut changes = txn.open_table(CHANGES).unwrap();
            changes.insert(5, encode_change(b'I', &Key::new("ORG#1", "MSG#1"), Some(&message(1))).as_slice()).unwrap();
            changes.insert(6, encode_change(b'I', &Key::new("ORG#1", "MSG#2"), Some(&message(2))).as_slice()).unwrap();
            changes.insert(7, encode_change(b'R', &Key::new("ORG#1", "MSG#3"), None).as_slice()).unwrap();
            let mut positions = txn.open_table(FEED_POSITIONS).unwrap();
            positions.insert("a", 5).unwrap();
            positions.insert("b", 6).unwrap();
        }
        txn.commit().unwrap();
        dir
    }

    /// The store of `dir` as [`EmbeddedStore::open_in`] opens it, and what it carried over.
    fn open_carrying_over(dir: &Path) -> (EmbeddedStore, Option<CarriedOver>) {
        let path = dir.join(super::super::FILE_NAME);
        let mut connection = super::super::prepare(&path).unwrap();
        let copied = carry_over(dir, &mut connection).unwrap();
        (EmbeddedStore::start(&path, connection).unwrap(), copied)
    }

    fn sequences(changes: &[crate::stream::Change]) -> Vec<&str> {
        changes.iter().map(|c| c.sequence.as_str()).collect()
    }

    #[tokio::test]
    async fn an_earlier_store_is_carried_over_once_with_its_stream() {
        use crate::store::{Index, Query, Store};
        use crate::stream::{ChangeFeed, Filter, Pattern};
        let dir = earlier_data_dir();
        let (store, copied) = open_carrying_over(&dir);
        assert_eq!(copied, Some(CarriedOver { items: 4, changes: 3, consumers: 2 }));
        assert!(
            !dir.join(EARLIER_FILE).exists() && dir.join(CARRIED_OVER_FILE).exists(),
            "the earlier file is kept aside"
        );

        assert_eq!(store.get(&Key::new("ORG#1", "PROFILE")).await.unwrap(), Some(organization()));
        assert_eq!(store.get(&Key::new("ORG#old", "PROFILE")).await.unwrap().unwrap()["n"], Value::N(7));
        let owned = store.query(&Query::new(Index::ByOwner("owner-1".into()))).await.unwrap();
        assert_eq!(owned.items.len(), 2, "the owner index covers both formats' items");
        let mut newest = Query::new(Index::ByTime { pk: "ORG#1".into() });
        newest.descending = true;
        assert_eq!(store.query(&newest).await.unwrap().items, vec![message(2), message(1)]);

        let pending = store.read("a", &Filter::EVERY, 10).await.unwrap().changes;
        assert_eq!(sequences(&pending), vec!["6", "7"], "each consumer reads on from where it was");
        assert_eq!(pending[0].image(), Some(&message(2)));
        assert!(pending[1].image().is_none() && pending[1].kind == ChangeKind::Remove);
        const MESSAGES: Filter = Filter(&[Pattern { kinds: &[], entities: &["message"], attributes: &[] }]);
        let messages = store.read("a", &MESSAGES, 10).await.unwrap().changes;
        assert_eq!(sequences(&messages), vec!["6"], "a carried-over change keeps its entity for the filters");
        assert_eq!(sequences(&store.read("b", &Filter::EVERY, 10).await.unwrap().changes), vec!["7"]);
        store.write(vec![crate::store::WriteOp::Put { item: message(4), condition: None }]).await.unwrap();
        assert_eq!(
            sequences(&store.read("b", &Filter::EVERY, 10).await.unwrap().changes),
            vec!["7", "8"],
            "new changes count on after them"
        );

        drop(store);
        let reopened = EmbeddedStore::open_in(&dir).unwrap();
        assert_eq!(
            reopened.read("b", &Filter::EVERY, 10).await.unwrap().changes.len(),
            2,
            "nothing is carried over twice"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_copy_made_before_a_crash_is_not_made_twice() {
        use crate::stream::{ChangeFeed, Filter};
        let dir = earlier_data_dir();
        drop(EmbeddedStore::open_in(&dir).unwrap());
        // As if the process died after the copy's commit and before the rename.
        std::fs::rename(dir.join(CARRIED_OVER_FILE), dir.join(EARLIER_FILE)).unwrap();
        let (store, copied) = open_carrying_over(&dir);
        assert_eq!(copied, Some(CarriedOver { items: 4, changes: 3, consumers: 2 }));
        assert_eq!(sequences(&store.read("a", &Filter::EVERY, 10).await.unwrap().changes), vec!["6", "7"]);
        assert!(!dir.join(EARLIER_FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn two_stores_holding_items_are_refused_not_merged() {
        use crate::store::Store;
        let dir = earlier_data_dir();
        let store = EmbeddedStore::open(&dir.join(super::super::FILE_NAME)).unwrap();
        store.write(vec![crate::store::WriteOp::Put { item: message(9), condition: None }]).await.unwrap();
        drop(store);
        let Err(StoreError::Unavailable(refusal)) = EmbeddedStore::open_in(&dir) else { panic!("opened") };
        assert!(refusal.contains("Refusing to merge") && refusal.contains(EARLIER_FILE), "{refusal}");
        assert!(dir.join(EARLIER_FILE).exists(), "the earlier file is left where it was");
        let store = EmbeddedStore::open(&dir.join(super::super::FILE_NAME)).unwrap();
        assert!(store.get(&Key::new("ORG#1", "PROFILE")).await.unwrap().is_none(), "nothing was copied");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
