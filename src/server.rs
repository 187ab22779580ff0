//! The local HTTP server: one hyper listener in front of the shared route table. API routes
//! go to the same handler functions the Lambda binaries run; `/meta-sandbox/…` goes to the
//! Meta sandbox; `/` is the onboarding page.

use crate::auth;
use crate::sandbox::Sandbox;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::clock::Timestamp;
use shared::http::respond;
use shared::routes::{self, Auth, Function, NoRoute};
use shared::{ApiError, App, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Larger than any API body (those are capped lower by the handlers), small enough to refuse
/// abuse before buffering it.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
pub const SANDBOX_PREFIX: &str = "/meta-sandbox";
/// A client gets this long to send a request's headers, and again its body.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 512;

pub struct Server {
    pub app: App,
    /// Where events go: endpoints (and their retries, queued in the store), as the `events`
    /// function sends them in AWS.
    pub outbox: events::Outbox,
    pub retries: Arc<shared::events::queue::StoreQueue>,
    /// Where received files are kept: under `DATA_DIR`, or the S3 bucket on AWS services.
    pub media: Arc<dyn shared::media::MediaStore>,
    pub sandbox: Option<Arc<Sandbox>>,
    pub jwt_secret: Vec<u8>,
    pub index_html: String,
}

/// Runs every handler of the route table; the match is exhaustive, so a function added to
/// the table without being wired here does not compile.
pub async fn dispatch(server: &Server, request: Request) -> Result<Response, ApiError> {
    let app = &server.app;
    match request.route.function {
        Function::Organizations => organizations::handle(app, request).await,
        Function::InitOauth => init_oauth::handle(app, request).await,
        Function::Callback => callback::handle(app, request).await,
        Function::Accounts => accounts::handle(app, request).await,
        Function::PhoneNumbers => phone_numbers::handle(app, request).await,
        Function::SaveConfig => save_config::handle(app, request).await,
        Function::OauthExchange => oauth_exchange::handle(app, request).await,
        Function::Status => status::handle(app, request).await,
        Function::Disconnect => disconnect::handle(app, request).await,
        Function::Messages => messages::handle(app, request).await,
        Function::Register => register::handle(app, request).await,
        Function::Webhook => webhook::handle(app, request).await,
        Function::Events => events::handle(app, request).await,
        Function::Connect => connect::handle(app, request).await,
        Function::Media => media::handle(app, server.media.as_ref(), request).await,
        Function::Graph => graph::handle(app, request).await,
        // Scheduled, never routed: the stack runs it on its own timer (`stack::sweep_every`).
        Function::Health => Err(ApiError::internal("the health sweep serves no route")),
    }
}

pub async fn serve(listener: TcpListener, server: Arc<Server>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // The connections belong to the server: when it goes (however it goes), so do they.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let server = server.clone();
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let Some(stream) = crate::head::first_request(stream, HEADER_READ_TIMEOUT).await else { return };
            let service = service_fn(move |request| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(handle(&server, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => connection.as_mut().graceful_shutdown(),
            }
        });
    }
    // Stopped: each connection finishes what it is answering.
    while connections.join_next().await.is_some() {}
}

async fn handle(server: &Server, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let deadline = tokio::time::Instant::now() + server.app.config.request_timeout;
    // A file to send may be as large as Meta takes; anything else is small.
    let limit = if parts.method == Method::POST && parts.uri.path().ends_with("/whatsapp/media") {
        shared::media::MAX_FILE + 1
    } else {
        MAX_REQUEST_BYTES
    };
    let response = match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => shared::deadline::within(deadline, route(server, parts, collected.to_bytes())).await,
        Ok(Err(_)) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "validation_error", "The request body is too large.").into()
        }
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "validation_error", "The request body took too long.").into()
        }
    };
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

async fn route(server: &Server, parts: http::request::Parts, body: Bytes) -> Response {
    let path = parts.uri.path().to_owned();
    if path == "/" && parts.method == Method::GET {
        return page(&server.index_html, server.sandbox.is_some());
    }
    if let Some(script) = SCRIPTS.iter().find(|(name, _)| *name == path).map(|(_, script)| *script)
        && parts.method == Method::GET
    {
        return script_response(script);
    }
    if path == "/openapi.json" && parts.method == Method::GET {
        return openapi();
    }
    if let (Some(rest), Some(sandbox)) = (path.strip_prefix(SANDBOX_PREFIX), &server.sandbox) {
        return to_sandbox(sandbox, parts, rest, body).await;
    }
    let (route, path_params) = match routes::match_path(parts.method.as_str(), &path) {
        Ok(found) => found,
        Err(NoRoute::NotFound) => return ApiError::not_found("No such route.").into(),
        Err(NoRoute::MethodNotAllowed(allowed)) => {
            let allowed = allowed.join(", ");
            let mut response: Response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("This route accepts {allowed} only."),
            )
            .into();
            response.headers.insert(header::ALLOW, HeaderValue::from_str(&allowed).expect("methods are header-safe"));
            return response;
        }
    };
    let claims = match route.auth {
        Auth::None | Auth::Link | Auth::MetaSignature => None,
        Auth::Jwt => match bearer(&parts.headers).map(|t| auth::verify(t, &server.jwt_secret, Timestamp::now())) {
            Some(Ok(claims)) => Some(claims),
            // API Gateway's authorizer refuses before any function runs; so does this.
            _ => return ApiError::unauthorized().into(),
        },
    };
    let query =
        parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let request = Request { route, path_params, query, headers: parts.headers, body, claims };
    respond(route, dispatch(server, request)).await
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The API's description, as `openapi.json` in the repository keeps it.
fn openapi() -> Response {
    let mut response = Response {
        status: StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: Bytes::from_static(include_bytes!("../openapi.json")),
    };
    response.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The onboarding page's scripts: its own, and the browser side of Embedded Signup it
/// shares with the hosted page of an onboarding link.
const SCRIPTS: [(&str, &str); 4] = [
    ("/app.js", include_str!("../static/app.js")),
    ("/signup.js", include_str!("../static/signup.js")),
    ("/endpoints.js", include_str!("../static/endpoints.js")),
    ("/media.js", include_str!("../static/media.js")),
];

/// What the onboarding page may load and where it may go: its own scripts and Meta's SDK
/// (the sandbox's on this stack), no inline script, no framing.
fn page_policy(sandbox: bool) -> &'static str {
    if sandbox {
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    } else {
        "default-src 'self'; script-src 'self' https://connect.facebook.net; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob: https://*.facebook.com https://*.fbcdn.net; connect-src 'self' https://*.facebook.com; \
         frame-src https://*.facebook.com; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    }
}

fn page(html: &str, sandbox: bool) -> Response {
    let mut response =
        Response { status: StatusCode::OK, headers: http::HeaderMap::new(), body: Bytes::from(html.to_owned()) };
    response.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response.headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response.headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(page_policy(sandbox)));
    response
}

fn script_response(script: &'static str) -> Response {
    let mut response = Response {
        status: StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: Bytes::from_static(script.as_bytes()),
    };
    response.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    response.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn to_sandbox(sandbox: &Sandbox, parts: http::request::Parts, rest: &str, body: Bytes) -> Response {
    let target = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method;
    *request.headers_mut() = parts.headers;
    *request.uri_mut() = match target.parse() {
        Ok(uri) => uri,
        Err(_) => return ApiError::not_found("No such sandbox path.").into(),
    };
    let (parts, body) = sandbox.handle(request).await.into_parts();
    Response { status: parts.status, headers: parts.headers, body }
}
