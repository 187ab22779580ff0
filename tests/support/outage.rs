//! A store and a cipher that fail on command, wrapped around the stack's own: what an
//! outage of DynamoDB or KMS looks like to the service (every call refused as unavailable,
//! nothing done), or, for the store, a failure of its writes alone (reads work) or of its
//! batch writes alone (the messages and contacts a webhook brings) or of webhook receipts
//! alone while the rest works; or a write whose answer is lost, so that it is made twice.

use async_trait::async_trait;
use shared::cipher::{Cipher, CipherError, TokenContext};
use shared::domain::Ciphertext;
use shared::store::{Condition, Item, Key, Page, Query, Store, StoreError, WriteOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const UP: u8 = 0;
const DOWN: u8 = 1;
const BATCH_WRITES_DOWN: u8 = 2;
const WRITES_DOWN: u8 = 3;
const HAND_OVERS_REPEATED: u8 = 4;
const RECEIPT_WRITES_DOWN: u8 = 5;

/// The switch of an outage, kept by the test.
#[derive(Clone, Default)]
pub struct Outage {
    switch: Arc<AtomicU8>,
    /// How many webhook receipts were written or tried.
    receipts: Arc<AtomicUsize>,
}

impl Outage {
    pub fn begin(&self) {
        self.switch.store(DOWN, Ordering::SeqCst);
    }
    /// Only the store's batch writes fail (`put_each`).
    pub fn begin_batch_writes(&self) {
        self.switch.store(BATCH_WRITES_DOWN, Ordering::SeqCst);
    }
    /// Only the store's writes fail (`write`, `put_each`); reads work.
    pub fn begin_writes(&self) {
        self.switch.store(WRITES_DOWN, Ordering::SeqCst);
    }
    /// A state's hand-over (the callback's transaction) is applied, then sent again, as a
    /// client retries a request whose answer it lost: the service sees the second outcome,
    /// refused, since the first did it.
    pub fn begin_repeated_hand_overs(&self) {
        self.switch.store(HAND_OVERS_REPEATED, Ordering::SeqCst);
    }
    /// Only the writes of webhook receipts fail.
    pub fn begin_receipt_writes(&self) {
        self.switch.store(RECEIPT_WRITES_DOWN, Ordering::SeqCst);
    }
    pub fn receipt_writes(&self) -> usize {
        self.receipts.load(Ordering::SeqCst)
    }
    pub fn end(&self) {
        self.switch.store(UP, Ordering::SeqCst);
    }
    fn on(&self) -> bool {
        self.switch.load(Ordering::SeqCst) == DOWN
    }
    fn writes_down(&self) -> bool {
        matches!(self.switch.load(Ordering::SeqCst), DOWN | WRITES_DOWN)
    }
    fn batch_writes_down(&self) -> bool {
        matches!(self.switch.load(Ordering::SeqCst), DOWN | WRITES_DOWN | BATCH_WRITES_DOWN)
    }
    fn repeats(&self, ops: &[WriteOp]) -> bool {
        self.switch.load(Ordering::SeqCst) == HAND_OVERS_REPEATED
            && ops.iter().any(|op| match op {
                WriteOp::Update { set, .. } => set.iter().any(|(_, value)| value.as_s() == Some("handed_over")),
                _ => false,
            })
    }

    /// A wrap for the stack: the store fails while `store` is on, the cipher while `cipher` is.
    pub fn wrap(store: &Outage, cipher: &Outage) -> waba_connect::Wrap {
        let (store, cipher) = (store.clone(), cipher.clone());
        waba_connect::Wrap {
            store: Box::new(move |inner| Arc::new(FailingStore { inner, outage: store })),
            cipher: Box::new(move |inner| Arc::new(FailingCipher { inner, outage: cipher })),
        }
    }
}

struct FailingStore {
    inner: Arc<dyn Store>,
    outage: Outage,
}

impl FailingStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.outage.on() {
            Err(StoreError::Unavailable("the store is down (a test's outage)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FailingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.check()?;
        self.inner.get_many(keys).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.check()?;
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.outage.writes_down() {
            return Err(StoreError::Unavailable("the store's writes fail (a test's outage)".into()));
        }
        let is_receipt = |op: &WriteOp| match op {
            WriteOp::Put { item, .. } => {
                item.get(shared::store::schema::ENTITY).and_then(|e| e.as_s()) == Some("webhook_receipt")
            }
            _ => false,
        };
        if ops.iter().any(is_receipt) {
            self.outage.receipts.fetch_add(1, Ordering::SeqCst);
            if self.outage.switch.load(Ordering::SeqCst) == RECEIPT_WRITES_DOWN {
                return Err(StoreError::Unavailable("webhook receipts cannot be written (a test's outage)".into()));
            }
        }
        if self.outage.repeats(&ops) {
            self.inner.write(ops.clone()).await?;
        }
        self.inner.write(ops).await
    }
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError> {
        if self.outage.batch_writes_down() {
            return Err(StoreError::Unavailable("the store's batch writes fail (a test's outage)".into()));
        }
        self.inner.put_each(puts).await
    }
}

struct FailingCipher {
    inner: Arc<dyn Cipher>,
    outage: Outage,
}

#[async_trait]
impl Cipher for FailingCipher {
    async fn seal_bytes(&self, clear: &[u8], context: TokenContext<'_>) -> Result<Ciphertext, CipherError> {
        if self.outage.on() {
            return Err(CipherError::Unavailable("KMS is down (a test's outage)".into()));
        }
        self.inner.seal_bytes(clear, context).await
    }
    async fn open_bytes(&self, ciphertext: &Ciphertext, context: TokenContext<'_>) -> Result<Vec<u8>, CipherError> {
        if self.outage.on() {
            return Err(CipherError::Unavailable("KMS is down (a test's outage)".into()));
        }
        self.inner.open_bytes(ciphertext, context).await
    }
}
