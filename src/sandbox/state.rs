//! What the sandbox remembers between requests: authorization codes, tokens of
//! both kinds, numbers' registration, webhook subscriptions, messages sent, and the
//! bookkeeping tests inspect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::seed::Phone;
use super::{Fault, SentMessage};

/// Codes from the redirect dialog are valid for ten minutes.
pub(super) const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// "The exchangeable token code has a time-to-live of 30 seconds" (Embedded Signup).
pub(super) const SDK_CODE_LIFETIME: Duration = Duration::from_secs(30);
/// Meta's `expires_in` for a short-lived user token (about 1.4 hours).
pub(super) const SHORT_LIVED_SECS: u64 = 5_183;
/// Meta's `expires_in` for a long-lived user token (about 60 days).
pub(super) const LONG_LIVED_SECS: u64 = 5_183_944;
/// A business token from a "60 Expiration Token" configuration, or renewed.
pub(super) const SIXTY_DAYS_SECS: u64 = 60 * 24 * 60 * 60;
/// Registration: ten attempts per number in a moving 72-hour window (133016).
pub(super) const REGISTRATION_ATTEMPTS: usize = 10;
pub(super) const REGISTRATION_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// Data access granted through the dialog lapses after 90 days, whatever the token.
pub(super) const DATA_ACCESS_SECS: u64 = 90 * 24 * 60 * 60;

/// The scopes every sandbox grant carries, as `debug_token` reports them.
/// What a Login for Business configuration of the sandbox app grants (Embedded Signup's).
pub(super) const CONFIGURATION_SCOPES: [&str; 2] = ["whatsapp_business_management", "whatsapp_business_messaging"];

/// What the user agreed to in the dialog; codes and every token minted from
/// them carry it unchanged.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    /// Granted WABA ids, most recently created first (Meta's order).
    pub waba_ids: Vec<&'static str>,
    /// The permissions granted: what the dialog asked for, or the configuration's.
    pub scopes: Vec<&'static str>,
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
    /// Kept byte for byte for a dialog code: the exchange must present the identical
    /// string. `None` for a code the JS SDK handed to a page, which is exchanged without
    /// one.
    pub redirect_uri: Option<String>,
    /// What the code is exchanged for.
    pub yields: TokenKind,
    pub grant: Grant,
    pub expires_at: Instant,
    pub used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// A person's token from a `scope=` dialog.
    ShortLivedUser,
    LongLivedUser,
    /// A business integration system user token (Login for Business configuration).
    Business {
        sixty_days: bool,
    },
}

#[derive(Debug)]
pub(super) struct IssuedToken {
    pub kind: TokenKind,
    pub grant: Grant,
    /// Unix seconds; `None` for a business token that never expires.
    pub expires_at: Option<u64>,
    /// The customer removed the app (or Meta invalidated the token).
    pub revoked: bool,
}

impl IssuedToken {
    pub fn is_expired(&self) -> bool {
        self.expires_at.is_some_and(|t| unix_now() >= t)
    }
}

/// How long a verification code Meta sent to a number is accepted.
pub(super) const VERIFICATION_CODE_SECS: u64 = 10 * 60;
/// Codes a number may be sent per hour; more are refused (136024).
pub(super) const CODE_REQUESTS_PER_HOUR: usize = 3;
/// Wrong tries one code survives; then it is void and a new one must be requested.
pub(super) const CODE_TRIES: u32 = 3;
/// Meta accepts a coexistence sync only within 24 hours of the onboarding (2593108).
pub(super) const SYNC_WINDOW_SECS: u64 = 24 * 3600;

/// A number's Cloud API registration, verification and coexistence syncs, as Meta keeps
/// them.
#[derive(Debug, Clone)]
pub(super) struct NumberState {
    pub registered: bool,
    /// The two-step verification PIN; registering with another one is 133005.
    pub pin: Option<String>,
    /// Registration attempts, for the 72-hour allowance.
    pub attempts: Vec<Instant>,
    /// Meta has verified the number (`code_verification_status`).
    pub verified: bool,
    /// The verification code last sent to the number.
    pub code: Option<SentCode>,
    /// When codes were requested (Unix seconds), for the hourly limit.
    pub code_requests: Vec<u64>,
    /// A coexistence number's last onboarding (Unix seconds), and the syncs asked since.
    pub onboarded_at: Option<u64>,
    pub synced: Vec<&'static str>,
    /// The business turned history sharing off in the WhatsApp Business app.
    pub history_declined: bool,
}

/// A verification code as Meta sent it (by SMS or voice) to the number.
#[derive(Debug, Clone)]
pub(super) struct SentCode {
    pub code: String,
    /// Unix seconds.
    pub expires_at: u64,
    pub wrong_tries: u32,
}

impl NumberState {
    pub fn seeded(phone: &Phone) -> Self {
        Self {
            registered: phone.registered,
            pin: phone.two_step_pin.map(str::to_owned),
            attempts: Vec::new(),
            verified: phone.verified,
            code: None,
            code_requests: Vec::new(),
            onboarded_at: None,
            synced: Vec::new(),
            history_declined: false,
        }
    }

    /// Attempts within the moving window.
    pub fn recent_attempts(&self) -> usize {
        let now = Instant::now();
        self.attempts.iter().filter(|t| now.duration_since(**t) < REGISTRATION_WINDOW).count()
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
    /// The recipient's BSUID, which every status names (`recipient_user_id`).
    pub user_id: String,
    /// The recipient's phone number, which statuses name only when it may be shared.
    pub wa_id: Option<String>,
    /// Sent outside the customer-service window (no message from the recipient in the last
    /// 24 hours) and not a template: Meta accepts it, then fails it with 131047.
    pub outside_window: bool,
}

/// A WhatsApp user as one business portfolio sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Customer {
    pub business_id: &'static str,
    pub wa_id: String,
    /// The user adopted a username and their number is withheld from this business.
    pub withheld: bool,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub codes: HashMap<String, AuthCode>,
    pub tokens: HashMap<String, IssuedToken>,
    /// Registration of the numbers touched so far; the others are as seeded.
    pub numbers: HashMap<&'static str, NumberState>,
    /// Every token ever minted, in order, so tests can look for leaks.
    pub issued: Vec<String>,
    /// The path of every Graph request received (never the query: it may hold tokens).
    pub calls: Vec<String>,
    pub faults: VecDeque<Fault>,
    /// Faults for the requests whose path contains the given text, in order.
    pub targeted_faults: Vec<(String, Fault)>,
    /// WABA ids the app is subscribed to.
    pub subscribed: HashSet<String>,
    /// Messages accepted by `POST /{phone-number-id}/messages`, oldest first.
    pub sent: Vec<Outbound>,
    /// What Meta says of a number's ability to send (`health_status`), as a control set it.
    pub number_health: HashMap<&'static str, Blocked>,
    /// The same for a WABA (a ban, a restriction).
    pub waba_health: HashMap<&'static str, Blocked>,
    /// Seconds a business token has left when the code exchange issues it: a 60-day token
    /// near its end, as if issued long ago.
    pub business_token_secs_left: Option<u64>,
    /// The BSUIDs given out so far, and who they stand for.
    pub customers: HashMap<String, Customer>,
    /// How many times a user's BSUID changed, per (business, number): Meta gives a new one.
    pub bsuid_generations: HashMap<(&'static str, String), u32>,
    /// Template statuses a control changed, by (WABA, name, language).
    pub template_status: HashMap<(String, &'static str, &'static str), String>,
    /// How Embedded Signup's popup hands over its session event and its code.
    pub popup: PopupBehaviour,
    /// Every verification code sent, so tests can look for leaks.
    pub codes_sent: Vec<String>,
    /// Messages customers sent to the numbers, oldest first: what read receipts and the
    /// customer-service window refer to.
    pub received: Vec<Received>,
    /// Media files by id: uploaded by a number, or sent by a customer.
    pub media: HashMap<String, MediaFile>,
    /// The next media URL handed out is expired already.
    pub expire_next_media_url: bool,
    /// What WhatsApp Manager holds per number: the business profile, QR codes, blocked
    /// users, conversational automation and commerce settings.
    pub profiles: HashMap<&'static str, serde_json::Value>,
    pub qr_codes: HashMap<&'static str, Vec<serde_json::Value>>,
    pub blocked: HashMap<&'static str, Vec<String>>,
    pub automation: HashMap<&'static str, serde_json::Value>,
    pub commerce: HashMap<&'static str, serde_json::Value>,
    /// Templates created through the API, per WABA, and seeded ones deleted.
    pub created_templates: Vec<CreatedTemplate>,
    pub deleted_templates: HashSet<(String, String)>,
}

/// A template created with `POST /{waba}/message_templates`.
#[derive(Debug, Clone)]
pub(super) struct CreatedTemplate {
    pub waba_id: String,
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: serde_json::Value,
}

/// A message a customer sent to one of the numbers.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub phone_number_id: &'static str,
    pub message_id: String,
    pub wa_id: String,
    /// Unix seconds.
    pub at: u64,
    /// Marked read by the business (and every earlier one with it).
    pub read: bool,
    /// A typing indicator was shown in reply.
    pub typing: bool,
}

/// A media file Meta holds.
#[derive(Debug, Clone)]
pub(super) struct MediaFile {
    /// The number that uploaded it, or received it.
    pub phone_number_id: &'static str,
    pub mime_type: String,
    pub bytes: bytes::Bytes,
    /// Base64 of the SHA-256 of the bytes, as webhooks carry it.
    pub sha256: String,
    /// The download URLs handed out (their key) and until when each may be used.
    pub downloads: Vec<(String, Instant)>,
}

/// The order in which Embedded Signup's popup posts the session event and hands the SDK
/// its code: Meta documents neither, and a known Meta behaviour loses the session event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum PopupBehaviour {
    /// The session event, then the code.
    #[default]
    SessionFirst,
    /// The code, then the session event.
    CodeFirst,
    /// The code alone: the session event never comes.
    NoSession,
}

/// An entity that cannot send freely, as `health_status` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Blocked {
    /// `BLOCKED` or `LIMITED`.
    pub can_send_message: &'static str,
    pub error_code: i64,
    pub description: String,
}

/// The customer-service window: a business may send anything but a template only within
/// 24 hours of the customer's last message.
pub(super) const SERVICE_WINDOW_SECS: u64 = 24 * 3600;

impl State {
    /// Whether the customer `wa_id` wrote to the number in the last 24 hours.
    pub fn in_service_window(&self, phone: &Phone, wa_id: &str) -> bool {
        let now = unix_now();
        self.received
            .iter()
            .any(|r| r.phone_number_id == phone.id && r.wa_id == wa_id && now - r.at < SERVICE_WINDOW_SECS)
    }

    /// A code for `redirect_uri` (the dialog) or for none (the JS SDK's popup, which
    /// lives 30 seconds).
    pub fn issue_code(
        &mut self,
        client_id: &str,
        redirect_uri: Option<&str>,
        yields: TokenKind,
        grant: Grant,
    ) -> String {
        let code = new_code();
        let lifetime = if redirect_uri.is_some() { CODE_LIFETIME } else { SDK_CODE_LIFETIME };
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.map(str::to_owned),
                yields,
                grant,
                expires_at: Instant::now() + lifetime,
                used: false,
            },
        );
        code
    }

    /// Mints a token and returns it with its `expires_in` (none for a business token that
    /// never expires).
    pub fn issue_token(&mut self, kind: TokenKind, grant: Grant) -> (String, Option<u64>) {
        let lifetime = match kind {
            TokenKind::ShortLivedUser => Some(SHORT_LIVED_SECS),
            TokenKind::LongLivedUser => Some(LONG_LIVED_SECS),
            TokenKind::Business { sixty_days: true } => Some(SIXTY_DAYS_SECS),
            TokenKind::Business { sixty_days: false } => None,
        };
        let token = match kind {
            TokenKind::Business { .. } => new_business_token(),
            _ => new_token(),
        };
        let expires_at = lifetime.map(|l| unix_now() + l);
        self.tokens.insert(token.clone(), IssuedToken { kind, grant, expires_at, revoked: false });
        self.issued.push(token.clone());
        (token, lifetime)
    }

    /// The user's business-scoped user id within a business portfolio: the country of the
    /// number, a period and digits, stable for the pair (Meta: a new one if the number
    /// changes).
    pub fn bsuid(&mut self, business_id: &'static str, wa_id: &str, withheld: bool) -> String {
        let generation = self.bsuid_generations.get(&(business_id, wa_id.to_owned())).copied().unwrap_or(0);
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{business_id}|{wa_id}|{generation}").as_bytes(),
        );
        let digits: String = digest.as_ref()[..10].iter().map(|b| format!("{:02}", b % 100)).collect();
        let id = format!("US.{digits}");
        // A customer keeps what they chose (a withheld number) whoever names them next.
        let customer = Customer { business_id, wa_id: wa_id.to_owned(), withheld };
        self.customers.entry(id.clone()).and_modify(|known| known.withheld |= withheld).or_insert(customer);
        id
    }

    /// Gives the user a new BSUID within the business (the old one no longer reaches them):
    /// the previous and the current one.
    pub fn change_bsuid(&mut self, business_id: &'static str, wa_id: &str) -> (String, String) {
        let withheld = self.customers.values().any(|c| c.business_id == business_id && c.wa_id == wa_id && c.withheld);
        let previous = self.bsuid(business_id, wa_id, withheld);
        self.customers.remove(&previous);
        *self.bsuid_generations.entry((business_id, wa_id.to_owned())).or_insert(0) += 1;
        let current = self.bsuid(business_id, wa_id, withheld);
        (previous, current)
    }

    /// Makes a live business token a 60-day one with `seconds` left.
    pub fn shorten(&mut self, token: &str, seconds: u64) {
        if let Some(issued) = self.tokens.get_mut(token)
            && matches!(issued.kind, TokenKind::Business { .. })
        {
            issued.kind = TokenKind::Business { sixty_days: true };
            issued.expires_at = Some(unix_now() + seconds);
        }
    }

    /// A number's registration, as seeded until something changes it.
    pub fn number(&mut self, phone: &'static Phone) -> &mut NumberState {
        self.numbers.entry(phone.id).or_insert_with(|| NumberState::seeded(phone))
    }

    pub fn is_registered(&self, phone: &Phone) -> bool {
        self.numbers.get(phone.id).map_or(phone.registered, |n| n.registered)
    }

    pub fn is_verified(&self, phone: &Phone) -> bool {
        self.numbers.get(phone.id).map_or(phone.verified, |n| n.verified)
    }

    /// The message a `wamid` names, if the Graph API sent it.
    pub fn outbound(&self, message_id: &str) -> Option<&Outbound> {
        self.sent.iter().find(|sent| sent.message.message_id == message_id)
    }

    /// A live (known, unrevoked, unexpired) token.
    pub fn live_token(&self, token: &str) -> Result<&IssuedToken, TokenProblem> {
        match self.tokens.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(t) if t.revoked => Err(TokenProblem::Revoked),
            Some(t) if t.is_expired() => Err(TokenProblem::Expired),
            Some(t) => Ok(t),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenProblem {
    Unknown,
    Expired,
    Revoked,
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

/// `len` random capital letters and digits (a QR code's `code`).
pub(super) fn random_code(len: usize) -> String {
    random_alphanumeric(len * 2).to_ascii_uppercase().chars().take(len).collect()
}

/// `len` random decimal digits.
pub(super) fn random_digits(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<32>() {
            // 250 is the largest multiple of 10 below 256.
            if byte < 250 && out.len() < len {
                out.push(char::from(b'0' + byte % 10));
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

/// Business integration system user tokens look the same from outside; a different
/// prefix keeps them apart in the sandbox's logs.
fn new_business_token() -> String {
    format!("EAAB{}", random_alphanumeric(60))
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

/// A verification code: six digits.
pub(super) fn new_verification_code() -> String {
    let mut code = String::with_capacity(6);
    while code.len() < 6 {
        for byte in random_bytes::<16>() {
            if byte < 250 && code.len() < 6 {
                code.push(char::from(b'0' + byte % 10));
            }
        }
    }
    code
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
