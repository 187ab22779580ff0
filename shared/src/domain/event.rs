//! The event trail: what changed on a connection, when, and who said so.

use super::{OrganizationId, PhoneNumberId, WabaId};
use crate::clock::Timestamp;
use serde::Serialize;

/// Who noticed a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A request to this service (a connect, a send Meta refused, a disconnect).
    Api,
    /// A webhook from Meta.
    Webhook,
    /// The health sweep.
    Sweep,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Webhook => "webhook",
            Source::Sweep => "sweep",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "api" => Some(Source::Api),
            "webhook" => Some(Source::Webhook),
            "sweep" => Some(Source::Sweep),
            _ => None,
        }
    }
}

/// One entry of an organization's event trail. `kind` is what changed (`health`,
/// `can_send`, `is_active`, `registration`, `health_reason`, `token_renewed`,
/// `resubscribed`) or the webhook field that was applied (`account_update`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionEvent {
    pub organization_id: OrganizationId,
    /// Stable for the same observation, so recording it twice stores it once.
    pub id: String,
    pub at: Timestamp,
    pub kind: String,
    /// The WABA the change concerns; `None` for one about the organization alone (an event
    /// endpoint disabled).
    pub waba_id: Option<WabaId>,
    pub phone_number_id: Option<PhoneNumberId>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
    pub source: Source,
    /// The onboarding link the connect came through, if any.
    pub onboarding_link_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEventView<'a> {
    pub id: &'a str,
    pub at: String,
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<&'a WabaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<&'a PhoneNumberId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a str>,
    pub reason: &'a str,
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onboarding_link_id: Option<&'a str>,
}

impl ConnectionEvent {
    pub fn view(&self) -> ConnectionEventView<'_> {
        ConnectionEventView {
            id: &self.id,
            at: self.at.to_rfc3339(),
            kind: &self.kind,
            waba_id: self.waba_id.as_ref(),
            phone_number_id: self.phone_number_id.as_ref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            reason: &self.reason,
            source: self.source.as_str(),
            onboarding_link_id: self.onboarding_link_id.as_deref(),
        }
    }
}
