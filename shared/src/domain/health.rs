//! Whether a connected phone works, and why not. Health is never stored as a bare state: it
//! is derived from the reasons Meta gave (a refused token, a banned WABA, a blocked number,
//! …), each kept under Meta's own code. Raising a reason that is already there changes
//! nothing, so every source (Graph answers, webhooks, the sweep) may report the same fact
//! again — a redelivered webhook, the next sweep — without a second change.

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// What a reason does to the phone, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Shown, but the phone still sends (a token about to expire, a scheduled ban).
    Warn,
    /// Meta refuses sends for now (a restricted account, a blocked number).
    Restrict,
    /// The token no longer works: a person must connect again.
    Reauthorize,
    /// The WABA is disabled.
    Ban,
}

/// A phone's health as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    NeedsReauthorization,
    Restricted,
    Banned,
    Disconnected,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::NeedsReauthorization => "needs_reauthorization",
            Health::Restricted => "restricted",
            Health::Banned => "banned",
            Health::Disconnected => "disconnected",
        }
    }
}

/// One reason, as Meta gave it: its code (`190`, `131031`, `DISABLE`, a restriction type…)
/// and its text; never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReason {
    pub code: String,
    pub message: String,
    pub effect: Effect,
    pub since: Timestamp,
    /// When Meta said it ends (a restriction's expiration); `None` until cleared.
    pub until: Option<Timestamp>,
    /// The report of Meta's that raised it (`health_status`, …) when that report alone
    /// may clear it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl HealthReason {
    /// A reason; its code and message are cut to a bounded length, since both may come from
    /// a webhook and the phone's item must stay far below DynamoDB's 400 KB.
    pub fn new(code: impl Into<String>, message: impl Into<String>, effect: Effect, since: Timestamp) -> Self {
        let (code, message) = (bounded(code.into(), MAX_REASON_CODE), bounded(message.into(), MAX_REASON_MESSAGE));
        Self { code, message, effect, since, until: None, origin: None }
    }

    pub fn from_report(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    pub fn until(mut self, until: Option<Timestamp>) -> Self {
        self.until = until;
        self
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

/// The longest reason code kept (Meta's are a few dozen characters).
const MAX_REASON_CODE: usize = 100;
/// The longest reason message kept.
const MAX_REASON_MESSAGE: usize = 1_000;
/// The most reasons a phone keeps at once; beyond, the least severe and oldest goes.
pub const MAX_REASONS: usize = 32;

/// `text`, cut to at most `max` characters.
fn bounded(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
    }
    text
}

/// The reasons a phone is not fully well, and when it was last checked against Meta.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthRecord {
    pub reasons: Vec<HealthReason>,
    pub checked_at: Option<Timestamp>,
}

impl HealthRecord {
    /// Adds a reason, or updates the one with the same code (keeping when it began).
    /// Whether anything the API shows changed.
    pub fn raise(&mut self, reason: HealthReason) -> bool {
        match self.reasons.iter_mut().find(|r| r.code == reason.code) {
            Some(known)
                if known.message == reason.message && known.effect == reason.effect && known.until == reason.until =>
            {
                false
            }
            Some(known) => {
                *known = HealthReason { since: known.since, ..reason };
                true
            }
            None => {
                self.reasons.push(reason);
                if self.reasons.len() > MAX_REASONS
                    && let Some(weakest) = (0..self.reasons.len()).min_by_key(|&i| {
                        let r = &self.reasons[i];
                        (r.effect, i == self.reasons.len() - 1, r.since)
                    })
                {
                    self.reasons.remove(weakest);
                }
                true
            }
        }
    }

    /// Removes the reasons `which` selects; whether any was there.
    pub fn clear(&mut self, which: impl Fn(&HealthReason) -> bool) -> bool {
        let before = self.reasons.len();
        self.reasons.retain(|r| !which(r));
        self.reasons.len() != before
    }

    /// The most severe reason in force now.
    pub fn worst(&self, now: Timestamp) -> Option<&HealthReason> {
        self.reasons.iter().filter(|r| r.is_live(now)).max_by_key(|r| r.effect)
    }

    /// The health of an active phone with these reasons.
    pub fn health(&self, now: Timestamp) -> Health {
        match self.worst(now).map(|r| r.effect) {
            None | Some(Effect::Warn) => Health::Ok,
            Some(Effect::Restrict) => Health::Restricted,
            Some(Effect::Reauthorize) => Health::NeedsReauthorization,
            Some(Effect::Ban) => Health::Banned,
        }
    }
}

/// How the API shows a reason.
#[derive(Debug, Serialize)]
pub struct ReasonView<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub since: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl HealthReason {
    pub fn view(&self) -> ReasonView<'_> {
        ReasonView {
            code: &self.code,
            message: &self.message,
            since: self.since.to_rfc3339(),
            until: self.until.map(Timestamp::to_rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_same_reason_twice_changes_nothing_the_second_time() {
        let mut record = HealthRecord::default();
        let banned = HealthReason::new("DISABLE", "The WABA was disabled.", Effect::Ban, Timestamp(10));
        assert!(record.raise(banned.clone()));
        assert!(!record.raise(HealthReason { since: Timestamp(20), ..banned }), "a redelivery is no change");
        assert_eq!(record.reasons[0].since, Timestamp(10));
        assert_eq!(record.health(Timestamp(30)), Health::Banned);
    }

    #[test]
    fn the_worst_reason_in_force_decides() {
        let mut record = HealthRecord::default();
        record.raise(HealthReason::new("token_expiring", "t", Effect::Warn, Timestamp(0)));
        assert_eq!(record.health(Timestamp(1)), Health::Ok);
        record.raise(
            HealthReason::new("RESTRICTED_BIZ_INITIATED_MESSAGING", "r", Effect::Restrict, Timestamp(0))
                .until(Some(Timestamp(100))),
        );
        assert_eq!(record.health(Timestamp(99)), Health::Restricted);
        assert_eq!(record.health(Timestamp(100)), Health::Ok, "a restriction ends at its expiration");
        record.raise(HealthReason::new("190", "expired", Effect::Reauthorize, Timestamp(0)));
        assert_eq!(record.health(Timestamp(1)), Health::NeedsReauthorization);
        assert!(record.clear(|r| r.effect == Effect::Reauthorize));
        assert!(!record.clear(|r| r.effect == Effect::Reauthorize));
        assert_eq!(record.health(Timestamp(1)), Health::Restricted);
    }
}
