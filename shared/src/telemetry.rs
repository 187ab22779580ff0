//! Logging setup. In Lambda, JSON lines for CloudWatch; locally, readable lines. `RUST_LOG`
//! overrides the default filter. No code path logs a token: the token types cannot be
//! formatted.

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn,reqwest=warn";

pub fn init_lambda() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)))
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
}

pub fn init_local() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)))
        .with_target(false)
        .init();
}
