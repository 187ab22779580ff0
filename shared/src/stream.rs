//! The table's change stream, and the work that follows a change rather than a request.
//!
//! In AWS, DynamoDB Streams hands each function its changes (an event source mapping with a
//! filter per function) and the function reports the ones it could not handle, so Lambda
//! retries them. On one machine the embedded store keeps the same stream itself (a
//! [`ChangeFeed`]): the local stack reads it and hands the changes to the same handlers.
//! Either way a change is handled at least once, after the request that made it has
//! answered, and a handler that fails leaves the change to be handled again.

use crate::store::{Item, Key, StoreError, Value, schema};
use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

/// One change to an item: what the item is now (its new image), or none once deleted.
#[derive(Debug, Clone)]
pub struct Change {
    /// Where the change stands in the stream (DynamoDB's sequence number; the embedded
    /// store's position): what a partial failure reports back.
    pub sequence: String,
    pub kind: ChangeKind,
    pub key: Key,
    image: Image,
}

/// A change's new image. The embedded store hands it over as the JSON it keeps, decoded the
/// first time a consumer looks: a consumer decides on most changes by their key alone (the
/// events consumer, whether the organization has an endpoint), and decoding every image
/// it is handed was an eighth of a batch's CPU. An image that does not decode (the store
/// writes every one itself, so only a damaged file has one) reads as none and is logged,
/// where the whole read used to fail: the change is passed over rather than holding its
/// consumer back for ever.
#[derive(Debug, Clone)]
enum Image {
    Absent,
    Decoded(Item),
    #[cfg(feature = "embedded")]
    Stored {
        json: Box<[u8]>,
        decoded: std::sync::OnceLock<Option<Item>>,
    },
}

/// What a change did to its item (DynamoDB's `eventName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The item is new.
    Insert,
    /// The item was there and is changed.
    Modify,
    Remove,
}

impl ChangeKind {
    pub fn parse(event_name: &str) -> Option<Self> {
        match event_name {
            "INSERT" => Some(ChangeKind::Insert),
            "MODIFY" => Some(ChangeKind::Modify),
            "REMOVE" => Some(ChangeKind::Remove),
            _ => None,
        }
    }

    /// DynamoDB's `eventName`, which [`ChangeKind::parse`] reads back.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Modify => "MODIFY",
            ChangeKind::Remove => "REMOVE",
        }
    }
}

impl Change {
    pub fn new(sequence: String, kind: ChangeKind, key: Key, image: Option<Item>) -> Self {
        Self { sequence, kind, key, image: image.map_or(Image::Absent, Image::Decoded) }
    }

    /// A change whose image is the item's JSON as the embedded store keeps it.
    #[cfg(feature = "embedded")]
    pub(crate) fn stored(sequence: String, kind: ChangeKind, key: Key, json: Option<Box<[u8]>>) -> Self {
        let image = json.map_or(Image::Absent, |json| Image::Stored { json, decoded: std::sync::OnceLock::new() });
        Self { sequence, kind, key, image }
    }

    /// What the item is now; `None` once deleted.
    pub fn image(&self) -> Option<&Item> {
        match &self.image {
            Image::Absent => None,
            Image::Decoded(item) => Some(item),
            #[cfg(feature = "embedded")]
            Image::Stored { json, decoded } => decoded
                .get_or_init(|| {
                    crate::store::embedded::json::decode(json)
                        .inspect_err(|error| tracing::error!(change = %self.sequence, %error, "a corrupt change"))
                        .ok()
                })
                .as_ref(),
        }
    }

    /// The new image's `entity` (`phone_number`, `message`, …).
    pub fn entity(&self) -> Option<&str> {
        self.image()?.get(schema::ENTITY)?.as_s()
    }
}

impl PartialEq for Change {
    fn eq(&self, other: &Self) -> bool {
        (&self.sequence, self.kind, &self.key, self.image()) == (&other.sequence, other.kind, &other.key, other.image())
    }
}

/// Which changes a function is handed: in AWS its event source mapping's `FilterCriteria`
/// (which [`Filter::criteria`] writes, and the template is checked against), on one machine
/// the feed's own read. A change passes when any of the patterns matches it.
#[derive(Debug, Clone, Copy)]
pub struct Filter(pub &'static [Pattern]);

/// One pattern of a [`Filter`]: every part of it must hold.
#[derive(Debug)]
pub struct Pattern {
    /// What the change did (`eventName`); any kind when empty.
    pub kinds: &'static [ChangeKind],
    /// The new image's `entity` is one of these (so a removal, which has no new image,
    /// does not pass); any change when empty.
    pub entities: &'static [&'static str],
    /// And the new image has each of these attributes with exactly this value.
    pub attributes: &'static [(&'static str, Expected)],
}

/// An attribute's value a [`Pattern`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    S(&'static str),
    Bool(bool),
}

impl Expected {
    fn holds(self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Expected::S(expected), Some(Value::S(s))) => s == expected,
            (Expected::Bool(expected), Some(Value::Bool(b))) => *b == expected,
            _ => false,
        }
    }
}

impl Filter {
    /// Every change, removals included.
    pub const EVERY: Filter = Filter(&[Pattern { kinds: &[], entities: &[], attributes: &[] }]);

    pub fn passes(&self, change: &Change) -> bool {
        self.0.iter().any(|pattern| pattern.matches(change))
    }

    /// The patterns as the event source mapping takes them (`FilterCriteria.Filters[].Pattern`).
    pub fn criteria(&self) -> Vec<Json> {
        self.0.iter().map(Pattern::criterion).collect()
    }
}

impl Pattern {
    fn matches(&self, change: &Change) -> bool {
        let attribute = |name: &str| change.image()?.get(name);
        (self.kinds.is_empty() || self.kinds.contains(&change.kind))
            && (self.entities.is_empty() || change.entity().is_some_and(|entity| self.entities.contains(&entity)))
            && self.attributes.iter().all(|(name, expected)| expected.holds(attribute(name)))
    }

    fn criterion(&self) -> Json {
        let mut image = Map::new();
        if !self.entities.is_empty() {
            image.insert(schema::ENTITY.into(), json!({ "S": self.entities }));
        }
        for (name, expected) in self.attributes {
            let value = match expected {
                Expected::S(s) => json!({ "S": [s] }),
                Expected::Bool(b) => json!({ "BOOL": [b] }),
            };
            image.insert((*name).into(), value);
        }
        let mut pattern = if image.is_empty() { json!({}) } else { json!({ "dynamodb": { "NewImage": image } }) };
        if !self.kinds.is_empty() {
            pattern["eventName"] = self.kinds.iter().map(|k| k.name()).collect();
        }
        pattern
    }
}

/// What one read of a [`ChangeFeed`] hands a consumer.
#[derive(Debug, Default)]
pub struct Batch {
    /// The changes that passed the consumer's filter, oldest first.
    pub changes: Vec<Change>,
    /// The position of the last change the read looked at, passed or not, if it looked at
    /// any. Committed once the changes are handled, it keeps the changes the filter left
    /// from being looked at again, and lets the feed drop them.
    pub through: Option<String>,
}

/// A durable stream of the table's changes that a consumer reads at its own pace: the
/// embedded store's, for the local stack.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Makes `consumer` known, from the oldest change kept if it is new: no change is
    /// dropped before every known consumer has handled it.
    async fn subscribe(&self, consumer: &str) -> Result<(), StoreError>;
    /// Up to `limit` changes that pass `filter` after what `consumer` committed, oldest
    /// first. The changes the filter leaves are not decoded, as in AWS they never reach
    /// the function.
    async fn read(&self, consumer: &str, filter: &Filter, limit: usize) -> Result<Batch, StoreError>;
    /// `consumer` has handled every change up to and including the position `through` (a
    /// change's [`Change::sequence`], or a batch's [`Batch::through`]).
    async fn commit(&self, consumer: &str, through: &str) -> Result<(), StoreError>;
}

/// The changes of a DynamoDB stream event, as Lambda delivers them (`Records[].dynamodb`
/// with `Keys`, `NewImage` and `SequenceNumber`); `None` for any other event.
pub fn from_lambda_event(event: &Json) -> Option<Vec<Change>> {
    let records = event.get("Records")?.as_array()?;
    records
        .iter()
        .map(|record| {
            if record.get("eventSource")?.as_str()? != "aws:dynamodb" {
                return None;
            }
            let dynamodb = record.get("dynamodb")?;
            let keys = item_from_json(dynamodb.get("Keys")?)?;
            let key = Key::of(&keys)?;
            let image = match dynamodb.get("NewImage") {
                Some(image) => Some(item_from_json(image)?),
                None => None,
            };
            let kind = ChangeKind::parse(record.get("eventName")?.as_str()?)?;
            Some(Change::new(dynamodb.get("SequenceNumber")?.as_str()?.to_owned(), kind, key, image))
        })
        .collect()
}

/// What a stream handler answers Lambda: the changes to retry (`ReportBatchItemFailures`).
/// Lambda retries from the first of them, so everything before it counts as handled.
pub fn batch_response(failed: &[&Change]) -> Json {
    json!({ "batchItemFailures": failed.iter().map(|c| json!({ "itemIdentifier": c.sequence })).collect::<Vec<_>>() })
}

/// An item in DynamoDB's JSON (`{"name": {"S": "…"}}`), as stream records carry it.
pub fn item_from_json(json: &Json) -> Option<Item> {
    json.as_object()?.iter().map(|(name, value)| Some((name.clone(), value_from_json(value)?))).collect()
}

fn value_from_json(json: &Json) -> Option<Value> {
    let (kind, value) = json.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "S" => Value::S(value.as_str()?.to_owned()),
        "N" => Value::N(value.as_str()?.parse().ok()?),
        "B" => Value::B(base64::engine::general_purpose::STANDARD.decode(value.as_str()?).ok()?),
        "BOOL" => Value::Bool(value.as_bool()?),
        "L" => {
            Value::L(value.as_array()?.iter().map(|v| Some(v.get("S")?.as_str()?.to_owned())).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

/// An item in DynamoDB's JSON: the inverse of [`item_from_json`], for tests and tools that
/// play the stream.
pub fn item_to_json(item: &Item) -> Json {
    let mut out = Map::new();
    for (name, value) in item {
        let encoded = match value {
            Value::S(s) => json!({ "S": s }),
            Value::N(n) => json!({ "N": n.to_string() }),
            Value::B(b) => json!({ "B": base64::engine::general_purpose::STANDARD.encode(b) }),
            Value::Bool(b) => json!({ "BOOL": b }),
            Value::L(l) => json!({ "L": l.iter().map(|s| json!({ "S": s })).collect::<Vec<_>>() }),
        };
        out.insert(name.clone(), encoded);
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_event_becomes_changes_and_failures_name_their_sequence() {
        let image = Item::from([
            ("pk".to_owned(), Value::S("ORG#org_1".into())),
            ("sk".to_owned(), Value::S("PHONE#1".into())),
            ("entity".to_owned(), Value::S("phone_number".into())),
            ("isActive".to_owned(), Value::Bool(true)),
            ("n".to_owned(), Value::N(-5)),
            ("b".to_owned(), Value::B(vec![0, 255])),
            ("l".to_owned(), Value::L(vec!["1".into()])),
        ]);
        let event = json!({ "Records": [
            { "eventSource": "aws:dynamodb", "eventName": "MODIFY", "dynamodb": {
                "Keys": { "pk": { "S": "ORG#org_1" }, "sk": { "S": "PHONE#1" } },
                "NewImage": item_to_json(&image), "SequenceNumber": "100" } },
            { "eventSource": "aws:dynamodb", "eventName": "REMOVE", "dynamodb": {
                "Keys": { "pk": { "S": "ORG#org_1" }, "sk": { "S": "PHONE#2" } }, "SequenceNumber": "101" } },
        ] });
        let changes = from_lambda_event(&event).unwrap();
        assert_eq!(changes[0].image(), Some(&image));
        assert_eq!(changes[0].entity(), Some("phone_number"));
        assert_eq!((changes[1].key.sk.as_str(), changes[1].image().is_none()), ("PHONE#2", true));
        assert_eq!((changes[0].kind, changes[1].kind), (ChangeKind::Modify, ChangeKind::Remove));
        assert_eq!(batch_response(&[&changes[1]]), json!({ "batchItemFailures": [{ "itemIdentifier": "101" }] }));
        assert!(from_lambda_event(&json!({ "source": "aws.events" })).is_none(), "a schedule is no stream event");
    }
}
