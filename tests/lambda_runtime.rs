//! Every function, as `sam build` built it for upload, answers real Lambda Runtime API
//! invocations carrying the committed event fixtures (`infra/events/`), against DynamoDB,
//! KMS and Secrets Manager on moto's server. A small Runtime API emulator plays Lambda's
//! side: it hands each event to `GET /runtime/invocation/next` and collects the answer.
//! Each function gets exactly the environment the template gives it, and links only the
//! clients it uses. The test also prints each bootstrap's size and the median time from
//! process start to its first answer.

mod sam;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use shared::cipher::kms::KmsCipher;
use shared::domain::{Organization, OrganizationName};
use shared::store::Records;
use shared::store::dynamo::DynamoStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// An invocation's answer: the function's response, or the error it reported.
type Answer = oneshot::Sender<Result<Bytes, String>>;

/// Lambda's side of the Runtime API, for one function process.
struct RuntimeApi {
    events: Mutex<mpsc::Receiver<(String, Bytes)>>,
    waiting: Mutex<Vec<(String, Answer)>>,
    /// When the process first asked for an event: the end of its init, as Lambda counts it.
    ready: std::sync::OnceLock<Instant>,
}

async fn serve_runtime(api: Arc<RuntimeApi>, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if path == "/2018-06-01/runtime/invocation/next" {
        let _ = api.ready.set(Instant::now());
        let Some((id, event)) = api.events.lock().await.recv().await else {
            return hyper::Response::builder().status(500).body(Full::new(Bytes::new())).unwrap();
        };
        let deadline = (std::time::SystemTime::now() + ANSWER_TIMEOUT).duration_since(std::time::UNIX_EPOCH).unwrap();
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:fixture")
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .body(Full::new(event))
            .unwrap();
    }
    let answer = if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        rest.split_once('/').map(|(id, kind)| (id.to_owned(), kind == "response"))
    } else {
        None
    };
    match answer {
        Some((id, ok)) => {
            let mut waiting = api.waiting.lock().await;
            if let Some(position) = waiting.iter().position(|(w, _)| *w == id) {
                let (_, reply) = waiting.remove(position);
                let _ = reply.send(if ok { Ok(body) } else { Err(String::from_utf8_lossy(&body).into_owned()) });
            }
        }
        None => eprintln!("runtime API: {path}: {}", String::from_utf8_lossy(&body)),
    }
    hyper::Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
}

/// One function process under test.
struct Function {
    child: KillOnDrop,
    events: mpsc::Sender<(String, Bytes)>,
    api: Arc<RuntimeApi>,
    started: Instant,
    next_id: u32,
}

impl Function {
    async fn start(binary: &str, env: &[(String, String)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (events, receiver) = mpsc::channel(16);
        let api = Arc::new(RuntimeApi {
            events: Mutex::new(receiver),
            waiting: Mutex::new(Vec::new()),
            ready: std::sync::OnceLock::new(),
        });
        let served = api.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let api = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve_runtime(api, r).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let bootstrap = bootstrap_of(binary);
        assert!(bootstrap.exists(), "{} is missing: run `sam build` as ./scripts/test does", bootstrap.display());
        let started = Instant::now();
        let child = std::process::Command::new(&bootstrap)
            .env_clear()
            .envs(env.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", binary)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]fixture")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let child = KillOnDrop(child);
        Self { child, events, api, started, next_id: 0 }
    }

    /// How long the process took to ask for its first event.
    fn init(&self) -> Duration {
        self.api.ready.get().expect("the function asked for an event").duration_since(self.started)
    }

    /// Invokes the function with a fixture and returns the API Gateway response it gave.
    async fn invoke(&mut self, fixture: &str) -> (u16, Value, Duration) {
        self.next_id += 1;
        let id = format!("invocation-{}", self.next_id);
        let (reply, answer) = oneshot::channel();
        self.api.waiting.lock().await.push((id.clone(), reply));
        self.events.send((id, Bytes::from(read_fixture(fixture)))).await.unwrap();
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .unwrap_or_else(|_| panic!("{fixture}: no answer within {ANSWER_TIMEOUT:?}"))
            .unwrap()
            .unwrap_or_else(|error| panic!("{fixture}: the function reported an error: {error}"));
        let response: Value = serde_json::from_slice(&answer).unwrap();
        // A scheduled function answers its report itself, not an HTTP response.
        let Some(status) = response["statusCode"].as_u64() else { return (200, response, self.started.elapsed()) };
        let body = response["body"].as_str().map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.into())));
        (status as u16, body.unwrap_or(Value::Null), self.started.elapsed())
    }
}

/// Function processes wait for their next event forever; stop them with the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `bootstrap` SAM would upload for a function: `sam build` writes a template of its own
/// into its build directory, whose `CodeUri` of each function names the built artifact.
fn bootstrap_of(binary: &str) -> PathBuf {
    let build_dir =
        PathBuf::from(std::env::var("SAM_BUILD_DIR").unwrap_or_else(|_| {
            panic!("SAM_BUILD_DIR is not set: ./scripts/test runs `sam build` and then this test")
        }));
    let text = std::fs::read_to_string(build_dir.join("template.yaml"))
        .unwrap_or_else(|e| panic!("{}/template.yaml: {e}; run `sam build` first", build_dir.display()));
    let built: serde_yaml::Value = serde_yaml::from_str(&text).expect("SAM's built template parses");
    let function = built["Resources"]
        .as_mapping()
        .expect("the built template has resources")
        .values()
        .find(|r| r["Type"] == "AWS::Serverless::Function" && r["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("the built template has no function with Binary {binary}"));
    let code_uri = function["Properties"]["CodeUri"].as_str().expect("a built CodeUri");
    build_dir.join(code_uri).join("bootstrap")
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/infra/events/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The AWS side on moto: the table, the key, the app secret and one organization.
async fn environment() -> Vec<(String, String)> {
    let endpoint = std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("MOTO_ENDPOINT is not set: run ./scripts/test, which starts moto's server"));
    let suffix = shared::crypto::hex(&shared::crypto::random_bytes::<4>());
    let table = format!("lambda-{suffix}");
    let key = format!("alias/lambda-{suffix}");
    let config = shared::aws::emulator(&endpoint);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &table);
    store.ensure_table().await.unwrap();
    KmsCipher::ensure_key(&aws_sdk_kms::Client::new(&config), &key).await.unwrap();
    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("meta-app-secret-{suffix}"))
        .secret_string("fixture-app-secret")
        .send()
        .await
        .unwrap();
    // The events function's bus and retry queue.
    let bus = format!("events-{suffix}");
    aws_sdk_eventbridge::Client::new(&config).create_event_bus().name(&bus).send().await.unwrap();
    let queue = aws_sdk_sqs::Client::new(&config)
        .create_queue()
        .queue_name(format!("event-retries-{suffix}"))
        .send()
        .await
        .unwrap();
    // The media function's bucket.
    let bucket = format!("media-{suffix}");
    shared::media::s3::S3MediaStore::new(&config, &bucket).unwrap().ensure_bucket().await.unwrap();
    let now = shared::clock::Timestamp::now();
    let organization = Organization::new(
        "org_fixture".parse().unwrap(),
        "fixture-user".parse().unwrap(),
        OrganizationName::parse("Fixture Co").unwrap(),
        now,
    );
    Records::new(Arc::new(store)).create_organization(&organization, 100).await.unwrap();
    [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("TABLE_NAME", &table),
        ("KMS_KEY_ID", &key),
        ("META_APP_ID", "1234567890"),
        ("META_APP_SECRET_ARN", secret.arn().unwrap()),
        ("META_REDIRECT_URI", "https://api.example.com/api/v1/organizations/whatsapp/callback"),
        ("META_GRAPH_URL", "http://127.0.0.1:9"),
        ("FRONTEND_URL", "https://app.example.com/onboarding/whatsapp"),
        ("WEBHOOK_VERIFY_TOKEN", "fixture-verify-token-0123"),
        ("EVENT_BUS_NAME", &bus),
        ("MEDIA_BUCKET", &bucket),
        ("EVENT_RETRY_QUEUE_URL", queue.queue_url().unwrap()),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// (function, fixture, expected status, what the body must show)
const CASES: &[(&str, &str, u16, &str)] = &[
    ("organizations", "http-api-create-organization", 201, "success"),
    ("organizations", "http-api-get-organization", 200, "org_fixture"),
    ("init-oauth", "http-api-init-oauth", 200, "dialog/oauth?client_id=1234567890"),
    ("callback", "http-api-callback-unknown-state", 400, "invalid_state"),
    ("accounts", "http-api-accounts-unknown-state", 400, "invalid_state"),
    ("phone-numbers", "http-api-phone-numbers-unknown-state", 400, "invalid_state"),
    ("save-config", "http-api-save-config-unknown-state", 400, "invalid_state"),
    ("oauth-exchange", "http-api-oauth-exchange-unknown-state", 400, "invalid_state"),
    ("status", "http-api-caller-status", 200, "\"connected\":false"),
    ("disconnect", "http-api-disconnect", 200, "not connected"),
    ("messages", "http-api-list-messages", 200, "\"messages\":[]"),
    ("register", "http-api-register-unknown-phone", 404, "not_found"),
    ("register", "http-api-verify-code-unknown-phone", 404, "not_found"),
    ("webhook", "function-url-webhook-verify", 200, "1158201444"),
    ("webhook", "function-url-webhook-unsigned", 401, "unauthorized"),
    ("health", "eventbridge-scheduled-sweep", 200, "\"finished\":true"),
    // A coexistence phone from the table's stream that is not in this table: nothing to ask
    // Meta, nothing to retry.
    ("health", "dynamodb-stream-coexistence-phone", 200, "\"batchItemFailures\":[]"),
    ("events", "http-api-list-event-endpoints", 200, "\"endpoints\":[]"),
    // An inbound message: published to the bus (on moto); the organization has no endpoint.
    ("events", "dynamodb-stream-inbound-message", 200, "\"batchItemFailures\":[]"),
    // A retry for an endpoint deleted since: dropped, not handed back.
    ("events", "sqs-event-retry-removed-endpoint", 200, "\"batchItemFailures\":[]"),
    ("connect", "http-api-list-onboarding-links", 200, "\"links\":[]"),
    ("media", "http-api-get-media-unknown", 404, "not_found"),
    // A customer's photo in a message of a number this table does not know: failed, not retried.
    ("media", "dynamodb-stream-inbound-image", 200, "\"batchItemFailures\":[]"),
    ("graph", "http-api-graph-unknown-object", 404, "not_found"),
    // The hosted page of a link that does not exist: 410, a page that says so.
    ("connect", "http-api-connect-unknown-link", 410, "link_unknown"),
];

/// What a function is given: the values of the variables the template gives it, the
/// Lambda-provided AWS ones, and the test's own (Meta is unreachable; quieter logs).
fn environment_of(binary: &str, all: &[(String, String)]) -> Vec<(String, String)> {
    let template = sam::template();
    let (_, function) = sam::functions(&template).into_iter().find(|(b, _)| b == binary).unwrap();
    let deployed = sam::environment_names(&template, function);
    all.iter()
        .filter(|(name, _)| {
            deployed.contains(name)
                || name.starts_with("AWS_")
                || ["META_GRAPH_URL", "RUST_LOG"].contains(&name.as_str())
        })
        .cloned()
        .collect()
}

/// A function links the KMS client only if deployed with the key, the Secrets Manager client
/// only if deployed with the app secret's ARN, and an HTTP client only if its `main` asks
/// for Meta or delivers events. Read from the stripped binary: each client leaves names of its own
/// (KMS's `TrentService` operations, `secretsmanager`, reqwest's source paths).
fn assert_links_only_what_it_uses(binary: &str, env: &[(String, String)]) {
    let bytes = std::fs::read(bootstrap_of(binary)).unwrap();
    let has = |marker: &str| bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
    let given = |name: &str| env.iter().any(|(n, _)| n == name);
    let main =
        std::fs::read_to_string(format!("{}/functions/{binary}/src/main.rs", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(has("TrentService"), given("KMS_KEY_ID"), "{binary}: the KMS client");
    assert_eq!(has("secretsmanager"), given("META_APP_SECRET_ARN"), "{binary}: the Secrets Manager client");
    let calls_out = main.contains(".with_meta()") || main.contains("Deliverer::new");
    assert_eq!(has("/reqwest-"), calls_out, "{binary}: an HTTP client, for Graph or to deliver events");
    assert!(!has("aws-config-"), "{binary}: aws-config's provider chain");
}

const STARTS: usize = 5;

#[tokio::test]
async fn every_built_function_answers_its_fixtures_through_the_runtime_api() {
    let all = environment().await;
    let mut running: Option<(&str, Function)> = None;
    for (binary, fixture, status, shows) in CASES {
        if running.as_ref().is_none_or(|(b, _)| b != binary) {
            let env = environment_of(binary, &all);
            assert_links_only_what_it_uses(binary, &env);
            running = Some((binary, Function::start(binary, &env).await));
        }
        let (_, function) = running.as_mut().unwrap();
        let (answered, body, _) = function.invoke(fixture).await;
        assert_eq!(answered, *status, "{binary} / {fixture}: {body}");
        assert!(body.to_string().contains(shows), "{binary} / {fixture}: expected {shows:?} in {body}");
        assert!(function.child.0.try_wait().unwrap().is_none(), "{binary} exited after answering");
    }
    drop(running);

    // Cold starts, as Lambda makes them: a fresh process answering one invocation. Medians;
    // the answer's time includes the moto requests the invocation makes.
    println!("\n{:<16} {:>10} {:>12} {:>30}", "function", "bootstrap", "init", "start → first answer");
    let mut measured: Vec<&str> = Vec::new();
    for (binary, fixture, status, _) in CASES.iter().rev() {
        if measured.contains(binary) {
            continue;
        }
        measured.push(binary);
        let env = environment_of(binary, &all);
        let (mut inits, mut times) = (Vec::new(), Vec::new());
        for _ in 0..STARTS {
            let mut function = Function::start(binary, &env).await;
            let (answered, body, elapsed) = function.invoke(fixture).await;
            assert_eq!(answered, *status, "{binary} / {fixture}: {body}");
            inits.push(function.init());
            times.push(elapsed);
        }
        inits.sort();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let size = std::fs::metadata(bootstrap_of(binary)).unwrap().len();
        println!(
            "{binary:<16} {:>6.1} MiB {:>9.1} ms {:>12.1} ms (of {STARTS}: {:.1}–{:.1})",
            size as f64 / 1_048_576.0,
            ms(inits[STARTS / 2]),
            ms(times[STARTS / 2]),
            ms(times[0]),
            ms(times[STARTS - 1]),
        );
    }
}
