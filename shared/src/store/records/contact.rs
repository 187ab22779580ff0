use super::{Reader, Records, StoreError, Value, attr, put_opt, s, with_key};
use crate::clock::Timestamp;
use crate::domain::{Contact, OrganizationId};
use crate::error::ApiError;
use crate::store::{Condition, Cursor, Index, Item, Key, Query};

pub const CONTACT_PREFIX: &str = "CONTACT#";

/// A contact of a coexistence number's app, by the number that synced it and the contact's
/// own phone number.
pub fn contact_key(contact: &Contact) -> Key {
    Key::new(
        format!("ORG#{}", contact.organization_id),
        format!("{CONTACT_PREFIX}{}#{}", contact.phone_number_id, contact.phone),
    )
}

pub fn contact_item(contact: &Contact) -> Item {
    let mut item = with_key(contact_key(contact), "contact");
    item.insert(attr::ORGANIZATION_ID.into(), s(contact.organization_id.as_str()));
    item.insert(attr::PHONE_NUMBER_ID.into(), s(contact.phone_number_id.as_str()));
    item.insert(attr::PHONE.into(), s(contact.phone.clone()));
    put_opt(&mut item, attr::NAME, contact.name.clone().map(Value::S));
    item.insert(attr::UPDATED_AT.into(), Value::N(contact.updated_at.0));
    if contact.removed {
        item.insert(attr::REMOVED.into(), Value::Bool(true));
    }
    item
}

pub fn contact_from(item: &Item) -> Result<Contact, StoreError> {
    let mut r = Reader(item);
    Ok(Contact {
        organization_id: r.parse(attr::ORGANIZATION_ID)?,
        phone_number_id: r.parse(attr::PHONE_NUMBER_ID)?,
        phone: r.s(attr::PHONE)?,
        name: r.opt_s(attr::NAME),
        updated_at: r.time(attr::UPDATED_AT)?,
        removed: r.bool(attr::REMOVED),
    })
}

impl Records {
    /// Stores each contact change unless a later one for the same contact is stored (Meta's
    /// timestamp decides, so a late change never undoes a newer one; of two in the same
    /// second, which Meta's timestamps cannot order, the one that arrives last). How many
    /// were written.
    pub async fn store_contacts(&self, contacts: &[Contact]) -> Result<usize, ApiError> {
        if contacts.is_empty() {
            return Ok(0);
        }
        let puts = contacts
            .iter()
            .map(|contact| {
                let at = Value::N(contact.updated_at.0);
                let newer = Condition::Or(vec![
                    Condition::NotExists,
                    Condition::LessThan(attr::UPDATED_AT.into(), at.clone()),
                    Condition::Equals(attr::UPDATED_AT.into(), at),
                ]);
                (contact_item(contact), Some(newer))
            })
            .collect();
        Ok(self.store.put_each(puts).await?.into_iter().filter(|w| *w).count())
    }

    /// A page of the organization's contacts, by synced number and phone; removed ones are
    /// left out (a page may then hold fewer than `limit`). `after` is the last key of the
    /// previous page.
    pub async fn contacts(
        &self,
        organization: &OrganizationId,
        limit: usize,
        after: Option<String>,
    ) -> Result<(Vec<Contact>, Option<String>), ApiError> {
        let pk = format!("ORG#{organization}");
        let mut query = Query::new(Index::Table { pk: pk.clone() });
        query.sk_prefix = Some(CONTACT_PREFIX.into());
        query.limit = Some(limit);
        query.after = after.map(|sk| Cursor::of_table(Key::new(pk, sk)));
        let page = self.store.query(&query).await?;
        let contacts = page.items.iter().map(contact_from).collect::<Result<Vec<_>, _>>()?;
        Ok((contacts.into_iter().filter(|c| !c.removed).collect(), page.next.map(|c| c.key.sk)))
    }
}

/// When Meta says a contact changed: its own timestamp, else when the webhook arrived.
pub fn contact_time(meta: Option<i64>, received: Timestamp) -> Timestamp {
    meta.map_or(received, Timestamp)
}
