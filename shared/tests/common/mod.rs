//! What the contract tests share: the emulator's address and fresh, isolated adapters.

#![allow(dead_code)]

use shared::cipher::kms::KmsCipher;
use shared::cipher::local::LocalCipher;
use shared::store::dynamo::DynamoStore;
use shared::store::embedded::EmbeddedStore;
use std::path::PathBuf;

/// The moto server's URL. The DynamoDB and KMS contract tests must run against it, never be
/// skipped: without it they fail and say how to get it.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set. The DynamoDB and KMS tests run against moto's server: \
             use ./scripts/test, which installs moto into .venv, starts it and runs every test."
        )
    })
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", shared::crypto::hex(&shared::crypto::random_bytes::<6>()))
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique("waba-connect-test"));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn embedded_store() -> (EmbeddedStore, TempDir) {
    let dir = TempDir::new();
    (EmbeddedStore::open(&dir.0.join(shared::store::embedded::FILE_NAME)).expect("embedded store opens"), dir)
}

/// A DynamoDB table of its own on the emulator, created with the production schema.
pub async fn dynamo_store() -> DynamoStore {
    let config = shared::aws::emulator(&moto_endpoint());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), unique("contract"));
    store.ensure_table().await.expect("table created on the emulator");
    store
}

pub fn local_cipher() -> LocalCipher {
    LocalCipher::from_key(shared::crypto::random_bytes::<32>())
}

pub async fn kms_cipher() -> KmsCipher {
    let config = shared::aws::emulator(&moto_endpoint());
    let client = aws_sdk_kms::Client::new(&config);
    let alias = format!("alias/{}", unique("contract"));
    KmsCipher::ensure_key(&client, &alias).await.expect("key created on the emulator");
    KmsCipher::new(client, alias)
}
