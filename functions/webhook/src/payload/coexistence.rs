//! The fields a coexistence number brings (a WhatsApp Business app number shared with
//! Cloud API): `history` (the chats Meta syncs once, in chunks), `smb_message_echoes` (what
//! the business sends from the app) and `smb_app_state_sync` (the app's contacts).

use super::lenient::{Lenient, LenientList, Loose, Raw, epoch};
use super::messages::{Inbound, MetaProblem, RawProblem, messages, problems};
use serde::Deserialize;
use std::borrow::Cow;

/// One chunk of a `history` change: some threads' messages, and how far the sync is; or,
/// when the business declined to share its history, only Meta's error (2593109).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryChunk<'a> {
    pub phase: Option<i64>,
    pub chunk_order: Option<i64>,
    /// 0 to 100; 100 when the whole history has been sent.
    pub progress: Option<i64>,
    pub threads: Vec<Thread<'a>>,
    pub errors: Vec<MetaProblem<'a>>,
}

/// A chat with one customer: the thread's id is the customer's number.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread<'a> {
    pub id: Option<Cow<'a, str>>,
    pub messages: Vec<Inbound<'a>>,
}

/// One `state_sync[]` entry: a contact added or edited (`add`) or removed (`remove`) in
/// the app, as of its own timestamp.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactChange<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub phone: Option<Cow<'a, str>>,
    pub full_name: Option<Cow<'a, str>>,
    pub first_name: Option<Cow<'a, str>>,
    pub action: Option<Cow<'a, str>>,
    pub timestamp: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct RawHistory<'a> {
    #[serde(borrow)]
    metadata: Option<Lenient<RawProgress<'a>>>,
    #[serde(borrow)]
    threads: Option<LenientList<RawThread<'a>>>,
    #[serde(borrow)]
    errors: Option<LenientList<RawProblem<'a>>>,
}

#[derive(Deserialize)]
struct RawProgress<'a> {
    #[serde(borrow)]
    phase: Option<Loose<'a>>,
    #[serde(borrow)]
    chunk_order: Option<Loose<'a>>,
    #[serde(borrow)]
    progress: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawThread<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    messages: Option<LenientList<Raw<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct RawStateSync<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Loose<'a>>,
    #[serde(borrow)]
    contact: Option<Lenient<RawSyncedContact<'a>>>,
    #[serde(borrow)]
    action: Option<Loose<'a>>,
    #[serde(borrow)]
    metadata: Option<Lenient<RawSyncMetadata<'a>>>,
}

#[derive(Deserialize)]
struct RawSyncedContact<'a> {
    #[serde(borrow)]
    full_name: Option<Loose<'a>>,
    #[serde(borrow)]
    first_name: Option<Loose<'a>>,
    #[serde(borrow)]
    phone_number: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawSyncMetadata<'a> {
    #[serde(borrow)]
    timestamp: Option<Loose<'a>>,
}

fn number(value: Option<Loose<'_>>) -> Option<i64> {
    value.and_then(Loose::text).and_then(|t| t.parse().ok())
}

pub(super) fn history<'a>(list: Option<LenientList<RawHistory<'a>>>) -> Vec<HistoryChunk<'a>> {
    list.map(|h| h.items)
        .unwrap_or_default()
        .into_iter()
        .map(|chunk| {
            let progress = chunk.metadata.and_then(|m| m.0);
            let (phase, chunk_order, progress) = match progress {
                Some(p) => (number(p.phase), number(p.chunk_order), number(p.progress)),
                None => (None, None, None),
            };
            HistoryChunk {
                phase,
                chunk_order,
                progress,
                threads: chunk
                    .threads
                    .map(|t| t.items)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|thread| Thread {
                        id: thread.id.and_then(Loose::text),
                        // History messages name no profile: a thread is one customer.
                        messages: messages(thread.messages, &[]),
                    })
                    .collect(),
                errors: problems(chunk.errors),
            }
        })
        .collect()
}

pub(super) fn contact_changes<'a>(list: Option<LenientList<RawStateSync<'a>>>) -> Vec<ContactChange<'a>> {
    list.map(|s| s.items)
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            let contact = entry.contact.and_then(|c| c.0);
            let (phone, full_name, first_name) = match contact {
                Some(c) => (
                    c.phone_number.and_then(Loose::text),
                    c.full_name.and_then(Loose::text),
                    c.first_name.and_then(Loose::text),
                ),
                None => (None, None, None),
            };
            ContactChange {
                kind: entry.kind.and_then(Loose::text),
                phone,
                full_name,
                first_name,
                action: entry.action.and_then(Loose::text),
                timestamp: entry.metadata.and_then(|m| m.0?.timestamp).and_then(epoch),
            }
        })
        .collect()
}
