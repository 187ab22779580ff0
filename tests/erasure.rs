//! Erasure at rest, checked in the raw stored items on both backends (not through the domain
//! types, which read an inactive phone back without a token whatever is stored): a
//! disconnected number's item keeps neither its token's nor its PIN's ciphertext, whether
//! the organization or Meta ended the connection; an expired OAuth state read again keeps
//! no token, and answers 410 however often it is read; one nobody reads again loses its
//! token at the next sweep.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use shared::store::Item;
use shared::store::records::{phone_key, state_key};
use support::{Backend, Harness, SALES, SUPPORT};
use waba_connect::sandbox::seed;

const READY: &str = seed::ACME_SUPPORT_PHONES[0];
const SECRETS: [&str; 2] = ["tokenCiphertext", "pinCiphertext"];

async fn raw_phone(h: &Harness, org: &str, phone: &str) -> Item {
    let key = phone_key(&org.parse().unwrap(), &phone.parse().unwrap());
    h.stack.app().records.store().get(&key).await.unwrap().expect("the phone's item is kept")
}

async fn a_disconnected_number_keeps_no_secret_at_rest(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let owner = h.user("owner-1");
    // Two numbers Meta has not registered yet, so each is registered with a PIN sealed here.
    for (ended_by, waba, phone) in [("the organization", SUPPORT, READY), ("Meta", SALES, seed::ACME_SALES_PHONE)] {
        let org = h.create_org(&owner, "Acme").await;
        h.connect(&owner, &org, waba, phone).await;
        let item = raw_phone(&h, &org, phone).await;
        for secret in SECRETS {
            assert!(
                item.contains_key(secret),
                "{backend:?} ({ended_by}): a connected, registered number has its {secret}: {:?}",
                item.keys().collect::<Vec<_>>()
            );
        }
        match ended_by {
            "the organization" => {
                let (status, body) =
                    h.post(&format!("/api/v1/organizations/{org}/whatsapp/disconnect"), &owner, json!({})).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            _ => {
                h.control("account-update", json!({ "wabaId": waba, "event": "PARTNER_REMOVED" })).await;
            }
        }
        let item = raw_phone(&h, &org, phone).await;
        for secret in SECRETS {
            assert!(!item.contains_key(secret), "{backend:?}: ended by {ended_by}, the item still holds {secret}");
        }
    }
}

#[tokio::test]
async fn a_disconnected_number_keeps_no_secret_at_rest_on_the_embedded_store() {
    a_disconnected_number_keeps_no_secret_at_rest(Backend::Embedded).await;
}

#[tokio::test]
async fn a_disconnected_number_keeps_no_secret_at_rest_on_dynamodb() {
    a_disconnected_number_keeps_no_secret_at_rest(Backend::Aws).await;
}

#[tokio::test]
async fn an_expired_state_keeps_no_token_once_read() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("OAUTH_STATE_TTL_SECONDS", "3")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let state = h.authorized_state(&owner, &org, &[SUPPORT]).await;
        let key = state_key(&state.parse::<shared::domain::StateToken>().unwrap().key());
        let item = h.stack.app().records.store().get(&key).await.unwrap().unwrap();
        assert!(item.contains_key("tokenCiphertext"), "{backend:?}: an authorized state holds its sealed token");
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        // Every read answers 410, the first (which erases the token) as the later ones.
        for path in ["accounts", "phone-numbers", "accounts"] {
            let (status, body) =
                h.get(&format!("/api/v1/organizations/whatsapp/{path}?state={state}&wabaId={SUPPORT}"), &owner).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::GONE, Some("state_expired")),
                "{backend:?} {path}"
            );
        }
        let save = format!("/api/v1/organizations/{org}/whatsapp/save-config");
        let (status, body) =
            h.post(&save, &owner, json!({ "state": state, "wabaId": SUPPORT, "phoneNumberId": READY })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("state_expired")), "{backend:?} {body}");
        let item = h.stack.app().records.store().get(&key).await.unwrap().unwrap();
        assert!(!item.contains_key("tokenCiphertext"), "{backend:?}: the expired state still holds a token");
    }
}

/// A state nobody comes back for loses its token at the first sweep after it expired,
/// without being read; a state still valid keeps its own.
#[tokio::test]
async fn an_abandoned_state_loses_its_token_at_the_sweep() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[("OAUTH_STATE_TTL_SECONDS", "3")]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        let raw = |state: &str| state_key(&state.parse::<shared::domain::StateToken>().unwrap().key());
        let abandoned = raw(&h.authorized_state(&owner, &org, &[SUPPORT]).await);
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        let fresh = raw(&h.authorized_state(&owner, &org, &[SUPPORT]).await);
        let report = h.sweep().await;
        assert_eq!(report.states_erased, 1, "{backend:?}: {report:?}");
        let store = h.stack.app().records.store();
        let item = store.get(&abandoned).await.unwrap().unwrap();
        assert!(!item.contains_key("tokenCiphertext"), "{backend:?}: the abandoned state still holds a token");
        assert!(store.get(&fresh).await.unwrap().unwrap().contains_key("tokenCiphertext"), "{backend:?}");
        assert_eq!(h.sweep().await.states_erased, 0, "{backend:?}: each state is erased once");
    }
}

/// A connected number's item copied, as it is, into another organization's partition gives
/// that organization nothing: the token is opened under the organization of the partition
/// it was read from, and it was sealed for another.
#[tokio::test]
async fn a_phone_item_copied_into_another_organization_opens_for_no_one() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let (owner, mallory) = (h.user("owner-1"), h.user("mallory"));
        let org = h.create_org(&owner, "Acme").await;
        let other = h.create_org(&mallory, "Mallory").await;
        h.connect(&owner, &org, SUPPORT, READY).await;
        let mut item = raw_phone(&h, &org, READY).await;
        let copy = phone_key(&other.parse().unwrap(), &READY.parse().unwrap());
        item.insert("pk".into(), shared::store::Value::S(copy.pk.clone()));
        let store = h.stack.app().records.store();
        store.write(vec![shared::store::WriteOp::Put { item, condition: None }]).await.unwrap();

        let sent = h.sandbox().sent_messages().len();
        let path = format!("/api/v1/organizations/{other}/whatsapp/messages");
        let (status, body) = h.post(&path, &mallory, json!({ "to": "16315551234", "text": "not mine" })).await;
        assert!(!status.is_success(), "{backend:?}: {status} {body}");
        assert_eq!(h.sandbox().sent_messages().len(), sent, "{backend:?}: nothing reached Meta");
        let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
        let (status, body) = h.post(&path, &owner, json!({ "to": "16315551234", "text": "mine" })).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: the owner's number works as before: {body}");
    }
}
