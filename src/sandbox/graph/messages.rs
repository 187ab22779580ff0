//! Messages: `POST /{phone-number-id}/messages`, checked as strictly as the Cloud API
//! checks it. Delivery statuses follow as webhooks.

use http::Method;
use serde_json::{Value, json};

use super::super::request::Params;
use super::super::seed::{self, Phone};
use super::super::state::{self, Outbound};
use super::super::{Sandbox, SentMessage};
use super::templates::TemplateMessage;
use super::{Call, GraphError};

/// The Cloud API's limit on the body of a text message, in characters.
const MAX_TEXT_BODY_CHARS: usize = 4096;

impl Sandbox {
    /// The token reached this far only if it was granted the phone's WABA. A number that
    /// is not registered for Cloud API cannot send (133010); a coexistence number can.
    pub(super) fn send_message(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let mut text = TextMessage::from_params(&call.params)?;
        if text.template {
            let template = TemplateMessage::from_params(&call.params, phone.waba_id, &self.lock())?;
            tracing::info!(phone = phone.id, template = %template.name, "meta sandbox: template message");
            text.body = template.text;
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
        let (to, user_id, wa_id) = match &text.to {
            To::Phone(wa_id) => {
                let user_id = self.lock().bsuid(business_id, wa_id, false);
                (wa_id.clone(), user_id, Some(wa_id.clone()))
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
                (user_id.clone(), user_id.clone(), (!customer.withheld).then_some(customer.wa_id))
            }
        };
        let outbound = Outbound {
            message: SentMessage {
                phone_number_id: phone.id.to_owned(),
                to,
                body: text.body,
                message_id: state::new_message_id(),
            },
            phone,
            sent_at: state::unix_now(),
            conversation_id: state::new_conversation_id(),
            user_id,
            wa_id,
        };
        self.lock().sent.push(outbound.clone());
        tracing::info!(
            phone_number_id = phone.id,
            message_id = %outbound.message.message_id,
            "meta sandbox: text message accepted"
        );
        // The contact names the recipient the way the request did: `wa_id` for a phone
        // number, `user_id` for a BSUID.
        let contact = match &text.to {
            To::Phone(wa_id) => json!({ "input": text.input, "wa_id": wa_id }),
            To::User(user_id) => json!({ "input": text.input, "user_id": user_id }),
        };
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{ "id": outbound.message.message_id }],
        });
        self.deliver_statuses_later(outbound);
        Ok(answer)
    }
}

/// A valid text (or template) message request.
struct TextMessage<'a> {
    /// `to` (or `recipient`) as the client wrote it; the answer echoes it.
    input: &'a str,
    to: To,
    body: String,
    /// A template message, whose body is the template's.
    template: bool,
}

/// Who a message goes to: a phone number (`to`, as a WhatsApp id: digits only) or a
/// business-scoped user id (`recipient`).
enum To {
    Phone(String),
    User(String),
}

impl<'a> TextMessage<'a> {
    /// Checks product, recipient, type and content, in that order; the first
    /// problem is the answer. `text` arrives as a JSON object, which the
    /// parameters hold as its JSON text (a form post may send it that way too,
    /// as on Meta).
    fn from_params(params: &'a Params) -> Result<Self, GraphError> {
        match params.get("messaging_product") {
            Some("whatsapp") => {}
            None => return Err(GraphError::required("messaging_product")),
            Some(other) => {
                return Err(GraphError::oauth(
                    100,
                    format!("(#100) Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."),
                ));
            }
        }
        if let Some(kind) = params.get("recipient_type").filter(|kind| *kind != "individual") {
            return Err(GraphError::invalid_parameter(format!(
                "Param recipient_type must be \"individual\" - got \"{kind}\"."
            )));
        }
        // `to` takes precedence when both are given, as on the Cloud API.
        let (input, to) = match (params.get("to"), params.get("recipient")) {
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
                (input, To::Phone(wa_id))
            }
            (None, Some(input)) if is_bsuid(input) => (input, To::User(input.to_owned())),
            (None, Some(_)) => {
                return Err(GraphError::invalid_parameter(
                    "Param recipient must be a business-scoped user ID: a country code, a period and up to 128 letters or digits.",
                ));
            }
            (None, None) => return Err(GraphError::required("to")),
        };
        // `type` is optional on the Cloud API and defaults to text.
        match params.get("type").unwrap_or("text") {
            "text" => {}
            // Checked against the WABA's templates by the caller.
            "template" => return Ok(Self { input, to, body: String::new(), template: true }),
            other => {
                return Err(GraphError::oauth(100, "(#100) Unsupported message type").with_details(format!(
                    "This endpoint sends text and template messages only - got type \"{other}\"."
                )));
            }
        }
        let text: Value = params.get("text").and_then(|raw| serde_json::from_str(raw).ok()).unwrap_or_default();
        let body = text
            .get("body")
            .and_then(Value::as_str)
            .filter(|body| !body.is_empty())
            .ok_or_else(|| GraphError::required("text['body']"))?;
        if body.chars().count() > MAX_TEXT_BODY_CHARS {
            return Err(GraphError::invalid_parameter(format!(
                "Param text['body'] must be at most {MAX_TEXT_BODY_CHARS} characters long."
            )));
        }
        Ok(Self { input, to, body: body.to_owned(), template: false })
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
