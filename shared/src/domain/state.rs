use super::{Ciphertext, OrganizationId, UserId, WabaId};
use crate::clock::Timestamp;
use crate::crypto;
use std::fmt;
use std::str::FromStr;

/// The OAuth `state` parameter: 256 bits from the CSPRNG, URL-safe. It authenticates the
/// browser's return from Meta, so it is treated as a secret: never logged, and stored only
/// as its [`StateKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct StateToken(String);

impl StateToken {
    pub fn generate() -> Self {
        Self(crypto::random_token::<32>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> StateKey {
        StateKey(crypto::hex(&crypto::sha256(self.0.as_bytes())))
    }
}

impl FromStr for StateToken {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let well_formed =
            (32..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed { Ok(Self(raw.to_owned())) } else { Err("`state` is not a valid OAuth state".into()) }
    }
}

impl fmt::Debug for StateToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateToken(***)")
    }
}

/// SHA-256 of a state token: what the store keys the state by, so reading the table does not
/// yield a usable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateKey(String);

impl StateKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

/// What Meta granted, kept on the state between the callback and save-config.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub token: Ciphertext,
    /// WABA ids the person granted, most recently granted first (as Meta lists them).
    pub granted_wabas: Vec<WabaId>,
    pub token_expires_at: Option<Timestamp>,
    /// SHA-256 of the code that was exchanged: a second arrival of the same code is
    /// recognised and answered without exchanging it again.
    pub code_hash: String,
    pub authorized_at: Timestamp,
}

/// A code exchange in progress: who claimed the state, and since when. It keeps two
/// arrivals of one code from both redeeming it at Meta.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub code_hash: String,
    pub started_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateStep {
    /// Issued by init-oauth; the person is at Meta's dialog, or a code exchange is under way.
    Pending { exchange: Option<Exchange> },
    /// The code was exchanged; the token waits, sealed, for save-config.
    Authorized(Authorization),
    /// save-config or the one-shot route used it; the token has been moved off it.
    Consumed { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OAuthState {
    pub key: StateKey,
    pub organization_id: OrganizationId,
    pub caller: UserId,
    pub redirect_uri: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub step: StateStep,
}

impl OAuthState {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    pub fn code_hash(code: &str) -> String {
        crypto::hex(&crypto::sha256(code.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_states_parse_back_and_hash_stably() {
        let state = StateToken::generate();
        let parsed: StateToken = state.as_str().parse().unwrap();
        assert_eq!(parsed.key(), state.key());
        assert_eq!(state.key().as_str().len(), 64);
        assert_ne!(StateToken::generate().key(), state.key());
    }

    #[test]
    fn malformed_states_are_refused() {
        assert!("short".parse::<StateToken>().is_err());
        assert!("a".repeat(40).replace('a', "%").parse::<StateToken>().is_err());
        assert!(format!("{:?}", StateToken::generate()).contains("***"));
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let state = OAuthState {
            key: StateToken::generate().key(),
            organization_id: "org_1".parse().unwrap(),
            caller: "user".parse().unwrap(),
            redirect_uri: "https://example.com/cb".into(),
            created_at: Timestamp(100),
            expires_at: Timestamp(700),
            step: StateStep::Pending { exchange: None },
        };
        assert!(!state.is_expired(Timestamp(699)));
        assert!(state.is_expired(Timestamp(700)));
    }
}
