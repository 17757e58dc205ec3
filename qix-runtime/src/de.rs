//! Decoding helpers the generated code calls: borrowed keys, engine numbers (`"NaN"`), and
//! enums from strings.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

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
