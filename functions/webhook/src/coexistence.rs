//! The fields of a coexistence number: its chat history (synced once, in chunks), the
//! messages the business sends from the WhatsApp Business app (echoes), and the app's
//! contacts. Messages from either field are stored as any message is — once, by Meta's
//! identity — and the sync's progress is recorded on the phone.

use crate::payload::{ContactChange, Entry, HistoryChunk, Inbound};
use crate::{Direction, MessageEvent, message_event};
use shared::clock::Timestamp;
use shared::domain::{Contact, FROM_BUSINESS_APP, Route, Source, SyncKind, SyncState, digits_of};
use shared::lifecycle::{self, Observation, Signal};
use shared::store::records::contact_time;
use shared::{ApiError, App, crypto};

/// Meta's error for a business that declined to share its chat history.
const HISTORY_DECLINED: i64 = 2593109;
/// The most a contact's name keeps.
const MAX_NAME_CHARS: usize = 256;

/// A history message: inbound when the customer wrote it, outbound when the business did
/// (its `from` is the business's number, and the customer is the thread's).
pub(crate) fn history_event(route: &Route, thread: Option<&str>, message: &Inbound, now: Timestamp) -> MessageEvent {
    let from_business = message.from.as_deref().is_some_and(|from| digits_of(from) == route.display_digits);
    let mut event = if from_business {
        let to = message.to.as_deref().or(thread).map(digits_of);
        message_event(route, message, Direction::Outbound, to, now)
    } else {
        message_event(route, message, Direction::Inbound, Some(route.display_digits.clone()), now)
    };
    event.history = true;
    event
}

/// A message the business sent from the app: outbound, marked as the app's.
pub(crate) fn echo_event(route: &Route, echo: &Inbound, now: Timestamp) -> MessageEvent {
    let to = echo.to.as_deref().map(digits_of);
    let mut event = message_event(route, echo, Direction::Outbound, to, now);
    event.source = Some(FROM_BUSINESS_APP.into());
    event
}

/// What a history change says of the sync: complete at progress 100, declined when the
/// business turned history sharing off (2593109). How many phones it changed.
pub(crate) async fn history_progress(
    app: &App,
    entry: &Entry<'_>,
    routes: &[Route],
    chunks: &[HistoryChunk<'_>],
    now: Timestamp,
) -> Result<usize, ApiError> {
    let declined = chunks.iter().flat_map(|c| &c.errors).any(|e| e.code == Some(HISTORY_DECLINED));
    let complete = chunks.iter().any(|c| c.progress.is_some_and(|p| p >= 100));
    let state = match (declined, complete) {
        (true, _) => SyncState::Declined,
        (false, true) => SyncState::Complete,
        // Progress under 100: the phone already shows `requested`.
        (false, false) => return Ok(0),
    };
    sync_moved(app, entry, routes, Signal::Sync(SyncKind::History, state), now).await
}

/// Stores the contacts of a `smb_app_state_sync` change for every organization connected to
/// the number, newest first by Meta's timestamp; the phone's contacts sync is complete
/// once the first batch came (Meta sends no end marker). How many contacts were stored.
pub(crate) async fn store_contacts(
    app: &App,
    entry: &Entry<'_>,
    routes: &[Route],
    changes: &[ContactChange<'_>],
    now: Timestamp,
) -> Result<usize, ApiError> {
    let mut contacts = Vec::new();
    for route in routes {
        for change in changes.iter().filter(|c| c.kind.as_deref().is_none_or(|k| k == "contact")) {
            let Some(phone) = change.phone.as_deref().map(digits_of).filter(|p| (5..=20).contains(&p.len())) else {
                continue;
            };
            let name = change.full_name.as_deref().or(change.first_name.as_deref());
            contacts.push(Contact {
                organization_id: route.organization_id.clone(),
                phone_number_id: route.phone_number_id.clone(),
                phone,
                name: name.map(|n| n.chars().take(MAX_NAME_CHARS).collect()),
                updated_at: contact_time(change.timestamp, now),
                removed: change.action.as_deref() == Some("remove"),
            });
        }
    }
    let stored = app.records.store_contacts(&contacts).await?;
    sync_moved(app, entry, routes, Signal::Sync(SyncKind::Contacts, SyncState::Complete), now).await?;
    Ok(stored)
}

/// Applies a sync's progress to each phone it concerns; a phone already there is left as it
/// is (no write, no event).
async fn sync_moved(
    app: &App,
    entry: &Entry<'_>,
    routes: &[Route],
    signal: Signal,
    now: Timestamp,
) -> Result<usize, ApiError> {
    let seen = Observation {
        source: Source::Webhook,
        at: entry.time.map_or(now, Timestamp),
        seed: crypto::hex(&crypto::sha256(format!("{}|{:?}|{signal:?}", entry.id, entry.time).as_bytes())[..12]),
    };
    let mut changed = 0;
    for route in routes {
        let Some(phone) = app.records.phone(&route.organization_id, &route.phone_number_id).await? else { continue };
        if lifecycle::observe(app, phone, std::slice::from_ref(&signal), &seen, &[]).await? {
            changed += 1;
        }
    }
    Ok(changed)
}
