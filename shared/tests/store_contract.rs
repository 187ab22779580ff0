//! The `Store` contract: every case runs against the embedded adapter and against DynamoDB
//! (moto's server) through the real AWS SDK. The same semantics on both is what lets the
//! local stack stand in for AWS.

mod common;

use shared::store::{
    Condition, Index, Item, Key, MAX_TRANSACTION_ITEMS, Query, Store, StoreError, Value, WriteOp, schema,
};
use std::collections::BTreeSet;

fn item(pk: &str, sk: &str, extra: &[(&str, Value)]) -> Item {
    let mut item =
        Item::from([(schema::PK.to_owned(), Value::S(pk.into())), (schema::SK.to_owned(), Value::S(sk.into()))]);
    for (name, value) in extra {
        item.insert((*name).to_owned(), value.clone());
    }
    item
}

fn put(item: Item, condition: Option<Condition>) -> WriteOp {
    WriteOp::Put { item, condition }
}

async fn round_trips_every_value_type(store: &dyn Store) {
    let written = item(
        "P#1",
        "A",
        &[
            ("s", Value::S("text ✓".into())),
            ("n", Value::N(-42)),
            ("big", Value::N(1_795_238_940)),
            ("b", Value::B(vec![0, 1, 2, 255])),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("l", Value::L(vec!["x".into(), "y".into()])),
            ("empty", Value::L(vec![])),
        ],
    );
    store.write(vec![put(written.clone(), None)]).await.unwrap();
    assert_eq!(store.get(&Key::new("P#1", "A")).await.unwrap(), Some(written));
    assert_eq!(store.get(&Key::new("P#1", "missing")).await.unwrap(), None);
}

async fn put_if_absent_is_exclusive(store: &dyn Store) {
    let first = item("P#2", "A", &[("v", Value::N(1))]);
    store.write(vec![put(first.clone(), Some(Condition::NotExists))]).await.unwrap();
    let second = item("P#2", "A", &[("v", Value::N(2))]);
    let refused = store.write(vec![put(second, Some(Condition::NotExists))]).await;
    assert_eq!(refused, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get(&Key::new("P#2", "A")).await.unwrap(), Some(first));
}

async fn updates_set_remove_and_respect_conditions(store: &dyn Store) {
    let key = Key::new("P#3", "A");
    let missing = WriteOp::Update {
        key: key.clone(),
        set: vec![("v".into(), Value::N(1))],
        remove: vec![],
        condition: Some(Condition::Exists),
    };
    assert_eq!(store.write(vec![missing]).await, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get(&key).await.unwrap(), None);

    let create = WriteOp::Update {
        key: key.clone(),
        set: vec![("v".into(), Value::N(1)), ("gone".into(), Value::S("soon".into()))],
        remove: vec![],
        condition: None,
    };
    store.write(vec![create]).await.unwrap();
    let bump = WriteOp::Update {
        key: key.clone(),
        set: vec![("v".into(), Value::N(2))],
        remove: vec!["gone".into()],
        condition: Some(Condition::Equals("v".into(), Value::N(1))),
    };
    store.write(vec![bump.clone()]).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(item("P#3", "A", &[("v", Value::N(2))])));
    // The same guarded update again finds v == 2 and is refused: optimistic concurrency.
    assert_eq!(store.write(vec![bump]).await, Err(StoreError::ConditionFailed { index: 0 }));
}

async fn comparisons_follow_dynamodb(store: &dyn Store) {
    store
        .write(vec![put(item("P#4", "A", &[("exp", Value::N(100)), ("status", Value::S("pending".into()))]), None)])
        .await
        .unwrap();
    let key = Key::new("P#4", "A");
    let check = |condition: Condition| WriteOp::Check { key: key.clone(), condition };
    let holds = |c: Condition| {
        let op = check(c);
        async move { store.write(vec![op]).await.is_ok() }
    };
    assert!(holds(Condition::GreaterThan("exp".into(), Value::N(99))).await);
    assert!(!holds(Condition::GreaterThan("exp".into(), Value::N(100))).await);
    assert!(holds(Condition::LessThan("exp".into(), Value::N(101))).await);
    assert!(!holds(Condition::LessThan("nothing".into(), Value::N(101))).await, "a missing attribute compares false");
    assert!(holds(Condition::AttributeMissing("nothing".into())).await);
    assert!(!holds(Condition::AttributeMissing("exp".into())).await);
    assert!(
        holds(Condition::And(vec![
            Condition::Exists,
            Condition::Equals("status".into(), Value::S("pending".into())),
            Condition::GreaterThan("exp".into(), Value::N(50)),
        ]))
        .await
    );
    assert!(!holds(Condition::Equals("status".into(), Value::S("consumed".into()))).await);
    assert!(
        holds(Condition::Or(vec![
            Condition::AttributeMissing("exp".into()),
            Condition::LessThan("exp".into(), Value::N(200)),
        ]))
        .await
    );
    assert!(
        !holds(Condition::Or(vec![
            Condition::AttributeMissing("exp".into()),
            Condition::GreaterThan("exp".into(), Value::N(200)),
        ]))
        .await
    );
    assert!(!holds(Condition::Or(vec![])).await, "an empty Or never holds");
    assert!(holds(Condition::And(vec![])).await, "an empty And always holds");
    assert!(!holds(Condition::Equals("exp".into(), Value::S("100".into()))).await, "types differ");
}

async fn transactions_are_all_or_nothing(store: &dyn Store) {
    store.write(vec![put(item("P#5", "guard", &[("v", Value::N(1))]), None)]).await.unwrap();
    let ops = vec![
        put(item("P#5", "a", &[]), None),
        WriteOp::Update {
            key: Key::new("P#5", "b"),
            set: vec![("v".into(), Value::N(1))],
            remove: vec![],
            condition: None,
        },
        WriteOp::Check { key: Key::new("P#5", "guard"), condition: Condition::Equals("v".into(), Value::N(2)) },
    ];
    assert_eq!(store.write(ops).await, Err(StoreError::ConditionFailed { index: 2 }));
    assert_eq!(store.get(&Key::new("P#5", "a")).await.unwrap(), None);
    assert_eq!(store.get(&Key::new("P#5", "b")).await.unwrap(), None);

    let ops = vec![
        put(item("P#5", "a", &[]), None),
        WriteOp::Delete { key: Key::new("P#5", "guard"), condition: Some(Condition::Equals("v".into(), Value::N(1))) },
    ];
    store.write(ops).await.unwrap();
    assert!(store.get(&Key::new("P#5", "a")).await.unwrap().is_some());
    assert_eq!(store.get(&Key::new("P#5", "guard")).await.unwrap(), None);
}

async fn refuses_malformed_batches(store: &dyn Store) {
    let too_many: Vec<WriteOp> =
        (0..=MAX_TRANSACTION_ITEMS).map(|i| put(item("P#6", &format!("{i:03}"), &[]), None)).collect();
    assert!(matches!(store.write(too_many).await, Err(StoreError::Invalid(_))));
    let twice = vec![put(item("P#6", "a", &[]), None), put(item("P#6", "a", &[]), None)];
    assert!(matches!(store.write(twice).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.write(vec![]).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.get(&Key::new("P#6", "a")).await.unwrap(), None);
}

async fn queries_page_in_order(store: &dyn Store) {
    let mut ops = Vec::new();
    for i in 0..7 {
        ops.push(put(item("P#7", &format!("MSG#{i:02}"), &[("i", Value::N(i))]), None));
    }
    ops.push(put(item("P#7", "PROFILE", &[]), None));
    ops.push(put(item("P#7x", "MSG#00", &[]), None));
    store.write(ops).await.unwrap();

    for descending in [false, true] {
        let mut query = Query::new(Index::Table { pk: "P#7".into() });
        query.sk_prefix = Some("MSG#".into());
        query.descending = descending;
        query.limit = Some(3);
        let mut seen = Vec::new();
        loop {
            let page = store.query(&query).await.unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|i| i["i"].as_n().unwrap()));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut expected: Vec<i64> = (0..7).collect();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "descending = {descending}");
    }
}

async fn indexes_are_sparse_and_follow_updates(store: &dyn Store) {
    let owner = common::unique("owner");
    let org = |id: &str, owned: bool| {
        let extra = if owned { vec![(schema::OWNER_KEY, Value::S(owner.clone()))] } else { Vec::new() };
        item(&format!("ORG#{id}"), "PROFILE", &extra)
    };
    store.write(vec![put(org("a", true), None)]).await.unwrap();
    store.write(vec![put(org("b", true), None)]).await.unwrap();
    store.write(vec![put(org("c", false), None)]).await.unwrap();

    let pks = |index: Index| async move {
        let page = store.query(&Query::new(index)).await.unwrap();
        page.items.iter().map(|i| i[schema::PK].as_s().unwrap().to_owned()).collect::<BTreeSet<_>>()
    };
    assert_eq!(pks(Index::ByOwner(owner.clone())).await, BTreeSet::from(["ORG#a".into(), "ORG#b".into()]));
    let disown = WriteOp::Update {
        key: Key::new("ORG#a", "PROFILE"),
        set: vec![],
        remove: vec![schema::OWNER_KEY.into()],
        condition: Some(Condition::Exists),
    };
    store.write(vec![disown]).await.unwrap();
    assert_eq!(pks(Index::ByOwner(owner.clone())).await, BTreeSet::from(["ORG#b".into()]));
    assert!(pks(Index::ByOwner(common::unique("nobody"))).await.is_empty());
}

/// `byTime` orders a partition by `at`, not by `sk`, pages from a cursor in both
/// directions, leaves out items without `at`, and follows updates of it.
async fn the_time_index_orders_by_at_and_pages(store: &dyn Store) {
    let pk = common::unique("T");
    let mut ops = Vec::new();
    for i in 0..7i64 {
        // Keys in the reverse order of their times, so sk order and `at` order differ.
        let at = format!("{:010}#m{i}", 100 + i);
        ops.push(put(
            item(&pk, &format!("MSG#{}", 9 - i), &[(schema::TIME_KEY, Value::S(at)), ("i", Value::N(i))]),
            None,
        ));
    }
    ops.push(put(item(&pk, "PROFILE", &[]), None));
    store.write(ops).await.unwrap();

    let walk = |descending: bool| {
        let pk = pk.clone();
        async move {
            let mut query = Query::new(Index::ByTime { pk });
            query.descending = descending;
            query.limit = Some(3);
            let mut seen = Vec::new();
            // The index is eventually consistent in DynamoDB; moto's is immediate.
            loop {
                let page = store.query(&query).await.unwrap();
                assert!(page.items.len() <= 3);
                seen.extend(page.items.iter().map(|i| i["i"].as_n().unwrap()));
                match page.next {
                    Some(next) => {
                        assert!(next.index_sort.is_some(), "a time cursor carries its position");
                        query.after = Some(next);
                    }
                    None => return seen,
                }
            }
        }
    };
    assert_eq!(walk(false).await, (0..7).collect::<Vec<_>>());
    assert_eq!(walk(true).await, (0..7).rev().collect::<Vec<_>>());

    let later = WriteOp::Update {
        key: Key::new(pk.clone(), "MSG#9"),
        set: vec![(schema::TIME_KEY.into(), Value::S(format!("{:010}#m0", 999)))],
        remove: vec![],
        condition: Some(Condition::Exists),
    };
    let unindexed = WriteOp::Update {
        key: Key::new(pk.clone(), "MSG#8"),
        set: vec![],
        remove: vec![schema::TIME_KEY.into()],
        condition: Some(Condition::Exists),
    };
    store.write(vec![later, unindexed]).await.unwrap();
    assert_eq!(walk(true).await, vec![0, 6, 5, 4, 3, 2]);
}

async fn get_many_reads_each_key_in_order(store: &dyn Store) {
    let pk = common::unique("G");
    let ops: Vec<WriteOp> = (0..5).map(|i| put(item(&pk, &format!("K#{i}"), &[("i", Value::N(i))]), None)).collect();
    store.write(ops).await.unwrap();
    // More keys than DynamoDB reads in one request, repeats and missing ones included.
    let keys: Vec<Key> = (0..150).map(|n| Key::new(pk.clone(), format!("K#{}", (n * 7) % 9))).collect();
    let found = store.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for (key, item) in keys.iter().zip(&found) {
        let n: i64 = key.sk[2..].parse().unwrap();
        match item {
            Some(item) => assert_eq!((n < 5, item["i"].as_n()), (true, Some(n))),
            None => assert!(n >= 5, "{key:?} exists"),
        }
    }
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

async fn a_projected_read_keeps_only_the_named_attributes(store: &dyn Store) {
    let pk = common::unique("J");
    let full = item(
        &pk,
        "FULL",
        &[
            ("type", Value::S("placeholder \"quoted\" ✓".into())),
            ("n", Value::N(i64::MIN)),
            ("ok", Value::Bool(false)),
            ("tags", Value::L(vec!["a".into(), "".into()])),
            ("sealed", Value::B(vec![0, 255])),
            ("other", Value::S("not asked for".into())),
        ],
    );
    let bare = item(&pk, "BARE", &[("other", Value::S("x".into()))]);
    store.write(vec![put(full.clone(), None), put(bare, None)]).await.unwrap();
    let keys = [Key::new(&pk, "FULL"), Key::new(&pk, "NONE"), Key::new(&pk, "BARE"), Key::new(&pk, "FULL")];
    let asked = ["type", "n", "ok", "tags", "sealed", "absent"];
    let projected = store.get_many_projected(&keys, &asked).await.unwrap();
    let mut expected = full.clone();
    expected.retain(|name, _| asked.contains(&name.as_str()));
    assert_eq!(expected.len(), 5);
    assert_eq!(projected, vec![Some(expected.clone()), None, Some(Item::new()), Some(expected)]);
    let one = store.get_many_projected(&keys[..1], &["n"]).await.unwrap();
    assert_eq!(one, vec![Some(Item::from([("n".to_owned(), Value::N(i64::MIN))]))]);
}

async fn concurrent_guarded_writes_have_one_winner(store: &dyn Store) {
    store.write(vec![put(item("P#9", "STATE", &[("status", Value::S("authorized".into()))]), None)]).await.unwrap();
    let consume = |n: i64| {
        vec![
            WriteOp::Update {
                key: Key::new("P#9", "STATE"),
                set: vec![("status".into(), Value::S("consumed".into()))],
                remove: vec![],
                condition: Some(Condition::Equals("status".into(), Value::S("authorized".into()))),
            },
            put(item("P#9", &format!("WINNER#{n}"), &[]), None),
        ]
    };
    let results = futures_join(store.write(consume(1)), store.write(consume(2))).await;
    let wins = [&results.0, &results.1].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    let mut query = Query::new(Index::Table { pk: "P#9".into() });
    query.sk_prefix = Some("WINNER#".into());
    assert_eq!(store.query(&query).await.unwrap().items.len(), 1, "the loser wrote nothing");
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

async fn put_each_if_absent_stores_each_key_once(store: &dyn Store) {
    let batch: Vec<Item> = (0..40).map(|i| item("P#11", &format!("EVT#{i:03}"), &[("v", Value::N(i))])).collect();
    let first = store.put_each_if_absent(batch.clone()).await.unwrap();
    assert_eq!(first, vec![true; 40]);
    // A redelivery with two new events mixed in: only the new ones are written, and the
    // stored originals are not overwritten.
    let mut again: Vec<Item> = batch
        .iter()
        .map(|i| {
            let mut changed = i.clone();
            changed.insert("v".into(), Value::N(-1));
            changed
        })
        .collect();
    again.push(item("P#11", "EVT#100", &[]));
    again.insert(0, item("P#11", "EVT#101", &[]));
    let second = store.put_each_if_absent(again).await.unwrap();
    assert_eq!(second.iter().filter(|w| **w).count(), 2);
    assert!(second[0] && second[41]);
    let stored = store.get(&Key::new("P#11", "EVT#007")).await.unwrap().unwrap();
    assert_eq!(stored["v"], Value::N(7));
    let mut query = Query::new(Index::Table { pk: "P#11".into() });
    query.sk_prefix = Some("EVT#".into());
    assert_eq!(store.query(&query).await.unwrap().items.len(), 42);
}

async fn put_each_applies_each_items_own_condition(store: &dyn Store) {
    // Newest wins: each put holds only where the stored item is older (or absent).
    let newer = |sk: &str, at: i64| {
        let condition = Condition::Or(vec![Condition::NotExists, Condition::LessThan("at".into(), Value::N(at))]);
        (item("P#12", sk, &[("at", Value::N(at))]), Some(condition))
    };
    assert_eq!(store.put_each(vec![newer("A", 10), newer("B", 10)]).await.unwrap(), vec![true, true]);
    let written = store.put_each(vec![newer("A", 5), newer("B", 20), newer("A", 10), newer("C", 1)]).await.unwrap();
    assert_eq!(written, vec![false, true, false, true], "older and equal lose, newer and new win");
    assert_eq!(store.get(&Key::new("P#12", "A")).await.unwrap().unwrap()["at"], Value::N(10));
    assert_eq!(store.get(&Key::new("P#12", "B")).await.unwrap().unwrap()["at"], Value::N(20));
    let always = store.put_each(vec![(item("P#12", "A", &[("at", Value::N(1))]), None)]).await.unwrap();
    assert_eq!(always, vec![true], "a put without a condition always writes");
    assert_eq!(store.get(&Key::new("P#12", "A")).await.unwrap().unwrap()["at"], Value::N(1));
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = crate::common::embedded_store();
                    super::$case(&store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = crate::common::dynamo_store().await;
                    super::$case(&store).await;
                }
            )*
        }
    };
}

contract!(
    round_trips_every_value_type,
    put_if_absent_is_exclusive,
    updates_set_remove_and_respect_conditions,
    comparisons_follow_dynamodb,
    transactions_are_all_or_nothing,
    refuses_malformed_batches,
    queries_page_in_order,
    indexes_are_sparse_and_follow_updates,
    the_time_index_orders_by_at_and_pages,
    get_many_reads_each_key_in_order,
    a_projected_read_keeps_only_the_named_attributes,
    concurrent_guarded_writes_have_one_winner,
    put_each_if_absent_stores_each_key_once,
    put_each_applies_each_items_own_condition,
);

/// The embedded store keeps the table's stream as DynamoDB Streams does: every committed
/// write, in order, with what it did and its new image; nothing of a write that failed; each
/// consumer at its own position, kept across a reopen.
#[tokio::test]
async fn the_embedded_store_streams_its_changes_to_each_consumer() {
    use shared::stream::{ChangeFeed, ChangeKind, Filter};
    let every = &Filter::EVERY;
    let dir = common::TempDir::new();
    let path = dir.0.join(shared::store::embedded::FILE_NAME);
    let store = shared::store::embedded::EmbeddedStore::open(&path).unwrap();
    store.subscribe("a").await.unwrap();
    store.subscribe("b").await.unwrap();
    assert!(store.read("a", every, 10).await.unwrap().changes.is_empty());
    store.write(vec![put(item("P#20", "A", &[("v", Value::N(1))]), None)]).await.unwrap();
    let refused =
        store.write(vec![put(item("P#20", "B", &[]), None), put(item("P#20", "A", &[]), Some(Condition::NotExists))]);
    assert!(refused.await.is_err());
    store.put_each_if_absent(vec![item("P#20", "C", &[]), item("P#20", "A", &[])]).await.unwrap();
    store.write(vec![WriteOp::Delete { key: Key::new("P#20", "C"), condition: None }]).await.unwrap();
    store.write(vec![put(item("P#20", "A", &[("v", Value::N(2))]), None)]).await.unwrap();
    let changes = store.read("a", every, 10).await.unwrap().changes;
    let seen: Vec<(&str, ChangeKind, Option<&Value>)> =
        changes.iter().map(|c| (c.key.sk.as_str(), c.kind, c.image().and_then(|i| i.get("v")))).collect();
    assert_eq!(
        seen,
        vec![
            ("A", ChangeKind::Insert, Some(&Value::N(1))),
            ("C", ChangeKind::Insert, None),
            ("C", ChangeKind::Remove, None),
            ("A", ChangeKind::Modify, Some(&Value::N(2))),
        ]
    );
    assert!(changes[2].image().is_none(), "a deletion has no image");

    store.commit("a", &changes[0].sequence).await.unwrap();
    assert_eq!(store.read("a", every, 10).await.unwrap().changes.len(), 3, "a consumer reads on from its position");
    assert_eq!(store.read("b", every, 10).await.unwrap().changes.len(), 4, "another consumer has its own, kept for it");
    store.commit("b", &changes[3].sequence).await.unwrap();
    drop(store);
    let reopened = shared::store::embedded::EmbeddedStore::open(&path).unwrap();
    assert_eq!(reopened.read("a", every, 10).await.unwrap().changes, changes[1..], "positions and changes are durable");
    assert!(reopened.read("b", every, 10).await.unwrap().changes.is_empty());
    // Once every consumer has handled everything, what comes next is still next.
    reopened.commit("a", &changes[3].sequence).await.unwrap();
    reopened.write(vec![put(item("P#20", "D", &[]), None)]).await.unwrap();
    let after: Vec<String> =
        reopened.read("a", every, 10).await.unwrap().changes.iter().map(|c| c.key.sk.clone()).collect();
    assert_eq!(after, vec!["D".to_owned()]);
    assert_eq!(reopened.read("b", every, 10).await.unwrap().changes.len(), 1);
}

/// A consumer is handed only the changes its filter passes, as an event source mapping's
/// filter does in AWS; the read still moves it past the rest, so they are neither looked at
/// again nor kept for it.
#[tokio::test]
async fn the_embedded_feed_hands_each_consumer_what_its_filter_passes() {
    use shared::stream::{ChangeFeed, ChangeKind, Expected, Filter, Pattern};
    const FILES: Filter = Filter(&[
        Pattern { kinds: &[ChangeKind::Insert], entities: &["message"], attributes: &[("status", Expected::S("due"))] },
        Pattern { kinds: &[], entities: &["phone"], attributes: &[("on", Expected::Bool(true))] },
    ]);
    const NOTHING: Filter = Filter(&[]);
    let dir = common::TempDir::new();
    let store = shared::store::embedded::EmbeddedStore::open(&dir.0.join(shared::store::embedded::FILE_NAME)).unwrap();
    for consumer in ["files", "nothing", "all"] {
        store.subscribe(consumer).await.unwrap();
    }
    let s = |v: &str| Value::S(v.into());
    let entity = |e: &str| ("entity", s(e));
    store
        .put_each_if_absent(vec![
            item("P#30", "M1", &[entity("message"), ("status", s("due"))]),
            item("P#30", "M2", &[entity("message")]),
            item("P#30", "M3", &[entity("message"), ("status", s("done"))]),
            item("P#30", "M4", &[entity("contact"), ("status", s("due"))]),
            item("P#30", "P1", &[entity("phone"), ("on", Value::Bool(true))]),
            item("P#30", "P2", &[entity("phone"), ("on", Value::N(1))]),
            item("P#30", "P3", &[entity("phone"), ("on", Value::Bool(false))]),
            item("P#30", "M5", &[entity("message"), ("status", s("due"))]),
        ])
        .await
        .unwrap();
    // A modified message is no new one; a modified phone still passes; a removal never does.
    store.write(vec![put(item("P#30", "M1", &[entity("message"), ("status", s("due"))]), None)]).await.unwrap();
    store.write(vec![put(item("P#30", "P1", &[entity("phone"), ("on", Value::Bool(true))]), None)]).await.unwrap();
    store.write(vec![WriteOp::Delete { key: Key::new("P#30", "M5"), condition: None }]).await.unwrap();

    let every = store.read("all", &Filter::EVERY, 100).await.unwrap();
    assert_eq!(every.changes.len(), 11);
    let last = every.changes.last().unwrap().sequence.clone();
    assert_eq!(every.through.as_deref(), Some(last.as_str()));

    let first = store.read("files", &FILES, 2).await.unwrap();
    let sks =
        |changes: &[shared::stream::Change]| changes.iter().map(|c| (c.key.sk.clone(), c.kind)).collect::<Vec<_>>();
    assert_eq!(sks(&first.changes), vec![("M1".into(), ChangeKind::Insert), ("P1".into(), ChangeKind::Insert)]);
    assert_eq!(first.through, Some(first.changes[1].sequence.clone()), "a full batch ends at its last change");
    store.commit("files", first.through.as_deref().unwrap()).await.unwrap();
    let rest = store.read("files", &FILES, 100).await.unwrap();
    assert_eq!(sks(&rest.changes), vec![("M5".into(), ChangeKind::Insert), ("P1".into(), ChangeKind::Modify)]);
    assert_eq!(rest.through.as_deref(), Some(last.as_str()), "the read looked at every change");
    // The store's filter and the filter's own reading agree on every change.
    let passed: Vec<_> = every.changes.iter().filter(|c| FILES.passes(c)).cloned().collect();
    assert_eq!([first.changes, rest.changes.clone()].concat(), passed);

    // A consumer none of whose changes pass still moves on, and so lets them go.
    let none = store.read("nothing", &NOTHING, 100).await.unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.through.as_deref(), Some(last.as_str()));
    for (consumer, through) in [("files", &rest.through), ("nothing", &none.through), ("all", &every.through)] {
        store.commit(consumer, through.as_deref().unwrap()).await.unwrap();
    }
    let idle = store.read("files", &FILES, 100).await.unwrap();
    assert!(idle.changes.is_empty() && idle.through.is_none(), "nothing new to look at");
    store.subscribe("late").await.unwrap();
    let kept = store.read("late", &Filter::EVERY, 100).await.unwrap();
    assert_eq!(kept.through.as_deref(), Some(last.as_str()), "only the last change is kept, to count on from");
    assert_eq!(kept.changes.len(), 1);
}

#[tokio::test]
async fn the_embedded_store_is_durable_across_reopen() {
    let dir = common::TempDir::new();
    let path = dir.0.join(shared::store::embedded::FILE_NAME);
    {
        let store = shared::store::embedded::EmbeddedStore::open(&path).unwrap();
        store.write(vec![put(item("P#10", "A", &[("v", Value::N(7))]), None)]).await.unwrap();
    }
    let reopened = shared::store::embedded::EmbeddedStore::open(&path).unwrap();
    assert_eq!(reopened.get(&Key::new("P#10", "A")).await.unwrap(), Some(item("P#10", "A", &[("v", Value::N(7))])));
}

#[cfg(unix)]
#[tokio::test]
async fn the_embedded_store_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new();
    let path = dir.0.join(shared::store::embedded::FILE_NAME);
    let store = shared::store::embedded::EmbeddedStore::open(&path).unwrap();
    store.write(vec![put(item("P#11", "A", &[]), None)]).await.unwrap();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    // SQLite's write-ahead log and its index hold the same items: the same mode.
    for companion in ["-wal", "-shm"] {
        let companion = std::path::PathBuf::from(format!("{}{companion}", path.display()));
        assert_eq!(mode(&companion), 0o600, "{}", companion.display());
    }
    drop(store);
    // A file an older version left world-readable is narrowed when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(shared::store::embedded::EmbeddedStore::open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
}
