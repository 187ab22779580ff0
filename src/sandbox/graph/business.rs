//! What a business manages in WhatsApp Manager, on a phone number: its business profile
//! (`whatsapp_business_profile`), QR codes (`message_qrdls`), blocked users (`block_users`),
//! conversational automation and commerce settings; with Meta's limits and errors.

use http::Method;
use serde_json::{Map, Value, json};

use super::super::seed::Phone;
use super::super::state::{self, unix_now};
use super::{Call, GraphError};
use crate::sandbox::Sandbox;

const VERTICALS: [&str; 21] = [
    "ALCOHOL",
    "APPAREL",
    "AUTO",
    "BEAUTY",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GOVT",
    "GROCERY",
    "HEALTH",
    "HOTEL",
    "NONPROFIT",
    "ONLINE_GAMBLING",
    "OTC_DRUGS",
    "OTHER",
    "PHYSICAL_GAMBLING",
    "PROF_SERVICES",
    "RESTAURANT",
    "RETAIL",
    "TRAVEL",
];
/// A number's QR codes, at most.
const MAX_QR_CODES: usize = 2000;
/// Only customers who wrote in the last 24 hours can be blocked.
const BLOCK_WINDOW_SECONDS: u64 = 24 * 3600;

/// The request's body as one object (JSON, or a form's parameters).
fn body(call: &Call<'_>) -> Map<String, Value> {
    call.json.clone().unwrap_or_else(|| call.params.as_object())
}

fn unexpected(key: &str, path: &str) -> GraphError {
    GraphError::oauth(100, format!("(#100) Unexpected key \"{key}\" on param \"{path}\"."))
}

fn only(object: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), GraphError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(unexpected(key, path)),
        None => Ok(()),
    }
}

fn product(object: &Map<String, Value>) -> Result<(), GraphError> {
    GraphError::check_product(object.get("messaging_product").and_then(Value::as_str))
}

fn text_at_most(object: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, GraphError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => {
            Err(GraphError::invalid_parameter(format!("Param {key} must be at most {max} characters long.")))
        }
        Some(_) => Err(GraphError::invalid_parameter(format!("Param {key} must be a string."))),
    }
}

impl Sandbox {
    pub(super) fn business_profile(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        match *call.method {
            Method::GET => {
                let state = self.lock();
                let mut profile = state.profiles.get(phone.id).cloned().unwrap_or_else(|| {
                    json!({ "about": "Hello! We use WhatsApp.", "address": "", "description": "", "email": "",
                            "profile_picture_url": "", "websites": [], "vertical": "OTHER" })
                });
                profile["messaging_product"] = "whatsapp".into();
                if let Some(fields) = call.params.get("fields") {
                    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
                    if let Some(field) = wanted.iter().find(|f| profile.get(**f).is_none()) {
                        return Err(GraphError::nonexisting_field(field, "WhatsAppBusinessProfile"));
                    }
                    let mut kept = Map::new();
                    for field in wanted {
                        kept.insert(field.to_owned(), profile[field].clone());
                    }
                    profile = Value::Object(kept);
                }
                Ok(json!({ "data": [profile] }))
            }
            Method::POST => {
                let given = body(call);
                only(
                    &given,
                    &[
                        "messaging_product",
                        "about",
                        "address",
                        "description",
                        "email",
                        "profile_picture_handle",
                        "vertical",
                        "websites",
                    ],
                    "whatsapp_business_profile",
                )?;
                product(&given)?;
                let mut updates = Map::new();
                if let Some(about) = text_at_most(&given, "about", 139)? {
                    if about.trim().is_empty() {
                        return Err(GraphError::invalid_parameter("Param about must not be empty."));
                    }
                    updates.insert("about".into(), about.into());
                }
                for (key, max) in [("address", 256), ("description", 512)] {
                    if let Some(value) = text_at_most(&given, key, max)? {
                        updates.insert(key.into(), value.into());
                    }
                }
                if let Some(email) = text_at_most(&given, "email", 128)? {
                    let valid = email.is_empty()
                        || email.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.'));
                    if !valid {
                        return Err(GraphError::invalid_parameter("Param email must be a valid email address."));
                    }
                    updates.insert("email".into(), email.into());
                }
                if let Some(vertical) = text_at_most(&given, "vertical", 32)? {
                    if !vertical.is_empty() && !VERTICALS.contains(&vertical.as_str()) {
                        return Err(GraphError::invalid_parameter(format!(
                            "Param vertical must be one of {{{}}} - got \"{vertical}\".",
                            VERTICALS.join(", ")
                        )));
                    }
                    updates.insert("vertical".into(), vertical.into());
                }
                if let Some(websites) = given.get("websites") {
                    let list = websites
                        .as_array()
                        .ok_or_else(|| GraphError::invalid_parameter("Param websites must be a list."))?;
                    let valid = list.len() <= 2
                        && list.iter().all(|w| {
                            w.as_str().is_some_and(|w| {
                                w.len() <= 256 && (w.starts_with("http://") || w.starts_with("https://"))
                            })
                        });
                    if !valid {
                        return Err(GraphError::invalid_parameter(
                            "Param websites takes at most 2 URLs of at most 256 characters, with http:// or https://.",
                        ));
                    }
                    updates.insert("websites".into(), websites.clone());
                }
                let mut state = self.lock();
                let profile = state.profiles.entry(phone.id).or_insert_with(|| {
                    json!({ "about": "Hello! We use WhatsApp.", "address": "", "description": "", "email": "",
                            "profile_picture_url": "", "websites": [], "vertical": "OTHER" })
                });
                for (key, value) in updates {
                    profile[key] = value;
                }
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::unsupported(call.method, phone.id)),
        }
    }

    /// `message_qrdls`: list, create (`prefilled_message`), update (with `code`); one code by
    /// its path: read or delete.
    pub(super) fn qr_codes(
        &self,
        call: &Call<'_>,
        phone: &'static Phone,
        code: Option<&str>,
    ) -> Result<Value, GraphError> {
        let mut state = self.lock();
        let codes = state.qr_codes.entry(phone.id).or_default();
        match (call.method.clone(), code) {
            (Method::GET, None) => Ok(json!({ "data": codes.clone() })),
            (Method::GET, Some(code)) => {
                let found = codes.iter().find(|c| c["code"] == code).ok_or_else(|| qr_not_found(code))?;
                Ok(json!({ "data": [found] }))
            }
            (Method::DELETE, Some(code)) => {
                let before = codes.len();
                codes.retain(|c| c["code"] != code);
                if codes.len() == before {
                    return Err(qr_not_found(code));
                }
                Ok(json!({ "success": true }))
            }
            (Method::POST, None) => {
                let given = body(call);
                only(&given, &["prefilled_message", "generate_qr_image", "code"], "message_qrdls")?;
                let message = text_at_most(&given, "prefilled_message", 140)?
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| GraphError::required("prefilled_message"))?;
                let image = text_at_most(&given, "generate_qr_image", 3)?;
                if image.as_deref().is_some_and(|f| f != "SVG" && f != "PNG") {
                    return Err(GraphError::invalid_parameter("Param generate_qr_image must be SVG or PNG."));
                }
                let mut answer = match given.get("code").and_then(Value::as_str) {
                    Some(code) => {
                        let existing =
                            codes.iter_mut().find(|c| c["code"] == code).ok_or_else(|| qr_not_found(code))?;
                        existing["prefilled_message"] = message.clone().into();
                        existing.clone()
                    }
                    None => {
                        if codes.len() >= MAX_QR_CODES {
                            return Err(GraphError::invalid_parameter("A number has at most 2000 QR codes."));
                        }
                        let code = state::random_code(14);
                        let created = json!({
                            "code": code, "prefilled_message": message,
                            "deep_link_url": format!("https://wa.me/message/{code}"),
                        });
                        codes.push(created.clone());
                        created
                    }
                };
                if let Some(format) = image {
                    answer["qr_image_url"] = format!(
                        "https://scontent.whatsapp.net/qr/{}.{}",
                        answer["code"].as_str().unwrap_or_default(),
                        format.to_ascii_lowercase()
                    )
                    .into();
                }
                Ok(answer)
            }
            _ => Err(GraphError::unsupported(call.method, phone.id)),
        }
    }

    /// `block_users`: block or unblock customers who wrote in the last 24 hours; the list.
    pub(super) fn block_users(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if *call.method == Method::GET {
            let state = self.lock();
            let blocked = state.blocked.get(phone.id).cloned().unwrap_or_default();
            let users: Vec<Value> = blocked.iter().map(|wa_id| json!({ "input": wa_id, "wa_id": wa_id })).collect();
            return Ok(json!({ "data": [{ "block_users": users }] }));
        }
        if *call.method != Method::POST && *call.method != Method::DELETE {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let given = body(call);
        only(&given, &["messaging_product", "block_users"], "block_users")?;
        product(&given)?;
        let users = given
            .get("block_users")
            .and_then(Value::as_array)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| GraphError::required("block_users"))?;
        let mut state = self.lock();
        let now = unix_now();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for user in users {
            let input = user.get("user").and_then(Value::as_str).unwrap_or_default().to_owned();
            let wa_id = super::wa_id(&input).unwrap_or_default();
            let wrote_lately = state
                .received
                .iter()
                .any(|r| r.phone_number_id == phone.id && r.wa_id == wa_id && now - r.at < BLOCK_WINDOW_SECONDS);
            if *call.method == Method::POST && !wrote_lately {
                failed.push(json!({ "input": input, "errors": [{
                    "message": "Re-engagement required", "code": 131_047,
                    "error_data": { "details": "The user has not messaged this number in the last 24 hours." },
                }] }));
                continue;
            }
            let list = state.blocked.entry(phone.id).or_default();
            if *call.method == Method::POST {
                if !list.contains(&wa_id) {
                    list.push(wa_id.clone());
                }
            } else {
                list.retain(|w| *w != wa_id);
            }
            done.push(json!({ "input": input, "wa_id": wa_id }));
        }
        let key = if *call.method == Method::POST { "added_users" } else { "removed_users" };
        let mut outcome = json!({ key: done });
        if !failed.is_empty() {
            outcome["failed_users"] = Value::Array(failed);
            return Err(GraphError::oauth(139_100, "(#139100) Failed to block/unblock users")
                .with_details("Failed to block some users, see the block_users response list for details")
                .with_answer("block_users", outcome));
        }
        Ok(json!({ "messaging_product": "whatsapp", "block_users": outcome }))
    }

    pub(super) fn conversational_automation(
        &self,
        call: &Call<'_>,
        phone: &'static Phone,
    ) -> Result<Value, GraphError> {
        if *call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let given = body(call);
        only(&given, &["enable_welcome_message", "commands", "prompts"], "conversational_automation")?;
        if let Some(prompts) = given.get("prompts") {
            let list =
                prompts.as_array().ok_or_else(|| GraphError::invalid_parameter("Param prompts must be a list."))?;
            if list.len() > 4 || list.iter().any(|p| p.as_str().is_none_or(|p| p.is_empty() || p.chars().count() > 80))
            {
                return Err(GraphError::invalid_parameter(
                    "Param prompts takes at most 4 prompts of 1 to 80 characters.",
                ));
            }
        }
        if let Some(commands) = given.get("commands") {
            let list =
                commands.as_array().ok_or_else(|| GraphError::invalid_parameter("Param commands must be a list."))?;
            let valid = list.len() <= 30
                && list.iter().all(|c| {
                    let name = c["command_name"].as_str().unwrap_or_default();
                    let description = c["command_description"].as_str().unwrap_or_default();
                    (1..=32).contains(&name.len())
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && (1..=256).contains(&description.chars().count())
                });
            if !valid {
                return Err(GraphError::invalid_parameter(
                    "Param commands takes at most 30 commands, each with a command_name (letters, digits, _) and a command_description.",
                ));
            }
        }
        self.lock().automation.insert(phone.id, Value::Object(given));
        Ok(json!({ "success": true }))
    }

    pub(super) fn commerce_settings(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        let mut state = self.lock();
        let settings = state.commerce.entry(phone.id).or_insert_with(
            || json!({ "is_cart_enabled": true, "is_catalog_visible": false, "id": format!("{}9", phone.id) }),
        );
        match *call.method {
            Method::GET => Ok(json!({ "data": [settings.clone()] })),
            Method::POST => {
                let given = body(call);
                only(&given, &["is_cart_enabled", "is_catalog_visible"], "whatsapp_commerce_settings")?;
                for (key, value) in given {
                    let flag = value
                        .as_bool()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| GraphError::invalid_parameter(format!("Param {key} must be a boolean.")))?;
                    settings[key] = flag.into();
                }
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::unsupported(call.method, phone.id)),
        }
    }
}

fn qr_not_found(code: &str) -> GraphError {
    GraphError::method(100, format!("(#100) QR code {code} does not exist for this phone number.")).with_subcode(33)
}
