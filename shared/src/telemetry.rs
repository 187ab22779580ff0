//! Logging setup. In Lambda, JSON lines for CloudWatch; locally, readable lines. `RUST_LOG`
//! overrides the default filter with `target=level` directives (`info,hyper=debug`); the
//! span and field syntax of `EnvFilter` is not supported, as its regex engine would add
//! weight to every function for no use here. No code path logs a token: the token types
//! cannot be formatted.

use tracing_subscriber::filter::Targets;

const DEFAULT_FILTER: &str = "info,aws_smithy_runtime=warn,hyper=warn,reqwest=warn";

/// `RUST_LOG` if set and well formed, else the default; a malformed value is reported once.
fn filter() -> Targets {
    let default = || DEFAULT_FILTER.parse().expect("the default filter parses");
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives.parse().unwrap_or_else(|error| {
            eprintln!("RUST_LOG is not a list of target=level directives ({error}); using `{DEFAULT_FILTER}`");
            default()
        }),
        _ => default(),
    }
}

pub fn init_lambda() {
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_current_span(false).without_time().with_target(false))
        .with(filter())
        .init();
}

pub fn init_local() {
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_target(false)).with(filter()).init();
}
