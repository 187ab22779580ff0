//! moto's request recorder: every AWS request the real SDK clients make while a piece of work
//! runs, counted by operation, with the bodies kept for what a test wants to look into.

use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;

pub struct Recorder {
    endpoint: String,
    http: reqwest::Client,
}

/// What one delivery asked of AWS: operation → calls, and the routing queries' parameters.
#[derive(Default)]
pub struct Requests {
    pub operations: BTreeMap<String, usize>,
    /// Each request's target (`DynamoDB_20120810.Query`, `AWSEvents.PutEvents`, …) and its
    /// JSON body.
    pub bodies: Vec<(String, Value)>,
}

impl Requests {
    pub fn count(&self, operation: &str) -> usize {
        self.operations.get(operation).copied().unwrap_or(0)
    }
    /// The bodies of the requests to `operation`.
    pub fn bodies_of(&self, operation: &str) -> Vec<&Value> {
        self.bodies.iter().filter(|(target, _)| target == operation).map(|(_, body)| body).collect()
    }
    /// The routing and listing reads' parameters.
    pub fn queries(&self) -> Vec<&Value> {
        self.bodies_of("DynamoDB_20120810.Query")
    }
    pub fn kms(&self) -> usize {
        self.operations.iter().filter(|(op, _)| op.starts_with("TrentService.")).map(|(_, n)| n).sum()
    }
}

impl Recorder {
    /// The recorder of the moto server the tests run against.
    pub fn at_moto() -> Self {
        let endpoint = std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT is set by ./scripts/test");
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
        Self { endpoint, http }
    }

    async fn post(&self, action: &str) {
        let url = format!("{}/moto-api/recorder/{action}", self.endpoint);
        assert!(self.http.post(&url).send().await.unwrap().status().is_success(), "{action}");
    }

    /// The AWS requests `work` makes.
    pub async fn record<F: std::future::Future<Output = Value>>(&self, work: F) -> (Requests, Value) {
        self.post("reset-recording").await;
        self.post("start-recording").await;
        let answer = work.await;
        self.post("stop-recording").await;
        let url = format!("{}/moto-api/recorder/download-recording", self.endpoint);
        let text = self.http.get(&url).send().await.unwrap().text().await.unwrap();
        let mut requests = Requests::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: Value = serde_json::from_str(line).unwrap();
            let target = entry["headers"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("other")
                .to_owned();
            let raw = entry["body"].as_str().unwrap_or_default();
            let body = if entry["body_encoded"] == true {
                base64::engine::general_purpose::STANDARD.decode(raw).unwrap()
            } else {
                raw.as_bytes().to_vec()
            };
            requests.bodies.push((target.clone(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
            *requests.operations.entry(target).or_default() += 1;
        }
        (requests, answer)
    }
}

/// The operations and their counts; the bodies would drown a failure's message.
impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.operations.fmt(f)
    }
}
