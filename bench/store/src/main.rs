//! The embedded store's write path in its two candidate designs, apart from the service:
//! what a webhook delivery costs the store alone, one transaction per delivery, in CPU (this
//! process's user + system time, fsync included) and wall time per event.
//!
//! - `redb`: the tables the embedded store kept before (items, index entries, the change
//!   stream), each delivery one redb write transaction, `Durability::Immediate`;
//! - `sqlite-full`: SQLite as it keeps them now (WAL, `synchronous=FULL`, the indexes as
//!   partial indexes, prepared statements, `INSERT … ON CONFLICT DO NOTHING`);
//! - `sqlite-normal`: the same with `synchronous=NORMAL`, which does not sync each commit
//!   (shown for what the fsync costs; the store does not use it for acknowledged writes).
//!
//! Scenarios, as scripts/bench-webhook's: single-event deliveries at ~1k stored, 1000-event
//! batches, the same batches redelivered, a bulk load to 100k, single events at 100k, and a
//! page of the 50 newest.

use redb::{Database, Durability, ReadableTable, TableDefinition};
use rusqlite::{Connection, params};
use std::time::Instant;

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items2");
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index2");
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");

fn cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn body(i: u64) -> Vec<u8> {
    let mut b = format!("{{\"pk\":\"ORG#01JB8\",\"sk\":\"MSG#wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTg{i:08}\",\"at\":\"1795238940#{i:08}\",\"from\":\"16315551234\",\"type\":\"text\",\"text\":\"message {i}\",\"phone\":\"106540352243015\",\"waba\":\"102290129340355\",\"direction\":\"in\",\"ttl\":1800000000}}").into_bytes();
    b.resize(360, b' ');
    b
}
fn sk(i: u64) -> String {
    format!("MSG#wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTg{i:08}")
}
fn at(i: u64) -> String {
    format!("1795238940#{i:08}")
}
const PK: &str = "ORG#01JB8ZQ0";

trait Proto {
    /// One transaction storing each id once; returns how many were new.
    fn store(&mut self, ids: &[u64]) -> usize;
    fn page(&mut self) -> usize;
}

struct Sqlite(Connection);
impl Sqlite {
    fn open(path: &str, sync: &str) -> Self {
        let c = Connection::open(path).unwrap();
        c.execute_batch(&format!("PRAGMA journal_mode=WAL; PRAGMA synchronous={sync};
            CREATE TABLE IF NOT EXISTS items (pk TEXT NOT NULL, sk TEXT NOT NULL, owner_key TEXT, at TEXT, body BLOB NOT NULL, PRIMARY KEY (pk, sk)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS by_owner ON items(owner_key, pk, sk) WHERE owner_key IS NOT NULL;
            CREATE INDEX IF NOT EXISTS by_time ON items(pk, at, sk) WHERE at IS NOT NULL;
            CREATE TABLE IF NOT EXISTS changes (position INTEGER PRIMARY KEY, kind INTEGER NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL, image BLOB);")).unwrap();
        Self(c)
    }
}
impl Proto for Sqlite {
    fn store(&mut self, ids: &[u64]) -> usize {
        let tx = self.0.transaction().unwrap();
        let mut n = 0;
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO items (pk, sk, at, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
                .unwrap();
            let mut ch = tx.prepare_cached("INSERT INTO changes (kind, pk, sk, image) VALUES (1, ?1, ?2, ?3)").unwrap();
            for &i in ids {
                let b = body(i);
                let s = sk(i);
                if ins.execute(params![PK, s, at(i), b]).unwrap() == 1 {
                    ch.execute(params![PK, s, b]).unwrap();
                    n += 1;
                }
            }
        }
        tx.commit().unwrap();
        n
    }
    fn page(&mut self) -> usize {
        let mut q = self.0.prepare_cached("SELECT i.body FROM items i WHERE i.pk = ?1 AND i.at IS NOT NULL ORDER BY i.at DESC, i.sk DESC LIMIT 50").unwrap();
        let rows: Vec<Vec<u8>> = q.query_map(params![PK], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        rows.len()
    }
}

struct Redb(Database, Durability);
impl Proto for Redb {
    fn store(&mut self, ids: &[u64]) -> usize {
        let mut txn = self.0.begin_write().unwrap();
        txn.set_durability(self.1).unwrap();
        let mut n = 0;
        {
            let mut items = txn.open_table(ITEMS).unwrap();
            let mut index = txn.open_table(INDEX).unwrap();
            let mut changes = txn.open_table(CHANGES).unwrap();
            let mut next = changes.last().unwrap().map_or(1, |(k, _)| k.value() + 1);
            for &i in ids {
                let key = format!("{PK}\0{}", sk(i));
                if items.get(key.as_bytes()).unwrap().is_some() {
                    continue;
                }
                let b = body(i);
                items.insert(key.as_bytes(), b.as_slice()).unwrap();
                index.insert(format!("byTime\0{PK}\0{}\0{PK}\0{}", at(i), sk(i)).as_bytes(), ()).unwrap();
                changes.insert(next, b.as_slice()).unwrap();
                next += 1;
                n += 1;
            }
        }
        txn.commit().unwrap();
        n
    }
    fn page(&mut self) -> usize {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().unwrap();
        let index = txn.open_table(INDEX).unwrap();
        let items = txn.open_table(ITEMS).unwrap();
        let low = format!("byTime\0{PK}\0");
        let high = format!("byTime\0{PK}\x01");
        let mut n = 0;
        for row in index.range::<&[u8]>(low.as_bytes()..high.as_bytes()).unwrap().rev().take(50) {
            let (k, _) = row.unwrap();
            let k = std::str::from_utf8(k.value()).unwrap().to_owned();
            let sk = k.rsplit('\0').next().unwrap();
            if items.get(format!("{PK}\0{sk}").as_bytes()).unwrap().is_some() {
                n += 1;
            }
        }
        n
    }
}

fn run(p: &mut dyn Proto, label: &str) {
    let mut next = 0u64;
    let mut ids = |n: u64| {
        let v: Vec<u64> = (next..next + n).collect();
        next += n;
        v
    };
    for _ in 0..10 {
        let v = ids(100);
        p.store(&v);
    }
    let measure = |p: &mut dyn Proto, what: &str, batches: Vec<Vec<u64>>| {
        let events: usize = batches.iter().map(|b| b.len()).sum();
        let (c0, w0) = (cpu(), Instant::now());
        for b in &batches {
            p.store(b);
        }
        let (c, w) = (cpu() - c0, w0.elapsed().as_secs_f64());
        println!(
            "{label:>14} {what:<34} cpu {:>8.1} µs/event  wall {:>8.1} µs/event",
            c * 1e6 / events as f64,
            w * 1e6 / events as f64
        );
    };
    let singles: Vec<Vec<u64>> = (0..600).map(|_| ids(1)).collect();
    measure(p, "single (1k stored)", singles);
    let batches: Vec<Vec<u64>> = (0..6).map(|_| ids(1000)).collect();
    measure(p, "1000 batch", batches.clone());
    measure(p, "1000 batch redelivered", batches);
    let bulk: Vec<Vec<u64>> = (0..93).map(|_| ids(1000)).collect();
    measure(p, "bulk to 100k", bulk);
    let singles: Vec<Vec<u64>> = (0..600).map(|_| ids(1)).collect();
    measure(p, "single (100k stored)", singles);
    let c0 = cpu();
    for _ in 0..100 {
        assert_eq!(p.page(), 50);
    }
    println!("{label:>14} {:<34} cpu {:>8.1} µs/page", "page of 50 (100k)", (cpu() - c0) * 1e6 / 100.0);
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: store-designs DIR [redb|sqlite-full|sqlite-normal]...");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for which in std::env::args().skip(2) {
        match which.as_str() {
            "sqlite-full" => run(&mut Sqlite::open(&format!("{dir}/full.db"), "FULL"), "sqlite FULL"),
            "sqlite-normal" => run(&mut Sqlite::open(&format!("{dir}/normal.db"), "NORMAL"), "sqlite NORMAL"),
            "redb" => run(&mut Redb(Database::create(format!("{dir}/r.redb")).unwrap(), Durability::Immediate), "redb"),
            _ => panic!("{which}"),
        }
    }
}
