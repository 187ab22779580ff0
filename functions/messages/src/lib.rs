//! Messages — the "dashboard chat" read point of seed 002.
//!
//! `POST /api/v1/organizations/{organizationId}/whatsapp/messages`
//! `{to | recipient, text | template | message, phoneNumberId?}` (`recipient`: a
//! business-scoped user ID; `template`: `{name, language, components?}`; `message`: Meta's
//! message object of any type, with `context` for a reply) reads the PhoneNumber authority,
//! opens its token and sends through Meta; the sent message is stored so the inbox shows
//! it. `POST …/messages/{messageId}/read` `{typing?}` marks a received message read. A
//! send Meta refuses because it no longer has the number registered (133010) marks the
//! number `pending` and registers it again at once with its sealed PIN.
//! `GET …/messages?limit&cursor` lists the organization's received messages, sent messages
//! and delivery statuses, newest first; `GET …/templates?status&limit&cursor` the WABA's
//! message templates from Meta; `GET …/contacts?limit&cursor` the contacts a coexistence
//! number's WhatsApp Business app synced.

use serde::Deserialize;
use serde_json::json;
use shared::domain::{
    AccessToken, Contact, Customer, Direction, EventKind, MessageEvent, OrganizationId, PhoneNumber, PhoneNumberId,
    Source, is_user_id,
};
use shared::lifecycle;
use shared::meta::{Addressee, Content, MetaError};
use shared::routes::Action;
use shared::store::records::CONTACT_PREFIX;
use shared::{ApiError, App, Request, Response, crypto, http};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// Meta's limit for a text message body.
const MAX_TEXT_CHARS: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Send {
    /// A phone number.
    to: Option<String>,
    /// A business-scoped user id, for a customer whose number Meta withholds.
    recipient: Option<String>,
    text: Option<String>,
    /// An approved template: the way to reach a customer outside the 24-hour window.
    template: Option<TemplateSend>,
    /// Meta's message object, of any type.
    message: Option<serde_json::Value>,
    phone_number_id: Option<PhoneNumberId>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Read {
    #[serde(default)]
    typing: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateSend {
    name: String,
    language: String,
    /// Meta's `components` (the parameters), passed as given.
    components: Option<serde_json::Value>,
}

const MAX_TEMPLATE_NAME: usize = 512;

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    let organization = app.owned_organization(&caller, &id).await?;
    match request.route.action {
        Action::SendMessage => send(app, &organization.id, request.json()?).await,
        Action::MarkRead => {
            let read: Read = if request.body.is_empty() { Read::default() } else { request.json()? };
            let message_id = request.path_params.get("messageId").cloned().unwrap_or_default();
            mark_read(app, &organization.id, &message_id, read.typing).await
        }
        Action::ListMessages => list(app, &organization.id, &request).await,
        Action::ListTemplates => templates(app, &organization.id, &request).await,
        Action::ListContacts => contacts(app, &organization.id, &request).await,
        other => Err(ApiError::internal(format!("messages does not serve {other:?}"))),
    }
}

async fn send(app: &App, organization: &OrganizationId, body: Send) -> Result<Response, ApiError> {
    let to = addressee(body.to.as_deref(), body.recipient.as_deref())?;
    let content = content(body.text.as_deref(), body.template, body.message)?;
    let phones = app.records.phones(organization).await?;
    let phone = sending_phone(&phones, body.phone_number_id.as_ref())?;
    // Meta would refuse an unregistered number (133010), a dead token (190) or a restricted
    // account; it is not asked.
    lifecycle::refuse_send(phone, app.now())?;

    let token = lifecycle::phone_token(app, phone).await?;
    let sent = app.meta()?.send_message(&token, &phone.phone_number_id, &to, &content).await;
    if let Err(MetaError::Graph(refusal)) = &sent {
        if refusal.code == lifecycle::NOT_REGISTERED {
            return Err(registered_again(app, phone, &token, sent.unwrap_err()).await);
        }
        if let Some(error) = message_refused(refusal) {
            return Err(error);
        }
    }
    drop(token);
    let message_id = lifecycle::answered(app, phone, sent).await?;

    let now = app.now();
    let sent = MessageEvent {
        organization_id: organization.clone(),
        phone_number_id: phone.phone_number_id.clone(),
        waba_id: phone.waba_id.clone(),
        kind: EventKind::Message { direction: Direction::Outbound },
        message_id: message_id.clone(),
        from: Some(phone.display_digits()),
        to: match &to {
            Addressee::Phone(number) => Some(number.clone()),
            Addressee::User(_) => None,
        },
        customer: Customer {
            user_id: match to {
                Addressee::User(user_id) => Some(user_id),
                Addressee::Phone(_) => None,
            },
            ..Customer::default()
        },
        contact_name: None,
        message_type: Some(match &content {
            Content::Text(_) => "text".into(),
            Content::Template { .. } => "template".into(),
            Content::Message(message) => message.get("type").and_then(|t| t.as_str()).unwrap_or("text").to_owned(),
        }),
        text: Some(match &content {
            Content::Text(text) => text.clone(),
            Content::Template { name, language, .. } => format!("[template {name} ({language})]"),
            Content::Message(message) => summary(message),
        }),
        error: None,
        timestamp: now,
        received_at: now,
        // What was sent, for the listing's `content`.
        payload: match content {
            Content::Message(message) => Some(serde_json::Value::Object(message).to_string()),
            _ => None,
        },
        history: false,
        source: None,
        identity_change: None,
        media: None,
    };
    app.records.store_sent(&sent, app.config.message_retention.as_secs() as i64).await?;
    tracing::info!(organization = %organization, phone = %phone.phone_number_id, "message sent");
    Ok(Response::ok(&json!({ "success": true, "messageId": message_id })))
}

/// Meta no longer has the number registered (it was deregistered, moved, or reset): the
/// phone becomes `pending` and is registered again at once with its sealed PIN. The send
/// answers 409 `not_registered`, saying whether the number can send again.
async fn registered_again(app: &App, phone: &PhoneNumber, token: &AccessToken, refusal: MetaError) -> ApiError {
    lifecycle::graph_refused(app, phone, &refusal, Source::Api).await;
    let fresh = match app.records.phone(&phone.organization_id, &phone.phone_number_id).await {
        Ok(Some(fresh)) => fresh,
        Ok(None) => return ApiError::not_connected(),
        Err(error) => return error,
    };
    shared::registration::register_again(app, &fresh, token, Source::Api).await;
    let now = app.now();
    match app.records.phone(&phone.organization_id, &phone.phone_number_id).await {
        Ok(Some(after)) if after.registration.allows_sending() => ApiError::not_registered(Some(
            "Meta no longer had the number registered; it was registered again just now: send the message again."
                .into(),
        )),
        Ok(Some(after)) => ApiError::not_registered(lifecycle::action(&after, now).or_else(|| {
            Some("Meta no longer has the number registered; it is registered again as soon as Meta allows.".into())
        })),
        Ok(None) => ApiError::not_connected(),
        Err(error) => error,
    }
}

/// Marks a message the organization received as read, from the number that received it.
async fn mark_read(
    app: &App,
    organization: &OrganizationId,
    message_id: &str,
    typing: bool,
) -> Result<Response, ApiError> {
    let received = app
        .records
        .received_message(organization, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This organization received no message with this id."))?;
    let phone = app
        .records
        .phone(organization, &received.phone_number_id)
        .await?
        .filter(PhoneNumber::is_active)
        .ok_or_else(ApiError::not_connected)?;
    lifecycle::refuse_send(&phone, app.now())?;
    let token = lifecycle::phone_token(app, &phone).await?;
    let marked = app.meta()?.mark_read(&token, &phone.phone_number_id, message_id, typing).await;
    drop(token);
    lifecycle::answered(app, &phone, marked).await?;
    Ok(Response::ok(&json!({ "success": true })))
}

/// The organization's contacts from its coexistence numbers' apps, one page.
async fn contacts(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let after = request.cursor(|position| {
        let shaped = position.starts_with(CONTACT_PREFIX) && position.len() < 256 && !position.contains('\0');
        shaped.then(|| position.to_owned())
    })?;
    let (contacts, next) = app.records.contacts(organization, limit, after).await?;
    Ok(Response::ok(&json!({
        "success": true,
        "contacts": contacts.iter().map(Contact::view).collect::<Vec<_>>(),
        "nextCursor": next.as_deref().map(http::encode_cursor),
    })))
}

/// The given phone, else the first that can send, else the first connected one (whose
/// refusal then says why it cannot).
fn sending_phone<'a>(phones: &'a [PhoneNumber], wanted: Option<&PhoneNumberId>) -> Result<&'a PhoneNumber, ApiError> {
    match wanted {
        Some(id) => phones.iter().find(|p| &p.phone_number_id == id && p.is_active()),
        None => phones.iter().find(|p| p.can_send()).or_else(|| phones.iter().find(|p| p.is_active())),
    }
    .ok_or_else(ApiError::not_connected)
}

/// Meta's refusals of a message's content, which the caller can fix: clear answers, and no
/// concern of the connection's health.
fn message_refused(refusal: &shared::meta::GraphError) -> Option<ApiError> {
    let reason = refusal.reason();
    Some(match refusal.code {
        131_047 => ApiError::new(
            ::http::StatusCode::UNPROCESSABLE_ENTITY,
            "outside_service_window",
            format!("Meta refused the message: {reason}"),
        )
        .with_action("More than 24 hours passed since the customer last wrote: send an approved template instead."),
        131_051 => ApiError::new(
            ::http::StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_message_type",
            format!("Meta does not send this type of message: {reason}"),
        )
        .with_action("Use one of Meta's message types: text, image, video, audio, document, sticker, location, contacts, interactive, reaction or template."),
        100 | 131_008 | 131_009 => ApiError::new(
            ::http::StatusCode::BAD_REQUEST,
            "message_rejected",
            format!("Meta refused the message: {reason}"),
        )
        .with_action("Fix the message object as Meta's answer says, and send it again."),
        _ => return None,
    })
}

/// Message types a `message` object may have, as Meta's Cloud API sends them.
const MESSAGE_TYPES: [&str; 11] = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
    "template",
];

/// A line the inbox shows for a message object: its text, caption or body, else its type.
fn summary(message: &serde_json::Map<String, serde_json::Value>) -> String {
    let kind = message.get("type").and_then(|t| t.as_str()).unwrap_or("text");
    let inner = &message.get(kind).cloned().unwrap_or_default();
    let said = [&inner["body"], &inner["caption"], &inner["body"]["text"], &inner["emoji"], &inner["name"]]
        .into_iter()
        .find_map(|v| v.as_str())
        .map(str::to_owned);
    match (kind, said) {
        ("text", Some(text)) => text,
        (_, Some(text)) => format!("[{kind}] {text}"),
        (_, None) => format!("[{kind}]"),
    }
}

/// Exactly one of `text`, `template` and `message`.
fn content(
    text: Option<&str>,
    template: Option<TemplateSend>,
    message: Option<serde_json::Value>,
) -> Result<Content, ApiError> {
    match (text, template, message) {
        (None, None, Some(message)) => {
            let serde_json::Value::Object(message) = message else {
                return Err(ApiError::validation("`message` must be Meta's message object: a JSON object"));
            };
            match message.get("messaging_product") {
                None => {}
                Some(product) if product == "whatsapp" => {}
                Some(_) => return Err(ApiError::validation("`message.messaging_product` can only be whatsapp")),
            }
            if let Some(key) = ["to", "recipient"].into_iter().find(|k| message.contains_key(*k)) {
                return Err(ApiError::validation(format!(
                    "`message.{key}`: give the addressee as `to` or `recipient` beside `message`, not inside it"
                )));
            }
            if message.get("recipient_type").is_some_and(|t| t != "individual") {
                return Err(ApiError::validation("`message.recipient_type` can only be individual"));
            }
            match message.get("type") {
                None => {}
                Some(serde_json::Value::String(kind)) if MESSAGE_TYPES.contains(&kind.as_str()) => {}
                Some(_) => {
                    return Err(ApiError::validation(format!(
                        "`message.type` must be one of {}",
                        MESSAGE_TYPES.join(", ")
                    )));
                }
            }
            Ok(Content::Message(message))
        }
        (Some(text), None, None) => {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return Err(ApiError::validation(format!("`text` must be 1 to {MAX_TEXT_CHARS} characters")));
            }
            Ok(Content::Text(text.to_owned()))
        }
        (None, Some(TemplateSend { name, language, components }), None) => {
            let name_ok = (1..=MAX_TEMPLATE_NAME).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(ApiError::validation(
                    "`template.name` must be a template's name: lowercase letters, digits and _",
                ));
            }
            let language_ok =
                (2..=15).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
            if !language_ok {
                return Err(ApiError::validation("`template.language` must be a language code such as en_US"));
            }
            if components.as_ref().is_some_and(|c| !c.is_array()) {
                return Err(ApiError::validation("`template.components` must be a list, as Meta takes it"));
            }
            Ok(Content::Template { name, language, components })
        }
        _ => Err(ApiError::validation("Give exactly one of `text`, `template` and `message`.")),
    }
}

/// The WABA's templates from Meta, every page, filtered by `status` when given; paged
/// here by `limit` and an opaque `cursor`.
async fn templates(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let status = request.query_value("status").map(str::to_ascii_uppercase);
    if status
        .as_deref()
        .is_some_and(|s| !(1..=32).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
    {
        return Err(ApiError::validation("`status` must be a template status such as APPROVED"));
    }
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let start = request.cursor(|position| position.strip_prefix("TPL#")?.parse::<usize>().ok())?.unwrap_or(0);
    let phones = app.records.phones(organization).await?;
    let phone = sending_phone(&phones, None)?;
    lifecycle::refuse_send(phone, app.now()).or_else(|e| if e.code == "phone_restricted" { Ok(()) } else { Err(e) })?;
    let token = lifecycle::phone_token(app, phone).await?;
    let listed = app.meta()?.message_templates(&token, &phone.waba_id, status.as_deref()).await;
    drop(token);
    let all = lifecycle::answered(app, phone, listed).await?;
    let page: Vec<_> = all.iter().skip(start).take(limit).collect();
    let next =
        (start + page.len() < all.len()).then(|| crypto::base64url(format!("TPL#{}", start + page.len()).as_bytes()));
    Ok(Response::ok(&json!({ "success": true, "templates": page, "nextCursor": next })))
}

async fn list(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let before = request.query_value("cursor").map(decode_cursor).transpose()?;
    let (events, next) = app.records.messages(organization, limit, before).await?;
    // Written straight into the body, each message borrowed from its event.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<'a> {
        messages: Vec<shared::domain::MessageView<'a>>,
        next_cursor: Option<String>,
        success: bool,
    }
    Ok(Response::ok(&Page {
        messages: events.iter().map(MessageEvent::as_view).collect(),
        next_cursor: next.as_deref().map(http::encode_cursor),
        success: true,
    }))
}

/// A cursor is an opaque encoding of a position (`{time}#{identity}`) inside the caller's
/// own partition, so it can only ever page through the organization it was issued for.
fn decode_cursor(raw: &str) -> Result<String, ApiError> {
    http::decode_cursor(raw, |position| {
        let (time, identity) = position.split_once('#').unwrap_or_default();
        let issued = time.len() == 10
            && time.bytes().all(|b| b.is_ascii_digit())
            && !identity.is_empty()
            && position.len() < 1024;
        issued.then(|| position.to_owned())
    })
}

/// Exactly one of `to` (a phone number) and `recipient` (a BSUID).
fn addressee(to: Option<&str>, recipient: Option<&str>) -> Result<Addressee, ApiError> {
    match (to, recipient) {
        (Some(to), None) => phone_number(to).map(Addressee::Phone),
        (None, Some(user_id)) if is_user_id(user_id.trim()) => Ok(Addressee::User(user_id.trim().to_owned())),
        (None, Some(_)) => {
            Err(ApiError::validation("`recipient` must be a business-scoped user ID, e.g. US.13491208655302741918"))
        }
        _ => Err(ApiError::validation(
            "Give exactly one of `to` (a phone number) and `recipient` (a business-scoped user ID).",
        )),
    }
}

/// A WhatsApp recipient: 7 to 15 digits (E.164 without the `+`).
fn phone_number(raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let number = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if (7..=15).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()) {
        Ok(number.to_owned())
    } else {
        Err(ApiError::validation("`to` must be a phone number in international format, e.g. 16315551234"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_e164_digits() {
        assert_eq!(phone_number("+1 631").ok(), None);
        assert_eq!(phone_number("+16315551234").unwrap(), "16315551234");
        assert!(phone_number("16315551234x").is_err());
        assert!(phone_number("123").is_err());
    }

    #[test]
    fn a_message_goes_to_a_phone_or_a_bsuid_never_both() {
        assert_eq!(addressee(Some("+16315551234"), None).unwrap(), Addressee::Phone("16315551234".into()));
        assert_eq!(
            addressee(None, Some("US.13491208655302741918")).unwrap(),
            Addressee::User("US.13491208655302741918".into())
        );
        assert!(addressee(None, Some("US.ENT.1181579")).is_ok(), "a parent BSUID");
        for (to, recipient) in
            [(None, None), (Some("16315551234"), Some("US.1")), (None, Some("16315551234")), (None, Some("us.1"))]
        {
            assert!(addressee(to, recipient).is_err(), "{to:?} {recipient:?}");
        }
    }

    #[test]
    fn cursors_only_name_message_keys() {
        let cursor = crypto::base64url(b"0000000001#in#wamid.x");
        assert!(decode_cursor(&cursor).is_ok());
        assert!(decode_cursor(&crypto::base64url(b"PROFILE")).is_err());
        assert!(decode_cursor(&crypto::base64url(b"MSG#0000000001#in#wamid.x")).is_err());
        assert!(decode_cursor("%%%").is_err());
    }
}
