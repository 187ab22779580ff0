use super::{OrganizationId, PhoneNumberId, WabaId};
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// Who the customer is, as Meta names them besides (or instead of) a phone number: since
/// WhatsApp usernames (2026), a message may carry no phone number at all, only the
/// customer's business-scoped user id (BSUID).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer {
    /// The BSUID (`US.13491208655302741918`): `from_user_id`, `contacts[].user_id`,
    /// `recipient_user_id`.
    pub user_id: Option<String>,
    /// The parent BSUID shared across a managed business's portfolios (`US.ENT.…`).
    pub parent_user_id: Option<String>,
    /// The customer's WhatsApp username (`@name`), when they adopted one.
    pub username: Option<String>,
}

/// Why Meta could not deliver a message, from a `failed` status's `errors[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`: what Meta says to build error handling on.
    pub details: Option<String>,
}

/// The longest BSUID kept: a country code, a period and up to 128 alphanumerics, or with
/// `ENT.` for a parent BSUID.
const MAX_USER_ID: usize = 140;

/// Whether `id` has the shape of a business-scoped user id: `CC.` then alphanumerics, or
/// `CC.ENT.` then alphanumerics for a parent BSUID.
pub fn is_user_id(id: &str) -> bool {
    let Some((country, rest)) = id.split_once('.') else { return false };
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    id.len() <= MAX_USER_ID
        && country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A customer's new identity, from a system message: a new number (`user_changed_number`)
/// or a new BSUID (`user_changed_user_id`, `user_id_update`). The old one is what the
/// customer was known by until then, so both are kept and linked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityChange {
    /// Meta's system message type.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Where a business's message was written, when not through this service.
pub const FROM_BUSINESS_APP: &str = "business_app";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// What a stored event is: a message (either direction), a delivery status of an outbound
/// message, or something Meta sent that could not be stored as it is (recorded with the
/// reason, so it is never acknowledged and silently lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Message { direction: Direction },
    Status { status: String },
    Rejected { reason: String },
}

/// The longest message id kept as it is in a key; anything longer (or with bytes no Meta id
/// has) is not a WhatsApp message id.
pub const MAX_MESSAGE_ID: usize = 512;

/// Whether `id` can be a WhatsApp message id (`wamid.…`, base64-ish, bounded).
pub fn is_message_id(id: &str) -> bool {
    (1..=MAX_MESSAGE_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// One message or status event as an organization's inbox, and downstream consumers
/// (DynamoDB Streams), see it. Stored once per organization, keyed by the event's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    pub organization_id: OrganizationId,
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    pub kind: EventKind,
    /// Meta's message id (`wamid…`); for a status, the id of the message it is about.
    pub message_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The customer (the sender of an inbound message, the recipient otherwise) by BSUID and
    /// username, as far as Meta said.
    pub customer: Customer,
    pub contact_name: Option<String>,
    /// Meta's message type (`text`, `image`, …).
    pub message_type: Option<String>,
    pub text: Option<String>,
    /// A `failed` status's reason.
    pub error: Option<DeliveryError>,
    /// When it happened, as Meta says (or, for a message sent here, when it was sent).
    pub timestamp: Timestamp,
    pub received_at: Timestamp,
    /// The message or status object exactly as Meta sent it, for consumers that need more.
    pub payload: Option<String>,
    /// Imported from the coexistence number's chat history (Meta's `history` webhook).
    pub history: bool,
    /// Where an outbound message was written: [`FROM_BUSINESS_APP`] for what the business
    /// sent from the WhatsApp Business app (an echo); `None` for this service's sends.
    pub source: Option<String>,
    /// A system message's identity change: the customer's old and new number or BSUID.
    pub identity_change: Option<IdentityChange>,
    /// A received file (image, video, audio, document, sticker) and what became of it.
    pub media: Option<crate::media::MediaRef>,
}

impl MessageEvent {
    /// Meta's identity of the event, which its key is made of: the message id (with its
    /// direction), or a status's message id and status. Never the timestamp: a redelivery
    /// with another timestamp is the same event and is not stored again.
    pub fn identity(&self) -> String {
        match &self.kind {
            EventKind::Message { direction: Direction::Inbound } => format!("in#{}", self.message_id),
            EventKind::Message { direction: Direction::Outbound } => format!("out#{}", self.message_id),
            EventKind::Status { status } => format!("status#{}#{status}", self.message_id),
            // `message_id` of a rejected event is a digest of what Meta sent.
            EventKind::Rejected { .. } => format!("rejected#{}", self.message_id),
        }
    }

    /// The message as the API and the events show it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::to_value(self.as_view()).expect("a message view serializes")
    }

    /// [`MessageEvent::view`] borrowing from the event, for a response that serializes it
    /// straight into its body (a page of messages) instead of building each as a value first.
    pub fn as_view(&self) -> MessageView<'_> {
        let (kind, direction, status, reason) = match &self.kind {
            EventKind::Message { direction } => ("message", *direction, None, None),
            EventKind::Status { status } => ("status", Direction::Outbound, Some(status.as_str()), None),
            EventKind::Rejected { reason } => ("rejected", Direction::Inbound, None, Some(reason.as_str())),
        };
        MessageView {
            contact_name: self.contact_name.as_deref(),
            content: self.content(),
            direction,
            error: self.error.as_ref(),
            from: self.from.as_deref(),
            history: self.history,
            id: self.identity(),
            kind,
            media: self.media.as_ref().map(crate::media::MediaRef::view),
            message_id: &self.message_id,
            parent_user_id: self.customer.parent_user_id.as_deref(),
            phone_number_id: self.phone_number_id.as_str(),
            reason,
            source: self.source.as_deref(),
            status,
            system: self.identity_change.as_ref(),
            text: self.text.as_deref(),
            timestamp: self.timestamp.to_rfc3339(),
            to: self.to.as_deref(),
            message_type: self.message_type.as_deref(),
            user_id: self.customer.user_id.as_deref(),
            username: self.customer.username.as_deref(),
            waba_id: self.waba_id.as_str(),
        }
    }

    /// The message's own object, as Meta sent it or as it was sent (`{"body": …}` for a
    /// text, `{"id", "mime_type", "caption"}` for an image, the buttons of an interactive
    /// message, …), as it stands in the stored payload; `None` for a status.
    fn content(&self) -> Option<&serde_json::value::RawValue> {
        if !matches!(self.kind, EventKind::Message { .. }) {
            return None;
        }
        let payload: std::collections::HashMap<std::borrow::Cow<'_, str>, &serde_json::value::RawValue> =
            serde_json::from_str(self.payload.as_deref()?).ok()?;
        let kind: std::borrow::Cow<'_, str> = serde_json::from_str(payload.get("type")?.get()).ok()?;
        payload.get(kind.as_ref()).copied()
    }
}

/// A message as the API and the events show it ([`MessageEvent::as_view`]). Its fields are
/// in name order, as a JSON object of the same message is written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView<'a> {
    contact_name: Option<&'a str>,
    content: Option<&'a serde_json::value::RawValue>,
    direction: Direction,
    error: Option<&'a DeliveryError>,
    from: Option<&'a str>,
    history: bool,
    id: String,
    kind: &'static str,
    media: Option<serde_json::Value>,
    message_id: &'a str,
    parent_user_id: Option<&'a str>,
    phone_number_id: &'a str,
    reason: Option<&'a str>,
    source: Option<&'a str>,
    status: Option<&'a str>,
    system: Option<&'a IdentityChange>,
    text: Option<&'a str>,
    timestamp: String,
    to: Option<&'a str>,
    #[serde(rename = "type")]
    message_type: Option<&'a str>,
    user_id: Option<&'a str>,
    username: Option<&'a str>,
    waba_id: &'a str,
}

/// A contact of a coexistence number's WhatsApp Business app, as Meta syncs it
/// (`smb_app_state_sync`): added or edited, or removed (kept, so an older change arriving
/// late cannot bring it back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub organization_id: OrganizationId,
    pub phone_number_id: PhoneNumberId,
    /// The contact's phone number, as Meta gives it.
    pub phone: String,
    pub name: Option<String>,
    /// When the contact changed in the app, as Meta says.
    pub updated_at: Timestamp,
    pub removed: bool,
}

impl Contact {
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "phoneNumberId": self.phone_number_id,
            "phone": self.phone,
            "name": self.name,
            "updatedAt": self.updated_at.to_rfc3339(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_written_straight_into_a_body_is_its_view_byte_for_byte() {
        let payload = r#"{"from":"16315551234","id":"wamid.A1","type":"image","image":{"caption":"photo \"1\" ✓","id":"1003383421387256","mime_type":"image/jpeg"}}"#;
        let event = MessageEvent {
            organization_id: "org_1".parse().unwrap(),
            phone_number_id: "106540352242922".parse().unwrap(),
            waba_id: "102290129340398".parse().unwrap(),
            kind: EventKind::Message { direction: Direction::Inbound },
            message_id: "wamid.A1".into(),
            from: Some("16315551234".into()),
            to: None,
            customer: Customer { user_id: Some("US.1".into()), parent_user_id: None, username: Some("@kerry".into()) },
            contact_name: Some("Kerry".into()),
            message_type: Some("image".into()),
            text: None,
            error: None,
            timestamp: Timestamp(1_795_000_000),
            received_at: Timestamp(1_795_000_001),
            payload: Some(payload.into()),
            history: false,
            source: None,
            identity_change: Some(IdentityChange::default()),
            media: Some(crate::media::MediaRef {
                id: "1003383421387256".into(),
                mime_type: "image/jpeg".into(),
                sha256: "SfInY0gGKTsJ".into(),
                status: crate::media::MediaStatus::Pending,
            }),
        };
        let view = event.view();
        assert_eq!(view["content"]["caption"], "photo \"1\" ✓");
        assert_eq!(
            (view["kind"].as_str(), view["type"].as_str(), view["id"].as_str()),
            (Some("message"), Some("image"), Some("in#wamid.A1"))
        );
        // A value's object keeps its keys in name order: so must the view written directly.
        assert_eq!(serde_json::to_string(&event.as_view()).unwrap(), view.to_string());

        let status = MessageEvent {
            kind: EventKind::Status { status: "read".into() },
            payload: Some(r#"{"id":"wamid.A1","status":"read"}"#.into()),
            ..event
        };
        assert!(status.view()["content"].is_null(), "a status has no content");
        assert_eq!(serde_json::to_string(&status.as_view()).unwrap(), status.view().to_string());
    }
}
