//! The steps of the OAuth flow that more than one function shares: reading a state the way
//! every step must (owner, single use, expiry checked in code), exchanging a code exactly
//! once with the token rules of Embedded Signup v4, handing the authorization to a new
//! state bound to the browser, and writing a connection.

use crate::app::App;
use crate::cipher::{Purpose, TokenContext};
use crate::clock::Timestamp;
use crate::domain::{
    AccessToken, Authorization, CoexistenceSync, Effect, HealthRecord, OAuthState, Organization, PhoneLink, PhoneMode,
    PhoneNumber, PhoneNumberId, Source, StateKey, StateStep, StateToken, SyncKind, SyncState, TokenKind, UserId,
    WabaId,
};
use crate::error::ApiError;
use crate::lifecycle::{self, Observation};
use crate::meta::{MetaError, PhoneInfo};
use crate::registration::{self, Plan};
use crate::store::records::{Connection, ConnectionRefused};

/// Embedded Signup's flow for a WhatsApp Business app number shared with Cloud API.
pub const COEXISTENCE: &str = "whatsapp_business_app_onboarding";

/// A `featureType` as given: absent, or the one flow Embedded Signup offers besides the
/// default.
pub fn feature_type(raw: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match raw {
        None => Ok(None),
        Some(COEXISTENCE) => Ok(Some(COEXISTENCE)),
        Some(_) => Err(ApiError::validation(format!("`featureType` must be {COEXISTENCE}, or absent"))),
    }
}

/// Reads a state for `caller`: unknown → 400 `invalid_state`, someone else's → 403,
/// consumed → 409 `state_used`, past its lifetime → 410 `state_expired` (even while the
/// item still exists: DynamoDB's TTL deletes lazily).
pub async fn caller_state(app: &App, caller: &UserId, token: &StateToken) -> Result<OAuthState, ApiError> {
    let state = app.records.state(&token.key()).await?.ok_or_else(ApiError::invalid_state)?;
    if &state.caller != caller {
        return Err(ApiError::forbidden("This OAuth state was issued to someone else."));
    }
    checked(app, state).await
}

/// [`usable`], and an expired state's sealed token erased on the way: it is not left to
/// wait days for DynamoDB's TTL.
pub async fn checked(app: &App, state: OAuthState) -> Result<OAuthState, ApiError> {
    if state.is_expired(app.now()) && matches!(state.step, StateStep::Authorized(_)) {
        app.records.erase_state_token(&state.key).await?;
    }
    usable(state, app.now())
}

/// The checks every read of a state makes, in the order that tells the caller the most.
pub fn usable(state: OAuthState, now: Timestamp) -> Result<OAuthState, ApiError> {
    match state.step {
        StateStep::Consumed { .. } => Err(ApiError::state_used()),
        StateStep::Expired => Err(ApiError::state_expired()),
        _ if state.is_expired(now) => Err(ApiError::state_expired()),
        _ => Ok(state),
    }
}

/// The authorization of a state the callback handed back.
pub fn authorization(state: &OAuthState) -> Result<&Authorization, ApiError> {
    match &state.step {
        StateStep::Authorized(authorization) => Ok(authorization),
        StateStep::Pending { .. } => {
            Err(ApiError::state_not_ready("This OAuth state has not been authorized at Meta yet."))
        }
        // The state init-oauth issued: after the callback, only the state it handed back
        // to the browser continues the flow.
        StateStep::HandedOver { .. } => Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "invalid_state",
            "This OAuth state was exchanged by the callback, which handed a new state to the browser.",
        )
        .with_action("Continue with the state the callback returned, or restart the connection.")),
        StateStep::Consumed { .. } => Err(ApiError::state_used()),
        StateStep::Expired => Err(ApiError::state_expired()),
    }
}

/// The WABA, if this authorization granted it.
pub fn granted<'a>(granted_wabas: &'a [WabaId], waba: &WabaId) -> Result<&'a WabaId, ApiError> {
    granted_wabas
        .iter()
        .find(|w| *w == waba)
        .ok_or_else(|| ApiError::forbidden("This WhatsApp Business Account was not granted in this authorization."))
}

pub async fn open_state_token(
    app: &App,
    state: &OAuthState,
    authorization: &Authorization,
) -> Result<AccessToken, ApiError> {
    let context = TokenContext::new(&state.organization_id, Purpose::OAuthState);
    Ok(app.cipher.open(&authorization.token, context).await?)
}

/// How long a claim on a state protects a code exchange in progress when the request has
/// no deadline of its own; with one, the claim lasts exactly as long as the request can
/// (the exchange cannot outlive it).
const EXCHANGE_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a second arrival of the same code waits for the first to finish, at most.
const EXCHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Where a code came from, which decides how Meta wants it exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// The redirect dialog (`/dialog/oauth?…&redirect_uri=`): exchanged with the identical
    /// `redirect_uri`.
    Dialog,
    /// Embedded Signup's popup through Meta's JS SDK: a 30-second code issued for no
    /// redirect URI of ours, exchanged without one.
    JsSdk,
}

/// A token Meta issued, what `/debug_token` says of it, and the WABAs it reaches; held in
/// memory only, until it is sealed onto the handed-back state.
struct Granted {
    pub token: AccessToken,
    pub kind: TokenKind,
    pub expires_at: Option<Timestamp>,
    pub granted_wabas: Vec<WabaId>,
}

enum Claim {
    Won,
    HandedBack,
}

/// What an arrival of the code with `code_hash` does next, given the state as last read.
#[derive(Debug, PartialEq)]
enum Arrival {
    /// This code was exchanged here already: answer with the state it was handed to.
    HandedBack,
    /// No exchange holds the state: claim it.
    Claim,
    /// Another arrival of this same code is exchanging it: wait for that one.
    Wait,
}

fn arrival(step: &StateStep, code_hash: &str, now: Timestamp) -> Result<Arrival, ApiError> {
    match step {
        StateStep::HandedOver { code_hash: exchanged, .. } if exchanged == code_hash => Ok(Arrival::HandedBack),
        StateStep::HandedOver { .. } | StateStep::Authorized(_) | StateStep::Consumed { .. } => {
            Err(ApiError::state_used())
        }
        StateStep::Expired => Err(ApiError::state_expired()),
        // A claim holds through its last second, as the store's conditional claim has it
        // (`claim_exchange` takes over a lease only once `lease_until < now`).
        StateStep::Pending { exchange: Some(e) } if e.lease_until >= now => {
            if e.code_hash == code_hash {
                Ok(Arrival::Wait)
            } else {
                Err(ApiError::conflict("Another authorization is being completed for this state."))
            }
        }
        StateStep::Pending { .. } => Ok(Arrival::Claim),
    }
}

/// Claims `state` for exchanging the code with `code_hash`, waiting for another arrival of
/// the same code to finish. Two arrivals of one code — a repeated callback, a double click,
/// the one-shot route after the callback — never redeem it at Meta twice.
async fn claim(app: &App, mut state: OAuthState, code_hash: &str) -> Result<Claim, ApiError> {
    let deadline = tokio::time::Instant::now() + crate::deadline::bounded(EXCHANGE_WAIT);
    let lease = crate::deadline::bounded(EXCHANGE_LEASE).as_secs_f64().ceil() as i64;
    loop {
        let now = app.now();
        match arrival(&state.step, code_hash, now)? {
            Arrival::HandedBack => return Ok(Claim::HandedBack),
            Arrival::Wait => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApiError::conflict("This authorization is still being completed; try again shortly."));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Arrival::Claim => {
                if app.records.claim_exchange(&state.key, code_hash, now, lease).await? {
                    return Ok(Claim::Won);
                }
            }
        }
        state = reread(app, &state.key).await?;
    }
}

async fn reread(app: &App, key: &StateKey) -> Result<OAuthState, ApiError> {
    let current = app.records.state(key).await?.ok_or_else(ApiError::invalid_state)?;
    usable(current, app.now())
}

fn check_code(code: &str) -> Result<String, ApiError> {
    if code.is_empty() || code.len() > 2048 {
        return Err(ApiError::validation("`code` is missing or malformed"));
    }
    Ok(OAuthState::code_hash(code))
}

/// Exchanges `code` for the state init-oauth issued (`token`), then moves the sealed token
/// to a new state and returns it. The callback (step 2) gives the new state to the browser
/// Meta sent the code to, so only that browser can continue (RFC 9700 §4.7). A repeated
/// arrival of the same code is answered with the same new state, without exchanging the
/// code again.
pub async fn hand_back(
    app: &App,
    state: OAuthState,
    token: &StateToken,
    code: &str,
    source: CodeSource,
) -> Result<StateToken, ApiError> {
    let code_hash = check_code(code)?;
    let successor_token = token.hand_back(code, app.config.meta.app_secret()?);
    let key = state.key.clone();
    match claim(app, state.clone(), &code_hash).await? {
        Claim::HandedBack => return handed_back(app, &successor_token).await.map(|_| successor_token),
        Claim::Won => {}
    }
    let granted = match exchange(app, &state, code, source).await {
        Ok(granted) => granted,
        Err(error) => {
            // Let the person try again with a fresh code on the same state.
            app.records.release_exchange(&key, &code_hash).await?;
            return Err(error);
        }
    };
    let now = app.now();
    let sealed =
        app.cipher.seal(&granted.token, TokenContext::new(&state.organization_id, Purpose::OAuthState)).await?;
    let successor = OAuthState {
        key: successor_token.key(),
        step: StateStep::Authorized(Authorization {
            token: sealed,
            token_kind: granted.kind,
            granted_wabas: granted.granted_wabas,
            token_expires_at: granted.expires_at,
            code_hash: code_hash.clone(),
            authorized_at: now,
        }),
        // The flow's creation and expiry carry over: a handed-back state lives no longer.
        ..state
    };
    if app.records.hand_over(&key, &code_hash, &successor, now).await? {
        tracing::info!(organization = %successor.organization_id, kind = granted.kind.as_str(), "state authorized and handed back");
        return Ok(successor_token);
    }
    // Refused: the state expired, or the claim lapsed and another exchange won, meanwhile;
    // or this very hand-over was made and its answer lost.
    match arrival(&reread(app, &key).await?.step, &code_hash, app.now())? {
        Arrival::HandedBack => handed_back(app, &successor_token).await.map(|_| successor_token),
        Arrival::Claim | Arrival::Wait => Err(ApiError::state_used()),
    }
}

/// The state the callback handed back for this state and code, found by the key that only
/// the state's token and the code derive (under another app secret, none is found).
async fn handed_back(app: &App, successor: &StateToken) -> Result<OAuthState, ApiError> {
    let state = app.records.state(&successor.key()).await?.ok_or_else(ApiError::invalid_state)?;
    checked(app, state).await
}

/// The one-shot route: the code exchanged once (by this request, or earlier by the
/// callback or a retry of this route), and the authorized state it was handed to.
pub async fn exchange_once(
    app: &App,
    state: OAuthState,
    token: &StateToken,
    code: &str,
    source: CodeSource,
) -> Result<OAuthState, ApiError> {
    let successor = hand_back(app, state, token, code, source).await?;
    handed_back(app, &successor).await
}

/// Meta's refusal of the authorization code the caller brought (invalid, expired, already
/// used) is the caller's to fix: 400 `invalid_code`. A redirect URI Meta finds different
/// (36008) is the service's configuration, and stays Meta's error.
fn refused_code(error: MetaError) -> ApiError {
    match error {
        MetaError::Graph(e) if e.code == 100 && e.subcode != Some(REDIRECT_URI_MISMATCH) => ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "invalid_code",
            format!("Meta refused the authorization code: {}", e.reason()),
        )
        .with_action("The code is used, expired or not one Meta issued: start the connection again."),
        other => other.into(),
    }
}

/// Graph's subcode for a `redirect_uri` that is not the one the code was issued for.
const REDIRECT_URI_MISMATCH: i64 = 36008;

/// The Graph calls of a code exchange, with the token rules of Embedded Signup v4:
/// `/debug_token` decides what follows. Only a short-lived user token is exchanged for a
/// long-lived one (`fb_exchange_token`); a business token is kept as issued. The expiry
/// kept is the one `/debug_token` gives for the token kept (none for a business token that
/// never expires).
async fn exchange(app: &App, state: &OAuthState, code: &str, source: CodeSource) -> Result<Granted, ApiError> {
    let redirect_uri = match source {
        CodeSource::Dialog => Some(state.redirect_uri.as_str()),
        CodeSource::JsSdk => None,
    };
    let issued = app.meta()?.exchange_code(code, redirect_uri).await.map_err(refused_code)?;
    let mut token = issued.token;
    let mut info = app.meta()?.debug_token(&token).await?;
    if info.is_short_lived_user_token(app.now()) {
        token = app.meta()?.exchange_long_lived(&token).await?.token;
        info = app.meta()?.debug_token(&token).await?;
    }
    let granted_wabas = match (info.granted_wabas, info.kind) {
        (Some(ids), _) => ids,
        // A person's business-wide grant: their businesses' WABAs.
        (None, TokenKind::User) => app.meta()?.wabas_via_businesses(&token).await?,
        // A business token names its WABAs in its granular scopes.
        (None, TokenKind::Business) => Vec::new(),
    };
    tracing::info!(
        kind = info.kind.as_str(),
        expires = info.expires_at.is_some(),
        wabas = granted_wabas.len(),
        "code exchanged"
    );
    Ok(Granted { token, kind: info.kind, expires_at: info.expires_at, granted_wabas })
}

/// A phone to connect, as Meta describes it, and how it reaches WhatsApp.
pub struct PhoneToConnect {
    pub info: PhoneInfo,
    pub mode: PhoneMode,
}

/// What a connection save needs.
pub struct Connect<'a> {
    pub organization: &'a Organization,
    /// The authorized state the connection consumes.
    pub state: &'a StateKey,
    pub token: &'a AccessToken,
    pub token_kind: TokenKind,
    pub token_expires_at: Option<Timestamp>,
    pub waba: &'a WabaId,
    pub phones: Vec<PhoneToConnect>,
    /// The onboarding link the customer connected through, named on the connection's events.
    pub onboarding_link: Option<&'a str>,
}

/// At most this many registrations run at once for one connection.
const REGISTRATIONS_AT_ONCE: usize = 4;

/// Saves a connection of `phones` (all of one WABA) for the organization, consuming the
/// state: subscribe the app to the WABA's webhooks; decide each phone's registration (and
/// seal its PIN); one transaction; then register the phones that need it. Once the
/// transaction commits the answer is a success: what registration meets is the phones'
/// `registration`, never an error.
pub async fn connect(app: &App, request: Connect<'_>) -> Result<Vec<PhoneNumber>, ApiError> {
    let Connect { organization, state, token, token_kind, token_expires_at, waba, phones, onboarding_link } = request;
    app.meta()?.subscribe_app(token, waba).await?;
    let sealed = app.cipher.seal(token, TokenContext::new(&organization.id, Purpose::PhoneToken)).await?;

    let now = app.now();
    let existing = app.records.phones(&organization.id).await?;
    let existing_by_id: std::collections::HashMap<&PhoneNumberId, &PhoneNumber> =
        existing.iter().map(|p| (&p.phone_number_id, p)).collect();
    let mut saved = Vec::with_capacity(phones.len());
    let mut plans = Vec::with_capacity(phones.len());
    for PhoneToConnect { info, mode } in phones {
        let id: PhoneNumberId = info.id.parse().map_err(ApiError::meta_error)?;
        // Reconnecting the same number repairs it in place: its history, creation time,
        // registration attempts and PIN stay.
        let known = existing_by_id.get(&id).copied();
        let plan = registration::plan(app, &organization.id, &info, mode, known).await?;
        saved.push(PhoneNumber {
            organization_id: organization.id.clone(),
            phone_number_id: id,
            waba_id: waba.clone(),
            link: PhoneLink::Active { token: sealed.clone(), kind: token_kind, expires_at: token_expires_at },
            mode,
            registration: plan.registration(),
            registration_attempts: known.map(|p| p.registration_attempts.clone()).unwrap_or_default(),
            registration_limited_until: known.and_then(|p| p.registration_limited_until),
            pin: plan.sealed_pin().cloned().or_else(|| known.and_then(|p| p.pin.clone())),
            display_phone: info.display_phone_number.clone(),
            verified_name: info.verified_name.clone(),
            quality_rating: info.quality_rating.clone(),
            quality_event: known.and_then(|p| p.quality_event.clone()),
            messaging_limit: known.and_then(|p| p.messaging_limit.clone()),
            name_status: info.name_status.clone(),
            // A new token repairs what the old one could not do; what Meta says about the
            // number or the WABA stays until Meta says otherwise.
            health: repaired(known),
            sync: (mode == PhoneMode::Coexistence).then(|| onboarded(known)),
            verified_at: now,
            created_at: known.map_or(now, |p| p.created_at),
            updated_at: now,
        });
        plans.push(plan);
    }
    // Phones of another WABA cannot stay active once the organization points elsewhere.
    let retire: Vec<PhoneNumber> = existing.iter().filter(|p| p.is_active() && &p.waba_id != waba).cloned().collect();
    let retired_before = retire.clone();
    // The WABA left behind is unsubscribed as a disconnect would, with its own token, opened
    // before the save erases it.
    let left_behind = match (organization.waba_id.as_ref().filter(|w| *w != waba), retire.first()) {
        (Some(old), Some(phone)) => lifecycle::phone_token(app, phone).await.ok().map(|token| (old.clone(), token)),
        _ => None,
    };

    let connection = Connection { organization, state, waba_id: waba, phones: saved.clone(), retire, now };
    match app.records.save_connection(connection).await {
        Ok(()) => {}
        Err(ConnectionRefused::State) => {
            reread(app, state).await?;
            return Err(ApiError::state_used());
        }
        Err(ConnectionRefused::Organization) => {
            return Err(ApiError::conflict("The organization changed while the connection was being saved."));
        }
        Err(ConnectionRefused::Store(error)) => return Err(error),
    }
    tracing::info!(organization = %organization.id, waba = %waba, phones = saved.len(), "WhatsApp connected");
    if let Some((old, old_token)) = left_behind {
        lifecycle::unsubscribe_unless_shared(app, organization, &old, &old_token).await;
    }
    let seen = Observation::new(Source::Api, now);
    let mut events: Vec<_> = saved
        .iter()
        .flat_map(|phone| {
            let known = existing_by_id.get(&phone.phone_number_id).copied();
            lifecycle::transitions(known, phone, &seen)
        })
        .collect();
    events.extend(retired_before.iter().flat_map(|p| lifecycle::transitions(Some(p), &lifecycle::retired(p), &seen)));
    for event in &mut events {
        event.onboarding_link_id = onboarding_link.map(str::to_owned);
    }
    if let Err(error) = app.records.record_events(&events).await {
        tracing::error!(%error, organization = %organization.id, "connection events not stored");
    }

    let mut registrations = Vec::new();
    for (phone, plan) in saved.iter_mut().zip(plans) {
        if let Plan::Register { pin, sealed } = plan {
            registrations.push(async move {
                // An attempt that could not start (the store unavailable) leaves the number as
                // it was saved, pending, for the register route to try again.
                let _ = registration::register(app, phone, token, &pin, Some(&sealed), Source::Api).await;
            });
        }
    }
    use futures_util::StreamExt;
    futures_util::stream::iter(registrations).buffer_unordered(REGISTRATIONS_AT_ONCE).collect::<()>().await;
    Ok(saved)
}

/// The WhatsApp side of an organization, read from the PhoneNumber authority (never a token).
pub async fn whatsapp_summary(app: &App, organization: &Organization) -> Result<serde_json::Value, ApiError> {
    let phones = app.records.phones(&organization.id).await?;
    Ok(serde_json::json!({
        "connected": phones.iter().any(PhoneNumber::is_active),
        "canSend": phones.iter().any(PhoneNumber::can_send),
        "wabaId": organization.waba_id,
        "phoneNumbers": phones.iter().map(PhoneNumber::view).collect::<Vec<_>>(),
    }))
}

/// What a reconnect keeps of a known phone's health: a new token repairs whatever the old
/// one could not do; what Meta says about the number or its account stays until Meta says
/// otherwise.
fn repaired(known: Option<&PhoneNumber>) -> HealthRecord {
    let mut health = known.map(|p| p.health.clone()).unwrap_or_default();
    health.clear(|r| r.effect == Effect::Reauthorize || r.code == lifecycle::TOKEN_EXPIRING);
    health
}

/// A coexistence number's syncs after an onboarding: what Meta already sent (or has taken)
/// stays; a sync that failed, or never happened, may be asked for again, since every
/// Embedded Signup is a new onboarding to Meta.
fn onboarded(known: Option<&PhoneNumber>) -> CoexistenceSync {
    let mut sync = known.and_then(|p| p.sync.clone()).unwrap_or_else(CoexistenceSync::fresh);
    for kind in SyncKind::ALL {
        if matches!(sync.get(kind), SyncState::Failed { .. }) {
            *sync.get_mut(kind) = SyncState::NotRequested;
        }
    }
    sync
}

/// How the API shows a connected phone in the answer of a save.
pub fn connected_phone(phone: &PhoneNumber) -> serde_json::Value {
    serde_json::json!({
        "id": phone.phone_number_id,
        "display": phone.display_phone,
        "mode": phone.mode.as_str(),
        "registration": phone.registration.as_str(),
        "registrationReason": phone.registration.reason(),
        "canSend": phone.can_send(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Authorization, Ciphertext, Exchange};
    use crate::meta::GraphError;

    fn authorized() -> StateStep {
        StateStep::Authorized(Authorization {
            token: Ciphertext::from_bytes(vec![1]),
            token_kind: TokenKind::Business,
            granted_wabas: Vec::new(),
            token_expires_at: None,
            code_hash: "h".into(),
            authorized_at: Timestamp(200),
        })
    }

    fn code(result: Result<OAuthState, ApiError>) -> &'static str {
        result.map_or_else(|e| e.code, |_| "usable")
    }

    #[test]
    fn a_feature_type_is_absent_or_coexistence() {
        assert_eq!(feature_type(None).unwrap(), None);
        assert_eq!(feature_type(Some(COEXISTENCE)).unwrap(), Some(COEXISTENCE));
        assert_eq!(feature_type(Some("marketing_messages_lite")).unwrap_err().code, "validation_error");
    }

    #[test]
    fn a_state_is_usable_once_and_within_its_lifetime() {
        assert_eq!(code(usable(OAuthState::example(authorized()), Timestamp(699))), "usable");
        assert_eq!(code(usable(OAuthState::example(authorized()), Timestamp(700))), "state_expired");
        assert_eq!(code(usable(OAuthState::example(StateStep::Pending { exchange: None }), Timestamp(699))), "usable");
        assert_eq!(
            code(usable(OAuthState::example(StateStep::Consumed { at: Timestamp(300) }), Timestamp(699))),
            "state_used"
        );
        assert_eq!(
            code(usable(OAuthState::example(StateStep::Expired), Timestamp(699))),
            "state_expired",
            "marked expired"
        );
        assert_eq!(
            code(usable(OAuthState::example(StateStep::Consumed { at: Timestamp(300) }), Timestamp(900))),
            "state_used",
            "a used state says so, even once past its lifetime"
        );
    }

    #[test]
    fn only_an_authorized_state_has_an_authorization() {
        assert!(authorization(&OAuthState::example(authorized())).is_ok());
        let refusal = |step| authorization(&OAuthState::example(step)).unwrap_err();
        let pending = refusal(StateStep::Pending {
            exchange: Some(Exchange { code_hash: "h".into(), lease_until: Timestamp(300) }),
        });
        assert_eq!((pending.code, pending.message.contains("not been authorized")), ("invalid_state", true));
        let handed = refusal(StateStep::HandedOver { code_hash: "h".into(), to: StateToken::generate().key() });
        assert_eq!((handed.code, handed.message.contains("handed a new state")), ("invalid_state", true));
        assert_eq!(refusal(StateStep::Consumed { at: Timestamp(300) }).code, "state_used");
        assert_eq!(refusal(StateStep::Expired).code, "state_expired");
    }

    #[test]
    fn an_arrival_waits_for_its_own_code_and_is_refused_beside_another() {
        let leased =
            |until| StateStep::Pending { exchange: Some(Exchange { code_hash: "h".into(), lease_until: until }) };
        let next = |step: &StateStep, code: &str| arrival(step, code, Timestamp(300)).map_err(|e| e.code);
        assert_eq!(next(&StateStep::Pending { exchange: None }, "h"), Ok(Arrival::Claim));
        for until in [Timestamp(300), Timestamp(301)] {
            assert_eq!(next(&leased(until), "h"), Ok(Arrival::Wait), "lease to {until:?} still holds");
            assert_eq!(next(&leased(until), "other"), Err("conflict"), "lease to {until:?} still holds");
        }
        assert_eq!(next(&leased(Timestamp(299)), "other"), Ok(Arrival::Claim), "a lapsed lease is taken over");
        let handed = StateStep::HandedOver { code_hash: "h".into(), to: StateToken::generate().key() };
        assert_eq!(next(&handed, "h"), Ok(Arrival::HandedBack));
        assert_eq!(next(&handed, "other"), Err("state_used"), "another code cannot collect what this one was handed");
        assert_eq!(next(&authorized(), "h"), Err("state_used"));
        assert_eq!(next(&StateStep::Expired, "h"), Err("state_expired"));
    }

    #[test]
    fn only_a_granted_waba_is_connected() {
        let (a, b): (WabaId, WabaId) = ("102290129340398".parse().unwrap(), "102290129340355".parse().unwrap());
        assert_eq!(granted(std::slice::from_ref(&a), &a).unwrap(), &a);
        assert_eq!(granted(&[a], &b).unwrap_err().code, "forbidden");
        assert_eq!(granted(&[], &b).unwrap_err().code, "forbidden");
    }

    #[test]
    fn a_code_is_kept_as_its_digest_and_bounded() {
        assert_eq!(check_code("AQcode").unwrap(), OAuthState::code_hash("AQcode"));
        assert!(check_code("").is_err());
        assert!(check_code(&"a".repeat(2048)).is_ok());
        assert!(check_code(&"a".repeat(2049)).is_err());
    }

    #[test]
    fn a_refused_code_is_the_callers_but_a_redirect_mismatch_is_not() {
        let graph = |code, subcode| {
            MetaError::Graph(Box::new(GraphError {
                message: "Invalid verification code format.".into(),
                subcode,
                ..GraphError::example(code)
            }))
        };
        let refused = refused_code(graph(100, None));
        assert_eq!((refused.status, refused.code), (http::StatusCode::BAD_REQUEST, "invalid_code"));
        assert!(refused.message.contains("Invalid verification code format."));
        assert_eq!(refused_code(graph(100, Some(36007))).code, "invalid_code");
        assert_ne!(refused_code(graph(100, Some(REDIRECT_URI_MISMATCH))).code, "invalid_code");
        assert_ne!(refused_code(graph(190, None)).code, "invalid_code");
    }
}
