//! Meta's webhook — a Lambda Function URL (locally `/webhook`).
//!
//! `GET` answers Meta's verification with the challenge when the verify token matches.
//! `POST` checks `X-Hub-Signature-256` over the raw bytes, in constant time, before anything
//! is parsed; then one pass over the delivery: each change is routed — the WABA's routing
//! items, read once per (WABA, phone) with a strongly consistent query → every connected
//! organization's phone — and each message and status becomes one event per organization,
//! stored once by Meta's identity of it (Meta redelivers for up to 7 days, sometimes with
//! another timestamp). The writes of a delivery are grouped: one transaction locally,
//! concurrent conditional puts in DynamoDB. Lifecycle changes update the PhoneNumber
//! authority. What cannot be stored as it is (an object over the item limit, an id that is
//! no message id) is stored as rejected, with the reason; an unknown WABA is acknowledged and
//! logged. A delivery fails (5xx) only when retrying can help: the store was unavailable.
//! A large delivery handled in full leaves a receipt under its signature for Meta's 7 days of
//! redelivery, and a repeat of the same bytes is answered from it.

mod account;
mod coexistence;
pub mod payload;

use payload::{Change, Inbound, Notification, Status};
use serde_json::json;
use shared::clock::Timestamp;
use shared::domain::{
    Customer, DeliveryError, Direction, EventKind, IdentityChange, MessageEvent, PhoneNumberId, Route, WabaId,
    is_message_id,
};
use shared::media::{MediaRef, MediaStatus};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, crypto};
use std::collections::HashMap;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The largest message or status object stored with its payload: DynamoDB items end at
/// 400 KB, and the rest of the item needs room.
pub const MAX_STORED_OBJECT: usize = 300 * 1024;
/// A delivery this large (a hundred messages or statuses, or more) is remembered once handled
/// in full, every change routed, and a repeat of it is answered from that receipt: one read
/// and one write, small beside the delivery's own work, against a parse and a lookup for
/// each of its events.
pub const REMEMBERED_DELIVERY_BYTES: usize = 32 * 1024;

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    match request.route.action {
        Action::WebhookVerify => verify_subscription(app, &request),
        Action::WebhookEvent => {
            let signature = check_signature(app, &request)?;
            let remembered = request.body.len() >= REMEMBERED_DELIVERY_BYTES;
            if remembered && let Some(events) = app.records.delivery_receipt(&signature, app.now()).await? {
                tracing::info!(duplicates = events, "webhook delivery handled before, answered from its receipt");
                return Ok(answer(&Outcome { duplicates: events, ..Outcome::default() }));
            }
            let notification = payload::parse(&request.body)
                .map_err(|_| ApiError::validation("The body is not a webhook notification."))?;
            let outcome = process(app, &notification).await?;
            // A delivery with a change for no connection is handled again: a repeat may
            // find the connection made since.
            if remembered && outcome.unrouted == 0 {
                let events = outcome.stored + outcome.duplicates;
                // Everything is stored: without its receipt, a repeat is only slower.
                if let Err(error) = app.records.record_delivery(&signature, events, app.now()).await {
                    tracing::warn!(error = %error.message, "the receipt of a webhook delivery was not written");
                }
            }
            Ok(answer(&outcome))
        }
        other => Err(ApiError::internal(format!("webhook does not serve {other:?}"))),
    }
}

fn verify_subscription(app: &App, request: &Request) -> Result<Response, ApiError> {
    let expected = app.config.webhook_verify_token.as_ref();
    let given = request.query_value("hub.verify_token").unwrap_or_default();
    let matches = expected.is_some_and(|e| crypto::constant_time_eq(e.expose().as_bytes(), given.as_bytes()));
    if request.query_value("hub.mode") != Some("subscribe") || !matches {
        return Err(ApiError::forbidden("The verify token does not match."));
    }
    let challenge = request.query_value("hub.challenge").unwrap_or_default();
    if challenge.len() > 1024 {
        return Err(ApiError::validation("`hub.challenge` is too long."));
    }
    let mut response = Response::ok(&());
    response.body = bytes::Bytes::copy_from_slice(challenge.as_bytes());
    response.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn answer(outcome: &Outcome) -> Response {
    Response::ok(&json!({ "success": true, "outcome": outcome }))
}

/// `sha256=<hex HMAC-SHA256(raw body, app secret)>`, compared in constant time; the
/// signature, once it is seen to sign these bytes.
pub fn check_signature(app: &App, request: &Request) -> Result<[u8; 32], ApiError> {
    let header = request.headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let signature = crypto::hmac_sha256(app.config.meta.app_secret()?.expose().as_bytes(), &request.body);
    if signs(&signature, header) {
        Ok(signature)
    } else {
        Err(ApiError::new(http::StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid X-Hub-Signature-256."))
    }
}

/// Whether `header` signs exactly these bytes. The body is never parsed or re-serialized
/// first: Meta signs the bytes it sent, escapes and all.
pub fn signature_matches(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    signs(&crypto::hmac_sha256(secret, body), header)
}

fn signs(signature: &[u8; 32], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("sha256=")).and_then(crypto::from_hex) else {
        return false;
    };
    crypto::constant_time_eq(&given, signature)
}

/// What one delivery did; returned to Meta (which ignores it) and to whoever replays one.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub stored: usize,
    pub duplicates: usize,
    /// Messages and statuses stored as rejected, with the reason, instead of as they are.
    pub rejected: usize,
    /// Changes for a WABA or phone no organization is connected to.
    pub unrouted: usize,
    pub lifecycle: usize,
    /// Contacts of a coexistence number's app stored (newer than what was kept).
    pub contacts: usize,
    pub ignored: usize,
}

/// Routes and stores everything in a verified notification, in one pass.
pub async fn process(app: &App, notification: &Notification<'_>) -> Result<Outcome, ApiError> {
    let now = app.now();
    let mut outcome = Outcome { ignored: notification.skipped, ..Outcome::default() };
    let mut router = Router { app, routes: HashMap::new() };
    let mut events = Vec::new();
    let mut statuses: Vec<(usize, &Status)> = Vec::new();
    let mut targets: Vec<Vec<Route>> = Vec::new();
    // A sync's progress is recorded once its messages are stored: `complete` means they are
    // in the inbox.
    let mut syncs = Vec::new();

    for entry in &notification.entries {
        for change in &entry.changes {
            match change {
                Change::Messages { phone_number_id, messages, statuses: reported, errors } => {
                    let routes = router.change(&entry.id, phone_number_id).await?;
                    if routes.is_empty() {
                        outcome.unrouted += 1;
                        continue;
                    }
                    for message in messages {
                        events.extend(routes.iter().map(|route| inbound_event(route, message, now)));
                    }
                    if !errors.is_empty() {
                        outcome.lifecycle += account::record_errors(app, entry, &routes, errors, now).await?;
                    }
                    if !reported.is_empty() {
                        targets.push(routes);
                        statuses.extend(reported.iter().map(|status| (targets.len() - 1, status)));
                    }
                }
                Change::History { phone_number_id, chunks, messages } => {
                    let routes = router.change(&entry.id, phone_number_id).await?;
                    if routes.is_empty() {
                        outcome.unrouted += 1;
                        continue;
                    }
                    for route in &routes {
                        for chunk in chunks {
                            for thread in &chunk.threads {
                                for message in &thread.messages {
                                    events.push(coexistence::history_event(route, thread.id.as_deref(), message, now));
                                }
                            }
                        }
                        // The media of messages first sent as placeholders.
                        events.extend(messages.iter().map(|m| coexistence::history_event(route, None, m, now)));
                    }
                    syncs.push((entry, routes, chunks));
                }
                Change::Echoes { phone_number_id, echoes } => {
                    let routes = router.change(&entry.id, phone_number_id).await?;
                    if routes.is_empty() {
                        outcome.unrouted += 1;
                        continue;
                    }
                    for echo in echoes {
                        events.extend(routes.iter().map(|route| coexistence::echo_event(route, echo, now)));
                    }
                }
                Change::ContactSync { phone_number_id, contacts } => {
                    let routes = router.change(&entry.id, phone_number_id).await?;
                    if routes.is_empty() {
                        outcome.unrouted += 1;
                        continue;
                    }
                    outcome.contacts += coexistence::store_contacts(app, entry, &routes, contacts, now).await?;
                }
                Change::Account(change) => {
                    let applied = account::apply(&mut router, entry, change, now).await?;
                    match applied {
                        0 => outcome.unrouted += 1,
                        n => outcome.lifecycle += n,
                    }
                }
                Change::Other { field } => {
                    tracing::debug!(field = %shared::telemetry::Field(field), "webhook field not handled");
                    outcome.ignored += 1;
                }
            }
        }
    }

    // A status of a message sent through this service belongs to its sender alone; a status
    // of one sent elsewhere goes to every organization connected to the phone. The senders
    // of a delivery's statuses are read in one batch.
    let ids: Vec<&str> =
        statuses.iter().map(|(_, s)| s.id.as_deref().filter(|id| is_message_id(id)).unwrap_or("")).collect();
    let owners = app.records.message_owners(&ids).await?;
    for ((routes, status), owner) in statuses.iter().map(|(i, s)| (&targets[*i], *s)).zip(owners) {
        for route in routes.iter().filter(|r| owner.as_ref().is_none_or(|o| o == &r.organization_id)) {
            events.push(status_event(route, status, now));
        }
    }

    outcome.rejected = events.iter().filter(|e| matches!(e.kind, EventKind::Rejected { .. })).count();
    let total = events.len();
    let stored = app.records.store_events(events, app.config.message_retention.as_secs() as i64).await?;
    outcome.stored = stored;
    outcome.duplicates = total - stored;
    for (entry, routes, chunks) in syncs {
        outcome.lifecycle += coexistence::history_progress(app, entry, &routes, chunks, now).await?;
    }
    tracing::info!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        rejected = outcome.rejected,
        unrouted = outcome.unrouted,
        lifecycle = outcome.lifecycle,
        contacts = outcome.contacts,
        "webhook processed"
    );
    Ok(outcome)
}

/// Why an object cannot be stored as it is, if it cannot.
fn unstorable(id: Option<&str>, raw: &str) -> Option<String> {
    match id {
        None => Some("it has no id".into()),
        Some(id) if !is_message_id(id) => Some(format!("its id ({} bytes) is not a WhatsApp message id", id.len())),
        Some(_) if raw.len() > MAX_STORED_OBJECT => {
            Some(format!("it is {} bytes, over the {MAX_STORED_OBJECT} bytes that can be stored", raw.len()))
        }
        Some(_) => None,
    }
}

/// A rejected event keeps what identifies it: its id when it has a usable one, else a
/// digest of its bytes (so a redelivery is recognised), and never its payload.
fn rejected(route: &Route, what: &str, id: Option<&str>, raw: &str, reason: String, now: Timestamp) -> MessageEvent {
    let identity = match id.filter(|id| is_message_id(id)) {
        Some(id) => id.to_owned(),
        None => format!("sha256:{}", crypto::hex(&crypto::sha256(raw.as_bytes()))),
    };
    tracing::warn!(organization = %route.organization_id, %reason, "a {what} from Meta was stored as rejected");
    MessageEvent {
        organization_id: route.organization_id.clone(),
        phone_number_id: route.phone_number_id.clone(),
        waba_id: route.waba_id.clone(),
        kind: EventKind::Rejected { reason: format!("The {what} could not be stored as it is: {reason}.") },
        message_id: identity,
        from: None,
        to: None,
        customer: Customer::default(),
        contact_name: None,
        message_type: None,
        text: None,
        error: None,
        timestamp: now,
        received_at: now,
        payload: None,
        history: false,
        source: None,
        identity_change: None,
        media: None,
    }
}

fn inbound_event(route: &Route, message: &Inbound, now: Timestamp) -> MessageEvent {
    message_event(route, message, Direction::Inbound, Some(route.display_digits.clone()), now)
}

/// A message of either direction as the organization's inbox keeps it; `to` is the
/// recipient as the caller knows it.
fn message_event(
    route: &Route,
    message: &Inbound,
    direction: Direction,
    to: Option<String>,
    now: Timestamp,
) -> MessageEvent {
    if let Some(reason) = unstorable(message.id.as_deref(), message.raw) {
        return rejected(route, "message", message.id.as_deref(), message.raw, reason, now);
    }
    MessageEvent {
        organization_id: route.organization_id.clone(),
        phone_number_id: route.phone_number_id.clone(),
        waba_id: route.waba_id.clone(),
        kind: EventKind::Message { direction },
        message_id: message.id.as_deref().unwrap_or_default().to_owned(),
        from: message.from.as_deref().map(str::to_owned),
        to,
        customer: Customer {
            user_id: message.from_user_id.as_deref().map(str::to_owned),
            parent_user_id: message.from_parent_user_id.as_deref().map(str::to_owned),
            username: message.username.as_deref().map(str::to_owned),
        },
        contact_name: message.contact_name.as_deref().map(str::to_owned),
        message_type: Some(message.message_type.as_deref().unwrap_or("unknown").to_owned()),
        text: message.text.as_deref().map(str::to_owned),
        error: None,
        timestamp: message.timestamp.map_or(now, Timestamp),
        received_at: now,
        payload: Some(message.raw.to_owned()),
        history: false,
        source: None,
        identity_change: identity_change(message),
        // A file to fetch once the webhook is acknowledged (the table's stream hands it on).
        media: message.media.as_ref().filter(|m| shared::media::is_media_id(&m.id)).map(|m| MediaRef {
            id: m.id.to_string(),
            mime_type: m.mime_type.to_string(),
            sha256: m.sha256.to_string(),
            status: MediaStatus::Pending,
        }),
    }
}

/// What a system message says changed about the customer, old and new: the old number or
/// BSUID is the one the message comes from (or, for `user_id_update`, Meta's `previous`).
fn identity_change(message: &Inbound) -> Option<IdentityChange> {
    let system = message.system.as_ref()?;
    let owned = |value: &Option<std::borrow::Cow<'_, str>>| value.as_deref().map(str::to_owned);
    let kind = owned(&system.kind).unwrap_or_else(|| "system".into());
    let number_changed = kind == "user_changed_number";
    Some(IdentityChange {
        previous_wa_id: if number_changed { owned(&message.from) } else { None },
        wa_id: owned(&system.wa_id),
        previous_user_id: owned(&system.previous_user_id)
            .or_else(|| (!number_changed).then(|| owned(&message.from_user_id)).flatten())
            .filter(|previous| Some(previous) != system.user_id.as_deref().map(str::to_owned).as_ref()),
        user_id: owned(&system.user_id),
        kind,
    })
}

fn status_event(route: &Route, status: &Status, now: Timestamp) -> MessageEvent {
    let reason = unstorable(status.id.as_deref(), status.raw)
        .or_else(|| status.status.is_none().then(|| "it has no status".to_owned()));
    let (Some(reported), None) = (status.status.as_deref(), &reason) else {
        let reason = reason.unwrap_or_default();
        return rejected(route, "status", status.id.as_deref(), status.raw, reason, now);
    };
    MessageEvent {
        organization_id: route.organization_id.clone(),
        phone_number_id: route.phone_number_id.clone(),
        waba_id: route.waba_id.clone(),
        kind: EventKind::Status { status: reported.to_owned() },
        message_id: status.id.as_deref().unwrap_or_default().to_owned(),
        from: Some(route.display_digits.clone()),
        to: status.recipient_id.as_deref().map(str::to_owned),
        customer: Customer {
            user_id: status.recipient_user_id.as_deref().map(str::to_owned),
            parent_user_id: status.recipient_parent_user_id.as_deref().map(str::to_owned),
            username: None,
        },
        contact_name: None,
        message_type: None,
        text: None,
        error: status.error.as_ref().map(|e| DeliveryError {
            code: e.code.unwrap_or_default(),
            title: e.title.as_deref().map(str::to_owned),
            message: e.message.as_deref().map(str::to_owned),
            details: e.details.as_deref().map(str::to_owned),
        }),
        timestamp: status.timestamp.map_or(now, Timestamp),
        received_at: now,
        payload: Some(status.raw.to_owned()),
        history: false,
        source: None,
        identity_change: None,
        media: None,
    }
}

/// Reads a WABA's routing once per delivery (one strongly consistent query), however many
/// changes and phones of it the delivery names.
struct Router<'a> {
    app: &'a App,
    routes: HashMap<WabaId, Vec<Route>>,
}

impl Router<'_> {
    /// Every organization connected to the phone a change names, in the entry's WABA.
    async fn change(&mut self, waba: &str, phone: &str) -> Result<Vec<Route>, ApiError> {
        let routes = match (waba.parse::<WabaId>(), phone.parse::<PhoneNumberId>()) {
            (Ok(waba), Ok(phone)) => self.phone(&waba, &phone).await?,
            _ => Vec::new(),
        };
        if routes.is_empty() {
            tracing::info!(waba = %shared::telemetry::Field(waba), phone = %shared::telemetry::Field(phone), "webhook for no connected phone");
        }
        Ok(routes)
    }

    /// Every organization connected to this phone of the WABA.
    async fn phone(&mut self, waba: &WabaId, phone: &PhoneNumberId) -> Result<Vec<Route>, ApiError> {
        Ok(self.waba(waba).await?.into_iter().filter(|r| &r.phone_number_id == phone).collect())
    }

    /// Every connected (organization, phone) of the WABA.
    async fn waba(&mut self, waba: &WabaId) -> Result<Vec<Route>, ApiError> {
        if let Some(routes) = self.routes.get(waba) {
            return Ok(routes.clone());
        }
        let routes = self.app.records.routes(waba, None).await?;
        self.routes.insert(waba.clone(), routes.clone());
        Ok(routes)
    }

    /// Routing changed (a connection ended): read it again when next asked.
    fn forget(&mut self, waba: &WabaId) {
        self.routes.remove(waba);
    }
}

#[cfg(test)]
mod tests {
    use super::signature_matches;

    const SECRET: &[u8] = b"sandbox-app-secret";
    // The same text, escaped as Meta writes it and as literal UTF-8: different bytes, so
    // different signatures. Expected values computed independently (Python's hmac module).
    const ESCAPED: &[u8] =
        br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"text":"caf\u00e9 \ud83d\ude00"}}]}]}"#;
    const ESCAPED_SIGNATURE: &str = "sha256=eccc927823d2a3373de50a16bf71242d30c0b41f9f5d99d8521039d65670fc8a";
    const LITERAL: &str = r#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"text":"café 😀"}}]}]}"#;
    const LITERAL_SIGNATURE: &str = "sha256=4ddad880482402bdc4b75fc7ffc6776003e865f4097a70e341d7cad8ec8f1c75";

    #[test]
    fn known_vectors_verify_over_the_raw_bytes() {
        assert!(signature_matches(SECRET, ESCAPED, Some(ESCAPED_SIGNATURE)));
        assert!(signature_matches(SECRET, LITERAL.as_bytes(), Some(LITERAL_SIGNATURE)));
        // Re-serializing the same JSON changes its bytes (escapes, key order), and with them
        // the signature: verification must happen before any parsing.
        let value: serde_json::Value = serde_json::from_slice(ESCAPED).unwrap();
        assert_eq!(value, serde_json::from_str::<serde_json::Value>(LITERAL).unwrap());
        let reserialized = serde_json::to_vec(&value).unwrap();
        assert_ne!(reserialized, ESCAPED);
        assert!(!signature_matches(SECRET, &reserialized, Some(ESCAPED_SIGNATURE)));
        assert!(!signature_matches(SECRET, LITERAL.as_bytes(), Some(ESCAPED_SIGNATURE)));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        for position in 0..ESCAPED.len() {
            let mut body = ESCAPED.to_vec();
            body[position] ^= 0x01;
            assert!(!signature_matches(SECRET, &body, Some(ESCAPED_SIGNATURE)), "byte {position}");
        }
        let mut signature = ESCAPED_SIGNATURE.to_owned();
        signature.replace_range(10..11, "d");
        assert!(!signature_matches(SECRET, ESCAPED, Some(&signature)));
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let hex = &ESCAPED_SIGNATURE["sha256=".len()..];
        for header in [None, Some(""), Some(hex), Some("sha1=abc"), Some(&*format!("sha1={hex}")), Some("sha256=zz")] {
            assert!(!signature_matches(SECRET, ESCAPED, header), "{header:?}");
        }
        assert!(!signature_matches(b"another secret", ESCAPED, Some(ESCAPED_SIGNATURE)));
        assert!(!signature_matches(SECRET, ESCAPED, Some(&ESCAPED_SIGNATURE[..40])));
    }
}
