use super::{
    Ciphertext, CoexistenceSync, Health, HealthRecord, OrganizationId, PhoneNumberId, ReasonView, SyncView, WabaId,
};
use crate::clock::Timestamp;
use serde::Serialize;

/// What kind of token Meta issued, as `/debug_token` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A business integration system user token (Embedded Signup / Login for Business
    /// configuration): never expires, or lasts 60 days and is renewed; dies when the
    /// customer removes the app.
    Business,
    /// A person's token (`scope=` dialog): about 60 days once exchanged, then the person
    /// must sign in again.
    User,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Business => "business",
            TokenKind::User => "user",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "business" => Some(TokenKind::Business),
            "user" => Some(TokenKind::User),
            _ => None,
        }
    }
}

/// Whether a phone is connected. An active connection always has a sealed token; an
/// inactive one never keeps one (disconnect erases it), so neither half-state can exist.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneLink {
    Active {
        token: Ciphertext,
        kind: TokenKind,
        /// When Meta's token ends; `None` for a business token that never expires.
        expires_at: Option<Timestamp>,
    },
    Inactive,
}

/// How the number reaches WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneMode {
    /// A number on Cloud API only, which must be registered.
    CloudApi,
    /// A WhatsApp Business app number shared with Cloud API ("coexistence"): it is never
    /// registered (that would take it off the app).
    Coexistence,
}

impl PhoneMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneMode::CloudApi => "cloud_api",
            PhoneMode::Coexistence => "coexistence",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "cloud_api" => Some(PhoneMode::CloudApi),
            "coexistence" => Some(PhoneMode::Coexistence),
            _ => None,
        }
    }
}

/// Where the number stands with Cloud API registration (`POST /{phone}/register`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered,
    /// A coexistence number: registration does not apply.
    NotRequired,
    /// The number already has a two-step verification PIN (Meta's 133005): the person
    /// must enter it.
    PinRequired,
    /// Meta has not verified the number (`code_verification_status` is not `VERIFIED`), and
    /// refuses to register it (133006) until the person enters the code Meta sends to it.
    VerificationRequired,
    /// Meta asked to wait (rate limit, a recent deletion) or did not answer: tried again
    /// later, never in a loop.
    Pending {
        reason: String,
    },
    /// Meta refused for another reason; the person has to act on it.
    Failed {
        reason: String,
    },
}

impl Registration {
    pub fn as_str(&self) -> &'static str {
        match self {
            Registration::Registered => "registered",
            Registration::NotRequired => "not_required",
            Registration::PinRequired => "pin_required",
            Registration::VerificationRequired => "verification_required",
            Registration::Pending { .. } => "pending",
            Registration::Failed { .. } => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Registration::Pending { reason } | Registration::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    /// Whether Cloud API lets the number send.
    pub fn allows_sending(&self) -> bool {
        matches!(self, Registration::Registered | Registration::NotRequired)
    }

    pub fn from_parts(status: &str, reason: Option<String>) -> Option<Self> {
        Some(match status {
            "registered" => Registration::Registered,
            "not_required" => Registration::NotRequired,
            "pin_required" => Registration::PinRequired,
            "verification_required" => Registration::VerificationRequired,
            "pending" => Registration::Pending { reason: reason.unwrap_or_default() },
            "failed" => Registration::Failed { reason: reason.unwrap_or_default() },
            _ => return None,
        })
    }
}

/// Meta allows 10 registration attempts per number in a moving 72-hour window (133016).
pub const REGISTRATION_ATTEMPTS: usize = 10;
pub const REGISTRATION_WINDOW_SECONDS: i64 = 72 * 3600;

/// The authority for everything about a connected phone (seed 002's single source of truth).
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumber {
    pub organization_id: OrganizationId,
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    pub link: PhoneLink,
    pub mode: PhoneMode,
    pub registration: Registration,
    /// When registration was attempted within the last 72 hours, oldest first.
    pub registration_attempts: Vec<Timestamp>,
    /// Until when Meta refuses to register the number after answering 133016 (its 72 hours
    /// start then, whatever this service counted): no `/register` is made before.
    pub registration_limited_until: Option<Timestamp>,
    /// The two-step verification PIN the number was registered with, sealed; erased with
    /// the token on disconnect.
    pub pin: Option<Ciphertext>,
    pub display_phone: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    /// The last `phone_number_quality_update` event (`FLAGGED`, `UNFLAGGED`, `UPGRADE`, …).
    pub quality_event: Option<String>,
    /// The messaging limit tier Meta last reported (`TIER_1K`, …).
    pub messaging_limit: Option<String>,
    /// The display name's review status (`APPROVED`, `PENDING_REVIEW`, `DECLINED`, …).
    pub name_status: Option<String>,
    /// Why the phone may not work (Meta's reasons), and when Meta was last asked.
    pub health: HealthRecord,
    /// A coexistence number's one-time syncs of contacts and history (`None` otherwise).
    pub sync: Option<CoexistenceSync>,
    pub verified_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a WABA's webhooks go: one connected organization's PhoneNumber, as the routing
/// item in the WABA's partition keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub organization_id: OrganizationId,
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    /// The display number as Meta writes it in webhooks (`15550100001`).
    pub display_digits: String,
}

/// A phone number's digits alone, the form Meta uses for display numbers in webhooks.
pub fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

impl PhoneNumber {
    /// The display number as Meta writes it in webhooks (`15550100001`).
    pub fn display_digits(&self) -> String {
        digits_of(&self.display_phone)
    }

    pub fn is_active(&self) -> bool {
        matches!(self.link, PhoneLink::Active { .. })
    }

    pub fn token(&self) -> Option<&Ciphertext> {
        match &self.link {
            PhoneLink::Active { token, .. } => Some(token),
            PhoneLink::Inactive => None,
        }
    }

    pub fn token_kind(&self) -> Option<TokenKind> {
        match &self.link {
            PhoneLink::Active { kind, .. } => Some(*kind),
            PhoneLink::Inactive => None,
        }
    }

    pub fn token_expires_at(&self) -> Option<Timestamp> {
        match &self.link {
            PhoneLink::Active { expires_at, .. } => *expires_at,
            PhoneLink::Inactive => None,
        }
    }

    pub fn health_at(&self, now: Timestamp) -> Health {
        if self.is_active() { self.health.health(now) } else { Health::Disconnected }
    }

    /// Whether a message can be sent from this number at `now`: connected, registered (or
    /// coexistence), and nothing Meta said stands in the way.
    pub fn can_send_at(&self, now: Timestamp) -> bool {
        self.is_active() && self.registration.allows_sending() && self.health_at(now) == Health::Ok
    }

    pub fn can_send(&self) -> bool {
        self.can_send_at(Timestamp::now())
    }

    /// Registration attempts still allowed now, within Meta's moving window.
    pub fn registration_attempts_left(&self, now: Timestamp) -> usize {
        let recent = self.recent_attempts(now).count();
        REGISTRATION_ATTEMPTS.saturating_sub(recent)
    }

    /// When the next attempt is allowed, if it is not now: after Meta's 133016 block, and
    /// once the moving window has room.
    pub fn next_registration_attempt(&self, now: Timestamp) -> Option<Timestamp> {
        let blocked = self.registration_limited_until.filter(|until| *until > now);
        let full = (self.registration_attempts_left(now) == 0)
            .then(|| self.recent_attempts(now).next().map(|t| t.plus_seconds(REGISTRATION_WINDOW_SECONDS)))
            .flatten();
        blocked.into_iter().chain(full).max()
    }

    fn recent_attempts(&self, now: Timestamp) -> impl Iterator<Item = Timestamp> + '_ {
        self.registration_attempts.iter().copied().filter(move |t| t.plus_seconds(REGISTRATION_WINDOW_SECONDS) > now)
    }

    /// Records an attempt now, forgetting those that left the window.
    pub fn record_registration_attempt(&mut self, now: Timestamp) {
        self.registration_attempts.retain(|t| t.plus_seconds(REGISTRATION_WINDOW_SECONDS) > now);
        self.registration_attempts.push(now);
    }

    pub fn view(&self) -> PhoneView<'_> {
        let now = Timestamp::now();
        PhoneView {
            id: format!("{}:{}", self.organization_id, self.phone_number_id),
            phone_number_id: &self.phone_number_id,
            waba_id: &self.waba_id,
            display_phone: &self.display_phone,
            verified_name: self.verified_name.as_deref(),
            is_active: self.is_active(),
            mode: self.mode.as_str(),
            registration: self.registration.as_str(),
            registration_reason: self.registration.reason(),
            registration_possible_after: self.next_registration_attempt(now).map(Timestamp::to_rfc3339),
            can_send: self.can_send_at(now),
            health: self.health_at(now).as_str(),
            health_reasons: self.health.reasons.iter().filter(|r| r.is_live(now)).map(|r| r.view()).collect(),
            checked_at: self.health.checked_at.map(Timestamp::to_rfc3339),
            quality_rating: self.quality_rating.as_deref(),
            quality_event: self.quality_event.as_deref(),
            messaging_limit: self.messaging_limit.as_deref(),
            name_status: self.name_status.as_deref(),
            token_kind: self.token_kind().map(TokenKind::as_str),
            token_expires_at: self.token_expires_at().map(Timestamp::to_rfc3339),
            verified_at: self.verified_at.to_rfc3339(),
            created_at: self.created_at.to_rfc3339(),
            sync: self.sync.as_ref().map(CoexistenceSync::view),
        }
    }
}

/// How the API shows a phone: everything but the token and the PIN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneView<'a> {
    pub id: String,
    pub phone_number_id: &'a PhoneNumberId,
    pub waba_id: &'a WabaId,
    pub display_phone: &'a str,
    pub verified_name: Option<&'a str>,
    pub is_active: bool,
    pub mode: &'static str,
    pub registration: &'static str,
    pub registration_reason: Option<&'a str>,
    /// When Meta allows the next registration attempt, while it does not allow one now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_possible_after: Option<String>,
    pub can_send: bool,
    pub health: &'static str,
    pub health_reasons: Vec<ReasonView<'a>>,
    /// When the health sweep last asked Meta about this phone.
    pub checked_at: Option<String>,
    pub quality_rating: Option<&'a str>,
    pub quality_event: Option<&'a str>,
    pub messaging_limit: Option<&'a str>,
    pub name_status: Option<&'a str>,
    pub token_kind: Option<&'static str>,
    /// When Meta's token ends; reconnect (user token) before then. `null` for a business
    /// token that never expires.
    pub token_expires_at: Option<String>,
    pub verified_at: String,
    pub created_at: String,
    /// A coexistence number's contacts and history syncs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncView<'a>>,
}

/// A connected Cloud API number, registered and healthy, for tests to vary.
#[cfg(test)]
impl PhoneNumber {
    pub(crate) fn example() -> Self {
        PhoneNumber {
            organization_id: "org_1".parse().unwrap(),
            phone_number_id: "106540352242922".parse().unwrap(),
            waba_id: "102290129340398".parse().unwrap(),
            link: PhoneLink::Active {
                token: Ciphertext::from_bytes(vec![1]),
                kind: TokenKind::Business,
                expires_at: None,
            },
            mode: PhoneMode::CloudApi,
            registration: Registration::Registered,
            registration_attempts: Vec::new(),
            registration_limited_until: None,
            pin: None,
            display_phone: "+1 555-010-0001".into(),
            verified_name: None,
            quality_rating: None,
            quality_event: None,
            messaging_limit: None,
            name_status: None,
            health: HealthRecord::default(),
            sync: None,
            verified_at: Timestamp(0),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_drop_formatting() {
        assert_eq!(digits_of("+1 555-010-0001"), "15550100001");
    }

    #[test]
    fn registration_attempts_follow_metas_moving_window() {
        let mut phone = PhoneNumber {
            link: PhoneLink::Inactive,
            registration: Registration::Pending { reason: String::new() },
            ..PhoneNumber::example()
        };
        let start = Timestamp(1_000_000);
        for i in 0..10 {
            assert_eq!(phone.registration_attempts_left(start.plus_seconds(i)), 10 - i as usize);
            phone.record_registration_attempt(start.plus_seconds(i));
        }
        assert_eq!(phone.registration_attempts_left(start.plus_seconds(60)), 0);
        assert_eq!(
            phone.next_registration_attempt(start.plus_seconds(60)),
            Some(start.plus_seconds(REGISTRATION_WINDOW_SECONDS))
        );
        let later = start.plus_seconds(REGISTRATION_WINDOW_SECONDS);
        assert_eq!(phone.registration_attempts_left(later), 1, "the first attempt left the window");
        phone.record_registration_attempt(later);
        assert_eq!(phone.registration_attempts.len(), 10, "attempts outside the window are forgotten");
        // Meta's own block after 133016 holds whatever this service counted.
        phone.registration_attempts.clear();
        let blocked_until = later.plus_seconds(REGISTRATION_WINDOW_SECONDS);
        phone.registration_limited_until = Some(blocked_until);
        assert_eq!(phone.next_registration_attempt(later.plus_seconds(1)), Some(blocked_until));
        assert_eq!(phone.next_registration_attempt(blocked_until), None, "the block ends on time");
    }
}
