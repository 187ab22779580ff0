//! The domain's records and how they map onto the single table. This is the only place that
//! knows the item layout; both store adapters see plain items.
//!
//! | record       | pk               | sk                            | notes                                      |
//! |--------------|------------------|-------------------------------|--------------------------------------------|
//! | Organization | `ORG#{id}`       | `PROFILE`                     | `ownerKey` (GSI `byOwner`)                 |
//! | PhoneNumber  | `ORG#{id}`       | `PHONE#{phone id}`            | the authority for phone data and token     |
//! | Route        | `WABA#{waba}`    | `PHONE#{phone}#ORG#{id}`      | while connected: where webhooks go         |
//! | OAuth state  | `STATE#{sha256}` | `STATE`                       | `ttl` = expiry, checked on every read      |
//! | Message      | `ORG#{id}`       | `MSG#{identity}`              | stored once; `at` orders it (GSI `byTime`) |
//! | Sent-by      | `WAMID#{wamid}`  | `OWNER`                       | which organization sent a message          |
//! | Event        | `ORG#{id}`       | `EVENT#{seconds}#{id}`        | the event trail, stored once, newest first |
//! | Connection   | `CONNECTIONS`    | `ORG#{id}`                    | while connected: what the health sweep checks |
//! | Sweep        | `SWEEP`          | `STATE`                       | the sweep's lease and where it stopped     |
//! | Contact      | `ORG#{id}`       | `CONTACT#{phone id}#{phone}`  | a coexistence app's contacts, newest wins  |
//! | Endpoint     | `ORG#{id}`       | `ENDPOINT#{endpoint id}`      | where the organization's events go          |
//! | Delivery     | `ENDPOINT#{id}`  | `DELIVERY#{seconds}#{event}`  | an event's delivery to an endpoint          |
//! | Retry        | `QUEUE#event-retries` | `{due}#{event}#{endpoint}` | locally: a delivery waiting to retry (SQS in AWS) |
//! | Link         | `ORG#{id}`       | `LINK#{link id}`              | an onboarding link; `tokenHash`, never the token |
//! | Link token   | `LINK#{sha256}`  | `LINK`                        | which link a token opens                     |
//! | Media        | `ORG#{id}`       | `MEDIA#{media id}`            | a received file: its message and its status  |
//! | Receipt      | `WEBHOOK#{hmac}` | `RECEIPT`                     | a large webhook delivery handled in full; `ttl` 7 days |

mod contact;
mod endpoint;
mod event;
mod link;
mod message;
mod organization;
mod phone;
mod receipt;
mod state;
mod sweep;

pub use contact::{CONTACT_PREFIX, contact_from, contact_item, contact_key, contact_time};
pub use endpoint::{ENDPOINT_PREFIX, endpoint_from, endpoint_item, endpoint_key};
pub use event::{Applied, EVENT_PREFIX, event_from, event_item, event_key};
pub use link::{LINK_PREFIX, link_from, link_item, link_key};
pub use message::{MESSAGE_PREFIX, message_from, message_item, message_key};
pub use organization::{organization_from, organization_item, organization_key};
pub use phone::{Connection, ConnectionRefused, phone_from, phone_item, phone_key, route_item, route_key};
pub use receipt::RECEIPT_LIFETIME_SECS;
pub use state::{state_from, state_item, state_key};
pub use sweep::{Listed, connection_item, connection_key};

use super::{Condition, Index, Item, Key, Query, Store, StoreError, Value, WriteOp, schema};
use crate::clock::Timestamp;
use crate::error::ApiError;
use std::sync::Arc;

#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
}

/// The attributes' names, as stored.
pub(crate) mod attr {
    pub const ENTITY: &str = crate::store::schema::ENTITY;
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
    pub const DISPLAY_DIGITS: &str = "displayDigits";
    pub const REASON: &str = "reason";
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
    pub const EXCHANGE_LEASE_UNTIL: &str = "exchangeLeaseUntil";
    pub const HEALTH: &str = "health";
    pub const HEALTH_REASONS: &str = "healthReasons";
    pub const CHECKED_AT: &str = "checkedAt";
    pub const OCCURRED_AT: &str = "occurredAt";
    pub const KIND: &str = "kind";
    pub const SOURCE: &str = "source";
    pub const USER_ID: &str = "userId";
    pub const PARENT_USER_ID: &str = "parentUserId";
    pub const USERNAME: &str = "username";
    pub const ERROR: &str = "error";
    pub const LEASE_OWNER: &str = "leaseOwner";
    pub const LEASE_UNTIL: &str = "leaseUntil";
    pub const SWEEP_POSITION: &str = "position";
    pub const REGISTRATION_LIMITED_UNTIL: &str = "registrationLimitedUntil";
    pub const REGISTRATION_LEASE: &str = "registrationLease";
    pub const REGISTRATION_LEASE_UNTIL: &str = "registrationLeaseUntil";
    pub const SYNC_CONTACTS: &str = "syncContacts";
    pub const SYNC_HISTORY: &str = "syncHistory";
    pub const SYNC_CONTACTS_REASON: &str = "syncContactsReason";
    pub const SYNC_HISTORY_REASON: &str = "syncHistoryReason";
    /// Set by a coexistence connect while its syncs wait to be asked for: what the table
    /// stream's filter hands to the function that asks (removed by any change of a sync).
    pub const SYNC_DUE: &str = "syncDue";
    pub const HISTORY: &str = "history";
    pub const SYSTEM: &str = "system";
    pub const PHONE: &str = "phone";
    pub const REMOVED: &str = "removed";
    pub const URL: &str = "url";
    pub const TYPES: &str = "types";
    pub const SECRET: &str = "secretCiphertext";
    pub const DISABLED_AT: &str = "disabledAt";
    pub const FAILING_SINCE: &str = "failingSince";
    pub const TOKEN_HASH: &str = "tokenHash";
    pub const STATUS_AT: &str = "statusAt";
    pub const SUCCESS_URL: &str = "successUrl";
    pub const FAILURE_URL: &str = "failureUrl";
    pub const FEATURE_TYPE: &str = "featureType";
    pub const ONBOARDING_LINK_ID: &str = "onboardingLinkId";
    pub const MEDIA_ID: &str = "mediaId";
    pub const MEDIA_MIME: &str = "mediaMimeType";
    pub const MEDIA_SHA256: &str = "mediaSha256";
    /// `pending` on a new message with a file: what the table stream's filter hands to
    /// the function that fetches it.
    pub const MEDIA_STATUS: &str = "mediaStatus";
    pub const MEDIA_SIZE: &str = "mediaSize";
    pub const MEDIA_REASON: &str = "mediaReason";
    pub const MESSAGE_KEY: &str = "messageKey";
    pub const COUNT: &str = "count";
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

/// Where a record's attributes come from: an item kept (each attribute is copied out), or one
/// given up to the record (each is moved out, as a page of messages does with its items).
trait Attributes {
    fn take(&mut self, name: &str) -> Option<Value>;
}

impl Attributes for &Item {
    fn take(&mut self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

impl Attributes for Item {
    fn take(&mut self, name: &str) -> Option<Value> {
        self.remove(name)
    }
}

/// Reads typed attributes out of an item, turning anything malformed into a store error
/// (data written by another version of the code), never a panic. Read each attribute once:
/// an attribute of an item given up to the record is gone once read.
struct Reader<A>(A);

impl<A: Attributes> Reader<A> {
    fn opt_s(&mut self, name: &str) -> Option<String> {
        match self.0.take(name) {
            Some(Value::S(value)) => Some(value),
            _ => None,
        }
    }
    fn s(&mut self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name).ok_or_else(|| corrupt(name))
    }
    fn parse<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, StoreError> {
        self.s(name)?.parse().map_err(|_| corrupt(name))
    }
    fn opt_parse<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(name).map(|text| text.parse().map_err(|_| corrupt(name))).transpose()
    }
    /// A value kept as JSON text.
    fn json<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(name).map(|json| serde_json::from_str(&json).map_err(|_| corrupt(name))).transpose()
    }
    /// The organization whose partition the item was read from. Its ciphertexts are opened
    /// under this organization, never under an attribute that an item copied into another
    /// organization's partition would carry along: there, they open for no one.
    fn partition_organization(&mut self) -> Result<crate::domain::OrganizationId, StoreError> {
        self.s(schema::PK)?.strip_prefix("ORG#").and_then(|id| id.parse().ok()).ok_or_else(|| corrupt(schema::PK))
    }
    fn opt_n(&mut self, name: &str) -> Option<i64> {
        match self.0.take(name) {
            Some(Value::N(n)) => Some(n),
            _ => None,
        }
    }
    fn time(&mut self, name: &str) -> Result<Timestamp, StoreError> {
        self.opt_n(name).map(Timestamp).ok_or_else(|| corrupt(name))
    }
    fn bytes(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.0.take(name) {
            Some(Value::B(b)) => Some(b),
            _ => None,
        }
    }
    fn bool(&mut self, name: &str) -> bool {
        matches!(self.0.take(name), Some(Value::Bool(true)))
    }
    fn list(&mut self, name: &str) -> Vec<String> {
        match self.0.take(name) {
            Some(Value::L(l)) => l,
            _ => Vec::new(),
        }
    }
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Invalid(format!("stored attribute `{name}` is missing or malformed"))
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

    /// A single conditional write whose refusal is an answer, not an error.
    async fn guarded(&self, op: WriteOp) -> Result<bool, ApiError> {
        match self.store.write(vec![op]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}
