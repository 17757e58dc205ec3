//! Numbers decode exactly: every finite `f64` encodes and decodes to the same bits in typed
//! fields (`NxCell.qNum`, `Range.qMin`/`qMax` inside `NxRangeSelectInfo`, the `Vec<f64>`
//! of `NxTreeNode.qMaxPos`) and in `extra`; every number in the corpus layouts decodes to
//! the correctly rounded value of its text; `"NaN"`/`"Infinity"` keep working.
//!
//! serde_json's default float parser is not correctly rounded (`116.66666666666667` came
//! back as `116.66666666666669`); the workspace enables its `float_roundtrip` feature.

mod common;

use proptest::prelude::*;
use qix_generated::types::{NxCell, NxRangeSelectInfo, NxTreeNode, Range};
use serde_json::{Value, json};

fn cell(num: f64) -> NxCell {
    NxCell {
        num: Some(num),
        ..Default::default()
    }
}

/// Encodes then decodes `v` in every kind of place a number can be, checking the bits.
fn round_trips(v: f64) {
    let back: NxCell = serde_json::from_str(&serde_json::to_string(&cell(v)).unwrap()).unwrap();
    assert_eq!(
        back.num.map(f64::to_bits),
        Some(v.to_bits()),
        "NxCell.qNum {v:e}"
    );

    let sel = NxRangeSelectInfo {
        range: Some(Range {
            min: Some(v),
            max: Some(-v),
            ..Default::default()
        }),
        ..Default::default()
    };
    let back: NxRangeSelectInfo =
        serde_json::from_str(&serde_json::to_string(&sel).unwrap()).unwrap();
    let r = back.range.unwrap();
    assert_eq!(
        r.min.map(f64::to_bits),
        Some(v.to_bits()),
        "Range.qMin {v:e}"
    );
    assert_eq!(
        r.max.map(f64::to_bits),
        Some((-v).to_bits()),
        "Range.qMax {v:e}"
    );

    let node = NxTreeNode {
        max_pos: vec![v, 1.0, -v],
        ..Default::default()
    };
    let back: NxTreeNode = serde_json::from_str(&serde_json::to_string(&node).unwrap()).unwrap();
    let bits: Vec<u64> = back.max_pos.iter().map(|x| x.to_bits()).collect();
    assert_eq!(
        bits,
        [v.to_bits(), 1f64.to_bits(), (-v).to_bits()],
        "qMaxPos {v:e}"
    );

    // An unknown property keeps its number in `extra`.
    let mut c = NxCell::default();
    c.extra.insert("qCustom", json!(v));
    let back: NxCell = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    let got = back.extra.get("qCustom").and_then(Value::as_f64);
    assert_eq!(got.map(f64::to_bits), Some(v.to_bits()), "extra {v:e}");
}

#[test]
fn known_hard_numbers_decode_exactly() {
    let text = r#"{"qNum": 116.66666666666667}"#;
    let c: NxCell = serde_json::from_str(text).unwrap();
    assert_eq!(
        c.num.unwrap().to_bits(),
        116.666_666_666_666_67_f64.to_bits()
    );
    for v in [
        116.666_666_666_666_67,
        0.1,
        0.300_000_000_000_000_04,
        1e23,
        2.225_073_858_507_201_4e-308,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        -0.0,
        0.0,
        9_007_199_254_740_993.0,
        1.797_693_134_862_315_7e308,
        123_456_789_012_345.67,
    ] {
        round_trips(v);
    }
}

#[test]
fn nan_and_infinity_strings_keep_working() {
    for (text, check) in [
        ("\"NaN\"", f64::is_nan as fn(f64) -> bool),
        ("\"Infinity\"", |v: f64| v == f64::INFINITY),
        ("\"-Infinity\"", |v: f64| v == f64::NEG_INFINITY),
    ] {
        let c: NxCell = serde_json::from_str(&format!(r#"{{"qNum": {text}}}"#)).unwrap();
        let v = c.num.unwrap();
        assert!(check(v), "{text}");
        let out = serde_json::to_string(&c).unwrap();
        assert!(out.contains(text), "{out}");
        let n: NxTreeNode =
            serde_json::from_str(&format!(r#"{{"qMaxPos": [{text}, 1]}}"#)).unwrap();
        assert!(check(n.max_pos[0]), "{text}");
        assert!(serde_json::to_string(&n).unwrap().contains(text));
    }
}

/// Every number token in the corpus layouts, as written by real engines.
fn corpus_numbers() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Number(n) => out.push(n.to_string()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in common::layout_files() {
        let text = std::fs::read_to_string(f).unwrap();
        // Tokens straight from the text: what the engine wrote, before any parser.
        let mut tokens = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        let mut in_string = false;
        while i < b.len() {
            let c = b[i];
            if in_string {
                match c {
                    b'\\' => i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if c == b'"' {
                in_string = true;
            } else if c == b'-' || c.is_ascii_digit() {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                tokens.push(text[start..i].to_string());
                continue;
            }
            i += 1;
        }
        out.extend(tokens);
        let v: Value = serde_json::from_str(&text).unwrap();
        walk(&v, &mut out);
    }
    out
}

#[test]
fn every_corpus_number_decodes_to_its_correctly_rounded_value() {
    let numbers = corpus_numbers();
    assert!(
        numbers.len() > 1000,
        "only {} numbers in the corpus",
        numbers.len()
    );
    let mut fractional = 0;
    for token in &numbers {
        let want: f64 = token.parse().unwrap_or_else(|e| panic!("{token}: {e}"));
        fractional += usize::from(want.fract() != 0.0);
        let c: NxCell = serde_json::from_str(&format!(r#"{{"qNum": {token}}}"#)).unwrap();
        assert_eq!(
            c.num.unwrap().to_bits(),
            want.to_bits(),
            "typed field: {token}"
        );
        let c: NxCell = serde_json::from_str(&format!(r#"{{"qOther": {token}}}"#)).unwrap();
        let got = c.extra.get("qOther").and_then(Value::as_f64).unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "extra: {token}");
        round_trips(want);
    }
    assert!(fractional > 100, "only {fractional} non-integral numbers");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_finite_f64_round_trips_bit_for_bit(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        prop_assume!(v.is_finite());
        round_trips(v);
    }

    #[test]
    fn any_decimal_text_decodes_correctly_rounded(
        mantissa in 1u64..10_000_000_000_000_000_000,
        exp in -330i32..310,
        negative in any::<bool>(),
    ) {
        let token = format!("{}{mantissa}e{exp}", if negative { "-" } else { "" });
        let want: f64 = token.parse().unwrap();
        prop_assume!(want.is_finite());
        let c: NxCell = serde_json::from_str(&format!(r#"{{"qNum": {token}}}"#)).unwrap();
        prop_assert_eq!(c.num.unwrap().to_bits(), want.to_bits(), "{}", token);
    }
}
