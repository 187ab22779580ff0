//! What the sandbox remembers between requests: authorization codes, user
//! tokens, webhook subscriptions, messages sent, and the bookkeeping tests inspect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::seed::Phone;
use super::{Fault, SentMessage};

/// Meta's authorization codes are valid for ten minutes.
pub(super) const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Meta's `expires_in` for a short-lived user token (about 1.4 hours).
pub(super) const SHORT_LIVED_SECS: u64 = 5_183;
/// Meta's `expires_in` for a long-lived user token (about 60 days).
pub(super) const LONG_LIVED_SECS: u64 = 5_183_944;
/// Data access granted through the dialog lapses after 90 days, whatever the token.
pub(super) const DATA_ACCESS_SECS: u64 = 90 * 24 * 60 * 60;

/// The scopes every sandbox grant carries, as `debug_token` reports them.
pub(super) const GRANTED_SCOPES: [&str; 3] =
    ["whatsapp_business_management", "whatsapp_business_messaging", "public_profile"];

/// What the user agreed to in the dialog; codes and every token minted from
/// them carry it unchanged.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    /// Granted WABA ids, most recently created first (Meta's order).
    pub waba_ids: Vec<&'static str>,
    /// Whether `debug_token` reports per-WABA `granular_scopes`. A business-wide
    /// grant has none, and clients must discover WABAs through `/me/businesses`.
    pub granular: bool,
    /// Unix seconds; `data_access_expires_at` counts from here.
    pub granted_at: u64,
}

impl Grant {
    pub fn allows(&self, waba_id: &str) -> bool {
        self.waba_ids.contains(&waba_id)
    }
}

#[derive(Debug)]
pub(super) struct AuthCode {
    pub client_id: String,
    /// Kept byte for byte: the exchange must present the identical string.
    pub redirect_uri: String,
    pub grant: Grant,
    pub expires_at: Instant,
    pub used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    ShortLived,
    LongLived,
}

#[derive(Debug)]
pub(super) struct UserToken {
    pub kind: TokenKind,
    pub grant: Grant,
    /// Unix seconds.
    pub expires_at: u64,
}

impl UserToken {
    pub fn is_expired(&self) -> bool {
        unix_now() >= self.expires_at
    }
}

/// A message the Graph API accepted, with what its status webhooks repeat.
#[derive(Debug, Clone)]
pub(super) struct Outbound {
    pub message: SentMessage,
    /// The sending phone; status webhooks name it and are addressed to its WABA.
    pub phone: &'static Phone,
    /// Unix seconds.
    pub sent_at: u64,
    /// Every status of one message reports the same conversation, as on Meta.
    pub conversation_id: String,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub codes: HashMap<String, AuthCode>,
    pub tokens: HashMap<String, UserToken>,
    /// Every token ever minted, in order, so tests can look for leaks.
    pub issued: Vec<String>,
    /// The path of every Graph request received (never the query: it may hold tokens).
    pub calls: Vec<String>,
    pub faults: VecDeque<Fault>,
    /// WABA ids the app is subscribed to.
    pub subscribed: HashSet<String>,
    /// Messages accepted by `POST /{phone-number-id}/messages`, oldest first.
    pub sent: Vec<Outbound>,
}

impl State {
    pub fn issue_code(&mut self, client_id: &str, redirect_uri: &str, grant: Grant) -> String {
        let code = new_code();
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                grant,
                expires_at: Instant::now() + CODE_LIFETIME,
                used: false,
            },
        );
        code
    }

    /// Mints a user token and returns it with its `expires_in`.
    pub fn issue_token(&mut self, kind: TokenKind, grant: Grant) -> (String, u64) {
        let lifetime = match kind {
            TokenKind::ShortLived => SHORT_LIVED_SECS,
            TokenKind::LongLived => LONG_LIVED_SECS,
        };
        let token = new_token();
        self.tokens.insert(token.clone(), UserToken { kind, grant, expires_at: unix_now() + lifetime });
        self.issued.push(token.clone());
        (token, lifetime)
    }

    /// The message a `wamid` names, if the Graph API sent it.
    pub fn outbound(&self, message_id: &str) -> Option<&Outbound> {
        self.sent.iter().find(|sent| sent.message.message_id == message_id)
    }

    /// A live (known, unexpired) user token.
    pub fn live_token(&self, token: &str) -> Result<&UserToken, TokenProblem> {
        match self.tokens.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(t) if t.is_expired() => Err(TokenProblem::Expired),
            Some(t) => Ok(t),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenProblem {
    Unknown,
    Expired,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).expect("the operating system's random source is available");
    buf
}

fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 248 is the largest multiple of 62 below 256; rejecting bytes above it keeps
    // every character equally likely.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<64>() {
            if byte < LIMIT && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    out
}

/// 256 random bits, URL-safe, with the "AQ" prefix Meta's codes have.
fn new_code() -> String {
    format!("AQ{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// "EAAG" followed by 60 random alphanumerics (about 357 bits), like Meta's user tokens.
fn new_token() -> String {
    format!("EAAG{}", random_alphanumeric(60))
}

/// Meta's `fbtrace_id` / `x-fb-trace-id`: an opaque id to quote to support.
pub(super) fn new_trace_id() -> String {
    random_alphanumeric(20)
}

/// A WhatsApp message id: "wamid." and 192 random bits, URL-safe. Meta's ids are
/// base64 of an opaque structure; clients must treat them as opaque strings.
pub(super) fn new_message_id() -> String {
    format!("wamid.{}", URL_SAFE_NO_PAD.encode(random_bytes::<24>()))
}

/// A conversation id: 32 lowercase hex digits, like Meta's.
pub(super) fn new_conversation_id() -> String {
    hex(&random_bytes::<16>())
}

/// Lowercase hex, as Meta writes signatures and ids.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}
