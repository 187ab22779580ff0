//! Coexistence: a business that keeps its WhatsApp Business app and shares its number with
//! Cloud API. Right after such a number is connected, the service asks Meta — once each,
//! within the 24 hours Meta allows — for the business's contacts and then its chat history
//! (`smb_app_data`); Meta sends them as webhooks (`smb_app_state_sync`, `history`), which
//! the webhook stores.
//!
//! The request runs after the request that connected the number: the table's stream hands
//! the new phone to [`on_changes`] (in AWS through the health function's stream trigger,
//! locally through the stack's feed), and the health sweep asks again where Meta showed it
//! did not take a request. Each sync is claimed on the phone before Meta is called, so two
//! deliveries of the same change never ask twice.

use crate::App;
use crate::domain::{PhoneNumber, Source, SyncKind, SyncState, within_window};
use crate::error::ApiError;
use crate::lifecycle::{self, Observation, Signal};
use crate::meta::{MetaError, RATE_LIMIT_CODES};
use crate::store::records::{attr, phone_from};
use crate::stream::{Change, Expected, Filter, Pattern};

/// The stream consumer's name, for the local stack's feed.
pub const CONSUMER: &str = "coexistence-sync";

/// What a sync that can no longer be asked for says.
const OUT_OF_WINDOW: &str =
    "Meta allows this sync only within 24 hours of the onboarding; connect the number again to sync.";

/// Asks Meta for every sync of `phone` that is due, contacts first. A sync Meta refuses, or
/// may have taken without answering, is `failed` with the reason; one Meta refused with a
/// rate limit stays due (and so does the next), for the sweep. Fails only when the store
/// does.
pub async fn request_syncs(app: &App, phone: &PhoneNumber, source: Source) -> Result<(), ApiError> {
    let mut current = phone.clone();
    for kind in SyncKind::ALL {
        if !current.is_active() || current.sync.as_ref().is_none_or(|s| *s.get(kind) != SyncState::NotRequested) {
            continue;
        }
        let seen = Observation::new(source, app.now());
        if !within_window(current.verified_at, seen.at) {
            let late = Signal::Sync(kind, SyncState::Failed { reason: OUT_OF_WINDOW.into() });
            lifecycle::observe(app, current.clone(), &[late], &seen, &[]).await?;
            current = reread(app, &current).await?;
            continue;
        }
        // Claimed before Meta is asked: whoever writes `requested` first asks.
        let claimed =
            lifecycle::observe(app, current.clone(), &[Signal::Sync(kind, SyncState::Requested)], &seen, &[]).await?;
        current = reread(app, &current).await?;
        if !claimed {
            continue;
        }
        let answer = ask(app, &current, kind).await;
        let signal = match &answer {
            Ok(request) => {
                tracing::info!(
                    organization = %current.organization_id,
                    phone = %current.phone_number_id,
                    sync = kind.as_str(),
                    request = request.as_deref().unwrap_or(""),
                    "coexistence sync requested"
                );
                None
            }
            Err(MetaError::Graph(e)) if RATE_LIMIT_CODES.contains(&e.code) => Some(Signal::SyncNotTaken(kind)),
            Err(MetaError::Graph(e)) => Some(Signal::Sync(kind, SyncState::Failed { reason: e.reason() })),
            Err(other) => Some(Signal::Sync(
                kind,
                SyncState::Failed {
                    reason: format!("{other}; Meta may have taken the request, so it is not repeated."),
                },
            )),
        };
        if let Err(refusal) = answer {
            lifecycle::graph_refused(app, &current, &refusal, source).await;
        }
        let not_taken = matches!(signal, Some(Signal::SyncNotTaken(_)));
        if let Some(signal) = signal {
            lifecycle::observe(app, current.clone(), &[signal], &seen, &[]).await?;
            current = reread(app, &current).await?;
        }
        // A rate limit refuses what is asked next too: both wait for the sweep, in order.
        if not_taken {
            break;
        }
    }
    Ok(())
}

async fn ask(app: &App, phone: &PhoneNumber, kind: SyncKind) -> Result<Option<String>, MetaError> {
    let meta = app.meta().map_err(|e| MetaError::Malformed(e.message.into_owned()))?;
    let token = lifecycle::phone_token(app, phone).await.map_err(|e| MetaError::Malformed(e.message.into_owned()))?;
    meta.smb_app_data(&token, &phone.phone_number_id, kind).await
}

async fn reread(app: &App, phone: &PhoneNumber) -> Result<PhoneNumber, ApiError> {
    Ok(app.records.phone(&phone.organization_id, &phone.phone_number_id).await?.unwrap_or_else(|| phone.clone()))
}

/// The changes of a coexistence phone just connected, with its syncs due: what the stream
/// hands the sync. A sync Meta did not take is not one (its change removed `syncDue`): the
/// sweep asks again.
pub const STREAM_FILTER: Filter = Filter(&[Pattern {
    kinds: &[],
    entities: &["phone_number"],
    attributes: &[(attr::IS_ACTIVE, Expected::Bool(true)), (attr::SYNC_DUE, Expected::Bool(true))],
}]);

/// Handles a batch of the table's changes: asks for the syncs of each phone that has one
/// due. The changes that could not be handled (the store failed), for the stream to retry.
pub async fn on_changes<'c>(app: &App, changes: &'c [Change]) -> Vec<&'c Change> {
    let mut failed = Vec::new();
    for change in changes.iter().filter(|c| STREAM_FILTER.passes(c)) {
        let phone = match change.image().map(phone_from) {
            Some(Ok(phone)) => phone,
            Some(Err(error)) => {
                tracing::error!(%error, "a phone in the stream could not be read; it is skipped");
                continue;
            }
            None => continue,
        };
        if let Err(error) = request_syncs(app, &phone, Source::Api).await {
            tracing::warn!(%error, phone = %phone.phone_number_id, "coexistence syncs not requested; retried");
            failed.push(change);
        }
    }
    failed
}
