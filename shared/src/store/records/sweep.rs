use super::{Condition, Index, Query, Reader, Records, Value, WriteOp, attr, s, with_key};
use crate::clock::Timestamp;
use crate::domain::{OrganizationId, WabaId};
use crate::error::ApiError;
use crate::store::{Cursor, Item, Key};

/// Every connected organization has an entry in this one partition, written and removed in
/// the connection's own transactions: the health sweep pages through it (strongly
/// consistent, by a cursor) instead of scanning a table full of messages.
const CONNECTIONS: &str = "CONNECTIONS";
const SWEEP: &str = "SWEEP";

pub fn connection_key(organization: &OrganizationId) -> Key {
    Key::new(CONNECTIONS, format!("ORG#{organization}"))
}

pub fn connection_item(organization: &OrganizationId, waba: &WabaId) -> Item {
    let mut item = with_key(connection_key(organization), "connection");
    item.insert(attr::ORGANIZATION_ID.into(), s(organization.as_str()));
    item.insert(attr::WABA_ID.into(), s(waba.as_str()));
    item
}

fn sweep_key() -> Key {
    Key::new(SWEEP, "STATE")
}

/// A connection as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub organization_id: OrganizationId,
    pub waba_id: WabaId,
    /// Where a sweep that stops after this connection resumes.
    pub position: String,
}

impl Records {
    /// One page of connections after `position`, in a stable order.
    pub async fn connections(&self, after: Option<&str>, limit: usize) -> Result<Vec<Listed>, ApiError> {
        let mut query = Query::new(Index::Table { pk: CONNECTIONS.into() });
        query.limit = Some(limit);
        query.after = after.map(|sk| Cursor::of_table(Key::new(CONNECTIONS, sk)));
        let page = self.store.query(&query).await?;
        page.items
            .iter()
            .map(|item| {
                let mut r = Reader(item);
                Ok(Listed {
                    organization_id: r.parse(attr::ORGANIZATION_ID)?,
                    waba_id: r.parse(attr::WABA_ID)?,
                    position: r.s(crate::store::schema::SK)?,
                })
            })
            .collect::<Result<_, crate::store::StoreError>>()
            .map_err(Into::into)
    }

    /// Takes the sweep's lease for `owner` until `until`, unless another sweep holds it.
    /// The position where the last sweep stopped, if it did not finish.
    pub async fn acquire_sweep(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Option<String>>, ApiError> {
        let op = WriteOp::Update {
            key: sweep_key(),
            set: vec![(attr::LEASE_OWNER.into(), s(owner)), (attr::LEASE_UNTIL.into(), Value::N(until.0))],
            remove: Vec::new(),
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan(attr::LEASE_UNTIL.into(), Value::N(now.0)),
            ])),
        };
        if !self.guarded(op).await? {
            return Ok(None);
        }
        let state = self.store.get(&sweep_key()).await?;
        Ok(Some(state.as_ref().and_then(|item| Reader(item).opt_s(attr::SWEEP_POSITION))))
    }

    /// Keeps where the sweep stopped (`None`: it finished a pass) and releases the lease,
    /// if `owner` still holds it.
    pub async fn release_sweep(&self, owner: &str, position: Option<&str>) -> Result<bool, ApiError> {
        let mut set = vec![(attr::LEASE_UNTIL.to_owned(), Value::N(0))];
        let mut remove = Vec::new();
        match position {
            Some(position) => set.push((attr::SWEEP_POSITION.into(), s(position))),
            None => remove.push(attr::SWEEP_POSITION.into()),
        }
        let op = WriteOp::Update {
            key: sweep_key(),
            set,
            remove,
            condition: Some(Condition::Equals(attr::LEASE_OWNER.into(), s(owner))),
        };
        self.guarded(op).await
    }
}
