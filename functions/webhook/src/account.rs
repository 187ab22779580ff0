//! Account-level changes — `account_update`, `phone_number_quality_update`,
//! `business_capability_update`, `phone_number_name_update`, `account_review_update`,
//! `message_template_status_update` — applied to the connections they concern through the
//! shared lifecycle. Each applied change is recorded once in every concerned organization's
//! event trail; its signals change a phone only when they say something new, so a
//! redelivery changes nothing twice.

use crate::Router;
use crate::payload::{AccountChange, Entry, MetaProblem};
use shared::clock::Timestamp;
use shared::domain::{
    ConnectionEvent, Effect, HealthReason, OrganizationId, PhoneMode, Route, Source, WabaId, digits_of,
};
use shared::lifecycle::{self, Clear, Observation, Signal};
use shared::{ApiError, crypto};

/// `account_update` events after which the app can no longer act for the WABA.
const ENDING_EVENTS: &[&str] = &["PARTNER_REMOVED", "PARTNER_APP_UNINSTALLED", "ACCOUNT_DELETED"];
/// A coexistence business changed device or reinstalled the app: Meta offboards the Cloud
/// API side and, typically within minutes, re-onboards it by itself (`ACCOUNT_RECONNECTED`).
/// The connection and its token stay; the number cannot send meanwhile.
const OFFBOARDED: &str = "ACCOUNT_OFFBOARDED";
const RECONNECTED: &str = "ACCOUNT_RECONNECTED";
/// Restrictions that leave sending as it was (Meta's `restriction_info[].restriction_type`).
const NOT_ABOUT_SENDING: &[&str] = &["RESTRICTED_ADD_PHONE_NUMBER_ACTION"];

/// Applies one change; how many connections (organization, phone) it reached.
pub(crate) async fn apply(
    router: &mut Router<'_>,
    entry: &Entry<'_>,
    change: &AccountChange<'_>,
    now: Timestamp,
) -> Result<usize, ApiError> {
    let app = router.app;
    let Ok(waba) = change.waba_id.as_deref().unwrap_or(&entry.id).parse::<WabaId>() else {
        return Ok(0);
    };
    let mut routes = router.waba(&waba).await?;
    // A number's own change concerns that number alone.
    if let Some(display) = &change.display_phone_number {
        let digits = digits_of(display);
        routes.retain(|r| r.display_digits == digits);
    }
    if routes.is_empty() {
        tracing::info!(%waba, field = %change.field, "account change for no connected phone");
        return Ok(0);
    }
    let seen = Observation {
        source: Source::Webhook,
        at: entry.time.map_or(now, Timestamp),
        // The same change redelivered has the same digest, so its events the same ids.
        seed: crypto::hex(&crypto::sha256(format!("{}|{:?}|{change:?}", entry.id, entry.time).as_bytes())[..12]),
    };
    let event = change.event.as_deref().unwrap_or("");
    let mut organizations: Vec<&OrganizationId> = routes.iter().map(|r| &r.organization_id).collect();
    organizations.sort();
    organizations.dedup();
    let record = |organization: &OrganizationId| {
        let phone = change.display_phone_number.as_ref().and_then(|_| routes.first()).map(|r| &r.phone_number_id);
        seen.event(
            organization,
            &waba,
            phone,
            &change.field,
            (None, change.event.as_deref().map(str::to_owned)),
            describe(change),
        )
    };

    if change.field == "account_update" && ENDING_EVENTS.contains(&event) {
        for organization in &organizations {
            if lifecycle::end_connection(app, organization, &waba, &seen, &[record(organization)]).await? {
                tracing::info!(organization = %organization, %waba, %event, "connection ended by Meta");
            }
        }
        router.forget(&waba);
        return Ok(routes.len());
    }

    let records: Vec<ConnectionEvent> = organizations.iter().map(|o| record(o)).collect();
    app.records.record_events(&records).await?;
    let signals = signals(change, seen.at);
    // Offboarding concerns the WABA's WhatsApp Business app number, not its others.
    let only_coexistence = change.field == "account_update" && matches!(event, OFFBOARDED | RECONNECTED);
    if !signals.is_empty() {
        for route in &routes {
            observe(app, route, &signals, &seen, only_coexistence).await?;
        }
    }
    Ok(routes.len())
}

/// Records value-level `errors` of a messages change (a system, app or account problem Meta
/// reports for the phone) in the trail of every organization the change reaches, once.
pub(crate) async fn record_errors(
    app: &shared::App,
    entry: &Entry<'_>,
    routes: &[Route],
    errors: &[MetaProblem<'_>],
    now: Timestamp,
) -> Result<usize, ApiError> {
    let seen = Observation {
        source: Source::Webhook,
        at: entry.time.map_or(now, Timestamp),
        seed: crypto::hex(&crypto::sha256(format!("{}|{:?}|{errors:?}", entry.id, entry.time).as_bytes())[..12]),
    };
    let mut events = Vec::new();
    for route in routes {
        for error in errors {
            let code = error.code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            let words: Vec<&str> =
                [&error.title, &error.message, &error.details].into_iter().filter_map(|w| w.as_deref()).collect();
            let mut unique = words.clone();
            unique.dedup();
            events.push(seen.event(
                &route.organization_id,
                &route.waba_id,
                Some(&route.phone_number_id),
                "meta_error",
                (None, Some(code.clone())),
                format!("Meta reported error {code}: {}", unique.join(" — ")),
            ));
        }
    }
    app.records.record_events(&events).await
}

async fn observe(
    app: &shared::App,
    route: &Route,
    signals: &[Signal],
    seen: &Observation,
    only_coexistence: bool,
) -> Result<(), ApiError> {
    if let Some(phone) = app.records.phone(&route.organization_id, &route.phone_number_id).await?
        && (!only_coexistence || phone.mode == PhoneMode::Coexistence)
    {
        lifecycle::observe(app, phone, signals, seen, &[]).await?;
    }
    Ok(())
}

/// What a change says about the phones it concerns.
fn signals(change: &AccountChange<'_>, at: Timestamp) -> Vec<Signal> {
    let event = change.event.as_deref().unwrap_or("");
    match (change.field.as_ref(), event) {
        ("account_update", "DISABLED_UPDATE") => match change.ban_state.as_deref() {
            Some("DISABLE") => vec![Signal::Raise(HealthReason::new(
                "DISABLE",
                "Meta disabled the WhatsApp Business Account.",
                Effect::Ban,
                at,
            ))],
            Some("REINSTATE") => {
                vec![Signal::Clear(Clear::Codes(vec!["DISABLE".into(), "SCHEDULE_FOR_DISABLE".into()]))]
            }
            Some("SCHEDULE_FOR_DISABLE") => vec![Signal::Raise(HealthReason::new(
                "SCHEDULE_FOR_DISABLE",
                match change.ban_date.as_deref() {
                    Some(date) => format!("Meta will disable the WhatsApp Business Account on {date}."),
                    None => "Meta will disable the WhatsApp Business Account.".into(),
                },
                Effect::Warn,
                at,
            ))],
            _ => Vec::new(),
        },
        ("account_update", OFFBOARDED) => vec![Signal::Raise(HealthReason::new(
            OFFBOARDED,
            "Meta offboarded the number from Cloud API while the business changes device or reinstalls the \
             WhatsApp Business app; Meta reconnects it by itself, usually within minutes.",
            Effect::Restrict,
            at,
        ))],
        ("account_update", RECONNECTED) => vec![Signal::Clear(Clear::Codes(vec![OFFBOARDED.into()]))],
        ("account_update", "ACCOUNT_RESTRICTION") => change
            .restrictions
            .iter()
            .map(|(kind, expiration)| {
                let until = expiration.as_deref().and_then(Timestamp::parse_meta);
                let effect = if NOT_ABOUT_SENDING.contains(&kind.as_ref()) { Effect::Warn } else { Effect::Restrict };
                let message = match until {
                    Some(until) => format!("Meta restricts the account ({kind}) until {}.", until.to_rfc3339()),
                    None => format!("Meta restricts the account ({kind})."),
                };
                Signal::Raise(HealthReason::new(kind.as_ref(), message, effect, at).until(until))
            })
            .collect(),
        ("phone_number_quality_update", _) => vec![Signal::Quality {
            rating: match event {
                "FLAGGED" => Some("RED".into()),
                "UNFLAGGED" => Some("GREEN".into()),
                _ => None,
            },
            event: change.event.as_deref().map(str::to_owned),
            limit: change
                .max_daily_conversations_per_business
                .as_deref()
                .or(change.current_limit.as_deref())
                .map(str::to_owned),
        }],
        ("business_capability_update", _) => match &change.max_daily_conversations_per_business {
            Some(limit) => vec![Signal::Quality { rating: None, event: None, limit: Some(limit.to_string()) }],
            None => Vec::new(),
        },
        ("phone_number_name_update", _) => match &change.decision {
            Some(decision) => vec![Signal::NameStatus(decision.to_string())],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The change in words, for the event trail (Meta's names and values, never a token).
fn describe(change: &AccountChange<'_>) -> String {
    let parts = [
        ("event", &change.event),
        ("ban state", &change.ban_state),
        ("ban date", &change.ban_date),
        ("violation", &change.violation_type),
        ("decision", &change.decision),
        ("requested name", &change.requested_verified_name),
        ("rejection reason", &change.rejection_reason),
        ("messaging limit", &change.max_daily_conversations_per_business),
        ("current limit", &change.current_limit),
        ("template", &change.message_template_name),
        ("language", &change.message_template_language),
        ("reason", &change.reason),
    ];
    let mut text: Vec<String> =
        parts.iter().filter_map(|(name, value)| Some(format!("{name}: {}", value.as_deref()?))).collect();
    text.extend(change.restrictions.iter().map(|(kind, until)| match until {
        Some(until) => format!("restriction: {kind} until {until}"),
        None => format!("restriction: {kind}"),
    }));
    let described = format!("{} ({})", change.field, text.join("; "));
    // Bounded, so an event always fits in a stored item.
    described.chars().take(MAX_DESCRIPTION).collect()
}

const MAX_DESCRIPTION: usize = 4000;

#[cfg(test)]
mod tests {
    use super::*;

    fn change(field: &'static str, event: &'static str) -> AccountChange<'static> {
        AccountChange { field: field.into(), event: Some(event.into()), ..AccountChange::default() }
    }

    #[test]
    fn bans_are_raised_and_lifted_by_code() {
        let at = Timestamp(5);
        let disable =
            AccountChange { ban_state: Some("DISABLE".into()), ..change("account_update", "DISABLED_UPDATE") };
        assert!(matches!(&signals(&disable, at)[..], [Signal::Raise(r)] if r.effect == Effect::Ban));
        let reinstate =
            AccountChange { ban_state: Some("REINSTATE".into()), ..change("account_update", "DISABLED_UPDATE") };
        assert!(
            matches!(&signals(&reinstate, at)[..], [Signal::Clear(Clear::Codes(codes))] if codes.contains(&"DISABLE".to_owned()))
        );
        assert!(signals(&change("account_update", "ACCOUNT_VIOLATION"), at).is_empty(), "recorded only");
    }

    #[test]
    fn an_offboarded_coexistence_number_is_restricted_until_meta_reconnects_it() {
        let offboarded = signals(&change("account_update", OFFBOARDED), Timestamp(5));
        assert!(
            matches!(&offboarded[..], [Signal::Raise(r)] if r.code == OFFBOARDED && r.effect == Effect::Restrict),
            "kept, and refused to send, not ended"
        );
        assert!(!ENDING_EVENTS.contains(&OFFBOARDED));
        let reconnected = signals(&change("account_update", RECONNECTED), Timestamp(6));
        assert_eq!(reconnected, vec![Signal::Clear(Clear::Codes(vec![OFFBOARDED.into()]))]);
    }

    #[test]
    fn restrictions_end_at_their_expiration() {
        let restricted = AccountChange {
            restrictions: vec![
                ("RESTRICTED_BIZ_INITIATED_MESSAGING".into(), Some("2026-12-19T13:59:20+0000".into())),
                ("RESTRICTED_ADD_PHONE_NUMBER_ACTION".into(), None),
            ],
            ..change("account_update", "ACCOUNT_RESTRICTION")
        };
        let raised: Vec<_> = signals(&restricted, Timestamp(5))
            .into_iter()
            .map(|s| match s {
                Signal::Raise(r) => (r.effect, r.until),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            raised,
            vec![(Effect::Restrict, Timestamp::parse_meta("2026-12-19T13:59:20Z")), (Effect::Warn, None)]
        );
    }

    #[test]
    fn limits_come_from_either_shape_of_the_quality_update() {
        let current = AccountChange {
            max_daily_conversations_per_business: Some("TIER_10K".into()),
            ..change("phone_number_quality_update", "THROUGHPUT_UPGRADE")
        };
        let older =
            AccountChange { current_limit: Some("TIER_1K".into()), ..change("phone_number_quality_update", "FLAGGED") };
        assert_eq!(
            signals(&current, Timestamp(0)),
            vec![Signal::Quality {
                rating: None,
                event: Some("THROUGHPUT_UPGRADE".into()),
                limit: Some("TIER_10K".into())
            }]
        );
        assert_eq!(
            signals(&older, Timestamp(0)),
            vec![Signal::Quality {
                rating: Some("RED".into()),
                event: Some("FLAGGED".into()),
                limit: Some("TIER_1K".into())
            }]
        );
    }
}
