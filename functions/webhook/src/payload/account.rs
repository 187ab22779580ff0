//! The account-level fields: `account_update`, `phone_number_quality_update`,
//! `business_capability_update`, `phone_number_name_update`, `account_review_update` and
//! `message_template_status_update`.

use super::RawValueFields;
use super::lenient::{Lenient, LenientList, Loose};
use serde::Deserialize;
use std::borrow::Cow;

/// The webhook fields about the account, its numbers and its templates that the
/// connection's lifecycle reads.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "account_update",
    "phone_number_quality_update",
    "business_capability_update",
    "phone_number_name_update",
    "account_review_update",
    "message_template_status_update",
];

/// The restrictions of one `account_update` that are read.
const MAX_RESTRICTIONS: usize = 16;

/// What an account-level change says, as the union of the fields its kinds carry (Meta's
/// names); which ones count is decided by `field`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountChange<'a> {
    pub field: Cow<'a, str>,
    pub event: Option<Cow<'a, str>>,
    /// `waba_info.waba_id`: the `PARTNER_*` events name the customer's WABA here, and the
    /// partner's own portfolio in the entry's id.
    pub waba_id: Option<Cow<'a, str>>,
    pub display_phone_number: Option<Cow<'a, str>>,
    /// The older limit field of `phone_number_quality_update` (removed by Meta in 2026).
    pub current_limit: Option<Cow<'a, str>>,
    pub max_daily_conversations_per_business: Option<Cow<'a, str>>,
    /// `ban_info.waba_ban_state` and `.waba_ban_date`.
    pub ban_state: Option<Cow<'a, str>>,
    pub ban_date: Option<Cow<'a, str>>,
    /// `restriction_info[]`: each restriction's type and expiration.
    pub restrictions: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>,
    /// `violation_info.violation_type`.
    pub violation_type: Option<Cow<'a, str>>,
    pub decision: Option<Cow<'a, str>>,
    pub requested_verified_name: Option<Cow<'a, str>>,
    pub rejection_reason: Option<Cow<'a, str>>,
    pub reason: Option<Cow<'a, str>>,
    pub message_template_name: Option<Cow<'a, str>>,
    pub message_template_language: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct RawBanInfo<'a> {
    #[serde(borrow)]
    waba_ban_state: Option<Loose<'a>>,
    #[serde(borrow)]
    waba_ban_date: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawRestriction<'a> {
    #[serde(borrow)]
    restriction_type: Option<Loose<'a>>,
    #[serde(borrow)]
    expiration: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawViolation<'a> {
    #[serde(borrow)]
    violation_type: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawWabaInfo<'a> {
    #[serde(borrow)]
    waba_id: Option<Loose<'a>>,
}

/// The account change of `field` from the change's value.
pub(super) fn read<'a>(field: &str, value: RawValueFields<'a>) -> AccountChange<'a> {
    let restrictions: Option<LenientList<RawRestriction<'a>>> = value.restriction_info;
    let ban: Option<Lenient<RawBanInfo<'a>>> = value.ban_info;
    AccountChange {
        event: value.event.and_then(Loose::text),
        waba_id: value.waba_info.and_then(|w| w.0?.waba_id?.text()),
        display_phone_number: value.display_phone_number.and_then(Loose::text),
        current_limit: value.current_limit.and_then(Loose::text),
        max_daily_conversations_per_business: value.max_daily_conversations_per_business.and_then(Loose::text),
        ban_state: ban.as_ref().and_then(|b| b.0.as_ref()?.waba_ban_state.clone()?.text()),
        ban_date: ban.and_then(|b| b.0?.waba_ban_date?.text()),
        restrictions: restrictions
            .map(|r| r.items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| Some((r.restriction_type?.text()?, r.expiration.and_then(Loose::text))))
            // Meta lists a handful; more is not a restriction list, and must not grow an
            // event past what can be stored.
            .take(MAX_RESTRICTIONS)
            .collect(),
        violation_type: value.violation_info.and_then(|v| v.0?.violation_type?.text()),
        decision: value.decision.and_then(Loose::text),
        requested_verified_name: value.requested_verified_name.and_then(Loose::text),
        rejection_reason: value.rejection_reason.and_then(Loose::text),
        reason: value.reason.and_then(Loose::text),
        message_template_name: value.message_template_name.and_then(Loose::text),
        message_template_language: value.message_template_language.and_then(Loose::text),
        field: Cow::Owned(field.to_owned()),
    }
}
