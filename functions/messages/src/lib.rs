//! Messages — the "dashboard chat" read point of seed 002.
//!
//! `POST /api/v1/organizations/{organizationId}/whatsapp/messages` `{to, text, phoneNumberId?}`
//! reads the PhoneNumber authority, opens its token and sends through Meta; the sent message
//! is stored so the inbox shows it. `GET …/messages?limit&cursor` lists the organization's
//! received messages, sent messages and delivery statuses, newest first.

use serde::Deserialize;
use serde_json::json;
use shared::cipher::{Purpose, TokenContext};
use shared::domain::{AccessToken, Direction, EventKind, MessageEvent, OrganizationId, PhoneNumberId, Source};
use shared::lifecycle;
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, crypto};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// Meta's limit for a text message body.
const MAX_TEXT_CHARS: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Send {
    to: String,
    text: String,
    phone_number_id: Option<PhoneNumberId>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    let organization = app.owned_organization(&caller, &id).await?;
    match request.route.action {
        Action::SendMessage => send(app, &organization.id, request.json()?).await,
        Action::ListMessages => list(app, &organization.id, &request).await,
        other => Err(ApiError::internal(format!("messages does not serve {other:?}"))),
    }
}

async fn send(app: &App, organization: &OrganizationId, body: Send) -> Result<Response, ApiError> {
    let to = recipient(&body.to)?;
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::validation(format!("`text` must be 1 to {MAX_TEXT_CHARS} characters")));
    }
    let phones = app.records.phones(organization).await?;
    // The given phone, else the first that can send, else the first connected one (whose
    // refusal then says why it cannot).
    let phone = match &body.phone_number_id {
        Some(id) => phones.iter().find(|p| &p.phone_number_id == id && p.is_active()),
        None => phones.iter().find(|p| p.can_send()).or_else(|| phones.iter().find(|p| p.is_active())),
    }
    .ok_or_else(ApiError::not_connected)?;
    // Meta would refuse an unregistered number (133010), a dead token (190) or a restricted
    // account; it is not asked.
    if !phone.registration.allows_sending() {
        return Err(ApiError::not_registered(shared::registration::action(phone)));
    }
    lifecycle::refuse_send(phone, app.now())?;

    let sealed = phone.token().ok_or_else(ApiError::not_connected)?;
    let token: AccessToken = app.cipher.open(sealed, TokenContext::new(organization, Purpose::PhoneToken)).await?;
    let sent = app.meta()?.send_text(&token, &phone.phone_number_id, &to, text).await;
    drop(token);
    let message_id = match sent {
        Ok(id) => id,
        Err(refusal) => {
            lifecycle::graph_refused(app, phone, &refusal, Source::Api).await;
            return Err(refusal.into());
        }
    };

    let now = app.now();
    let sent = MessageEvent {
        organization_id: organization.clone(),
        phone_number_id: phone.phone_number_id.clone(),
        waba_id: phone.waba_id.clone(),
        kind: EventKind::Message { direction: Direction::Outbound },
        message_id: message_id.clone(),
        from: Some(phone.display_digits()),
        to: Some(to),
        contact_name: None,
        message_type: Some("text".into()),
        text: Some(text.to_owned()),
        timestamp: now,
        received_at: now,
        payload: None,
    };
    app.records.store_sent(&sent, app.config.message_retention.as_secs() as i64).await?;
    tracing::info!(organization = %organization, phone = %phone.phone_number_id, "message sent");
    Ok(Response::ok(&json!({ "success": true, "messageId": message_id })))
}

async fn list(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let before = request.query_value("cursor").map(decode_cursor).transpose()?;
    let (events, next) = app.records.messages(organization, limit, before).await?;
    Ok(Response::ok(&json!({
        "success": true,
        "messages": events.iter().map(MessageEvent::view).collect::<Vec<_>>(),
        "nextCursor": next.map(|sk| crypto::base64url(sk.as_bytes())),
    })))
}

/// A cursor is an opaque encoding of a position (`{time}#{identity}`) inside the caller's
/// own partition, so it can only ever page through the organization it was issued for.
fn decode_cursor(raw: &str) -> Result<String, ApiError> {
    crypto::from_base64url(raw)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|position| {
            let (time, identity) = position.split_once('#').unwrap_or_default();
            time.len() == 10
                && time.bytes().all(|b| b.is_ascii_digit())
                && !identity.is_empty()
                && position.len() < 1024
        })
        .ok_or_else(|| ApiError::validation("`cursor` is not a cursor this API issued"))
}

/// A WhatsApp recipient: 7 to 15 digits (E.164 without the `+`).
fn recipient(raw: &str) -> Result<String, ApiError> {
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
        assert_eq!(recipient("+1 631").ok(), None);
        assert_eq!(recipient("+16315551234").unwrap(), "16315551234");
        assert!(recipient("16315551234x").is_err());
        assert!(recipient("123").is_err());
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
