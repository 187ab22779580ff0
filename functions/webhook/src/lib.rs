//! Meta's webhook — a Lambda Function URL (locally `/webhook`).
//!
//! `GET` answers Meta's verification with the challenge when the verify token matches.
//! `POST` checks `X-Hub-Signature-256` over the raw bytes, in constant time, before anything
//! is parsed; then every entry and change is routed — the entry's WABA → every organization
//! that references it → the phone by `metadata.phone_number_id` — and each message and
//! status is stored once per organization (Meta redelivers for up to 7 days). Lifecycle
//! changes update the PhoneNumber authority. An unknown WABA is acknowledged and logged:
//! refusing it would only make Meta retry.

pub mod payload;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use payload::{Change, Inbound, Notification, Status};
use serde_json::json;
use shared::domain::{
    Direction, EventKind, MessageEvent, Organization, OrganizationId, PhoneNumber, PhoneNumberId, WabaId, digits_of,
};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, crypto};
use std::collections::HashMap;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// `account_update` events after which the app can no longer act for the WABA.
const ENDING_EVENTS: &[&str] = &["PARTNER_REMOVED", "PARTNER_APP_UNINSTALLED", "ACCOUNT_DELETED"];
/// Owner look-ups of one delivery kept in flight at once.
const PARALLEL_LOOKUPS: usize = 32;

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    match request.route.action {
        Action::WebhookVerify => verify_subscription(app, &request),
        Action::WebhookEvent => {
            check_signature(app, &request)?;
            let notification = payload::parse(&request.body)
                .map_err(|_| ApiError::validation("The body is not a webhook notification."))?;
            let outcome = process(app, &notification).await?;
            Ok(Response::ok(&json!({ "success": true, "outcome": outcome })))
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

/// `sha256=<hex HMAC-SHA256(raw body, app secret)>`, compared in constant time.
pub fn check_signature(app: &App, request: &Request) -> Result<(), ApiError> {
    let header = request.headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if signature_matches(app.config.meta.app_secret.expose().as_bytes(), &request.body, header) {
        Ok(())
    } else {
        Err(ApiError::new(http::StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid X-Hub-Signature-256."))
    }
}

/// Whether `header` signs exactly these bytes. The body is never parsed or re-serialized
/// first: Meta signs the bytes it sent, escapes and all.
pub fn signature_matches(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("sha256=")).and_then(crypto::from_hex) else {
        return false;
    };
    crypto::constant_time_eq(&given, &crypto::hmac_sha256(secret, body))
}

/// What one delivery did; returned to Meta (which ignores it) and to whoever replays one.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub stored: usize,
    pub duplicates: usize,
    /// Changes for a WABA or phone no organization is connected to.
    pub unrouted: usize,
    pub lifecycle: usize,
    pub ignored: usize,
}

/// Routes and stores everything in a verified notification.
pub async fn process(app: &App, notification: &Notification) -> Result<Outcome, ApiError> {
    let now = app.now();
    let mut outcome = Outcome { ignored: notification.skipped, ..Outcome::default() };
    let mut router = Router { app, organizations: HashMap::new(), phones: HashMap::new() };
    let mut events = Vec::new();
    let mut statuses: Vec<(Vec<PhoneNumber>, &Status)> = Vec::new();

    for entry in &notification.entries {
        for change in &entry.changes {
            match change {
                Change::Messages { phone_number_id, messages, statuses: reported } => {
                    let targets = match (entry.id.parse::<WabaId>(), phone_number_id.parse::<PhoneNumberId>()) {
                        (Ok(waba), Ok(phone)) => router.connected_phones(&waba, &phone).await?,
                        _ => Vec::new(),
                    };
                    if targets.is_empty() {
                        tracing::info!(waba = %entry.id, phone = %phone_number_id, "webhook for no connected phone");
                        outcome.unrouted += 1;
                        continue;
                    }
                    for message in messages {
                        events.extend(targets.iter().map(|phone| inbound_event(phone, message, now)));
                    }
                    statuses.extend(reported.iter().map(|status| (targets.clone(), status)));
                }
                Change::Quality { display_phone_number, event, current_limit } => {
                    let Ok(waba) = entry.id.parse::<WabaId>() else {
                        outcome.unrouted += 1;
                        continue;
                    };
                    let phones = router.phones_by_display(&waba, display_phone_number).await?;
                    if phones.is_empty() {
                        outcome.unrouted += 1;
                    }
                    for phone in phones {
                        let rating = match event.as_str() {
                            "FLAGGED" => Some("RED"),
                            "UNFLAGGED" => Some("GREEN"),
                            _ => None,
                        };
                        app.records.update_quality(&phone, rating, event, current_limit.as_deref(), now).await?;
                        outcome.lifecycle += 1;
                    }
                }
                Change::Account { event, waba_id } => {
                    let waba = waba_id.as_deref().unwrap_or(&entry.id);
                    if !ENDING_EVENTS.contains(&event.as_str()) {
                        tracing::info!(%waba, %event, "account update noted");
                        outcome.ignored += 1;
                        continue;
                    }
                    match waba.parse::<WabaId>() {
                        Ok(waba) => outcome.lifecycle += router.end_connections(&waba).await?,
                        Err(_) => outcome.unrouted += 1,
                    }
                }
                Change::Other { field } => {
                    tracing::debug!(%field, "webhook field not handled");
                    outcome.ignored += 1;
                }
            }
        }
    }

    // A status of a message sent through this service belongs to its sender alone; a status
    // of one sent elsewhere goes to every organization connected to the phone.
    let records = &app.records;
    let ids: Vec<String> = statuses.iter().map(|(_, status)| status.id.clone()).collect();
    let owners: Vec<Option<OrganizationId>> = stream::iter(ids)
        .map(|id| async move { records.message_owner(&id).await })
        .buffered(PARALLEL_LOOKUPS)
        .try_collect()
        .await?;
    for ((targets, status), owner) in statuses.iter().zip(owners) {
        for phone in targets.iter().filter(|p| owner.as_ref().is_none_or(|o| o == &p.organization_id)) {
            events.push(status_event(phone, status, now));
        }
    }

    let stored = app.records.store_events(&events, app.config.message_retention.as_secs() as i64).await?;
    outcome.stored = stored;
    outcome.duplicates = events.len() - stored;
    tracing::info!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        unrouted = outcome.unrouted,
        lifecycle = outcome.lifecycle,
        "webhook processed"
    );
    Ok(outcome)
}

fn inbound_event(phone: &PhoneNumber, message: &Inbound, now: shared::clock::Timestamp) -> MessageEvent {
    MessageEvent {
        organization_id: phone.organization_id.clone(),
        phone_number_id: phone.phone_number_id.clone(),
        waba_id: phone.waba_id.clone(),
        kind: EventKind::Message { direction: Direction::Inbound },
        message_id: message.id.clone(),
        from: Some(message.from.clone()),
        to: Some(phone.display_digits()),
        contact_name: message.contact_name.clone(),
        message_type: Some(message.message_type.clone()),
        text: message.text.clone(),
        timestamp: shared::clock::Timestamp(message.timestamp),
        received_at: now,
        payload: Some(message.raw.clone()),
    }
}

fn status_event(phone: &PhoneNumber, status: &Status, now: shared::clock::Timestamp) -> MessageEvent {
    MessageEvent {
        organization_id: phone.organization_id.clone(),
        phone_number_id: phone.phone_number_id.clone(),
        waba_id: phone.waba_id.clone(),
        kind: EventKind::Status { status: status.status.clone() },
        message_id: status.id.clone(),
        from: Some(phone.display_digits()),
        to: status.recipient_id.clone(),
        contact_name: None,
        message_type: None,
        text: None,
        timestamp: shared::clock::Timestamp(status.timestamp),
        received_at: now,
        payload: Some(status.raw.clone()),
    }
}

/// Looks organizations and phones up once per delivery, however many changes name them.
struct Router<'a> {
    app: &'a App,
    organizations: HashMap<WabaId, Vec<Organization>>,
    phones: HashMap<OrganizationId, Vec<PhoneNumber>>,
}

impl Router<'_> {
    async fn organizations(&mut self, waba: &WabaId) -> Result<Vec<Organization>, ApiError> {
        if !self.organizations.contains_key(waba) {
            let linked = self.app.records.organizations_linked_to(waba).await?;
            self.organizations.insert(waba.clone(), linked);
        }
        Ok(self.organizations[waba].clone())
    }

    async fn phones(&mut self, organization: &OrganizationId) -> Result<&[PhoneNumber], ApiError> {
        if !self.phones.contains_key(organization) {
            let phones = self.app.records.phones(organization).await?;
            self.phones.insert(organization.clone(), phones);
        }
        Ok(&self.phones[organization])
    }

    /// The active PhoneNumber records of `phone` across every organization linked to `waba`.
    async fn connected_phones(&mut self, waba: &WabaId, phone: &PhoneNumberId) -> Result<Vec<PhoneNumber>, ApiError> {
        let mut found = Vec::new();
        for organization in self.organizations(waba).await? {
            let phones = self.phones(&organization.id).await?;
            found.extend(
                phones.iter().filter(|p| &p.phone_number_id == phone && &p.waba_id == waba && p.is_active()).cloned(),
            );
        }
        Ok(found)
    }

    /// Quality updates name the phone by its display number within the WABA.
    async fn phones_by_display(&mut self, waba: &WabaId, display: &str) -> Result<Vec<PhoneNumber>, ApiError> {
        let wanted = digits_of(display);
        let mut found = Vec::new();
        for organization in self.organizations(waba).await? {
            let phones = self.phones(&organization.id).await?;
            found.extend(phones.iter().filter(|p| &p.waba_id == waba && p.display_digits() == wanted).cloned());
        }
        Ok(found)
    }

    /// The partner was removed or the app uninstalled: every connection to the WABA ends.
    async fn end_connections(&mut self, waba: &WabaId) -> Result<usize, ApiError> {
        let mut ended = 0;
        for organization in self.organizations(waba).await? {
            let active: Vec<PhoneNumber> = self
                .phones(&organization.id)
                .await?
                .iter()
                .filter(|p| p.is_active() && &p.waba_id == waba)
                .cloned()
                .collect();
            let current = self.app.records.organization(&organization.id).await?;
            if let Some(current) = current.filter(|o| o.waba_id.as_ref() == Some(waba)) {
                self.app.records.disconnect(&current, &active, self.app.now()).await?;
                tracing::info!(organization = %current.id, %waba, "connection ended by Meta");
                ended += 1;
            }
            self.phones.remove(&organization.id);
        }
        self.organizations.remove(waba);
        Ok(ended)
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
