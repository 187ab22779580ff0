//! Assembles the local stack from the environment: defaults that make `cargo run` work with
//! nothing set, then the service's one configuration loader.

use crate::auth;
use crate::expiry::Expiry;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::server::{self, SANDBOX_PREFIX, Server};
use serde_json::{Map, json};
use shared::cipher::Cipher;
use shared::cipher::kms::KmsCipher;
use shared::cipher::local::LocalCipher;
use shared::config::Config;
use shared::events::delivery::Deliverer;
use shared::events::queue::StoreQueue;
use shared::media::MediaStore;
use shared::media::files::FileMediaStore;
use shared::media::s3::S3MediaStore;
use shared::store::Store;
use shared::store::dynamo::DynamoStore;
use shared::store::embedded::EmbeddedStore;
use shared::stream::ChangeFeed;
use shared::{App, BoxError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

const INDEX_HTML: &str = include_str!("../static/index.html");
pub const DEMO_USER: &str = "demo-user";
pub const LOCAL_APP_ID: &str = "1234567890123456";
pub const LOCAL_APP_SECRET: &str = "sandbox-app-secret";
pub const LOCAL_VERIFY_TOKEN: &str = "local-verify-token";
pub const LOCAL_TABLE: &str = "waba-connect-local";
pub const LOCAL_KEY_ALIAS: &str = "alias/waba-connect-local";

pub struct RunningStack {
    pub addr: SocketAddr,
    pub base_url: String,
    pub demo_token: String,
    pub jwt_secret: Vec<u8>,
    pub sandbox: Option<Arc<Sandbox>>,
    pub server: Arc<Server>,
    pub backend: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// What runs beside the server: the stream's consumers, the retries, the sweep.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningStack {
    pub fn app(&self) -> &App {
        &self.server.app
    }

    /// A bearer token for `sub`, signed with this stack's secret.
    pub fn token_for(&self, sub: &str, extra: Map<String, serde_json::Value>) -> String {
        auth::token_for(sub, extra, 3600, &self.jwt_secret)
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for task in self.background {
            let _ = task.await;
        }
    }

    /// Stops every task at once, wherever it is, as `kill -9` would: what was written stays,
    /// what was under way is lost. Returns once they are gone (and the store closed).
    pub async fn crash(self) {
        self.task.abort();
        for task in &self.background {
            task.abort();
        }
        let _ = self.task.await;
        for task in self.background {
            let _ = task.await;
        }
    }

    /// Serves until the process is interrupted.
    pub async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
        self.stop().await;
    }
}

/// The onboarding page with its demo token, and Meta's JavaScript SDK: the sandbox's, served
/// by this stack (whose origin the page then also accepts Embedded Signup's messages from),
/// or Meta's own when the stack talks to Meta. Values go into `<meta>` tags, never into a
/// script.
fn onboarding_page(demo_token: &str, sandbox_base: Option<&str>) -> String {
    let (sdk, sandbox_origin) = match sandbox_base {
        Some(base) => (format!("{base}{SANDBOX_PREFIX}/connect/en_US/sdk.js"), base.to_owned()),
        None => ("https://connect.facebook.net/en_US/sdk.js".to_owned(), String::new()),
    };
    INDEX_HTML
        .replace("__DEMO_TOKEN__", demo_token)
        .replace("__META_SDK_URL__", &sdk)
        .replace("__META_SANDBOX_ORIGIN__", &sandbox_origin)
}

/// The health sweep, as EventBridge runs the `health` function in AWS: the same code, every
/// `every`, until the stack stops.
async fn sweep_every(server: Arc<Server>, every: std::time::Duration, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        if let Err(error) = health::handle(&server.app, every.min(std::time::Duration::from_secs(240))).await {
            tracing::warn!(%error, "health sweep failed");
        }
    }
}

/// What wraps the stack's store and cipher before anything uses them: a decorator that
/// counts, traces or (in tests) fails on command. The identity by default.
pub struct Wrap {
    pub store: Decorator<dyn Store>,
    pub cipher: Decorator<dyn Cipher>,
}

/// Wraps a port's adapter in another of the same port.
pub type Decorator<P> = Box<dyn FnOnce(Arc<P>) -> Arc<P> + Send>;

impl Default for Wrap {
    fn default() -> Self {
        Self { store: Box::new(|store| store), cipher: Box::new(|cipher| cipher) }
    }
}

/// Starts the stack with settings from `source` (the environment, or a map in tests).
pub async fn start(source: impl Fn(&str) -> Option<String>) -> Result<RunningStack, BoxError> {
    start_wrapped(source, Wrap::default()).await
}

/// [`start`], with the store and the cipher wrapped by `wrap`.
pub async fn start_wrapped(source: impl Fn(&str) -> Option<String>, wrap: Wrap) -> Result<RunningStack, BoxError> {
    let get = |name: &str| source(name).filter(|v| !v.trim().is_empty());
    let port: u16 = get("PORT").map(|p| p.parse()).transpose()?.unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    let mut defaults: HashMap<&str, String> = HashMap::from([
        ("META_APP_ID", LOCAL_APP_ID.to_owned()),
        ("META_APP_SECRET", LOCAL_APP_SECRET.to_owned()),
        ("META_REDIRECT_URI", format!("{base_url}/api/v1/organizations/whatsapp/callback")),
        ("FRONTEND_URL", format!("{base_url}/")),
        ("WEBHOOK_VERIFY_TOKEN", LOCAL_VERIFY_TOKEN.to_owned()),
        // A developer's receiver runs on their own machine.
        ("EVENT_ENDPOINTS_ALLOW_PRIVATE", "true".to_owned()),
        // Onboarding links lead to this stack.
        ("PUBLIC_BASE_URL", base_url.clone()),
    ]);
    let use_sandbox = get("META_GRAPH_URL").is_none() || get("META_DIALOG_URL").is_none();
    if use_sandbox {
        defaults.insert("META_GRAPH_URL", format!("{base_url}{SANDBOX_PREFIX}/graph"));
        defaults.insert("META_DIALOG_URL", format!("{base_url}{SANDBOX_PREFIX}/www"));
        defaults.insert("META_SDK_URL", format!("{base_url}{SANDBOX_PREFIX}/connect/en_US/sdk.js"));
        // The sandbox app has an Embedded Signup v4 configuration, as a Tech Provider's does.
        defaults.insert("META_CONFIG_ID", crate::sandbox::seed::CONFIG_ID.to_owned());
    }
    // A variable set but empty means "unset" and takes no default: `META_CONFIG_ID=`
    // runs the `scope=` dialog and its user tokens.
    let config = Config::from_source(|name| match source(name) {
        Some(value) if value.trim().is_empty() => None,
        Some(value) => Some(value),
        None => defaults.get(name).cloned(),
    })?;

    let app_secret = config.meta.app_secret()?.expose().to_owned();
    let dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./.local".into()));
    let sandbox = use_sandbox.then(|| {
        Arc::new(Sandbox::new(SandboxConfig {
            app_id: config.meta.app_id.clone(),
            app_secret,
            graph_version: config.meta.graph_version.clone(),
            public_url: format!("{base_url}{SANDBOX_PREFIX}"),
            page_size: 2,
            webhook_url: Some(format!("{base_url}/webhook")),
            // Meta's side, kept apart from the service's own files.
            state_file: Some(dir.join("meta-sandbox").join("state.json")),
            redirect_uris: vec![config.meta.redirect_uri.clone()],
        }))
    });

    let backend = get("LOCAL_BACKEND").unwrap_or_else(|| "embedded".into());
    // What expires on one machine; DynamoDB's time to live and S3's lifecycle rule in AWS.
    let mut expiry = None;
    type Backend = (Arc<dyn Store>, Arc<dyn Cipher>, Arc<dyn ChangeFeed>, Arc<dyn MediaStore>, &'static str);
    let (store, cipher, feed, media, backend): Backend = match backend.as_str() {
        "embedded" => {
            let store = EmbeddedStore::open_in(&dir)?;
            let cipher = LocalCipher::load_or_create(&dir.join("local-kms.key"))?;
            let media = FileMediaStore::open(dir.join("media"))?;
            let retention = config.message_retention;
            expiry = Some(Expiry { store: store.clone(), media: media.clone(), retention });
            (Arc::new(store.clone()), Arc::new(cipher), Arc::new(store), Arc::new(media), "embedded")
        }
        "aws" => {
            let aws = shared::aws::load(get)?;
            let table = config.table_name.clone().unwrap_or_else(|| LOCAL_TABLE.into());
            let key = config.kms_key_id.clone().unwrap_or_else(|| LOCAL_KEY_ALIAS.into());
            let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
            let store = DynamoStore::new(dynamodb.clone(), table.clone());
            store.ensure_table().await?;
            let kms = aws_sdk_kms::Client::new(&aws);
            if key.starts_with("alias/") {
                KmsCipher::ensure_key(&kms, &key).await?;
            }
            shared::private_files::private_dir(&dir)?;
            let positions = dir.join(format!("stream-positions-{table}.json"));
            let feed = crate::feed::DynamoStreamFeed::new(&aws, &dynamodb, &table, positions).await?;
            let bucket = config.media_bucket.clone().unwrap_or_else(|| format!("{table}-media"));
            let media = S3MediaStore::new(&aws, &bucket)?;
            media.ensure_bucket().await?;
            (Arc::new(store), Arc::new(KmsCipher::new(kms, key)), Arc::new(feed), Arc::new(media), "aws")
        }
        other => return Err(format!("LOCAL_BACKEND must be `embedded` or `aws`, not `{other}`").into()),
    };

    let (store, cipher) = ((wrap.store)(store), (wrap.cipher)(cipher));
    let jwt_secret = get("LOCAL_JWT_SECRET").unwrap_or_else(|| auth::DEFAULT_SECRET.into()).into_bytes();
    let demo_token = auth::token_for(
        DEMO_USER,
        Map::from_iter([("name".to_owned(), json!("Demo Owner"))]),
        30 * 24 * 3600,
        &jwt_secret,
    );
    let retries = Arc::new(StoreQueue::new(shared::store::Records::new(store.clone())));
    let outbox =
        events::Outbox { deliverer: Deliverer::new(config.events_allow_private), queue: retries.clone(), bus: None };
    let server = Arc::new(Server {
        app: App::new(config, store, cipher),
        outbox,
        retries,
        media,
        sandbox: sandbox.clone(),
        jwt_secret: jwt_secret.clone(),
        index_html: onboarding_page(&demo_token, use_sandbox.then_some(base_url.as_str())),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut background = Vec::new();
    if let Some(every) = server.app.config.health_sweep_every {
        background.push(tokio::spawn(sweep_every(server.clone(), every, stopped.clone())));
    }
    if let Some(expiry) = expiry {
        background.push(tokio::spawn(crate::expiry::expire_every(expiry, stopped.clone())));
    }
    // The table's stream, handed to what follows it as its triggers do in AWS, and the events'
    // retry queue, as SQS hands it to the `events` function.
    background.push(tokio::spawn(crate::feed::follow(server.clone(), feed, stopped.clone())));
    background.push(tokio::spawn(crate::feed::retry_events(server.clone(), stopped.clone())));
    let task = tokio::spawn(server::serve(listener, server.clone(), stopped));
    Ok(RunningStack { addr, base_url, demo_token, jwt_secret, sandbox, server, backend, stop, task, background })
}
