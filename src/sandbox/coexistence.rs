//! What Meta does for a WhatsApp Business app number shared with Cloud API
//! (coexistence), beside the Graph API: the webhooks that follow a sync request
//! (`smb_app_state_sync` with the app's contacts; `history` in chunks, or Meta's 2593109
//! when the business does not share its history), and the controls that play the
//! business's side:
//!
//! - `POST /control/history` `{phoneNumberId, customer, text, fromBusiness?, progress?}`: one
//!   chunk of chat history (a message of one thread), as Meta sends them;
//! - `POST /control/history-sharing` `{phoneNumberId, shared}`: the app's setting; a history
//!   sync of a business that does not share is answered with the 2593109 webhook;
//! - `POST /control/echo` `{phoneNumberId, to, text}`: the business writes from the app, and
//!   Meta echoes it (`smb_message_echoes`);
//! - `POST /control/contacts` `{phoneNumberId, contacts: [{phone, name?, action?}]}`: contacts
//!   added, edited or removed in the app (`smb_app_state_sync`);
//! - `POST /control/offboard` and `POST /control/reconnect` `{wabaId}`: the business changes
//!   device (`ACCOUNT_OFFBOARDED`) and Meta re-onboards it (`ACCOUNT_RECONNECTED`).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Sandbox;
use super::seed::{self, CAFE_CONTACTS, CAFE_HISTORY, Phone};
use super::state::{hex, unix_now};
use super::webhook::{WebhookError, change_payload, display_digits, known_phone, metadata};

/// The pause before a sync's webhooks: Meta answers the request first.
const SYNC_GAP: Duration = Duration::from_millis(100);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct HistoryChunk {
    phone_number_id: String,
    customer: String,
    text: String,
    from_business: Option<bool>,
    progress: Option<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct HistorySharing {
    phone_number_id: String,
    shared: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Echo {
    phone_number_id: String,
    to: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Contacts {
    phone_number_id: String,
    contacts: Vec<ContactEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ContactEntry {
    phone: String,
    name: Option<String>,
    action: Option<String>,
}

/// A coexistence number, or why the control does not apply.
fn app_number(phone_number_id: &str) -> Result<&'static Phone, WebhookError> {
    let phone = known_phone(phone_number_id)?;
    if !phone.coexistence {
        return Err(WebhookError::Invalid(format!(
            "{} is not a WhatsApp Business app number; use {}.",
            phone.display_phone_number,
            seed::ACME_CAFE_PHONE
        )));
    }
    Ok(phone)
}

fn wa_id(number: &str, name: &str) -> Result<String, WebhookError> {
    super::graph::wa_id(number).ok_or_else(|| {
        WebhookError::Invalid(format!("`{name}` must be a phone number: 7 to 15 digits, optionally after a '+'."))
    })
}

/// A history message's id: the same message is the same id however often it is synced.
fn history_id(phone: &Phone, customer: &str, text: &str, at: u64) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}|{customer}|{text}|{at}", phone.id).as_bytes(),
    );
    format!("wamid.HIST{}", hex(&digest.as_ref()[..18]).to_uppercase())
}

/// A message of a history thread, from the customer or from the business.
fn history_message(phone: &Phone, customer: &str, from_business: bool, text: &str, at: u64) -> Value {
    let mut message = json!({
        "from": if from_business { display_digits(phone) } else { customer.to_owned() },
        "id": history_id(phone, customer, text, at),
        "timestamp": at.to_string(),
        "type": "text",
        "text": { "body": text },
        "history_context": { "status": if from_business { "READ" } else { "DELIVERED" } },
    });
    if from_business {
        message["to"] = json!(customer);
    }
    message
}

fn history_value(phone: &Phone, progress: u8, chunk_order: u32, threads: Vec<Value>) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(phone),
        "history": [{
            "metadata": { "phase": 0, "chunk_order": chunk_order, "progress": progress },
            "threads": threads,
        }],
    })
}

/// Meta's answer to a history sync of a business that does not share its history.
fn declined_value(phone: &Phone) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(phone),
        "history": [{
            "errors": [{
                "code": 2_593_109,
                "title": "History sync is turned off by the business from the WhatsApp Business App",
                "message": "History sync is turned off by the business from the WhatsApp Business App",
                "error_data": { "details": "History sharing is turned off by the business" },
            }],
        }],
    })
}

fn contacts_value(phone: &Phone, contacts: &[(String, Option<String>, &str)], at: u64) -> Value {
    let state_sync: Vec<Value> = contacts
        .iter()
        .map(|(number, name, action)| {
            let mut contact = json!({ "phone_number": number });
            if let (Some(name), "add") = (name, *action) {
                contact["full_name"] = json!(name);
                contact["first_name"] = json!(name.split_whitespace().next().unwrap_or(name));
            }
            json!({ "type": "contact", "contact": contact, "action": action, "metadata": { "timestamp": at.to_string() } })
        })
        .collect();
    json!({ "messaging_product": "whatsapp", "metadata": metadata(phone), "state_sync": state_sync })
}

/// What a sync request brings, as Meta sends it: the app's contacts in one change; the
/// chats in chunks, the last at progress 100 — or the 2593109 error.
fn sync_notifications(phone: &Phone, sync_type: &str, declined: bool) -> Vec<(&'static str, Value)> {
    let now = unix_now();
    match sync_type {
        "smb_app_state_sync" => {
            let contacts: Vec<_> = CAFE_CONTACTS
                .iter()
                .map(|(number, name)| (number.to_string(), Some(name.to_string()), "add"))
                .collect();
            vec![(
                "smb_app_state_sync",
                change_payload(phone.waba_id, "smb_app_state_sync", contacts_value(phone, &contacts, now)),
            )]
        }
        _ if declined => vec![("history", change_payload(phone.waba_id, "history", declined_value(phone)))],
        _ => {
            let chunks = CAFE_HISTORY.len();
            CAFE_HISTORY
                .iter()
                .enumerate()
                .map(|(i, (customer, messages))| {
                    let thread = json!({
                        "id": customer,
                        "messages": messages
                            .iter()
                            .map(|(business, text, ago)| history_message(phone, customer, *business, text, now - ago))
                            .collect::<Vec<_>>(),
                    });
                    let progress = ((i + 1) * 100 / chunks) as u8;
                    let value = history_value(phone, progress, i as u32 + 1, vec![thread]);
                    ("history", change_payload(phone.waba_id, "history", value))
                })
                .collect()
        }
    }
}

impl Sandbox {
    /// After Meta took a sync request: its webhooks, from a task of their own, so that the
    /// request is answered first.
    pub(super) fn sync_later(&self, phone: &'static Phone, sync_type: &'static str) {
        if !self.webhooks.is_enabled() {
            return;
        }
        let declined = self.lock().number(phone).history_declined;
        let webhooks = Arc::clone(&self.webhooks);
        tokio::spawn(async move {
            for (field, payload) in sync_notifications(phone, sync_type, declined) {
                tokio::time::sleep(SYNC_GAP).await;
                // A failure is already logged; Meta would retry, the sandbox moves on.
                let _ = webhooks.post(field, &payload).await;
            }
        });
    }

    pub(super) async fn history_chunk_webhook(&self, chunk: HistoryChunk) -> Result<u16, WebhookError> {
        let phone = app_number(&chunk.phone_number_id)?;
        let customer = wa_id(&chunk.customer, "customer")?;
        if chunk.text.trim().is_empty() {
            return Err(WebhookError::Invalid("`text` must not be empty.".into()));
        }
        let progress = chunk.progress.unwrap_or(100);
        if progress > 100 {
            return Err(WebhookError::Invalid("`progress` is a percentage, 0 to 100.".into()));
        }
        let message = history_message(phone, &customer, chunk.from_business.unwrap_or(false), &chunk.text, unix_now());
        let value = history_value(phone, progress, 1, vec![json!({ "id": customer, "messages": [message] })]);
        self.change_webhook(phone.waba_id, "history", value).await
    }

    pub(super) fn set_history_sharing(&self, sharing: HistorySharing) -> Result<(), WebhookError> {
        let phone = app_number(&sharing.phone_number_id)?;
        self.lock().number(phone).history_declined = !sharing.shared;
        Ok(())
    }

    /// The business writes to a customer from the WhatsApp Business app; Meta echoes it.
    pub(super) async fn echo_webhook(&self, echo: Echo) -> Result<(String, u16), WebhookError> {
        let phone = app_number(&echo.phone_number_id)?;
        let to = wa_id(&echo.to, "to")?;
        if echo.text.trim().is_empty() {
            return Err(WebhookError::Invalid("`text` must not be empty.".into()));
        }
        let message_id = super::state::new_message_id();
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone),
            "message_echoes": [{
                "from": display_digits(phone),
                "to": to,
                "id": message_id,
                "timestamp": unix_now().to_string(),
                "type": "text",
                "text": { "body": echo.text },
            }],
        });
        let status = self.change_webhook(phone.waba_id, "smb_message_echoes", value).await?;
        Ok((message_id, status))
    }

    pub(super) async fn contacts_webhook(&self, contacts: Contacts) -> Result<u16, WebhookError> {
        let phone = app_number(&contacts.phone_number_id)?;
        if contacts.contacts.is_empty() {
            return Err(WebhookError::Invalid("`contacts` must name at least one contact.".into()));
        }
        let mut entries = Vec::with_capacity(contacts.contacts.len());
        for entry in contacts.contacts {
            let action = match entry.action.as_deref().unwrap_or("add") {
                "add" => "add",
                "remove" => "remove",
                _ => return Err(WebhookError::Invalid("A contact's `action` is add or remove.".into())),
            };
            entries.push((wa_id(&entry.phone, "phone")?, entry.name, action));
        }
        let value = contacts_value(phone, &entries, unix_now());
        self.change_webhook(phone.waba_id, "smb_app_state_sync", value).await
    }

    /// `ACCOUNT_OFFBOARDED` or `ACCOUNT_RECONNECTED`, as Meta sends them: the event alone.
    pub(super) async fn coexistence_account_webhook(
        &self,
        waba_id: &str,
        event: &'static str,
    ) -> Result<u16, WebhookError> {
        let waba = seed::waba(waba_id).ok_or_else(|| WebhookError::Invalid(format!("Unknown WABA {waba_id}.")))?;
        if !seed::phones_of(waba.id).any(|p| p.coexistence) {
            return Err(WebhookError::Invalid(format!("{} has no WhatsApp Business app number.", waba.name)));
        }
        self.change_webhook(waba.id, "account_update", json!({ "event": event })).await
    }
}
