//! Events to the organization's own systems.
//!
//! - The endpoints, through the API (JWT, the organization's owner):
//!   `POST …/whatsapp/event-endpoints` `{url, types?}` → the endpoint, with its signing
//!   secret shown this once; `GET …/event-endpoints`; `DELETE …/event-endpoints/{endpointId}`;
//!   `GET …/event-endpoints/{endpointId}/deliveries?limit&cursor`.
//! - The table's stream ([`on_changes`]): every change the service records becomes an
//!   event (`shared::events`), published to the stack's EventBridge bus and delivered at
//!   once to each endpoint of the organization that wants it — all endpoints at the same
//!   time, each within 10 seconds. One write per delivery records it; a delivery that failed
//!   waits in the retry queue, and an endpoint that is failing gets its next events queued
//!   instead of waited for, so a dead endpoint never holds the others up.
//! - The retry queue ([`retry`]): SQS in AWS, the store on one machine. A retry is attempted
//!   when due, then delivered, queued again later, or given up after a day; an endpoint
//!   that failed for three days is disabled, which the event trail records.

pub mod aws;

use serde::Deserialize;
use serde_json::json;
use shared::cipher::{Purpose, TokenContext};
use shared::clock::Timestamp;
use shared::domain::{ConnectionEvent, OrganizationId, Source};
use shared::events::bus::EventBus;
use shared::events::delivery::{Attempt, DISABLE_AFTER_SECONDS, Deliverer, Delivery, RetryJob, resolves_publicly};
use shared::events::endpoint::{Endpoint, EndpointSecret, EndpointStatus, MAX_ENDPOINTS, parse_url};
use shared::events::queue::RetryQueue;
use shared::events::{Event, EventType, from_change};
use shared::lambda::Invocation;
use shared::routes::Action;
use shared::stream::{Change, batch_response};
use shared::{ApiError, App, Request, Response, crypto, http};
use std::collections::HashMap;
use std::sync::Arc;

/// Deliveries made at once, across the endpoints of a batch.
const AT_ONCE: usize = 64;
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// What the events' way out is made of: the HTTP client that delivers, the retry queue and,
/// in AWS, the bus.
pub struct Outbox {
    pub deliverer: Deliverer,
    pub queue: Arc<dyn RetryQueue>,
    pub bus: Option<Arc<dyn EventBus>>,
}

// ---- The endpoints' routes ------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    types: Option<Vec<String>>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    let organization = app.owned_organization(&caller, &id).await?;
    match request.route.action {
        Action::CreateEventEndpoint => create(app, &organization.id, request.json()?).await,
        Action::ListEventEndpoints => {
            let endpoints = app.records.endpoints(&organization.id).await?;
            Ok(Response::ok(
                &json!({ "success": true, "endpoints": endpoints.iter().map(Endpoint::view).collect::<Vec<_>>() }),
            ))
        }
        Action::DeleteEventEndpoint => {
            let endpoint = endpoint_id(&request)?;
            if !app.records.delete_endpoint(&organization.id, &endpoint).await? {
                return Err(ApiError::not_found("This organization has no such event endpoint."));
            }
            tracing::info!(organization = %organization.id, endpoint, "event endpoint deleted");
            Ok(Response::ok(&json!({ "success": true })))
        }
        Action::ListDeliveries => deliveries(app, &organization.id, &request).await,
        other => Err(ApiError::internal(format!("events does not serve {other:?}"))),
    }
}

/// An endpoint id as this service gives them: `ep_` and 16 hex digits.
fn endpoint_id(request: &Request) -> Result<String, ApiError> {
    let id = request.path_params.get("endpointId").cloned().unwrap_or_default();
    let shaped = id.len() == 19 && id.starts_with("ep_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if !shaped {
        return Err(ApiError::validation("`endpointId` is not an event endpoint id"));
    }
    Ok(id)
}

async fn create(app: &App, organization: &OrganizationId, body: NewEndpoint) -> Result<Response, ApiError> {
    let allow_private = app.config.events_allow_private;
    let url = parse_url(&body.url, allow_private).map_err(ApiError::validation)?;
    let types = match body.types {
        None => None,
        Some(types) if types.is_empty() => {
            return Err(ApiError::validation("`types` must name at least one event type, or be left out for all"));
        }
        Some(types) => {
            let mut parsed = Vec::new();
            for raw in &types {
                let kind = EventType::parse(raw).ok_or_else(|| {
                    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                    ApiError::validation(format!("`types` names an unknown event type; known: {}", known.join(", ")))
                })?;
                if !parsed.contains(&kind) {
                    parsed.push(kind);
                }
            }
            Some(parsed)
        }
    };
    // Last, as it asks the DNS: what the name points at now.
    if !allow_private {
        resolves_publicly(&url, &shared::events::delivery::system_lookup()).await.map_err(ApiError::validation)?;
    }
    let secret = EndpointSecret::generate();
    let sealed = app.cipher.seal(&secret, TokenContext::new(organization, Purpose::EndpointSecret)).await?;
    let endpoint = Endpoint {
        organization_id: organization.clone(),
        id: format!("ep_{}", crypto::hex(&crypto::random_bytes::<8>())),
        url,
        types,
        secret: sealed,
        created_at: app.now(),
        status: EndpointStatus::Active,
        failing_since: None,
    };
    if !app.records.add_endpoint(&endpoint, MAX_ENDPOINTS).await? {
        return Err(ApiError::conflict(format!("An organization has at most {MAX_ENDPOINTS} event endpoints."))
            .with_action("Delete one you no longer use, then create this one."));
    }
    tracing::info!(%organization, endpoint = %endpoint.id, "event endpoint created");
    let mut data = endpoint.view();
    data["secret"] = shared::domain::Sealable::expose(&secret).into();
    Ok(Response::json(::http::StatusCode::CREATED, &json!({ "success": true, "data": data })))
}

async fn deliveries(app: &App, organization: &OrganizationId, request: &Request) -> Result<Response, ApiError> {
    let endpoint = endpoint_id(request)?;
    if app.records.endpoint(organization, &endpoint).await?.is_none() {
        return Err(ApiError::not_found("This organization has no such event endpoint."));
    }
    let limit = request.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let after = request.cursor(|position| {
        let shaped = position.starts_with("DELIVERY#") && position.len() < 256;
        shaped.then(|| position.to_owned())
    })?;
    let (deliveries, next) = app.records.deliveries(&endpoint, limit, after).await?;
    Ok(Response::ok(&json!({
        "success": true,
        "deliveries": deliveries.iter().map(Delivery::view).collect::<Vec<_>>(),
        "nextCursor": next.as_deref().map(http::encode_cursor),
    })))
}

// ---- The stream ------------------------------------------------------------------------

/// An endpoint with its key opened, for the batch at hand.
struct Target {
    endpoint: Endpoint,
    key: Vec<u8>,
}

/// Handles a batch of the table's changes: the events they tell go to the bus and to every
/// endpoint that wants them. The changes to hand over again (the bus or the store failed).
pub async fn on_changes<'c>(app: &App, outbox: &Outbox, changes: &'c [Change]) -> Vec<&'c Change> {
    // The endpoints first: without a bus an event is for its organization's endpoints
    // alone, and none is built for an organization that has none.
    let targets = match targets(app, changes).await {
        Ok(targets) => targets,
        Err(error) => {
            tracing::warn!(%error, "event endpoints not read; the stream hands the changes over again");
            return changes.iter().collect();
        }
    };
    let told = |change: &Change| {
        outbox.bus.is_some() || organization_of(change).and_then(|o| targets.get(o)).is_some_and(|t| !t.is_empty())
    };
    let events: Vec<(&Change, Event)> =
        changes.iter().filter(|c| told(c)).filter_map(|c| from_change(c).map(|e| (c, e))).collect();
    if events.is_empty() {
        return Vec::new();
    }
    let every = || events.iter().map(|(c, _)| *c).collect();
    if let Some(bus) = &outbox.bus {
        let all: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
        if let Err(error) = bus.publish(&all).await {
            tracing::warn!(%error, "events not published to the bus; the stream hands them over again");
            return every();
        }
    }
    match deliver(app, outbox, &targets, events.iter().map(|(_, e)| e)).await {
        Ok(()) => Vec::new(),
        Err(error) => {
            tracing::warn!(%error, "event deliveries not recorded; the stream hands them over again");
            every()
        }
    }
}

/// The organization whose partition a change is in (`ORG#{id}`: every item that tells an
/// event).
fn organization_of(change: &Change) -> Option<&str> {
    change.key.pk.strip_prefix("ORG#")
}

/// The endpoints of each organization the changes are of, their keys opened.
async fn targets<'c>(app: &App, changes: &'c [Change]) -> Result<HashMap<&'c str, Vec<Target>>, ApiError> {
    let mut targets = HashMap::new();
    for organization in changes.iter().filter_map(organization_of) {
        if targets.contains_key(organization) {
            continue;
        }
        let opened = match organization.parse::<OrganizationId>() {
            Ok(id) => open(app, app.records.endpoints(&id).await?).await?,
            Err(_) => Vec::new(),
        };
        targets.insert(organization, opened);
    }
    Ok(targets)
}

/// First attempts for a batch of events: each to every endpoint that wants it, at once.
async fn deliver<'e>(
    app: &App,
    outbox: &Outbox,
    targets: &HashMap<&str, Vec<Target>>,
    events: impl Iterator<Item = &'e Event>,
) -> Result<(), ApiError> {
    let events: Vec<&Event> = events.collect();
    let now = app.now();
    let mut queued = Vec::new();
    let mut attempts = Vec::new();
    for event in &events {
        // An endpoint receives the events recorded after it was created.
        let wanted = targets
            .get(event.organization_id.as_str())
            .into_iter()
            .flatten()
            .filter(|t| t.endpoint.wants(event.kind) && event.created_at >= t.endpoint.created_at);
        for target in wanted {
            let mut delivery = Delivery::new(event, &target.endpoint.id, now);
            if target.endpoint.failing_since.is_some() {
                // Failing: its deliveries wait in the queue rather than hold this batch up.
                delivery.queued(now);
                queued.push(RetryJob { delivery, body: String::from_utf8_lossy(&event.body()).into_owned() });
            } else {
                attempts.push((target, event, delivery));
            }
        }
    }
    let mut attempted: Vec<(&Target, RetryJob, Attempt)> = Vec::with_capacity(attempts.len());
    let mut attempts = attempts.into_iter().peekable();
    while attempts.peek().is_some() {
        let mut at_once = Vec::with_capacity(AT_ONCE);
        for (target, event, delivery) in attempts.by_ref().take(AT_ONCE) {
            at_once.push(attempt(outbox, target, event, delivery, now));
        }
        attempted.extend(futures_util::future::join_all(at_once).await);
    }

    let mut records: Vec<Delivery> = queued.iter().map(|job| job.delivery.clone()).collect();
    records.extend(attempted.iter().map(|(_, job, _)| job.delivery.clone()));
    app.records.store_deliveries(&records, app.config.message_retention.as_secs() as i64).await?;
    for job in
        queued.iter().chain(attempted.iter().map(|(_, job, _)| job)).filter(|j| j.delivery.next_attempt_at.is_some())
    {
        outbox.queue.schedule(job).await?;
    }
    // An endpoint's health follows its attempts: failing since its first failure, well again
    // on a success.
    let mut health: HashMap<&str, (&Endpoint, bool)> = HashMap::new();
    for (target, _, attempt) in &attempted {
        let entry = health.entry(target.endpoint.id.as_str()).or_insert((&target.endpoint, false));
        entry.1 |= attempt.delivered();
    }
    for (_, (endpoint, any_delivered)) in health {
        let since = if any_delivered { None } else { endpoint.failing_since.or(Some(now)) };
        app.records.set_endpoint_health(endpoint, since, None).await?;
    }
    tracing::info!(events = events.len(), attempted = attempted.len(), queued = queued.len(), "events delivered");
    Ok(())
}

/// One first attempt, recorded on its delivery.
async fn attempt<'t>(
    outbox: &Outbox,
    target: &'t Target,
    event: &Event,
    mut delivery: Delivery,
    now: Timestamp,
) -> (&'t Target, RetryJob, Attempt) {
    let body = event.body();
    let attempt = outbox.deliverer.attempt(&target.endpoint.url, &target.key, &event.id, &body, now).await;
    delivery.attempted(&attempt, now, false);
    (target, RetryJob { delivery, body: String::from_utf8_lossy(&body).into_owned() }, attempt)
}

/// Opens each endpoint's signing key; one that cannot be opened is left out (logged).
async fn open(app: &App, endpoints: Vec<Endpoint>) -> Result<Vec<Target>, ApiError> {
    let mut targets = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints.into_iter().filter(|e| e.status == EndpointStatus::Active) {
        let context = TokenContext::new(&endpoint.organization_id, Purpose::EndpointSecret);
        let secret: EndpointSecret = app.cipher.open(&endpoint.secret, context).await?;
        match secret.key() {
            Ok(key) => targets.push(Target { endpoint, key }),
            Err(error) => tracing::error!(%error, endpoint = %endpoint.id, "an endpoint's secret cannot be used"),
        }
    }
    Ok(targets)
}

// ---- Retries ---------------------------------------------------------------------------

/// Whether a retry was attempted, or is not due yet (it waits in the queue again: SQS holds a
/// message at most 15 minutes).
#[derive(Debug, PartialEq, Eq)]
pub enum Retried {
    Attempted,
    NotDue,
    /// The endpoint is gone or disabled: nothing more is sent.
    Dropped,
}

/// One retry from the queue: attempted when due, then recorded, and queued again, given up,
/// or delivered. Fails only when the store or the queue does (the retry is then kept).
pub async fn retry(app: &App, outbox: &Outbox, mut job: RetryJob) -> Result<Retried, ApiError> {
    let now = app.now();
    if job.delivery.next_attempt_at.is_some_and(|due| due > now) {
        outbox.queue.schedule(&job).await?;
        return Ok(Retried::NotDue);
    }
    let delivery = &mut job.delivery;
    let Some(endpoint) = app.records.endpoint(&delivery.organization_id, &delivery.endpoint_id).await? else {
        return Ok(Retried::Dropped);
    };
    if endpoint.status != EndpointStatus::Active {
        delivery.attempted(&Attempt { status: None, error: Some("the endpoint is disabled".into()) }, now, true);
        app.records.store_deliveries(std::slice::from_ref(delivery), retention(app)).await?;
        return Ok(Retried::Dropped);
    }
    let context = TokenContext::new(&endpoint.organization_id, Purpose::EndpointSecret);
    let secret: EndpointSecret = app.cipher.open(&endpoint.secret, context).await?;
    let key = secret.key().map_err(ApiError::internal)?;
    let attempt = outbox.deliverer.attempt(&endpoint.url, &key, &delivery.event_id, job.body.as_bytes(), now).await;
    let failing_since = if attempt.delivered() { None } else { endpoint.failing_since.or(Some(now)) };
    let disable = failing_since.filter(|since| now.0 - since.0 >= DISABLE_AFTER_SECONDS);
    job.delivery.attempted(&attempt, now, disable.is_some());
    app.records.store_deliveries(std::slice::from_ref(&job.delivery), retention(app)).await?;
    let reason = "Every delivery to the endpoint failed for three days; it was disabled.".to_owned();
    app.records.set_endpoint_health(&endpoint, failing_since, disable.map(|_| (now, reason.clone()))).await?;
    if disable.is_some() {
        disabled(app, &endpoint, now, reason).await?;
    }
    if job.delivery.next_attempt_at.is_some() {
        outbox.queue.schedule(&job).await?;
    }
    Ok(Retried::Attempted)
}

fn retention(app: &App) -> i64 {
    app.config.message_retention.as_secs() as i64
}

/// An endpoint disabled: the organization's trail tells it (and so does the page).
async fn disabled(app: &App, endpoint: &Endpoint, now: Timestamp, reason: String) -> Result<(), ApiError> {
    tracing::warn!(organization = %endpoint.organization_id, endpoint = %endpoint.id, "event endpoint disabled");
    let event = ConnectionEvent {
        organization_id: endpoint.organization_id.clone(),
        id: crypto::hex(&crypto::sha256(format!("disabled|{}|{}", endpoint.id, now.0).as_bytes())[..12]),
        at: now,
        kind: "event_endpoint_disabled".into(),
        waba_id: None,
        phone_number_id: None,
        from: Some("active".into()),
        to: Some("disabled".into()),
        reason: format!("{} ({})", reason, endpoint.url),
        source: Source::Api,
        onboarding_link_id: None,
    };
    app.records.record_events(&[event]).await.map(drop)
}

// ---- Lambda ----------------------------------------------------------------------------

/// One Lambda invocation that is no API request: a batch of the table's stream, or of the
/// retry queue.
pub async fn invoked(app: &App, outbox: &Outbox, invocation: Invocation) -> Result<serde_json::Value, ApiError> {
    match invocation {
        Invocation::Stream(changes) => Ok(batch_response(&on_changes(app, outbox, &changes).await)),
        Invocation::Queue(messages) => {
            let mut failed = Vec::new();
            for message in &messages {
                let outcome = match serde_json::from_str::<RetryJob>(&message.body) {
                    Ok(job) => retry(app, outbox, job).await.map(drop),
                    // Not a retry of this service's: dropped, never retried forever.
                    Err(error) => {
                        tracing::error!(%error, "a queue message that is no retry was dropped");
                        Ok(())
                    }
                };
                if let Err(error) = outcome {
                    tracing::warn!(%error, "a retry failed; the queue hands it over again");
                    failed.push(json!({ "itemIdentifier": message.id }));
                }
            }
            Ok(json!({ "batchItemFailures": failed }))
        }
        Invocation::Scheduled { .. } => Err(ApiError::internal("events runs on no schedule")),
    }
}
