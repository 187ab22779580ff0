use super::{Ciphertext, OrganizationId, PhoneNumberId, WabaId};
use crate::clock::Timestamp;
use serde::Serialize;

/// Whether a phone is connected. An active connection always has a sealed token; an
/// inactive one never keeps one (disconnect erases it), so neither half-state can exist.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneLink {
    Active { token: Ciphertext },
    Inactive,
}

/// The authority for everything about a connected phone (seed 002's single source of truth).
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumber {
    pub organization_id: OrganizationId,
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    pub link: PhoneLink,
    pub display_phone: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    /// The last `phone_number_quality_update` event (`FLAGGED`, `UNFLAGGED`, `UPGRADE`, …).
    pub quality_event: Option<String>,
    /// The messaging limit tier Meta last reported (`TIER_1K`, …).
    pub messaging_limit: Option<String>,
    pub token_expires_at: Option<Timestamp>,
    pub verified_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
            PhoneLink::Active { token } => Some(token),
            PhoneLink::Inactive => None,
        }
    }

    pub fn view(&self) -> PhoneView<'_> {
        PhoneView {
            id: format!("{}:{}", self.organization_id, self.phone_number_id),
            phone_number_id: &self.phone_number_id,
            waba_id: &self.waba_id,
            display_phone: &self.display_phone,
            verified_name: self.verified_name.as_deref(),
            is_active: self.is_active(),
            quality_rating: self.quality_rating.as_deref(),
            quality_event: self.quality_event.as_deref(),
            messaging_limit: self.messaging_limit.as_deref(),
            token_expires_at: self.token_expires_at.map(Timestamp::to_rfc3339),
            verified_at: self.verified_at.to_rfc3339(),
            created_at: self.created_at.to_rfc3339(),
        }
    }
}

/// How the API shows a phone: everything but the token.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneView<'a> {
    pub id: String,
    pub phone_number_id: &'a PhoneNumberId,
    pub waba_id: &'a WabaId,
    pub display_phone: &'a str,
    pub verified_name: Option<&'a str>,
    pub is_active: bool,
    pub quality_rating: Option<&'a str>,
    pub quality_event: Option<&'a str>,
    pub messaging_limit: Option<&'a str>,
    /// When Meta's token ends; reconnect before then.
    pub token_expires_at: Option<String>,
    pub verified_at: String,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::digits_of;

    #[test]
    fn digits_drop_formatting() {
        assert_eq!(digits_of("+1 555-010-0001"), "15550100001");
    }
}
