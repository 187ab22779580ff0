//! The steps of the OAuth flow that more than one function shares: reading a state the way
//! every step must (owner, single use, expiry checked in code), authorizing a state with a
//! code exactly once, and writing a connection.

use crate::app::App;
use crate::cipher::{Purpose, TokenContext};
use crate::clock::Timestamp;
use crate::domain::{
    AccessToken, Authorization, OAuthState, Organization, PhoneLink, PhoneNumber, PhoneNumberId, StateStep, StateToken,
    UserId, WabaId,
};
use crate::error::ApiError;
use crate::meta::PhoneInfo;
use crate::store::records::{Connection, ConnectionRefused};

/// Reads a state for `caller`: unknown → 400 `invalid_state`, someone else's → 403,
/// consumed → 409 `state_used`, past its lifetime → 410 `state_expired` (even while the
/// item still exists: DynamoDB's TTL deletes lazily).
pub async fn caller_state(app: &App, caller: &UserId, token: &StateToken) -> Result<OAuthState, ApiError> {
    let state = app.records.state(&token.key()).await?.ok_or_else(ApiError::invalid_state)?;
    if &state.caller != caller {
        return Err(ApiError::forbidden("This OAuth state was issued to someone else."));
    }
    usable(state, app.now())
}

/// The checks every read of a state makes, in the order that tells the caller the most.
pub fn usable(state: OAuthState, now: Timestamp) -> Result<OAuthState, ApiError> {
    if matches!(state.step, StateStep::Consumed { .. }) {
        return Err(ApiError::state_used());
    }
    if state.is_expired(now) {
        return Err(ApiError::state_expired());
    }
    Ok(state)
}

/// The authorization of a state that has been through the callback.
pub fn authorization(state: &OAuthState) -> Result<&Authorization, ApiError> {
    match &state.step {
        StateStep::Authorized(authorization) => Ok(authorization),
        StateStep::Pending { .. } => {
            Err(ApiError::state_not_ready("This OAuth state has not been authorized at Meta yet."))
        }
        StateStep::Consumed { .. } => Err(ApiError::state_used()),
    }
}

/// The WABA, if this authorization granted it.
pub fn granted<'a>(authorization: &'a Authorization, waba: &WabaId) -> Result<&'a WabaId, ApiError> {
    authorization
        .granted_wabas
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

/// How long a claim on a state protects a code exchange in progress. Longer than the
/// exchange's worst case (three Graph calls, each with bounded retries).
const EXCHANGE_LEASE_SECONDS: i64 = 90;
/// How long a second arrival of the same code waits for the first to finish, inside API
/// Gateway's 30-second limit.
const EXCHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Exchanges `code` for this state exactly once: the short-lived token, the long-lived one,
/// and `debug_token` for the granted WABAs and expiry; the token is sealed onto the state.
/// The state is claimed first (a conditional write), so a second arrival of the same code —
/// a repeated callback, a double click, the one-shot route after the callback — never
/// redeems it at Meta again: it waits for the first and answers as it did.
pub async fn authorize(app: &App, mut state: OAuthState, code: &str) -> Result<OAuthState, ApiError> {
    if code.is_empty() || code.len() > 2048 {
        return Err(ApiError::validation("`code` is missing or malformed"));
    }
    let code_hash = OAuthState::code_hash(code);
    let deadline = tokio::time::Instant::now() + EXCHANGE_WAIT;
    loop {
        let now = app.now();
        match &state.step {
            StateStep::Authorized(a) if a.code_hash == code_hash => return Ok(state),
            StateStep::Authorized(_) | StateStep::Consumed { .. } => return Err(ApiError::state_used()),
            StateStep::Pending { exchange: Some(e) } if e.started_at.plus_seconds(EXCHANGE_LEASE_SECONDS) > now => {
                if e.code_hash != code_hash {
                    return Err(ApiError::conflict("Another authorization is being completed for this state."));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApiError::conflict("This authorization is still being completed; try again shortly."));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            StateStep::Pending { .. } => {
                if app.records.claim_exchange(&state.key, &code_hash, now, EXCHANGE_LEASE_SECONDS).await? {
                    break;
                }
            }
        }
        state = reread(app, &state).await?;
    }

    let authorization = match exchange(app, &state, code, code_hash.clone()).await {
        Ok(authorization) => authorization,
        Err(error) => {
            // Let the person try again with a fresh code on the same state.
            app.records.release_exchange(&state.key, &code_hash).await?;
            return Err(error);
        }
    };
    if app.records.authorize_state(&state.key, &authorization, app.now()).await? {
        tracing::info!(organization = %state.organization_id, wabas = authorization.granted_wabas.len(), "state authorized");
        return Ok(OAuthState { step: StateStep::Authorized(authorization), ..state });
    }
    // The state expired (or its claim lapsed and another exchange won) meanwhile.
    let current = reread(app, &state).await?;
    match &current.step {
        StateStep::Authorized(a) if a.code_hash == code_hash => Ok(current),
        _ => Err(ApiError::state_used()),
    }
}

async fn reread(app: &App, state: &OAuthState) -> Result<OAuthState, ApiError> {
    let current = app.records.state(&state.key).await?.ok_or_else(ApiError::invalid_state)?;
    usable(current, app.now())
}

/// The three Graph calls of the callback, and the token sealed for the state.
async fn exchange(app: &App, state: &OAuthState, code: &str, code_hash: String) -> Result<Authorization, ApiError> {
    let short = app.meta.exchange_code(code, &state.redirect_uri).await?;
    let long = app.meta.exchange_long_lived(&short.token).await?;
    let info = app.meta.debug_token(&long.token).await?;
    let granted_wabas = match info.granted_wabas {
        Some(ids) => ids,
        None => app.meta.wabas_via_businesses(&long.token).await?,
    };
    let now = app.now();
    let token_expires_at = info.expires_at.or_else(|| long.expires_in.filter(|s| *s > 0).map(|s| now.plus_seconds(s)));
    let sealed = app.cipher.seal(&long.token, TokenContext::new(&state.organization_id, Purpose::OAuthState)).await?;
    Ok(Authorization { token: sealed, granted_wabas, token_expires_at, code_hash, authorized_at: now })
}

/// Saves a connection of `phones` (all of one WABA) for the organization, consuming the
/// state: subscribe the app to the WABA's webhooks, then one transaction, then the
/// consistency check of seed 002.
pub async fn connect(
    app: &App,
    organization: &Organization,
    state: &OAuthState,
    token: &AccessToken,
    waba: &WabaId,
    phones: &[PhoneInfo],
) -> Result<Vec<PhoneNumber>, ApiError> {
    let authorization = authorization(state)?;
    app.meta.subscribe_app(token, waba).await?;
    let sealed = app.cipher.seal(token, TokenContext::new(&organization.id, Purpose::PhoneToken)).await?;

    let now = app.now();
    let existing = app.records.phones(&organization.id).await?;
    let mut saved = Vec::with_capacity(phones.len());
    for info in phones {
        let id: PhoneNumberId = info.id.parse().map_err(ApiError::meta_error)?;
        let created_at = existing.iter().find(|p| p.phone_number_id == id).map_or(now, |p| p.created_at);
        saved.push(PhoneNumber {
            organization_id: organization.id.clone(),
            phone_number_id: id,
            waba_id: waba.clone(),
            link: PhoneLink::Active { token: sealed.clone() },
            display_phone: info.display_phone_number.clone(),
            verified_name: info.verified_name.clone(),
            quality_rating: info.quality_rating.clone(),
            quality_event: None,
            messaging_limit: None,
            token_expires_at: authorization.token_expires_at,
            verified_at: now,
            created_at,
            updated_at: now,
        });
    }
    // Phones of another WABA cannot stay active once the organization points elsewhere.
    let retire: Vec<PhoneNumber> = existing.into_iter().filter(|p| p.is_active() && &p.waba_id != waba).collect();

    let connection = Connection { organization, state: &state.key, waba_id: waba, phones: saved.clone(), retire, now };
    match app.records.save_connection(connection).await {
        Ok(()) => {}
        Err(ConnectionRefused::State) => {
            let current = app.records.state(&state.key).await?.ok_or_else(ApiError::invalid_state)?;
            usable(current, app.now())?;
            return Err(ApiError::state_used());
        }
        Err(ConnectionRefused::Organization) => {
            return Err(ApiError::conflict("The organization changed while the connection was being saved."));
        }
        Err(ConnectionRefused::Store(error)) => return Err(error),
    }
    verify_consistency(app, organization, waba).await?;
    tracing::info!(organization = %organization.id, waba = %waba, phones = saved.len(), "WhatsApp connected");
    Ok(saved)
}

/// Seed 002's check after a save: the organization references the WABA its active phones
/// belong to. A failure here is loud: it means a write escaped the transaction's guards.
async fn verify_consistency(app: &App, organization: &Organization, waba: &WabaId) -> Result<(), ApiError> {
    let stored =
        app.records.organization(&organization.id).await?.ok_or_else(|| ApiError::internal("organization vanished"))?;
    let phones = app.records.phones(&organization.id).await?;
    let consistent = stored.waba_id.as_ref() == Some(waba)
        && phones.iter().filter(|p| p.is_active()).all(|p| &p.waba_id == waba)
        && phones.iter().any(|p| p.is_active());
    if consistent {
        Ok(())
    } else {
        tracing::error!(organization = %organization.id, "Organization.wabaId and PhoneNumber.wabaId disagree after a save");
        Err(ApiError::conflict("The connection was changed concurrently; its state is inconsistent. Connect again."))
    }
}

/// The WhatsApp side of an organization, read from the PhoneNumber authority (never a token).
pub async fn whatsapp_summary(app: &App, organization: &Organization) -> Result<serde_json::Value, ApiError> {
    let phones = app.records.phones(&organization.id).await?;
    Ok(serde_json::json!({
        "connected": phones.iter().any(PhoneNumber::is_active),
        "wabaId": organization.waba_id,
        "phoneNumbers": phones.iter().map(PhoneNumber::view).collect::<Vec<_>>(),
    }))
}
