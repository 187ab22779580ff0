use super::state::{AUTHORIZED, CONSUMED};
use super::{
    Condition, Index, Query, Reader, Records, StoreError, Value, WriteOp, attr, corrupt, put_opt, s, version_is,
    with_key,
};
use crate::clock::Timestamp;
use crate::domain::{
    Ciphertext, CoexistenceSync, HealthRecord, Organization, OrganizationId, PhoneLink, PhoneMode, PhoneNumber,
    PhoneNumberId, Registration, Route, StateKey, SyncKind, SyncState, TokenKind, WabaId,
};
use crate::error::ApiError;
use crate::store::{Item, Key, MAX_TRANSACTION_ITEMS};

pub fn phone_key(organization: &OrganizationId, phone: &PhoneNumberId) -> Key {
    Key::new(format!("ORG#{organization}"), format!("PHONE#{phone}"))
}

/// Where a WABA's webhooks go: one item per connected (phone, organization), in the WABA's
/// own partition, so routing is one strongly consistent query — right after a connection
/// commits, not when an index catches up.
pub fn route_key(waba: &WabaId, phone: &PhoneNumberId, organization: &OrganizationId) -> Key {
    Key::new(format!("WABA#{waba}"), format!("PHONE#{phone}#ORG#{organization}"))
}

pub fn route_item(phone: &PhoneNumber) -> Item {
    let mut item = with_key(route_key(&phone.waba_id, &phone.phone_number_id, &phone.organization_id), "route");
    item.insert(attr::ORGANIZATION_ID.into(), s(phone.organization_id.as_str()));
    item.insert(attr::PHONE_NUMBER_ID.into(), s(phone.phone_number_id.as_str()));
    item.insert(attr::WABA_ID.into(), s(phone.waba_id.as_str()));
    item.insert(attr::DISPLAY_DIGITS.into(), s(phone.display_digits()));
    item
}

fn route_from(item: &Item) -> Result<Route, StoreError> {
    let mut r = Reader(item);
    Ok(Route {
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        phone_number_id: r.parse(attr::PHONE_NUMBER_ID)?,
        waba_id: r.parse(attr::WABA_ID)?,
        display_digits: r.s(attr::DISPLAY_DIGITS)?,
    })
}

/// Everything one connection save writes: the state is consumed, the organization points
/// at the WABA, the chosen phones become active with their token (and their routes), and
/// phones of any other WABA are retired so `Organization.wabaId == PhoneNumber.wabaId` holds.
pub struct Connection<'a> {
    pub organization: &'a Organization,
    pub state: &'a StateKey,
    pub waba_id: &'a WabaId,
    pub phones: Vec<PhoneNumber>,
    pub retire: Vec<PhoneNumber>,
    pub now: Timestamp,
}

#[derive(Debug)]
pub enum ConnectionRefused {
    State,
    Organization,
    Store(ApiError),
}

/// A phone's writes in a connection save or a disconnect: the PhoneNumber and its route,
/// always in the same transaction.
type PhoneOps = [WriteOp; 2];

fn connect_phone(phone: &PhoneNumber) -> PhoneOps {
    [
        WriteOp::Put { item: phone_item(phone), condition: None },
        WriteOp::Put { item: route_item(phone), condition: None },
    ]
}

fn retire_phone(phone: &PhoneNumber, now: Timestamp) -> PhoneOps {
    [
        WriteOp::Update {
            key: phone_key(&phone.organization_id, &phone.phone_number_id),
            set: vec![(attr::IS_ACTIVE.into(), Value::Bool(false)), (attr::UPDATED_AT.into(), Value::N(now.0))],
            remove: vec![attr::TOKEN.into(), attr::TOKEN_KIND.into(), attr::TOKEN_EXPIRES_AT.into(), attr::PIN.into()],
            condition: Some(Condition::Exists),
        },
        WriteOp::Delete {
            key: route_key(&phone.waba_id, &phone.phone_number_id, &phone.organization_id),
            condition: None,
        },
    ]
}

/// Splits phone writes into transactions within DynamoDB's 100 operations, after `first`
/// (which the first transaction carries); each later one re-checks `guard`.
fn transactions(first: Vec<WriteOp>, phones: Vec<PhoneOps>, guard: impl Fn() -> WriteOp) -> Vec<Vec<WriteOp>> {
    let mut batches = vec![first];
    for ops in phones {
        let room = MAX_TRANSACTION_ITEMS - batches.last().map_or(0, Vec::len);
        if room < ops.len() {
            batches.push(vec![guard()]);
        }
        batches.last_mut().expect("at least one batch").extend(ops);
    }
    batches
}

/// Ends a disconnect's transactions with `clear`, which takes the place of the last one's
/// guard (it checks the same version), and `unlisted`: in the last transaction when one more
/// write fits, else in one of their own.
fn ending_with(mut batches: Vec<Vec<WriteOp>>, clear: WriteOp, unlisted: WriteOp) -> Vec<Vec<WriteOp>> {
    let last = batches.last_mut().expect("at least one batch");
    if last.len() < MAX_TRANSACTION_ITEMS {
        last[0] = clear;
        last.push(unlisted);
    } else {
        batches.push(vec![clear, unlisted]);
    }
    batches
}

/// The attributes of a registration lease (its holder, and until when).
fn lease_attributes() -> Vec<String> {
    vec![attr::REGISTRATION_LEASE.into(), attr::REGISTRATION_LEASE_UNTIL.into()]
}

/// The phone's registration lease is `owner`'s.
fn held_by(owner: &str) -> Condition {
    Condition::Equals(attr::REGISTRATION_LEASE.into(), s(owner))
}

/// An update of a phone that applies only while it is connected (and `also` holds).
fn update_connected(
    phone: &PhoneNumber,
    set: Vec<(String, Value)>,
    remove: Vec<String>,
    also: Option<Condition>,
) -> WriteOp {
    let mut conditions = vec![Condition::Exists, Condition::Equals(attr::IS_ACTIVE.into(), Value::Bool(true))];
    conditions.extend(also);
    WriteOp::Update {
        key: phone_key(&phone.organization_id, &phone.phone_number_id),
        set,
        remove,
        condition: Some(Condition::And(conditions)),
    }
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
    for (name, value) in registration_attributes(phone) {
        item.insert(name.into(), value);
    }
    if let Some(sync) = &phone.sync {
        for (name, value) in sync_attributes(sync) {
            item.insert(name.into(), value);
        }
        // Written by a connect alone: the table's stream hands the phone to whoever asks
        // Meta for its syncs. Any later change of a sync removes it, so a sync Meta did not
        // take is asked for again by the sweep, not in a loop through the stream.
        if sync.is_due() {
            item.insert(attr::SYNC_DUE.into(), Value::Bool(true));
        }
    }
    put_opt(&mut item, attr::PIN, phone.pin.as_ref().map(|p| Value::B(p.as_bytes().to_vec())));
    put_opt(&mut item, attr::NAME_STATUS, phone.name_status.clone().map(Value::S));
    item.insert(attr::DISPLAY_PHONE.into(), s(phone.display_phone.clone()));
    put_opt(&mut item, attr::VERIFIED_NAME, phone.verified_name.clone().map(Value::S));
    put_opt(&mut item, attr::QUALITY_RATING, phone.quality_rating.clone().map(Value::S));
    put_opt(&mut item, attr::QUALITY_EVENT, phone.quality_event.clone().map(Value::S));
    put_opt(&mut item, attr::MESSAGING_LIMIT, phone.messaging_limit.clone().map(Value::S));
    for (name, value) in health_attributes(phone, Timestamp::now()) {
        item.insert(name.into(), value);
    }
    item.insert(attr::VERIFIED_AT.into(), Value::N(phone.verified_at.0));
    item.insert(attr::CREATED_AT.into(), Value::N(phone.created_at.0));
    item.insert(attr::UPDATED_AT.into(), Value::N(phone.updated_at.0));
    item
}

/// The registration attributes: status, Meta's reason when there is one, the attempts
/// within Meta's window (as seconds, in a string list) and Meta's block after 133016.
pub(super) fn registration_attributes(phone: &PhoneNumber) -> Vec<(&'static str, Value)> {
    let attempts = &phone.registration_attempts;
    let mut attributes = vec![
        (attr::REGISTRATION, s(phone.registration.as_str())),
        (attr::REGISTRATION_ATTEMPTS, Value::L(attempts.iter().map(|t| t.0.to_string()).collect())),
    ];
    if let Some(reason) = phone.registration.reason() {
        attributes.push((attr::REGISTRATION_REASON, s(reason)));
    }
    if let Some(until) = phone.registration_limited_until {
        attributes.push((attr::REGISTRATION_LIMITED_UNTIL, Value::N(until.0)));
    }
    attributes
}

/// The attributes an optional registration or sync field leaves out when it has no value:
/// an update removes them, so an old value never outlives the state that had it.
pub(super) fn registration_absent(phone: &PhoneNumber) -> Vec<String> {
    let mut absent = Vec::new();
    if phone.registration.reason().is_none() {
        absent.push(attr::REGISTRATION_REASON.into());
    }
    if phone.registration_limited_until.is_none() {
        absent.push(attr::REGISTRATION_LIMITED_UNTIL.into());
    }
    absent
}

fn sync_attribute_names(kind: SyncKind) -> (&'static str, &'static str) {
    match kind {
        SyncKind::Contacts => (attr::SYNC_CONTACTS, attr::SYNC_CONTACTS_REASON),
        SyncKind::History => (attr::SYNC_HISTORY, attr::SYNC_HISTORY_REASON),
    }
}

/// A coexistence number's sync attributes.
pub(super) fn sync_attributes(sync: &CoexistenceSync) -> Vec<(&'static str, Value)> {
    let mut attributes = Vec::new();
    for kind in SyncKind::ALL {
        let (status, reason) = sync_attribute_names(kind);
        attributes.push((status, s(sync.get(kind).as_str())));
        if let Some(text) = sync.get(kind).reason() {
            attributes.push((reason, s(text)));
        }
    }
    attributes
}

/// What a change of a sync removes: the reasons it no longer has, and the connect's
/// `syncDue`.
pub(super) fn sync_absent(sync: &CoexistenceSync) -> Vec<String> {
    let mut absent = vec![attr::SYNC_DUE.to_owned()];
    for kind in SyncKind::ALL {
        if sync.get(kind).reason().is_none() {
            absent.push(sync_attribute_names(kind).1.into());
        }
    }
    absent
}

fn sync_from(r: &mut Reader<&Item>) -> Result<Option<CoexistenceSync>, StoreError> {
    let mut read = |kind: SyncKind| -> Result<Option<SyncState>, StoreError> {
        let (status, reason) = sync_attribute_names(kind);
        let Some(status_text) = r.opt_s(status) else { return Ok(None) };
        SyncState::from_parts(&status_text, r.opt_s(reason)).ok_or_else(|| corrupt(status)).map(Some)
    };
    Ok(match (read(SyncKind::Contacts)?, read(SyncKind::History)?) {
        (Some(contacts), Some(history)) => Some(CoexistenceSync { contacts, history }),
        _ => None,
    })
}

/// The health attributes: the reasons (a JSON list, read back by [`phone_from`]), when Meta
/// was last asked, and the health they amount to at the time of writing, for consumers of
/// the table's stream (the API derives it again when it reads).
pub(super) fn health_attributes(phone: &PhoneNumber, now: Timestamp) -> Vec<(&'static str, Value)> {
    let reasons = serde_json::to_string(&phone.health.reasons).expect("health reasons serialize");
    let mut attributes = vec![(attr::HEALTH, s(phone.health_at(now).as_str())), (attr::HEALTH_REASONS, s(reasons))];
    if let Some(checked) = phone.health.checked_at {
        attributes.push((attr::CHECKED_AT, Value::N(checked.0)));
    }
    attributes
}

pub fn phone_from(item: &Item) -> Result<PhoneNumber, StoreError> {
    let mut r = Reader(item);
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
    let sync = sync_from(&mut r)?;
    let registration_attempts = r
        .list(attr::REGISTRATION_ATTEMPTS)
        .iter()
        .map(|t| t.parse().map(Timestamp))
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(attr::REGISTRATION_ATTEMPTS))?;
    Ok(PhoneNumber {
        organization_id: r.partition_organization()?,
        phone_number_id: r.parse(attr::PHONE_NUMBER_ID)?,
        waba_id: r.parse(attr::WABA_ID)?,
        link,
        mode: r
            .opt_s(attr::MODE)
            .map_or(Some(PhoneMode::CloudApi), |m| PhoneMode::parse(&m))
            .ok_or_else(|| corrupt(attr::MODE))?,
        registration,
        registration_attempts,
        registration_limited_until: r.opt_n(attr::REGISTRATION_LIMITED_UNTIL).map(Timestamp),
        pin: r.bytes(attr::PIN).map(Ciphertext::from_bytes),
        name_status: r.opt_s(attr::NAME_STATUS),
        health: HealthRecord {
            reasons: match r.opt_s(attr::HEALTH_REASONS) {
                None => Vec::new(),
                Some(json) => serde_json::from_str(&json).map_err(|_| corrupt(attr::HEALTH_REASONS))?,
            },
            checked_at: r.opt_n(attr::CHECKED_AT).map(Timestamp),
        },
        sync,
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

impl Records {
    /// The connected (organization, phone) pairs of a WABA, or of one of its phones: one
    /// strongly consistent query of the WABA's partition.
    pub async fn routes(&self, waba: &WabaId, phone: Option<&PhoneNumberId>) -> Result<Vec<Route>, ApiError> {
        let mut query = Query::new(Index::Table { pk: format!("WABA#{waba}") });
        query.sk_prefix = Some(match phone {
            Some(phone) => format!("PHONE#{phone}#"),
            None => "PHONE#".into(),
        });
        self.collect(query, route_from).await
    }

    /// Writes a connection. The first transaction is the commit point: it consumes the state
    /// and points the organization at the WABA, with as many phones as fit (48). A WABA with
    /// more phones is written on in further transactions, each conditioned on the
    /// organization being as the first left it. `Err(ConnectionRefused::State)` when the state
    /// was consumed or expired by the time of the write (the caller re-reads it to say which),
    /// `Organization` when the organization changed concurrently.
    pub async fn save_connection(&self, connection: Connection<'_>) -> Result<(), ConnectionRefused> {
        let org = connection.organization;
        let now = connection.now;
        let version = org.version as i64 + 1;
        let first = vec![
            WriteOp::Update {
                key: super::state_key(connection.state),
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
                key: super::organization_key(&org.id),
                set: vec![
                    (attr::WABA_ID.into(), s(connection.waba_id.as_str())),
                    (attr::UPDATED_AT.into(), Value::N(now.0)),
                    (attr::VERSION.into(), Value::N(version)),
                ],
                remove: Vec::new(),
                condition: Some(Condition::And(vec![Condition::Exists, version_is(org.version)])),
            },
            WriteOp::Put { item: super::sweep::connection_item(&org.id, connection.waba_id), condition: None },
        ];
        let phones = connection
            .phones
            .iter()
            .map(connect_phone)
            .chain(connection.retire.iter().map(|phone| retire_phone(phone, now)))
            .collect();
        let guard = || WriteOp::Check {
            key: super::organization_key(&org.id),
            condition: Condition::And(vec![
                version_is(version as u64),
                Condition::Equals(attr::WABA_ID.into(), s(connection.waba_id.as_str())),
            ]),
        };
        let mut batches = transactions(first, phones, guard).into_iter();
        match self.store.write(batches.next().expect("the commit transaction")).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { index: 0 }) => return Err(ConnectionRefused::State),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                return Err(ConnectionRefused::Organization);
            }
            Err(other) => return Err(ConnectionRefused::Store(other.into())),
        }
        // Committed: what follows only adds phones of a large WABA, and never turns the
        // save into a failure.
        for batch in batches {
            if let Err(error) = self.store.write(batch).await {
                tracing::warn!(%error, organization = %org.id, "the organization changed before every phone was saved");
                break;
            }
        }
        Ok(())
    }

    /// Retires every given phone (inactive, token and PIN erased, route removed) and clears
    /// the organization's WABA reference. Phones are retired first, in transactions within
    /// DynamoDB's limit; the last transaction clears the reference, so an interrupted
    /// disconnect leaves the organization pointing at its WABA and is completed by repeating
    /// it, never the reverse (routes without a reference).
    pub async fn disconnect(&self, org: &Organization, phones: &[PhoneNumber], now: Timestamp) -> Result<(), ApiError> {
        let clear = WriteOp::Update {
            key: super::organization_key(&org.id),
            set: vec![
                (attr::UPDATED_AT.into(), Value::N(now.0)),
                (attr::VERSION.into(), Value::N(org.version as i64 + 1)),
            ],
            remove: vec![attr::WABA_ID.into()],
            condition: Some(Condition::And(vec![Condition::Exists, version_is(org.version)])),
        };
        let guard = || WriteOp::Check {
            key: super::organization_key(&org.id),
            condition: Condition::And(vec![Condition::Exists, version_is(org.version)]),
        };
        let batches = transactions(vec![guard()], phones.iter().map(|p| retire_phone(p, now)).collect(), guard);
        let unlisted = WriteOp::Delete { key: super::sweep::connection_key(&org.id), condition: None };
        for batch in ending_with(batches, clear, unlisted) {
            self.store.write(batch).await.map_err(|e| match e {
                StoreError::ConditionFailed { .. } | StoreError::TransactionConflict => {
                    ApiError::conflict("The organization changed while it was being disconnected.")
                }
                other => other.into(),
            })?;
        }
        Ok(())
    }

    /// Puts a renewed token on a phone that still holds the one it replaces (sealed once
    /// per connection, like the token before it). `Ok(false)` when the phone changed since.
    pub async fn renew_token(
        &self,
        phone: &PhoneNumber,
        old: &Ciphertext,
        new: &Ciphertext,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        let mut set = vec![
            (attr::TOKEN.to_owned(), Value::B(new.as_bytes().to_vec())),
            (attr::UPDATED_AT.to_owned(), Value::N(now.0)),
        ];
        let mut remove = Vec::new();
        match expires_at {
            Some(at) => set.push((attr::TOKEN_EXPIRES_AT.into(), Value::N(at.0))),
            None => remove.push(attr::TOKEN_EXPIRES_AT.into()),
        }
        let still_old = Condition::Equals(attr::TOKEN.into(), Value::B(old.as_bytes().to_vec()));
        self.guarded(update_connected(phone, set, remove, Some(still_old))).await
    }

    pub async fn phone(
        &self,
        organization: &OrganizationId,
        phone: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, ApiError> {
        Ok(self.store.get(&phone_key(organization, phone)).await?.as_ref().map(phone_from).transpose()?)
    }

    /// Takes the lease on `phone`'s registration for `owner` until `until`, unless another
    /// attempt holds it: attempts on one number are made one at a time, each decided on the
    /// number as it is once the lease is held. That number; `None` when another attempt holds
    /// the lease, or the number was disconnected.
    pub async fn lease_registration(
        &self,
        phone: &PhoneNumber,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<PhoneNumber>, ApiError> {
        let free = Condition::Or(vec![
            Condition::AttributeMissing(attr::REGISTRATION_LEASE_UNTIL.into()),
            Condition::LessThan(attr::REGISTRATION_LEASE_UNTIL.into(), Value::N(now.0)),
        ]);
        let set = vec![
            (attr::REGISTRATION_LEASE.into(), s(owner)),
            (attr::REGISTRATION_LEASE_UNTIL.into(), Value::N(until.0)),
        ];
        if !self.guarded(update_connected(phone, set, Vec::new(), Some(free))).await? {
            return Ok(None);
        }
        self.phone(&phone.organization_id, &phone.phone_number_id).await
    }

    /// Gives back a registration lease no attempt was made under.
    pub async fn release_registration(&self, phone: &PhoneNumber, owner: &str) -> Result<bool, ApiError> {
        let op = update_connected(phone, Vec::new(), lease_attributes(), Some(held_by(owner)));
        self.guarded(op).await
    }

    /// Records a registration attempt's outcome made under `owner`'s lease (and the PIN it
    /// was registered with, when given), and gives the lease back. `Ok(false)` when the
    /// number was disconnected meanwhile, or the lease lapsed.
    pub async fn set_registration(
        &self,
        phone: &PhoneNumber,
        pin: Option<&Ciphertext>,
        owner: &str,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        let mut set: Vec<(String, Value)> =
            registration_attributes(phone).into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        set.push((attr::UPDATED_AT.into(), Value::N(now.0)));
        if let Some(pin) = pin {
            set.push((attr::PIN.into(), Value::B(pin.as_bytes().to_vec())));
        }
        let mut remove = registration_absent(phone);
        if phone.registration == Registration::PinRequired {
            // Meta refused the PIN kept so far: it is not the number's, so it is not kept.
            remove.push(attr::PIN.into());
        }
        remove.extend(lease_attributes());
        self.guarded(update_connected(phone, set, remove, Some(held_by(owner)))).await
    }

    pub async fn phones(&self, organization: &OrganizationId) -> Result<Vec<PhoneNumber>, ApiError> {
        let mut query = Query::new(Index::Table { pk: format!("ORG#{organization}") });
        query.sk_prefix = Some("PHONE#".into());
        self.collect(query, phone_from).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pk: &str) -> WriteOp {
        WriteOp::Check { key: Key::new(pk, "S"), condition: Condition::Exists }
    }

    #[test]
    fn a_disconnect_clears_the_reference_in_its_last_transaction() {
        let pks = |batches: &[Vec<WriteOp>]| -> Vec<Vec<String>> {
            batches
                .iter()
                .map(|b| {
                    b.iter()
                        .map(|op| match op {
                            WriteOp::Check { key, .. } => key.pk.clone(),
                            _ => unreachable!(),
                        })
                        .collect()
                })
                .collect()
        };
        let batch = |n: usize| (0..n).map(|i| check(if i == 0 { "GUARD" } else { "PHONE" })).collect::<Vec<_>>();
        let ended = ending_with(vec![batch(1)], check("CLEAR"), check("UNLISTED"));
        assert_eq!(pks(&ended), [["CLEAR", "UNLISTED"]], "no phone: one transaction");
        let ended = ending_with(vec![batch(1), batch(99)], check("CLEAR"), check("UNLISTED"));
        assert_eq!(ended.iter().map(Vec::len).collect::<Vec<_>>(), [1, 100], "one more write fits");
        assert_eq!((pks(&ended)[1][0].as_str(), pks(&ended)[1][99].as_str()), ("CLEAR", "UNLISTED"));
        let ended = ending_with(vec![batch(100)], check("CLEAR"), check("UNLISTED"));
        assert_eq!(ended.iter().map(Vec::len).collect::<Vec<_>>(), [100, 2], "a full one is followed");
        assert_eq!(pks(&ended)[1], ["CLEAR", "UNLISTED"]);
    }

    #[test]
    fn a_registration_field_without_a_value_is_removed_from_the_stored_phone() {
        let mut phone = PhoneNumber::example();
        phone.registration = crate::domain::Registration::Registered;
        phone.registration_limited_until = None;
        assert_eq!(registration_absent(&phone), [attr::REGISTRATION_REASON, attr::REGISTRATION_LIMITED_UNTIL]);
        phone.registration = crate::domain::Registration::Pending { reason: "Meta allows none now".into() };
        phone.registration_limited_until = Some(Timestamp(5_000));
        assert!(registration_absent(&phone).is_empty(), "both have a value");
        let written: Vec<&str> = registration_attributes(&phone).into_iter().map(|(name, _)| name).collect();
        assert!(written.contains(&attr::REGISTRATION_REASON) && written.contains(&attr::REGISTRATION_LIMITED_UNTIL));
    }

    #[test]
    fn phone_writes_split_into_transactions_within_the_limit_each_guarded() {
        let phones = |n: usize| (0..n).map(|i| [check(&format!("P{i}")), check(&format!("R{i}"))]).collect::<Vec<_>>();
        let batches = transactions(vec![check("FIRST")], phones(49), || check("GUARD"));
        assert_eq!(batches.len(), 1, "1 + 98 operations fit in one");
        let batches = transactions(vec![check("FIRST"), check("SECOND")], phones(49), || check("GUARD"));
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [100], "a hundred exactly fit in one");
        let batches = transactions(vec![check("FIRST")], phones(120), || check("GUARD"));
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [99, 99, 45], "a phone's two writes are never split");
        assert!(batches.iter().all(|b| b.len() <= MAX_TRANSACTION_ITEMS));
        let first_keys: Vec<&str> = batches
            .iter()
            .map(|b| match &b[0] {
                WriteOp::Check { key, .. } => key.pk.as_str(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(first_keys, ["FIRST", "GUARD", "GUARD"], "each later one re-checks the guard");
        assert_eq!(sizes.iter().sum::<usize>(), 1 + 240 + 2, "every write, once");
    }
}
