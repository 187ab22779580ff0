//! `/control/...`: the sandbox's own endpoints, for the onboarding page and for
//! curl. They play the parts Meta plays outside the Graph API: a customer
//! writing in, a status changing, Meta rating a number, a business removing the
//! partner. They are not Graph calls, so they are neither counted nor faulted.
//!
//! - `POST /control/inbound` `{"phoneNumberId","from","text","name"?}`
//! - `POST /control/status` `{"messageId","status"}`
//! - `POST /control/quality` `{"phoneNumberId","event","currentLimit"?}`
//! - `POST /control/account-update` `{"wabaId","event"}`
//! - `GET /control/sent-messages`
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

use super::Sandbox;
use super::seed::MESSAGING_LIMIT_TIER;
use super::webhook::WebhookError;

/// The profile name of a customer who did not give one.
const DEFAULT_CUSTOMER_NAME: &str = "Sandbox Customer";

const PATHS: [&str; 5] = ["inbound", "status", "quality", "account-update", "sent-messages"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inbound {
    phone_number_id: String,
    from: String,
    text: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    message_id: String,
    status: String,
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
            (&Method::POST, "status") => self.control_status(req.body()).await,
            (&Method::POST, "quality") => self.control_quality(req.body()).await,
            (&Method::POST, "account-update") => self.control_account_update(req.body()).await,
            (&Method::GET, "sent-messages") => Ok(self.control_sent_messages()),
            _ if PATHS.contains(&path) => Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")),
            _ => Err(Refusal::new(StatusCode::NOT_FOUND, "No such sandbox control.")),
        };
        match answer {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(refusal) => json_response(refusal.status, &json!({ "success": false, "message": refusal.message })),
        }
    }

    async fn control_inbound(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Inbound { phone_number_id, from, text, name } = parse(body)?;
        let name = given(name.as_deref()).unwrap_or(DEFAULT_CUSTOMER_NAME);
        let (message_id, status) = self.inbound_webhook(&phone_number_id, &from, name, &text).await?;
        Ok(json!({ "success": true, "messageId": message_id, "webhookStatus": status }))
    }

    async fn control_status(&self, body: &[u8]) -> Result<Value, Refusal> {
        let Status { message_id, status } = parse(body)?;
        let answered = self.status_webhook(&message_id, &status).await?;
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
