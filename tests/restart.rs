//! The local stack restarted on the same data directory keeps working connections: its Meta
//! sandbox keeps the tokens it issued, the numbers' registrations and the templates beside
//! the store, so a send after the restart goes through and the health sweep finds nothing
//! wrong. A fresh data directory is a fresh sandbox. The directory and all it holds are its
//! owner's alone.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{Harness, SUPPORT};
use waba_connect::sandbox::seed;

const READY: &str = seed::ACME_SUPPORT_PHONES[0];

#[tokio::test]
async fn a_restarted_stack_keeps_its_connections_working() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let path = format!("/api/v1/organizations/{org}/whatsapp/messages");
    let (status, body) = h.post(&path, &owner, json!({ "to": "16315551234", "text": "before" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let issued = h.sandbox().issued_tokens();
    assert!(
        std::fs::metadata(h.data_dir.0.join("meta-sandbox").join("state.json")).is_ok(),
        "the sandbox's state is kept"
    );

    let data_dir = h.data_dir.0.clone();
    let Harness { stack, data_dir: kept, .. } = h;
    stack.stop().await;
    let h = Harness::start(&[("DATA_DIR", &data_dir.display().to_string())]).await;
    assert_eq!(h.sandbox().issued_tokens(), issued, "the same tokens, known to the restarted Meta");
    assert!(h.sandbox().is_registered(READY));
    let (status, body) = h.post(&path, &owner, json!({ "to": "16315551234", "text": "after" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = h.sweep().await;
    assert_eq!((report.connections_checked, report.changes), (1, 0), "{report:?}");
    let status = h.status(&owner, &org).await;
    assert_eq!(status["phoneNumbers"][0]["health"], "ok", "{status}");
    assert_eq!(status["canSend"], true);
    h.assert_no_token_leaked().await;
    drop(kept);

    // A fresh data directory: a Meta that never issued anything.
    let fresh = Harness::start(&[]).await;
    assert!(fresh.sandbox().issued_tokens().is_empty());
    assert!(!fresh.sandbox().is_registered(READY));
}

/// The data directory holds sealed tokens and the local key: the stack creates it, and
/// everything in it, for its owner alone.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let parent = support::TempDir::new();
    let data_dir = parent.0.join("new").join("data");
    let h = Harness::start(&[("DATA_DIR", &data_dir.display().to_string())]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let mut pending = vec![data_dir.clone()];
    let mut files = 0;
    while let Some(path) = pending.pop() {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            files += 1;
        }
    }
    assert!(files >= 2, "the store and the key at least, in {}", data_dir.display());
}
