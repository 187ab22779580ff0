//! Connection status — `GET /api/integrations/whatsapp/status` (the caller's organization)
//! and `GET /api/v1/organizations/{organizationId}/whatsapp/status` — and the event trail,
//! `GET /api/v1/organizations/{organizationId}/whatsapp/events?limit&cursor`.
//!
//! Read from the PhoneNumber authority; `connected` is true exactly when a phone is active,
//! `canSend` when one can send now, and `action` says what a person must do when something
//! needs them (connect again, a two-step verification PIN, a refused registration, a
//! restriction). The trail lists what changed on the connection, newest first.

use serde_json::json;
use shared::domain::{ConnectionEvent, OrganizationId, PhoneNumber};
use shared::routes::Action;
use shared::store::records::EVENT_PREFIX;
use shared::{ApiError, App, Request, Response, http, lifecycle};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization = match request.route.action {
        Action::OrganizationStatus | Action::ListEvents => {
            let id: OrganizationId = request.path("organizationId")?;
            app.owned_organization(&caller, &id).await?
        }
        _ => app.caller_organization(&caller).await?,
    };
    if request.route.action == Action::ListEvents {
        return events(app, &organization.id, &request).await;
    }
    let now = app.now();
    let phones = app.records.phones(&organization.id).await?;
    let action = phones.iter().find_map(|p| lifecycle::action(p, now));
    Ok(Response::ok(&json!({
        "success": true,
        "organizationId": organization.id,
        "connected": phones.iter().any(PhoneNumber::is_active),
        "canSend": phones.iter().any(|p| p.can_send_at(now)),
        "wabaId": organization.waba_id,
        "action": action,
        "phoneNumbers": phones.iter().map(PhoneNumber::view).collect::<Vec<_>>(),
    })))
}

async fn events(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let after = request.query_value("cursor").map(decode_cursor).transpose()?;
    let (events, next) = app.records.events(organization, limit, after).await?;
    Ok(Response::ok(&json!({
        "success": true,
        "events": events.iter().map(ConnectionEvent::view).collect::<Vec<_>>(),
        "nextCursor": next.as_deref().map(http::encode_cursor),
    })))
}

/// A cursor is an opaque encoding of an event's sort key, and the query it continues is
/// always in the caller's own partition: a cursor from another organization names no event
/// of this one.
fn decode_cursor(raw: &str) -> Result<String, ApiError> {
    http::decode_cursor(raw, |sk| (sk.starts_with(EVENT_PREFIX) && sk.len() < 256).then(|| sk.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::crypto;

    #[test]
    fn cursors_only_name_event_keys() {
        assert!(decode_cursor(&crypto::base64url(b"EVENT#0000000001#abc")).is_ok());
        assert!(decode_cursor(&crypto::base64url(b"MSG#in#wamid.x")).is_err());
        assert!(decode_cursor("%%%").is_err());
    }
}
