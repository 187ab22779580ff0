//! Reading JSON leniently: every level of a notification is read straight into structs
//! whose fields are all lenient, so a value of an unexpected type never fails its object.
//! A message or status keeps the exact bytes Meta sent ([`Raw`]).

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::marker::PhantomData;

/// An object read as `T` (whose fields are all lenient, so it cannot fail); any other JSON
/// value is `None`.
pub(super) struct Lenient<T>(pub(super) Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A list whose elements are read as `Lenient<T>`: those that are not objects are counted;
/// anything but a list is an empty list.
pub(super) struct LenientList<T> {
    pub(super) items: Vec<T>,
    pub(super) malformed: usize,
}

impl<T> Default for LenientList<T> {
    fn default() -> Self {
        Self { items: Vec::new(), malformed: 0 }
    }
}

/// What `LenientList` reads each element as.
pub(super) trait Element<'de>: Sized {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error>;
}

impl<'de, T: Deserialize<'de>> Element<'de> for T {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<Lenient<T>>()?.map(|l| l.0))
    }
}

/// A message or status kept as the exact bytes Meta sent, whatever JSON value it is.
pub(super) struct Raw<'a>(pub(super) &'a RawValue);

impl<'de: 'a, 'a> Element<'de> for Raw<'a> {
    fn next<A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<&'de RawValue>()?.map(|raw| Some(Raw(raw))))
    }
}

impl<'de, T: Element<'de>> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor::<T, true>(PhantomData))
    }
}

/// The notification's own list of entries: anything but a list means it is not one.
pub(super) struct StrictList<T>(pub(super) LenientList<T>);

impl<'de, T: Element<'de>> Deserialize<'de> for StrictList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor::<T, false>(PhantomData)).map(StrictList)
    }
}

/// Reads a list element by element; when `LENIENT`, any other JSON value reads as an
/// empty list instead of failing what holds it.
struct ListVisitor<T, const LENIENT: bool>(PhantomData<T>);

impl<T, const LENIENT: bool> ListVisitor<T, LENIENT> {
    fn not_a_list<E: de::Error>(self, found: de::Unexpected) -> Result<LenientList<T>, E> {
        if LENIENT { Ok(LenientList::default()) } else { Err(E::invalid_type(found, &"a list")) }
    }
}

impl<'de, T: Element<'de>, const LENIENT: bool> Visitor<'de> for ListVisitor<T, LENIENT> {
    type Value = LenientList<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(if LENIENT { "any JSON value" } else { "a list" })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = LenientList::default();
        while let Some(element) = T::next(&mut seq)? {
            match element {
                Some(item) => list.items.push(item),
                None => list.malformed += 1,
            }
        }
        Ok(list)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.not_a_list(de::Unexpected::Map)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Str(value))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Signed(value))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Unsigned(value))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Float(value))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Bool(value))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.not_a_list(de::Unexpected::Unit)
    }
}

/// Epoch seconds, which Meta writes as a string of digits.
pub(super) fn epoch(value: Loose<'_>) -> Option<i64> {
    let seconds: i64 = value.text()?.parse().ok()?;
    (0..=253_402_300_799).contains(&seconds).then_some(seconds)
}

/// A scalar read leniently: a string (borrowed from the body when it has no escapes) or an
/// integer; any other JSON value is `Other`, so one odd field never fails its object.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Loose<'a> {
    Text(Cow<'a, str>),
    Other,
}

/// Longest scalar kept (bytes); a longer one is not something Meta sends.
const MAX_TEXT: usize = 4096 * 4;

impl<'a> Loose<'a> {
    /// A non-empty string of bounded size.
    pub(super) fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Loose::Text(text) if !text.is_empty() && text.len() <= MAX_TEXT => Some(text),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}
