//! Meta's webhook notification, parsed leniently: a body that is not a notification is
//! refused, but inside one every entry and change is read on its own, and an item this code
//! does not understand is counted and skipped — never a reason to refuse (and so have Meta
//! redeliver) the whole batch.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub entries: Vec<Entry>,
    /// Items that were present but malformed.
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The WABA id for WhatsApp Business Account notifications.
    pub id: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `field: "messages"`: inbound messages and statuses of outbound ones, for one phone.
    Messages {
        phone_number_id: String,
        messages: Vec<Inbound>,
        statuses: Vec<Status>,
    },
    /// `field: "phone_number_quality_update"`.
    Quality {
        display_phone_number: String,
        event: String,
        current_limit: Option<String>,
    },
    /// `field: "account_update"`. Some events carry the WABA in `waba_info` rather than in
    /// the entry's id (`PARTNER_ADDED` among them).
    Account {
        event: String,
        waba_id: Option<String>,
    },
    Other {
        field: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub id: String,
    pub from: String,
    pub timestamp: i64,
    pub message_type: String,
    pub text: Option<String>,
    pub contact_name: Option<String>,
    /// The message object as Meta sent it.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub id: String,
    pub status: String,
    pub timestamp: i64,
    pub recipient_id: Option<String>,
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    NotJson,
    NotANotification,
}

/// Meta sends at most 1000 updates per delivery; anything far beyond that is not Meta.
pub const MAX_ITEMS: usize = 10_000;

pub fn parse(body: &[u8]) -> Result<Notification, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ParseError::NotJson)?;
    let entries = value.get("entry").and_then(Value::as_array).ok_or(ParseError::NotANotification)?;
    let mut skipped = 0;
    let mut items = 0;
    let mut parsed = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(id) = text(entry.get("id")) else {
            skipped += 1;
            continue;
        };
        let mut changes = Vec::new();
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            items += 1;
            if items > MAX_ITEMS {
                return Err(ParseError::NotANotification);
            }
            match parse_change(change, &mut skipped) {
                Some(change) => changes.push(change),
                None => skipped += 1,
            }
        }
        parsed.push(Entry { id, changes });
    }
    Ok(Notification { entries: parsed, skipped })
}

fn parse_change(change: &Value, skipped: &mut usize) -> Option<Change> {
    let field = change.get("field")?.as_str()?;
    let value = change.get("value")?;
    Some(match field {
        "messages" => {
            let phone_number_id = text(value.get("metadata")?.get("phone_number_id"))?;
            let contact_names: Vec<(String, String)> = value
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| Some((text(c.get("wa_id"))?, text(c.get("profile")?.get("name"))?)))
                .collect();
            let messages = items(value.get("messages"), skipped, |m| {
                let from = text(m.get("from"))?;
                Some(Inbound {
                    id: text(m.get("id"))?,
                    contact_name: contact_names.iter().find(|(id, _)| *id == from).map(|(_, name)| name.clone()),
                    from,
                    timestamp: epoch(m.get("timestamp"))?,
                    message_type: text(m.get("type")).unwrap_or_else(|| "unknown".into()),
                    text: m.get("text").and_then(|t| text(t.get("body"))),
                    raw: m.to_string(),
                })
            });
            let statuses = items(value.get("statuses"), skipped, |s| {
                Some(Status {
                    id: text(s.get("id"))?,
                    status: text(s.get("status"))?,
                    timestamp: epoch(s.get("timestamp"))?,
                    recipient_id: text(s.get("recipient_id")),
                    raw: s.to_string(),
                })
            });
            Change::Messages { phone_number_id, messages, statuses }
        }
        "phone_number_quality_update" => Change::Quality {
            display_phone_number: text(value.get("display_phone_number"))?,
            event: text(value.get("event"))?,
            current_limit: text(value.get("current_limit")),
        },
        "account_update" => Change::Account {
            event: text(value.get("event"))?,
            waba_id: value.get("waba_info").and_then(|w| text(w.get("waba_id"))),
        },
        other => Change::Other { field: other.chars().take(64).collect() },
    })
}

fn items<T>(list: Option<&Value>, skipped: &mut usize, parse: impl Fn(&Value) -> Option<T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in list.and_then(Value::as_array).into_iter().flatten() {
        match parse(item) {
            Some(parsed) => out.push(parsed),
            None => *skipped += 1,
        }
    }
    out
}

/// A non-empty string of bounded size (Meta sends ids as strings; numbers are accepted too).
fn text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text.len() <= 4096 * 4).then_some(text)
}

/// Epoch seconds, which Meta writes as a string of digits.
fn epoch(value: Option<&Value>) -> Option<i64> {
    let seconds: i64 = text(value)?.parse().ok()?;
    (0..=253_402_300_799).contains(&seconds).then_some(seconds)
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
        let Change::Messages { phone_number_id, messages, statuses } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(phone_number_id, "106540352242922");
        assert!(statuses.is_empty());
        assert_eq!(messages[0].text.as_deref(), Some("Hello"));
        assert_eq!(messages[0].contact_name.as_deref(), Some("Kerry Fisher"));
        assert_eq!(messages[0].timestamp, 1_795_238_940);
    }

    #[test]
    fn account_updates_may_carry_the_waba_in_waba_info() {
        let body = br#"{"entry":[{"id":"184356712093845","time":1,"changes":[{"value":{"event":"PARTNER_ADDED","waba_info":{"waba_id":"102290129340398","owner_business_id":"1"}},"field":"account_update"}]}],"object":"whatsapp_business_account"}"#;
        let n = parse(body).unwrap();
        assert_eq!(
            n.entries[0].changes[0],
            Change::Account { event: "PARTNER_ADDED".into(), waba_id: Some("102290129340398".into()) }
        );
    }

    #[test]
    fn malformed_items_are_skipped_not_fatal() {
        let body = br#"{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"messages":[{"id":"x"},{"from":"3","id":"y","timestamp":"10","type":"text"}]}},{"field":"messages"},{"nofield":1}]},{"noid":true}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.skipped, 4);
        let Change::Messages { messages, .. } = &n.entries[0].changes[0] else { panic!() };
        assert_eq!(messages.len(), 1);
    }

    #[test]
    fn non_notifications_are_refused() {
        assert_eq!(parse(b"not json"), Err(ParseError::NotJson));
        assert_eq!(parse(b"[1,2]"), Err(ParseError::NotANotification));
        assert_eq!(parse(br#"{"entry":{}}"#), Err(ParseError::NotANotification));
    }
}
