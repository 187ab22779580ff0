use super::{Condition, Index, Query, Reader, Records, StoreError, Value, WriteOp, attr, corrupt, s, schema, with_key};
use crate::clock::Timestamp;
use crate::domain::{Authorization, Ciphertext, Exchange, OAuthState, StateKey, StateStep, TokenKind};
use crate::error::ApiError;
use crate::store::{Item, Key};

/// Every state that holds a sealed token has an entry here, ordered by when it expires,
/// written in the transaction that seals the token: the sweep erases the tokens of states
/// nobody came back for, instead of leaving them to DynamoDB's TTL (days late) or, on the
/// embedded store, for ever.
const SEALED_STATES: &str = "SEALED_STATES";
/// How long an entry outlives its state, for DynamoDB's TTL to remove one the sweep missed.
const SEALED_ENTRY_GRACE_SECS: i64 = 7 * 24 * 3600;

const PENDING: &str = "pending";
pub(super) const AUTHORIZED: &str = "authorized";
const HANDED_OVER: &str = "handed_over";
pub(super) const CONSUMED: &str = "consumed";
const EXPIRED: &str = "expired";

pub fn state_key(key: &StateKey) -> Key {
    Key::new(format!("STATE#{}", key.as_str()), "STATE")
}

/// The sealed-state entry of `state`: its sort key is its expiry, zero-padded so that the
/// entries sort by it, then the state's key.
fn sealed_entry(state: &OAuthState) -> Item {
    let key = Key::new(SEALED_STATES, format!("{:012}#{}", state.expires_at.0.max(0), state.key.as_str()));
    let mut item = with_key(key, "sealed_state");
    item.insert(schema::TTL.into(), Value::N(state.expires_at.0 + SEALED_ENTRY_GRACE_SECS));
    item
}

pub fn state_item(state: &OAuthState) -> Item {
    let mut item = with_key(state_key(&state.key), "oauth_state");
    item.insert(attr::ORGANIZATION_ID.into(), s(state.organization_id.as_str()));
    item.insert(attr::CALLER_ID.into(), s(state.caller.as_str()));
    item.insert(attr::REDIRECT_URI.into(), s(state.redirect_uri.clone()));
    item.insert(attr::CREATED_AT.into(), Value::N(state.created_at.0));
    item.insert(attr::EXPIRES_AT.into(), Value::N(state.expires_at.0));
    item.insert(schema::TTL.into(), Value::N(state.expires_at.0));
    let status = match &state.step {
        StateStep::Pending { exchange } => {
            if let Some(exchange) = exchange {
                item.insert(attr::EXCHANGE_CODE_HASH.into(), s(exchange.code_hash.clone()));
                item.insert(attr::EXCHANGE_LEASE_UNTIL.into(), Value::N(exchange.lease_until.0));
            }
            PENDING
        }
        StateStep::Authorized(authorization) => {
            for (name, value) in authorization_attributes(authorization) {
                item.insert(name.into(), value);
            }
            AUTHORIZED
        }
        StateStep::HandedOver { code_hash, to } => {
            item.insert(attr::CODE_HASH.into(), s(code_hash.clone()));
            item.insert(attr::CONTINUATION.into(), s(to.as_str()));
            HANDED_OVER
        }
        StateStep::Consumed { at } => {
            item.insert(attr::CONSUMED_AT.into(), Value::N(at.0));
            CONSUMED
        }
        StateStep::Expired => EXPIRED,
    };
    item.insert(attr::STATUS.into(), s(status));
    item
}

fn authorization_attributes(a: &Authorization) -> Vec<(&'static str, Value)> {
    let mut attributes = vec![
        (attr::TOKEN, Value::B(a.token.as_bytes().to_vec())),
        (attr::TOKEN_KIND, s(a.token_kind.as_str())),
        (attr::GRANTED_WABAS, Value::L(a.granted_wabas.iter().map(|w| w.to_string()).collect())),
        (attr::CODE_HASH, s(a.code_hash.clone())),
        (attr::AUTHORIZED_AT, Value::N(a.authorized_at.0)),
    ];
    if let Some(expiry) = a.token_expires_at {
        attributes.push((attr::TOKEN_EXPIRES_AT, Value::N(expiry.0)));
    }
    attributes
}

pub fn state_from(item: &Item) -> Result<OAuthState, StoreError> {
    let mut r = Reader(item);
    let pk = r.s(schema::PK)?;
    let key = pk.strip_prefix("STATE#").ok_or_else(|| corrupt(schema::PK))?;
    let step = match r.s(attr::STATUS)?.as_str() {
        PENDING => StateStep::Pending {
            exchange: match (r.opt_s(attr::EXCHANGE_CODE_HASH), r.opt_n(attr::EXCHANGE_LEASE_UNTIL)) {
                (Some(code_hash), Some(until)) => Some(Exchange { code_hash, lease_until: Timestamp(until) }),
                _ => None,
            },
        },
        AUTHORIZED => StateStep::Authorized(Authorization {
            token: Ciphertext::from_bytes(r.bytes(attr::TOKEN).ok_or_else(|| corrupt(attr::TOKEN))?),
            token_kind: TokenKind::parse(&r.s(attr::TOKEN_KIND)?).ok_or_else(|| corrupt(attr::TOKEN_KIND))?,
            granted_wabas: r
                .list(attr::GRANTED_WABAS)
                .iter()
                .map(|w| w.parse())
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt(attr::GRANTED_WABAS))?,
            token_expires_at: r.opt_n(attr::TOKEN_EXPIRES_AT).map(Timestamp),
            code_hash: r.s(attr::CODE_HASH)?,
            authorized_at: r.time(attr::AUTHORIZED_AT)?,
        }),
        HANDED_OVER => StateStep::HandedOver {
            code_hash: r.s(attr::CODE_HASH)?,
            to: StateKey::from_stored(r.s(attr::CONTINUATION)?),
        },
        CONSUMED => StateStep::Consumed { at: r.time(attr::CONSUMED_AT)? },
        EXPIRED => StateStep::Expired,
        _ => return Err(corrupt(attr::STATUS)),
    };
    Ok(OAuthState {
        key: StateKey::from_stored(key.to_owned()),
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        caller: r.parse(attr::CALLER_ID)?,
        redirect_uri: r.s(attr::REDIRECT_URI)?,
        created_at: r.time(attr::CREATED_AT)?,
        expires_at: r.time(attr::EXPIRES_AT)?,
        step,
    })
}

impl Records {
    pub async fn create_state(&self, state: &OAuthState) -> Result<(), ApiError> {
        let op = WriteOp::Put { item: state_item(state), condition: Some(Condition::NotExists) };
        Ok(self.store.write(vec![op]).await?)
    }

    pub async fn state(&self, key: &StateKey) -> Result<Option<OAuthState>, ApiError> {
        Ok(self.store.get(&state_key(key)).await?.as_ref().map(state_from).transpose()?)
    }

    /// Claims a pending, unexpired state for exchanging the code with `code_hash`, unless
    /// another exchange holds an unexpired claim. The claim holds for `lease_seconds`. `Ok(false)` when the claim
    /// was refused.
    pub async fn claim_exchange(
        &self,
        key: &StateKey,
        code_hash: &str,
        now: Timestamp,
        lease_seconds: i64,
    ) -> Result<bool, ApiError> {
        let op = WriteOp::Update {
            key: state_key(key),
            set: vec![
                (attr::EXCHANGE_CODE_HASH.into(), s(code_hash)),
                (attr::EXCHANGE_LEASE_UNTIL.into(), Value::N(now.0 + lease_seconds)),
            ],
            remove: Vec::new(),
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::STATUS.into(), s(PENDING)),
                Condition::GreaterThan(attr::EXPIRES_AT.into(), Value::N(now.0)),
                Condition::Or(vec![
                    Condition::AttributeMissing(attr::EXCHANGE_LEASE_UNTIL.into()),
                    Condition::LessThan(attr::EXCHANGE_LEASE_UNTIL.into(), Value::N(now.0)),
                ]),
            ])),
        };
        self.guarded(op).await
    }

    /// Gives up a claim after a failed exchange, so the person can try again with a new code.
    pub async fn release_exchange(&self, key: &StateKey, code_hash: &str) -> Result<bool, ApiError> {
        let op = WriteOp::Update {
            key: state_key(key),
            set: Vec::new(),
            remove: vec![attr::EXCHANGE_CODE_HASH.into(), attr::EXCHANGE_LEASE_UNTIL.into()],
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::STATUS.into(), s(PENDING)),
                Condition::Equals(attr::EXCHANGE_CODE_HASH.into(), s(code_hash)),
            ])),
        };
        self.guarded(op).await
    }

    /// The callback's hand-back, in one transaction: the state claimed for this code is
    /// spent (`handed_over`, pointing at its successor) and `successor` is written, holding
    /// the authorization. `Ok(false)` when the claim no longer holds (the state expired, or
    /// its claim lapsed and another exchange won).
    pub async fn hand_over(
        &self,
        from: &StateKey,
        code_hash: &str,
        successor: &OAuthState,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        let ops = vec![
            WriteOp::Update {
                key: state_key(from),
                set: vec![
                    (attr::STATUS.into(), s(HANDED_OVER)),
                    (attr::CODE_HASH.into(), s(code_hash)),
                    (attr::CONTINUATION.into(), s(successor.key.as_str())),
                ],
                remove: vec![attr::EXCHANGE_CODE_HASH.into(), attr::EXCHANGE_LEASE_UNTIL.into()],
                condition: Some(claimed_by(code_hash, now)),
            },
            WriteOp::Put { item: state_item(successor), condition: Some(Condition::NotExists) },
            WriteOp::Put { item: sealed_entry(successor), condition: None },
        ];
        match self.store.write(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Erases the sealed token of an authorized state that can no longer be used (it
    /// expired), and marks it expired: it is not left to wait for DynamoDB's TTL, which
    /// deletes days late.
    pub async fn erase_state_token(&self, key: &StateKey) -> Result<(), ApiError> {
        self.expire_authorized(key).await.map(|_| ())
    }

    /// An authorized state marked expired, without its token; `false` when it was not
    /// authorized (used, or already expired).
    async fn expire_authorized(&self, key: &StateKey) -> Result<bool, ApiError> {
        let op = WriteOp::Update {
            key: state_key(key),
            set: vec![(attr::STATUS.into(), s(EXPIRED))],
            remove: vec![attr::TOKEN.into()],
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::STATUS.into(), s(AUTHORIZED)),
            ])),
        };
        self.guarded(op).await
    }

    /// Erases the sealed tokens of up to `limit` states that expired before `now` (those
    /// already used or read are left as they are), and their entries. How many tokens it
    /// erased.
    pub async fn erase_abandoned_states(&self, now: Timestamp, limit: usize) -> Result<usize, ApiError> {
        let mut query = Query::new(Index::Table { pk: SEALED_STATES.into() });
        query.limit = Some(limit);
        let page = self.store.query(&query).await?;
        let mut erased = 0;
        for entry in &page.items {
            let sort_key = Reader(entry).s(schema::SK)?;
            let (expires_at, state) = sort_key
                .split_once('#')
                .and_then(|(at, state)| Some((at.parse::<i64>().ok()?, state)))
                .ok_or_else(|| corrupt(schema::SK))?;
            if expires_at > now.0 {
                break;
            }
            erased += usize::from(self.expire_authorized(&StateKey::from_stored(state.to_owned())).await?);
            self.store.write(vec![WriteOp::Delete { key: Key::new(SEALED_STATES, sort_key), condition: None }]).await?;
        }
        Ok(erased)
    }
}

/// A pending, unexpired state whose code exchange this request claimed.
fn claimed_by(code_hash: &str, now: Timestamp) -> Condition {
    Condition::And(vec![
        Condition::Exists,
        Condition::Equals(attr::STATUS.into(), s(PENDING)),
        Condition::Equals(attr::EXCHANGE_CODE_HASH.into(), s(code_hash)),
        Condition::GreaterThan(attr::EXPIRES_AT.into(), Value::N(now.0)),
    ])
}
