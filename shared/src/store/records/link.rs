use super::{Reader, Records, StoreError, Value, attr, corrupt, put_opt, s, with_key};
use crate::clock::Timestamp;
use crate::domain::OrganizationId;
use crate::error::ApiError;
use crate::links::{LinkStatus, OnboardingLink};
use crate::store::{Condition, Index, Item, Key, Query, WriteOp, schema};

pub const LINK_PREFIX: &str = "LINK#";
/// How long a link's records outlive its expiry, so that its organization still lists it.
const KEPT_AFTER_EXPIRY: i64 = 30 * 86_400;

pub fn link_key(organization: &OrganizationId, id: &str) -> Key {
    Key::new(format!("ORG#{organization}"), format!("{LINK_PREFIX}{id}"))
}

/// Where a token leads: the SHA-256 of the token names the link's organization and id.
fn token_key(token_hash: &str) -> Key {
    Key::new(format!("{LINK_PREFIX}{token_hash}"), "LINK".to_owned())
}

pub fn link_item(link: &OnboardingLink) -> Item {
    let mut item = with_key(link_key(&link.organization_id, &link.id), "onboarding_link");
    item.insert(attr::ORGANIZATION_ID.into(), s(link.organization_id.as_str()));
    item.insert(attr::ID.into(), s(link.id.clone()));
    item.insert(attr::TOKEN_HASH.into(), s(link.token_hash.clone()));
    item.insert(attr::CREATED_AT.into(), Value::N(link.created_at.0));
    item.insert(attr::EXPIRES_AT.into(), Value::N(link.expires_at.0));
    let (status, at) = match link.status {
        LinkStatus::Active => ("active", None),
        LinkStatus::Revoked { at } => ("revoked", Some(at)),
        LinkStatus::Used { at } => ("used", Some(at)),
    };
    item.insert(attr::STATUS.into(), s(status));
    put_opt(&mut item, attr::STATUS_AT, at.map(|t| Value::N(t.0)));
    put_opt(&mut item, attr::SUCCESS_URL, link.success_url.as_ref().map(|u| s(u.as_str())));
    put_opt(&mut item, attr::FAILURE_URL, link.failure_url.as_ref().map(|u| s(u.as_str())));
    put_opt(&mut item, attr::FEATURE_TYPE, link.feature_type.clone().map(s));
    item.insert(schema::TTL.into(), Value::N(link.expires_at.0 + KEPT_AFTER_EXPIRY));
    item
}

pub fn link_from(item: &Item) -> Result<OnboardingLink, StoreError> {
    let mut r = Reader(item);
    Ok(OnboardingLink {
        id: r.s(attr::ID)?,
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        token_hash: r.s(attr::TOKEN_HASH)?,
        created_at: r.time(attr::CREATED_AT)?,
        expires_at: r.time(attr::EXPIRES_AT)?,
        status: match r.s(attr::STATUS)?.as_str() {
            "active" => LinkStatus::Active,
            "revoked" => LinkStatus::Revoked { at: r.time(attr::STATUS_AT)? },
            "used" => LinkStatus::Used { at: r.time(attr::STATUS_AT)? },
            _ => return Err(corrupt(attr::STATUS)),
        },
        success_url: r.opt_parse(attr::SUCCESS_URL)?,
        failure_url: r.opt_parse(attr::FAILURE_URL)?,
        feature_type: r.opt_s(attr::FEATURE_TYPE),
    })
}

fn is_active() -> Condition {
    Condition::Equals(attr::STATUS.into(), s("active"))
}

impl Records {
    /// Adds a link and revokes the organization's other active links, in one transaction.
    pub async fn create_link(&self, link: &OnboardingLink) -> Result<(), ApiError> {
        let mut pointer = with_key(token_key(&link.token_hash), "onboarding_link_token");
        pointer.insert(attr::ORGANIZATION_ID.into(), s(link.organization_id.as_str()));
        pointer.insert(attr::ID.into(), s(link.id.clone()));
        pointer.insert(schema::TTL.into(), Value::N(link.expires_at.0 + KEPT_AFTER_EXPIRY));
        let mut ops = vec![
            WriteOp::Put { item: pointer, condition: Some(Condition::NotExists) },
            WriteOp::Put { item: link_item(link), condition: Some(Condition::NotExists) },
        ];
        for other in self.links(&link.organization_id).await? {
            if other.status == LinkStatus::Active {
                ops.push(revoke(&other, link.created_at));
            }
        }
        // A link revoked meanwhile by someone else fails its condition: nothing is written.
        self.store.write(ops).await?;
        Ok(())
    }

    /// The organization's links, newest first.
    pub async fn links(&self, organization: &OrganizationId) -> Result<Vec<OnboardingLink>, ApiError> {
        let mut query = Query::new(Index::Table { pk: format!("ORG#{organization}") });
        query.sk_prefix = Some(LINK_PREFIX.into());
        let mut links = self.collect(query, link_from).await?;
        // Link ids begin with their creation's microsecond.
        links.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(links)
    }

    pub async fn link(&self, organization: &OrganizationId, id: &str) -> Result<Option<OnboardingLink>, ApiError> {
        Ok(self.store.get(&link_key(organization, id)).await?.as_ref().map(link_from).transpose()?)
    }

    /// The link a token opens, if any.
    pub async fn link_by_token(&self, token_hash: &str) -> Result<Option<OnboardingLink>, ApiError> {
        let Some(pointer) = self.store.get(&token_key(token_hash)).await? else {
            return Ok(None);
        };
        let mut r = Reader(&pointer);
        let organization: OrganizationId = r.parse(attr::ORGANIZATION_ID)?;
        let link = self.link(&organization, &r.s(attr::ID)?).await?;
        // The hash is checked again on the link itself: a pointer never opens another link.
        Ok(link.filter(|l| l.token_hash == token_hash))
    }

    /// Revokes an active link; whether it was active.
    pub async fn revoke_link(&self, link: &OnboardingLink, now: Timestamp) -> Result<bool, ApiError> {
        self.guarded(revoke(link, now)).await
    }

    /// Marks an active link used; whether it was still active (exactly one connect uses it).
    pub async fn use_link(&self, link: &OnboardingLink, now: Timestamp) -> Result<bool, ApiError> {
        self.guarded(WriteOp::Update {
            key: link_key(&link.organization_id, &link.id),
            set: vec![(attr::STATUS.into(), s("used")), (attr::STATUS_AT.into(), Value::N(now.0))],
            remove: vec![],
            condition: Some(is_active()),
        })
        .await
    }
}

fn revoke(link: &OnboardingLink, now: Timestamp) -> WriteOp {
    WriteOp::Update {
        key: link_key(&link.organization_id, &link.id),
        set: vec![(attr::STATUS.into(), s("revoked")), (attr::STATUS_AT.into(), Value::N(now.0))],
        remove: vec![],
        condition: Some(is_active()),
    }
}
