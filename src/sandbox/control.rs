//! `/control/...`: the sandbox's own endpoints, for the onboarding page and for
//! curl. They play the parts Meta plays outside the Graph API: a customer
//! writing in, a status changing, Meta rating a number, a business removing the
//! partner. They are not Graph calls, so they are neither counted nor faulted.
//!
//! - `POST /control/inbound` `{"phoneNumberId","from","text","name"?,"username"?,"withholdPhone"?}`:
//!   a customer writes in, named by BSUID always and by username if they adopted one; with
//!   `withholdPhone` their number is left out, as Meta does for a username.
//! - `POST /control/status` `{"messageId","status","errorCode"?}` (`failed` with Meta's error)
//! - `POST /control/error` `{"phoneNumberId","code"}`: value-level `errors` for a phone
//! - `POST /control/user-id-update` `{"phoneNumberId","from"}`: the customer gets a new BSUID
//!   (the old one no longer reaches them), with `user_id_update`
//! - `POST /control/template-status` `{"wabaId","name","event","reason"?}`: a template's new
//!   status (`PAUSED`, `DISABLED`, `REINSTATED`, …), with `message_template_status_update`
//! - `POST /control/quality` `{"phoneNumberId","event","currentLimit"?}`
//! - `POST /control/account-update` `{"wabaId","event"}`
//! - `GET /control/sent-messages`
//!
//! And Meta's levers on a connection's health, each what Meta does and (where Meta tells)
//! the webhook it sends:
//! - `POST /control/revoke-token` `{"wabaId"}`: the customer removed the app; every token
//!   granted for the WABA now answers 190.
//! - `POST /control/number-health` `{"phoneNumberId","canSendMessage","errorCode"?,"description"?}`:
//!   the number's `health_status` (`BLOCKED` refuses sends with 368).
//! - `POST /control/ban` `{"wabaId","state","date"?}`: `DISABLE` (sends refused with
//!   131031), `REINSTATE`, `SCHEDULE_FOR_DISABLE`, with the `DISABLED_UPDATE` webhook.
//! - `POST /control/restrict` `{"wabaId","restrictionType"?,"expiresInSeconds"?}`, with
//!   the `ACCOUNT_RESTRICTION` webhook.
//! - `POST /control/throughput` `{"phoneNumberId","event","maxDailyConversationsPerBusiness"}`
//!   and `POST /control/capability` `{"wabaId","maxDailyConversationsPerBusiness"}`: the
//!   2026 shapes of quality and limits.
//! - `POST /control/unsubscribe` `{"wabaId"}`: the app's subscription disappears.
//! - `POST /control/business-tokens` `{"expiresInSeconds","wabaId"?}`: business tokens are
//!   60-day tokens with that many seconds left, from the next code exchange on (and, with
//!   `wabaId`, the live ones granted for it); `null` issues them as configured again.
//!
//! A number's registration and verification, and Embedded Signup's popup:
//! - `POST /control/unregister` `{"phoneNumberId"}`: Meta no longer has the number registered
//!   (the customer deregistered it, or moved it): its sends are refused with 133010.
//! - `GET /control/verification-code?phoneNumberId=`: the code Meta last sent to a number it
//!   has not verified — what the person reads on the phone.
//! - `POST /control/popup` `{"sessionEvent": "first"|"last"|"none"}`: whether the popup posts
//!   its session event before the code, after it, or not at all (a known Meta behaviour).
//!
//! A coexistence number's controls (history, echoes, contacts, offboarding) are described
//! in `coexistence.rs`.
//!
//! Webhooks are delivered before the answer, which carries the status the
//! service answered (`webhookStatus`). Errors are `{"success":false,"message"}`:
//! 400 for bad input, 502 when the webhook could not be delivered.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

mod media;

pub use media::SAMPLE_PNG;

use super::Sandbox;
use super::seed::MESSAGING_LIMIT_TIER;
use super::state::{Blocked, PopupBehaviour};
use super::webhook::WebhookError;

/// The profile name of a customer who did not give one.
const DEFAULT_CUSTOMER_NAME: &str = "Sandbox Customer";

const PATHS: [&str; 26] = [
    "inbound-media",
    "unregister",
    "verification-code",
    "popup",
    "history",
    "history-sharing",
    "echo",
    "contacts",
    "offboard",
    "reconnect",
    "error",
    "user-id-update",
    "template-status",
    "inbound",
    "status",
    "quality",
    "account-update",
    "sent-messages",
    "revoke-token",
    "number-health",
    "ban",
    "restrict",
    "throughput",
    "capability",
    "unsubscribe",
    "business-tokens",
];
/// What a restricted account may not do, by default: start conversations.
const DEFAULT_RESTRICTION: &str = "RESTRICTED_BIZ_INITIATED_MESSAGING";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Waba {
    waba_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Phone {
    phone_number_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Popup {
    session_event: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NumberHealth {
    phone_number_id: String,
    can_send_message: String,
    error_code: Option<i64>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Ban {
    waba_id: String,
    state: String,
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Restrict {
    waba_id: String,
    restriction_type: Option<String>,
    expires_in_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Throughput {
    phone_number_id: String,
    event: String,
    max_daily_conversations_per_business: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Capability {
    waba_id: String,
    max_daily_conversations_per_business: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BusinessTokens {
    expires_in_seconds: Option<u64>,
    waba_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inbound {
    phone_number_id: String,
    from: String,
    text: String,
    name: Option<String>,
    /// A customer who adopted a WhatsApp username.
    username: Option<String>,
    /// Their number is withheld from the business (needs a username).
    withhold_phone: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    message_id: String,
    status: String,
    /// With `failed`: the error Meta reports.
    error_code: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserIdUpdate {
    phone_number_id: String,
    from: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TemplateStatus {
    waba_id: String,
    name: String,
    event: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValueError {
    phone_number_id: String,
    code: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Quality {
    phone_number_id: String,
    event: String,
    current_limit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountUpdate {
    waba_id: String,
    event: String,
}

/// A control request that could not be carried out.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<WebhookError> for Refusal {
    fn from(error: WebhookError) -> Self {
        let status = match error {
            WebhookError::Invalid(_) => StatusCode::BAD_REQUEST,
            WebhookError::Undelivered(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, error.to_string())
    }
}

impl Sandbox {
    pub(super) async fn control(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path().trim_start_matches("/control/");
        let answer = match (req.method(), path) {
            (&Method::POST, "inbound") => self.control_inbound(req.body()).await,
            (&Method::POST, "inbound-media") => self.control_inbound_media(req.body()).await,
            (&Method::POST, "status") => self.control_status(req.body()).await,
            (&Method::POST, "quality") => self.control_quality(req.body()).await,
            (&Method::POST, "account-update") => self.control_account_update(req.body()).await,
            (&Method::GET, "sent-messages") => Ok(self.control_sent_messages()),
            (&Method::POST, "revoke-token") => self.control_revoke_token(req.body()),
            (&Method::POST, "number-health") => self.control_number_health(req.body()),
            (&Method::POST, "ban") => self.control_ban(req.body()).await,
            (&Method::POST, "restrict") => self.control_restrict(req.body()).await,
            (&Method::POST, "throughput") => self.control_throughput(req.body()).await,
            (&Method::POST, "capability") => self.control_capability(req.body()).await,
            (&Method::POST, "unsubscribe") => self.control_unsubscribe(req.body()),
            (&Method::POST, "business-tokens") => self.control_business_tokens(req.body()),
            (&Method::POST, "error") => self.control_value_error(req.body()).await,
            (&Method::POST, "user-id-update") => self.control_user_id_update(req.body()).await,
            (&Method::POST, "template-status") => self.control_template_status(req.body()).await,
            (&Method::POST, "unregister") => self.control_unregister(req.body()),
            (&Method::GET, "verification-code") => self.control_verification_code(req.uri().query()),
            (&Method::POST, "popup") => self.control_popup(req.body()),
            (&Method::POST, "history" | "history-sharing" | "echo" | "contacts" | "offboard" | "reconnect") => {
                self.control_coexistence(path, req.body()).await
            }
            _ if PATHS.contains(&path) => Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")),
            _ => Err(Refusal::new(StatusCode::NOT_FOUND, "No such sandbox control.")),
        };
        match answer {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(refusal) => json_response(refusal.status, &json!({ "success": false, "message": refusal.message })),
        }
    }

    async fn control_inbound(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Inbound { phone_number_id, from, text, name, username, withhold_phone } = parse(body)?;
        let name = given(name.as_deref()).unwrap_or(DEFAULT_CUSTOMER_NAME);
        let username = given(username.as_deref());
        let withhold = withhold_phone.unwrap_or(false);
        let (message_id, status) =
            self.inbound_webhook(&phone_number_id, &from, name, &text, username, withhold).await?;
        Ok(json!({ "success": true, "messageId": message_id, "webhookStatus": status }))
    }

    async fn control_status(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Status { message_id, status, error_code } = parse(body)?;
        let answered = match (status.as_str(), error_code) {
            ("failed", Some(code)) => self.failed_webhook(&message_id, code).await?,
            ("failed", None) => {
                return Err(Refusal::new(StatusCode::BAD_REQUEST, "A failed status needs its `errorCode`."));
            }
            (_, Some(_)) => {
                return Err(Refusal::new(StatusCode::BAD_REQUEST, "Only a failed status has an `errorCode`."));
            }
            (_, None) => self.status_webhook(&message_id, &status).await?,
        };
        Ok(json!({ "success": true, "webhookStatus": answered }))
    }

    async fn control_quality(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Quality { phone_number_id, event, current_limit } = parse(body)?;
        let current_limit = given(current_limit.as_deref()).unwrap_or(MESSAGING_LIMIT_TIER);
        let status = self.quality_webhook(&phone_number_id, &event, current_limit).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    async fn control_account_update(&self, body: &[u8]) -> Result<Value, Refusal> {
        let AccountUpdate { waba_id, event } = parse(body)?;
        let status = self.account_update_webhook(&waba_id, &event).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    async fn control_user_id_update(&self, body: &[u8]) -> Result<Value, Refusal> {
        let UserIdUpdate { phone_number_id, from } = parse(body)?;
        let (status, user_id) = self.user_id_update_webhook(&phone_number_id, &from).await?;
        Ok(json!({ "success": true, "webhookStatus": status, "userId": user_id }))
    }

    async fn control_template_status(&self, body: &[u8]) -> Result<Value, Refusal> {
        let TemplateStatus { waba_id, name, event, reason } = parse(body)?;
        let waba = waba(&waba_id)?;
        if !super::graph::templates::known(&name) {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, format!("No template named {name}.")));
        }
        if !super::graph::templates::is_status(&event) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "`event` must be a template status such as APPROVED or PAUSED.",
            ));
        }
        let status = if event == "REINSTATED" { "APPROVED" } else { event.as_str() };
        let mut ids = Vec::new();
        {
            let mut state = self.lock();
            for template in super::graph::templates::TEMPLATES.iter().filter(|t| t.name == name) {
                state.template_status.insert((waba.id.to_owned(), template.name, template.language), status.to_owned());
                ids.push(template.language);
            }
        }
        let answered = self.template_status_webhook(waba.id, &name, ids[0], &event, given(reason.as_deref())).await?;
        Ok(json!({ "success": true, "webhookStatus": answered }))
    }

    async fn control_value_error(&self, body: &[u8]) -> Result<Value, Refusal> {
        let ValueError { phone_number_id, code } = parse(body)?;
        let status = self.value_error_webhook(&phone_number_id, code).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    fn control_revoke_token(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Waba { waba_id } = parse(body)?;
        let waba = waba(&waba_id)?;
        let mut state = self.lock();
        let mut revoked = 0;
        for token in state.tokens.values_mut().filter(|t| !t.revoked && t.grant.allows(waba.id)) {
            token.revoked = true;
            revoked += 1;
        }
        tracing::info!(waba_id = waba.id, revoked, "meta sandbox: tokens revoked");
        Ok(json!({ "success": true, "revoked": revoked }))
    }

    fn control_number_health(&self, body: &[u8]) -> Result<Value, Refusal> {
        let NumberHealth { phone_number_id, can_send_message, error_code, description } = parse(body)?;
        let phone = super::seed::phone(&phone_number_id).ok_or_else(|| {
            Refusal::new(StatusCode::BAD_REQUEST, format!("Unknown phone number id {phone_number_id}."))
        })?;
        let mut state = self.lock();
        match can_send_message.as_str() {
            "AVAILABLE" => {
                state.number_health.remove(phone.id);
            }
            level @ ("BLOCKED" | "LIMITED") => {
                let blocked = Blocked {
                    can_send_message: if level == "BLOCKED" { "BLOCKED" } else { "LIMITED" },
                    error_code: error_code.unwrap_or(141_000),
                    description: given(description.as_deref()).unwrap_or("The number cannot send messages.").to_owned(),
                };
                state.number_health.insert(phone.id, blocked);
            }
            _ => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "`canSendMessage` must be AVAILABLE, LIMITED or BLOCKED.",
                ));
            }
        }
        Ok(json!({ "success": true }))
    }

    async fn control_ban(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Ban { waba_id, state: ban_state, date } = parse(body)?;
        let waba = waba(&waba_id)?;
        match ban_state.as_str() {
            "DISABLE" => {
                let blocked = Blocked {
                    can_send_message: "BLOCKED",
                    error_code: 131_031,
                    description: "The WhatsApp Business Account is disabled.".into(),
                };
                self.lock().waba_health.insert(waba.id, blocked);
            }
            "REINSTATE" => {
                self.lock().waba_health.remove(waba.id);
            }
            "SCHEDULE_FOR_DISABLE" => {}
            _ => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "`state` must be DISABLE, REINSTATE or SCHEDULE_FOR_DISABLE.",
                ));
            }
        }
        let status = self.ban_webhook(waba.id, &ban_state, given(date.as_deref())).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    async fn control_restrict(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Restrict { waba_id, restriction_type, expires_in_seconds } = parse(body)?;
        let waba = waba(&waba_id)?;
        let restriction = given(restriction_type.as_deref()).unwrap_or(DEFAULT_RESTRICTION);
        let shaped =
            restriction.starts_with("RESTRICTED_") && restriction.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if !shaped {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "`restrictionType` must be one of Meta's, e.g. RESTRICTED_BIZ_INITIATED_MESSAGING.",
            ));
        }
        let expires = super::state::unix_now() + expires_in_seconds.unwrap_or(7 * 86_400);
        // Meta writes the expiration as a date and time with an offset.
        let expiration = shared::clock::Timestamp(expires as i64).to_rfc3339().replace('Z', "+0000");
        self.lock().waba_health.insert(
            waba.id,
            Blocked {
                can_send_message: "LIMITED",
                error_code: 131_031,
                description: format!("{restriction} until {expiration}."),
            },
        );
        let status = self.restriction_webhook(waba.id, restriction, &expiration).await?;
        Ok(json!({ "success": true, "webhookStatus": status, "expiration": expiration }))
    }

    async fn control_throughput(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Throughput { phone_number_id, event, max_daily_conversations_per_business } = parse(body)?;
        let status = self.throughput_webhook(&phone_number_id, &event, &max_daily_conversations_per_business).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    async fn control_capability(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Capability { waba_id, max_daily_conversations_per_business } = parse(body)?;
        let status = self.capability_webhook(&waba_id, &max_daily_conversations_per_business).await?;
        Ok(json!({ "success": true, "webhookStatus": status }))
    }

    fn control_unsubscribe(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Waba { waba_id } = parse(body)?;
        let waba = waba(&waba_id)?;
        let was = self.lock().subscribed.remove(waba.id);
        tracing::info!(waba_id = waba.id, "meta sandbox: the app's subscription was dropped");
        Ok(json!({ "success": true, "wasSubscribed": was }))
    }

    fn control_business_tokens(&self, body: &[u8]) -> Result<Value, Refusal> {
        let BusinessTokens { expires_in_seconds, waba_id } = parse(body)?;
        let waba = waba_id.as_deref().map(waba).transpose()?;
        let mut state = self.lock();
        state.business_token_secs_left = expires_in_seconds;
        let mut shortened = 0;
        if let (Some(waba), Some(seconds)) = (waba, expires_in_seconds) {
            let live: Vec<String> = state
                .tokens
                .iter()
                .filter(|(_, t)| !t.revoked && !t.is_expired() && t.grant.allows(waba.id))
                .filter(|(_, t)| matches!(t.kind, super::state::TokenKind::Business { .. }))
                .map(|(token, _)| token.clone())
                .collect();
            for token in &live {
                state.shorten(token, seconds);
            }
            shortened = live.len();
        }
        Ok(json!({ "success": true, "shortened": shortened }))
    }

    /// A coexistence number's controls (see `coexistence.rs`).
    async fn control_coexistence(&self, path: &str, body: &[u8]) -> Result<Value, Refusal> {
        Ok(match path {
            "history" => json!({ "success": true, "webhookStatus": self.history_chunk_webhook(parse(body)?).await? }),
            "history-sharing" => {
                self.set_history_sharing(parse(body)?)?;
                json!({ "success": true })
            }
            "echo" => {
                let (message_id, status) = self.echo_webhook(parse(body)?).await?;
                json!({ "success": true, "messageId": message_id, "webhookStatus": status })
            }
            "contacts" => json!({ "success": true, "webhookStatus": self.contacts_webhook(parse(body)?).await? }),
            _ => {
                let Waba { waba_id } = parse(body)?;
                let event = if path == "offboard" { "ACCOUNT_OFFBOARDED" } else { "ACCOUNT_RECONNECTED" };
                json!({ "success": true, "webhookStatus": self.coexistence_account_webhook(&waba_id, event).await? })
            }
        })
    }

    fn control_unregister(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Phone { phone_number_id } = parse(body)?;
        let phone = phone(&phone_number_id)?;
        if phone.coexistence {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "A WhatsApp Business app number is never registered."));
        }
        let was = std::mem::replace(&mut self.lock().number(phone).registered, false);
        tracing::info!(phone = phone.id, "meta sandbox: number unregistered behind the service's back");
        Ok(json!({ "success": true, "wasRegistered": was }))
    }

    fn control_verification_code(&self, query: Option<&str>) -> Result<Value, Refusal> {
        let phone_number_id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "phoneNumberId")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "`phoneNumberId` is required."))?;
        let phone = phone(&phone_number_id)?;
        let code = self.verification_code(phone.id).ok_or_else(|| {
            Refusal::new(StatusCode::NOT_FOUND, "No valid verification code was sent to this number.")
        })?;
        Ok(json!({ "success": true, "code": code }))
    }

    fn control_popup(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Popup { session_event } = parse(body)?;
        let behaviour = match session_event.as_str() {
            "first" => PopupBehaviour::SessionFirst,
            "last" => PopupBehaviour::CodeFirst,
            "none" => PopupBehaviour::NoSession,
            _ => return Err(Refusal::new(StatusCode::BAD_REQUEST, "`sessionEvent` must be first, last or none.")),
        };
        self.lock().popup = behaviour;
        Ok(json!({ "success": true }))
    }

    fn control_sent_messages(&self) -> Value {
        let data: Vec<Value> = self
            .lock()
            .sent
            .iter()
            .map(|sent| {
                json!({
                    "phoneNumberId": sent.message.phone_number_id,
                    "to": sent.message.to,
                    "body": sent.message.body,
                    "messageId": sent.message.message_id,
                    "timestamp": sent.sent_at,
                })
            })
            .collect();
        json!({ "data": data })
    }
}

/// An optional field's value; a form left blank sends it empty, which means
/// "not given" too.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

fn phone(phone_number_id: &str) -> Result<&'static super::seed::Phone, Refusal> {
    super::seed::phone(phone_number_id)
        .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, format!("Unknown phone number id {phone_number_id}.")))
}

fn waba(waba_id: &str) -> Result<&'static super::seed::Waba, Refusal> {
    super::seed::waba(waba_id).ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, format!("Unknown WABA {waba_id}.")))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|error| Refusal::new(StatusCode::BAD_REQUEST, format!("The body is not valid: {error}.")))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(Bytes::from(body.to_string()))
        .expect("static response parts are valid")
}
