use super::{
    Condition, Index, Item, Reader, Records, StoreError, Value, WriteOp, attr, corrupt, put_opt, s, schema, version_is,
    with_key,
};
use crate::domain::{JsonObject, Organization, OrganizationId, OrganizationName, UserId};
use crate::error::ApiError;
use crate::store::Key;

pub fn organization_key(id: &OrganizationId) -> Key {
    Key::new(format!("ORG#{id}"), "PROFILE")
}

/// How many organizations a user owns, kept beside the user's other items.
fn owned_count_key(owner: &UserId) -> Key {
    Key::new(format!("USER#{owner}"), "OWNED_ORGANIZATIONS")
}

/// Tries of a creation whose count another creation changed in the meantime.
const COUNT_ATTEMPTS: usize = 5;

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
    }
    item.insert(attr::CREATED_AT.into(), Value::N(org.created_at.0));
    item.insert(attr::UPDATED_AT.into(), Value::N(org.updated_at.0));
    item.insert(attr::VERSION.into(), Value::N(org.version as i64));
    item
}

pub fn organization_from(item: &Item) -> Result<Organization, StoreError> {
    let mut r = Reader(item);
    let mut json = |name: &str| r.opt_s(name).and_then(|t| JsonObject::from_json_string(&t)).unwrap_or_default();
    let (settings, agent_settings) = (json(attr::SETTINGS), json(attr::AGENT_SETTINGS));
    Ok(Organization {
        id: r.parse(attr::ID)?,
        owner_id: r.parse(attr::OWNER_ID)?,
        name: OrganizationName::parse(&r.s(attr::NAME)?).map_err(|_| corrupt(attr::NAME))?,
        description: r.opt_s(attr::DESCRIPTION),
        industry: r.opt_s(attr::INDUSTRY),
        website: r.opt_s(attr::WEBSITE),
        settings,
        agent_settings,
        waba_id: r.opt_parse(attr::WABA_ID)?,
        created_at: r.time(attr::CREATED_AT)?,
        updated_at: r.time(attr::UPDATED_AT)?,
        version: r.opt_n(attr::VERSION).unwrap_or(0) as u64,
    })
}

impl Records {
    /// Creates `org`, unless its owner already owns `max` organizations. The owner's count is
    /// written in the same transaction, on the condition that it is still the one read: of
    /// concurrent creations past the limit, none gets through.
    pub async fn create_organization(&self, org: &Organization, max: usize) -> Result<(), ApiError> {
        let counter = owned_count_key(&org.owner_id);
        for _ in 0..COUNT_ATTEMPTS {
            let (owned, condition) = match self.store.get(&counter).await? {
                Some(item) => {
                    let owned = Reader(&item).opt_n(attr::COUNT).ok_or_else(|| corrupt(attr::COUNT))?;
                    (owned, Condition::Equals(attr::COUNT.into(), Value::N(owned)))
                }
                // Organizations created before the count was kept are counted once.
                None => (self.organizations_owned_by(&org.owner_id).await?.len() as i64, Condition::NotExists),
            };
            if owned >= max as i64 {
                return Err(ApiError::organization_limit(max));
            }
            let mut count = with_key(counter.clone(), "owned_organizations");
            count.insert(attr::COUNT.into(), Value::N(owned + 1));
            let ops = vec![
                WriteOp::Put { item: organization_item(org), condition: Some(Condition::NotExists) },
                WriteOp::Put { item: count, condition: Some(condition) },
            ];
            match self.store.write(ops).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::conflict("Organizations of this user are being created concurrently; try again."))
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
}
