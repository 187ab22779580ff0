//! Messages: `POST /{phone-number-id}/messages`, checked as strictly as the Cloud API
//! checks it ([`message_objects`]): every type, replies, reactions, and read receipts with
//! their typing indicator. Delivery statuses follow as webhooks.

use http::Method;
use serde_json::{Map, Value, json};

use super::super::seed::{self, Phone};
use super::super::state::{self, Outbound};
use super::super::{Sandbox, SentMessage};
use super::message_objects;
use super::templates::TemplateMessage;
use super::{Call, GraphError};

impl Sandbox {
    /// The token reached this far only if it was granted the phone's WABA. A number that
    /// is not registered for Cloud API cannot send (133010); a coexistence number can.
    pub(super) fn send_message(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let message = call.json.clone().unwrap_or_else(|| call.params.as_object());
        product(&message)?;
        if message.contains_key("status") {
            return self.mark_read(phone, &message);
        }
        let (input, to) = addressee(&message)?;
        let checked = message_objects::check(&message)?;
        let mut summary = checked.summary;
        if checked.kind == "template" {
            let template = TemplateMessage::from_params(&call.params, phone.waba_id, &self.lock())?;
            tracing::info!(phone = phone.id, template = %template.name, "meta sandbox: template message");
            summary = template.text;
        }
        if let Some(id) = &checked.media_id
            && self.lock().media.get(id).is_none_or(|m| m.phone_number_id != phone.id)
        {
            return Err(GraphError::oauth(
                100,
                format!(
                    "(#100) Param {}['id'] is not a valid whatsapp business account media attachment ID",
                    checked.kind
                ),
            ));
        }
        if !phone.coexistence && !self.lock().is_registered(phone) {
            tracing::info!(phone = phone.id, "meta sandbox: send from an unregistered number");
            return Err(GraphError::oauth(133_010, "(#133010) Account not registered")
                .with_details("Phone number is not registered on the WhatsApp Business Platform. Register it first."));
        }
        {
            let state = self.lock();
            if state.waba_health.get(phone.waba_id).is_some_and(|b| b.can_send_message == "BLOCKED") {
                tracing::info!(phone = phone.id, "meta sandbox: send from a disabled WABA");
                return Err(GraphError::oauth(131_031, "(#131031) Business Account locked")
                    .with_details("The WhatsApp Business Account is disabled."));
            }
            if state.number_health.get(phone.id).is_some_and(|b| b.can_send_message == "BLOCKED") {
                tracing::info!(phone = phone.id, "meta sandbox: send from a blocked number");
                return Err(GraphError::oauth(368, "Temporarily blocked for policies violations.")
                    .with_details("The number is blocked from sending."));
            }
        }
        let business_id = seed::waba(phone.waba_id).expect("a seeded phone's WABA").business_id;
        // The recipient: whom the send names, their BSUID, their number where it may be
        // shared, and their number (which the service window is kept by).
        let (to_id, user_id, wa_id, customer_wa_id) = match &to {
            To::Phone(wa_id) => {
                let user_id = self.lock().bsuid(business_id, wa_id, false);
                (wa_id.clone(), user_id, Some(wa_id.clone()), wa_id.clone())
            }
            To::User(user_id) => {
                let customer = self.lock().customers.get(user_id.as_str()).cloned();
                let customer = customer.filter(|c| c.business_id == business_id).ok_or_else(|| {
                    tracing::info!(phone = phone.id, "meta sandbox: a BSUID of no customer of this business");
                    GraphError::oauth(
                        131_062,
                        "(#131062) Business-scoped User ID (BSUID) recipients are not supported for this message",
                    )
                    .with_details(
                        "A BSUID can only be messaged from a phone number of the business portfolio it belongs to.",
                    )
                })?;
                let shared = (!customer.withheld).then(|| customer.wa_id.clone());
                (user_id.clone(), user_id.clone(), shared, customer.wa_id)
            }
        };
        let outside_window = checked.kind != "template" && !self.lock().in_service_window(phone, &customer_wa_id);
        let outbound = Outbound {
            message: SentMessage {
                phone_number_id: phone.id.to_owned(),
                to: to_id,
                body: summary,
                message_id: state::new_message_id(),
                kind: checked.kind,
                object: Value::Object(message),
            },
            phone,
            sent_at: state::unix_now(),
            conversation_id: state::new_conversation_id(),
            user_id,
            wa_id,
            outside_window,
        };
        self.lock().sent.push(outbound.clone());
        tracing::info!(
            phone_number_id = phone.id,
            message_id = %outbound.message.message_id,
            kind = %outbound.message.kind,
            "meta sandbox: message accepted"
        );
        // The contact names the recipient the way the request did: `wa_id` for a phone
        // number, `user_id` for a BSUID.
        let contact = match &to {
            To::Phone(wa_id) => json!({ "input": input, "wa_id": wa_id }),
            To::User(user_id) => json!({ "input": input, "user_id": user_id }),
        };
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{ "id": outbound.message.message_id }],
        });
        // A reaction gets only its `sent` status, as on Meta.
        if outbound.message.kind != "reaction" {
            self.deliver_statuses_later(outbound);
        }
        Ok(answer)
    }

    /// `{status: "read", message_id, typing_indicator?}`: marks a message the number received
    /// as read (and every earlier one of its chat), showing a typing indicator if asked.
    fn mark_read(&self, phone: &'static Phone, message: &Map<String, Value>) -> Result<Value, GraphError> {
        if message.get("status").and_then(Value::as_str) != Some("read") {
            return Err(GraphError::invalid_parameter("Param status must be \"read\"."));
        }
        if let Some(key) = message.keys().find(|k| {
            !["messaging_product", "status", "message_id", "typing_indicator", "recipient_type"].contains(&k.as_str())
        }) {
            return Err(GraphError::oauth(100, format!("(#100) Unexpected key \"{key}\" on param \"message\".")));
        }
        let id = message.get("message_id").and_then(Value::as_str).ok_or_else(|| GraphError::required("message_id"))?;
        if let Some(typing) = message.get("typing_indicator")
            && typing != &json!({ "type": "text" })
        {
            return Err(GraphError::invalid_parameter("Param typing_indicator must be {\"type\": \"text\"}."));
        }
        let mut state = self.lock();
        let received = state.received.iter_mut().find(|r| r.message_id == id && r.phone_number_id == phone.id);
        let Some(received) = received else {
            return Err(GraphError::invalid_parameter(format!("Message {id} was not received by this phone number.")));
        };
        received.read = true;
        received.typing |= message.contains_key("typing_indicator");
        tracing::info!(phone = phone.id, "meta sandbox: message marked read");
        Ok(json!({ "success": true }))
    }
}

fn product(message: &Map<String, Value>) -> Result<(), GraphError> {
    GraphError::check_product(message.get("messaging_product").and_then(Value::as_str))?;
    if let Some(kind) = message.get("recipient_type").and_then(Value::as_str).filter(|kind| *kind != "individual") {
        return Err(GraphError::invalid_parameter(format!(
            "Param recipient_type must be \"individual\" - got \"{kind}\"."
        )));
    }
    Ok(())
}

/// Who a message goes to: a phone number (`to`, as a WhatsApp id: digits only) or a
/// business-scoped user id (`recipient`).
enum To {
    Phone(String),
    User(String),
}

/// `to` (or `recipient`) as the client wrote it, which the answer echoes, and whom it names.
/// `to` takes precedence when both are given, as on the Cloud API.
fn addressee(message: &Map<String, Value>) -> Result<(String, To), GraphError> {
    let get = |key: &str| message.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (get("to"), get("recipient")) {
        (Some(input), _) => {
            let wa_id = wa_id(input).ok_or_else(|| {
                GraphError::invalid_parameter(
                    "Param to must be a phone number in international format: 7 to 15 digits, optionally after a '+'.",
                )
            })?;
            // The sandbox's stand-in for a test number's recipient allow list: numbers
            // starting with 999 are never on it, so clients can exercise the refusal.
            if wa_id.starts_with("999") {
                return Err(GraphError::not_in_allowed_list());
            }
            Ok((input.to_owned(), To::Phone(wa_id)))
        }
        (None, Some(input)) if is_bsuid(input) => Ok((input.to_owned(), To::User(input.to_owned()))),
        (None, Some(_)) => Err(GraphError::invalid_parameter(
            "Param recipient must be a business-scoped user ID: a country code, a period and up to 128 letters or digits.",
        )),
        (None, None) => Err(GraphError::required("to")),
    }
}

/// A business-scoped user id: `CC.` then up to 128 letters and digits (`CC.ENT.…` for a
/// parent one).
fn is_bsuid(id: &str) -> bool {
    let Some((country, rest)) = id.split_once('.') else { return false };
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && (1..=128).contains(&rest.len())
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The WhatsApp id of a phone number written as 7 to 15 digits, optionally
/// after a `+`.
pub(in crate::sandbox) fn wa_id(number: &str) -> Option<String> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.to_owned())
}
