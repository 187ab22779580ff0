//! Meta's webhook notification, parsed in one pass and without copying: every string that
//! needs no unescaping is borrowed from the body, and each message and status keeps the
//! exact bytes Meta sent for it. Parsing is lenient inside a notification: a body that is
//! not a notification is refused, but every entry, change and item is read on its own, and
//! what this code does not understand is counted (or, for a message or status, kept as
//! rejected with the reason) — never a reason to refuse, and so have Meta redeliver, the
//! whole batch.
//!
//! One module per family of webhook fields: [`messages`] (`messages`, `user_id_update`),
//! [`account`] (the account-level fields) and [`coexistence`] (`history`,
//! `smb_message_echoes`, `smb_app_state_sync`). The value of a change is read once, as the
//! union of the fields its kinds carry; `field` decides which ones count.

mod account;
mod coexistence;
mod lenient;
mod messages;

pub use account::{ACCOUNT_FIELDS, AccountChange};
pub use coexistence::{ContactChange, HistoryChunk, Thread};
pub use messages::{Inbound, MetaProblem, Status, System};

use lenient::{Lenient, LenientList, Loose, Raw, StrictList, epoch};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Entries and changes that were present but malformed.
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The WABA id for WhatsApp Business Account notifications.
    pub id: Cow<'a, str>,
    /// When Meta says the change happened (epoch seconds), if it says.
    pub time: Option<i64>,
    pub changes: Vec<Change<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// `field: "messages"`: inbound messages and statuses of outbound ones, for one phone.
    Messages {
        phone_number_id: Cow<'a, str>,
        messages: Vec<Inbound<'a>>,
        statuses: Vec<Status<'a>>,
        /// Value-level `errors`: a system, app or account problem Meta reports for the phone.
        errors: Vec<MetaProblem<'a>>,
    },
    /// `field: "history"`: a coexistence number's chats, synced once in chunks; and, in
    /// `messages`, the media of history messages Meta first sent as placeholders.
    History {
        phone_number_id: Cow<'a, str>,
        chunks: Vec<HistoryChunk<'a>>,
        messages: Vec<Inbound<'a>>,
    },
    /// `field: "smb_message_echoes"`: what the business sent from the WhatsApp Business app.
    Echoes {
        phone_number_id: Cow<'a, str>,
        echoes: Vec<Inbound<'a>>,
    },
    /// `field: "smb_app_state_sync"`: the app's contacts, added, edited or removed.
    ContactSync {
        phone_number_id: Cow<'a, str>,
        contacts: Vec<ContactChange<'a>>,
    },
    /// A change about the account, a number or a template rather than a message.
    Account(Box<AccountChange<'a>>),
    Other {
        field: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    NotJson,
    NotANotification,
}

/// Meta sends at most 1000 updates per delivery; anything far beyond that is not Meta.
pub const MAX_ITEMS: usize = 10_000;

pub fn parse(body: &[u8]) -> Result<Notification<'_>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotJson)?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| if e.is_data() { ParseError::NotANotification } else { ParseError::NotJson })?;
    let entries_list = envelope.entry.ok_or(ParseError::NotANotification)?.0;
    let mut skipped = entries_list.malformed;
    let mut items = 0;
    let mut entries = Vec::with_capacity(entries_list.items.len());
    for entry in entries_list.items {
        let Some(id) = entry.id.and_then(Loose::text) else {
            skipped += 1;
            continue;
        };
        let changes_list = entry.changes.unwrap_or_default();
        skipped += changes_list.malformed;
        let mut changes = Vec::with_capacity(changes_list.items.len());
        for change in changes_list.items {
            items += 1;
            if items > MAX_ITEMS {
                return Err(ParseError::NotANotification);
            }
            match read_change(change) {
                Some(change) => changes.push(change),
                None => skipped += 1,
            }
        }
        entries.push(Entry { id, time: entry.time.and_then(epoch), changes });
    }
    Ok(Notification { entries, skipped })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    entry: Option<StrictList<RawEntry<'a>>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    time: Option<Loose<'a>>,
    #[serde(borrow)]
    changes: Option<LenientList<RawChange<'a>>>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    #[serde(borrow)]
    field: Option<Loose<'a>>,
    #[serde(borrow)]
    value: Option<Lenient<RawValueFields<'a>>>,
}

/// Every field any handled kind of change carries in its `value`.
#[derive(Deserialize)]
struct RawValueFields<'a> {
    // messages, and every field about one number
    #[serde(borrow)]
    metadata: Option<Lenient<RawMetadata<'a>>>,
    #[serde(borrow)]
    contacts: Option<LenientList<messages::RawContact<'a>>>,
    #[serde(borrow)]
    messages: Option<LenientList<Raw<'a>>>,
    #[serde(borrow)]
    statuses: Option<LenientList<Raw<'a>>>,
    #[serde(borrow)]
    errors: Option<LenientList<messages::RawProblem<'a>>>,
    // user_id_update
    #[serde(borrow)]
    user_id_update: Option<LenientList<Raw<'a>>>,
    // coexistence
    #[serde(borrow)]
    history: Option<LenientList<coexistence::RawHistory<'a>>>,
    #[serde(borrow)]
    message_echoes: Option<LenientList<Raw<'a>>>,
    #[serde(borrow)]
    state_sync: Option<LenientList<coexistence::RawStateSync<'a>>>,
    // the account-level fields
    #[serde(borrow)]
    display_phone_number: Option<Loose<'a>>,
    #[serde(borrow)]
    event: Option<Loose<'a>>,
    #[serde(borrow)]
    current_limit: Option<Loose<'a>>,
    #[serde(borrow)]
    max_daily_conversations_per_business: Option<Loose<'a>>,
    #[serde(borrow)]
    waba_info: Option<Lenient<account::RawWabaInfo<'a>>>,
    #[serde(borrow)]
    ban_info: Option<Lenient<account::RawBanInfo<'a>>>,
    #[serde(borrow)]
    restriction_info: Option<LenientList<account::RawRestriction<'a>>>,
    #[serde(borrow)]
    violation_info: Option<Lenient<account::RawViolation<'a>>>,
    #[serde(borrow)]
    decision: Option<Loose<'a>>,
    #[serde(borrow)]
    requested_verified_name: Option<Loose<'a>>,
    #[serde(borrow)]
    rejection_reason: Option<Loose<'a>>,
    #[serde(borrow)]
    reason: Option<Loose<'a>>,
    #[serde(borrow)]
    message_template_name: Option<Loose<'a>>,
    #[serde(borrow)]
    message_template_language: Option<Loose<'a>>,
}

#[derive(Deserialize)]
struct RawMetadata<'a> {
    #[serde(borrow)]
    phone_number_id: Option<Loose<'a>>,
}

/// The number a change concerns (every field but the account-level ones concerns one).
fn phone<'a>(value: &mut RawValueFields<'a>) -> Option<Cow<'a, str>> {
    value.metadata.take().and_then(|m| m.0?.phone_number_id?.text())
}

fn read_change(change: RawChange<'_>) -> Option<Change<'_>> {
    let field = change.field.and_then(Loose::text)?;
    let mut value = change.value?.0?;
    Some(match field.as_ref() {
        "messages" => {
            let phone_number_id = phone(&mut value)?;
            let profiles = messages::profiles(value.contacts);
            Change::Messages {
                phone_number_id,
                messages: messages::messages(value.messages, &profiles),
                statuses: messages::statuses(value.statuses),
                errors: messages::problems(value.errors),
            }
        }
        "user_id_update" => Change::Messages {
            phone_number_id: phone(&mut value)?,
            messages: messages::user_id_updates(value.user_id_update),
            statuses: Vec::new(),
            errors: Vec::new(),
        },
        "history" => Change::History {
            phone_number_id: phone(&mut value)?,
            chunks: coexistence::history(value.history),
            messages: messages::messages(value.messages, &[]),
        },
        "smb_message_echoes" => Change::Echoes {
            phone_number_id: phone(&mut value)?,
            echoes: messages::messages(value.message_echoes, &[]),
        },
        "smb_app_state_sync" => Change::ContactSync {
            phone_number_id: phone(&mut value)?,
            contacts: coexistence::contact_changes(value.state_sync),
        },
        known if ACCOUNT_FIELDS.contains(&known) => Change::Account(Box::new(account::read(known, value))),
        other => Change::Other { field: other.chars().take(64).collect() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_s_inbound_message_shape() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Kerry Fisher"},"wa_id":"16315551234"}],"messages":[{"from":"16315551234","id":"wamid.ABC","timestamp":"1795238940","text":{"body":"Hello"},"type":"text"}]},"field":"messages"}]}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.skipped, 0);
        assert_eq!(n.entries[0].id, "102290129340398");
        let Change::Messages { phone_number_id, messages, statuses, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "106540352242922");
        assert!(statuses.is_empty());
        assert_eq!(messages[0].text.as_deref(), Some("Hello"));
        assert_eq!(messages[0].contact_name.as_deref(), Some("Kerry Fisher"));
        assert_eq!(messages[0].timestamp, Some(1_795_238_940));
        assert!(matches!(messages[0].id, Some(Cow::Borrowed("wamid.ABC"))), "borrowed from the body");
        assert_eq!(
            messages[0].raw,
            r#"{"from":"16315551234","id":"wamid.ABC","timestamp":"1795238940","text":{"body":"Hello"},"type":"text"}"#,
            "the message's exact bytes"
        );
    }

    #[test]
    fn escaped_text_is_unescaped_and_raw_bytes_kept() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"from":"3","id":"w","timestamp":"10","type":"text","text":{"body":"caf\u00e9 \"q\""}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages[0].text.as_deref(), Some("café \"q\""));
        assert!(messages[0].raw.contains(r#"caf\u00e9"#));
    }

    #[test]
    fn a_customer_with_a_username_is_named_by_bsuid_and_username_without_a_phone() {
        // Meta's example of a message from a customer whose number is withheld.
        let body = br#"{"entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson","username":"@realsheenanelson"},"user_id":"US.13491208655302741918","parent_user_id":"US.ENT.11815799212886844830"}],"messages":[{"from_user_id":"US.13491208655302741918","from_parent_user_id":"US.ENT.11815799212886844830","id":"wamid.B1","timestamp":"1795238940","type":"text","text":{"body":"hi"}}],"statuses":[{"id":"wamid.S1","status":"failed","recipient_user_id":"US.1","errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"More than 24 hours have passed."}}]}],"errors":[{"code":131042,"title":"Business eligibility payment issue","message":"Business eligibility payment issue","error_data":{"details":"Payment issue."}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, statuses, errors, .. } = &n.entries[0].changes[0] else { panic!() };
        let m = &messages[0];
        assert_eq!(m.from, None);
        assert_eq!(m.from_user_id.as_deref(), Some("US.13491208655302741918"));
        assert_eq!(m.from_parent_user_id.as_deref(), Some("US.ENT.11815799212886844830"));
        assert_eq!(
            (m.contact_name.as_deref(), m.username.as_deref()),
            (Some("Sheena Nelson"), Some("@realsheenanelson"))
        );
        let s = &statuses[0];
        assert_eq!((s.recipient_id.as_deref(), s.recipient_user_id.as_deref()), (None, Some("US.1")));
        let error = s.error.as_ref().unwrap();
        assert_eq!((error.code, error.details.as_deref()), (Some(131047), Some("More than 24 hours have passed.")));
        assert_eq!(errors[0].code, Some(131042));
    }

    #[test]
    fn a_user_id_update_is_a_system_message_of_the_customer_under_their_new_bsuid() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"user_id_update","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"2"},"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],"user_id_update":[{"wa_id":"16505551234","detail":"User id for Sheena has been updated.","user_id":{"previous":"US.1","current":"US.2"},"parent_user_id":{"previous":"US.ENT.1","current":"US.ENT.2"},"timestamp":"1795238940"},{"detail":"no ids"}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { phone_number_id, messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "2");
        let m = &messages[0];
        assert_eq!(m.id.as_deref(), Some("user_id_update.US.1.US.2"), "the same change keeps the same id");
        assert_eq!((m.from_user_id.as_deref(), m.from_parent_user_id.as_deref()), (Some("US.2"), Some("US.ENT.2")));
        assert_eq!(
            (m.message_type.as_deref(), m.text.as_deref()),
            (Some("system"), Some("User id for Sheena has been updated."))
        );
        assert_eq!(messages[1].id, None, "an entry without both ids is kept, to be stored as rejected");
    }

    #[test]
    fn a_changed_bsuid_arrives_as_a_system_message_with_its_words() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"from_user_id":"US.1","id":"wamid.S","timestamp":"10","type":"system","system":{"body":"User Sheena changed from US.1 to US.2","user_id":"US.2","type":"user_changed_user_id"}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages[0].message_type.as_deref(), Some("system"));
        assert_eq!(messages[0].text.as_deref(), Some("User Sheena changed from US.1 to US.2"));
    }

    #[test]
    fn account_updates_may_carry_the_waba_in_waba_info() {
        let body = br#"{"entry":[{"id":"184356712093845","time":1,"changes":[{"value":{"event":"PARTNER_ADDED","waba_info":{"waba_id":"102290129340398","owner_business_id":"1"}},"field":"account_update"}]}],"object":"whatsapp_business_account"}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.entries[0].time, Some(1));
        assert_eq!(
            n.entries[0].changes[0],
            Change::Account(Box::new(AccountChange {
                field: "account_update".into(),
                event: Some("PARTNER_ADDED".into()),
                waba_id: Some("102290129340398".into()),
                ..AccountChange::default()
            }))
        );
    }

    #[test]
    fn bans_and_restrictions_are_read_with_their_dates() {
        let body = br#"{"entry":[{"id":"102290129340398","time":1795238940,"changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"RESTRICTED_BIZ_INITIATED_MESSAGING","expiration":"2026-12-19T13:59:20+0000"},{"expiration":1},"x"]}},{"field":"account_update","value":{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"SCHEDULE_FOR_DISABLE","waba_ban_date":"2026-12-24"}}},{"field":"business_capability_update","value":{"max_daily_conversations_per_business":"TIER_10K","max_phone_numbers_per_business":25}}]}]}"#;
        let n = parse(body).unwrap();
        let [Change::Account(restriction), Change::Account(ban), Change::Account(capability)] =
            &n.entries[0].changes[..]
        else {
            panic!("three account changes: {:?}", n.entries[0].changes);
        };
        assert_eq!(
            restriction.restrictions,
            vec![("RESTRICTED_BIZ_INITIATED_MESSAGING".into(), Some("2026-12-19T13:59:20+0000".into()))],
            "a restriction without a type is dropped, not the change"
        );
        assert_eq!(
            (ban.ban_state.as_deref(), ban.ban_date.as_deref()),
            (Some("SCHEDULE_FOR_DISABLE"), Some("2026-12-24"))
        );
        assert_eq!(capability.max_daily_conversations_per_business.as_deref(), Some("TIER_10K"));
    }

    #[test]
    fn malformed_pieces_are_counted_or_kept_not_fatal() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"id":"x"},{"from":"3","id":"y","timestamp":"10","type":"text"},7]}},{"field":"messages"},{"nofield":1}]},{"noid":true}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.skipped, 3, "two changes and one entry that cannot be read");
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages.len(), 3, "every message is kept, for storing or for rejecting with a reason");
        assert_eq!(messages[0].from, None);
        assert_eq!(messages[1].from.as_deref(), Some("3"));
        assert_eq!(messages[2].id, None);
        assert_eq!(messages[2].raw, "7");
    }

    #[test]
    fn odd_field_types_do_not_fail_their_object() {
        let body = br#"{"entry":[{"id":102,"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":2},"messages":[{"from":{"x":1},"id":"y","timestamp":1.5,"type":["t"],"text":"plain"}]}}]}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.entries[0].id, "102");
        let Change::Messages { phone_number_id, messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "2");
        assert_eq!((messages[0].from.clone(), messages[0].timestamp, messages[0].text.clone()), (None, None, None));
        assert_eq!(messages[0].id.as_deref(), Some("y"));
    }

    #[test]
    fn reads_metas_history_example_and_its_declined_shape() {
        // Meta's example of an approved history sync (the `history` webhook reference).
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"history":[{"metadata":{"phase":0,"chunk_order":1,"progress":55},"threads":[{"id":"16505551234","messages":[{"from":"15550783881","id":"wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA","timestamp":"1739230955","type":"text","text":{"body":"Here's the info you requested! https://www.meta.com/quest/quest-3/"},"history_context":{"status":"READ"}},{"from":"15550783881","id":"wamid.QyNUEHBgLMTY0NjcwNDM1OTUVAgARGBI1Rj3NEYxMzAzMzQ5MkEA","timestamp":"1739230970","type":"media_placeholder","history_context":{"status":"PLAYED"}},{"from":"16505551234","id":"wamid.N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0","timestamp":"1739230970","type":"text","text":{"body":"Thanks!"},"history_context":{"status":"READ"}}]},{"id":"12125557890","messages":[{"from":"15550783881","id":"wamid.BIyNDlBOEI5N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGQUQ4NDc0","timestamp":"1739230970","type":"text","text":{"body":"Thanks for your order!"},"history_context":{"status":"DELIVERED"}}]}]}]},"field":"history"}]}]}"#;
        let n = parse(body).unwrap();
        let Change::History { phone_number_id, chunks, messages } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "106540352242922");
        assert!(messages.is_empty());
        assert_eq!((chunks[0].phase, chunks[0].chunk_order, chunks[0].progress), (Some(0), Some(1), Some(55)));
        let thread = &chunks[0].threads[0];
        assert_eq!(thread.id.as_deref(), Some("16505551234"));
        assert_eq!(thread.messages.len(), 3);
        assert_eq!(thread.messages[1].message_type.as_deref(), Some("media_placeholder"));
        assert_eq!(thread.messages[2].text.as_deref(), Some("Thanks!"));
        assert_eq!(chunks[0].threads[1].messages[0].timestamp, Some(1_739_230_970));
        // The business declined: Meta's error inside the history entry, with no threads.
        let declined = br#"{"entry":[{"id":"1","changes":[{"field":"history","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"2"},"history":[{"errors":[{"code":2593109,"title":"History sync is turned off by the business from the WhatsApp Business App","message":"History sync is turned off by the business from the WhatsApp Business App","error_data":{"details":"History sharing is turned off by the business"}}]}]}}]}]}"#;
        let n = parse(declined).unwrap();
        let Change::History { chunks, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(chunks[0].errors[0].code, Some(2_593_109));
        assert!(chunks[0].threads.is_empty() && chunks[0].progress.is_none());
    }

    #[test]
    fn reads_echoes_and_the_apps_contacts() {
        // Meta's echo example (with the comma its page misses).
        let echoes = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"message_echoes":[{"from":"15550783881","to":"16505551234","id":"wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA","timestamp":"1739321024","type":"text","text":{"body":"Here's the info you requested!"}}]},"field":"smb_message_echoes"}]}]}"#;
        let n = parse(echoes).unwrap();
        let Change::Echoes { echoes, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!((echoes[0].from.as_deref(), echoes[0].to.as_deref()), (Some("15550783881"), Some("16505551234")));
        assert_eq!(echoes[0].text.as_deref(), Some("Here's the info you requested!"));
        // Meta's smb_app_state_sync example, and a removal (which names no one).
        let contacts = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"state_sync":[{"type":"contact","contact":{"full_name":"Pablo Morales","first_name":"Pablo","phone_number":"16505551234"},"action":"add","metadata":{"timestamp":"1739321024"}},{"type":"contact","contact":{"phone_number":"16505550000"},"action":"remove","metadata":{"timestamp":"1739321025"}}]},"field":"smb_app_state_sync"}]}]}"#;
        let n = parse(contacts).unwrap();
        let Change::ContactSync { contacts, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(contacts[0].full_name.as_deref(), Some("Pablo Morales"));
        assert_eq!((contacts[0].action.as_deref(), contacts[0].timestamp), (Some("add"), Some(1_739_321_024)));
        assert_eq!((contacts[1].action.as_deref(), contacts[1].full_name.as_deref()), (Some("remove"), None));
    }

    #[test]
    fn system_messages_name_the_customers_new_number_or_bsuid() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1750269342","system":{"body":"User Sheena Nelson changed from 16505551234 to 12195555358","wa_id":"12195555358","type":"user_changed_number"},"type":"system"},{"from":"1","id":"wamid.B","type":"system","system":{"new_wa_id":"2","type":"customer_changed_number"}}]}}]}]}"#;
        let n = parse(body).unwrap();
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        let system = messages[0].system.as_ref().unwrap();
        assert_eq!(
            (system.kind.as_deref(), system.wa_id.as_deref()),
            (Some("user_changed_number"), Some("12195555358"))
        );
        assert_eq!(messages[1].system.as_ref().unwrap().wa_id.as_deref(), Some("2"), "the pre-v12 name too");
    }

    #[test]
    fn an_offboarding_names_nothing_but_its_event() {
        let body = br#"{ "entry": [ { "id": "862475293675413", "time": 1768477204, "changes": [ { "value": { "event": "ACCOUNT_OFFBOARDED" }, "field": "account_update" } ] } ], "object": "whatsapp_business_account" }"#;
        let n = parse(body).unwrap();
        let Change::Account(change) = &n.entries[0].changes[0] else { panic!() };
        assert_eq!((change.event.as_deref(), change.waba_id.as_deref()), (Some("ACCOUNT_OFFBOARDED"), None));
        assert_eq!(n.entries[0].id, "862475293675413", "routed by the entry's WABA");
    }

    #[test]
    fn non_notifications_are_refused() {
        assert_eq!(parse(b"not json"), Err(ParseError::NotJson));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::NotJson));
        assert_eq!(parse(b"[1,2]"), Err(ParseError::NotANotification));
        assert_eq!(parse(br#"{"entry":{}}"#), Err(ParseError::NotANotification));
        assert_eq!(parse(br#"{"object":"x"}"#), Err(ParseError::NotANotification));
    }
}
