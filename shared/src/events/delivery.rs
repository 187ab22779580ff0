//! One delivery attempt, and when the next one is made.
//!
//! An attempt posts the event's exact bytes with Standard Webhooks' headers, waits at most
//! 10 seconds, follows no redirect and uses no proxy, and reaches only public addresses: a
//! name is resolved by [`PublicOnly`], which refuses any answer that includes a private
//! address, and the connection goes to what it checked (so a name that re-resolves
//! elsewhere after the endpoint was created is caught at delivery). Any 2xx is delivered;
//! anything else is retried: first within 10 seconds, then each wait about twice the one
//! before (±25% jitter), for at least a day; an endpoint that has failed for three days is
//! disabled.

use super::endpoint::{is_forbidden, parse_url};
use super::signing::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use super::{Event, EventType};
use crate::clock::Timestamp;
use crate::domain::OrganizationId;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// How long an endpoint has to answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the first retry; each next one doubles, up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(5);
const MAX_WAIT: Duration = Duration::from_secs(6 * 3600);
/// How long deliveries are retried, at least.
pub const RETRY_FOR_SECONDS: i64 = 24 * 3600;
/// An endpoint whose every delivery failed this long is disabled.
pub const DISABLE_AFTER_SECONDS: i64 = 3 * 86_400;
/// The most of an error kept with a delivery.
const MAX_ERROR: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it was not delivered, when it was not.
    pub error: Option<String>,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How names are resolved: the system's resolver, or (in tests) a table of answers.
pub type Lookup = std::sync::Arc<dyn Fn(String) -> Resolving + Send + Sync>;

/// The system's resolver.
pub fn system_lookup() -> Lookup {
    std::sync::Arc::new(|name: String| {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(Box::new(found.into_iter()) as Addrs)
        }) as Resolving
    })
}

/// Sends events to endpoints.
pub struct Deliverer {
    client: reqwest::Client,
    allow_private: bool,
}

impl Deliverer {
    pub fn new(allow_private: bool) -> Self {
        Self::with_lookup(allow_private, system_lookup())
    }

    /// A deliverer whose names resolve through `lookup`.
    pub fn with_lookup(allow_private: bool, lookup: Lookup) -> Self {
        let mut builder = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(32)
            .user_agent(concat!("waba-connect-events/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly(lookup)));
        }
        Self { client: builder.build().expect("the HTTP client builds"), allow_private }
    }

    /// One attempt to deliver `event` to `url`, signed with `key`.
    pub async fn attempt(&self, url: &Url, key: &[u8], event_id: &str, body: &[u8], now: Timestamp) -> Attempt {
        // An address written in the URL does not go through the resolver: checked here.
        if let Err(reason) = parse_url(url.as_str(), self.allow_private) {
            return Attempt { status: None, error: Some(reason) };
        }
        let timestamp = now.0;
        let sent = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(key, event_id, timestamp, body))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let error = (!answer.status().is_success()).then(|| format!("the endpoint answered HTTP {status}"));
                Attempt { status: Some(status), error }
            }
            Err(error) => Attempt { status: None, error: Some(describe(&error)) },
        }
    }
}

/// Why a request failed, without its URL (which the endpoint's owner chose, and may carry
/// a token of theirs in its query).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer within 10 seconds".to_owned()
    } else if error.is_connect() {
        "the endpoint could not be reached".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR).collect()
}

/// Resolves a name only to public addresses: an answer with any other address is refused
/// whole, since a name that points inside once may be made to again.
struct PublicOnly(Lookup);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let answer = (self.0)(name.as_str().to_owned());
        Box::pin(async move {
            let found: Vec<SocketAddr> = answer.await?.collect();
            if found.is_empty() {
                return Err("the endpoint's name resolves to no address".into());
            }
            if found.iter().any(|a| is_forbidden(a.ip())) {
                return Err("the endpoint's name resolves to an address that is not public".into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Whether a name (or an address) reaches only public addresses now: the check made when an
/// endpoint is created.
pub async fn resolves_publicly(url: &Url, lookup: &Lookup) -> Result<(), String> {
    let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
    let found: Vec<SocketAddr> =
        lookup(name.to_owned()).await.map_err(|_| format!("`url`'s host {name} does not resolve"))?.collect();
    if found.is_empty() || found.iter().any(|a| is_forbidden(a.ip())) {
        return Err("`url` resolves to an address that is not public".into());
    }
    Ok(())
}

/// The wait before retry number `retry` (1 for the first): about double the one before,
/// with up to ±25% jitter so retries of many events do not arrive together.
pub fn wait_before(retry: u32) -> Duration {
    let base = FIRST_WAIT.saturating_mul(1u32 << retry.saturating_sub(1).min(20)).min(MAX_WAIT);
    let spread = f64::from(crate::crypto::random_bytes::<1>()[0]) / 255.0 * 0.5 - 0.25;
    base.mul_f64(1.0 + spread)
}

/// A delivery of one event to one endpoint, as its log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub organization_id: OrganizationId,
    pub endpoint_id: String,
    pub event_id: String,
    #[serde(with = "event_type")]
    pub event_type: EventType,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub first_attempt_at: Timestamp,
    pub next_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    /// Retried for a day without success: no more attempts.
    pub gave_up: bool,
}

impl Delivery {
    /// A delivery about to be attempted for the first time.
    pub fn new(event: &Event, endpoint_id: &str, now: Timestamp) -> Self {
        Self {
            organization_id: event.organization_id.clone(),
            endpoint_id: endpoint_id.to_owned(),
            event_id: event.id.clone(),
            event_type: event.kind,
            attempts: 0,
            last_status: None,
            last_error: None,
            first_attempt_at: now,
            next_attempt_at: None,
            delivered_at: None,
            gave_up: false,
        }
    }

    /// Records an attempt made at `now`: delivered, or when the next one is due — unless
    /// retries ran their day, or `disabled` (the endpoint no longer takes deliveries).
    pub fn attempted(&mut self, attempt: &Attempt, now: Timestamp, disabled: bool) {
        self.attempts += 1;
        self.last_status = attempt.status;
        self.last_error = attempt.error.clone();
        if attempt.delivered() {
            self.delivered_at = Some(now);
            self.next_attempt_at = None;
        } else if disabled || now.0 - self.first_attempt_at.0 >= RETRY_FOR_SECONDS {
            self.gave_up = true;
            self.next_attempt_at = None;
        } else {
            self.next_attempt_at = Some(now.plus_seconds(wait_before(self.attempts).as_secs_f64().ceil() as i64));
        }
    }

    /// Queued without an attempt (its endpoint is failing): the first attempt is a retry's.
    pub fn queued(&mut self, now: Timestamp) {
        self.next_attempt_at = Some(now.plus_seconds(wait_before(1).as_secs_f64().ceil() as i64));
    }

    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "eventId": self.event_id,
            "type": self.event_type.as_str(),
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "nextAttemptAt": self.next_attempt_at.map(Timestamp::to_rfc3339),
            "deliveredAt": self.delivered_at.map(Timestamp::to_rfc3339),
            "failed": self.gave_up,
        })
    }
}

/// A retry waiting in the queue: the event's exact bytes and its delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryJob {
    pub delivery: Delivery,
    pub body: String,
}

mod event_type {
    use super::EventType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &EventType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EventType, D::Error> {
        let raw = String::deserialize(d)?;
        EventType::parse(&raw).ok_or_else(|| serde::de::Error::custom("an unknown event type"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names resolved from a table, as a DNS under someone else's control would answer.
    fn table(answers: &'static [(&'static str, &'static str)]) -> Lookup {
        std::sync::Arc::new(move |name: String| {
            let found: Vec<SocketAddr> = answers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, ip)| SocketAddr::new(ip.parse().unwrap(), 0))
                .collect();
            Box::pin(async move { Ok(Box::new(found.into_iter()) as Addrs) }) as Resolving
        })
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_when_created_and_when_delivered() {
        // A receiver on this machine, which no delivery may reach under a public-looking name.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = reached.clone();
        tokio::spawn(async move {
            if listener.accept().await.is_ok() {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let inside = table(&[("hooks.example.test", "127.0.0.1")]);
        let url: Url = format!("http://hooks.example.test:{port}/hook").parse().unwrap();
        assert!(resolves_publicly(&url, &inside).await.unwrap_err().contains("not public"));
        let both = table(&[("mixed.example.test", "93.184.216.34"), ("mixed.example.test", "10.0.0.1")]);
        let mixed: Url = "https://mixed.example.test/".parse().unwrap();
        assert!(resolves_publicly(&mixed, &both).await.is_err(), "one private answer is enough to refuse");
        let public = table(&[("hooks.example.test", "93.184.216.34")]);
        assert!(resolves_publicly(&url, &public).await.is_ok());

        // Created when it pointed outside; at delivery it points inside (DNS rebinding).
        let deliverer = Deliverer::with_lookup(false, inside);
        let https: Url = format!("https://hooks.example.test:{port}/hook").parse().unwrap();
        let attempt = deliverer.attempt(&https, b"key", "evt_1", b"{}", Timestamp(1)).await;
        assert!(!attempt.delivered() && attempt.status.is_none(), "{attempt:?}");
        assert!(attempt.error.unwrap().contains("not public"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!reached.load(std::sync::atomic::Ordering::SeqCst), "no connection was made");
        // An address in the URL does not go through the resolver: refused all the same.
        let literal: Url = format!("https://127.0.0.1:{port}/hook").parse().unwrap();
        assert!(deliverer.attempt(&literal, b"key", "evt_1", b"{}", Timestamp(1)).await.error.is_some());
    }

    #[test]
    fn waits_double_from_within_ten_seconds_with_a_quarter_of_jitter() {
        for _ in 0..200 {
            let first = wait_before(1);
            assert!(first >= Duration::from_millis(3_750) && first <= Duration::from_millis(6_250), "{first:?}");
            let tenth = wait_before(10);
            let base = FIRST_WAIT * 512;
            assert!(tenth >= base.mul_f64(0.75) && tenth <= base.mul_f64(1.25), "{tenth:?}");
        }
        assert!(wait_before(40) <= MAX_WAIT.mul_f64(1.25), "capped");
    }

    #[test]
    fn a_delivery_is_retried_for_a_day_then_given_up() {
        let event = Event {
            id: "evt_1".into(),
            kind: EventType::MessageReceived,
            created_at: Timestamp(0),
            organization_id: "org_1".parse().unwrap(),
            data: serde_json::json!({}),
        };
        let mut delivery = Delivery::new(&event, "ep_1", Timestamp(1_000));
        let refused = Attempt { status: Some(500), error: Some("HTTP 500".into()) };
        delivery.attempted(&refused, Timestamp(1_000), false);
        let next = delivery.next_attempt_at.unwrap();
        assert!(next.0 - 1_000 <= 10 && !delivery.gave_up, "the first retry within 10 s");
        delivery.attempted(&refused, Timestamp(1_000 + RETRY_FOR_SECONDS - 1), false);
        assert!(delivery.next_attempt_at.is_some(), "still within the day");
        delivery.attempted(&refused, Timestamp(1_000 + RETRY_FOR_SECONDS), false);
        assert!(delivery.gave_up && delivery.next_attempt_at.is_none());
        let mut delivered = Delivery::new(&event, "ep_1", Timestamp(1_000));
        delivered.attempted(&Attempt { status: Some(204), error: None }, Timestamp(1_001), false);
        assert_eq!((delivered.delivered_at, delivered.attempts), (Some(Timestamp(1_001)), 1));
    }
}
