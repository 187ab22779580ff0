//! The domain's records and how they map onto the single table. This is the only place that
//! knows the item layout; both store adapters see plain items.
//!
//! | record       | pk              | sk                 | notes                                  |
//! |--------------|-----------------|--------------------|----------------------------------------|
//! | Organization | `ORG#{id}`      | `PROFILE`          | `ownerKey`, and `wabaKey` while linked |
//! | PhoneNumber  | `ORG#{id}`      | `PHONE#{phone id}` | the authority for phone data and token |
//! | OAuth state  | `STATE#{sha256}`| `STATE`            | `ttl` = expiry, checked on every read  |
//! | Message      | `ORG#{id}`      | `MSG#{ts}#{identity}` | a message or status, stored once     |
//! | Sent-by      | `WAMID#{wamid}` | `OWNER`            | which organization sent a message      |

use super::{Condition, Index, Item, Key, Query, Store, StoreError, Value, WriteOp, schema};
use crate::clock::Timestamp;
use crate::domain::{
    Authorization, Ciphertext, Direction, EventKind, Exchange, JsonObject, MessageEvent, OAuthState, Organization,
    OrganizationId, OrganizationName, PhoneLink, PhoneMode, PhoneNumber, PhoneNumberId, Registration, StateKey,
    StateStep, TokenKind, UserId, WabaId,
};
use crate::error::ApiError;
use std::sync::Arc;

#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
}

/// Everything one connection save writes, as one transaction: the state is consumed, the
/// organization points at the WABA, the chosen phones become active with their token, and
/// phones of any other WABA are retired so `Organization.wabaId == PhoneNumber.wabaId` holds.
pub struct Connection<'a> {
    pub organization: &'a Organization,
    pub state: &'a StateKey,
    pub waba_id: &'a WabaId,
    pub phones: Vec<PhoneNumber>,
    pub retire: Vec<PhoneNumber>,
    pub now: Timestamp,
}

mod attr {
    pub const ENTITY: &str = "entity";
    pub const ID: &str = "id";
    pub const OWNER_ID: &str = "ownerId";
    pub const NAME: &str = "name";
    pub const DESCRIPTION: &str = "description";
    pub const INDUSTRY: &str = "industry";
    pub const WEBSITE: &str = "website";
    pub const SETTINGS: &str = "settings";
    pub const AGENT_SETTINGS: &str = "agentSettings";
    pub const WABA_ID: &str = "wabaId";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const VERSION: &str = "version";
    pub const ORGANIZATION_ID: &str = "organizationId";
    pub const PHONE_NUMBER_ID: &str = "phoneNumberId";
    pub const IS_ACTIVE: &str = "isActive";
    pub const TOKEN: &str = "tokenCiphertext";
    pub const DISPLAY_PHONE: &str = "displayPhone";
    pub const VERIFIED_NAME: &str = "verifiedName";
    pub const QUALITY_RATING: &str = "qualityRating";
    pub const QUALITY_EVENT: &str = "qualityEvent";
    pub const MESSAGING_LIMIT: &str = "messagingLimit";
    pub const TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";
    pub const TOKEN_KIND: &str = "tokenKind";
    pub const MODE: &str = "mode";
    pub const REGISTRATION: &str = "registration";
    pub const REGISTRATION_REASON: &str = "registrationReason";
    pub const REGISTRATION_ATTEMPTS: &str = "registrationAttempts";
    pub const PIN: &str = "pinCiphertext";
    pub const NAME_STATUS: &str = "nameStatus";
    pub const CONTINUATION: &str = "continuationKey";
    pub const VERIFIED_AT: &str = "verifiedAt";
    pub const CALLER_ID: &str = "callerId";
    pub const REDIRECT_URI: &str = "redirectUri";
    pub const STATUS: &str = "status";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const GRANTED_WABAS: &str = "grantedWabaIds";
    pub const CODE_HASH: &str = "codeHash";
    pub const AUTHORIZED_AT: &str = "authorizedAt";
    pub const CONSUMED_AT: &str = "consumedAt";
    pub const EXCHANGE_CODE_HASH: &str = "exchangeCodeHash";
    pub const DIRECTION: &str = "direction";
    pub const MESSAGE_ID: &str = "messageId";
    pub const FROM: &str = "from";
    pub const TO: &str = "to";
    pub const CONTACT_NAME: &str = "contactName";
    pub const TYPE: &str = "type";
    pub const TEXT: &str = "text";
    pub const TIMESTAMP: &str = "timestamp";
    pub const RECEIVED_AT: &str = "receivedAt";
    pub const PAYLOAD: &str = "payload";
    pub const EXCHANGE_STARTED_AT: &str = "exchangeStartedAt";
}

const PENDING: &str = "pending";
const AUTHORIZED: &str = "authorized";
const HANDED_OVER: &str = "handed_over";
const CONSUMED: &str = "consumed";

pub fn organization_key(id: &OrganizationId) -> Key {
    Key::new(format!("ORG#{id}"), "PROFILE")
}

pub fn phone_key(organization: &OrganizationId, phone: &PhoneNumberId) -> Key {
    Key::new(format!("ORG#{organization}"), format!("PHONE#{phone}"))
}

pub fn state_key(key: &StateKey) -> Key {
    Key::new(format!("STATE#{}", key.as_str()), "STATE")
}

fn s(value: impl Into<String>) -> Value {
    Value::S(value.into())
}

fn with_key(key: Key, entity: &str) -> Item {
    Item::from([
        (schema::PK.to_owned(), Value::S(key.pk)),
        (schema::SK.to_owned(), Value::S(key.sk)),
        (attr::ENTITY.to_owned(), s(entity)),
    ])
}

fn put_opt(item: &mut Item, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        item.insert(name.to_owned(), value);
    }
}

/// Reads typed attributes out of an item, turning anything malformed into a store error
/// (data written by another version of the code), never a panic.
struct Reader<'a>(&'a Item);

impl Reader<'_> {
    fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_s).map(str::to_owned)
    }
    fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name).ok_or_else(|| corrupt(name))
    }
    fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.s(name)?.parse().map_err(|_| corrupt(name))
    }
    fn opt_n(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_n)
    }
    fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        self.opt_n(name).map(Timestamp).ok_or_else(|| corrupt(name))
    }
    fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        match self.0.get(name) {
            Some(Value::B(b)) => Some(b.clone()),
            _ => None,
        }
    }
    fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(Value::Bool(true)))
    }
    fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::L(l)) => l.clone(),
            _ => Vec::new(),
        }
    }
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Invalid(format!("stored attribute `{name}` is missing or malformed"))
}

pub fn organization_item(org: &Organization) -> Item {
    let mut item = with_key(organization_key(&org.id), "organization");
    item.insert(attr::ID.into(), s(org.id.as_str()));
    item.insert(attr::OWNER_ID.into(), s(org.owner_id.as_str()));
    item.insert(schema::OWNER_KEY.into(), s(org.owner_id.as_str()));
    item.insert(attr::NAME.into(), s(org.name.as_str()));
    put_opt(&mut item, attr::DESCRIPTION, org.description.clone().map(Value::S));
    put_opt(&mut item, attr::INDUSTRY, org.industry.clone().map(Value::S));
    put_opt(&mut item, attr::WEBSITE, org.website.clone().map(Value::S));
    item.insert(attr::SETTINGS.into(), s(org.settings.to_json_string()));
    item.insert(attr::AGENT_SETTINGS.into(), s(org.agent_settings.to_json_string()));
    if let Some(waba) = &org.waba_id {
        item.insert(attr::WABA_ID.into(), s(waba.as_str()));
        item.insert(schema::WABA_KEY.into(), s(waba.as_str()));
    }
    item.insert(attr::CREATED_AT.into(), Value::N(org.created_at.0));
    item.insert(attr::UPDATED_AT.into(), Value::N(org.updated_at.0));
    item.insert(attr::VERSION.into(), Value::N(org.version as i64));
    item
}

pub fn organization_from(item: &Item) -> Result<Organization, StoreError> {
    let r = Reader(item);
    let json = |name: &str| r.opt_s(name).and_then(|t| JsonObject::from_json_string(&t)).unwrap_or_default();
    Ok(Organization {
        id: r.parse(attr::ID)?,
        owner_id: r.parse(attr::OWNER_ID)?,
        name: OrganizationName::parse(&r.s(attr::NAME)?).map_err(|_| corrupt(attr::NAME))?,
        description: r.opt_s(attr::DESCRIPTION),
        industry: r.opt_s(attr::INDUSTRY),
        website: r.opt_s(attr::WEBSITE),
        settings: json(attr::SETTINGS),
        agent_settings: json(attr::AGENT_SETTINGS),
        waba_id: r.opt_s(attr::WABA_ID).map(|w| w.parse()).transpose().map_err(|_| corrupt(attr::WABA_ID))?,
        created_at: r.time(attr::CREATED_AT)?,
        updated_at: r.time(attr::UPDATED_AT)?,
        version: r.opt_n(attr::VERSION).unwrap_or(0) as u64,
    })
}

pub fn phone_item(phone: &PhoneNumber) -> Item {
    let mut item = with_key(phone_key(&phone.organization_id, &phone.phone_number_id), "phone_number");
    item.insert(attr::ORGANIZATION_ID.into(), s(phone.organization_id.as_str()));
    item.insert(attr::PHONE_NUMBER_ID.into(), s(phone.phone_number_id.as_str()));
    item.insert(attr::WABA_ID.into(), s(phone.waba_id.as_str()));
    item.insert(attr::IS_ACTIVE.into(), Value::Bool(phone.is_active()));
    if let PhoneLink::Active { token, kind, expires_at } = &phone.link {
        item.insert(attr::TOKEN.into(), Value::B(token.as_bytes().to_vec()));
        item.insert(attr::TOKEN_KIND.into(), s(kind.as_str()));
        put_opt(&mut item, attr::TOKEN_EXPIRES_AT, expires_at.map(|t| Value::N(t.0)));
    }
    item.insert(attr::MODE.into(), s(phone.mode.as_str()));
    for (name, value) in registration_attributes(&phone.registration, &phone.registration_attempts) {
        item.insert(name.into(), value);
    }
    put_opt(&mut item, attr::PIN, phone.pin.as_ref().map(|p| Value::B(p.as_bytes().to_vec())));
    put_opt(&mut item, attr::NAME_STATUS, phone.name_status.clone().map(Value::S));
    item.insert(attr::DISPLAY_PHONE.into(), s(phone.display_phone.clone()));
    put_opt(&mut item, attr::VERIFIED_NAME, phone.verified_name.clone().map(Value::S));
    put_opt(&mut item, attr::QUALITY_RATING, phone.quality_rating.clone().map(Value::S));
    put_opt(&mut item, attr::QUALITY_EVENT, phone.quality_event.clone().map(Value::S));
    put_opt(&mut item, attr::MESSAGING_LIMIT, phone.messaging_limit.clone().map(Value::S));
    item.insert(attr::VERIFIED_AT.into(), Value::N(phone.verified_at.0));
    item.insert(attr::CREATED_AT.into(), Value::N(phone.created_at.0));
    item.insert(attr::UPDATED_AT.into(), Value::N(phone.updated_at.0));
    item
}

/// The registration attributes: status, Meta's reason when there is one, and the attempts
/// within Meta's window (as seconds, in a string list).
fn registration_attributes(registration: &Registration, attempts: &[Timestamp]) -> Vec<(&'static str, Value)> {
    let mut attributes = vec![
        (attr::REGISTRATION, s(registration.as_str())),
        (attr::REGISTRATION_ATTEMPTS, Value::L(attempts.iter().map(|t| t.0.to_string()).collect())),
    ];
    if let Some(reason) = registration.reason() {
        attributes.push((attr::REGISTRATION_REASON, s(reason)));
    }
    attributes
}

pub fn phone_from(item: &Item) -> Result<PhoneNumber, StoreError> {
    let r = Reader(item);
    let link = match (r.bool(attr::IS_ACTIVE), r.bytes(attr::TOKEN)) {
        (true, Some(token)) => PhoneLink::Active {
            token: Ciphertext::from_bytes(token),
            kind: r
                .opt_s(attr::TOKEN_KIND)
                .map_or(Some(TokenKind::User), |k| TokenKind::parse(&k))
                .ok_or_else(|| corrupt(attr::TOKEN_KIND))?,
            expires_at: r.opt_n(attr::TOKEN_EXPIRES_AT).map(Timestamp),
        },
        // An "active" phone without a token cannot send; it is treated as not connected.
        _ => PhoneLink::Inactive,
    };
    let registration = match r.opt_s(attr::REGISTRATION) {
        // Written before registration was tracked: the number may or may not be registered.
        None => Registration::Pending { reason: "registration was never attempted".into() },
        Some(status) => Registration::from_parts(&status, r.opt_s(attr::REGISTRATION_REASON))
            .ok_or_else(|| corrupt(attr::REGISTRATION))?,
    };
    let registration_attempts = r
        .list(attr::REGISTRATION_ATTEMPTS)
        .iter()
        .map(|t| t.parse().map(Timestamp))
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(attr::REGISTRATION_ATTEMPTS))?;
    Ok(PhoneNumber {
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        phone_number_id: r.parse(attr::PHONE_NUMBER_ID)?,
        waba_id: r.parse(attr::WABA_ID)?,
        link,
        mode: r
            .opt_s(attr::MODE)
            .map_or(Some(PhoneMode::CloudApi), |m| PhoneMode::parse(&m))
            .ok_or_else(|| corrupt(attr::MODE))?,
        registration,
        registration_attempts,
        pin: r.bytes(attr::PIN).map(Ciphertext::from_bytes),
        name_status: r.opt_s(attr::NAME_STATUS),
        display_phone: r.s(attr::DISPLAY_PHONE)?,
        verified_name: r.opt_s(attr::VERIFIED_NAME),
        quality_rating: r.opt_s(attr::QUALITY_RATING),
        quality_event: r.opt_s(attr::QUALITY_EVENT),
        messaging_limit: r.opt_s(attr::MESSAGING_LIMIT),
        verified_at: r.time(attr::VERIFIED_AT)?,
        created_at: r.time(attr::CREATED_AT)?,
        updated_at: r.time(attr::UPDATED_AT)?,
    })
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
                item.insert(attr::EXCHANGE_STARTED_AT.into(), Value::N(exchange.started_at.0));
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
    let r = Reader(item);
    let pk = r.s(schema::PK)?;
    let key = pk.strip_prefix("STATE#").ok_or_else(|| corrupt(schema::PK))?;
    let step = match r.s(attr::STATUS)?.as_str() {
        PENDING => StateStep::Pending {
            exchange: match (r.opt_s(attr::EXCHANGE_CODE_HASH), r.opt_n(attr::EXCHANGE_STARTED_AT)) {
                (Some(code_hash), Some(started_at)) => Some(Exchange { code_hash, started_at: Timestamp(started_at) }),
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

pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn message_key(event: &MessageEvent) -> Key {
    Key::new(
        format!("ORG#{}", event.organization_id),
        format!("{MESSAGE_PREFIX}{:010}#{}", event.timestamp.0.max(0), event.identity()),
    )
}

fn owner_key(message_id: &str) -> Key {
    Key::new(format!("WAMID#{message_id}"), "OWNER")
}

pub fn message_item(event: &MessageEvent, retention_seconds: i64) -> Item {
    let (entity, direction, status) = match &event.kind {
        EventKind::Message { direction } => ("message", *direction, None),
        EventKind::Status { status } => ("status", Direction::Outbound, Some(status.clone())),
    };
    let mut item = with_key(message_key(event), entity);
    item.insert(attr::ORGANIZATION_ID.into(), s(event.organization_id.as_str()));
    item.insert(attr::PHONE_NUMBER_ID.into(), s(event.phone_number_id.as_str()));
    item.insert(attr::WABA_ID.into(), s(event.waba_id.as_str()));
    let direction = match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    item.insert(attr::DIRECTION.into(), s(direction));
    item.insert(attr::MESSAGE_ID.into(), s(event.message_id.clone()));
    put_opt(&mut item, attr::STATUS, status.map(Value::S));
    put_opt(&mut item, attr::FROM, event.from.clone().map(Value::S));
    put_opt(&mut item, attr::TO, event.to.clone().map(Value::S));
    put_opt(&mut item, attr::CONTACT_NAME, event.contact_name.clone().map(Value::S));
    put_opt(&mut item, attr::TYPE, event.message_type.clone().map(Value::S));
    put_opt(&mut item, attr::TEXT, event.text.clone().map(Value::S));
    put_opt(&mut item, attr::PAYLOAD, event.payload.clone().map(Value::S));
    item.insert(attr::TIMESTAMP.into(), Value::N(event.timestamp.0));
    item.insert(attr::RECEIVED_AT.into(), Value::N(event.received_at.0));
    // Kept well past Meta's 7-day redelivery window, so a late redelivery still finds it.
    item.insert(schema::TTL.into(), Value::N(event.received_at.0 + retention_seconds));
    item
}

pub fn message_from(item: &Item) -> Result<MessageEvent, StoreError> {
    let r = Reader(item);
    let kind = match (r.s(attr::ENTITY)?.as_str(), r.s(attr::DIRECTION)?.as_str()) {
        ("status", _) => EventKind::Status { status: r.s(attr::STATUS)? },
        ("message", "inbound") => EventKind::Message { direction: Direction::Inbound },
        ("message", "outbound") => EventKind::Message { direction: Direction::Outbound },
        _ => return Err(corrupt(attr::ENTITY)),
    };
    Ok(MessageEvent {
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        phone_number_id: r.parse(attr::PHONE_NUMBER_ID)?,
        waba_id: r.parse(attr::WABA_ID)?,
        kind,
        message_id: r.s(attr::MESSAGE_ID)?,
        from: r.opt_s(attr::FROM),
        to: r.opt_s(attr::TO),
        contact_name: r.opt_s(attr::CONTACT_NAME),
        message_type: r.opt_s(attr::TYPE),
        text: r.opt_s(attr::TEXT),
        timestamp: r.time(attr::TIMESTAMP)?,
        received_at: r.time(attr::RECEIVED_AT)?,
        payload: r.opt_s(attr::PAYLOAD),
    })
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed { .. } | StoreError::TransactionConflict => {
                ApiError::conflict("The data changed while this request was being handled.")
            }
            StoreError::Invalid(message) => {
                tracing::error!(%message, "store request rejected");
                ApiError::internal("The request could not be stored.")
            }
            StoreError::Unavailable(message) => {
                tracing::error!(%message, "store unavailable");
                ApiError::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "Storage is temporarily unavailable.",
                )
                .with_action("Try again in a moment.")
            }
        }
    }
}

fn version_is(version: u64) -> Condition {
    Condition::Equals(attr::VERSION.into(), Value::N(version as i64))
}

impl Records {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub async fn create_organization(&self, org: &Organization) -> Result<(), ApiError> {
        let op = WriteOp::Put { item: organization_item(org), condition: Some(Condition::NotExists) };
        self.store.write(vec![op]).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ApiError::conflict("An organization with this id already exists."),
            other => other.into(),
        })
    }

    pub async fn organization(&self, id: &OrganizationId) -> Result<Option<Organization>, ApiError> {
        Ok(self.store.get(&organization_key(id)).await?.as_ref().map(organization_from).transpose()?)
    }

    /// Writes `org` if nobody changed it since it was read (its `version`), and returns it
    /// with the new version.
    pub async fn update_organization(&self, mut org: Organization) -> Result<Organization, ApiError> {
        let read_version = org.version;
        org.version += 1;
        let op = WriteOp::Put { item: organization_item(&org), condition: Some(version_is(read_version)) };
        self.store.write(vec![op]).await?;
        Ok(org)
    }

    pub async fn organizations_owned_by(&self, owner: &UserId) -> Result<Vec<Organization>, ApiError> {
        self.all(Index::ByOwner(owner.to_string()), organization_from).await
    }

    pub async fn organizations_linked_to(&self, waba: &WabaId) -> Result<Vec<Organization>, ApiError> {
        self.all(Index::ByWaba(waba.to_string()), organization_from).await
    }

    pub async fn phone(
        &self,
        organization: &OrganizationId,
        phone: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, ApiError> {
        Ok(self.store.get(&phone_key(organization, phone)).await?.as_ref().map(phone_from).transpose()?)
    }

    /// Records a phone's registration outcome (and the PIN it was registered with, when
    /// given), if the phone is still connected. `Ok(false)` when it was disconnected since.
    pub async fn set_registration(
        &self,
        phone: &PhoneNumber,
        pin: Option<&Ciphertext>,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        let mut set: Vec<(String, Value)> = registration_attributes(&phone.registration, &phone.registration_attempts)
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        set.push((attr::UPDATED_AT.into(), Value::N(now.0)));
        if let Some(pin) = pin {
            set.push((attr::PIN.into(), Value::B(pin.as_bytes().to_vec())));
        }
        let remove =
            if phone.registration.reason().is_none() { vec![attr::REGISTRATION_REASON.into()] } else { Vec::new() };
        let op = WriteOp::Update {
            key: phone_key(&phone.organization_id, &phone.phone_number_id),
            set,
            remove,
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::IS_ACTIVE.into(), Value::Bool(true)),
            ])),
        };
        self.guarded(op).await
    }

    pub async fn phones(&self, organization: &OrganizationId) -> Result<Vec<PhoneNumber>, ApiError> {
        let mut query = Query::new(Index::Table { pk: format!("ORG#{organization}") });
        query.sk_prefix = Some("PHONE#".into());
        self.collect(query, phone_from).await
    }

    async fn all<T>(&self, index: Index, parse: fn(&Item) -> Result<T, StoreError>) -> Result<Vec<T>, ApiError> {
        self.collect(Query::new(index), parse).await
    }

    /// Follows every page of a query.
    async fn collect<T>(
        &self,
        mut query: Query,
        parse: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                out.push(parse(item)?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub async fn create_state(&self, state: &OAuthState) -> Result<(), ApiError> {
        let op = WriteOp::Put { item: state_item(state), condition: Some(Condition::NotExists) };
        Ok(self.store.write(vec![op]).await?)
    }

    pub async fn state(&self, key: &StateKey) -> Result<Option<OAuthState>, ApiError> {
        Ok(self.store.get(&state_key(key)).await?.as_ref().map(state_from).transpose()?)
    }

    /// Claims a pending, unexpired state for exchanging the code with `code_hash`, unless
    /// another exchange holds a claim younger than `lease_seconds`. `Ok(false)` when the claim
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
                (attr::EXCHANGE_STARTED_AT.into(), Value::N(now.0)),
            ],
            remove: Vec::new(),
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::STATUS.into(), s(PENDING)),
                Condition::GreaterThan(attr::EXPIRES_AT.into(), Value::N(now.0)),
                Condition::Or(vec![
                    Condition::AttributeMissing(attr::EXCHANGE_STARTED_AT.into()),
                    Condition::LessThan(attr::EXCHANGE_STARTED_AT.into(), Value::N(now.0 - lease_seconds)),
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
            remove: vec![attr::EXCHANGE_CODE_HASH.into(), attr::EXCHANGE_STARTED_AT.into()],
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
                remove: vec![attr::EXCHANGE_CODE_HASH.into(), attr::EXCHANGE_STARTED_AT.into()],
                condition: Some(claimed_by(code_hash, now)),
            },
            WriteOp::Put { item: state_item(successor), condition: Some(Condition::NotExists) },
        ];
        match self.store.write(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Erases the sealed token of an authorized state that can no longer be used (it
    /// expired): it is not left to wait for DynamoDB's TTL, which deletes days late.
    pub async fn erase_state_token(&self, key: &StateKey) -> Result<(), ApiError> {
        let op = WriteOp::Update {
            key: state_key(key),
            set: Vec::new(),
            remove: vec![attr::TOKEN.into()],
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::Equals(attr::STATUS.into(), s(AUTHORIZED)),
            ])),
        };
        self.guarded(op).await.map(|_| ())
    }

    /// A single conditional write whose refusal is an answer, not an error.
    async fn guarded(&self, op: WriteOp) -> Result<bool, ApiError> {
        match self.store.write(vec![op]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Writes a connection in one transaction. `Err(ConnectionRefused::State)` when the state
    /// was consumed or expired by the time of the write (the caller re-reads it to say which),
    /// `Organization` when the organization changed concurrently.
    pub async fn save_connection(&self, connection: Connection<'_>) -> Result<(), ConnectionRefused> {
        let org = connection.organization;
        let now = connection.now;
        let mut ops = vec![
            WriteOp::Update {
                key: state_key(connection.state),
                set: vec![(attr::STATUS.into(), s(CONSUMED)), (attr::CONSUMED_AT.into(), Value::N(now.0))],
                remove: vec![attr::TOKEN.into()],
                condition: Some(Condition::And(vec![
                    Condition::Exists,
                    Condition::Equals(attr::STATUS.into(), s(AUTHORIZED)),
                    Condition::Equals(attr::ORGANIZATION_ID.into(), s(org.id.as_str())),
                    Condition::GreaterThan(attr::EXPIRES_AT.into(), Value::N(now.0)),
                ])),
            },
            WriteOp::Update {
                key: organization_key(&org.id),
                set: vec![
                    (attr::WABA_ID.into(), s(connection.waba_id.as_str())),
                    (schema::WABA_KEY.into(), s(connection.waba_id.as_str())),
                    (attr::UPDATED_AT.into(), Value::N(connection.now.0)),
                    (attr::VERSION.into(), Value::N(org.version as i64 + 1)),
                ],
                remove: Vec::new(),
                condition: Some(Condition::And(vec![Condition::Exists, version_is(org.version)])),
            },
        ];
        for phone in &connection.phones {
            ops.push(WriteOp::Put { item: phone_item(phone), condition: None });
        }
        for phone in &connection.retire {
            ops.push(retire_phone(phone, connection.now));
        }
        match self.store.write(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index: 0 }) => Err(ConnectionRefused::State),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                Err(ConnectionRefused::Organization)
            }
            Err(other) => Err(ConnectionRefused::Store(other.into())),
        }
    }

    /// Retires every given phone (inactive, token erased) and clears the organization's WABA
    /// reference, in one transaction.
    pub async fn disconnect(&self, org: &Organization, phones: &[PhoneNumber], now: Timestamp) -> Result<(), ApiError> {
        let mut ops = vec![WriteOp::Update {
            key: organization_key(&org.id),
            set: vec![
                (attr::UPDATED_AT.into(), Value::N(now.0)),
                (attr::VERSION.into(), Value::N(org.version as i64 + 1)),
            ],
            remove: vec![attr::WABA_ID.into(), schema::WABA_KEY.into()],
            condition: Some(Condition::And(vec![Condition::Exists, version_is(org.version)])),
        }];
        ops.extend(phones.iter().map(|phone| retire_phone(phone, now)));
        self.store.write(ops).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } | StoreError::TransactionConflict => {
                ApiError::conflict("The organization changed while it was being disconnected.")
            }
            other => other.into(),
        })
    }
}

impl Records {
    /// Stores each event unless it was stored before; returns how many were new.
    pub async fn store_events(&self, events: &[MessageEvent], retention_seconds: i64) -> Result<usize, ApiError> {
        if events.is_empty() {
            return Ok(0);
        }
        let items = events.iter().map(|e| message_item(e, retention_seconds)).collect();
        let written = self.store.put_each_if_absent(items).await?;
        Ok(written.into_iter().filter(|w| *w).count())
    }

    /// Stores a message this service sent, and who sent it: statuses Meta later reports for
    /// it go to that organization alone, even when others share the phone.
    pub async fn store_sent(&self, event: &MessageEvent, retention_seconds: i64) -> Result<(), ApiError> {
        let mut owner = with_key(owner_key(&event.message_id), "message_owner");
        owner.insert(attr::ORGANIZATION_ID.into(), s(event.organization_id.as_str()));
        owner.insert(schema::TTL.into(), Value::N(event.received_at.0 + retention_seconds));
        self.store.put_each_if_absent(vec![owner, message_item(event, retention_seconds)]).await?;
        Ok(())
    }

    /// The organization that sent `message_id` through this service, if any.
    pub async fn message_owner(&self, message_id: &str) -> Result<Option<OrganizationId>, ApiError> {
        let item = self.store.get(&owner_key(message_id)).await?;
        Ok(item.as_ref().map(|i| Reader(i).parse(attr::ORGANIZATION_ID)).transpose()?)
    }

    /// An organization's messages and statuses, newest first. `before` is the sort key of
    /// the last event of the previous page; the next page's is returned when more may follow.
    pub async fn messages(
        &self,
        organization: &OrganizationId,
        limit: usize,
        before: Option<String>,
    ) -> Result<(Vec<MessageEvent>, Option<String>), ApiError> {
        let pk = format!("ORG#{organization}");
        let mut query = Query::new(Index::Table { pk: pk.clone() });
        query.sk_prefix = Some(MESSAGE_PREFIX.into());
        query.descending = true;
        query.limit = Some(limit);
        query.after = before.map(|sk| Key::new(pk, sk));
        let page = self.store.query(&query).await?;
        let events = page.items.iter().map(message_from).collect::<Result<Vec<_>, _>>()?;
        Ok((events, page.next.map(|k| k.sk)))
    }

    /// Applies a `phone_number_quality_update` to the PhoneNumber authority.
    pub async fn update_quality(
        &self,
        phone: &PhoneNumber,
        rating: Option<&str>,
        event: &str,
        limit: Option<&str>,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let mut set = vec![(attr::QUALITY_EVENT.to_owned(), s(event)), (attr::UPDATED_AT.into(), Value::N(now.0))];
        if let Some(rating) = rating {
            set.push((attr::QUALITY_RATING.into(), s(rating)));
        }
        if let Some(limit) = limit {
            set.push((attr::MESSAGING_LIMIT.into(), s(limit)));
        }
        let op = WriteOp::Update {
            key: phone_key(&phone.organization_id, &phone.phone_number_id),
            set,
            remove: Vec::new(),
            condition: Some(Condition::Exists),
        };
        Ok(self.store.write(vec![op]).await?)
    }
}

fn retire_phone(phone: &PhoneNumber, now: Timestamp) -> WriteOp {
    WriteOp::Update {
        key: phone_key(&phone.organization_id, &phone.phone_number_id),
        set: vec![(attr::IS_ACTIVE.into(), Value::Bool(false)), (attr::UPDATED_AT.into(), Value::N(now.0))],
        remove: vec![attr::TOKEN.into(), attr::TOKEN_KIND.into(), attr::TOKEN_EXPIRES_AT.into(), attr::PIN.into()],
        condition: Some(Condition::Exists),
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

#[derive(Debug)]
pub enum ConnectionRefused {
    State,
    Organization,
    Store(ApiError),
}
