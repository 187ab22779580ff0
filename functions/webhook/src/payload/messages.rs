//! `messages` (inbound messages and statuses of outbound ones) and `user_id_update` (a
//! customer's new BSUID, read as a system message of theirs).

use super::lenient::{Lenient, LenientList, Loose, Raw, epoch};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A message: what the inbox shows, and the message object as Meta sent it. Any field may
/// be missing; whether the message can be stored is decided by its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound<'a> {
    pub id: Option<Cow<'a, str>>,
    /// The sender's phone number; Meta withholds it for a customer with a username.
    pub from: Option<Cow<'a, str>>,
    /// The recipient, in a message the business sent (an echo, a history message).
    pub to: Option<Cow<'a, str>>,
    /// The sender's BSUID (`from_user_id`) and parent BSUID.
    pub from_user_id: Option<Cow<'a, str>>,
    pub from_parent_user_id: Option<Cow<'a, str>>,
    pub timestamp: Option<i64>,
    pub message_type: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    /// From the change's `contacts[]` entry of the sender (by `wa_id` or `user_id`).
    pub contact_name: Option<Cow<'a, str>>,
    pub username: Option<Cow<'a, str>>,
    /// A system message's new identity of the customer.
    pub system: Option<System<'a>>,
    /// An image's, video's, audio's, document's or sticker's file.
    pub media: Option<Media<'a>>,
    pub raw: &'a str,
}

/// A file a message carries: Meta's media id (lives 7 days), its type and its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Media<'a> {
    pub id: Cow<'a, str>,
    pub mime_type: Cow<'a, str>,
    /// Base64 of the file's SHA-256.
    pub sha256: Cow<'a, str>,
}

/// What a system message (`type: "system"`) says changed: Meta's `system.type` and the
/// customer's new number (`wa_id`) or BSUID (`user_id`). The old ones are the message's
/// `from` / `from_user_id`, or the `previous` of a `user_id_update`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct System<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub wa_id: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    /// The BSUID before the change, when Meta says it (`user_id_update`).
    pub previous_user_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status<'a> {
    pub id: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
    pub timestamp: Option<i64>,
    pub recipient_id: Option<Cow<'a, str>>,
    pub recipient_user_id: Option<Cow<'a, str>>,
    pub recipient_parent_user_id: Option<Cow<'a, str>>,
    /// A `failed` status's first error.
    pub error: Option<MetaProblem<'a>>,
    pub raw: &'a str,
}

/// An error object in a webhook: `{code, title, message, error_data: {details}}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetaProblem<'a> {
    pub code: Option<i64>,
    pub title: Option<Cow<'a, str>>,
    pub message: Option<Cow<'a, str>>,
    pub details: Option<Cow<'a, str>>,
}

impl<'a> Inbound<'a> {
    /// A message whose object could not be read at all: kept by its bytes, to be stored as
    /// rejected.
    pub(super) fn unreadable(raw: &'a str) -> Self {
        Self {
            id: None,
            from: None,
            to: None,
            from_user_id: None,
            from_parent_user_id: None,
            timestamp: None,
            message_type: None,
            text: None,
            contact_name: None,
            username: None,
            system: None,
            media: None,
            raw,
        }
    }
}

impl<'a> Status<'a> {
    fn unreadable(raw: &'a str) -> Self {
        Self {
            id: None,
            status: None,
            timestamp: None,
            recipient_id: None,
            recipient_user_id: None,
            recipient_parent_user_id: None,
            error: None,
            raw,
        }
    }
}

/// A `contacts[]` entry of a messages change: the customer's profile.
pub(super) struct Profile<'a> {
    wa_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct RawContact<'a> {
    #[serde(borrow)]
    wa_id: Option<Loose<'a>>,
    #[serde(borrow)]
    user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    profile: Option<Lenient<RawProfile<'a>>>,
}

#[derive(Deserialize)]
struct RawProfile<'a> {
    #[serde(borrow)]
    name: Option<Loose<'a>>,
    #[serde(borrow)]
    username: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawProblem<'a> {
    #[serde(borrow)]
    code: Option<Loose<'a>>,
    #[serde(borrow)]
    title: Option<Loose<'a>>,
    #[serde(borrow)]
    message: Option<Loose<'a>>,
    #[serde(borrow)]
    error_data: Option<Lenient<RawErrorData<'a>>>,
}

#[derive(Deserialize)]
struct RawErrorData<'a> {
    #[serde(borrow)]
    details: Option<Loose<'a>>,
}

impl<'a> RawProblem<'a> {
    pub(super) fn read(self) -> MetaProblem<'a> {
        MetaProblem {
            code: self.code.and_then(Loose::text).and_then(|c| c.parse().ok()),
            title: self.title.and_then(Loose::text),
            message: self.message.and_then(Loose::text),
            details: self.error_data.and_then(|d| d.0?.details?.text()),
        }
    }
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    from: Option<Loose<'a>>,
    #[serde(borrow)]
    to: Option<Loose<'a>>,
    #[serde(borrow)]
    from_user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    from_parent_user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    timestamp: Option<Loose<'a>>,
    #[serde(borrow, rename = "type")]
    message_type: Option<Loose<'a>>,
    #[serde(borrow)]
    text: Option<Lenient<RawText<'a>>>,
    /// `type: "system"`: a customer changed their number or their BSUID.
    #[serde(borrow)]
    system: Option<Lenient<RawSystem<'a>>>,
    #[serde(borrow)]
    image: Option<Lenient<RawMedia<'a>>>,
    #[serde(borrow)]
    video: Option<Lenient<RawMedia<'a>>>,
    #[serde(borrow)]
    audio: Option<Lenient<RawMedia<'a>>>,
    #[serde(borrow)]
    document: Option<Lenient<RawMedia<'a>>>,
    #[serde(borrow)]
    sticker: Option<Lenient<RawMedia<'a>>>,
}

#[derive(Deserialize)]
struct RawMedia<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    mime_type: Option<Loose<'a>>,
    #[serde(borrow)]
    sha256: Option<Loose<'a>>,
    #[serde(borrow)]
    caption: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawText<'a> {
    #[serde(borrow)]
    body: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawSystem<'a> {
    #[serde(borrow)]
    body: Option<Loose<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Loose<'a>>,
    #[serde(borrow)]
    wa_id: Option<Loose<'a>>,
    /// Before API v12.
    #[serde(borrow)]
    new_wa_id: Option<Loose<'a>>,
    #[serde(borrow)]
    user_id: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawStatus<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    status: Option<Loose<'a>>,
    #[serde(borrow)]
    timestamp: Option<Loose<'a>>,
    #[serde(borrow)]
    recipient_id: Option<Loose<'a>>,
    #[serde(borrow)]
    recipient_user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    recipient_parent_user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    errors: Option<LenientList<RawProblem<'a>>>,
}

/// One entry of a `user_id_update` change: a customer's BSUID (and parent BSUID) changed.
#[derive(Deserialize)]
struct RawUserIdUpdate<'a> {
    #[serde(borrow)]
    wa_id: Option<Loose<'a>>,
    #[serde(borrow)]
    detail: Option<Loose<'a>>,
    #[serde(borrow)]
    user_id: Option<Lenient<RawIdPair<'a>>>,
    #[serde(borrow)]
    parent_user_id: Option<Lenient<RawIdPair<'a>>>,
    #[serde(borrow)]
    timestamp: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawIdPair<'a> {
    #[serde(borrow)]
    previous: Option<Loose<'a>>,
    #[serde(borrow)]
    current: Option<Loose<'a>>,
}

/// `{previous, current}`, each when it is a usable string.
fn ids(pair: Option<Lenient<RawIdPair<'_>>>) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    match pair.and_then(|p| p.0) {
        Some(p) => (p.previous.and_then(Loose::text), p.current.and_then(Loose::text)),
        None => (None, None),
    }
}

/// A `user_id_update` entry as an inbound system message of the customer: the inbox shows
/// the change, later replies go to the new BSUID, and its id (both BSUIDs) makes a
/// redelivery the same message.
pub(super) fn user_id_update(raw: &RawValue) -> Inbound<'_> {
    let Some(update) = serde_json::from_str::<Lenient<RawUserIdUpdate>>(raw.get()).ok().and_then(|u| u.0) else {
        return Inbound::unreadable(raw.get());
    };
    let (previous, current) = ids(update.user_id);
    let (_, parent) = ids(update.parent_user_id);
    let id = match (&previous, &current) {
        (Some(previous), Some(current)) => Some(Cow::Owned(format!("user_id_update.{previous}.{current}"))),
        _ => None,
    };
    let wa_id = update.wa_id.and_then(Loose::text);
    Inbound {
        id,
        from: wa_id.clone(),
        to: None,
        system: Some(System {
            kind: Some(Cow::Borrowed("user_id_update")),
            wa_id,
            user_id: current.clone(),
            previous_user_id: previous,
        }),
        from_user_id: current,
        from_parent_user_id: parent,
        timestamp: update.timestamp.and_then(epoch),
        message_type: Some(Cow::Borrowed("system")),
        text: update.detail.and_then(Loose::text),
        contact_name: None,
        username: None,
        media: None,
        raw: raw.get(),
    }
}

/// The customers' profiles of a change, by whichever of its ids Meta gave: `wa_id` (the
/// phone) and `user_id` (the BSUID); a username-only customer has no `wa_id`.
pub(super) fn profiles(contacts: Option<LenientList<RawContact<'_>>>) -> Vec<Profile<'_>> {
    contacts
        .map(|c| c.items)
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let (name, username) = match c.profile.and_then(|p| p.0) {
                Some(p) => (p.name.and_then(Loose::text), p.username.and_then(Loose::text)),
                None => (None, None),
            };
            Profile { wa_id: c.wa_id.and_then(Loose::text), user_id: c.user_id.and_then(Loose::text), name, username }
        })
        .collect()
}

/// Reads each message of a list from its own bytes, which it keeps, naming its sender from
/// `profiles`.
pub(super) fn messages<'a>(list: Option<LenientList<Raw<'a>>>, profiles: &[Profile<'a>]) -> Vec<Inbound<'a>> {
    list.map(|m| m.items).unwrap_or_default().into_iter().map(|Raw(raw)| message(raw, profiles)).collect()
}

fn message<'a>(raw: &'a RawValue, profiles: &[Profile<'a>]) -> Inbound<'a> {
    let m = serde_json::from_str::<Lenient<RawMessage>>(raw.get()).ok().and_then(|m| m.0);
    let Some(m) = m else { return Inbound::unreadable(raw.get()) };
    let from = m.from.and_then(Loose::text);
    let from_user_id = m.from_user_id.and_then(Loose::text);
    let profile = profiles
        .iter()
        .find(|c| (from.is_some() && c.wa_id == from) || (from_user_id.is_some() && c.user_id == from_user_id));
    let system = m.system.and_then(|s| s.0);
    let raw_media = [m.image, m.video, m.audio, m.document, m.sticker].into_iter().flatten().find_map(|m| m.0);
    let caption = raw_media.as_ref().and_then(|m| m.caption.clone()).and_then(Loose::text);
    let media = raw_media.and_then(|m| {
        Some(Media {
            id: m.id.and_then(Loose::text)?,
            mime_type: m.mime_type.and_then(Loose::text)?,
            sha256: m.sha256.and_then(Loose::text)?,
        })
    });
    // A system message's words are its `system.body` ("User … changed from … to …"), so
    // the inbox shows what happened; a file's are its caption.
    let text = match (m.text.and_then(|t| t.0?.body?.text()), &system) {
        (Some(text), _) => Some(text),
        (None, Some(system)) => system.body.clone().and_then(Loose::text),
        (None, None) => caption,
    };
    Inbound {
        id: m.id.and_then(Loose::text),
        timestamp: m.timestamp.and_then(epoch),
        message_type: m.message_type.and_then(Loose::text),
        text,
        contact_name: profile.and_then(|c| c.name.clone()),
        username: profile.and_then(|c| c.username.clone()),
        system: system.map(|s| System {
            kind: s.kind.and_then(Loose::text),
            wa_id: s.wa_id.and_then(Loose::text).or_else(|| s.new_wa_id.and_then(Loose::text)),
            user_id: s.user_id.and_then(Loose::text),
            previous_user_id: None,
        }),
        media,
        from,
        to: m.to.and_then(Loose::text),
        from_user_id,
        from_parent_user_id: m.from_parent_user_id.and_then(Loose::text),
        raw: raw.get(),
    }
}

pub(super) fn statuses<'a>(list: Option<LenientList<Raw<'a>>>) -> Vec<Status<'a>> {
    list.map(|s| s.items)
        .unwrap_or_default()
        .into_iter()
        .map(|Raw(raw)| {
            let s = serde_json::from_str::<Lenient<RawStatus>>(raw.get()).ok().and_then(|s| s.0);
            let Some(s) = s else { return Status::unreadable(raw.get()) };
            Status {
                id: s.id.and_then(Loose::text),
                status: s.status.and_then(Loose::text),
                timestamp: s.timestamp.and_then(epoch),
                recipient_id: s.recipient_id.and_then(Loose::text),
                recipient_user_id: s.recipient_user_id.and_then(Loose::text),
                recipient_parent_user_id: s.recipient_parent_user_id.and_then(Loose::text),
                error: s.errors.and_then(|e| e.items.into_iter().next()).map(RawProblem::read),
                raw: raw.get(),
            }
        })
        .collect()
}

pub(super) fn problems(list: Option<LenientList<RawProblem<'_>>>) -> Vec<MetaProblem<'_>> {
    list.map(|e| e.items).unwrap_or_default().into_iter().map(RawProblem::read).collect()
}

pub(super) fn user_id_updates(list: Option<LenientList<Raw<'_>>>) -> Vec<Inbound<'_>> {
    list.map(|u| u.items).unwrap_or_default().into_iter().map(|Raw(raw)| user_id_update(raw)).collect()
}
