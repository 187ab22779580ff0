//! A connection's lifecycle. Every source that learns something about a connected phone — a
//! Graph answer, a webhook, the health sweep, a connect or a disconnect — goes through here:
//! what it learnt becomes [`Signal`]s, [`apply`] turns them into the phone's new state, and
//! [`transitions`] tells what changed as events of the trail. Applying a signal that is
//! already in force changes nothing, so a redelivered webhook or the next sweep never
//! records a change twice.

use crate::App;
use crate::cipher::{Purpose, TokenContext};
use crate::clock::Timestamp;
use crate::crypto;
use crate::domain::{
    AccessToken, Ciphertext, ConnectionEvent, Effect, Health, HealthReason, Organization, OrganizationId, PhoneMode,
    PhoneNumber, PhoneNumberId, Registration, Source, SyncKind, SyncState, WabaId,
};
use crate::error::ApiError;
use crate::meta::MetaError;
use crate::store::records::Applied;

/// Graph's answer for sending from a number Cloud API no longer has registered.
pub const NOT_REGISTERED: i64 = 133010;
/// Graph's code for a token that no longer works (expired, revoked, the app removed).
pub const TOKEN_INVALID: i64 = 190;
/// Graph codes that mean Meta will not let this number or account send for now: 131031
/// (the account is locked), 368 (temporarily blocked for policy violations).
pub const RESTRICTING_CODES: &[i64] = &[131031, 368];
/// The origin of the reasons a refused Graph call raised: the sweep clears them when Meta's
/// `health_status` says the number can send again.
pub const GRAPH_REFUSAL: &str = "graph";
/// The reason a user token gets when it ends within [`EXPIRY_NOTICE_SECONDS`].
pub const TOKEN_EXPIRING: &str = "token_expiring";
pub const EXPIRY_NOTICE_SECONDS: i64 = 7 * 86_400;
/// How often a write is tried again when the phone changed between its read and its write.
const ATTEMPTS: usize = 4;

/// What a source learnt about a phone.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// Meta gave a reason the phone may not work; replaces the reason with the same code.
    Raise(HealthReason),
    /// Meta no longer says what these reasons said.
    Clear(Clear),
    /// Quality and limits as Meta reported them; `None` leaves a field as it was.
    Quality {
        rating: Option<String>,
        event: Option<String>,
        limit: Option<String>,
    },
    NameStatus(String),
    /// The sweep asked Meta about the phone now.
    Checked(Timestamp),
    /// Meta no longer has the number registered for Cloud API (a send refused with 133010,
    /// or the sweep reading another `platform_type`): it is `pending` until registered
    /// again. Only a number on Cloud API that was registered drifts.
    Unregistered {
        reason: String,
    },
    /// A coexistence sync moved on, as Meta's answer or webhooks tell.
    Sync(SyncKind, SyncState),
    /// Meta refused a sync request in a way that shows it did not take it (a rate limit):
    /// the sync may be asked for again.
    SyncNotTaken(SyncKind),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Clear {
    Codes(Vec<String>),
    Effect(Effect),
    /// Every reason a report raised: what it says now replaces what it said before.
    Origin(&'static str),
}

impl Clear {
    fn matches(&self, reason: &HealthReason) -> bool {
        match self {
            Clear::Codes(codes) => codes.contains(&reason.code),
            Clear::Effect(effect) => reason.effect == *effect,
            Clear::Origin(origin) => reason.origin.as_deref() == Some(*origin),
        }
    }
}

/// Applies signals to a phone; whether anything stored changed.
pub fn apply(phone: &mut PhoneNumber, signals: &[Signal]) -> bool {
    let mut changed = false;
    for signal in signals {
        changed |= match signal {
            Signal::Raise(reason) => phone.health.raise(reason.clone()),
            Signal::Clear(which) => phone.health.clear(|r| which.matches(r)),
            Signal::Quality { rating, event, limit } => {
                let mut any = false;
                for (field, value) in [
                    (&mut phone.quality_rating, rating),
                    (&mut phone.quality_event, event),
                    (&mut phone.messaging_limit, limit),
                ] {
                    if value.is_some() && field != value {
                        *field = value.clone();
                        any = true;
                    }
                }
                any
            }
            Signal::NameStatus(status) => {
                let differs = phone.name_status.as_deref() != Some(status);
                if differs {
                    phone.name_status = Some(status.clone());
                }
                differs
            }
            Signal::Checked(at) => {
                phone.health.checked_at = Some(*at);
                true
            }
            Signal::Unregistered { reason } => {
                let drifts = phone.mode == PhoneMode::CloudApi && phone.registration == Registration::Registered;
                if drifts {
                    phone.registration = Registration::Pending { reason: reason.clone() };
                }
                drifts
            }
            Signal::SyncNotTaken(kind) => match phone.sync.as_mut() {
                Some(sync) if *sync.get(*kind) == SyncState::Requested => {
                    *sync.get_mut(*kind) = SyncState::NotRequested;
                    true
                }
                _ => false,
            },
            Signal::Sync(kind, state) => match phone.sync.as_mut() {
                Some(sync) if sync.get(*kind) != state && sync_may_become(sync.get(*kind), state) => {
                    *sync.get_mut(*kind) = state.clone();
                    true
                }
                _ => false,
            },
        };
    }
    changed
}

/// Whether a sync in `from` may move to `to`: forward only, so a late or redelivered
/// webhook never takes a finished sync back (a first batch of contacts after Meta's answer,
/// progress after completion), and a refusal never overrides what Meta already sent.
fn sync_may_become(from: &SyncState, to: &SyncState) -> bool {
    let rank = |state: &SyncState| match state {
        SyncState::NotRequested => 0,
        SyncState::Requested => 1,
        SyncState::Failed { .. } => 2,
        SyncState::Complete | SyncState::Declined => 3,
    };
    rank(to) > rank(from)
}

/// Who observed what, when: the context every event of one observation shares.
#[derive(Debug, Clone)]
pub struct Observation {
    pub source: Source,
    pub at: Timestamp,
    /// Identifies the observation (a webhook change's digest, a request's id), so the events
    /// it yields have stable ids: recording them again stores nothing.
    pub seed: String,
}

impl Observation {
    pub fn new(source: Source, at: Timestamp) -> Self {
        Self { source, at, seed: crypto::random_token::<12>() }
    }

    pub fn event(
        &self,
        organization: &OrganizationId,
        waba: &WabaId,
        phone: Option<&PhoneNumberId>,
        kind: &str,
        change: (Option<String>, Option<String>),
        reason: String,
    ) -> ConnectionEvent {
        let (from, to) = change;
        let identity = format!(
            "{}|{organization}|{}|{kind}|{}|{}",
            self.seed,
            phone.map_or("", PhoneNumberId::as_str),
            from.as_deref().unwrap_or(""),
            to.as_deref().unwrap_or("")
        );
        ConnectionEvent {
            organization_id: organization.clone(),
            id: crypto::hex(&crypto::sha256(identity.as_bytes())[..12]),
            at: self.at,
            kind: kind.to_owned(),
            waba_id: Some(waba.clone()),
            phone_number_id: phone.cloned(),
            from,
            to,
            reason,
            source: self.source,
            onboarding_link_id: None,
        }
    }
}

/// The events that tell how a phone went from `before` (`None`: it was not known) to
/// `after`: connected or not, registration, health, whether it can send, and each reason
/// Meta gave or withdrew.
pub fn transitions(before: Option<&PhoneNumber>, after: &PhoneNumber, seen: &Observation) -> Vec<ConnectionEvent> {
    let now = seen.at;
    let mut events = Vec::new();
    let mut push = |kind: &str, from: Option<String>, to: Option<String>, reason: String| {
        if from != to {
            events.push(seen.event(
                &after.organization_id,
                &after.waba_id,
                Some(&after.phone_number_id),
                kind,
                (from, to),
                reason,
            ));
        }
    };
    let connected = |p: &PhoneNumber| p.is_active().to_string();
    push(
        "is_active",
        before.map(connected),
        Some(connected(after)),
        if after.is_active() { "Connected." } else { "Disconnected." }.into(),
    );
    push(
        "registration",
        before.map(|p| p.registration.as_str().to_owned()),
        Some(after.registration.as_str().to_owned()),
        after.registration.reason().unwrap_or("").to_owned(),
    );
    let worst = after.health.worst(now).map_or_else(String::new, |r| r.message.clone());
    push(
        "health",
        before.map(|p| p.health_at(now).as_str().to_owned()),
        Some(after.health_at(now).as_str().to_owned()),
        worst,
    );
    push(
        "can_send",
        before.map(|p| p.can_send_at(now).to_string()),
        Some(after.can_send_at(now).to_string()),
        action(after, now).unwrap_or_default(),
    );
    if let Some(sync) = &after.sync {
        for kind in SyncKind::ALL {
            let state = sync.get(kind);
            push(
                &format!("sync_{}", kind.as_str()),
                before.and_then(|p| p.sync.as_ref()).map(|s| s.get(kind).as_str().to_owned()),
                Some(state.as_str().to_owned()),
                state.reason().unwrap_or("").to_owned(),
            );
        }
    }
    let had = |p: &PhoneNumber, code: &str| p.health.reasons.iter().any(|r| r.code == code);
    for reason in &after.health.reasons {
        if before.is_none_or(|b| !had(b, &reason.code)) {
            push("health_reason", None, Some(reason.code.clone()), reason.message.clone());
        }
    }
    if let Some(before) = before {
        for reason in &before.health.reasons {
            if !had(after, &reason.code) {
                push("health_reason", Some(reason.code.clone()), None, reason.message.clone());
            }
        }
    }
    events
}

/// What a person must do for a phone, if anything: what its health asks first, then its
/// registration.
pub fn action(phone: &PhoneNumber, now: Timestamp) -> Option<String> {
    if !phone.is_active() {
        return None;
    }
    let health = match phone.health_at(now) {
        Health::NeedsReauthorization => Some(format!(
            "Meta no longer accepts the authorization for {}: connect WhatsApp again with the same number.",
            phone.display_phone
        )),
        Health::Restricted => Some(format!(
            "Meta restricts {}: {} See WhatsApp Manager's account quality page.",
            phone.display_phone,
            phone.health.worst(now).map_or("", |r| r.message.as_str())
        )),
        Health::Banned => Some(format!(
            "Meta disabled the WhatsApp Business Account of {}; request a review in WhatsApp Manager.",
            phone.display_phone
        )),
        Health::Ok | Health::Disconnected => None,
    };
    health.or_else(|| registration_action(phone, now)).or_else(|| sync_action(phone))
}

/// What a phone's registration asks of a person, if anything.
fn registration_action(phone: &PhoneNumber, now: Timestamp) -> Option<String> {
    let (display, id) = (&phone.display_phone, &phone.phone_number_id);
    let waiting = phone.next_registration_attempt(now).map(Timestamp::to_rfc3339);
    match &phone.registration {
        Registration::PinRequired => Some(format!(
            "Enter the two-step verification PIN of {display} (POST …/phone-numbers/{id}/register with {{\"pin\"}}), or reset it in WhatsApp Manager."
        )),
        Registration::VerificationRequired => Some(format!(
            "Verify {display}: request a code (POST …/phone-numbers/{id}/request-code with {{\"method\": \"SMS\"}}), then enter it (POST …/phone-numbers/{id}/verify-code with {{\"code\"}})."
        )),
        Registration::Failed { reason } => Some(format!(
            "Meta refused to register {display}: {reason} Fix it in WhatsApp Manager, then retry the registration."
        )),
        Registration::Pending { .. } => waiting.map(|at| {
            format!("Meta allows no registration of {display} before {at}; it is registered again then, by itself.")
        }),
        Registration::Registered | Registration::NotRequired => None,
    }
}

/// What a coexistence number's failed sync asks of a person: Meta syncs once per onboarding.
fn sync_action(phone: &PhoneNumber) -> Option<String> {
    let sync = phone.sync.as_ref()?;
    SyncKind::ALL.iter().find(|k| matches!(sync.get(**k), SyncState::Failed { .. })).map(|kind| {
        format!(
            "Meta did not sync the {} of {}; Meta syncs once per onboarding, so to sync again the business must \
             disconnect the app from WhatsApp Business and connect again.",
            kind.as_str(),
            phone.display_phone
        )
    })
}

/// The refusal a send meets, without calling Meta, when the phone's registration or health
/// says Meta would refuse it.
pub fn refuse_send(phone: &PhoneNumber, now: Timestamp) -> Result<(), ApiError> {
    let action = action(phone, now);
    if phone.is_active() && !phone.registration.allows_sending() {
        return Err(ApiError::not_registered(registration_action(phone, now).or(action)));
    }
    match phone.health_at(now) {
        Health::Ok => Ok(()),
        Health::NeedsReauthorization => Err(ApiError::reauthorization_required(action)),
        Health::Restricted => Err(ApiError::phone_restricted(action)),
        Health::Banned => Err(ApiError::waba_banned(action)),
        Health::Disconnected => Err(ApiError::not_connected()),
    }
}

/// Applies `signals` to one phone and records what changed, with `extra` events of the same
/// observation (the webhook that said it), in one write. Re-reads and re-applies when the
/// phone changed meanwhile. Whether anything was written; a phone no longer connected is
/// left alone.
pub async fn observe(
    app: &App,
    phone: PhoneNumber,
    signals: &[Signal],
    seen: &Observation,
    extra: &[ConnectionEvent],
) -> Result<bool, ApiError> {
    observe_while(app, phone, signals, seen, extra, None).await
}

/// [`observe`], only while the phone holds `token`: what a refused token says must not land
/// on the phone once it was reconnected with a new one.
async fn observe_while(
    app: &App,
    phone: PhoneNumber,
    signals: &[Signal],
    seen: &Observation,
    extra: &[ConnectionEvent],
    token: Option<&Ciphertext>,
) -> Result<bool, ApiError> {
    let mut current = phone;
    for _ in 0..ATTEMPTS {
        if !current.is_active() || token.is_some_and(|t| current.token() != Some(t)) {
            return Ok(false);
        }
        let mut after = current.clone();
        let changed = apply(&mut after, signals);
        let mut events = transitions(Some(&current), &after, seen);
        events.extend(extra.iter().cloned());
        if !changed && events.is_empty() {
            return Ok(false);
        }
        after.updated_at = seen.at.max(current.updated_at);
        match app.records.apply_to_phone(&current, &after, &events).await? {
            Applied::Written => return Ok(true),
            Applied::AlreadyRecorded => return Ok(false),
            Applied::Stale => match app.records.phone(&current.organization_id, &current.phone_number_id).await? {
                Some(fresh) => current = fresh,
                None => return Ok(false),
            },
        }
    }
    Err(ApiError::conflict("The phone kept changing while its health was being recorded."))
}

/// What a Graph refusal of a call made with a phone's stored token says about the
/// connection: a 190 marks every phone of the organization that uses the same token
/// `needs_reauthorization`; 131031 and 368 restrict the phone. Recording it never hides the
/// refusal itself: a failure to record is logged.
pub async fn graph_refused(app: &App, phone: &PhoneNumber, error: &MetaError, source: Source) {
    let MetaError::Graph(graph) = error else { return };
    let seen = Observation::new(source, app.now());
    let code = match graph.subcode {
        Some(subcode) => format!("{}/{subcode}", graph.code),
        None => graph.code.to_string(),
    };
    let outcome = if graph.code == TOKEN_INVALID {
        let reason = HealthReason::new(code, graph.message.clone(), Effect::Reauthorize, seen.at);
        match phone.token() {
            Some(token) => mark_token(app, &phone.organization_id, token, reason, &seen).await,
            None => Ok(()),
        }
    } else if RESTRICTING_CODES.contains(&graph.code) {
        let reason =
            HealthReason::new(code, graph.message.clone(), Effect::Restrict, seen.at).from_report(GRAPH_REFUSAL);
        observe(app, phone.clone(), &[Signal::Raise(reason)], &seen, &[]).await.map(drop)
    } else if graph.code == NOT_REGISTERED {
        let drift =
            Signal::Unregistered { reason: format!("Meta no longer has the number registered: {}", graph.reason()) };
        observe(app, phone.clone(), &[drift], &seen, &[]).await.map(drop)
    } else {
        Ok(())
    };
    if let Err(error) = outcome {
        tracing::error!(%error, organization = %phone.organization_id, "a refused token could not be recorded");
    }
}

/// Whether a Graph refusal says something about the connection itself (its token, a
/// restriction, a lost registration) rather than about the request.
pub fn concerns_connection(error: &crate::meta::GraphError) -> bool {
    error.code == TOKEN_INVALID || RESTRICTING_CODES.contains(&error.code) || error.code == NOT_REGISTERED
}

/// Opens the token a connected phone was sealed with, for a call to Meta on its behalf.
pub async fn phone_token(app: &App, phone: &PhoneNumber) -> Result<AccessToken, ApiError> {
    let sealed = phone.token().ok_or_else(ApiError::not_connected)?;
    let context = TokenContext::new(&phone.organization_id, Purpose::PhoneToken);
    Ok(app.cipher.open(sealed, context).await?)
}

/// Seed 002 lets several organizations connect one WABA; the app's subscription is shared
/// by all of them, so it is removed only when the last active connection goes.
pub async fn unsubscribe_unless_shared(app: &App, organization: &Organization, waba: &WabaId, token: &AccessToken) {
    let still_used = match still_connected_elsewhere(app, organization, waba).await {
        Ok(used) => used,
        Err(error) => {
            tracing::warn!(%error, %waba, "could not tell whether the WABA is shared; keeping the subscription");
            true
        }
    };
    if still_used {
        tracing::info!(%waba, "another organization still uses this WABA; subscription kept");
        return;
    }
    let unsubscribed = async { Ok::<_, ApiError>(app.meta()?.unsubscribe_app(token, waba).await?) }.await;
    if let Err(error) = unsubscribed {
        tracing::warn!(%error, %waba, "unsubscribing from the WABA failed; the connection is gone regardless");
    }
}

async fn still_connected_elsewhere(app: &App, organization: &Organization, waba: &WabaId) -> Result<bool, ApiError> {
    Ok(app.records.routes(waba, None).await?.iter().any(|route| route.organization_id != organization.id))
}

/// Meta's answer to a call made with a phone's stored token: a refusal is recorded against
/// the connection (see [`graph_refused`]) before it becomes the caller's error.
pub async fn answered<T>(app: &App, phone: &PhoneNumber, answer: Result<T, MetaError>) -> Result<T, ApiError> {
    match answer {
        Ok(value) => Ok(value),
        Err(refusal) => {
            graph_refused(app, phone, &refusal, Source::Api).await;
            // Meta no longer takes the token: the connection needs its customer again, as the
            // next call would be told without asking Meta.
            if let MetaError::Graph(e) = &refusal
                && e.code == 190
            {
                return Err(ApiError::reauthorization_required(Some(
                    "Meta no longer accepts this connection's token: reconnect WhatsApp with the same number; its history stays."
                        .into(),
                )));
            }
            Err(refusal.into())
        }
    }
}

/// Raises `reason` on every connected phone of the organization sealed with `token`.
async fn mark_token(
    app: &App,
    organization: &OrganizationId,
    token: &Ciphertext,
    reason: HealthReason,
    seen: &Observation,
) -> Result<(), ApiError> {
    let signals = [Signal::Raise(reason)];
    for phone in app.records.phones(organization).await? {
        if phone.token() == Some(token) {
            observe_while(app, phone, &signals, seen, &[], Some(token)).await?;
        }
    }
    Ok(())
}

/// Ends every connection of `organization` to `waba` as Meta ended it (the app removed, the
/// account deleted or offboarded): the phones go inactive, their token and PIN are erased,
/// and the organization no longer points at the WABA. `extra` are the events of the
/// observation (the webhook). Whether a connection was ended.
pub async fn end_connection(
    app: &App,
    organization: &OrganizationId,
    waba: &WabaId,
    seen: &Observation,
    extra: &[ConnectionEvent],
) -> Result<bool, ApiError> {
    let Some(current) = app.records.organization(organization).await? else { return Ok(false) };
    if current.waba_id.as_ref() != Some(waba) {
        return Ok(false);
    }
    let active: Vec<PhoneNumber> =
        app.records.phones(organization).await?.into_iter().filter(|p| p.is_active() && &p.waba_id == waba).collect();
    // Meta said it before the organization connected (again): a late or redelivered
    // notice must not end the new connection.
    if seen.source == Source::Webhook && active.iter().any(|p| p.verified_at > seen.at) {
        tracing::info!(%organization, %waba, "a connection-ending notice older than the connection is ignored");
        return Ok(false);
    }
    disconnect(app, &current, &active, seen, extra).await?;
    Ok(true)
}

/// Retires `active` (inactive, token and PIN erased, routes removed) and clears the
/// organization's WABA reference, with the events that tell it and `extra` ones. The events
/// are recorded first: a disconnect repeated after a failure finds them (stored once) and
/// completes.
pub async fn disconnect(
    app: &App,
    organization: &Organization,
    active: &[PhoneNumber],
    seen: &Observation,
    extra: &[ConnectionEvent],
) -> Result<(), ApiError> {
    let mut events: Vec<ConnectionEvent> = extra.to_vec();
    for phone in active {
        events.extend(transitions(Some(phone), &retired(phone), seen));
    }
    app.records.record_events(&events).await?;
    app.records.disconnect(organization, active, seen.at).await
}

/// A phone as a disconnect leaves it.
pub fn retired(phone: &PhoneNumber) -> PhoneNumber {
    PhoneNumber { link: crate::domain::PhoneLink::Inactive, pin: None, ..phone.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CoexistenceSync, HealthRecord, PhoneMode, Registration};

    fn phone() -> PhoneNumber {
        PhoneNumber::example()
    }

    fn seen() -> Observation {
        Observation { source: Source::Webhook, at: Timestamp(1_000), seed: "s".into() }
    }

    #[test]
    fn a_refused_token_is_told_as_health_can_send_and_its_reason() {
        let before = phone();
        let mut after = before.clone();
        let reason = HealthReason::new("190/463", "Session has expired", Effect::Reauthorize, Timestamp(1_000));
        assert!(apply(&mut after, &[Signal::Raise(reason.clone())]));
        let kinds: Vec<_> =
            transitions(Some(&before), &after, &seen()).into_iter().map(|e| (e.kind, e.from, e.to)).collect();
        assert_eq!(
            kinds,
            vec![
                ("health".into(), Some("ok".into()), Some("needs_reauthorization".into())),
                ("can_send".into(), Some("true".into()), Some("false".into())),
                ("health_reason".into(), None, Some("190/463".into())),
            ]
        );
        let mut again = after.clone();
        assert!(!apply(&mut again, &[Signal::Raise(reason)]), "the same reason again is no change");
        assert!(transitions(Some(&after), &again, &seen()).is_empty());
    }

    #[test]
    fn the_same_observation_yields_the_same_event_ids() {
        let before = phone();
        let after = retired(&before);
        let first = transitions(Some(&before), &after, &seen());
        let second = transitions(Some(&before), &after, &seen());
        assert!(!first.is_empty());
        assert_eq!(first, second);
        let other = Observation { seed: "t".into(), ..seen() };
        assert_ne!(first[0].id, transitions(Some(&before), &after, &other)[0].id);
    }

    fn reason(code: &str, effect: Effect) -> HealthReason {
        HealthReason::new(code, format!("{code} said"), effect, Timestamp(1_000))
    }

    #[test]
    fn a_clear_removes_only_the_reasons_it_names() {
        let mut p = phone();
        p.health.raise(reason("368", Effect::Restrict));
        p.health.raise(reason("190", Effect::Reauthorize));
        p.health.raise(reason("FLAGGED", Effect::Warn).from_report("health_status"));
        let codes = |p: &PhoneNumber| p.health.reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>();
        assert!(!apply(&mut p, &[Signal::Clear(Clear::Codes(vec!["131031".into()]))]), "nothing of that code");
        assert!(apply(&mut p, &[Signal::Clear(Clear::Codes(vec!["368".into()]))]));
        assert_eq!(codes(&p), ["190", "FLAGGED"]);
        assert!(!apply(&mut p, &[Signal::Clear(Clear::Origin("webhook"))]), "no reason of that origin");
        assert!(apply(&mut p, &[Signal::Clear(Clear::Origin("health_status"))]));
        assert_eq!(codes(&p), ["190"]);
        assert!(!apply(&mut p, &[Signal::Clear(Clear::Effect(Effect::Ban))]));
        assert!(apply(&mut p, &[Signal::Clear(Clear::Effect(Effect::Reauthorize))]));
        assert!(p.health.reasons.is_empty());
    }

    #[test]
    fn quality_and_name_change_only_when_meta_says_something_new() {
        let mut p = phone();
        let quality = |rating: Option<&str>, limit: Option<&str>| Signal::Quality {
            rating: rating.map(Into::into),
            event: None,
            limit: limit.map(Into::into),
        };
        assert!(apply(&mut p, &[quality(Some("GREEN"), Some("TIER_1K"))]));
        assert_eq!((p.quality_rating.as_deref(), p.messaging_limit.as_deref()), (Some("GREEN"), Some("TIER_1K")));
        assert!(!apply(&mut p, &[quality(Some("GREEN"), None)]), "the same rating, and no limit, is no change");
        assert_eq!(p.messaging_limit.as_deref(), Some("TIER_1K"), "a field Meta did not mention stays");
        assert!(apply(&mut p, &[quality(Some("YELLOW"), None)]));
        assert_eq!(p.quality_rating.as_deref(), Some("YELLOW"));
        assert!(apply(&mut p, &[Signal::NameStatus("APPROVED".into())]));
        assert!(!apply(&mut p, &[Signal::NameStatus("APPROVED".into())]));
        assert!(apply(&mut p, &[Signal::Checked(Timestamp(2_000))]), "a check is always recorded");
        assert_eq!(p.health.checked_at, Some(Timestamp(2_000)));
    }

    #[test]
    fn only_a_registered_cloud_api_number_drifts_to_pending() {
        let unregistered = || Signal::Unregistered { reason: "Meta says 133010".into() };
        let mut p = phone();
        assert!(apply(&mut p, &[unregistered()]));
        assert_eq!(p.registration, Registration::Pending { reason: "Meta says 133010".into() });
        assert!(!apply(&mut p, &[unregistered()]), "pending already");
        let mut waiting = PhoneNumber { registration: Registration::PinRequired, ..phone() };
        assert!(!apply(&mut waiting, &[unregistered()]));
        assert_eq!(waiting.registration, Registration::PinRequired);
        let mut shared = PhoneNumber { mode: PhoneMode::Coexistence, ..phone() };
        assert!(!apply(&mut shared, &[unregistered()]), "a coexistence number is never registered");
        assert_eq!(shared.registration, Registration::Registered);
    }

    #[test]
    fn a_sync_moves_forward_only() {
        let mut p = PhoneNumber { sync: Some(CoexistenceSync::fresh()), ..phone() };
        let history = |state| Signal::Sync(SyncKind::History, state);
        assert!(!apply(&mut p, &[Signal::SyncNotTaken(SyncKind::History)]), "not asked for yet");
        assert!(apply(&mut p, &[history(SyncState::Requested)]));
        assert!(!apply(&mut p, &[history(SyncState::Requested)]), "the same state");
        assert!(!apply(&mut p, &[history(SyncState::NotRequested)]), "never back");
        assert!(apply(&mut p, &[Signal::SyncNotTaken(SyncKind::History)]), "a request Meta did not take");
        assert_eq!(p.sync.as_ref().unwrap().history, SyncState::NotRequested);
        assert!(apply(&mut p, &[history(SyncState::Requested)]));
        assert!(apply(&mut p, &[history(SyncState::Failed { reason: "late".into() })]));
        assert!(apply(&mut p, &[history(SyncState::Complete)]), "what Meta sent outranks a refusal");
        assert!(!apply(&mut p, &[history(SyncState::Failed { reason: "late".into() })]));
        assert!(!apply(&mut p, &[history(SyncState::Declined)]), "finished is finished");
        assert!(!apply(&mut p, &[Signal::SyncNotTaken(SyncKind::History)]), "only a request can be taken back");
        assert_eq!(p.sync.as_ref().unwrap().history, SyncState::Complete);
        assert_eq!(p.sync.as_ref().unwrap().contacts, SyncState::NotRequested, "each kind on its own");
        let mut plain = phone();
        assert!(!apply(&mut plain, &[history(SyncState::Requested)]), "a Cloud API number has no sync");
    }

    #[test]
    fn a_new_connection_and_a_disconnect_are_told_part_by_part() {
        let first = PhoneNumber { sync: Some(CoexistenceSync::fresh()), ..phone() };
        let told: Vec<_> = transitions(None, &first, &seen()).into_iter().map(|e| (e.kind, e.from, e.to)).collect();
        assert_eq!(
            told,
            vec![
                ("is_active".into(), None, Some("true".into())),
                ("registration".into(), None, Some("registered".into())),
                ("health".into(), None, Some("ok".into())),
                ("can_send".into(), None, Some("true".into())),
                ("sync_contacts".into(), None, Some("not_requested".into())),
                ("sync_history".into(), None, Some("not_requested".into())),
            ]
        );
        let mut flagged = first.clone();
        flagged.health.raise(reason("368", Effect::Restrict));
        let gone = retired(&first);
        let told: Vec<_> =
            transitions(Some(&flagged), &gone, &seen()).into_iter().map(|e| (e.kind, e.from, e.to, e.reason)).collect();
        assert_eq!(
            told,
            vec![
                ("is_active".into(), Some("true".into()), Some("false".into()), "Disconnected.".into()),
                ("health".into(), Some("restricted".into()), Some("disconnected".into()), String::new()),
                ("health_reason".into(), Some("368".into()), None, "368 said".into()),
            ]
        );
    }

    #[test]
    fn a_retired_phone_keeps_neither_token_nor_pin() {
        let connected = PhoneNumber { pin: Some(Ciphertext::from_bytes(vec![9])), ..phone() };
        let gone = retired(&connected);
        assert!(!gone.is_active() && gone.token().is_none() && gone.pin.is_none(), "{gone:?}");
        assert_eq!((gone.phone_number_id, gone.registration), (connected.phone_number_id, connected.registration));
    }

    #[test]
    fn an_events_id_depends_on_every_part_of_the_change() {
        let seen = seen();
        let (org, waba, phone_id) = (phone().organization_id, phone().waba_id, phone().phone_number_id);
        let event = |org: &OrganizationId, phone: Option<&PhoneNumberId>, kind: &str, from: &str, to: &str| {
            seen.event(org, &waba, phone, kind, (Some(from.into()), Some(to.into())), "why".into())
        };
        let base = event(&org, Some(&phone_id), "health", "ok", "restricted");
        assert_eq!(base.id.len(), 24);
        assert_eq!((base.at, base.source, base.reason.as_str()), (Timestamp(1_000), Source::Webhook, "why"));
        assert_eq!((base.waba_id.as_ref(), base.phone_number_id.as_ref()), (Some(&waba), Some(&phone_id)));
        let other_org: OrganizationId = "org_2".parse().unwrap();
        for other in [
            event(&other_org, Some(&phone_id), "health", "ok", "restricted"),
            event(&org, None, "health", "ok", "restricted"),
            event(&org, Some(&phone_id), "can_send", "ok", "restricted"),
            event(&org, Some(&phone_id), "health", "banned", "restricted"),
            event(&org, Some(&phone_id), "health", "ok", "banned"),
        ] {
            assert_ne!(other.id, base.id, "{other:?}");
        }
    }

    #[test]
    fn the_action_asked_of_a_person_follows_health_then_registration_then_sync() {
        let now = Timestamp(1_000);
        assert_eq!(action(&phone(), now), None, "nothing to do");
        assert_eq!(action(&retired(&phone()), now), None, "nothing for a number no longer connected");
        let with = |registration| PhoneNumber { registration, ..phone() };
        let asks = |p: &PhoneNumber| action(p, now).unwrap_or_default();
        assert!(asks(&with(Registration::PinRequired)).contains("two-step verification PIN"));
        assert!(asks(&with(Registration::VerificationRequired)).contains("request-code"));
        assert!(asks(&with(Registration::Failed { reason: "Meta said no.".into() })).contains("Meta said no."));
        let pending = with(Registration::Pending { reason: "later".into() });
        assert_eq!(action(&pending, now), None, "registered again by itself");
        let blocked = PhoneNumber { registration_limited_until: Some(Timestamp(5_000)), ..pending };
        assert!(asks(&blocked).contains(&Timestamp(5_000).to_rfc3339()), "{}", asks(&blocked));
        let mut reauthorize = with(Registration::PinRequired);
        reauthorize.health.raise(reason("190", Effect::Reauthorize));
        assert!(asks(&reauthorize).contains("connect WhatsApp again"), "health first: {}", asks(&reauthorize));
        let mut restricted = phone();
        restricted.health.raise(reason("368", Effect::Restrict));
        assert!(asks(&restricted).contains("368 said"));
        let mut banned = phone();
        banned.health.raise(reason("DISABLE", Effect::Ban));
        assert!(asks(&banned).contains("request a review"));
        let failed =
            CoexistenceSync { contacts: SyncState::Failed { reason: "x".into() }, history: SyncState::Complete };
        let syncing = PhoneNumber { mode: PhoneMode::Coexistence, sync: Some(failed), ..phone() };
        assert!(asks(&syncing).contains("did not sync the contacts"), "{}", asks(&syncing));
    }

    #[test]
    fn only_the_connections_own_refusals_concern_it() {
        let graph = crate::meta::GraphError::example;
        for code in [TOKEN_INVALID, 131031, 368, NOT_REGISTERED] {
            assert!(concerns_connection(&graph(code)), "{code}");
        }
        for code in [100, 131047, 133016] {
            assert!(!concerns_connection(&graph(code)), "{code}");
        }
    }

    #[test]
    fn a_number_not_registered_is_refused_with_what_its_registration_asks() {
        let now = Timestamp(1_000);
        let waiting = PhoneNumber { registration: Registration::PinRequired, ..phone() };
        let refused = refuse_send(&waiting, now).unwrap_err();
        assert_eq!(refused.code, "not_registered");
        assert!(refused.action.unwrap().contains("two-step verification PIN"));
        assert_eq!(refuse_send(&retired(&phone()), now).unwrap_err().code, "not_connected");
    }

    #[test]
    fn sends_are_refused_by_health_before_meta_is_asked() {
        let now = Timestamp(1_000);
        let mut p = phone();
        assert!(refuse_send(&p, now).is_ok());
        p.health.raise(HealthReason::new("190", "expired", Effect::Reauthorize, now));
        assert_eq!(refuse_send(&p, now).unwrap_err().code, "reauthorization_required");
        p.health.raise(HealthReason::new("DISABLE", "disabled", Effect::Ban, now));
        assert_eq!(refuse_send(&p, now).unwrap_err().code, "waba_banned");
        p.health = HealthRecord::default();
        p.health.raise(HealthReason::new("368", "blocked", Effect::Restrict, now).until(Some(Timestamp(2_000))));
        assert_eq!(refuse_send(&p, now).unwrap_err().code, "phone_restricted");
        assert!(refuse_send(&p, Timestamp(2_000)).is_ok(), "a restriction ends at its expiration");
    }
}
