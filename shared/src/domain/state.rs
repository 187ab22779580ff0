use super::{Ciphertext, OrganizationId, Secret, TokenKind, UserId, WabaId};
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

    /// The state the callback hands back to the browser that completed consent at Meta:
    /// derived from this state and the code Meta gave that browser, under a server-side
    /// key. Whoever started the flow knows this state but not the code, so cannot compute
    /// it (RFC 9700 §4.7); a repeated callback with the same code gets the same answer
    /// without the new value ever being stored.
    pub fn hand_back(&self, code: &str, key: &Secret) -> StateToken {
        let mut input = Vec::with_capacity(96);
        input.extend_from_slice(b"waba-connect oauth state hand-back v1\0");
        input.extend_from_slice(self.0.as_bytes());
        input.push(0);
        input.extend_from_slice(&crypto::sha256(code.as_bytes()));
        Self(crypto::base64url(&crypto::hmac_sha256(key.expose().as_bytes(), &input)))
    }
}

impl FromStr for StateToken {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if crypto::is_token_shaped(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err("`state` is not a valid OAuth state".into())
        }
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
    pub token_kind: TokenKind,
    /// WABA ids the person granted, most recently granted first (as Meta lists them).
    pub granted_wabas: Vec<WabaId>,
    pub token_expires_at: Option<Timestamp>,
    /// SHA-256 of the code that was exchanged: a second arrival of the same code is
    /// recognised and answered without exchanging it again.
    pub code_hash: String,
    pub authorized_at: Timestamp,
}

/// A code exchange in progress: which code claimed the state, and until when the claim
/// holds (as long as the request that made it can run). It keeps two arrivals of one code
/// from both redeeming it at Meta.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub code_hash: String,
    pub lease_until: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateStep {
    /// Issued by init-oauth; the person is at Meta's dialog, or a code exchange is under way.
    Pending { exchange: Option<Exchange> },
    /// The code was exchanged; the token waits, sealed, for save-config.
    Authorized(Authorization),
    /// The callback exchanged the code and moved the authorization to a new state, which
    /// it handed to the browser (`to` is its key); this one is spent.
    HandedOver { code_hash: String, to: StateKey },
    /// save-config or the one-shot route used it; the token has been moved off it.
    Consumed { at: Timestamp },
    /// Authorized but never used before its lifetime ended; its sealed token is erased.
    Expired,
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

/// A state of `org_1`'s `user`, issued at 100 and expiring at 700, for tests to vary.
#[cfg(test)]
impl OAuthState {
    pub(crate) fn example(step: StateStep) -> Self {
        OAuthState {
            key: StateToken::generate().key(),
            organization_id: "org_1".parse().unwrap(),
            caller: "user".parse().unwrap(),
            redirect_uri: "https://example.com/cb".into(),
            created_at: Timestamp(100),
            expires_at: Timestamp(700),
            step,
        }
    }
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
    fn a_code_is_kept_as_its_digest_only() {
        let hash = OAuthState::code_hash("AQBx-code");
        assert_eq!(hash.len(), 64, "SHA-256 in hex");
        assert_eq!(hash, OAuthState::code_hash("AQBx-code"), "the same code, the same digest");
        assert_ne!(hash, OAuthState::code_hash("AQBx-codf"));
        assert!(!hash.contains("AQBx"));
    }

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
    fn the_handed_back_state_depends_on_the_code_and_the_key() {
        let state = StateToken::generate();
        let key = Secret::new("app-secret");
        let back = state.hand_back("AQcode", &key);
        assert_eq!(back, state.hand_back("AQcode", &key), "a repeated callback gets the same state");
        assert_ne!(back, state.hand_back("AQother", &key));
        assert_ne!(back, state.hand_back("AQcode", &Secret::new("another-secret")));
        assert_ne!(back, state);
        assert_eq!(back.as_str().parse::<StateToken>().unwrap(), back, "it is a well-formed state");
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let state = OAuthState::example(StateStep::Pending { exchange: None });
        assert!(!state.is_expired(Timestamp(699)));
        assert!(state.is_expired(Timestamp(700)));
    }
}
