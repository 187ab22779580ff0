//! Erasure at rest, checked in the raw stored items on both backends (not through the domain
//! types, which read an inactive phone back without a token whatever is stored): a
//! disconnected number's item keeps neither its token's nor its PIN's ciphertext, whether
//! the organization or Meta ended the connection; an expired OAuth state read again keeps
//! no token.

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
        let (status, body) = h.get(&format!("/api/v1/organizations/whatsapp/accounts?state={state}"), &owner).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("state_expired")));
        let item = h.stack.app().records.store().get(&key).await.unwrap().unwrap();
        assert!(!item.contains_key("tokenCiphertext"), "{backend:?}: the expired state still holds a token");
    }
}
