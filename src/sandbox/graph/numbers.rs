//! WhatsApp Business Accounts and their numbers: the objects, their edges, the app's
//! webhook subscription, and Cloud API registration (`POST /{phone}/register`) with its
//! two-step verification PIN and its allowance of ten attempts per 72 hours. A number's
//! verification is in [`super::verification`], a coexistence number's syncs in
//! [`super::coexistence`].

use http::Method;
use serde_json::{Value, json};

use super::super::seed::{self, Business, Phone, Waba};
use super::super::state::{REGISTRATION_ATTEMPTS, State};
use super::{Call, GraphError, Node, Session, project};
use crate::sandbox::Sandbox;

/// Meta's default fields on a phone number.
const PHONE_DEFAULT_FIELDS: &[&str] = &[
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "code_verification_status",
    "platform_type",
    "throughput",
];
const PHONE_NODE: &str = "WhatsAppBusinessPhoneNumber";
const WABA_NODE: &str = "WhatsAppBusinessAccount";

impl Sandbox {
    pub(super) fn node(&self, call: &Call<'_>, session: &Session, id: &str) -> Result<Value, GraphError> {
        let node = session.resolve(id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
        call.require_get(id)?;
        match node {
            Node::User => {}
            Node::Business(_) => session.require("business_management")?,
            Node::Waba(_) | Node::Phone(_) => session.require("whatsapp_business_management")?,
        }
        let fields = call.params.get("fields");
        match node {
            Node::User => project(&user_fields(session), fields, &["id", "name"], "User"),
            Node::Business(b) => project(&business_fields(b), fields, &["id", "name"], "Business"),
            Node::Waba(w) => project(&waba_fields(w), fields, &["id", "name"], WABA_NODE),
            Node::Phone(p) => project(&phone_fields(&self.lock(), p), fields, PHONE_DEFAULT_FIELDS, PHONE_NODE),
        }
    }

    pub(super) fn edge(&self, call: &Call<'_>, session: &Session, id: &str, edge: &str) -> Result<Value, GraphError> {
        let node = session.resolve(id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
        // Meta's permissions: the businesses are business_management's; sending and media
        // whatsapp_business_messaging's; the rest of a WABA and its numbers
        // whatsapp_business_management's.
        session.require(match (&node, edge) {
            (Node::User | Node::Business(_), _) => "business_management",
            (Node::Phone(_), "messages" | "media") => "whatsapp_business_messaging",
            _ => "whatsapp_business_management",
        })?;
        let fields = call.params.get("fields");
        match (node, edge) {
            (Node::User, "businesses") => {
                call.require_get(id)?;
                let items: Vec<Value> = seed::BUSINESSES
                    .iter()
                    .filter_map(|b| session.visible_business(b.id))
                    .map(|b| project(&business_fields(b), fields, &["id", "name"], "Business"))
                    .collect::<Result<_, _>>()?;
                self.page(call, &items)
            }
            (Node::Business(business), "owned_whatsapp_business_accounts" | "client_whatsapp_business_accounts") => {
                call.require_get(id)?;
                // The seeded businesses own their WABAs; none is shared with them
                // by a client, so the client edge is always empty.
                let owned: Vec<&Waba> = if edge == "owned_whatsapp_business_accounts" {
                    session.granted_wabas().filter(|w| w.business_id == business.id).collect()
                } else {
                    Vec::new()
                };
                let items: Vec<Value> = owned
                    .into_iter()
                    .map(|w| project(&waba_fields(w), fields, &["id", "name"], WABA_NODE))
                    .collect::<Result<_, _>>()?;
                self.page(call, &items)
            }
            (Node::Waba(waba), "phone_numbers") => {
                call.require_get(id)?;
                let items: Vec<Value> = {
                    let state = self.lock();
                    seed::phones_of(waba.id)
                        .map(|p| project(&phone_fields(&state, p), fields, PHONE_DEFAULT_FIELDS, PHONE_NODE))
                        .collect::<Result<_, _>>()?
                };
                self.page(call, &items)
            }
            (Node::Waba(waba), "subscribed_apps") => self.subscribed_apps(call, waba),
            (Node::Waba(waba), "message_templates") => self.message_templates(call, waba),
            (Node::Phone(phone), "register") => self.register(call, phone),
            (Node::Phone(phone), "request_code") => self.request_code(call, phone),
            (Node::Phone(phone), "verify_code") => self.verify_code(call, phone),
            (Node::Phone(phone), "smb_app_data") => self.smb_app_data(call, phone),
            (Node::Phone(phone), "messages") => self.send_message(call, phone),
            (Node::Phone(phone), "media") => self.upload_media(call, phone),
            (Node::Phone(phone), "whatsapp_business_profile") => self.business_profile(call, phone),
            (Node::Phone(phone), "message_qrdls") => self.qr_codes(call, phone, None),
            (Node::Phone(phone), "block_users") => self.block_users(call, phone),
            (Node::Phone(phone), "conversational_automation") => self.conversational_automation(call, phone),
            (Node::Phone(phone), "whatsapp_commerce_settings") => self.commerce_settings(call, phone),
            _ => Err(GraphError::unknown_path(edge)),
        }
    }

    fn subscribed_apps(&self, call: &Call<'_>, waba: &Waba) -> Result<Value, GraphError> {
        let mut state = self.lock();
        match *call.method {
            Method::GET => {
                let data = if state.subscribed.contains(waba.id) {
                    json!([{
                        "whatsapp_business_api_data": {
                            "id": self.config.app_id,
                            "name": seed::APP_NAME,
                        }
                    }])
                } else {
                    json!([])
                };
                Ok(json!({ "data": data }))
            }
            Method::POST => {
                state.subscribed.insert(waba.id.to_owned());
                tracing::info!(waba_id = waba.id, "meta sandbox: app subscribed to WABA webhooks");
                Ok(json!({ "success": true }))
            }
            Method::DELETE => {
                state.subscribed.remove(waba.id);
                tracing::info!(waba_id = waba.id, "meta sandbox: app unsubscribed from WABA webhooks");
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::unsupported(call.method, waba.id)),
        }
    }

    /// `POST /{phone-number-id}/register` `{"messaging_product":"whatsapp","pin":"123456"}`.
    /// The first registration sets the number's two-step verification PIN; a number that
    /// has one already accepts only that one (133005). Every attempt counts toward ten
    /// per 72 hours (133016), refused or not. A WhatsApp Business app number
    /// (coexistence) cannot be registered.
    fn register(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if *call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        GraphError::check_product(call.params.get("messaging_product"))?;
        let pin = call.params.get("pin").ok_or_else(|| GraphError::required("pin"))?;
        if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GraphError::invalid_parameter("Param pin must be a 6-digit number."));
        }
        if phone.coexistence {
            return Err(GraphError::oauth(100, "(#100) Invalid parameter").with_details(
                "This phone number is in use with the WhatsApp Business app (coexistence) and cannot be registered \
                 or deregistered through Cloud API.",
            ));
        }
        let mut state = self.lock();
        let number = state.number(phone);
        if !number.verified {
            tracing::info!(phone = phone.id, "meta sandbox: registration of an unverified number");
            return Err(GraphError::oauth(133_006, "(#133006) Phone number re-verification needed")
                .with_details("Phone number needs to be verified before registering."));
        }
        if number.recent_attempts() >= REGISTRATION_ATTEMPTS {
            tracing::info!(phone = phone.id, "meta sandbox: registration rate limit reached");
            return Err(GraphError::oauth(133_016, "(#133016) Account register deregister rate limit exceeded")
                .with_details(
                    "Registration is limited to 10 requests per business number in a 72 hour moving window. \
                     Try again later.",
                ));
        }
        number.attempts.push(std::time::Instant::now());
        if number.pin.as_deref().is_some_and(|existing| existing != pin) {
            tracing::info!(phone = phone.id, "meta sandbox: registration with a mismatched two-step PIN");
            return Err(GraphError::oauth(133_005, "(#133005) Two step verification PIN Mismatch").with_details(
                "The two-step verification PIN you entered is incorrect. Enter the PIN set for this number, or \
                 reset it in WhatsApp Manager.",
            ));
        }
        number.pin = Some(pin.to_owned());
        number.registered = true;
        tracing::info!(phone = phone.id, "meta sandbox: number registered for Cloud API");
        Ok(json!({ "success": true }))
    }
}

fn user_fields(session: &Session) -> Value {
    if session.business {
        json!({ "id": seed::SYSTEM_USER_ID, "name": format!("{} system user", seed::APP_NAME) })
    } else {
        json!({ "id": seed::USER_ID, "name": seed::USER_NAME })
    }
}

fn business_fields(b: &Business) -> Value {
    json!({ "id": b.id, "name": b.name, "verification_status": "verified" })
}

pub(super) fn waba_fields(w: &Waba) -> Value {
    let owner = seed::business(w.business_id).map(|b| json!({ "id": b.id, "name": b.name }));
    json!({
        "id": w.id,
        "name": w.name,
        "timezone_id": w.timezone_id,
        "message_template_namespace": w.message_template_namespace,
        "currency": "USD",
        "country": "US",
        "account_review_status": "APPROVED",
        "business_verification_status": "verified",
        "owner_business_info": owner,
    })
}

/// A number as Meta describes it: `PENDING` with no platform until it is registered,
/// then `CONNECTED` on Cloud API. A coexistence number is on both the app and Cloud API.
fn phone_fields(state: &State, p: &Phone) -> Value {
    let on_cloud_api = p.coexistence || state.is_registered(p);
    json!({
        "id": p.id,
        "display_phone_number": p.display_phone_number,
        "verified_name": p.verified_name,
        "quality_rating": p.quality_rating,
        "code_verification_status": if state.is_verified(p) { "VERIFIED" } else { "NOT_VERIFIED" },
        "platform_type": if on_cloud_api { "CLOUD_API" } else { "NOT_APPLICABLE" },
        "messaging_limit_tier": seed::MESSAGING_LIMIT_TIER,
        "throughput": { "level": if on_cloud_api { "STANDARD" } else { "NOT_APPLICABLE" } },
        "name_status": "APPROVED",
        "status": if on_cloud_api { "CONNECTED" } else { "PENDING" },
        "account_mode": "LIVE",
        "is_on_biz_app": p.coexistence,
        "is_official_business_account": false,
        "health_status": health_status(state, p),
    })
}

/// `health_status`: the number's and its WABA's ability to send, each entity with the
/// errors a control gave it, and overall the worst of them.
fn health_status(state: &State, p: &Phone) -> Value {
    let entity = |entity_type: &str, id: &str, blocked: Option<&super::super::state::Blocked>| match blocked {
        None => json!({ "entity_type": entity_type, "id": id, "can_send_message": "AVAILABLE" }),
        Some(b) => json!({
            "entity_type": entity_type,
            "id": id,
            "can_send_message": b.can_send_message,
            "errors": [{
                "error_code": b.error_code,
                "error_description": b.description,
                "possible_solution": "See WhatsApp Manager.",
            }],
        }),
    };
    let number = state.number_health.get(p.id);
    let waba = state.waba_health.get(p.waba_id);
    let overall = [number, waba]
        .into_iter()
        .flatten()
        .map(|b| b.can_send_message)
        .fold("AVAILABLE", |worst, next| if worst == "BLOCKED" || next == "BLOCKED" { "BLOCKED" } else { next });
    json!({
        "can_send_message": overall,
        "entities": [entity("PHONE_NUMBER", p.id, number), entity("WABA", p.waba_id, waba)],
    })
}
