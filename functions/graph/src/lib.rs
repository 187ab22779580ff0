//! The business's WhatsApp settings through the connection:
//! `GET|POST|DELETE …/whatsapp/graph/{objectId}/{edge}[/{itemId}]` (JWT, the organization's
//! owner), Meta's own API for what a business manages in WhatsApp Manager, with the token
//! kept here. The query and the JSON body go to Meta as they are, and Meta's answer comes
//! back as Meta sent it (status and body).
//!
//! Only the organization's objects: a phone of its that is connected, or its WABA (else
//! 404). Only the edges [`allowed`] lists (else 403 `edge_not_allowed`); the edges this
//! service owns (`register`, `subscribed_apps`, `messages`, `media`, …) are not among them.
//! Meta's refusals of the token or the account (190, 131031, 368) are the connection's
//! health, as on any other call.

use http::StatusCode;
use shared::domain::{OrganizationId, PhoneNumber};
use shared::{ApiError, App, Request, Response, lifecycle};

/// Whom an edge is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Phone,
    Waba,
}

/// The edges reachable through the route, with their methods: what a business manages in
/// WhatsApp Manager, nothing this service does itself. `item` is whether the path names one
/// item of the edge (`message_qrdls/{code}`).
fn allowed(object: Object, edge: &str, item: bool, method: &str) -> bool {
    let methods: &[&str] = match (object, edge, item) {
        (Object::Phone, "whatsapp_business_profile", false) => &["GET", "POST"],
        // Meta updates a QR code by POSTing its `code` to the edge; one code is read or
        // deleted by its path.
        (Object::Phone, "message_qrdls", false) => &["GET", "POST"],
        (Object::Phone, "message_qrdls", true) => &["GET", "DELETE"],
        (Object::Phone, "block_users", false) => &["GET", "POST", "DELETE"],
        (Object::Phone, "conversational_automation", false) => &["POST"],
        (Object::Phone, "whatsapp_commerce_settings", false) => &["GET", "POST"],
        (Object::Waba, "message_templates", false) => &["GET", "POST", "DELETE"],
        (Object::Waba, "phone_numbers", false) => &["GET"],
        _ => &[],
    };
    methods.contains(&method)
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    let object_id = request.path_params.get("objectId").cloned().unwrap_or_default();
    let edge = request.path_params.get("edge").cloned().unwrap_or_default();
    let item = request.path_params.get("itemId").cloned();
    let organization = app.owned_organization(&caller, &id).await?;
    let phones = app.records.phones(&organization.id).await?;
    let active: Vec<&PhoneNumber> = phones.iter().filter(|p| p.is_active()).collect();
    // The object, and the connected phone whose token speaks for it.
    let (object, phone) = match active.iter().find(|p| p.phone_number_id.as_str() == object_id) {
        Some(phone) => (Object::Phone, *phone),
        None => match active.iter().find(|p| p.waba_id.as_str() == object_id) {
            Some(phone) => (Object::Waba, *phone),
            None => {
                return Err(ApiError::not_found(
                    "No connected phone number or WhatsApp Business Account of this organization has this id.",
                ));
            }
        },
    };
    let method = request.route.method;
    if !allowed(object, &edge, item.is_some(), method) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "edge_not_allowed",
            format!(
                "`{method} {edge}{}` is not reachable through this route.",
                if item.is_some() { "/{item}" } else { "" }
            ),
        )
        .with_action("Use this service's own routes for messages, media, registration and subscriptions."));
    }
    if let Some(item) = &item
        && !(1..=64).contains(&item.len())
    {
        return Err(ApiError::validation("The item id is not one of Meta's."));
    }
    let body = if request.body.is_empty() {
        None
    } else {
        let value: serde_json::Value = request.json()?;
        if !value.is_object() {
            return Err(ApiError::validation("The body must be a JSON object, as Meta takes it."));
        }
        Some(value)
    };
    let smuggled = request.query.iter().any(|(k, _)| k == "access_token" || k == "appsecret_proof")
        || body.as_ref().is_some_and(|b| b.get("access_token").is_some() || b.get("appsecret_proof").is_some());
    if smuggled {
        return Err(ApiError::validation("`access_token` is this service's to give, never the caller's."));
    }
    let path = match &item {
        Some(item) => format!("{object_id}/{edge}/{item}"),
        None => format!("{object_id}/{edge}"),
    };
    let query: Vec<(&str, &str)> = request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let token = lifecycle::phone_token(app, phone).await?;
    let answered = app.meta()?.pass_through(&token, method, &path, &query, body.as_ref()).await;
    drop(token);
    let (status, answer) = lifecycle::answered(app, phone, answered).await?;
    if let Some(refusal) = shared::meta::refusal_of(status, &answer) {
        // Meta's refusal is the caller's answer as Meta gave it; what it says about the
        // connection is recorded as for any call.
        lifecycle::graph_refused(
            app,
            phone,
            &shared::meta::MetaError::Graph(Box::new(refusal)),
            shared::domain::Source::Api,
        )
        .await;
    }
    tracing::info!(organization = %organization.id, edge = %edge, status, "graph route");
    Ok(Response::json(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edges_this_service_owns_are_never_reachable() {
        for edge in [
            "register",
            "deregister",
            "subscribed_apps",
            "request_code",
            "verify_code",
            "messages",
            "media",
            "smb_app_data",
            "assigned_users",
        ] {
            for method in ["GET", "POST", "DELETE"] {
                assert!(!allowed(Object::Phone, edge, false, method), "{method} {edge}");
                assert!(!allowed(Object::Waba, edge, false, method), "{method} {edge}");
            }
        }
        assert!(allowed(Object::Phone, "whatsapp_business_profile", false, "POST"));
        assert!(!allowed(Object::Phone, "whatsapp_business_profile", false, "DELETE"));
        assert!(!allowed(Object::Waba, "whatsapp_business_profile", false, "GET"), "a profile is a phone's");
        assert!(allowed(Object::Phone, "message_qrdls", true, "DELETE"));
        assert!(!allowed(Object::Phone, "block_users", true, "GET"));
    }
}
