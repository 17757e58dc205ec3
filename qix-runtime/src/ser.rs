//! Encoding helpers the generated code calls.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Writes an engine number: finite values as JSON numbers, the others as the strings the
/// engine uses (`"NaN"`, `"Infinity"`, `"-Infinity"`); JSON has no spelling for them.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub f64);

impl Serialize for Num {
    #[inline]
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            // Integral values are written as integers, as the engine does; not -0.0,
            // whose sign an integer would lose.
            if v.fract() == 0.0
                && v.abs() < 9.007_199_254_740_992e15
                && !(v == 0.0 && v.is_sign_negative())
            {
                s.serialize_i64(v as i64)
            } else {
                s.serialize_f64(v)
            }
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

/// A list of engine numbers.
#[derive(Debug, Clone, Copy)]
pub struct Nums<'a>(pub &'a [f64]);

impl Serialize for Nums<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Num(*v))?;
        }
        seq.end()
    }
}

/// How a field of a generated struct writes its map entry: absent values (`None`, an
/// empty list the input did not have) write nothing; engine numbers write as [`Num`].
#[doc(hidden)]
pub trait EncodeField {
    /// `present`: a list that was on the wire though empty is written back (as `[]`).
    fn encode_field<M: SerializeMap>(
        &self,
        m: &mut M,
        key: &'static str,
        present: bool,
    ) -> Result<(), M::Error>;
}

impl<T: crate::de::Plain + Serialize> EncodeField for Option<T> {
    #[inline]
    fn encode_field<M: SerializeMap>(
        &self,
        m: &mut M,
        key: &'static str,
        _present: bool,
    ) -> Result<(), M::Error> {
        match self {
            Some(v) => m.serialize_entry(key, v),
            None => Ok(()),
        }
    }
}

impl EncodeField for Option<f64> {
    #[inline]
    fn encode_field<M: SerializeMap>(
        &self,
        m: &mut M,
        key: &'static str,
        _present: bool,
    ) -> Result<(), M::Error> {
        match *self {
            Some(v) => m.serialize_entry(key, &Num(v)),
            None => Ok(()),
        }
    }
}

impl<T: crate::de::Plain + Serialize> EncodeField for Vec<T> {
    #[inline]
    fn encode_field<M: SerializeMap>(
        &self,
        m: &mut M,
        key: &'static str,
        present: bool,
    ) -> Result<(), M::Error> {
        if self.is_empty() && !present {
            return Ok(());
        }
        m.serialize_entry(key, self)
    }
}

impl EncodeField for Vec<f64> {
    #[inline]
    fn encode_field<M: SerializeMap>(
        &self,
        m: &mut M,
        key: &'static str,
        present: bool,
    ) -> Result<(), M::Error> {
        if self.is_empty() && !present {
            return Ok(());
        }
        m.serialize_entry(key, &Nums(self))
    }
}
