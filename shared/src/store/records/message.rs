use super::{Attributes, Reader, Records, StoreError, Value, attr, corrupt, put_opt, s, with_key};
use crate::domain::{Customer, Direction, EventKind, MessageEvent, OrganizationId};
use crate::error::ApiError;
use crate::media::{MediaRef, MediaStatus};
use crate::store::WriteOp;
use crate::store::{Condition, Cursor, Index, Item, Key, Query, schema};

pub const MESSAGE_PREFIX: &str = "MSG#";

/// A message is keyed by its identity alone, so a redelivery is the same item whatever its
/// timestamp; `at` (time, then identity) orders the organization's messages in `byTime`.
pub fn message_key(event: &MessageEvent) -> Key {
    Key::new(format!("ORG#{}", event.organization_id), format!("{MESSAGE_PREFIX}{}", event.identity()))
}

/// `at`: the event's time, then its identity (the message key's sort key after its prefix).
fn time_position(event: &MessageEvent, key: &Key) -> String {
    let identity = key.sk.strip_prefix(MESSAGE_PREFIX).unwrap_or(&key.sk);
    format!("{:010}#{identity}", event.timestamp.0.max(0))
}

fn owner_key(message_id: &str) -> Key {
    Key::new(format!("WAMID#{message_id}"), "OWNER")
}

/// The item for an event, built from the event it consumes: its strings move into the item.
pub fn message_item(event: MessageEvent, key: Key, retention_seconds: i64) -> Item {
    let at = time_position(&event, &key);
    let (entity, direction, status, reason) = match event.kind {
        EventKind::Message { direction } => ("message", direction, None, None),
        EventKind::Status { status } => ("status", Direction::Outbound, Some(status), None),
        EventKind::Rejected { reason } => ("rejected", Direction::Inbound, None, Some(reason)),
    };
    let mut item = with_key(key, entity);
    item.insert(schema::TIME_KEY.into(), s(at));
    item.insert(attr::ORGANIZATION_ID.into(), s(event.organization_id.as_str()));
    item.insert(attr::PHONE_NUMBER_ID.into(), s(event.phone_number_id.as_str()));
    item.insert(attr::WABA_ID.into(), s(event.waba_id.as_str()));
    let direction = match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    item.insert(attr::DIRECTION.into(), s(direction));
    item.insert(attr::MESSAGE_ID.into(), s(event.message_id));
    put_opt(&mut item, attr::STATUS, status.map(Value::S));
    put_opt(&mut item, attr::REASON, reason.map(Value::S));
    put_opt(&mut item, attr::FROM, event.from.map(Value::S));
    put_opt(&mut item, attr::TO, event.to.map(Value::S));
    put_opt(&mut item, attr::USER_ID, event.customer.user_id.map(Value::S));
    put_opt(&mut item, attr::PARENT_USER_ID, event.customer.parent_user_id.map(Value::S));
    put_opt(&mut item, attr::USERNAME, event.customer.username.map(Value::S));
    let error = event.error.map(|e| Value::S(serde_json::to_string(&e).expect("a delivery error serializes")));
    put_opt(&mut item, attr::ERROR, error);
    put_opt(&mut item, attr::CONTACT_NAME, event.contact_name.map(Value::S));
    put_opt(&mut item, attr::TYPE, event.message_type.map(Value::S));
    put_opt(&mut item, attr::TEXT, event.text.map(Value::S));
    put_opt(&mut item, attr::PAYLOAD, event.payload.map(Value::S));
    if event.history {
        item.insert(attr::HISTORY.into(), Value::Bool(true));
    }
    put_opt(&mut item, attr::SOURCE, event.source.map(Value::S));
    let system = event.identity_change.map(|c| Value::S(serde_json::to_string(&c).expect("a change serializes")));
    put_opt(&mut item, attr::SYSTEM, system);
    if let Some(media) = event.media {
        item.insert(attr::MEDIA_ID.into(), s(media.id));
        item.insert(attr::MEDIA_MIME.into(), s(media.mime_type));
        item.insert(attr::MEDIA_SHA256.into(), s(media.sha256));
        media_status_attributes(&media.status, &mut item);
    }
    item.insert(attr::TIMESTAMP.into(), Value::N(event.timestamp.0));
    item.insert(attr::RECEIVED_AT.into(), Value::N(event.received_at.0));
    // Kept well past Meta's 7-day redelivery window, so a late redelivery still finds it.
    item.insert(schema::TTL.into(), Value::N(event.received_at.0 + retention_seconds));
    item
}

/// A message from an item that is kept (its strings are copied out).
pub fn message_from(item: &Item) -> Result<MessageEvent, StoreError> {
    read_message(item)
}

/// A message from an item read for it alone (its strings move out): a page of messages.
pub fn message_from_item(item: Item) -> Result<MessageEvent, StoreError> {
    read_message(item)
}

fn read_message(item: impl Attributes) -> Result<MessageEvent, StoreError> {
    let mut r = Reader(item);
    let kind = match (r.s(attr::ENTITY)?.as_str(), r.s(attr::DIRECTION)?.as_str()) {
        ("status", _) => EventKind::Status { status: r.s(attr::STATUS)? },
        ("rejected", _) => EventKind::Rejected { reason: r.s(attr::REASON)? },
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
        customer: Customer {
            user_id: r.opt_s(attr::USER_ID),
            parent_user_id: r.opt_s(attr::PARENT_USER_ID),
            username: r.opt_s(attr::USERNAME),
        },
        error: r.json(attr::ERROR)?,
        contact_name: r.opt_s(attr::CONTACT_NAME),
        message_type: r.opt_s(attr::TYPE),
        text: r.opt_s(attr::TEXT),
        timestamp: r.time(attr::TIMESTAMP)?,
        received_at: r.time(attr::RECEIVED_AT)?,
        payload: r.opt_s(attr::PAYLOAD),
        history: r.bool(attr::HISTORY),
        source: r.opt_s(attr::SOURCE),
        identity_change: r.json(attr::SYSTEM)?,
        media: match r.opt_s(attr::MEDIA_ID) {
            None => None,
            Some(id) => Some(MediaRef {
                id,
                mime_type: r.s(attr::MEDIA_MIME)?,
                sha256: r.s(attr::MEDIA_SHA256)?,
                status: match r.s(attr::MEDIA_STATUS)?.as_str() {
                    "pending" => MediaStatus::Pending,
                    "stored" => MediaStatus::Stored { size: r.opt_n(attr::MEDIA_SIZE).unwrap_or(0) as u64 },
                    "failed" => MediaStatus::Failed { reason: r.opt_s(attr::MEDIA_REASON).unwrap_or_default() },
                    _ => return Err(corrupt(attr::MEDIA_STATUS)),
                },
            }),
        },
    })
}

fn media_status_attributes(status: &MediaStatus, item: &mut Item) {
    item.insert(attr::MEDIA_STATUS.into(), s(status.as_str()));
    match status {
        MediaStatus::Stored { size } => {
            item.insert(attr::MEDIA_SIZE.into(), Value::N(*size as i64));
        }
        MediaStatus::Failed { reason } => {
            item.insert(attr::MEDIA_REASON.into(), s(reason.clone()));
        }
        MediaStatus::Pending => {}
    }
}

/// A received file's record, by Meta's media id: which message carries it and what became
/// of it. Written when the file is fetched.
fn media_key(organization: &OrganizationId, media_id: &str) -> Key {
    Key::new(format!("ORG#{organization}"), format!("MEDIA#{media_id}"))
}

impl Records {
    /// What became of a received message's file: on the message (the listing shows it) and
    /// under the file's id (the media route finds it), in one write.
    pub async fn set_media_status(&self, message: &MessageEvent, status: &MediaStatus) -> Result<(), ApiError> {
        let media = message.media.as_ref().ok_or_else(|| ApiError::internal("a message without media"))?;
        let mut record = with_key(media_key(&message.organization_id, &media.id), "media");
        record.insert(attr::MESSAGE_KEY.into(), s(message_key(message).sk));
        record.insert(attr::PHONE_NUMBER_ID.into(), s(message.phone_number_id.as_str()));
        record.insert(attr::MEDIA_MIME.into(), s(media.mime_type.clone()));
        record.insert(attr::MEDIA_SHA256.into(), s(media.sha256.clone()));
        media_status_attributes(status, &mut record);
        if let Some(ttl) = self.store.get(&message_key(message)).await?.and_then(|i| i.get(schema::TTL).cloned()) {
            record.insert(schema::TTL.into(), ttl);
        }
        let mut set = vec![(attr::MEDIA_STATUS.to_owned(), s(status.as_str()))];
        let mut remove = vec![attr::MEDIA_SIZE.to_owned(), attr::MEDIA_REASON.to_owned()];
        match status {
            MediaStatus::Stored { size } => {
                set.push((attr::MEDIA_SIZE.into(), Value::N(*size as i64)));
                remove.retain(|a| a != attr::MEDIA_SIZE);
            }
            MediaStatus::Failed { reason } => {
                set.push((attr::MEDIA_REASON.into(), s(reason.clone())));
                remove.retain(|a| a != attr::MEDIA_REASON);
            }
            MediaStatus::Pending => {}
        }
        let ops = vec![
            WriteOp::Update { key: message_key(message), set, remove, condition: Some(Condition::Exists) },
            WriteOp::Put { item: record, condition: None },
        ];
        match self.store.write(ops).await {
            // The message is gone (past its retention): nothing left to say it of.
            Err(StoreError::ConditionFailed { index: 0 }) => Ok(()),
            other => Ok(other?),
        }
    }

    /// The message a received file came with, by the file's id: `None` for a file the
    /// organization never received (or not fetched yet).
    pub async fn media_message(
        &self,
        organization: &OrganizationId,
        media_id: &str,
    ) -> Result<Option<MessageEvent>, ApiError> {
        if !crate::media::is_media_id(media_id) {
            return Ok(None);
        }
        let Some(record) = self.store.get(&media_key(organization, media_id)).await? else { return Ok(None) };
        let sk = Reader(&record).s(attr::MESSAGE_KEY)?;
        let key = Key::new(format!("ORG#{organization}"), sk);
        Ok(self.store.get(&key).await?.as_ref().map(message_from).transpose()?)
    }
}

/// Meta's stand-in for a media message in a coexistence history: the message with its
/// media follows under the same id, and replaces it.
const MEDIA_PLACEHOLDER: &str = "media_placeholder";

fn is_placeholder(item: &Item) -> bool {
    item.get(attr::TYPE).and_then(Value::as_s) == Some(MEDIA_PLACEHOLDER)
}

fn is_placeholder_event(event: &MessageEvent) -> bool {
    event.message_type.as_deref() == Some(MEDIA_PLACEHOLDER)
}

/// The condition under which an event takes the place of a stored placeholder: it is still
/// one (or gone).
fn placeholder() -> Condition {
    Condition::Or(vec![Condition::NotExists, Condition::Equals(attr::TYPE.into(), Value::S(MEDIA_PLACEHOLDER.into()))])
}

impl Records {
    /// Stores each event unless it was stored before (by its identity); returns how many
    /// were new. What exists already is read first, in one batch, so a redelivery costs
    /// reads, not writes; the new events are written once each, grouped by the store (one
    /// transaction on the embedded store, concurrent conditional puts on DynamoDB, whose
    /// condition still settles a race between two deliveries of the same event).
    pub async fn store_events(&self, events: Vec<MessageEvent>, retention_seconds: i64) -> Result<usize, ApiError> {
        if events.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Key> = events.iter().map(message_key).collect();
        // Whether each is stored, and whether as a placeholder: all a redelivery reads.
        let existing = self.store.get_many_projected(&keys, &[attr::TYPE]).await?;
        let new: Vec<(Item, Option<Condition>)> = events
            .into_iter()
            .zip(keys)
            .zip(existing)
            .filter_map(|((event, key), stored)| {
                let condition = match stored {
                    None => Condition::NotExists,
                    Some(stored) if is_placeholder(&stored) && !is_placeholder_event(&event) => placeholder(),
                    Some(_) => return None,
                };
                Some((message_item(event, key, retention_seconds), Some(condition)))
            })
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let written = self.store.put_each(new).await?;
        Ok(written.into_iter().filter(|w| *w).count())
    }

    /// Stores a message this service sent, and who sent it: statuses Meta later reports for
    /// it go to that organization alone, even when others share the phone.
    pub async fn store_sent(&self, event: &MessageEvent, retention_seconds: i64) -> Result<(), ApiError> {
        let mut owner = with_key(owner_key(&event.message_id), "message_owner");
        owner.insert(attr::ORGANIZATION_ID.into(), s(event.organization_id.as_str()));
        owner.insert(schema::TTL.into(), Value::N(event.received_at.0 + retention_seconds));
        let item = message_item(event.clone(), message_key(event), retention_seconds);
        self.store.put_each_if_absent(vec![owner, item]).await?;
        Ok(())
    }

    /// A message the organization received, by Meta's id.
    pub async fn received_message(
        &self,
        organization: &OrganizationId,
        message_id: &str,
    ) -> Result<Option<MessageEvent>, ApiError> {
        if !crate::domain::is_message_id(message_id) {
            return Ok(None);
        }
        let key = Key::new(format!("ORG#{organization}"), format!("{MESSAGE_PREFIX}in#{message_id}"));
        Ok(self.store.get(&key).await?.as_ref().map(message_from).transpose()?)
    }

    /// The organizations that sent these messages through this service, where any did, in
    /// one batched read.
    pub async fn message_owners(&self, message_ids: &[&str]) -> Result<Vec<Option<OrganizationId>>, ApiError> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<Key> = message_ids.iter().map(|id| owner_key(id)).collect();
        let items = self.store.get_many_projected(&keys, &[attr::ORGANIZATION_ID]).await?;
        Ok(items
            .iter()
            .map(|item| item.as_ref().map(|i| Reader(i).parse(attr::ORGANIZATION_ID)).transpose())
            .collect::<Result<_, _>>()?)
    }

    /// An organization's messages and statuses, newest first, one page: its work is the
    /// page's, however many the organization has stored. `before` is the position of the
    /// last event of the previous page; the next page's is returned when more may follow.
    pub async fn messages(
        &self,
        organization: &OrganizationId,
        limit: usize,
        before: Option<String>,
    ) -> Result<(Vec<MessageEvent>, Option<String>), ApiError> {
        let pk = format!("ORG#{organization}");
        let mut query = Query::new(Index::ByTime { pk: pk.clone() });
        query.descending = true;
        query.limit = Some(limit);
        query.after = match before {
            None => None,
            Some(position) => {
                let (_, identity) = position.split_once('#').ok_or_else(|| corrupt(schema::TIME_KEY))?;
                let sk = format!("{MESSAGE_PREFIX}{identity}");
                Some(Cursor { index_sort: Some(position), key: Key::new(pk, sk) })
            }
        };
        let page = self.store.query(&query).await?;
        let events = page.items.into_iter().map(message_from_item).collect::<Result<Vec<_>, _>>()?;
        Ok((events, page.next.and_then(|c| c.index_sort)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn inbound(id: &str, timestamp: i64) -> MessageEvent {
        MessageEvent {
            organization_id: "org_1".parse().unwrap(),
            phone_number_id: "106540352242922".parse().unwrap(),
            waba_id: "102290129340398".parse().unwrap(),
            kind: EventKind::Message { direction: Direction::Inbound },
            message_id: id.into(),
            from: Some("16315551234".into()),
            to: None,
            customer: Customer::default(),
            contact_name: None,
            message_type: Some("text".into()),
            text: Some("hi".into()),
            error: None,
            timestamp: Timestamp(timestamp),
            received_at: Timestamp(1_795_000_000),
            payload: None,
            history: false,
            source: None,
            identity_change: None,
            media: None,
        }
    }

    #[test]
    fn a_message_is_kept_past_metas_redelivery_window_and_ordered_by_its_time() {
        let event = inbound("wamid.A1", 1_794_999_990);
        let key = message_key(&event);
        let item = message_item(event.clone(), key.clone(), 30 * 86_400);
        assert_eq!(item[schema::TTL], Value::N(1_795_000_000 + 30 * 86_400), "from when it was received");
        assert_eq!(item[schema::TIME_KEY], Value::S("1794999990#in#wamid.A1".into()));
        assert_eq!(message_from(&item).unwrap(), event, "read back as it was stored");
        assert_eq!(message_from_item(item.clone()).unwrap(), event, "the same when the item is given up");
        let mut full = inbound("wamid.A3", 1_794_999_990);
        full.media = Some(MediaRef {
            id: "1003383421300001".into(),
            mime_type: "image/jpeg".into(),
            sha256: "c2hh".into(),
            status: MediaStatus::Stored { size: 2048 },
        });
        full.history = true;
        full.source = Some("business_app".into());
        full.error = Some(crate::domain::DeliveryError {
            code: 131047,
            title: Some("Re-engagement message".into()),
            message: None,
            details: None,
        });
        let stored = message_item(full.clone(), message_key(&full), 86_400);
        assert_eq!(message_from(&stored).unwrap(), full);
        assert_eq!(message_from_item(stored).unwrap(), full);
        let redelivered = inbound("wamid.A1", 1_795_000_500);
        assert_eq!(message_key(&redelivered), key, "the same message whatever its timestamp");
        assert_ne!(message_key(&inbound("wamid.A2", 1_794_999_990)), key);
    }
}
