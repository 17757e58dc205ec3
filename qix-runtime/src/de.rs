//! Decoding helpers the generated code calls: borrowed keys, engine numbers (`"NaN"`),
//! enums from strings, and the one struct visitor every generated struct shares
//! ([`Fields`], [`decode_struct`]).
//!
//! The generated crate is most of what its users compile, so the logic lives here, once,
//! and a generated struct only lists its fields (see the `__struct!` macro). Field values
//! decode through [`DecodeField`], chosen by the field's type: engine numbers accept
//! `"NaN"`/`"Infinity"`, lists decode in place, everything else through its own serde impl.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A map key, borrowed from the input when it can be.
pub struct Key<'de>(Cow<'de, str>);

impl<'de> Key<'de> {
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[inline]
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }
            #[inline]
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            #[inline]
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Parses the engine's spelled-out non-finite numbers.
fn special(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "+Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or \"NaN\", \"Infinity\", \"-Infinity\"")
    }
    #[inline]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        special(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// An engine number (`f64`, or `"NaN"`/`"Infinity"`/`"-Infinity"`); a missing one is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Num(pub f64);

impl<'de> de::Deserialize<'de> for Num {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumVisitor).map(Num)
    }
}

/// An optional engine number: `null` or absent is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OptNum(pub Option<f64>);

impl<'de> de::Deserialize<'de> for OptNum {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptNum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                NumVisitor.expecting(f)
            }
            #[inline]
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OptNum, E> {
                Ok(OptNum(Some(v)))
            }
            #[inline]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptNum, E> {
                Ok(OptNum(Some(v as f64)))
            }
            #[inline]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptNum, E> {
                Ok(OptNum(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptNum, E> {
                NumVisitor.visit_str(v).map(|n| OptNum(Some(n)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptNum, E> {
                Ok(OptNum(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<OptNum, E> {
                Ok(OptNum(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of engine numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nums(pub Vec<f64>);

impl<'de> de::Deserialize<'de> for Nums {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nums;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nums, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(Num(n)) = seq.next_element()? {
                    out.push(n);
                }
                Ok(Nums(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Decodes an enum from its wire string with `from_wire` (which never fails).
#[inline]
pub fn enum_str<'de, D: Deserializer<'de>, T>(
    d: D,
    name: &'static str,
    from_wire: fn(&str) -> T,
) -> Result<T, D::Error> {
    struct V<T> {
        name: &'static str,
        from_wire: fn(&str) -> T,
        _t: PhantomData<T>,
    }
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a {} value (a string)", self.name)
        }
        #[inline]
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.from_wire)(v))
        }
    }
    d.deserialize_str(V {
        name,
        from_wire,
        _t: PhantomData,
    })
}

/// Decoding into a value that is already in place: generated structs and lists of them.
///
/// A list decodes each element where it will stay (in the list's buffer) instead of building
/// it on the stack and moving it in: a data page is a thousand `NxCell`s of a few hundred
/// bytes each, and those moves were a fifth of its decode time.
#[doc(hidden)]
pub trait DecodeInPlace: Sized {
    /// Decodes into `place`, which is [`next_after`](Self::next_after)'s value (fields the
    /// input does not have keep their value).
    fn decode_in_place<'de, D: Deserializer<'de>>(d: D, place: &mut Self) -> Result<(), D::Error>;

    /// An empty value to decode the element after `prev` of a list into (for an enum, a
    /// placeholder that decoding replaces).
    fn next_after(prev: Option<&Self>) -> Self;
}

/// A seed that decodes into `self.0`.
#[doc(hidden)]
pub struct InPlace<'a, T>(pub &'a mut T);

impl<'de, T: DecodeInPlace> DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        T::decode_in_place(d, self.0)
    }
}

/// Decodes the value of the current map entry into `place` (generated visitors call it for
/// lists of structs).
#[doc(hidden)]
#[inline]
pub fn next_value_in_place<'de, A: MapAccess<'de>, T: DecodeInPlace>(
    map: &mut A,
    place: &mut T,
) -> Result<(), A::Error> {
    map.next_value_seed(InPlace(place))
}

impl<T: DecodeInPlace> DecodeInPlace for Vec<T> {
    fn decode_in_place<'de, D: Deserializer<'de>>(d: D, place: &mut Self) -> Result<(), D::Error> {
        struct V<'a, T>(&'a mut Vec<T>);
        impl<'de, T: DecodeInPlace> Visitor<'de> for V<'_, T> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let v = self.0;
                v.clear();
                loop {
                    let at = v.len();
                    let noted = |e| {
                        note_error_at(Segment::Index(at));
                        e
                    };
                    if v.len() < v.capacity() {
                        // Decode straight into the spare slot; drop it again at the end.
                        v.push(T::next_after(v.last()));
                        let slot = v.last_mut().expect("just pushed");
                        if seq
                            .next_element_seed(InPlace(slot))
                            .map_err(noted)?
                            .is_none()
                        {
                            v.pop();
                            // A row shorter than the one before it: give the rest back.
                            if v.capacity() > 2 * v.len() + 8 {
                                v.shrink_to_fit();
                            }
                            return Ok(());
                        }
                    } else {
                        // Full: decode aside, then let the push grow the buffer.
                        let mut next = T::next_after(v.last());
                        if seq
                            .next_element_seed(InPlace(&mut next))
                            .map_err(noted)?
                            .is_none()
                        {
                            return Ok(());
                        }
                        v.push(next);
                    }
                }
            }
        }
        d.deserialize_seq(V(place))
    }

    /// Rows of a matrix have the same length: reserve the previous row's.
    #[inline]
    fn next_after(prev: Option<&Self>) -> Self {
        Vec::with_capacity(prev.map_or(0, Vec::len))
    }
}

/// A type stored in a generated struct as `Option<T>` or `Vec<T>` and decoded and encoded by
/// its own serde impls: every field type but engine numbers (`f64`), which have their own
/// [`DecodeField`]/[`crate::ser::EncodeField`] impls.
#[doc(hidden)]
pub trait Plain {}

macro_rules! plain {
    ($($t:ty),*) => {
        $(
            impl Plain for $t {}
            impl DecodeInPlace for $t {
                #[inline]
                fn decode_in_place<'de, D: Deserializer<'de>>(d: D, place: &mut Self) -> Result<(), D::Error> {
                    *place = <$t as de::Deserialize>::deserialize(d)?;
                    Ok(())
                }
                #[inline]
                fn next_after(_prev: Option<&Self>) -> Self {
                    Self::default()
                }
            }
        )*
    };
}

plain!(
    bool,
    i8,
    u8,
    i32,
    i64,
    String,
    serde_json::Value,
    crate::Blob
);

impl<T: Plain> Plain for Box<T> {}
impl<T: Plain> Plain for Vec<T> {}

/// How a field of a generated struct decodes the value of its map entry.
#[doc(hidden)]
pub trait DecodeField {
    fn decode_field<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error>;
}

impl<T: Plain + de::DeserializeOwned> DecodeField for Option<T> {
    #[inline]
    fn decode_field<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = map.next_value()?;
        Ok(())
    }
}

impl DecodeField for Option<f64> {
    #[inline]
    fn decode_field<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = map.next_value::<OptNum>()?.0;
        Ok(())
    }
}

impl<T: DecodeInPlace> DecodeField for Vec<T> {
    #[inline]
    fn decode_field<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        map.next_value_seed(InPlace(self))
    }
}

impl DecodeField for Vec<f64> {
    #[inline]
    fn decode_field<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = map.next_value::<Nums>()?.0;
        Ok(())
    }
}

/// Decodes the value of the current entry into `place`; on failure, notes `wire` in the
/// error path (see [`take_error_path`]).
#[doc(hidden)]
#[inline]
pub fn field<'de, A: MapAccess<'de>, F: DecodeField>(
    place: &mut F,
    map: &mut A,
    wire: &'static str,
) -> Result<(), A::Error> {
    match place.decode_field(map) {
        Ok(()) => Ok(()),
        Err(e) => {
            note_error_at(Segment::Key(wire));
            Err(e)
        }
    }
}

/// A generated struct: its name for messages and the decoding of one map entry (the
/// generated part is a `match` on the wire names).
#[doc(hidden)]
pub trait Fields: Default {
    /// The spec's name of the type.
    const NAME: &'static str;

    /// Decodes the entry `key` (its value is next in `map`) into its field, or into
    /// `extra` when the key is not one of the known ones.
    fn decode_entry<'de, A: MapAccess<'de>>(
        &mut self,
        key: Key<'de>,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

/// Decodes a JSON object into a generated struct in place: fields the input does not have
/// keep their value.
#[doc(hidden)]
#[inline]
pub fn decode_struct<'de, D: Deserializer<'de>, T: Fields>(
    d: D,
    place: &mut T,
) -> Result<(), D::Error> {
    struct V<'a, T>(&'a mut T);
    impl<'de, T: Fields> Visitor<'de> for V<'_, T> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            expecting_object(f, T::NAME)
        }
        #[inline]
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Key<'de>>()? {
                self.0.decode_entry(key, &mut map)?;
            }
            Ok(())
        }
    }
    d.deserialize_map(V(place))
}

/// Not generic: one copy for every struct's visitor.
#[inline(never)]
fn expecting_object(f: &mut fmt::Formatter, name: &str) -> fmt::Result {
    write!(f, "a {name} object")
}

/// A step of the path to the value a decode failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Key(&'static str),
    Index(usize),
}

thread_local! {
    /// The path of the last decode failure on this thread, innermost step first: each
    /// generated field and list notes its step as the error passes through it. Only the
    /// failure path writes it, so a decode that succeeds pays nothing; decoding is
    /// synchronous, so the steps of one failure are never mixed with another's.
    static ERROR_PATH: RefCell<Vec<Segment>> = const { RefCell::new(Vec::new()) };
}

/// Longer than any real answer's nesting. Failures outside a call (a user's own decoding,
/// which never takes the path) would otherwise grow the list without end: past this, the
/// old steps are dropped.
const MAX_STEPS: usize = 256;

#[cold]
#[inline(never)]
fn note_error_at(step: Segment) {
    ERROR_PATH.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= MAX_STEPS {
            p.clear();
        }
        p.push(step);
    });
}

/// Forgets the path of an earlier failure: call before a decode whose path is wanted.
pub(crate) fn clear_error_path() {
    ERROR_PATH.with(|p| p.borrow_mut().clear());
}

/// The path of the last failure since [`clear_error_path`], as `qLayout.qHyperCube.qDataPages[0].qMatrix[2][1].qNum`
/// (empty when it failed at the top), and forgets it.
pub(crate) fn take_error_path() -> String {
    let steps = ERROR_PATH.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let mut out = String::new();
    for step in steps.iter().rev() {
        match step {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Cell(Option<i64>);

    impl DecodeInPlace for Cell {
        fn decode_in_place<'de, D: Deserializer<'de>>(
            d: D,
            place: &mut Self,
        ) -> Result<(), D::Error> {
            place.0 = Some(<i64 as de::Deserialize>::deserialize(d)?);
            Ok(())
        }
        fn next_after(_prev: Option<&Self>) -> Self {
            Self::default()
        }
    }

    fn rows(json: &str) -> Result<Vec<Vec<Cell>>, serde_json::Error> {
        let mut v = Vec::new();
        DecodeInPlace::decode_in_place(&mut serde_json::Deserializer::from_str(json), &mut v)?;
        Ok(v)
    }

    #[test]
    fn lists_decode_in_place() {
        let r = rows("[[1,2,3],[],[4],[5,6,7,8,9,10,11,12,13,14],[15]]").unwrap();
        let lens: Vec<usize> = r.iter().map(Vec::len).collect();
        assert_eq!(lens, [3, 0, 1, 10, 1]);
        assert_eq!(r[3][9], Cell(Some(14)));
        assert_eq!(r[4], [Cell(Some(15))]);
        // A short row after a long one does not keep the long one's buffer.
        assert!(r[4].capacity() <= 10);
        assert!(rows("[]").unwrap().is_empty());
        assert!(rows("null").is_err());
        assert!(rows("[[1,\"x\"]]").is_err());
        assert!(rows("[[1],2]").is_err());
    }

    #[test]
    fn failures_nobody_reads_do_not_pile_up() {
        clear_error_path();
        for _ in 0..10_000 {
            assert!(rows("[[1,\"x\"]]").is_err());
        }
        assert!(ERROR_PATH.with(|p| p.borrow().len()) <= MAX_STEPS);
        clear_error_path();
        assert!(rows("[[1],[2,3,\"x\"]]").is_err());
        assert_eq!(take_error_path(), "[1][2]");
        assert_eq!(take_error_path(), "");
    }
}
