//! [`Extra`]: what a generated struct keeps beside its typed fields, so that decoding and
//! encoding again gives the same JSON.

use std::fmt;

use serde::de::MapAccess;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::de::Key;

/// Properties a generated type does not know (custom properties on generic objects,
/// fields of newer engines), plus which array properties were present though empty.
///
/// Both are written back on encode: reading properties and setting them again loses
/// nothing. Build structs with `..Default::default()`, which leaves this empty.
#[derive(Clone, Default, PartialEq)]
pub struct Extra {
    fields: Map<String, Value>,
    /// Bit i set: the i-th array property was present on the wire (even if empty).
    lists: u64,
}

impl Extra {
    /// An unknown property by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// Sets an unknown property (a custom property, or a field newer than this crate).
    pub fn insert(&mut self, name: impl Into<String>, value: Value) -> Option<Value> {
        self.fields.insert(name.into(), value)
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.fields.remove(name)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.fields.iter()
    }

    /// The unknown properties as a JSON map.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
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
        self.fields.insert(key.into_string(), value);
        Ok(())
    }

    #[doc(hidden)]
    #[inline]
    pub fn serialize_entries<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.fields.iter()).finish()
    }
}
