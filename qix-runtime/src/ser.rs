//! Encoding helpers the generated code calls.

use serde::ser::{Serialize, SerializeSeq, Serializer};

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
