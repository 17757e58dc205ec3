//! The checks of the `envelope_scan` and `frame_parse` fuzz targets (`fuzz/`), run in every
//! `cargo test` on inputs made here: the real frames of `../shared/corpus/traffic`, those
//! frames cut and mutated, and random JSON-like text heavy in brackets, quotes and
//! backslashes. Deterministic (a fixed seed), a few seconds.

#[path = "common/data.rs"]
mod data;

use data::{corpus_files, shared};
use qix_runtime::__fuzz::{envelope_scan, frame_parse};

/// xorshift64*: a fixed sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in corpus_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        if let Ok(serde_json::Value::Array(rows)) = serde_json::from_str(&text) {
            for row in rows {
                for v in row.as_object().into_iter().flat_map(|o| o.values()) {
                    out.push(v.to_string().into_bytes());
                }
            }
        } else {
            for line in text.lines() {
                if let Some(frame) = line.strip_prefix("--> ").or(line.strip_prefix("<-- ")) {
                    out.push(frame.as_bytes().to_vec());
                }
            }
        }
    }
    assert!(out.len() > 20, "too few frames in the corpus");
    out
}

/// Random text from the bytes that matter to the scanner, long enough to cross 64-byte
/// blocks.
fn random_text(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b"\\\\",
        b"\\\"",
        b",",
        b":",
        b" ",
        b"1",
        b"-2.5e3",
        b"a",
        b"null",
        b"\"qPassword\"",
        b"\"id\"",
        b"\"result\"",
        "é".as_bytes(),
    ];
    let len = rng.below(200);
    let mut out = Vec::new();
    for _ in 0..len {
        out.extend_from_slice(ALPHABET[rng.below(ALPHABET.len())]);
    }
    out
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len());
        match rng.below(4) {
            0 => v.truncate(at),
            1 => v[at] = b"{}[]\"\\,: x"[rng.below(10)],
            2 => {
                v.remove(at);
            }
            _ => v.insert(at, b"{}[]\"\\"[rng.below(6)]),
        }
    }
    v
}

#[test]
fn envelope_scan_and_frame_parse_hold_on_real_mutated_and_random_input() {
    let frames = frames();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for f in &frames {
        envelope_scan(f);
        frame_parse(f);
    }
    for _ in 0..4000 {
        let f = &frames[rng.below(frames.len())];
        let m = mutate(&mut rng, f);
        envelope_scan(&m);
        frame_parse(&m);
        let r = random_text(&mut rng);
        envelope_scan(&r);
        frame_parse(&r);
        // As a response's result, so the parser gets past the envelope.
        let mut wrapped = br#"{"jsonrpc":"2.0","id":7,"result":"#.to_vec();
        wrapped.extend_from_slice(&r);
        wrapped.push(b'}');
        frame_parse(&wrapped);
        envelope_scan(&wrapped);
    }
}

/// Crashes the fuzz targets found, kept as inputs (the unit tests next to the scanner
/// explain each).
#[test]
fn fuzz_regressions() {
    // envelope_scan: a backslash outside strings; SSE2 and scalar scans disagreed.
    let mut long = br#"{\"}"#.to_vec();
    long.extend_from_slice(&[b' '; 80]);
    envelope_scan(br#"{\"}"#);
    envelope_scan(&long);
    // delta_patch: a root member named "" is the engine's "/" (the whole value); the
    // computed-diff check now skips what the engine's convention cannot express.
    qix_runtime::__fuzz::delta_patch(
        br#"[{"col":0,"colspna":24,"namee":"sZAVcpj","row":0,"rowspan":6,"type":"auto-chart"},{"":24,"namee":"sZAVcpj","":"gCCkr","row":6,"rowsshowTpan":6,"type":"auto-chart"}]"#,
    );
}

/// The real layouts of `../shared/corpus/layouts`, as values.
fn layouts() -> Vec<serde_json::Value> {
    let dir = shared().join("corpus/layouts");
    let mut out = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap().path()) {
            out.push(serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap());
        }
    }
    assert!(out.len() >= 10, "the corpus layouts are missing");
    out
}

/// Random edits of a value: replace a leaf, drop a member, grow an array, rename a key
/// (with `~` and `/` in it, which pointers escape).
fn edit(rng: &mut Rng, v: &mut serde_json::Value, depth: usize) {
    use serde_json::Value;
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = &keys[rng.below(keys.len())];
            match rng.below(4) {
                0 => {
                    m.remove(k);
                }
                1 => {
                    let x = m.remove(k).unwrap_or_default();
                    m.insert(format!("{k}~/{}", rng.below(9)), x);
                }
                _ if depth < 12 => edit(rng, m.get_mut(k).unwrap(), depth + 1),
                _ => {
                    m.insert(k.clone(), Value::from(rng.below(100)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() && depth < 12 && rng.below(3) > 0 => {
            let i = rng.below(a.len());
            edit(rng, &mut a[i], depth + 1)
        }
        Value::Array(a) => a.push(Value::from("new")),
        other => *other = Value::from(rng.below(1000) as f64 + 0.5),
    }
}

/// The check of the `delta_patch` fuzz target on real layouts and edits of them, and on
/// hand-made and mutated patch lists.
#[test]
fn delta_patch_checks_hold_on_real_layouts_and_random_edits() {
    use qix_runtime::__fuzz::delta_patch;
    let mut rng = Rng(0x51f1_5eed_d371_7a01);
    let layouts = layouts();
    for _ in 0..300 {
        let a = layouts[rng.below(layouts.len())].clone();
        let mut b = a.clone();
        for _ in 0..1 + rng.below(4) {
            edit(&mut rng, &mut b, 0);
        }
        delta_patch(serde_json::json!([a, b]).to_string().as_bytes());
        let ops = serde_json::json!([
            {"op": "replace", "path": "/qInfo/qId", "value": "x"},
            {"op": "add", "path": "/-", "value": 1},
            {"op": "move", "from": "/qInfo", "path": "/moved"},
            {"op": "copy", "from": "/", "path": "/self"},
            {"op": "remove", "path": "/"},
        ]);
        let input = serde_json::json!([a, ops]).to_string().into_bytes();
        delta_patch(&input);
        delta_patch(&mutate(&mut rng, &input));
    }
}
