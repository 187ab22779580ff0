//! The local store, as the README tells an operator to back it up and inspect it: each of
//! its `sqlite3` commands, run as written against a running stack's data directory, works,
//! and the backup is a whole, consistent copy. Needs the `sqlite3` shell (`./scripts/test`
//! installs it when missing).

mod support;

use std::process::Command;
use support::{Harness, TempDir};

/// The commands of the README's "The local store" block.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("### The local store").nth(1).expect("the README has a section on the local store");
    let block = section.split("```sh").nth(1).and_then(|b| b.split("```").next()).expect("with a shell block");
    let commands: Vec<String> =
        block.lines().map(str::trim).filter(|l| l.starts_with("sqlite3 ")).map(str::to_owned).collect();
    assert_eq!(commands.len(), 4, "backup, compacted copy and two inspections: {commands:?}");
    commands
}

fn shell(command: &str, cwd: &std::path::Path) -> String {
    let output =
        Command::new("sh").arg("-c").arg(command).current_dir(cwd).output().unwrap_or_else(|e| panic!("sh: {e}"));
    assert!(
        output.status.success(),
        "`{command}` failed (is the sqlite3 shell installed? ./scripts/test installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_readmes_backup_and_inspection_commands_work_on_a_running_stack() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme Backups").await;
    h.connect(&owner, &org, support::SUPPORT, waba_connect::sandbox::seed::ACME_SUPPORT_PHONES[0]).await;

    // The README's paths are relative to the checkout: `.local` is the data directory.
    let workdir = TempDir::new();
    std::os::unix::fs::symlink(&h.data_dir.0, workdir.0.join(".local")).unwrap();
    let backups = TempDir::new();
    let mut outputs = Vec::new();
    for command in readme_commands() {
        outputs.push(shell(&command.replace("/backups/", &format!("{}/", backups.0.display())), &workdir.0));
    }
    assert!(
        outputs[2].contains(&format!("ORG#{org}|Acme Backups")),
        "the inspection shows the organization: {}",
        outputs[2]
    );
    assert!(outputs[3].contains(&format!("ORG#{org}")), "and the stream's latest changes: {}", outputs[3]);

    // Each copy is a database of its own holding what the live one holds; the sealed token
    // is there as ciphertext only.
    let count = "SELECT count(*) FROM items";
    let live = shell(&format!("sqlite3 .local/store.sqlite3 '{count}'"), &workdir.0);
    for copy in ["store.sqlite3", "store-compact.sqlite3"] {
        let path = backups.0.join(copy);
        assert_eq!(shell(&format!("sqlite3 '{}' 'PRAGMA integrity_check'", path.display()), &workdir.0).trim(), "ok");
        assert_eq!(shell(&format!("sqlite3 '{}' '{count}'", path.display()), &workdir.0), live, "{copy}");
        let sealed = shell(
            &format!(
                "sqlite3 '{}' \"SELECT json_extract(item, '$.tokenCiphertext.B') FROM items WHERE sk LIKE 'PHONE#%'\"",
                path.display()
            ),
            &workdir.0,
        );
        assert!(sealed.trim().len() > 40, "the phone's token is kept, sealed: {sealed:?}");
    }
    for token in h.sandbox().issued_tokens() {
        for copy in ["store.sqlite3", "store-compact.sqlite3"] {
            let bytes = std::fs::read(backups.0.join(copy)).unwrap();
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "a token in plain text in {copy}");
        }
    }
}

/// What expires is deleted on one machine as DynamoDB's time to live and S3's lifecycle rule
/// delete it in AWS: the stack deletes the store's expired items, and the received files
/// older than the retention, when it starts (then hourly).
#[tokio::test]
async fn the_stack_deletes_expired_items_and_old_files_when_it_starts() {
    use shared::media::MediaStore;
    use shared::store::{Item, Key, Store, Value, schema};
    let data = TempDir::new();
    let now = shared::clock::Timestamp::now().seconds();
    let item = |sk: &str, ttl: i64| {
        Item::from([
            (schema::PK.to_owned(), Value::S("ORG#expiry".into())),
            (schema::SK.to_owned(), Value::S(sk.into())),
            (schema::TTL.to_owned(), Value::N(ttl)),
        ])
    };
    let store = shared::store::embedded::EmbeddedStore::open_in(&data.0).unwrap();
    store.put_each(vec![(item("MSG#expired", now - 1), None), (item("MSG#kept", now + 3600), None)]).await.unwrap();
    let media = shared::media::files::FileMediaStore::open(data.0.join("media")).unwrap();
    for key in ["org-1/old", "org-1/new"] {
        media.put(key, "image/jpeg", bytes::Bytes::from_static(b"bytes")).await.unwrap();
    }
    // Written 31 days ago, past the default retention of 30.
    let written = std::time::SystemTime::now() - std::time::Duration::from_secs(31 * 86_400);
    let old = std::fs::File::options().append(true).open(data.0.join("media/org-1/old")).unwrap();
    old.set_modified(written).unwrap();

    let h = Harness::start(&[("DATA_DIR", &data.0.display().to_string())]).await;
    let expired = Key::new("ORG#expiry", "MSG#expired");
    for _ in 0..100 {
        if store.get(&expired).await.unwrap().is_none() && media.get("org-1/old").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(store.get(&expired).await.unwrap().is_none(), "the expired item is deleted");
    assert!(media.get("org-1/old").await.unwrap().is_none(), "the old file is deleted");
    assert!(store.get(&Key::new("ORG#expiry", "MSG#kept")).await.unwrap().is_some(), "the rest is kept");
    assert!(media.get("org-1/new").await.unwrap().is_some());
    let logs = support::logs();
    assert!(logs.contains("deleted the store's expired items"), "{logs}");
    assert!(logs.contains("deleted received files past the retention"), "{logs}");
    drop(h);
}
