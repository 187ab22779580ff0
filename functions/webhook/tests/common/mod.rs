//! An app over a fresh embedded store with one organization connected to a WABA, and
//! helpers to build signed webhook requests: shared by the arbitrary-input test and the
//! benchmark.

#![allow(dead_code)]

use shared::cipher::local::LocalCipher;
use shared::clock::Timestamp;
use shared::config::Config;
use shared::domain::{
    Ciphertext, Organization, OrganizationName, PhoneLink, PhoneMode, PhoneNumber, Registration, TokenKind,
};
use shared::routes::{Action, ROUTES};
use shared::store::embedded::EmbeddedStore;
use shared::store::records::{phone_item, route_item};
use shared::store::{Store, WriteOp};
use shared::{App, Request, crypto};
use std::path::PathBuf;
use std::sync::Arc;

pub const SECRET: &str = "webhook-test-secret";
pub const WABA: &str = "102290129340398";
pub const PHONES: [&str; 3] = ["106540352242922", "106540352242947", "106540352242981"];

pub struct Fixture {
    pub app: App,
    /// The app's store, for a test to change behind the webhook's back.
    pub store: Arc<EmbeddedStore>,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("webhook-{}", crypto::hex(&crypto::random_bytes::<6>())));
    let store = Arc::new(EmbeddedStore::open(&dir.join(shared::store::embedded::FILE_NAME)).unwrap());
    let settings = [
        ("META_APP_ID", "1"),
        ("META_APP_SECRET", SECRET),
        ("META_REDIRECT_URI", "http://127.0.0.1/callback"),
        ("FRONTEND_URL", "http://127.0.0.1/"),
        ("WEBHOOK_VERIFY_TOKEN", "verify"),
    ];
    let config =
        Config::from_source(|name| settings.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).unwrap();
    let app = App::new(config, store.clone(), Arc::new(LocalCipher::from_key(crypto::random_bytes::<32>())));

    let now = Timestamp::now();
    let mut organization = Organization::new(
        "org_webhook".parse().unwrap(),
        "owner".parse().unwrap(),
        OrganizationName::parse("Webhook Co").unwrap(),
        now,
    );
    app.records.create_organization(&organization, 100).await.unwrap();
    organization.waba_id = Some(WABA.parse().unwrap());
    app.records.update_organization(organization.clone()).await.unwrap();
    for (i, phone) in PHONES.iter().enumerate() {
        let phone = PhoneNumber {
            organization_id: organization.id.clone(),
            phone_number_id: phone.parse().unwrap(),
            waba_id: WABA.parse().unwrap(),
            link: PhoneLink::Active {
                token: Ciphertext::from_bytes(vec![1, 2, 3]),
                kind: TokenKind::Business,
                expires_at: None,
            },
            mode: PhoneMode::CloudApi,
            registration: Registration::Registered,
            registration_attempts: Vec::new(),
            registration_limited_until: None,
            pin: None,
            name_status: None,
            health: Default::default(),
            sync: None,
            display_phone: format!("+1 555-010-000{}", i + 1),
            verified_name: None,
            quality_rating: Some("GREEN".into()),
            quality_event: None,
            messaging_limit: None,
            verified_at: now,
            created_at: now,
            updated_at: now,
        };
        let writes = vec![
            WriteOp::Put { item: phone_item(&phone), condition: None },
            WriteOp::Put { item: route_item(&phone), condition: None },
        ];
        store.write(writes).await.unwrap();
    }
    Fixture { app, store, dir }
}

pub fn sign(body: &[u8]) -> String {
    format!("sha256={}", crypto::hex(&crypto::hmac_sha256(SECRET.as_bytes(), body)))
}

pub fn request(body: Vec<u8>, signature: Option<String>) -> Request {
    let route = ROUTES.iter().find(|r| r.action == Action::WebhookEvent).unwrap();
    let mut headers = http::HeaderMap::new();
    if let Some(signature) = signature.and_then(|s| http::HeaderValue::from_str(&s).ok()) {
        headers.insert(webhook::SIGNATURE_HEADER, signature);
    }
    Request { route, path_params: Default::default(), query: Vec::new(), headers, body: body.into(), claims: None }
}

/// A delivery of `count` inbound text messages spread over the connected phones, as Meta
/// batches them: one entry, one change per message.
pub fn inbound_batch(count: usize, salt: &str) -> Vec<u8> {
    let changes: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100001", "phone_number_id": PHONES[i % PHONES.len()]},
                "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551234"}],
                "messages": [{"from": "16315551234", "id": format!("wamid.{salt}.{i}"), "timestamp": "1795238940",
                              "type": "text", "text": {"body": format!("message {i} ✓")}}]}})
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": changes}]}),
    )
    .unwrap()
}
