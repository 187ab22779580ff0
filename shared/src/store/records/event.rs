use super::phone::{
    health_attributes, phone_key, registration_absent, registration_attributes, sync_absent, sync_attributes,
};
use super::{
    Condition, Index, Query, Reader, Records, StoreError, Value, WriteOp, attr, corrupt, put_opt, s, with_key,
};
use crate::domain::{ConnectionEvent, OrganizationId, PhoneNumber, Source, SyncKind};
use crate::error::ApiError;
use crate::store::{Cursor, Item, Key};

pub const EVENT_PREFIX: &str = "EVENT#";

/// Newest first by key: `EVENT#{seconds, 10 digits}#{id}`, in the organization's partition.
pub fn event_key(event: &ConnectionEvent) -> Key {
    Key::new(format!("ORG#{}", event.organization_id), format!("{EVENT_PREFIX}{:010}#{}", event.at.0, event.id))
}

pub fn event_item(event: &ConnectionEvent) -> Item {
    let mut item = with_key(event_key(event), "connection_event");
    item.insert(attr::ORGANIZATION_ID.into(), s(event.organization_id.as_str()));
    item.insert(attr::ID.into(), s(event.id.clone()));
    // Not `at`: that attribute puts an item into the messages' `byTime` index.
    item.insert(attr::OCCURRED_AT.into(), Value::N(event.at.0));
    item.insert(attr::KIND.into(), s(event.kind.clone()));
    put_opt(&mut item, attr::WABA_ID, event.waba_id.as_ref().map(|w| s(w.as_str())));
    put_opt(&mut item, attr::PHONE_NUMBER_ID, event.phone_number_id.as_ref().map(|p| s(p.as_str())));
    put_opt(&mut item, attr::FROM, event.from.clone().map(Value::S));
    put_opt(&mut item, attr::TO, event.to.clone().map(Value::S));
    item.insert(attr::REASON.into(), s(event.reason.clone()));
    item.insert(attr::SOURCE.into(), s(event.source.as_str()));
    put_opt(&mut item, attr::ONBOARDING_LINK_ID, event.onboarding_link_id.clone().map(Value::S));
    item
}

pub fn event_from(item: &Item) -> Result<ConnectionEvent, StoreError> {
    let mut r = Reader(item);
    Ok(ConnectionEvent {
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        id: r.s(attr::ID)?,
        at: r.time(attr::OCCURRED_AT)?,
        kind: r.s(attr::KIND)?,
        waba_id: r.opt_s(attr::WABA_ID).map(|w| w.parse().map_err(|_| corrupt(attr::WABA_ID))).transpose()?,
        phone_number_id: r
            .opt_s(attr::PHONE_NUMBER_ID)
            .map(|p| p.parse())
            .transpose()
            .map_err(|_| corrupt(attr::PHONE_NUMBER_ID))?,
        from: r.opt_s(attr::FROM),
        to: r.opt_s(attr::TO),
        reason: r.s(attr::REASON)?,
        source: Source::parse(&r.s(attr::SOURCE)?).ok_or_else(|| corrupt(attr::SOURCE))?,
        onboarding_link_id: r.opt_s(attr::ONBOARDING_LINK_ID),
    })
}

/// What became of a change to a phone's health.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Written,
    /// The phone changed since it was read: read it again and re-apply.
    Stale,
    /// The same observation was recorded already (a redelivered webhook).
    AlreadyRecorded,
}

fn put_new(event: &ConnectionEvent) -> WriteOp {
    WriteOp::Put { item: event_item(event), condition: Some(Condition::NotExists) }
}

impl Records {
    /// Writes what a lifecycle observation did to a phone — its health, quality and name
    /// fields — together with the events that tell it, in one transaction. The phone must
    /// still be connected and as it was read (`before`); otherwise `Stale`.
    pub async fn apply_to_phone(
        &self,
        before: &PhoneNumber,
        after: &PhoneNumber,
        events: &[ConnectionEvent],
    ) -> Result<Applied, ApiError> {
        let reasons_before = serde_json::to_string(&before.health.reasons).expect("health reasons serialize");
        let unchanged = if before.health.reasons.is_empty() {
            Condition::Or(vec![
                Condition::AttributeMissing(attr::HEALTH_REASONS.into()),
                Condition::Equals(attr::HEALTH_REASONS.into(), s(reasons_before)),
            ])
        } else {
            Condition::Equals(attr::HEALTH_REASONS.into(), s(reasons_before))
        };
        let mut set: Vec<(String, Value)> =
            health_attributes(after, after.updated_at).into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        set.push((attr::UPDATED_AT.into(), Value::N(after.updated_at.0)));
        let mut conditions = vec![
            Condition::Exists,
            Condition::Equals(attr::IS_ACTIVE.into(), Value::Bool(true)),
            Condition::Equals(attr::UPDATED_AT.into(), Value::N(before.updated_at.0)),
            unchanged,
        ];
        // A field is written only when this change changes it, and only if it is still as
        // read: `updatedAt` counts whole seconds, so it alone cannot tell two writers apart.
        let optional = [
            (attr::QUALITY_RATING, &before.quality_rating, &after.quality_rating),
            (attr::QUALITY_EVENT, &before.quality_event, &after.quality_event),
            (attr::MESSAGING_LIMIT, &before.messaging_limit, &after.messaging_limit),
            (attr::NAME_STATUS, &before.name_status, &after.name_status),
        ];
        for (name, was, now) in optional {
            let Some(value) = now.as_ref().filter(|_| was != now) else { continue };
            set.push((name.to_owned(), s(value.clone())));
            conditions.push(match was {
                Some(was) => Condition::Equals(name.into(), s(was.clone())),
                None => Condition::AttributeMissing(name.into()),
            });
        }
        let mut remove = Vec::new();
        // Registration (drift, the lifecycle's re-registration) and the coexistence syncs:
        // written when they change, conditioned on being as read.
        if (&before.registration, before.registration_limited_until)
            != (&after.registration, after.registration_limited_until)
        {
            conditions.push(Condition::Equals(attr::REGISTRATION.into(), s(before.registration.as_str())));
            set.extend(registration_attributes(after).into_iter().map(|(n, v)| (n.to_owned(), v)));
            remove.extend(registration_absent(after));
        }
        if before.sync != after.sync
            && let Some(sync) = &after.sync
        {
            for kind in SyncKind::ALL {
                let was = before.sync.as_ref().map(|b| b.get(kind).as_str());
                let name = if kind == SyncKind::Contacts { attr::SYNC_CONTACTS } else { attr::SYNC_HISTORY };
                conditions.push(match was {
                    Some(was) => Condition::Equals(name.into(), s(was)),
                    None => Condition::AttributeMissing(name.into()),
                });
            }
            set.extend(sync_attributes(sync).into_iter().map(|(n, v)| (n.to_owned(), v)));
            remove.extend(sync_absent(sync));
        }
        if let Some(token) = after.token() {
            conditions.push(Condition::Equals(attr::TOKEN.into(), Value::B(token.as_bytes().to_vec())));
        }
        let mut ops = vec![WriteOp::Update {
            key: phone_key(&after.organization_id, &after.phone_number_id),
            set,
            remove,
            condition: Some(Condition::And(conditions)),
        }];
        ops.extend(events.iter().map(put_new));
        match self.store.write(ops).await {
            Ok(()) => Ok(Applied::Written),
            Err(StoreError::ConditionFailed { index: 0 } | StoreError::TransactionConflict) => Ok(Applied::Stale),
            Err(StoreError::ConditionFailed { .. }) => Ok(Applied::AlreadyRecorded),
            Err(other) => Err(other.into()),
        }
    }

    /// Records events that go with no phone change (or with one written elsewhere); each is
    /// stored once by its key. How many were new.
    pub async fn record_events(&self, events: &[ConnectionEvent]) -> Result<usize, ApiError> {
        if events.is_empty() {
            return Ok(0);
        }
        let written = self.store.put_each_if_absent(events.iter().map(event_item).collect()).await?;
        Ok(written.into_iter().filter(|w| *w).count())
    }

    /// An organization's events, newest first, one page. `after` is the sort key of the last
    /// event of the previous page, always inside this organization's partition.
    pub async fn events(
        &self,
        organization: &OrganizationId,
        limit: usize,
        after: Option<String>,
    ) -> Result<(Vec<ConnectionEvent>, Option<String>), ApiError> {
        let pk = format!("ORG#{organization}");
        let mut query = Query::new(Index::Table { pk: pk.clone() });
        query.sk_prefix = Some(EVENT_PREFIX.into());
        query.descending = true;
        query.limit = Some(limit);
        query.after = after.map(|sk| Cursor::of_table(Key::new(pk, sk)));
        let page = self.store.query(&query).await?;
        let events = page.items.iter().map(event_from).collect::<Result<Vec<_>, _>>()?;
        Ok((events, page.next.map(|c| c.key.sk)))
    }
}
