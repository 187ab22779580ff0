//! The health sweep: asks Meta about every active connection, so that what no webhook says
//! (a token that ended, a number Meta blocked, a subscription that vanished) is noticed
//! anyway. One token serves all the phones of a connection, so it works per connection:
//! `debug_token`; the WABA's numbers with `health_status`; the WABA's `subscribed_apps`
//! (the app subscribed again when missing). It renews 60-day business tokens in their last
//! week, warns about user tokens that are about to end, and retries pending registrations
//! within Meta's allowance. Everything it learns goes through the lifecycle module.
//!
//! Two sweeps never overlap (a lease in the table). A sweep that runs out of time or meets a
//! Meta rate limit stops and keeps its position; the next one resumes there.

use crate::App;
use crate::cipher::{Purpose, TokenContext};
use crate::clock::Timestamp;
use crate::domain::{
    AccessToken, Ciphertext, Effect, HealthReason, OrganizationId, PhoneNumber, Source, TokenKind, WabaId,
};
use crate::error::ApiError;
use crate::lifecycle::{self, Clear, EXPIRY_NOTICE_SECONDS, Observation, Signal, TOKEN_EXPIRING};
use crate::meta::{HealthStatus, MetaError, PhoneInfo};
use crate::store::records::Listed;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The reasons a `health_status` answer raises; the next answer replaces them.
const HEALTH_STATUS: &str = "health_status";

#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Connections checked at once.
    pub concurrency: usize,
    /// Connections read from the store per page.
    pub page: usize,
    /// How long this sweep may run; it stops in time to keep its position.
    pub budget: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self { concurrency: 8, page: 100, budget: Duration::from_secs(240) }
    }
}

/// What one sweep did, logged as one line and returned to whoever ran it.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub connections_checked: usize,
    /// Phones whose health, quality or registration changed.
    pub changes: usize,
    pub renewed: usize,
    pub resubscribed: usize,
    pub registrations_retried: usize,
    pub graph_calls: usize,
    pub duration_ms: u64,
    /// The pass over every connection ended with this sweep.
    pub finished: bool,
    /// Why it stopped before the end, if it did (a Meta rate limit, its time budget).
    pub stopped: Option<String>,
    /// Another sweep held the lease; this one did nothing.
    pub skipped: bool,
    /// Sealed tokens of OAuth states nobody came back for, erased once they expired.
    pub states_erased: usize,
}

/// What checking one connection came to.
#[derive(Default)]
struct Checked {
    changes: usize,
    renewed: usize,
    resubscribed: usize,
    registrations_retried: usize,
    /// Meta asked to slow down (or did not answer): the sweep stops here.
    throttled: bool,
}

/// Runs one sweep.
pub async fn sweep(app: &App, settings: &SweepSettings) -> Result<SweepReport, ApiError> {
    let started = Instant::now();
    let meta = app.meta()?;
    let calls_before = meta.requests_sent();
    let owner = crate::crypto::random_token::<12>();
    let now = app.now();
    // The lease outlives the budget a little, so a sweep that dies mid-way frees it soon.
    let lease_until = now.plus_seconds(settings.budget.as_secs() as i64 + 60);
    let mut report = SweepReport::default();
    let Some(mut position) = app.records.acquire_sweep(&owner, now, lease_until).await? else {
        report.skipped = true;
        tracing::info!(report = ?report, "health sweep skipped: another sweep holds the lease");
        return Ok(report);
    };

    // The lease is given back however the pass ends, with the position it reached.
    let pass = sweep_pass(app, settings, started, &mut position, &mut report).await;
    let released = app.records.release_sweep(&owner, position.as_deref()).await;
    pass?;
    if !released? {
        tracing::warn!("the sweep's lease was taken over before it ended; its position was not kept");
    }
    report.graph_calls = meta.requests_sent() - calls_before;
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        connections_checked = report.connections_checked,
        changes = report.changes,
        renewed = report.renewed,
        resubscribed = report.resubscribed,
        registrations_retried = report.registrations_retried,
        states_erased = report.states_erased,
        graph_calls = report.graph_calls,
        duration_ms = report.duration_ms,
        finished = report.finished,
        stopped = report.stopped.as_deref().unwrap_or(""),
        "health sweep"
    );
    Ok(report)
}

/// Checks connections from `position` on, page by page, until the last one, the time budget
/// or a Meta rate limit; `position` is left where the next sweep starts.
async fn sweep_pass(
    app: &App,
    settings: &SweepSettings,
    started: Instant,
    position: &mut Option<String>,
    report: &mut SweepReport,
) -> Result<(), ApiError> {
    report.states_erased = app.records.erase_abandoned_states(app.now(), settings.page).await?;
    'pages: loop {
        let page = app.records.connections(position.as_deref(), settings.page).await?;
        if page.is_empty() {
            report.finished = true;
            *position = None;
            break;
        }
        for chunk in page.chunks(settings.concurrency.max(1)) {
            if started.elapsed() >= settings.budget {
                report.stopped = Some("time budget".into());
                break 'pages;
            }
            // A chunk is as many connections as may be checked at once.
            let outcomes = futures_util::future::join_all(chunk.iter().map(|listed| check(app, listed))).await;
            let mut throttled = false;
            for (listed, outcome) in chunk.iter().zip(outcomes) {
                match outcome {
                    Ok(checked) => {
                        report.connections_checked += 1;
                        report.changes += checked.changes;
                        report.renewed += checked.renewed;
                        report.resubscribed += checked.resubscribed;
                        report.registrations_retried += checked.registrations_retried;
                        throttled |= checked.throttled;
                    }
                    Err(error) => {
                        tracing::warn!(%error, organization = %listed.organization_id, "connection not checked");
                    }
                }
            }
            if throttled {
                // The chunk is checked again next time, from its start.
                report.stopped = Some("Meta rate limit".into());
                break 'pages;
            }
            *position = chunk.last().map(|l| l.position.clone());
        }
        if page.len() < settings.page {
            report.finished = true;
            *position = None;
            break;
        }
    }

    Ok(())
}

/// Whether an answer means "stop asking for now" (Meta's app-wide rate limit) rather than
/// "this connection could not be checked": a WABA that keeps failing must not stop every
/// sweep at the same place.
fn throttles(error: &MetaError) -> bool {
    matches!(error, MetaError::Throttled(_))
}

/// A failure that says nothing about the connection (Meta did not answer, or answered
/// transiently): logged, and the sweep moves on.
fn inconclusive(error: &MetaError) -> bool {
    matches!(error, MetaError::Unavailable(_) | MetaError::Malformed(_))
        || matches!(error, MetaError::Graph(graph) if graph.is_transient())
}

/// Checks one connection: every active phone of the organization on the WABA, grouped by
/// the token they share.
async fn check(app: &App, listed: &Listed) -> Result<Checked, ApiError> {
    let phones: Vec<PhoneNumber> = app
        .records
        .phones(&listed.organization_id)
        .await?
        .into_iter()
        .filter(|p| p.is_active() && p.waba_id == listed.waba_id)
        .collect();
    let mut checked = Checked::default();
    let mut groups: Vec<(Ciphertext, Vec<PhoneNumber>)> = Vec::new();
    for phone in phones {
        let Some(token) = phone.token().cloned() else { continue };
        match groups.iter_mut().find(|(t, _)| *t == token) {
            Some((_, group)) => group.push(phone),
            None => groups.push((token, vec![phone])),
        }
    }
    for (sealed, phones) in groups {
        check_token_group(app, &listed.organization_id, &listed.waba_id, &sealed, phones, &mut checked).await?;
        if checked.throttled {
            break;
        }
    }
    Ok(checked)
}

async fn check_token_group(
    app: &App,
    organization: &OrganizationId,
    waba: &WabaId,
    sealed: &Ciphertext,
    phones: Vec<PhoneNumber>,
    checked: &mut Checked,
) -> Result<(), ApiError> {
    let meta = app.meta()?;
    let seen = Observation::new(Source::Sweep, app.now());
    let mut token: AccessToken = app.cipher.open(sealed, TokenContext::new(organization, Purpose::PhoneToken)).await?;
    let first = phones[0].clone();

    // The token itself.
    let info = match meta.debug_token(&token).await {
        Ok(info) => info,
        Err(error) if throttles(&error) => {
            checked.throttled = true;
            return Ok(());
        }
        Err(error) if inconclusive(&error) => {
            tracing::warn!(%error, %organization, "the token could not be checked; the next sweep tries again");
            return Ok(());
        }
        Err(error) => {
            lifecycle::graph_refused(app, &first, &error, Source::Sweep).await;
            checked.changes += phones.len();
            return Ok(());
        }
    };
    let mut token_signals = vec![Signal::Clear(Clear::Effect(Effect::Reauthorize))];
    let ends_soon = |at: Option<Timestamp>| at.is_some_and(|at| at.0 - seen.at.0 < EXPIRY_NOTICE_SECONDS);
    match first.token_kind() {
        Some(TokenKind::Business) if ends_soon(info.expires_at) => {
            match renew(app, organization, &phones, sealed, &token, &seen).await {
                Ok(Some(renewed)) => {
                    token = renewed;
                    checked.renewed += 1;
                    token_signals.push(Signal::Clear(Clear::Codes(vec![TOKEN_EXPIRING.into()])));
                }
                Ok(None) => {}
                Err(error) if throttles(&error) => {
                    checked.throttled = true;
                    return Ok(());
                }
                Err(error) => {
                    lifecycle::graph_refused(app, &first, &error, Source::Sweep).await;
                    tracing::warn!(%error, %organization, "a business token could not be renewed");
                }
            }
        }
        Some(TokenKind::User) if ends_soon(info.expires_at) => {
            let ends = info.expires_at.map_or_else(String::new, Timestamp::to_rfc3339);
            token_signals.push(Signal::Raise(HealthReason::new(
                TOKEN_EXPIRING,
                format!("The person's authorization ends on {ends}: connect WhatsApp again before then."),
                Effect::Warn,
                seen.at,
            )));
        }
        _ => token_signals.push(Signal::Clear(Clear::Codes(vec![TOKEN_EXPIRING.into()]))),
    }

    // The numbers, as Meta sees them now.
    let numbers = match meta.phone_numbers(&token, waba).await {
        Ok(numbers) => numbers,
        Err(error) if throttles(&error) => {
            checked.throttled = true;
            return Ok(());
        }
        Err(error) => {
            if !inconclusive(&error) {
                lifecycle::graph_refused(app, &first, &error, Source::Sweep).await;
            }
            tracing::warn!(%error, %organization, "the numbers could not be read; the next sweep tries again");
            return Ok(());
        }
    };
    let mut current = Vec::with_capacity(phones.len());
    for phone in phones {
        let mut signals = token_signals.clone();
        if let Some(number) = numbers.iter().find(|n| n.id == phone.phone_number_id.as_str()) {
            signals.extend(number_signals(number, seen.at));
        }
        signals.push(Signal::Checked(seen.at));
        // As read at the start of the check: if anything wrote the phone since (a renewal, a
        // webhook), `observe` finds it stale and reads it again.
        let wrote = lifecycle::observe(app, phone.clone(), &signals, &seen, &[]).await?;
        if wrote && changed_visibly(&phone, &signals) {
            checked.changes += 1;
        }
        // What the next steps act on is the phone as the signals left it (a drift just
        // noticed is registered again in this sweep), without reading it again.
        let mut after = phone;
        if wrote {
            lifecycle::apply(&mut after, &signals);
        }
        current.push(after);
    }

    // Registrations Meta asked to wait for, or that drifted, within Meta's allowance.
    for phone in &current {
        if crate::registration::register_again(app, phone, &token, Source::Sweep).await {
            checked.registrations_retried += 1;
        }
    }

    // Coexistence syncs Meta did not take (a rate limit), within its 24 hours.
    for phone in current.iter().filter(|p| p.sync.as_ref().is_some_and(|s| s.is_due())) {
        crate::coexistence::request_syncs(app, phone, Source::Sweep).await?;
    }

    // The app's subscription to the WABA's webhooks.
    match meta.subscribed_apps(&token, waba).await {
        Ok(apps) if apps.iter().any(|id| id == meta.app_id()) => {}
        Ok(_) => match meta.subscribe_app(&token, waba).await {
            Ok(()) => {
                checked.resubscribed += 1;
                let event = seen.event(
                    organization,
                    waba,
                    None,
                    "resubscribed",
                    (None, Some("subscribed".into())),
                    "The app was no longer subscribed to the WABA's webhooks; it was subscribed again.".into(),
                );
                app.records.record_events(&[event]).await?;
                tracing::info!(%organization, %waba, "app subscribed to the WABA again");
            }
            Err(error) if throttles(&error) => checked.throttled = true,
            Err(error) => lifecycle::graph_refused(app, &first, &error, Source::Sweep).await,
        },
        Err(error) if throttles(&error) => checked.throttled = true,
        Err(error) => lifecycle::graph_refused(app, &first, &error, Source::Sweep).await,
    }
    Ok(())
}

/// Whether signals other than "checked now" were applied: the check time alone is no change.
fn changed_visibly(before: &PhoneNumber, signals: &[Signal]) -> bool {
    let mut after = before.clone();
    let visible: Vec<Signal> = signals.iter().filter(|s| !matches!(s, Signal::Checked(_))).cloned().collect();
    lifecycle::apply(&mut after, &visible)
}

/// Renews a business token in its last week: reseals it and puts it on every phone that
/// shares it, with an event. The renewed token, or `None` when the phones changed meanwhile.
async fn renew(
    app: &App,
    organization: &OrganizationId,
    phones: &[PhoneNumber],
    sealed: &Ciphertext,
    token: &AccessToken,
    seen: &Observation,
) -> Result<Option<AccessToken>, MetaError> {
    let meta = app.meta().map_err(|e| MetaError::Malformed(e.message.into_owned()))?;
    let grant = meta.renew_business_token(token).await?;
    let now = app.now();
    let expires_at = grant.expires_in.map(|seconds| now.plus_seconds(seconds));
    let context = TokenContext::new(organization, Purpose::PhoneToken);
    let resealed = app.cipher.seal(&grant.token, context).await.map_err(|e| MetaError::Malformed(e.to_string()))?;
    let mut renewed_any = false;
    for phone in phones {
        let stored = app.records.renew_token(phone, sealed, &resealed, expires_at, now).await;
        renewed_any |= stored.map_err(|e| MetaError::Malformed(e.message.into_owned()))?;
    }
    if !renewed_any {
        return Ok(None);
    }
    let until = expires_at.map_or_else(|| "never".into(), Timestamp::to_rfc3339);
    let event = seen.event(
        organization,
        &phones[0].waba_id,
        None,
        "token_renewed",
        (phones[0].token_expires_at().map(Timestamp::to_rfc3339), Some(until.clone())),
        format!("The 60-day business token was renewed; it now ends on {until}."),
    );
    if let Err(error) = app.records.record_events(&[event]).await {
        tracing::error!(%error, %organization, "token renewal event not stored");
    }
    tracing::info!(%organization, "business token renewed");
    Ok(Some(grant.token))
}

/// What a phone's fields say: quality, name status, `health_status`, and whether Meta still
/// has it on Cloud API.
fn number_signals(number: &PhoneInfo, at: Timestamp) -> Vec<Signal> {
    let mut signals = vec![Signal::Quality { rating: number.quality_rating.clone(), event: None, limit: None }];
    // Only what Meta says: a number whose platform Meta did not report has not drifted.
    if let Some(platform) = number.platform_type.as_deref().filter(|_| !number.is_on_cloud_api()) {
        signals.push(Signal::Unregistered {
            reason: format!("Meta reports the number's platform as {platform}, no longer Cloud API."),
        });
    }
    if let Some(status) = &number.name_status {
        signals.push(Signal::NameStatus(status.clone()));
    }
    if let Some(health) = &number.health_status {
        signals.push(Signal::Clear(Clear::Origin(HEALTH_STATUS)));
        signals.extend(health_status_reasons(health, at).into_iter().map(Signal::Raise));
        // Meta says the number and everything it depends on can send: a restriction a
        // refused send left, or a ban whose reinstatement never reached us, is over.
        if health.can_send_message.as_deref() == Some("AVAILABLE") {
            signals.push(Signal::Clear(Clear::Origin(lifecycle::GRAPH_REFUSAL)));
            signals.push(Signal::Clear(Clear::Codes(vec!["DISABLE".into()])));
        }
    }
    signals
}

/// `health_status`: every entity that cannot send (`BLOCKED`) restricts the number, and one
/// that is `LIMITED` is a warning, each under Meta's error codes.
fn health_status_reasons(health: &HealthStatus, at: Timestamp) -> Vec<HealthReason> {
    let mut reasons = Vec::new();
    for entity in &health.entities {
        let effect = match entity.can_send_message.as_deref() {
            Some("BLOCKED") => Effect::Restrict,
            Some("LIMITED") => Effect::Warn,
            _ => continue,
        };
        let what = entity.entity_type.as_deref().unwrap_or("entity");
        if entity.errors.is_empty() {
            reasons.push(
                HealthReason::new(
                    format!("{what}_{:?}", effect).to_uppercase(),
                    format!("Meta reports the {what} as {}.", entity.can_send_message.as_deref().unwrap_or("")),
                    effect,
                    at,
                )
                .from_report(HEALTH_STATUS),
            );
        }
        for error in &entity.errors {
            let code = error.error_code.map_or_else(|| what.to_uppercase(), |c| c.to_string());
            let mut message = error.error_description.clone().unwrap_or_else(|| format!("The {what} cannot send."));
            if let Some(solution) = &error.possible_solution {
                message = format!("{message} {solution}");
            }
            reasons.push(HealthReason::new(code, message, effect, at).from_report(HEALTH_STATUS));
        }
    }
    if reasons.is_empty() && health.can_send_message.as_deref() == Some("BLOCKED") {
        reasons.push(
            HealthReason::new("BLOCKED", "Meta reports that the number cannot send.", Effect::Restrict, at)
                .from_report(HEALTH_STATUS),
        );
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{HealthEntity, HealthError};

    #[test]
    fn a_blocked_entity_restricts_under_metas_code_and_a_limited_one_warns() {
        let health = HealthStatus {
            can_send_message: Some("BLOCKED".into()),
            entities: vec![
                HealthEntity {
                    entity_type: Some("PHONE_NUMBER".into()),
                    id: Some("1".into()),
                    can_send_message: Some("BLOCKED".into()),
                    errors: vec![HealthError {
                        error_code: Some(141006),
                        error_description: Some("The number is blocked.".into()),
                        possible_solution: Some("Appeal in WhatsApp Manager.".into()),
                    }],
                },
                HealthEntity {
                    entity_type: Some("WABA".into()),
                    can_send_message: Some("LIMITED".into()),
                    ..HealthEntity::default()
                },
                HealthEntity { can_send_message: Some("AVAILABLE".into()), ..HealthEntity::default() },
            ],
        };
        let reasons = health_status_reasons(&health, Timestamp(1));
        let summary: Vec<_> = reasons.iter().map(|r| (r.code.as_str(), r.effect, r.origin.as_deref())).collect();
        assert_eq!(
            summary,
            vec![("141006", Effect::Restrict, Some(HEALTH_STATUS)), ("WABA_WARN", Effect::Warn, Some(HEALTH_STATUS))]
        );
        assert!(reasons[0].message.contains("Appeal"));
    }
}
