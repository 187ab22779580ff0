//! The one configuration loader. Lambda functions read the process environment; the local
//! stack fills in its defaults first and then calls the same loader, so a variable means the
//! same thing everywhere.

use crate::domain::Secret;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub meta: MetaConfig,
    /// Empty in a function that does not read it (`Function::configuration`).
    pub frontend_url: String,
    pub webhook_verify_token: Option<Secret>,
    pub oauth_state_ttl: Duration,
    /// How long stored messages and statuses are kept (and so deduplicated): well past
    /// Meta's 7-day redelivery window.
    pub message_retention: Duration,
    pub org_claim: String,
    /// How long one request may take end to end locally (in Lambda the invocation's own
    /// deadline applies): API Gateway gives up after 30 seconds.
    pub request_timeout: Duration,
    pub table_name: Option<String>,
    pub kms_key_id: Option<String>,
    /// Local stack: how often the health sweep runs (`HEALTH_SWEEP_SECONDS`, default an
    /// hour); `None` when set to 0. In AWS the `HealthSweepSchedule` parameter decides.
    pub health_sweep_every: Option<Duration>,
    /// Event endpoints may be `http://` and private or loopback addresses
    /// (`EVENT_ENDPOINTS_ALLOW_PRIVATE`; the local stack's default, never AWS's).
    pub events_allow_private: bool,
    /// In AWS: the stack's EventBridge bus (`EVENT_BUS_NAME`) and the queue of delivery
    /// retries (`EVENT_RETRY_QUEUE_URL`).
    pub event_bus_name: Option<String>,
    pub event_retry_queue_url: Option<String>,
    /// Where the service answers on the internet (`PUBLIC_BASE_URL`): onboarding links are
    /// `{PUBLIC_BASE_URL}/connect/{token}`.
    pub public_base_url: Option<String>,
    /// Replaces the lifetime of onboarding links created from then on
    /// (`ONBOARDING_LINK_TTL_SECONDS`; for tests of the local stack).
    pub onboarding_link_ttl: Option<i64>,
    /// The stack's S3 bucket of media files (`MEDIA_BUCKET`); the local stack keeps them
    /// under `DATA_DIR` unless it runs on AWS services.
    pub media_bucket: Option<String>,
    /// How many organizations one user may own (`MAX_ORGANIZATIONS_PER_USER`, default 100).
    pub max_organizations_per_user: usize,
}

#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// Empty in a function that does not read it (`Function::configuration`), as the
    /// redirect URI is.
    pub app_id: String,
    /// Only the functions that call Meta or check its signatures are deployed with it.
    pub app_secret: Option<Secret>,
    pub redirect_uri: String,
    pub config_id: Option<String>,
    pub graph_url: String,
    pub dialog_url: String,
    pub graph_version: String,
    /// Meta's JavaScript SDK, which the hosted page of an onboarding link loads
    /// (`META_SDK_URL`; the sandbox's on the local stack).
    pub sdk_url: String,
    pub timeout: Duration,
    pub attempts: u32,
}

impl MetaConfig {
    pub fn app_secret(&self) -> Result<&Secret, crate::error::ApiError> {
        self.app_secret
            .as_ref()
            .ok_or_else(|| crate::error::ApiError::internal("This function is deployed without the Meta app secret."))
    }

    pub fn graph_base(&self) -> String {
        format!("{}/{}", self.graph_url.trim_end_matches('/'), self.graph_version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_DIALOG_URL: &str = "https://www.facebook.com";
pub const DEFAULT_SDK_URL: &str = "https://connect.facebook.net/en_US/sdk.js";
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(|name| std::env::var(name).ok())
    }

    /// Loads from any name→value source (the environment, or a map in tests and the local
    /// stack). Empty values count as unset.
    pub fn from_source(source: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| source(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let url = |name: &str, value: String| -> Result<String, ConfigError> {
            let parsed = url::Url::parse(&value).map_err(|e| ConfigError(format!("{name} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError(format!("{name} must be an http(s) URL")));
            }
            Ok(value)
        };
        // Empty when unset: only the functions that read it are given it, and those refuse to
        // start without it (`Function::check_configuration`).
        let given_url = |name: &str| get(name).map(|value| url(name, value)).transpose().map(Option::unwrap_or_default);
        let seconds = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(ConfigError(format!("{name} must be a positive whole number, got `{raw}`"))),
                },
            }
        };
        let graph_version = get("META_GRAPH_VERSION").unwrap_or_else(|| DEFAULT_GRAPH_VERSION.into());
        let well_formed_version =
            graph_version.strip_prefix('v').and_then(|rest| rest.split_once('.')).is_some_and(|(major, minor)| {
                !major.is_empty() && !minor.is_empty() && (major.to_owned() + minor).bytes().all(|b| b.is_ascii_digit())
            });
        if !well_formed_version {
            return Err(ConfigError(format!("META_GRAPH_VERSION must look like v24.0, got `{graph_version}`")));
        }
        let meta = MetaConfig {
            app_id: get("META_APP_ID").unwrap_or_default(),
            app_secret: get("META_APP_SECRET").map(Secret::new),
            redirect_uri: given_url("META_REDIRECT_URI")?,
            config_id: get("META_CONFIG_ID"),
            graph_url: url("META_GRAPH_URL", get("META_GRAPH_URL").unwrap_or_else(|| DEFAULT_GRAPH_URL.into()))?,
            dialog_url: url("META_DIALOG_URL", get("META_DIALOG_URL").unwrap_or_else(|| DEFAULT_DIALOG_URL.into()))?,
            graph_version,
            sdk_url: url("META_SDK_URL", get("META_SDK_URL").unwrap_or_else(|| DEFAULT_SDK_URL.into()))?,
            timeout: Duration::from_millis(seconds("META_TIMEOUT_MS", 8_000)?),
            attempts: seconds("META_MAX_ATTEMPTS", 3)?.min(10) as u32,
        };
        Ok(Config {
            meta,
            frontend_url: given_url("FRONTEND_URL")?,
            webhook_verify_token: get("WEBHOOK_VERIFY_TOKEN").map(Secret::new),
            oauth_state_ttl: Duration::from_secs(seconds("OAUTH_STATE_TTL_SECONDS", 600)?),
            message_retention: Duration::from_secs(seconds("MESSAGE_RETENTION_DAYS", 30)?.max(8) * 86_400),
            org_claim: get("ORG_CLAIM").unwrap_or_else(|| "org_id".into()),
            request_timeout: Duration::from_secs(seconds("REQUEST_TIMEOUT_SECONDS", 29)?),
            table_name: get("TABLE_NAME"),
            kms_key_id: get("KMS_KEY_ID"),
            health_sweep_every: match get("HEALTH_SWEEP_SECONDS").as_deref() {
                Some("0") => None,
                _ => Some(Duration::from_secs(seconds("HEALTH_SWEEP_SECONDS", 3600)?)),
            },
            events_allow_private: match get("EVENT_ENDPOINTS_ALLOW_PRIVATE").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "EVENT_ENDPOINTS_ALLOW_PRIVATE must be true or false, got `{other}`"
                    )));
                }
            },
            event_bus_name: get("EVENT_BUS_NAME"),
            event_retry_queue_url: get("EVENT_RETRY_QUEUE_URL"),
            public_base_url: get("PUBLIC_BASE_URL")
                .map(|raw| url("PUBLIC_BASE_URL", raw.trim_end_matches('/').to_owned()))
                .transpose()?,
            media_bucket: get("MEDIA_BUCKET"),
            max_organizations_per_user: seconds("MAX_ORGANIZATIONS_PER_USER", 100)? as usize,
            onboarding_link_ttl: get("ONBOARDING_LINK_TTL_SECONDS")
                .map(|_| seconds("ONBOARDING_LINK_TTL_SECONDS", 0).map(|n| n as i64))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_source(|name| map.get(name).cloned())
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("META_APP_ID", "123"),
        ("META_APP_SECRET", "secret"),
        ("META_REDIRECT_URI", "https://api.example.com/api/v1/organizations/whatsapp/callback"),
        ("FRONTEND_URL", "https://app.example.com/onboarding/whatsapp"),
    ];

    #[test]
    fn defaults_follow_the_contract() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.oauth_state_ttl, Duration::from_secs(600));
        assert_eq!(config.org_claim, "org_id");
        assert_eq!(config.meta.graph_base(), "https://graph.facebook.com/v26.0");
        assert_eq!(config.meta.dialog_url, "https://www.facebook.com");
        assert!(config.meta.config_id.is_none());
        assert_eq!(config.health_sweep_every, Some(Duration::from_secs(3600)));
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("HEALTH_SWEEP_SECONDS", "0"));
        assert_eq!(load(&pairs).unwrap().health_sweep_every, None, "0 turns the local sweep off");
        assert!(!config.events_allow_private, "private event endpoints only when asked for");
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("EVENT_ENDPOINTS_ALLOW_PRIVATE", "yes"));
        assert!(load(&pairs).unwrap_err().0.contains("EVENT_ENDPOINTS_ALLOW_PRIVATE"));
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("OAUTH_STATE_TTL_SECONDS", "0"));
        assert!(load(&pairs).unwrap_err().0.contains("OAUTH_STATE_TTL_SECONDS"));
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("META_GRAPH_VERSION", "24"));
        assert!(load(&pairs).unwrap_err().0.contains("META_GRAPH_VERSION"));
        // Unset, a function's own settings are empty; the functions that read them refuse to
        // start without them (`Function::check_configuration`).
        assert_eq!(load(&MINIMAL[1..]).unwrap().meta.app_id, "");
        let needs = crate::routes::Function::InitOauth
            .check_configuration(|name| MINIMAL[1..].iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
        assert!(needs.unwrap_err().contains("META_APP_ID"));
        let mut pairs = MINIMAL.to_vec();
        pairs[2] = ("META_REDIRECT_URI", "ftp://x");
        assert!(load(&pairs).is_err());
    }

    #[test]
    fn the_secret_does_not_print() {
        let config = load(MINIMAL).unwrap();
        assert!(!format!("{config:?}").contains("\"secret\""));
    }
}
