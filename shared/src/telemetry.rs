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
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_target(false).with_writer(|| OneLine(std::io::stdout())))
        .with(filter())
        .init();
}

/// A writer of readable log lines that keeps each record on its one line: a line break or
/// carriage return inside a record (a value from a webhook, Meta's error text) is written
/// escaped, so nothing from outside can start a forged line. Lambda's JSON lines escape
/// them by themselves. The formatter writes each record in one call, ending in `\n`.
pub struct OneLine<W>(pub W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, record: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match record.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (record, &b""[..]),
        };
        if !body.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            self.0.write_all(record)?;
            return Ok(record.len());
        }
        let mut escaped = Vec::with_capacity(record.len() + 8);
        for &byte in body {
            match byte {
                b'\n' => escaped.extend_from_slice(b"\\n"),
                b'\r' => escaped.extend_from_slice(b"\\r"),
                other => escaped.push(other),
            }
        }
        escaped.extend_from_slice(end);
        self.0.write_all(&escaped)?;
        Ok(record.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A value from outside (a webhook's ids, a header) as a log field: control characters are
/// escaped and the length is bounded, so no value can start a forged log line or flood one.
/// Lambda's JSON lines escape them anyway; the local stack's readable lines need this.
pub struct Field<'a>(pub &'a str);

/// The longest outside value a log line shows.
const MAX_FIELD: usize = 200;

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (shown, c) in self.0.chars().enumerate() {
            if shown >= MAX_FIELD {
                return f.write_str("…");
            }
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                write!(f, "{}", c.escape_default())?;
            } else {
                std::fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Field, OneLine};
    use std::io::Write;

    #[test]
    fn a_record_stays_on_its_line() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"INFO webhook phone=1\nFORGED INFO ok\r\n").unwrap();
        out.write_all(b"INFO plain\n").unwrap();
        assert_eq!(String::from_utf8(out.0).unwrap(), "INFO webhook phone=1\\nFORGED INFO ok\\r\nINFO plain\n");
    }

    #[test]
    fn outside_values_cannot_forge_a_log_line() {
        let forged = "102\n2026-12-01T00:00:00Z  INFO handled status=200\r\u{1b}[2J";
        let shown = Field(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.starts_with("102\\n2026") && shown.contains("\\r\\u{1b}"));
        assert_eq!(Field(&"x".repeat(500)).to_string().chars().count(), 201, "bounded, with an ellipsis");
    }
}
