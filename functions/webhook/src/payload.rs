//! Meta's webhook notification, parsed in one pass and without copying: every string that
//! needs no unescaping is borrowed from the body, and each message and status keeps the
//! exact bytes Meta sent for it. Parsing is lenient inside a notification: a body that is
//! not a notification is refused, but every entry, change and item is read on its own, and
//! what this code does not understand is counted (or, for a message or status, kept as
//! rejected with the reason) — never a reason to refuse, and so have Meta redeliver, the
//! whole batch.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::marker::PhantomData;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Entries and changes that were present but malformed.
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The WABA id for WhatsApp Business Account notifications.
    pub id: Cow<'a, str>,
    /// When Meta says the change happened (epoch seconds), if it says.
    pub time: Option<i64>,
    pub changes: Vec<Change<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// `field: "messages"`: inbound messages and statuses of outbound ones, for one phone.
    Messages {
        phone_number_id: Cow<'a, str>,
        messages: Vec<Inbound<'a>>,
        statuses: Vec<Status<'a>>,
        /// Value-level `errors`: a system, app or account problem Meta reports for the phone.
        errors: Vec<MetaProblem<'a>>,
    },
    /// A change about the account, a number or a template rather than a message.
    Account(Box<AccountChange<'a>>),
    Other {
        field: String,
    },
}

/// The webhook fields about the account, its numbers and its templates that the
/// connection's lifecycle reads.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "account_update",
    "phone_number_quality_update",
    "business_capability_update",
    "phone_number_name_update",
    "account_review_update",
    "message_template_status_update",
];

/// What an account-level change says, as the union of the fields its kinds carry (Meta's
/// names); which ones count is decided by `field`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountChange<'a> {
    pub field: Cow<'a, str>,
    pub event: Option<Cow<'a, str>>,
    /// `waba_info.waba_id`: the `PARTNER_*` events name the customer's WABA here, and the
    /// partner's own portfolio in the entry's id.
    pub waba_id: Option<Cow<'a, str>>,
    pub display_phone_number: Option<Cow<'a, str>>,
    /// The older limit field of `phone_number_quality_update` (removed by Meta in 2026).
    pub current_limit: Option<Cow<'a, str>>,
    pub max_daily_conversations_per_business: Option<Cow<'a, str>>,
    /// `ban_info.waba_ban_state` and `.waba_ban_date`.
    pub ban_state: Option<Cow<'a, str>>,
    pub ban_date: Option<Cow<'a, str>>,
    /// `restriction_info[]`: each restriction's type and expiration.
    pub restrictions: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>,
    /// `violation_info.violation_type`.
    pub violation_type: Option<Cow<'a, str>>,
    pub decision: Option<Cow<'a, str>>,
    pub requested_verified_name: Option<Cow<'a, str>>,
    pub rejection_reason: Option<Cow<'a, str>>,
    pub reason: Option<Cow<'a, str>>,
    pub message_template_name: Option<Cow<'a, str>>,
    pub message_template_language: Option<Cow<'a, str>>,
}

/// An inbound message: what the inbox shows, and the message object as Meta sent it. Any
/// field may be missing; whether the message can be stored is decided by its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound<'a> {
    pub id: Option<Cow<'a, str>>,
    /// The sender's phone number; Meta withholds it for a customer with a username.
    pub from: Option<Cow<'a, str>>,
    /// The sender's BSUID (`from_user_id`) and parent BSUID.
    pub from_user_id: Option<Cow<'a, str>>,
    pub from_parent_user_id: Option<Cow<'a, str>>,
    pub timestamp: Option<i64>,
    pub message_type: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    /// From the change's `contacts[]` entry of the sender (by `wa_id` or `user_id`).
    pub contact_name: Option<Cow<'a, str>>,
    pub username: Option<Cow<'a, str>>,
    pub raw: &'a str,
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
    fn unreadable(raw: &'a str) -> Self {
        Self {
            id: None,
            from: None,
            from_user_id: None,
            from_parent_user_id: None,
            timestamp: None,
            message_type: None,
            text: None,
            contact_name: None,
            username: None,
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

/// A `contacts[]` entry of a messages change.
struct Contact<'a> {
    wa_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    NotJson,
    NotANotification,
}

/// The restrictions of one `account_update` that are read.
const MAX_RESTRICTIONS: usize = 16;

/// Meta sends at most 1000 updates per delivery; anything far beyond that is not Meta.
pub const MAX_ITEMS: usize = 10_000;

pub fn parse(body: &[u8]) -> Result<Notification<'_>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotJson)?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| if e.is_data() { ParseError::NotANotification } else { ParseError::NotJson })?;
    let entries_list = envelope.entry.ok_or(ParseError::NotANotification)?.0;
    let mut skipped = entries_list.malformed;
    let mut items = 0;
    let mut entries = Vec::with_capacity(entries_list.items.len());
    for entry in entries_list.items {
        let Some(id) = entry.id.and_then(Loose::text) else {
            skipped += 1;
            continue;
        };
        let changes_list = entry.changes.unwrap_or_default();
        skipped += changes_list.malformed;
        let mut changes = Vec::with_capacity(changes_list.items.len());
        for change in changes_list.items {
            items += 1;
            if items > MAX_ITEMS {
                return Err(ParseError::NotANotification);
            }
            match read_change(change) {
                Some(change) => changes.push(change),
                None => skipped += 1,
            }
        }
        entries.push(Entry { id, time: entry.time.and_then(epoch), changes });
    }
    Ok(Notification { entries, skipped })
}

// One pass over the body: every level is read straight into these, and every field is
// lenient (`Loose`, `Lenient`, `LenientList`), so a value of an unexpected type never fails
// its object. The value of a change is read as the union of the fields its kinds carry;
// which ones count is decided by `field` afterwards. Only a message or status is read a
// second time, from its own bytes, which it keeps.

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    entry: Option<StrictList<RawEntry<'a>>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    time: Option<Loose<'a>>,
    #[serde(borrow)]
    changes: Option<LenientList<RawChange<'a>>>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    #[serde(borrow)]
    field: Option<Loose<'a>>,
    #[serde(borrow)]
    value: Option<Lenient<RawValueFields<'a>>>,
}

/// Every field any handled kind of change carries in its `value`.
#[derive(Deserialize)]
struct RawValueFields<'a> {
    // messages
    #[serde(borrow)]
    metadata: Option<Lenient<RawMetadata<'a>>>,
    #[serde(borrow)]
    contacts: Option<LenientList<RawContact<'a>>>,
    #[serde(borrow)]
    messages: Option<LenientList<Raw<'a>>>,
    #[serde(borrow)]
    statuses: Option<LenientList<Raw<'a>>>,
    #[serde(borrow)]
    errors: Option<LenientList<RawProblem<'a>>>,
    // user_id_update
    #[serde(borrow)]
    user_id_update: Option<LenientList<Raw<'a>>>,
    // the account-level fields
    #[serde(borrow)]
    display_phone_number: Option<Loose<'a>>,
    #[serde(borrow)]
    event: Option<Loose<'a>>,
    #[serde(borrow)]
    current_limit: Option<Loose<'a>>,
    #[serde(borrow)]
    max_daily_conversations_per_business: Option<Loose<'a>>,
    #[serde(borrow)]
    waba_info: Option<Lenient<RawWabaInfo<'a>>>,
    #[serde(borrow)]
    ban_info: Option<Lenient<RawBanInfo<'a>>>,
    #[serde(borrow)]
    restriction_info: Option<LenientList<RawRestriction<'a>>>,
    #[serde(borrow)]
    violation_info: Option<Lenient<RawViolation<'a>>>,
    #[serde(borrow)]
    decision: Option<Loose<'a>>,
    #[serde(borrow)]
    requested_verified_name: Option<Loose<'a>>,
    #[serde(borrow)]
    rejection_reason: Option<Loose<'a>>,
    #[serde(borrow)]
    reason: Option<Loose<'a>>,
    #[serde(borrow)]
    message_template_name: Option<Loose<'a>>,
    #[serde(borrow)]
    message_template_language: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawBanInfo<'a> {
    #[serde(borrow)]
    waba_ban_state: Option<Loose<'a>>,
    #[serde(borrow)]
    waba_ban_date: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawRestriction<'a> {
    #[serde(borrow)]
    restriction_type: Option<Loose<'a>>,
    #[serde(borrow)]
    expiration: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawViolation<'a> {
    #[serde(borrow)]
    violation_type: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawMetadata<'a> {
    #[serde(borrow)]
    phone_number_id: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawContact<'a> {
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
struct RawProblem<'a> {
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
    fn read(self) -> MetaProblem<'a> {
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
    system: Option<Lenient<RawText<'a>>>,
}

#[derive(Deserialize)]
struct RawText<'a> {
    #[serde(borrow)]
    body: Option<Loose<'a>>,
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
fn user_id_update(raw: &RawValue) -> Inbound<'_> {
    let Some(update) = serde_json::from_str::<Lenient<RawUserIdUpdate>>(raw.get()).ok().and_then(|u| u.0) else {
        return Inbound::unreadable(raw.get());
    };
    let (previous, current) = ids(update.user_id);
    let (_, parent) = ids(update.parent_user_id);
    let id = match (&previous, &current) {
        (Some(previous), Some(current)) => Some(Cow::Owned(format!("user_id_update.{previous}.{current}"))),
        _ => None,
    };
    Inbound {
        id,
        from: update.wa_id.and_then(Loose::text),
        from_user_id: current,
        from_parent_user_id: parent,
        timestamp: update.timestamp.and_then(epoch),
        message_type: Some(Cow::Borrowed("system")),
        text: update.detail.and_then(Loose::text),
        contact_name: None,
        username: None,
        raw: raw.get(),
    }
}

#[derive(Deserialize)]
struct RawWabaInfo<'a> {
    #[serde(borrow)]
    waba_id: Option<Loose<'a>>,
}

fn read_change(change: RawChange<'_>) -> Option<Change<'_>> {
    let field = change.field.and_then(Loose::text)?;
    let value = change.value?.0?;
    Some(match field.as_ref() {
        "messages" => {
            let phone_number_id = value.metadata.and_then(|m| m.0?.phone_number_id?.text())?;
            // Each contact by whichever of its ids Meta gave: `wa_id` (the phone) and
            // `user_id` (the BSUID); a username-only customer has no `wa_id`.
            let contacts: Vec<Contact> = value
                .contacts
                .map(|c| c.items)
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let (name, username) = match c.profile.and_then(|p| p.0) {
                        Some(p) => (p.name.and_then(Loose::text), p.username.and_then(Loose::text)),
                        None => (None, None),
                    };
                    Contact {
                        wa_id: c.wa_id.and_then(Loose::text),
                        user_id: c.user_id.and_then(Loose::text),
                        name,
                        username,
                    }
                })
                .collect();
            let messages = value
                .messages
                .map(|m| m.items)
                .unwrap_or_default()
                .into_iter()
                .map(|Raw(raw)| {
                    let m = serde_json::from_str::<Lenient<RawMessage>>(raw.get()).ok().and_then(|m| m.0);
                    let Some(m) = m else { return Inbound::unreadable(raw.get()) };
                    let from = m.from.and_then(Loose::text);
                    let from_user_id = m.from_user_id.and_then(Loose::text);
                    let contact = contacts.iter().find(|c| {
                        (from.is_some() && c.wa_id == from) || (from_user_id.is_some() && c.user_id == from_user_id)
                    });
                    Inbound {
                        id: m.id.and_then(Loose::text),
                        timestamp: m.timestamp.and_then(epoch),
                        message_type: m.message_type.and_then(Loose::text),
                        // A system message's words are its `system.body` ("User … changed from
                        // … to …"), so the inbox shows what happened.
                        text: m
                            .text
                            .and_then(|t| t.0?.body?.text())
                            .or_else(|| m.system.and_then(|t| t.0?.body?.text())),
                        contact_name: contact.and_then(|c| c.name.clone()),
                        username: contact.and_then(|c| c.username.clone()),
                        from,
                        from_user_id,
                        from_parent_user_id: m.from_parent_user_id.and_then(Loose::text),
                        raw: raw.get(),
                    }
                })
                .collect();
            let statuses = value
                .statuses
                .map(|s| s.items)
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
                .collect();
            let errors = value.errors.map(|e| e.items).unwrap_or_default().into_iter().map(RawProblem::read).collect();
            Change::Messages { phone_number_id, messages, statuses, errors }
        }
        "user_id_update" => {
            let phone_number_id = value.metadata.and_then(|m| m.0?.phone_number_id?.text())?;
            let messages = value
                .user_id_update
                .map(|u| u.items)
                .unwrap_or_default()
                .into_iter()
                .map(|Raw(raw)| user_id_update(raw))
                .collect();
            Change::Messages { phone_number_id, messages, statuses: Vec::new(), errors: Vec::new() }
        }
        known if ACCOUNT_FIELDS.contains(&known) => Change::Account(Box::new(AccountChange {
            event: value.event.and_then(Loose::text),
            waba_id: value.waba_info.and_then(|w| w.0?.waba_id?.text()),
            display_phone_number: value.display_phone_number.and_then(Loose::text),
            current_limit: value.current_limit.and_then(Loose::text),
            max_daily_conversations_per_business: value.max_daily_conversations_per_business.and_then(Loose::text),
            ban_state: value.ban_info.as_ref().and_then(|b| b.0.as_ref()?.waba_ban_state.clone()?.text()),
            ban_date: value.ban_info.and_then(|b| b.0?.waba_ban_date?.text()),
            restrictions: value
                .restriction_info
                .map(|r| r.items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| Some((r.restriction_type?.text()?, r.expiration.and_then(Loose::text))))
                // Meta lists a handful; more is not a restriction list, and must not grow an
                // event past what can be stored.
                .take(MAX_RESTRICTIONS)
                .collect(),
            violation_type: value.violation_info.and_then(|v| v.0?.violation_type?.text()),
            decision: value.decision.and_then(Loose::text),
            requested_verified_name: value.requested_verified_name.and_then(Loose::text),
            rejection_reason: value.rejection_reason.and_then(Loose::text),
            reason: value.reason.and_then(Loose::text),
            message_template_name: value.message_template_name.and_then(Loose::text),
            message_template_language: value.message_template_language.and_then(Loose::text),
            field: Cow::Owned(known.to_owned()),
        })),
        other => Change::Other { field: other.chars().take(64).collect() },
    })
}

/// An object read as `T` (whose fields are all lenient, so it cannot fail); any other JSON
/// value is `None`.
struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A list whose elements are read as `Lenient<T>`: those that are not objects are counted;
/// anything but a list is an empty list.
struct LenientList<T> {
    items: Vec<T>,
    malformed: usize,
}

impl<T> Default for LenientList<T> {
    fn default() -> Self {
        Self { items: Vec::new(), malformed: 0 }
    }
}

/// What `LenientList` reads each element as.
trait Element<'de>: Sized {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error>;
}

impl<'de, T: Deserialize<'de>> Element<'de> for T {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<Lenient<T>>()?.map(|l| l.0))
    }
}

/// A message or status kept as the exact bytes Meta sent, whatever JSON value it is.
struct Raw<'a>(&'a RawValue);

impl<'de: 'a, 'a> Element<'de> for Raw<'a> {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<&'de RawValue>()?.map(|raw| Some(Raw(raw))))
    }
}

impl<'de, T: Element<'de>> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor::<T, true>(PhantomData))
    }
}

/// The notification's own list of entries: anything but a list means it is not one.
struct StrictList<T>(LenientList<T>);

impl<'de, T: Element<'de>> Deserialize<'de> for StrictList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor::<T, false>(PhantomData)).map(StrictList)
    }
}

/// Reads a list element by element; when `LENIENT`, any other JSON value reads as an
/// empty list instead of failing what holds it.
struct ListVisitor<T, const LENIENT: bool>(PhantomData<T>);

impl<T, const LENIENT: bool> ListVisitor<T, LENIENT> {
    fn not_a_list<E: de::Error>(self, found: de::Unexpected) -> Result<LenientList<T>, E> {
        if LENIENT { Ok(LenientList::default()) } else { Err(E::invalid_type(found, &"a list")) }
    }
}

impl<'de, T: Element<'de>, const LENIENT: bool> Visitor<'de> for ListVisitor<T, LENIENT> {
    type Value = LenientList<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(if LENIENT { "any JSON value" } else { "a list" })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = LenientList::default();
        while let Some(element) = T::next(&mut seq)? {
            match element {
                Some(item) => list.items.push(item),
                None => list.malformed += 1,
            }
        }
        Ok(list)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.not_a_list(de::Unexpected::Map)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Str(value))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Signed(value))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Unsigned(value))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Float(value))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Bool(value))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Unit)
    }
}

/// Epoch seconds, which Meta writes as a string of digits.
fn epoch(value: Loose<'_>) -> Option<i64> {
    let seconds: i64 = value.text()?.parse().ok()?;
    (0..=253_402_300_799).contains(&seconds).then_some(seconds)
}

/// A scalar read leniently: a string (borrowed from the body when it has no escapes) or an
/// integer; any other JSON value is `Other`, so one odd field never fails its object.
#[derive(Debug, Clone, PartialEq)]
enum Loose<'a> {
    Text(Cow<'a, str>),
    Other,
}

/// Longest scalar kept (bytes); a longer one is not something Meta sends.
const MAX_TEXT: usize = 4096 * 4;

impl<'a> Loose<'a> {
    /// A non-empty string of bounded size.
    fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Loose::Text(text) if !text.is_empty() && text.len() <= MAX_TEXT => Some(text),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_s_inbound_message_shape() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Kerry Fisher"},"wa_id":"16315551234"}],"messages":[{"from":"16315551234","id":"wamid.ABC","timestamp":"1795238940","text":{"body":"Hello"},"type":"text"}]},"field":"messages"}]}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.skipped, 0);
        assert_eq!(n.entries[0].id, "102290129340398");
        let Change::Messages { phone_number_id, messages, statuses, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "106540352242922");
        assert!(statuses.is_empty());
        assert_eq!(messages[0].text.as_deref(), Some("Hello"));
        assert_eq!(messages[0].contact_name.as_deref(), Some("Kerry Fisher"));
        assert_eq!(messages[0].timestamp, Some(1_795_238_940));
        assert!(matches!(messages[0].id, Some(Cow::Borrowed("wamid.ABC"))), "borrowed from the body");
        assert_eq!(
            messages[0].raw,
            r#"{"from":"16315551234","id":"wamid.ABC","timestamp":"1795238940","text":{"body":"Hello"},"type":"text"}"#,
            "the message's exact bytes"
        );
    }

    #[test]
    fn escaped_text_is_unescaped_and_raw_bytes_kept() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"from":"3","id":"w","timestamp":"10","type":"text","text":{"body":"caf\u00e9 \"q\""}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages[0].text.as_deref(), Some("café \"q\""));
        assert!(messages[0].raw.contains(r#"caf\u00e9"#));
    }

    #[test]
    fn a_customer_with_a_username_is_named_by_bsuid_and_username_without_a_phone() {
        // Meta's example of a message from a customer whose number is withheld.
        let body = br#"{"entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson","username":"@realsheenanelson"},"user_id":"US.13491208655302741918","parent_user_id":"US.ENT.11815799212886844830"}],"messages":[{"from_user_id":"US.13491208655302741918","from_parent_user_id":"US.ENT.11815799212886844830","id":"wamid.B1","timestamp":"1795238940","type":"text","text":{"body":"hi"}}],"statuses":[{"id":"wamid.S1","status":"failed","recipient_user_id":"US.1","errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"More than 24 hours have passed."}}]}],"errors":[{"code":131042,"title":"Business eligibility payment issue","message":"Business eligibility payment issue","error_data":{"details":"Payment issue."}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, statuses, errors, .. } = &n.entries[0].changes[0] else { panic!() };
        let m = &messages[0];
        assert_eq!(m.from, None);
        assert_eq!(m.from_user_id.as_deref(), Some("US.13491208655302741918"));
        assert_eq!(m.from_parent_user_id.as_deref(), Some("US.ENT.11815799212886844830"));
        assert_eq!(
            (m.contact_name.as_deref(), m.username.as_deref()),
            (Some("Sheena Nelson"), Some("@realsheenanelson"))
        );
        let s = &statuses[0];
        assert_eq!((s.recipient_id.as_deref(), s.recipient_user_id.as_deref()), (None, Some("US.1")));
        let error = s.error.as_ref().unwrap();
        assert_eq!((error.code, error.details.as_deref()), (Some(131047), Some("More than 24 hours have passed.")));
        assert_eq!(errors[0].code, Some(131042));
    }

    #[test]
    fn a_user_id_update_is_a_system_message_of_the_customer_under_their_new_bsuid() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"user_id_update","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"2"},"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],"user_id_update":[{"wa_id":"16505551234","detail":"User id for Sheena has been updated.","user_id":{"previous":"US.1","current":"US.2"},"parent_user_id":{"previous":"US.ENT.1","current":"US.ENT.2"},"timestamp":"1795238940"},{"detail":"no ids"}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { phone_number_id, messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "2");
        let m = &messages[0];
        assert_eq!(m.id.as_deref(), Some("user_id_update.US.1.US.2"), "the same change keeps the same id");
        assert_eq!((m.from_user_id.as_deref(), m.from_parent_user_id.as_deref()), (Some("US.2"), Some("US.ENT.2")));
        assert_eq!(
            (m.message_type.as_deref(), m.text.as_deref()),
            (Some("system"), Some("User id for Sheena has been updated."))
        );
        assert_eq!(messages[1].id, None, "an entry without both ids is kept, to be stored as rejected");
    }

    #[test]
    fn a_changed_bsuid_arrives_as_a_system_message_with_its_words() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"from_user_id":"US.1","id":"wamid.S","timestamp":"10","type":"system","system":{"body":"User Sheena changed from US.1 to US.2","user_id":"US.2","type":"user_changed_user_id"}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages[0].message_type.as_deref(), Some("system"));
        assert_eq!(messages[0].text.as_deref(), Some("User Sheena changed from US.1 to US.2"));
    }

    #[test]
    fn account_updates_may_carry_the_waba_in_waba_info() {
        let body = br#"{"entry":[{"id":"184356712093845","time":1,"changes":[{"value":{"event":"PARTNER_ADDED","waba_info":{"waba_id":"102290129340398","owner_business_id":"1"}},"field":"account_update"}]}],"object":"whatsapp_business_account"}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.entries[0].time, Some(1));
        assert_eq!(
            n.entries[0].changes[0],
            Change::Account(Box::new(AccountChange {
                field: "account_update".into(),
                event: Some("PARTNER_ADDED".into()),
                waba_id: Some("102290129340398".into()),
                ..AccountChange::default()
            }))
        );
    }

    #[test]
    fn bans_and_restrictions_are_read_with_their_dates() {
        let body = br#"{"entry":[{"id":"102290129340398","time":1795238940,"changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"RESTRICTED_BIZ_INITIATED_MESSAGING","expiration":"2026-12-19T13:59:20+0000"},{"expiration":1},"x"]}},{"field":"account_update","value":{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"SCHEDULE_FOR_DISABLE","waba_ban_date":"2026-12-24"}}},{"field":"business_capability_update","value":{"max_daily_conversations_per_business":"TIER_10K","max_phone_numbers_per_business":25}}]}]}"#;
        let n = parse(body).unwrap();
        let [Change::Account(restriction), Change::Account(ban), Change::Account(capability)] =
            &n.entries[0].changes[..]
        else {
            panic!("three account changes: {:?}", n.entries[0].changes);
        };
        assert_eq!(
            restriction.restrictions,
            vec![("RESTRICTED_BIZ_INITIATED_MESSAGING".into(), Some("2026-12-19T13:59:20+0000".into()))],
            "a restriction without a type is dropped, not the change"
        );
        assert_eq!(
            (ban.ban_state.as_deref(), ban.ban_date.as_deref()),
            (Some("SCHEDULE_FOR_DISABLE"), Some("2026-12-24"))
        );
        assert_eq!(capability.max_daily_conversations_per_business.as_deref(), Some("TIER_10K"));
    }

    #[test]
    fn malformed_pieces_are_counted_or_kept_not_fatal() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"id":"x"},{"from":"3","id":"y","timestamp":"10","type":"text"},7]}},{"field":"messages"},{"nofield":1}]},{"noid":true}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.skipped, 3, "two changes and one entry that cannot be read");
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages.len(), 3, "every message is kept, for storing or for rejecting with a reason");
        assert_eq!(messages[0].from, None);
        assert_eq!(messages[1].from.as_deref(), Some("3"));
        assert_eq!(messages[2].id, None);
        assert_eq!(messages[2].raw, "7");
    }

    #[test]
    fn odd_field_types_do_not_fail_their_object() {
        let body = br#"{"entry":[{"id":102,"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":2},"messages":[{"from":{"x":1},"id":"y","timestamp":1.5,"type":["t"],"text":"plain"}]}}]}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.entries[0].id, "102");
        let Change::Messages { phone_number_id, messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "2");
        assert_eq!((messages[0].from.clone(), messages[0].timestamp, messages[0].text.clone()), (None, None, None));
        assert_eq!(messages[0].id.as_deref(), Some("y"));
    }

    #[test]
    fn non_notifications_are_refused() {
        assert_eq!(parse(b"not json"), Err(ParseError::NotJson));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::NotJson));
        assert_eq!(parse(b"[1,2]"), Err(ParseError::NotANotification));
        assert_eq!(parse(br#"{"entry":{}}"#), Err(ParseError::NotANotification));
        assert_eq!(parse(br#"{"object":"x"}"#), Err(ParseError::NotANotification));
    }
}
