use super::{Reader, Records, StoreError, Value, attr, corrupt, put_opt, s, with_key};
use crate::clock::Timestamp;
use crate::domain::{Ciphertext, OrganizationId};
use crate::error::ApiError;
use crate::events::EventType;
use crate::events::delivery::{Delivery, RetryJob};
use crate::events::endpoint::{Endpoint, EndpointStatus};
use crate::store::{Condition, Cursor, Index, Item, Key, Query, WriteOp, schema};

pub const ENDPOINT_PREFIX: &str = "ENDPOINT#";
const DELIVERY_PREFIX: &str = "DELIVERY#";
/// The partition of the local stack's retries (SQS holds them in AWS).
const RETRY_QUEUE: &str = "QUEUE#event-retries";

pub fn endpoint_key(organization: &OrganizationId, id: &str) -> Key {
    Key::new(format!("ORG#{organization}"), format!("{ENDPOINT_PREFIX}{id}"))
}

pub fn endpoint_item(endpoint: &Endpoint) -> Item {
    let mut item = with_key(endpoint_key(&endpoint.organization_id, &endpoint.id), "event_endpoint");
    item.insert(attr::ORGANIZATION_ID.into(), s(endpoint.organization_id.as_str()));
    item.insert(attr::ID.into(), s(endpoint.id.clone()));
    item.insert(attr::URL.into(), s(endpoint.url.as_str()));
    if let Some(types) = &endpoint.types {
        item.insert(attr::TYPES.into(), Value::L(types.iter().map(|t| t.as_str().to_owned()).collect()));
    }
    item.insert(attr::SECRET.into(), Value::B(endpoint.secret.as_bytes().to_vec()));
    item.insert(attr::CREATED_AT.into(), Value::N(endpoint.created_at.0));
    if let EndpointStatus::Disabled { at, reason } = &endpoint.status {
        item.insert(attr::DISABLED_AT.into(), Value::N(at.0));
        item.insert(attr::REASON.into(), s(reason.clone()));
    }
    put_opt(&mut item, attr::FAILING_SINCE, endpoint.failing_since.map(|t| Value::N(t.0)));
    item
}

pub fn endpoint_from(item: &Item) -> Result<Endpoint, StoreError> {
    let mut r = Reader(item);
    let types = match item.get(attr::TYPES) {
        None => None,
        Some(_) => Some(
            r.list(attr::TYPES)
                .iter()
                .map(|t| EventType::parse(t).ok_or_else(|| corrupt(attr::TYPES)))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Endpoint {
        organization_id: r.partition_organization()?,
        id: r.s(attr::ID)?,
        url: r.s(attr::URL)?.parse().map_err(|_| corrupt(attr::URL))?,
        types,
        secret: Ciphertext::from_bytes(r.bytes(attr::SECRET).ok_or_else(|| corrupt(attr::SECRET))?),
        created_at: r.time(attr::CREATED_AT)?,
        status: match r.opt_n(attr::DISABLED_AT) {
            None => EndpointStatus::Active,
            Some(at) => {
                EndpointStatus::Disabled { at: Timestamp(at), reason: r.opt_s(attr::REASON).unwrap_or_default() }
            }
        },
        failing_since: r.opt_n(attr::FAILING_SINCE).map(Timestamp),
    })
}

/// A delivery's log entry: in its endpoint's partition, newest first.
fn delivery_key(delivery: &Delivery) -> Key {
    Key::new(
        format!("{ENDPOINT_PREFIX}{}", delivery.endpoint_id),
        format!("{DELIVERY_PREFIX}{:010}#{}", delivery.first_attempt_at.0, delivery.event_id),
    )
}

fn delivery_item(delivery: &Delivery, retention_seconds: i64) -> Item {
    let mut item = with_key(delivery_key(delivery), "event_delivery");
    let json = serde_json::to_string(delivery).expect("a delivery serializes");
    item.insert(attr::PAYLOAD.into(), s(json));
    item.insert(schema::TTL.into(), Value::N(delivery.first_attempt_at.0 + retention_seconds));
    item
}

fn delivery_from(item: &Item) -> Result<Delivery, StoreError> {
    serde_json::from_str(&Reader(item).s(attr::PAYLOAD)?).map_err(|_| corrupt(attr::PAYLOAD))
}

impl Records {
    /// Adds an endpoint, if the organization has fewer than `max`: `Ok(false)` when it has
    /// that many already.
    pub async fn add_endpoint(&self, endpoint: &Endpoint, max: usize) -> Result<bool, ApiError> {
        if self.endpoints(&endpoint.organization_id).await?.len() >= max {
            return Ok(false);
        }
        let op = WriteOp::Put { item: endpoint_item(endpoint), condition: Some(Condition::NotExists) };
        self.guarded(op).await
    }

    /// The organization's endpoints, oldest first.
    pub async fn endpoints(&self, organization: &OrganizationId) -> Result<Vec<Endpoint>, ApiError> {
        let mut query = Query::new(Index::Table { pk: format!("ORG#{organization}") });
        query.sk_prefix = Some(ENDPOINT_PREFIX.into());
        let mut endpoints = self.collect(query, endpoint_from).await?;
        endpoints.sort_by_key(|e| e.created_at);
        Ok(endpoints)
    }

    pub async fn endpoint(&self, organization: &OrganizationId, id: &str) -> Result<Option<Endpoint>, ApiError> {
        Ok(self.store.get(&endpoint_key(organization, id)).await?.as_ref().map(endpoint_from).transpose()?)
    }

    /// Removes an endpoint; whether it was there.
    pub async fn delete_endpoint(&self, organization: &OrganizationId, id: &str) -> Result<bool, ApiError> {
        self.guarded(WriteOp::Delete { key: endpoint_key(organization, id), condition: Some(Condition::Exists) }).await
    }

    /// Notes whether the endpoint's last delivery failed (`since`) or not (`None`), and
    /// disables it with `disable`; only a change is written.
    pub async fn set_endpoint_health(
        &self,
        endpoint: &Endpoint,
        since: Option<Timestamp>,
        disable: Option<(Timestamp, String)>,
    ) -> Result<(), ApiError> {
        if endpoint.failing_since == since && disable.is_none() {
            return Ok(());
        }
        let mut set = Vec::new();
        let mut remove = Vec::new();
        match since {
            Some(at) => set.push((attr::FAILING_SINCE.to_owned(), Value::N(at.0))),
            None => remove.push(attr::FAILING_SINCE.to_owned()),
        }
        if let Some((at, reason)) = disable {
            set.push((attr::DISABLED_AT.to_owned(), Value::N(at.0)));
            set.push((attr::REASON.to_owned(), s(reason)));
        }
        let op = WriteOp::Update {
            key: endpoint_key(&endpoint.organization_id, &endpoint.id),
            set,
            remove,
            condition: Some(Condition::Exists),
        };
        self.guarded(op).await.map(drop)
    }

    /// Writes deliveries' log entries, one independent write each (a delivery's entry is its
    /// own; two writers of one are the same attempt handed over twice).
    pub async fn store_deliveries(&self, deliveries: &[Delivery], retention_seconds: i64) -> Result<(), ApiError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let puts = deliveries.iter().map(|d| (delivery_item(d, retention_seconds), None)).collect();
        self.store.put_each(puts).await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, one page: `after` is the previous page's
    /// last key.
    pub async fn deliveries(
        &self,
        endpoint_id: &str,
        limit: usize,
        after: Option<String>,
    ) -> Result<(Vec<Delivery>, Option<String>), ApiError> {
        let pk = format!("{ENDPOINT_PREFIX}{endpoint_id}");
        let mut query = Query::new(Index::Table { pk: pk.clone() });
        query.sk_prefix = Some(DELIVERY_PREFIX.into());
        query.descending = true;
        query.limit = Some(limit);
        query.after = after.map(|sk| Cursor::of_table(Key::new(pk, sk)));
        let page = self.store.query(&query).await?;
        let deliveries = page.items.iter().map(delivery_from).collect::<Result<Vec<_>, _>>()?;
        Ok((deliveries, page.next.map(|c| c.key.sk)))
    }

    /// The local stack's retry queue: a retry kept until it is due.
    pub async fn queue_retry(&self, job: &RetryJob) -> Result<(), ApiError> {
        let due = job.delivery.next_attempt_at.unwrap_or_else(Timestamp::now);
        let sk = format!("{:010}#{}#{}", due.0, job.delivery.event_id, job.delivery.endpoint_id);
        let mut item = with_key(Key::new(RETRY_QUEUE, sk), "event_retry");
        item.insert(attr::PAYLOAD.into(), s(serde_json::to_string(job).expect("a retry serializes")));
        self.store.write(vec![WriteOp::Put { item, condition: None }]).await?;
        Ok(())
    }

    pub async fn due_retries(&self, now: Timestamp, limit: usize) -> Result<Vec<(String, RetryJob)>, ApiError> {
        let mut query = Query::new(Index::Table { pk: RETRY_QUEUE.into() });
        query.limit = Some(limit);
        let page = self.store.query(&query).await?;
        let due_by = format!("{:010}$", now.0);
        let mut due = Vec::new();
        for item in &page.items {
            let key = Key::of(item).ok_or_else(|| corrupt(schema::SK))?;
            if key.sk > due_by {
                break;
            }
            let job: RetryJob =
                serde_json::from_str(&Reader(item).s(attr::PAYLOAD)?).map_err(|_| corrupt(attr::PAYLOAD))?;
            due.push((key.sk, job));
        }
        Ok(due)
    }

    pub async fn remove_retry(&self, handle: &str) -> Result<(), ApiError> {
        self.store.write(vec![WriteOp::Delete { key: Key::new(RETRY_QUEUE, handle), condition: None }]).await?;
        Ok(())
    }
}
