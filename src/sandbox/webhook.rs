//! Webhooks, posted to the service the way Meta posts them: the JSON is written
//! to bytes once, those exact bytes are signed with the app secret
//! (`X-Hub-Signature-256`) and sent as they are. A receiver that re-serializes
//! before checking the signature fails here as it would on Meta.
//!
//! Meta retries a failed delivery for days; the sandbox does not. A failure is
//! logged and the body kept, so a test can replay it as a redelivery.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lc_rs::hmac;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::Sandbox;
use super::graph::wa_id;
use super::seed::{self, Phone, Waba};
use super::state::{self, Outbound, hex, unix_now};

/// How long a delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before each automatic status after a send: the first lands after
/// the send has been answered, the next after the one before.
const STATUS_GAP: Duration = Duration::from_millis(50);
/// Meta's webhook requests identify themselves with this user agent.
const USER_AGENT: &str = "facebookexternalua";

/// The statuses an outgoing message goes through.
const STATUSES: [&str; 3] = ["sent", "delivered", "read"];
/// The events of `phone_number_quality_update`.
const QUALITY_EVENTS: [&str; 4] = ["FLAGGED", "UNFLAGGED", "UPGRADE", "DOWNGRADE"];
/// Meta's messaging limit tiers, as `current_limit` reports them.
/// The events of the 2026 `phone_number_quality_update` (a throughput change).
const THROUGHPUT_EVENTS: [&str; 2] = ["ONBOARDING", "THROUGHPUT_UPGRADE"];
const MESSAGING_LIMITS: [&str; 6] = ["TIER_50", "TIER_250", "TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];

/// Why a webhook was not sent, or sent without an answer.
#[derive(Debug)]
pub(super) enum WebhookError {
    /// The caller named something that does not exist, or a malformed value.
    Invalid(String),
    /// There is no webhook URL, or the service could not be reached in time.
    Undelivered(String),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(message) | Self::Undelivered(message) => f.write_str(message),
        }
    }
}

/// Where webhooks go and what became of them.
pub(super) struct Webhooks {
    target: Option<Target>,
    key: hmac::Key,
    log: Mutex<Log>,
}

struct Target {
    url: String,
    client: reqwest::Client,
}

#[derive(Default)]
struct Log {
    /// Deliveries answered with a 2xx status.
    delivered: usize,
    /// Deliveries answered otherwise, or not at all.
    refused: usize,
    /// Every body posted, whatever the answer.
    bodies: Vec<Bytes>,
}

impl Webhooks {
    /// Webhooks to `url`, signed with `app_secret`; without a URL nothing is sent
    /// (and no HTTP client is built).
    pub fn new(url: Option<&str>, app_secret: &str) -> Self {
        let target = url.map(|url| Target {
            url: url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .user_agent(USER_AGENT)
                .build()
                .expect("the HTTP client builds"),
        });
        Self { target, key: hmac::Key::new(hmac::HMAC_SHA256, app_secret.as_bytes()), log: Mutex::default() }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    pub fn delivered(&self) -> usize {
        self.log().delivered
    }

    pub fn refused(&self) -> usize {
        self.log().refused
    }

    pub fn bodies(&self) -> Vec<Bytes> {
        self.log().bodies.clone()
    }

    /// Posts `payload` and returns the status the service answered. `kind` names
    /// the webhook in the log, which never shows the body or the signature.
    pub(super) async fn post(&self, kind: &'static str, payload: &Value) -> Result<u16, WebhookError> {
        let Some(target) = &self.target else {
            return Err(WebhookError::Undelivered("The sandbox has no webhook URL to send to.".into()));
        };
        let body = Bytes::from(payload.to_string());
        let signature = format!("sha256={}", hex(hmac::sign(&self.key, &body).as_ref()));
        self.log().bodies.push(body.clone());
        let sent = target
            .client
            .post(&target.url)
            .header(CONTENT_TYPE, "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                if status.is_success() {
                    self.log().delivered += 1;
                    tracing::info!(kind, status = status.as_u16(), "meta sandbox: webhook delivered");
                } else {
                    self.log().refused += 1;
                    tracing::warn!(kind, status = status.as_u16(), "meta sandbox: webhook refused");
                }
                Ok(status.as_u16())
            }
            Err(error) => {
                self.log().refused += 1;
                let reason = causes(&error);
                tracing::warn!(kind, error = %reason, "meta sandbox: webhook not delivered");
                Err(WebhookError::Undelivered(format!("The webhook could not be delivered: {reason}")))
            }
        }
    }

    /// The log lock; like the state's, a poisoned one is taken over.
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An error with its causes, e.g. "error sending request …: client error
/// (Connect): tcp connect error: Connection refused".
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Sandbox {
    /// A customer writes to `phone_number_id`: posts the `messages` webhook Meta
    /// sends for an inbound text, and returns the new message's id with the
    /// status the service answered.
    pub async fn send_inbound(
        &self,
        phone_number_id: &str,
        from: &str,
        name: &str,
        text: &str,
    ) -> Result<(String, u16), String> {
        self.inbound_webhook(phone_number_id, from, name, text, None, false).await.map_err(|error| error.to_string())
    }

    /// Posts a status (`sent`, `delivered` or `read`) of a message the Graph API
    /// sent, for the phone and WABA it was sent from.
    pub async fn send_status(&self, message_id: &str, status: &str) -> Result<u16, String> {
        self.status_webhook(message_id, status).await.map_err(|error| error.to_string())
    }

    /// Posts a `phone_number_quality_update` for a phone, e.g. `FLAGGED` with
    /// `TIER_1K`.
    pub async fn send_quality(&self, phone_number_id: &str, event: &str, current_limit: &str) -> Result<u16, String> {
        self.quality_webhook(phone_number_id, event, current_limit).await.map_err(|error| error.to_string())
    }

    /// Posts an `account_update` for a WABA, e.g. `PARTNER_REMOVED`.
    pub async fn send_account_update(&self, waba_id: &str, event: &str) -> Result<u16, String> {
        self.account_update_webhook(waba_id, event).await.map_err(|error| error.to_string())
    }

    /// A customer writes in. Every message names the customer's BSUID; one who adopted a
    /// username (`username`) may have their number withheld (`withhold`), and then the
    /// message has no `from` at all.
    pub(super) async fn inbound_webhook(
        &self,
        phone_number_id: &str,
        from: &str,
        name: &str,
        text: &str,
        username: Option<&str>,
        withhold: bool,
    ) -> Result<(String, u16), WebhookError> {
        if text.trim().is_empty() {
            return Err(WebhookError::Invalid("`text` must not be empty.".into()));
        }
        let customer = Writer { from, name, username, withhold };
        self.inbound_message(phone_number_id, &customer, "text", json!({ "body": text })).await
    }

    /// A customer sends a photo, a video, a voice note, a document or a sticker: Meta keeps
    /// the file (`GET /{media-id}` serves it) and the webhook names it with its digest.
    pub(super) async fn inbound_media_webhook(
        &self,
        phone_number_id: &str,
        from: &str,
        kind: &str,
        file: (&str, Bytes),
        (caption, filename): (Option<&str>, Option<&str>),
        fault: Option<&str>,
    ) -> Result<(String, String, u16), WebhookError> {
        let phone = known_phone(phone_number_id)?;
        let (mime, bytes) = file;
        let media_id = self.keep_media(phone, mime, bytes);
        let sha256 = {
            let mut state = self.lock();
            let sha256 = state.media[&media_id].sha256.clone();
            match fault {
                Some("gone") => {
                    state.media.remove(&media_id);
                }
                Some(_) => {
                    let file = state.media.get_mut(&media_id).expect("just kept");
                    let mut bytes = file.bytes.to_vec();
                    bytes[0] ^= 0xff;
                    file.bytes = Bytes::from(bytes);
                }
                None => {}
            }
            sha256
        };
        let mut object = json!({ "mime_type": mime, "sha256": sha256, "id": media_id });
        if let Some(caption) = caption {
            object["caption"] = caption.into();
        }
        if let Some(filename) = filename {
            object["filename"] = filename.into();
        }
        if kind == "audio" {
            object["voice"] = mime.starts_with("audio/ogg").into();
        }
        if kind == "sticker" {
            object["animated"] = false.into();
        }
        let customer = Writer { from, name: "Sandbox Customer", username: None, withhold: false };
        let (message_id, status) = self.inbound_message(phone_number_id, &customer, kind, object).await?;
        Ok((message_id, media_id, status))
    }

    async fn inbound_message(
        &self,
        phone_number_id: &str,
        writer: &Writer<'_>,
        kind: &str,
        content: Value,
    ) -> Result<(String, u16), WebhookError> {
        let Writer { from, name, username, withhold } = *writer;
        let phone = known_phone(phone_number_id)?;
        let from = wa_id(from).ok_or_else(|| {
            WebhookError::Invalid("`from` must be a phone number: 7 to 15 digits, optionally after a '+'.".into())
        })?;
        if name.trim().is_empty() {
            return Err(WebhookError::Invalid("`name` must not be empty.".into()));
        }
        if let Some(username) = username
            && !(username.starts_with('@') && (2..=36).contains(&username.len()))
        {
            return Err(WebhookError::Invalid("`username` must be a WhatsApp username such as @kerry.".into()));
        }
        if withhold && username.is_none() {
            return Err(WebhookError::Invalid("Only a customer with a username has their number withheld.".into()));
        }
        let business_id = seed::waba(phone.waba_id).expect("a seeded phone's WABA").business_id;
        let user_id = self.lock().bsuid(business_id, &from, withhold);
        let message_id = state::new_message_id();
        let customer = CustomerIds { wa_id: (!withhold).then_some(from.as_str()), user_id: &user_id, username };
        let at = unix_now();
        let payload = inbound_payload(phone, &customer, name, (kind, content), &message_id, at);
        self.lock().received.push(state::Received {
            phone_number_id: phone.id,
            message_id: message_id.clone(),
            wa_id: from.clone(),
            at,
            read: false,
            typing: false,
        });
        let status = self.webhooks.post("inbound message", &payload).await?;
        Ok((message_id, status))
    }

    /// `user_id_update`: the customer's BSUID within the phone's business changed.
    pub(super) async fn user_id_update_webhook(
        &self,
        phone_number_id: &str,
        from: &str,
    ) -> Result<(u16, String), WebhookError> {
        let phone = known_phone(phone_number_id)?;
        let wa_id = wa_id(from).ok_or_else(|| {
            WebhookError::Invalid("`from` must be a phone number: 7 to 15 digits, optionally after a '+'.".into())
        })?;
        let business_id = seed::waba(phone.waba_id).expect("a seeded phone's WABA").business_id;
        let (previous, current) = self.lock().change_bsuid(business_id, &wa_id);
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone),
            "contacts": [{ "profile": { "name": "Sandbox Customer" }, "wa_id": wa_id }],
            "user_id_update": [{
                "wa_id": wa_id,
                "detail": "User id for Sandbox Customer has been updated.",
                "user_id": { "previous": previous, "current": current },
                "timestamp": unix_now().to_string(),
            }],
        });
        let status = self.change_webhook(phone.waba_id, "user_id_update", value).await?;
        Ok((status, current))
    }

    /// `message_template_status_update` for a template of the WABA.
    pub(super) async fn template_status_webhook(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        event: &str,
        reason: Option<&str>,
    ) -> Result<u16, WebhookError> {
        let value = json!({
            "event": event,
            "message_template_id": 1_234_567_890_u64,
            "message_template_name": name,
            "message_template_language": language,
            "reason": reason.unwrap_or("NONE"),
        });
        self.change_webhook(waba_id, "message_template_status_update", value).await
    }

    /// `errors` of a messages change, reported for a phone (a system, app or account problem).
    pub(super) async fn value_error_webhook(&self, phone_number_id: &str, code: i64) -> Result<u16, WebhookError> {
        let phone = known_phone(phone_number_id)?;
        let (title, details) = error_words(code)
            .ok_or_else(|| WebhookError::Invalid(format!("`code` must be one of {}.", known_codes())))?;
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone),
            "errors": [error_object(code, title, details)],
        });
        self.change_webhook(phone.waba_id, "messages", value).await
    }

    pub(super) async fn status_webhook(&self, message_id: &str, status: &str) -> Result<u16, WebhookError> {
        if !STATUSES.contains(&status) {
            return Err(WebhookError::Invalid(format!("`status` must be one of {}.", STATUSES.join(", "))));
        }
        let outbound =
            self.lock().outbound(message_id).cloned().ok_or_else(|| {
                WebhookError::Invalid(format!("No message {message_id} was sent through the sandbox."))
            })?;
        let payload = status_payload(&outbound, status, None, unix_now());
        self.webhooks.post("status", &payload).await
    }

    /// A `failed` status, with Meta's error for it.
    pub(super) async fn failed_webhook(&self, message_id: &str, code: i64) -> Result<u16, WebhookError> {
        let (title, details) = error_words(code)
            .ok_or_else(|| WebhookError::Invalid(format!("`errorCode` must be one of {}.", known_codes())))?;
        let outbound =
            self.lock().outbound(message_id).cloned().ok_or_else(|| {
                WebhookError::Invalid(format!("No message {message_id} was sent through the sandbox."))
            })?;
        let payload = status_payload(&outbound, "failed", Some(error_object(code, title, details)), unix_now());
        self.webhooks.post("status", &payload).await
    }

    /// `phone_number_quality_update` in the 2026 shape: the business's daily limit in
    /// `max_daily_conversations_per_business`, the event `ONBOARDING` or `THROUGHPUT_UPGRADE`.
    pub(super) async fn throughput_webhook(
        &self,
        phone_number_id: &str,
        event: &str,
        max_daily: &str,
    ) -> Result<u16, WebhookError> {
        let phone = known_phone(phone_number_id)?;
        if !THROUGHPUT_EVENTS.contains(&event) {
            return Err(WebhookError::Invalid(format!("`event` must be one of {}.", THROUGHPUT_EVENTS.join(", "))));
        }
        limit_tier(max_daily, "maxDailyConversationsPerBusiness")?;
        let value = json!({
            "display_phone_number": display_digits(phone),
            "event": event,
            "max_daily_conversations_per_business": max_daily,
        });
        self.change_webhook(phone.waba_id, "phone_number_quality_update", value).await
    }

    /// `business_capability_update`: the business portfolio's daily limit.
    pub(super) async fn capability_webhook(&self, waba_id: &str, max_daily: &str) -> Result<u16, WebhookError> {
        let waba = known_waba(waba_id)?;
        limit_tier(max_daily, "maxDailyConversationsPerBusiness")?;
        let value = json!({ "max_daily_conversations_per_business": max_daily, "max_phone_numbers_per_business": 25 });
        self.change_webhook(waba.id, "business_capability_update", value).await
    }

    /// `account_update` `DISABLED_UPDATE` with its `ban_info`.
    pub(super) async fn ban_webhook(
        &self,
        waba_id: &str,
        ban_state: &str,
        date: Option<&str>,
    ) -> Result<u16, WebhookError> {
        let waba = known_waba(waba_id)?;
        let mut ban_info = json!({ "waba_ban_state": ban_state });
        if let Some(date) = date {
            ban_info["waba_ban_date"] = json!(date);
        }
        let value = json!({ "event": "DISABLED_UPDATE", "ban_info": ban_info });
        self.change_webhook(waba.id, "account_update", value).await
    }

    /// `account_update` `ACCOUNT_RESTRICTION` with its `restriction_info`.
    pub(super) async fn restriction_webhook(
        &self,
        waba_id: &str,
        restriction_type: &str,
        expiration: &str,
    ) -> Result<u16, WebhookError> {
        let waba = known_waba(waba_id)?;
        let value = json!({
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [{ "restriction_type": restriction_type, "expiration": expiration }],
        });
        self.change_webhook(waba.id, "account_update", value).await
    }

    /// One change of `field` for the WABA, signed and delivered now.
    pub(super) async fn change_webhook(
        &self,
        waba_id: &str,
        field: &'static str,
        value: Value,
    ) -> Result<u16, WebhookError> {
        self.webhooks.post(field, &change_payload(waba_id, field, value)).await
    }

    pub(super) async fn quality_webhook(
        &self,
        phone_number_id: &str,
        event: &str,
        current_limit: &str,
    ) -> Result<u16, WebhookError> {
        let phone = known_phone(phone_number_id)?;
        if !QUALITY_EVENTS.contains(&event) {
            return Err(WebhookError::Invalid(format!("`event` must be one of {}.", QUALITY_EVENTS.join(", "))));
        }
        if !MESSAGING_LIMITS.contains(&current_limit) {
            return Err(WebhookError::Invalid(format!(
                "`currentLimit` must be one of {}.",
                MESSAGING_LIMITS.join(", ")
            )));
        }
        let payload = quality_payload(phone, event, current_limit, unix_now());
        self.webhooks.post("quality update", &payload).await
    }

    pub(super) async fn account_update_webhook(&self, waba_id: &str, event: &str) -> Result<u16, WebhookError> {
        let waba = seed::waba(waba_id).ok_or_else(|| WebhookError::Invalid(format!("Unknown WABA {waba_id}.")))?;
        // Meta keeps adding account events, so any event name is let through
        // as long as it is shaped like one.
        let shaped = !event.is_empty() && event.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if !shaped {
            return Err(WebhookError::Invalid("`event` must be an account event such as PARTNER_REMOVED.".into()));
        }
        let payload = account_update_payload(waba, event, unix_now());
        self.webhooks.post("account update", &payload).await
    }

    /// After a send, Meta reports the message `sent` and then `delivered`. The
    /// statuses go out from a task of their own so that the send is answered
    /// first, as on Meta, where they arrive separately and later.
    pub(super) fn deliver_statuses_later(&self, outbound: Outbound) {
        if !self.webhooks.is_enabled() {
            return;
        }
        let webhooks = Arc::clone(&self.webhooks);
        tokio::spawn(async move {
            if outbound.outside_window {
                // Accepted, then failed: more than 24 hours since the customer last wrote.
                tokio::time::sleep(STATUS_GAP).await;
                let (title, details) = error_words(131_047).expect("131047 has Meta's words");
                let error = error_object(131_047, title, details);
                let payload = status_payload(&outbound, "failed", Some(error), unix_now());
                let _ = webhooks.post("status", &payload).await;
                return;
            }
            for status in ["sent", "delivered"] {
                tokio::time::sleep(STATUS_GAP).await;
                let payload = status_payload(&outbound, status, None, unix_now());
                // A failure is already logged; Meta would retry, the sandbox moves on.
                let _ = webhooks.post("status", &payload).await;
            }
        });
    }
}

fn known_waba(waba_id: &str) -> Result<&'static Waba, WebhookError> {
    seed::waba(waba_id).ok_or_else(|| WebhookError::Invalid(format!("Unknown WABA {waba_id}.")))
}

fn limit_tier(tier: &str, name: &str) -> Result<(), WebhookError> {
    if MESSAGING_LIMITS.contains(&tier) {
        Ok(())
    } else {
        Err(WebhookError::Invalid(format!("`{name}` must be one of {}.", MESSAGING_LIMITS.join(", "))))
    }
}

pub(super) fn known_phone(phone_number_id: &str) -> Result<&'static Phone, WebhookError> {
    seed::phone(phone_number_id)
        .ok_or_else(|| WebhookError::Invalid(format!("Unknown phone number id {phone_number_id}.")))
}

// ---- Payloads ----------------------------------------------------------------
//
// Meta's shapes, field for field. Timestamps inside `value` are epoch seconds
// as strings; an entry's `time` is a number.

/// A notification of one change of `field` for the WABA.
pub(super) fn change_payload(waba_id: &str, field: &str, value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": waba_id, "time": unix_now(), "changes": [{ "value": value, "field": field }] }],
    })
}

/// The phone as the `messages` field describes it.
pub(super) fn metadata(phone: &Phone) -> Value {
    json!({
        "display_phone_number": display_digits(phone),
        "phone_number_id": phone.id,
    })
}

/// Webhooks write the display number as digits only: "+1 555-010-0001" is
/// "15550100001".
pub(super) fn display_digits(phone: &Phone) -> String {
    phone.display_phone_number.chars().filter(char::is_ascii_digit).collect()
}

/// How a customer is named in a webhook: by BSUID always, by phone unless withheld, by
/// username if they adopted one.
struct CustomerIds<'a> {
    wa_id: Option<&'a str>,
    user_id: &'a str,
    username: Option<&'a str>,
}

fn inbound_payload(
    phone: &Phone,
    customer: &CustomerIds<'_>,
    name: &str,
    (kind, content): (&str, Value),
    message_id: &str,
    timestamp: u64,
) -> Value {
    let mut profile = json!({ "name": name });
    let mut contact = json!({ "user_id": customer.user_id });
    let mut message = json!({
        "from_user_id": customer.user_id,
        "id": message_id,
        "timestamp": timestamp.to_string(),
        "type": kind,
    });
    message[kind] = content;
    if let Some(username) = customer.username {
        profile["username"] = json!(username);
    }
    if let Some(wa_id) = customer.wa_id {
        contact["wa_id"] = json!(wa_id);
        message["from"] = json!(wa_id);
    }
    contact["profile"] = profile;
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": phone.waba_id,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": metadata(phone),
                    "contacts": [contact],
                    "messages": [message],
                },
                "field": "messages",
            }],
        }],
    })
}

/// Who writes in: their number, name and username, and whether Meta withholds the number.
#[derive(Clone, Copy)]
struct Writer<'a> {
    from: &'a str,
    name: &'a str,
    username: Option<&'a str>,
    withhold: bool,
}

/// Meta's words for the delivery errors the sandbox can report: (title, details).
fn error_words(code: i64) -> Option<(&'static str, &'static str)> {
    Some(match code {
        131_026 => (
            "Message undeliverable",
            "Unable to deliver the message. Reasons can include the recipient's phone number not being a WhatsApp phone number.",
        ),
        131_047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131_049 => {
            ("Meta chose not to deliver.", "This message was not delivered to maintain healthy ecosystem engagement.")
        }
        131_042 => (
            "Business eligibility payment issue",
            "Message failed to send because there were one or more errors related to your payment method.",
        ),
        131_056 => (
            "Pair rate limit hit",
            "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
        ),
        _ => return None,
    })
}

fn known_codes() -> &'static str {
    "131026, 131042, 131047, 131049, 131056"
}

fn error_object(code: i64, title: &str, details: &str) -> Value {
    json!({
        "code": code,
        "title": title,
        "message": title,
        "error_data": { "details": details },
        "href": "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes",
    })
}

fn status_payload(outbound: &Outbound, status: &str, error: Option<Value>, timestamp: u64) -> Value {
    let mut payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": outbound.phone.waba_id,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": metadata(outbound.phone),
                    "statuses": [{
                        "id": outbound.message.message_id,
                        "status": status,
                        "timestamp": timestamp.to_string(),
                        "recipient_user_id": outbound.user_id,
                        "conversation": {
                            "id": outbound.conversation_id,
                            "origin": { "type": "service" },
                        },
                        "pricing": {
                            "billable": true,
                            "pricing_model": "CBP",
                            "category": "service",
                        },
                    }],
                },
                "field": "messages",
            }],
        }],
    });
    let status = &mut payload["entry"][0]["changes"][0]["value"]["statuses"][0];
    if let Some(wa_id) = &outbound.wa_id {
        status["recipient_id"] = json!(wa_id);
    }
    if let Some(error) = error {
        // A failed status names no conversation or price, only what went wrong.
        let object = status.as_object_mut().expect("a status object");
        object.remove("conversation");
        object.remove("pricing");
        object.insert("errors".into(), json!([error]));
    }
    payload
}

fn quality_payload(phone: &Phone, event: &str, current_limit: &str, time: u64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": phone.waba_id,
            "time": time,
            "changes": [{
                "value": {
                    "display_phone_number": display_digits(phone),
                    "event": event,
                    "current_limit": current_limit,
                },
                "field": "phone_number_quality_update",
            }],
        }],
    })
}

fn account_update_payload(waba: &Waba, event: &str, time: u64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba.id,
            "time": time,
            "changes": [{
                "value": {
                    "event": event,
                    "waba_info": {
                        "waba_id": waba.id,
                        "owner_business_id": waba.business_id,
                    },
                },
                "field": "account_update",
            }],
        }],
    })
}
