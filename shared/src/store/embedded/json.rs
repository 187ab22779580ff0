//! Items as the embedded store keeps them: one JSON object per item, each attribute by its
//! name, so that `sqlite3` and its `json_extract` read a stored item as it is. Strings,
//! numbers, booleans and lists of strings are themselves; binary values (sealed tokens,
//! digests) are `{"B": "<base64>"}`, the one object an attribute can be.

use crate::store::{Item, StoreError, Value};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The item's JSON text.
pub(crate) fn encode(item: &Item) -> String {
    serde_json::to_string(&AsJson(item)).expect("an item always serializes")
}

pub(crate) fn decode(json: &[u8]) -> Result<Item, StoreError> {
    let AsItem(item) =
        serde_json::from_slice(json).map_err(|e| StoreError::Unavailable(format!("corrupt item: {e}")))?;
    Ok(item)
}

/// One attribute's JSON (as SQLite's `->` gives it).
pub(crate) fn decode_value(json: &[u8]) -> Result<Value, StoreError> {
    let Attribute(value) =
        serde_json::from_slice(json).map_err(|e| StoreError::Unavailable(format!("corrupt attribute: {e}")))?;
    Ok(value)
}

/// An item read straight into its map: the attributes arrive in name order, as they were
/// written, so the map is built from them in one pass rather than searched once for each.
struct AsItem(Item);

impl<'de> Deserialize<'de> for AsItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = AsItem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AsItem, A::Error> {
        let mut attributes = Vec::with_capacity(map.size_hint().unwrap_or(24));
        while let Some((name, Attribute(value))) = map.next_entry::<String, Attribute>()? {
            attributes.push((name, value));
        }
        Ok(AsItem(Item::from_iter(attributes)))
    }
}

struct AsJson<'a>(&'a Item);

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            match value {
                Value::S(s) => map.serialize_entry(name, s)?,
                Value::N(n) => map.serialize_entry(name, n)?,
                Value::Bool(b) => map.serialize_entry(name, b)?,
                Value::L(list) => map.serialize_entry(name, list)?,
                Value::B(bytes) => map.serialize_entry(name, &Binary(bytes))?,
            }
        }
        map.end()
    }
}

struct Binary<'a>(&'a [u8]);

impl Serialize for Binary<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("B", &BASE64.encode(self.0))?;
        map.end()
    }
}

/// One attribute, told apart by its JSON type.
struct Attribute(Value);

impl<'de> Deserialize<'de> for Attribute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = Attribute;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, an integer, a boolean, a list of strings or {\"B\": base64}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Attribute, E> {
        Ok(Attribute(Value::S(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Attribute, E> {
        Ok(Attribute(Value::S(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Attribute, E> {
        Ok(Attribute(Value::N(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Attribute, E> {
        i64::try_from(v).map(|n| Attribute(Value::N(n))).map_err(|_| E::custom("a number beyond i64"))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Attribute, E> {
        Ok(Attribute(Value::Bool(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attribute, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(s) = seq.next_element::<String>()? {
            list.push(s);
        }
        Ok(Attribute(Value::L(list)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attribute, A::Error> {
        match (map.next_entry::<String, String>()?, map.next_key::<String>()?) {
            (Some((tag, encoded)), None) if tag == "B" => {
                BASE64.decode(encoded).map(|b| Attribute(Value::B(b))).map_err(de::Error::custom)
            }
            _ => Err(de::Error::custom("an object attribute holds exactly one key, B")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_type_round_trips_as_plain_json() {
        let item = Item::from([
            ("pk".to_owned(), Value::S("ORG#1".into())),
            ("n".to_owned(), Value::N(-7)),
            ("big".to_owned(), Value::N(i64::MAX)),
            ("ok".to_owned(), Value::Bool(true)),
            ("tags".to_owned(), Value::L(vec!["a".into(), "\"b\"".into()])),
            ("none".to_owned(), Value::L(vec![])),
            ("sealed".to_owned(), Value::B(vec![0, 1, 254, 255])),
            ("text".to_owned(), Value::S("{\"B\":\"AAE=\"} ✓".into())),
        ]);
        let json = encode(&item);
        assert_eq!(decode(json.as_bytes()).unwrap(), item);
        let plain: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(plain["pk"], "ORG#1");
        assert_eq!(plain["n"], -7);
        assert_eq!(plain["sealed"], serde_json::json!({"B": "AAH+/w=="}));
    }

    #[test]
    fn attributes_in_any_order_make_the_same_item_and_a_repeated_name_keeps_its_last_value() {
        let written = decode(br#"{"a": 1, "b": "x", "c": true}"#).unwrap();
        assert_eq!(decode(br#"{"c": true, "a": 1, "b": "x"}"#).unwrap(), written);
        assert_eq!(decode(br#"{"a": 0, "b": "x", "c": true, "a": 1}"#).unwrap(), written);
        assert_eq!(decode(b"{}").unwrap(), Item::new());
    }

    #[test]
    fn anything_else_is_a_corrupt_item() {
        for bad in [
            r#"{"x": 1.5}"#,
            r#"{"x": null}"#,
            r#"{"x": {"S": "a"}}"#,
            r#"{"x": {"B": "AA==", "C": "x"}}"#,
            r#"{"x": [1]}"#,
            "[]",
        ] {
            assert!(matches!(decode(bad.as_bytes()), Err(StoreError::Unavailable(_))), "{bad}");
        }
    }
}
