//! What the fuzz targets check (`fuzz/fuzz_targets/`), shared with the property tests that
//! run the same checks on generated inputs in every `cargo test`. Each function panics
//! when an invariant breaks; any other outcome (an error for bad input) is fine.

use serde::de::IgnoredAny;
use serde_json::Value;

use crate::envelope::{self, Incoming, Outcome};

/// The structural scanner: the SSE2 and the scalar scans agree at every bracket, and on
/// text whose first value is valid JSON the scan ends where serde_json does.
pub fn envelope_scan(data: &[u8]) {
    for (i, &c) in data.iter().enumerate().take(64) {
        if c == b'{' || c == b'[' {
            let scalar = envelope::scalar_nested(data, i, 0, false);
            #[cfg(target_arch = "x86_64")]
            {
                let simd = envelope::sse2::skip_nested(data, i);
                assert_eq!(simd, scalar, "SSE2 and scalar scans disagree at byte {i}");
            }
            if let Some(end) = scalar {
                assert!(end > i && end <= data.len());
                assert!(matches!(data[end - 1], b'}' | b']'));
            }
        }
    }
    let start = data
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(data.len());
    if !matches!(data.get(start), Some(b'{' | b'[' | b'"')) {
        return;
    }
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<IgnoredAny>();
    if let Some(Ok(_)) = stream.next() {
        let end = stream.byte_offset();
        assert_eq!(
            envelope::skip_value(data, start),
            Some(end),
            "the scan and serde_json end the first value at different bytes"
        );
    }
}

/// The frame parser: never panics; what it finds in valid JSON is what serde_json finds.
pub fn frame_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = envelope::parse(text);
    let Ok(incoming) = parsed else {
        return;
    };
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(text) else {
        // Only `result` is located without validation: the rest was valid, so the frame
        // is invalid inside `result`, which the caller's decode reports.
        return;
    };
    match incoming {
        Incoming::Response { id, outcome, .. } => {
            assert_eq!(v.get("id").and_then(Value::as_i64), Some(id));
            match outcome {
                Outcome::Result(raw) => {
                    let r: Value = serde_json::from_str(raw.get()).expect("a located result");
                    assert_eq!(Some(&r), v.get("result"));
                }
                Outcome::Error(e) => {
                    let code = v["error"].get("code").and_then(Value::as_i64).unwrap_or(0);
                    assert_eq!(i64::from(e.code), code);
                }
            }
        }
        Incoming::Notification { method, params, .. } => {
            assert_eq!(v.get("method").and_then(Value::as_str), Some(method));
            if let Some(p) = params {
                let p: Value = serde_json::from_str(p.get()).expect("validated params");
                assert_eq!(Some(&p), v.get("params"));
            }
        }
    }
    // Whatever a hook or a log would see of it is still JSON.
    let redacted = crate::redact::frame(text);
    serde_json::from_str::<IgnoredAny>(&redacted).expect("a redacted frame is JSON");
}

/// Typed decoding (`T` a generated type): never panics, and what decodes encodes to JSON
/// that decodes and encodes to the same text.
pub fn typed_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let once = serde_json::to_string(&value).expect("a decoded value encodes");
    let again: T = serde_json::from_str(&once)
        .unwrap_or_else(|e| panic!("what was encoded does not decode ({e}): {once}"));
    let twice = serde_json::to_string(&again).expect("a decoded value encodes");
    assert_eq!(once, twice, "a second round trip changed the JSON");
}

/// The delta protocol's patch applier, fed `[base, ops]` (any base, any operations) or
/// `[a, b]` (two values, patched from one to the other):
/// - no input panics; an applied patch leaves valid JSON that survives a text round trip;
/// - the patch `json_patch::diff` computes from `a` to `b`, with its root operations
///   written the engine's way (`"/"`), turns `a` into `b` (unless a root member is named
///   `""`, which the engine's convention cannot address).
pub fn delta_patch(data: &[u8]) {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let [a, b] = <[Value; 2]>::try_from(items).unwrap_or([Value::Null, Value::Null]);
    if let Ok(ops) = serde_json::from_value::<Vec<crate::delta::Op>>(b.clone()) {
        let mut target = Some(a.clone());
        if crate::delta::apply(&mut target, ops).is_ok() {
            if let Some(v) = target {
                let text = v.to_string();
                let back: Value = serde_json::from_str(&text).expect("a patched value is JSON");
                assert_eq!(back, v, "a patched value survives a text round trip");
            }
        }
    }
    // The engine's `"/"` is the whole value, so a root member named `""` (RFC 6901's `/`)
    // cannot be addressed its way; engine results have none.
    let root_empty_key = |v: &Value| v.as_object().is_some_and(|m| m.contains_key(""));
    if root_empty_key(&a) || root_empty_key(&b) {
        return;
    }
    let mut patch = serde_json::to_value(json_patch::diff(&a, &b)).expect("a diff serializes");
    for op in patch.as_array_mut().into_iter().flatten() {
        for key in ["path", "from"] {
            if op.get(key).and_then(Value::as_str) == Some("") {
                op[key] = Value::from("/");
            }
        }
    }
    let ops: Vec<crate::delta::Op> = serde_json::from_value(patch).expect("a diff is a patch");
    let mut target = Some(a);
    crate::delta::apply(&mut target, ops).expect("a computed diff applies");
    assert_eq!(target.as_ref(), Some(&b), "a computed diff turns a into b");
}
