//! Decoding a call's `result` into what the generated method returns.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::answer::Patched;
use crate::de::Key;
use crate::error::{DecodeError, Error, Result};
use crate::handle::{ObjectInfo, ObjectInner};
use crate::object::Object;
use crate::session::Session;

/// What a decoder gets beside the `result` JSON: the session, and the object the answer
/// opened (registered by the connection task when the answer arrived).
pub struct DecodeContext<'a> {
    session: &'a Session,
    opened: Option<&'a Arc<ObjectInner>>,
    patched: Option<&'a Patched>,
}

impl<'a> DecodeContext<'a> {
    pub(crate) fn new(session: &'a Session, opened: Option<&'a Arc<ObjectInner>>) -> Self {
        DecodeContext {
            session,
            opened,
            patched: None,
        }
    }

    pub(crate) fn with_patched(mut self, patched: Option<&'a Patched>) -> Self {
        self.patched = patched;
        self
    }

    pub fn session(&self) -> &Session {
        self.session
    }

    /// For a delta answer: the out-param's value after its patches (`Some(None)`: the
    /// engine removed it). [`decode::delta_out`](crate::decode::delta_out) reads it.
    pub fn patched(&self) -> Option<Option<&serde_json::Value>> {
        self.patched.map(|p| p.value.as_deref())
    }

    /// The handle for an object the answer named: the one registered on arrival (which a
    /// later `close` may already have closed), or a new registration.
    pub(crate) fn object(&self, info: ObjectInfo) -> Object {
        match self.opened {
            Some(o) if o.info.handle == info.handle && o.info.qtype == info.qtype => {
                Object::new(self.session.clone(), o.clone())
            }
            _ => self.session.register_object(info),
        }
    }
}

/// Decodes a call's `result` JSON into the call's output.
pub type Decoder<T> = fn(&DecodeContext<'_>, &str) -> Result<T>;

/// The `ObjectInterface` the engine answers with when a method opens an object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ObjectRef {
    #[serde(rename = "qType", default)]
    pub qtype: Option<String>,
    #[serde(rename = "qHandle", default)]
    pub handle: Option<i32>,
    #[serde(rename = "qGenericType", default)]
    pub generic_type: Option<String>,
    #[serde(rename = "qGenericId", default)]
    pub generic_id: Option<String>,
}

const RAW_LIMIT: usize = 64 * 1024;

/// The raw result for a [`DecodeError`]: redacted, then cut.
fn cut(raw: &str) -> String {
    let raw = crate::redact::frame(raw);
    let mut cut = raw.len().min(RAW_LIMIT);
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    raw[..cut].to_string()
}

/// A decode failure with the path of the failing field, as the generated types noted it
/// while the error passed through them (see [`crate::de::take_error_path`]): the fast path
/// pays nothing for it, and no second decode is needed to find it.
fn decode_error(raw: &str, method: &str, path: String, err: &dyn std::fmt::Display) -> Error {
    Error::Decode(Box::new(DecodeError {
        method: method.to_string(),
        path,
        // serde quotes the values it could not decode: not the secret ones.
        message: crate::redact::scrub(&err.to_string(), &crate::redact::secret_strings(raw)),
        raw: cut(raw),
    }))
}

/// The path of a failure inside out-param `name` (`qLayout.qHyperCube.qSize`).
fn under(name: &str) -> String {
    let inner = crate::de::take_error_path();
    if inner.is_empty() {
        name.to_string()
    } else if inner.starts_with('[') {
        format!("{name}{inner}")
    } else {
        format!("{name}.{inner}")
    }
}

/// Decodes the whole result as `T`.
pub fn all<T: DeserializeOwned>(raw: &str, method: &str) -> Result<T> {
    crate::de::clear_error_path();
    serde_json::from_str(raw)
        .map_err(|e| decode_error(raw, method, crate::de::take_error_path(), &e))
}

/// The value of one out-property; `T::default()` when the engine leaves it out (it omits
/// properties at their default value).
pub fn out<T: DeserializeOwned + Default>(
    raw: &str,
    name: &'static str,
    method: &str,
) -> Result<T> {
    crate::de::clear_error_path();
    let mut de = serde_json::Deserializer::from_str(raw);
    let found = OutSeed::<T> {
        name,
        _t: PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match found {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(e) => Err(decode_error(raw, method, under(name), &e)),
    }
}

/// The value of the one out-param of a delta method: read from the patched value when the
/// answer was a delta (see [`DecodeContext::patched`]), else from the text as [`out`] does.
pub fn delta_out<T: DeserializeOwned + Default>(
    ctx: &DecodeContext<'_>,
    raw: &str,
    name: &'static str,
    method: &str,
) -> Result<T> {
    let Some(patched) = ctx.patched() else {
        return out(raw, name, method);
    };
    let Some(value) = patched.filter(|v| !v.is_null()) else {
        return Ok(T::default());
    };
    crate::de::clear_error_path();
    T::deserialize(value).map_err(|e| {
        let path = under(name);
        let raw = value.to_string();
        decode_error(&raw, method, path, &e)
    })
}

/// Not generic: one copy for every output type.
#[inline(never)]
fn expecting_result(f: &mut fmt::Formatter, name: &str) -> fmt::Result {
    write!(f, "a result object with {name}")
}

struct OutSeed<T> {
    name: &'static str,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for OutSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for OutSeed<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        expecting_result(f, self.name)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.as_str() == self.name {
                out = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// The object an out-property opens, as a handle of this session.
pub fn object(
    ctx: &DecodeContext<'_>,
    raw: &str,
    name: &'static str,
    method: &str,
) -> Result<Object> {
    let r: Option<ObjectRef> = out(raw, name, method)?;
    into_object(ctx, r, name, method)
}

/// Turns an `ObjectInterface` into a handle; a null handle or type means "not found".
pub fn into_object(
    ctx: &DecodeContext<'_>,
    r: Option<ObjectRef>,
    name: &str,
    method: &str,
) -> Result<Object> {
    let r = r.unwrap_or_default();
    match (r.handle, r.qtype) {
        (Some(handle), Some(qtype)) => Ok(ctx.object(ObjectInfo {
            handle,
            qtype: qtype.into(),
            generic_type: r.generic_type,
            generic_id: r.generic_id,
        })),
        _ => Err(Error::ObjectNotFound {
            method: method.to_string(),
            detail: format!(
                "{name} has no qHandle/qType (the object does not exist or is not accessible)"
            ),
        }),
    }
}

impl crate::de::Plain for ObjectRef {}
