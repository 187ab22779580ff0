//! Events to the organization's own systems. Every change the service records — a message
//! received, sent, echoed from the WhatsApp Business app or imported from its history, a
//! delivery status, a contact, a connection connected, changed or disconnected — becomes one
//! event `{id, type, version, createdAt, organizationId, data}`, read from the table's
//! stream (so nothing recorded is missed, whatever wrote it), published to the stack's
//! EventBridge bus in AWS, and delivered to the organization's endpoints as Standard
//! Webhooks: signed, retried with backoff for at least a day, at least once, with the same
//! `webhook-id` on every attempt.
//!
//! [`endpoint`] holds what an endpoint is (its URL, checked against private addresses, and
//! its secret), [`signing`] the signature, [`delivery`] one attempt and the retry schedule,
//! [`queue`] the retries' queue (SQS in AWS, the store locally), and [`bus`] the EventBridge
//! port.

pub mod bus;
pub mod delivery;
pub mod endpoint;
pub mod queue;
pub mod signing;

use crate::clock::Timestamp;
use crate::crypto;
use crate::domain::OrganizationId;
use crate::store::records::{contact_from, event_from, message_from};
use crate::stream::{Change, ChangeKind, Filter, Pattern};
use serde_json::{Value, json};

/// The changes that can tell an event (see [`from_change`]): the events function's filter.
pub const STREAM_FILTER: Filter = Filter(&[
    Pattern { kinds: &[ChangeKind::Insert], entities: &["message", "status", "connection_event"], attributes: &[] },
    Pattern { kinds: &[ChangeKind::Insert, ChangeKind::Modify], entities: &["contact"], attributes: &[] },
]);

/// The version of the event's shape; a change that breaks consumers gets a new one.
pub const EVENT_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    MessageReceived,
    MessageSent,
    MessageStatus,
    MessageEcho,
    MessageHistory,
    ContactUpdated,
    ConnectionConnected,
    ConnectionChanged,
    ConnectionDisconnected,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::MessageReceived,
        EventType::MessageSent,
        EventType::MessageStatus,
        EventType::MessageEcho,
        EventType::MessageHistory,
        EventType::ContactUpdated,
        EventType::ConnectionConnected,
        EventType::ConnectionChanged,
        EventType::ConnectionDisconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageSent => "message.sent",
            EventType::MessageStatus => "message.status",
            EventType::MessageEcho => "message.echo",
            EventType::MessageHistory => "message.history",
            EventType::ContactUpdated => "contact.updated",
            EventType::ConnectionConnected => "connection.connected",
            EventType::ConnectionChanged => "connection.changed",
            EventType::ConnectionDisconnected => "connection.disconnected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// What a consumer finds in `data`, for the API's description.
    pub fn data_schema(self) -> &'static str {
        match self {
            EventType::MessageReceived
            | EventType::MessageSent
            | EventType::MessageStatus
            | EventType::MessageEcho
            | EventType::MessageHistory => "Message",
            EventType::ContactUpdated => "ContactChange",
            EventType::ConnectionConnected | EventType::ConnectionChanged | EventType::ConnectionDisconnected => {
                "ConnectionEvent"
            }
        }
    }
}

/// One event, as endpoints receive it and the bus carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Stable for the change it tells: a change handed over twice is the same event.
    pub id: String,
    pub kind: EventType,
    pub created_at: Timestamp,
    pub organization_id: OrganizationId,
    pub data: Value,
}

impl Event {
    /// The event's JSON, written once: what is signed is exactly what is sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "version": EVENT_VERSION,
            "createdAt": self.created_at.to_rfc3339(),
            "organizationId": self.organization_id,
            "data": self.data,
        }))
        .expect("an event serializes")
    }
}

/// An event id: `evt_` and a digest of what identifies the change.
fn event_id(parts: &[&str]) -> String {
    format!("evt_{}", crypto::hex(&crypto::sha256(parts.join("\u{0}").as_bytes())[..16]))
}

/// The event a change of the table tells, if it tells one: a new message, status or
/// connection event; any change of a contact. A message changed later (its media fetched,
/// a placeholder replaced) is the message already told.
pub fn from_change(change: &Change) -> Option<Event> {
    let image = change.image()?;
    let (pk, sk) = (change.key.pk.as_str(), change.key.sk.as_str());
    match (change.entity()?, change.kind) {
        ("message" | "status", ChangeKind::Insert) => {
            let message = message_from(image).ok()?;
            let kind = match &message.kind {
                crate::domain::EventKind::Status { .. } => EventType::MessageStatus,
                crate::domain::EventKind::Message { .. } if message.history => EventType::MessageHistory,
                crate::domain::EventKind::Message { .. } if message.source.is_some() => EventType::MessageEcho,
                crate::domain::EventKind::Message { direction: crate::domain::Direction::Inbound } => {
                    EventType::MessageReceived
                }
                crate::domain::EventKind::Message { direction: crate::domain::Direction::Outbound } => {
                    EventType::MessageSent
                }
                crate::domain::EventKind::Rejected { .. } => return None,
            };
            Some(Event {
                id: event_id(&[pk, sk]),
                kind,
                created_at: message.received_at,
                organization_id: message.organization_id.clone(),
                data: message.view(),
            })
        }
        ("contact", ChangeKind::Insert | ChangeKind::Modify) => {
            let contact = contact_from(image).ok()?;
            let mut data = contact.view();
            data["removed"] = contact.removed.into();
            Some(Event {
                id: event_id(&[pk, sk, &contact.updated_at.0.to_string(), &contact.removed.to_string()]),
                kind: EventType::ContactUpdated,
                created_at: contact.updated_at,
                organization_id: contact.organization_id,
                data,
            })
        }
        ("connection_event", ChangeKind::Insert) => {
            let event = event_from(image).ok()?;
            let kind = match (event.kind.as_str(), event.to.as_deref()) {
                ("is_active", Some("true")) => EventType::ConnectionConnected,
                ("is_active", Some("false")) => EventType::ConnectionDisconnected,
                _ => EventType::ConnectionChanged,
            };
            Some(Event {
                id: event_id(&[pk, sk]),
                kind,
                created_at: event.at,
                organization_id: event.organization_id.clone(),
                data: serde_json::to_value(event.view()).expect("an event view serializes"),
            })
        }
        _ => None,
    }
}
