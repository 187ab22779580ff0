//! What one health sweep costs over many connections, against the sandbox: its time, its
//! Graph calls and its store requests (counted as the DynamoDB requests they are: a batch
//! read per hundred keys, a put per item of a store-once batch). Prints the figures; asserts
//! only what must hold whatever the machine: every connection checked once, in one pass, in
//! a bounded number of calls each.
//!
//! `SWEEP_CONNECTIONS` (default 1000) on the embedded store and `SWEEP_AWS_CONNECTIONS`
//! (default 100: moto's server answers one request at a time) on DynamoDB and KMS;
//! `scripts/sweep-figures` runs both at 1000.

mod support;

use async_trait::async_trait;
use shared::App;
use shared::cipher::{Purpose, TokenContext};
use shared::clock::Timestamp;
use shared::domain::{
    AccessToken, Organization, OrganizationName, PhoneLink, PhoneMode, PhoneNumber, Registration, TokenKind,
};
use shared::store::records::{connection_item, organization_item, phone_item, route_item};
use shared::store::{Condition, Item, Key, Page, Query, Store, StoreError, WriteOp};
use shared::sweep::{SweepSettings, sweep};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Backend, Harness};
use waba_connect::sandbox::seed;

/// The store, counting the requests DynamoDB would receive.
struct Counting {
    inner: Arc<dyn Store>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

#[async_trait]
impl Store for Counting {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.reads.fetch_add(keys.len().div_ceil(100), Ordering::Relaxed);
        self.inner.get_many(keys).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write(ops).await
    }
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError> {
        self.writes.fetch_add(puts.len(), Ordering::Relaxed);
        self.inner.put_each(puts).await
    }
}

/// `count` organizations, each connected to the same number with a live token of its own
/// sealing, written as a connect leaves them.
async fn seed_connections(h: &Harness, count: usize) {
    let token = h.sandbox().issue_business_token(seed::ACME_SUPPORT_WABA);
    let app = h.stack.app();
    let now = Timestamp::now();
    let waba: shared::domain::WabaId = seed::ACME_SUPPORT_WABA.parse().unwrap();
    let number = seed::phone(seed::ACME_SUPPORT_PHONES[2]).unwrap();
    for i in 0..count {
        let mut org = Organization::new(
            format!("org_sweep{i:05}").parse().unwrap(),
            format!("owner-{i}").parse().unwrap(),
            OrganizationName::parse(&format!("Sweep {i}")).unwrap(),
            now,
        );
        org.waba_id = Some(waba.clone());
        let context = TokenContext::new(&org.id, Purpose::PhoneToken);
        let sealed = app.cipher.seal(&AccessToken::new(token.clone()), context).await.unwrap();
        let phone = PhoneNumber {
            organization_id: org.id.clone(),
            phone_number_id: seed::ACME_SUPPORT_PHONES[2].parse().unwrap(),
            waba_id: waba.clone(),
            link: PhoneLink::Active { token: sealed, kind: TokenKind::Business, expires_at: None },
            mode: PhoneMode::CloudApi,
            registration: Registration::Registered,
            registration_attempts: Vec::new(),
            registration_limited_until: None,
            pin: None,
            display_phone: number.display_phone_number.into(),
            verified_name: None,
            quality_rating: Some(number.quality_rating.into()),
            quality_event: None,
            messaging_limit: None,
            name_status: Some("APPROVED".into()),
            health: Default::default(),
            sync: None,
            verified_at: now,
            created_at: now,
            updated_at: now,
        };
        let ops = [organization_item(&org), phone_item(&phone), route_item(&phone), connection_item(&org.id, &waba)]
            .into_iter()
            .map(|item| WriteOp::Put { item, condition: None })
            .collect();
        app.records.store().write(ops).await.unwrap();
    }
}

async fn figures(backend: Backend, count: usize) {
    let h = Harness::start_on(backend, &[("HEALTH_SWEEP_SECONDS", "0")]).await;
    seed_connections(&h, count).await;
    let stack = h.stack.app();
    let counting = Arc::new(Counting {
        inner: stack.records.store().clone(),
        reads: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
    });
    let app = App::new(stack.config.clone(), counting.clone(), stack.cipher.clone());
    let settings = SweepSettings { budget: Duration::from_secs(3600), ..SweepSettings::default() };
    let started = Instant::now();
    let report = sweep(&app, &settings).await.unwrap();
    let elapsed = started.elapsed();
    let (reads, writes) = (counting.reads.load(Ordering::Relaxed), counting.writes.load(Ordering::Relaxed));
    println!(
        "health sweep, {backend:?}: {count} connections in {:.2} s ({:.2} ms each, {} at once); \
         Graph calls {} ({:.1} each); store reads {reads} ({:.1} each), writes {writes} ({:.1} each); changes {}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / count as f64,
        settings.concurrency,
        report.graph_calls,
        report.graph_calls as f64 / count as f64,
        reads as f64 / count as f64,
        writes as f64 / count as f64,
        report.changes,
    );
    assert_eq!((report.connections_checked, report.finished), (count, true), "{report:?}");
    assert_eq!(report.changes, 0, "as connected, nothing changed: {report:?}");
    // debug_token, the WABA's numbers (two pages of the sandbox's two), subscribed_apps;
    // and the subscription the seeding did not make, by each of the first checks that ran
    // at once and found it missing.
    assert!((1..=settings.concurrency).contains(&report.resubscribed), "{report:?}");
    assert_eq!(report.graph_calls, 4 * count + report.resubscribed, "{report:?}");
    // Per connection one query of the organization's phones and one write (the check's
    // time on the phone); per hundred, one page of connections; the lease.
    let pages = count.div_ceil(100) + 1;
    assert!(reads <= count + pages + 2 && writes <= count + 10, "reads {reads}, writes {writes}");
}

fn connections(name: &str, default: usize) -> usize {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

#[tokio::test]
async fn one_sweep_over_many_connections_on_the_embedded_store() {
    figures(Backend::Embedded, connections("SWEEP_CONNECTIONS", 1000)).await;
}

#[tokio::test]
async fn one_sweep_over_many_connections_on_dynamodb_and_kms() {
    figures(Backend::Aws, connections("SWEEP_AWS_CONNECTIONS", 100)).await;
}
