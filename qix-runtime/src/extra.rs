//! [`Extra`]: what a generated struct keeps beside its typed fields, so that decoding and
//! encoding again gives the same JSON.

use std::fmt;
use std::sync::LazyLock;

use serde::de::MapAccess;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::de::Key;

/// Properties a generated type does not know (custom properties on generic objects,
/// fields of newer engines), plus which array properties were present though empty.
///
/// Both are written back on encode: reading properties and setting them again loses
/// nothing. Build structs with `..Default::default()`, which leaves this empty.
///
/// Every generated struct has one, and most have no unknown property, so the map is only
/// allocated for the first one: an `Extra` is two words (a data-page cell holds several).
#[derive(Clone, Default)]
pub struct Extra {
    fields: Option<Box<Map<String, Value>>>,
    /// Bit i set: the i-th array property was present on the wire (even if empty).
    lists: u64,
}

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl Extra {
    /// An unknown property by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.as_ref()?.get(name)
    }

    /// Sets an unknown property (a custom property, or a field newer than this crate).
    pub fn insert(&mut self, name: impl Into<String>, value: Value) -> Option<Value> {
        self.fields_mut().insert(name.into(), value)
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.fields.as_mut()?.remove(name)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.as_ref().is_none_or(|f| f.is_empty())
    }

    pub fn len(&self) -> usize {
        self.fields.as_ref().map_or(0, |f| f.len())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.fields().iter()
    }

    /// The unknown properties as a JSON map.
    pub fn fields(&self) -> &Map<String, Value> {
        self.fields.as_deref().unwrap_or(&EMPTY)
    }

    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.fields.get_or_insert_default()
    }

    #[doc(hidden)]
    #[inline]
    pub fn mark_list(&mut self, bit: u32) {
        self.lists |= 1 << bit;
    }

    #[doc(hidden)]
    #[inline]
    pub fn has_list(&self, bit: u32) -> bool {
        self.lists & (1 << bit) != 0
    }

    /// Decodes the value of an unknown key into the map (later duplicates win, as in
    /// `serde_json::Value`).
    #[doc(hidden)]
    #[inline]
    pub fn insert_next<'de, A: MapAccess<'de>>(
        &mut self,
        key: Key<'de>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let value: Value = map.next_value()?;
        self.fields_mut().insert(key.into_string(), value);
        Ok(())
    }

    #[doc(hidden)]
    #[inline]
    pub fn serialize_entries<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        if let Some(fields) = &self.fields {
            for (k, v) in fields.iter() {
                m.serialize_entry(k, v)?;
            }
        }
        Ok(())
    }
}

/// Equal when the same unknown properties and the same present lists are kept (an emptied
/// map equals no map).
impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        self.lists == other.lists && self.fields() == other.fields()
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Unknown properties may be secret ones (a `qPassword` in a custom property, or in
        // a type of a newer engine).
        let mut fields = Value::Object(self.fields().clone());
        crate::redact::value(&mut fields);
        let entries = fields.as_object().into_iter().flat_map(|m| m.iter());
        f.debug_map().entries(entries).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Extra;
    use serde_json::json;

    #[test]
    fn two_words_and_map_semantics() {
        assert_eq!(std::mem::size_of::<Extra>(), 16);
        let mut e = Extra::default();
        assert!(e.is_empty() && e.get("a").is_none() && e.fields().is_empty());
        assert_eq!(e.insert("a", json!(1)), None);
        assert_eq!(e.insert("a", json!(2)), Some(json!(1)));
        assert_eq!((e.len(), e.get("a")), (1, Some(&json!(2))));
        assert_eq!(e.remove("a"), Some(json!(2)));
        assert_eq!(e, Extra::default());
        e.mark_list(3);
        assert!(e.has_list(3) && !e.has_list(2));
        assert_ne!(e, Extra::default());
    }
}
