//! The checks of the typed fuzz targets (`fuzz/`: `typed_layout`, `typed_hypercube`,
//! `typed_properties`) run in every `cargo test`: every object of the corpus layouts up to
//! three levels deep, and those objects cut and mutated, decode into `GenericObjectLayout`,
//! `HyperCube` and `GenericObjectProperties` without a panic, and whatever decodes
//! round-trips to the same JSON. Deterministic (a fixed seed), a few seconds.

mod common;

use qix_generated::qix_runtime::__fuzz::typed_round_trip;
use qix_generated::types::{GenericObjectLayout, GenericObjectProperties, HyperCube};
use serde_json::Value;

fn objects() -> Vec<Vec<u8>> {
    fn collect(v: &Value, depth: usize, out: &mut Vec<Vec<u8>>) {
        if depth > 3 {
            return;
        }
        match v {
            Value::Object(m) => {
                out.push(v.to_string().into_bytes());
                m.values().for_each(|c| collect(c, depth + 1, out));
            }
            Value::Array(a) => a.iter().take(4).for_each(|c| collect(c, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in common::layout_files() {
        let text = std::fs::read_to_string(f).unwrap();
        collect(&serde_json::from_str(&text).unwrap(), 0, &mut out);
    }
    assert!(out.len() > 50);
    out
}

fn check(data: &[u8]) {
    typed_round_trip::<GenericObjectLayout>(data);
    typed_round_trip::<HyperCube>(data);
    typed_round_trip::<GenericObjectProperties>(data);
}

#[test]
fn typed_decoding_holds_on_corpus_objects_and_their_mutations() {
    let objects = objects();
    for o in &objects {
        check(o);
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    const BYTES: &[u8] = br#"{}[]",:0-1.5e308"NaN"true"#;
    // Small objects only: each check decodes three types.
    let small: Vec<&Vec<u8>> = objects.iter().filter(|o| o.len() < 4096).collect();
    for _ in 0..3000 {
        let mut s = small[next(small.len())].clone();
        for _ in 0..1 + next(3) {
            if s.is_empty() {
                break;
            }
            let at = next(s.len());
            match next(4) {
                0 => s.truncate(at),
                1 => s[at] = BYTES[next(BYTES.len())],
                2 => {
                    s.remove(at);
                }
                _ => s.insert(at, BYTES[next(BYTES.len())]),
            }
        }
        check(&s);
    }
}
