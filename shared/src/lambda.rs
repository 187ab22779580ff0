//! The Lambda side of a function: turns API Gateway's event into a [`Request`], runs the
//! handler, and turns the outcome (success or [`ApiError`]) into an HTTP response. A handler
//! error never escapes to the runtime as a bare 500.

use crate::error::ApiError;
use crate::http::{Request, Response, respond};
use crate::routes::{self, Function, Gateway};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt, service_fn};
use std::future::Future;

/// Serves `function`'s `handler` until the Lambda runtime stops the process.
pub async fn serve<F, Fut>(function: Function, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Result<Response, ApiError>> + Send,
{
    function.check_configuration(|name| std::env::var(name).ok())?;
    let handler = &handler;
    lambda_http::run(service_fn(move |event: lambda_http::Request| async move {
        let deadline = invocation_deadline(&event);
        Ok::<_, std::convert::Infallible>(into_lambda(match from_lambda(event, function) {
            Ok(request) => {
                let route = request.route;
                crate::deadline::within(deadline, respond(route, handler(request))).await
            }
            Err(error) => error.into(),
        }))
    }))
    .await
}

/// Why a function was invoked, when not for an API route.
pub enum Invocation {
    /// EventBridge's schedule: run for at most `budget`.
    Scheduled { budget: std::time::Duration },
    /// A batch of the table's stream (an event source mapping).
    Stream(Vec<crate::stream::Change>),
    /// A batch of an SQS queue (an event source mapping).
    Queue(Vec<QueueMessage>),
}

/// One message of an SQS batch.
pub struct QueueMessage {
    /// What a partial failure names (`batchItemFailures[].itemIdentifier`).
    pub id: String,
    pub body: String,
}

/// The messages of an SQS event, as Lambda delivers them; `None` for any other event.
fn queue_messages(event: &serde_json::Value) -> Option<Vec<QueueMessage>> {
    event
        .get("Records")?
        .as_array()?
        .iter()
        .map(|record| {
            (record.get("eventSource")?.as_str()? == "aws:sqs").then_some(())?;
            Some(QueueMessage {
                id: record.get("messageId")?.as_str()?.to_owned(),
                body: record.get("body")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

fn invocation(payload: &serde_json::Value, left: std::time::Duration) -> Invocation {
    if let Some(changes) = crate::stream::from_lambda_event(payload) {
        return Invocation::Stream(changes);
    }
    if let Some(messages) = queue_messages(payload) {
        return Invocation::Queue(messages);
    }
    Invocation::Scheduled { budget: left.saturating_sub(SCHEDULED_MARGIN) }
}

/// Serves a function that answers API routes and also follows a stream or a queue: each
/// invocation is told apart by its event (API Gateway's carries a `requestContext`).
pub async fn serve_mixed<F, Fut, G, Gut>(function: Function, http: F, other: G) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Result<Response, ApiError>> + Send,
    G: Fn(Invocation) -> Gut + Sync,
    Gut: Future<Output = Result<serde_json::Value, ApiError>> + Send,
{
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    function.check_configuration(|name| std::env::var(name).ok())?;
    let (http, other) = (&http, &other);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let left = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
        let deadline = tokio::time::Instant::now() + left.saturating_sub(crate::deadline::ANSWER_MARGIN);
        if event.payload.get("requestContext").is_some() {
            let request = lambda_http::request::from_str(&event.payload.to_string())
                .map_err(|e| lambda_http::Error::from(format!("an API event that cannot be read: {e}")))?;
            let response = match from_lambda(request, function) {
                Ok(request) => {
                    let route = request.route;
                    crate::deadline::within(deadline, respond(route, http(request))).await
                }
                Err(error) => error.into(),
            };
            return Ok(api_gateway_answer(response));
        }
        crate::deadline::within(deadline, other(invocation(&event.payload, left)))
            .await
            .map_err(|error| lambda_http::Error::from(error.message.into_owned()))
    }))
    .await
}

/// A response in API Gateway's payload format 2.0.
fn api_gateway_answer(response: Response) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = response
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.into())))
        .collect();
    serde_json::json!({
        "statusCode": response.status.as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(&response.body),
        "isBase64Encoded": false,
    })
}

/// Serves a function that EventBridge invokes on a schedule and the table's stream feeds
/// (each through its own trigger in `template.yaml`). The handler answers what Lambda
/// expects: a scheduled run's report, or a stream batch's `batchItemFailures`.
pub async fn serve_invocations<F, Fut>(function: Function, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Invocation) -> Fut + Sync,
    Fut: Future<Output = Result<serde_json::Value, ApiError>> + Send,
{
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    function.check_configuration(|name| std::env::var(name).ok())?;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let left = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
        let deadline = tokio::time::Instant::now() + left.saturating_sub(crate::deadline::ANSWER_MARGIN);
        crate::deadline::within(deadline, handler(invocation(&event.payload, left)))
            .await
            .map_err(|error| lambda_http::Error::from(error.message.into_owned()))
    }))
    .await
}

/// What a scheduled run keeps back from its deadline: the checks under way finish and the
/// position is saved.
const SCHEDULED_MARGIN: std::time::Duration = std::time::Duration::from_secs(20);

/// When this invocation must have answered: Lambda's deadline, less the time to answer.
fn invocation_deadline(event: &lambda_http::Request) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let left = event
        .lambda_context_ref()
        .and_then(|context| context.deadline().duration_since(std::time::SystemTime::now()).ok())
        .unwrap_or(std::time::Duration::from_secs(3));
    now + left.saturating_sub(crate::deadline::ANSWER_MARGIN)
}

/// The event's route (by API Gateway's `routeKey`; for a Function URL, which has no routes,
/// by method among `function`'s own), parameters, claims and body.
pub fn from_lambda(event: lambda_http::Request, function: Function) -> Result<Request, ApiError> {
    let context = event.request_context_ref();
    let (route_key, claims) = match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.route_key.clone(), ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| jwt.claims.clone()))
        }
        _ => (None, None),
    };
    let route = route_key
        .as_deref()
        .and_then(routes::by_key)
        .or_else(|| {
            routes::ROUTES.iter().find(|r| {
                r.function == function && r.gateway == Gateway::FunctionUrl && r.method == event.method().as_str()
            })
        })
        .filter(|r| r.function == function)
        .ok_or_else(|| ApiError::not_found("No such route."))?;
    let path_params = event.path_parameters().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let query = event.query_string_parameters().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let headers = event.headers().clone();
    let body = match event.into_body() {
        Body::Empty => bytes::Bytes::new(),
        Body::Text(text) => bytes::Bytes::from(text),
        Body::Binary(bytes) => bytes::Bytes::from(bytes),
        _ => bytes::Bytes::new(),
    };
    Ok(Request { route, path_params, query, headers, body, claims })
}

pub fn into_lambda(response: Response) -> lambda_http::Response<Body> {
    let mut out = lambda_http::Response::new(if response.body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(response.body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(bytes) => Body::Binary(bytes.into_bytes()),
        }
    });
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Action;

    /// An HTTP API (payload v2) event as API Gateway sends it after its JWT authorizer.
    const EVENT: &str = r#"{
        "version": "2.0",
        "routeKey": "GET /api/v1/organizations/{organizationId}/whatsapp/status",
        "rawPath": "/api/v1/organizations/org_1/whatsapp/status",
        "rawQueryString": "limit=5",
        "headers": {"accept": "application/json", "authorization": "Bearer x"},
        "queryStringParameters": {"limit": "5"},
        "pathParameters": {"organizationId": "org_1"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "authorizer": {"jwt": {"claims": {"sub": "user-1", "org_id": "org_1"}, "scopes": null}},
            "domainName": "api.example.com",
            "http": {"method": "GET", "path": "/api/v1/organizations/org_1/whatsapp/status", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "id",
            "routeKey": "GET /api/v1/organizations/{organizationId}/whatsapp/status",
            "stage": "$default",
            "time": "21/Nov/2026:05:00:00 +0000",
            "timeEpoch": 1795237200000
        },
        "isBase64Encoded": false
    }"#;

    #[test]
    fn an_api_gateway_event_becomes_a_request() {
        let event = lambda_http::request::from_str(EVENT).unwrap();
        let request = from_lambda(event, Function::Status).unwrap();
        assert_eq!(request.route.action, Action::OrganizationStatus);
        assert_eq!(request.path_params["organizationId"], "org_1");
        assert_eq!(request.query_value("limit"), Some("5"));
        assert_eq!(request.caller().unwrap().user.as_str(), "user-1");
        assert!(request.accepts_json());
    }

    #[test]
    fn an_unknown_route_is_a_404_in_the_contract_shape() {
        let event = lambda_http::request::from_str(&EVENT.replace("whatsapp/status", "nowhere")).unwrap();
        let error = from_lambda(event, Function::Status).unwrap_err();
        assert_eq!(error.status, http::StatusCode::NOT_FOUND);
        let event = lambda_http::request::from_str(EVENT).unwrap();
        let error = from_lambda(event, Function::Disconnect).unwrap_err();
        assert_eq!(error.status, http::StatusCode::NOT_FOUND);
    }

    #[test]
    fn errors_reach_lambda_as_real_statuses_and_bodies() {
        let response = into_lambda(ApiError::state_expired().into());
        assert_eq!(response.status(), http::StatusCode::GONE);
        let Body::Text(text) = response.body() else { panic!("a JSON text body") };
        assert!(text.contains("\"code\":\"state_expired\""));
    }
}
