//! Reading the JSON-RPC envelope of an incoming frame without decoding its result: the
//! result is located (a byte range) and decoded later, by the caller, into its own type.
//!
//! The envelope's own members (`id`, `error`, `method`, `change`, …) are small and parsed
//! with serde_json. The `result` (a 64 KB data page, say) is only located: a structural
//! scan finds where it ends (64 bytes per step with SSE2 on x86_64), and the caller's typed
//! decode is the one pass that reads it. A result that is not valid JSON fails that decode
//! (an [`Error::Decode`](crate::Error::Decode) for the call); every other member is
//! validated here, and a malformed envelope ends the connection as before.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// What an incoming frame is.
pub(crate) enum Incoming<'a> {
    Response {
        id: i64,
        outcome: Outcome<'a>,
        change: Vec<i32>,
        close: Vec<i32>,
        /// `"delta": true`: the result's out-params are JSON-Patch lists.
        delta: bool,
    },
    Notification {
        method: &'a str,
        params: Option<Raw<'a>>,
        change: Vec<i32>,
        close: Vec<i32>,
    },
}

pub(crate) enum Outcome<'a> {
    Result(Raw<'a>),
    Error(WireError),
}

/// A JSON value of the frame, located but not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The value's text (a slice of the frame).
    pub(crate) fn get(&self) -> &'a str {
        self.0
    }
}

#[derive(Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    pub code: i32,
    /// Engines may echo what failed (a connection string, say): redacted here, so no
    /// error built from it can show a credential.
    #[serde(default, deserialize_with = "redacted")]
    pub parameter: Option<String>,
    #[serde(default, deserialize_with = "redacted")]
    pub message: Option<String>,
}

fn redacted<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| crate::redact::text(&s).into_owned()))
}

/// The members of the envelope, as found.
#[derive(Default)]
struct Members<'a> {
    id: Option<Option<serde_json::Number>>,
    result: Option<Option<Raw<'a>>>,
    error: Option<Option<WireError>>,
    method: Option<Option<&'a str>>,
    params: Option<Option<Raw<'a>>>,
    change: Option<Option<Vec<i32>>>,
    close: Option<Option<Vec<i32>>>,
    delta: Option<Option<bool>>,
}

/// Parses a frame; the error says what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Incoming<'_>, String> {
    let env = members(text).map_err(|e| format!("malformed frame ({e}): {}", preview(text)))?;
    let change = env.change.flatten().unwrap_or_default();
    let close = env.close.flatten().unwrap_or_default();
    match (env.id.flatten(), env.method.flatten()) {
        (Some(id), _) => {
            let id = id
                .as_i64()
                .ok_or_else(|| format!("response id {id} is not an integer: {}", preview(text)))?;
            let outcome = match (env.result.flatten(), env.error.flatten()) {
                (_, Some(e)) => Outcome::Error(e),
                (Some(r), None) => Outcome::Result(r),
                (None, None) => {
                    return Err(format!(
                        "response {id} has neither result nor error: {}",
                        preview(text)
                    ));
                }
            };
            Ok(Incoming::Response {
                id,
                outcome,
                change,
                close,
                delta: env.delta.flatten().unwrap_or(false),
            })
        }
        (None, Some(method)) => Ok(Incoming::Notification {
            method,
            params: env.params.flatten(),
            change,
            close,
        }),
        (None, None) => Err(format!(
            "frame is neither a response nor a notification: {}",
            preview(text)
        )),
    }
}

/// Walks the top-level object: every member but `result` is parsed (or, when unknown,
/// validated) with serde_json; `result` is only located.
fn members(text: &str) -> Result<Members<'_>, String> {
    let b = text.as_bytes();
    let mut m = Members::default();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return Err(format!("expected a member name at byte {i}"));
            }
            let key_end = skip_string(b, i).ok_or("unterminated member name")?;
            let key: Cow<'_, str> = if b[i..key_end].contains(&b'\\') {
                Cow::Owned(serde_json::from_str(&text[i..key_end]).map_err(|e| e.to_string())?)
            } else {
                Cow::Borrowed(&text[i + 1..key_end - 1])
            };
            i = ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return Err(format!("expected ':' at byte {i}"));
            }
            let start = ws(b, i + 1);
            let end = skip_value(b, start).ok_or_else(|| format!("bad value of {key:?}"))?;
            let value = &text[start..end];
            match key.as_ref() {
                "id" => set(&mut m.id, "id", id(value)?)?,
                "result" => {
                    let r = (value != "null").then_some(Raw(value));
                    set(&mut m.result, "result", r)?
                }
                "error" => set(&mut m.error, "error", json(value)?)?,
                "method" => set(&mut m.method, "method", json(value)?)?,
                "params" => {
                    validate(value)?;
                    let p = (value != "null").then_some(Raw(value));
                    set(&mut m.params, "params", p)?
                }
                "change" => set(&mut m.change, "change", json(value)?)?,
                "close" => set(&mut m.close, "close", json(value)?)?,
                "delta" => set(&mut m.delta, "delta", json(value)?)?,
                _ => validate(value)?,
            }
            i = ws(b, end);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(format!("expected ',' or '}}' at byte {i}")),
            }
        }
    }
    if ws(b, i) != b.len() {
        return Err(format!("trailing characters at byte {i}"));
    }
    Ok(m)
}

/// The `id`: a plain integer without serde_json, anything else with it.
fn id(value: &str) -> Result<Option<serde_json::Number>, String> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'));
    if plain {
        if let Ok(n) = value.parse::<i64>() {
            return Ok(Some(n.into()));
        }
    }
    json(value)
}

/// Checks a member this parser does not keep (`"jsonrpc":"2.0"`, `"delta":true`, …): a
/// string without escapes or control characters at once, anything else with serde_json.
fn validate(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let plain_string = b.len() >= 2
        && b[0] == b'"'
        && b[b.len() - 1] == b'"'
        && b[1..b.len() - 1]
            .iter()
            .all(|&c| c >= 0x20 && c != b'"' && c != b'\\');
    if plain_string || matches!(value, "true" | "false" | "null") {
        return Ok(());
    }
    json::<IgnoredAny>(value).map(drop)
}

fn json<'a, T: Deserialize<'a>>(value: &'a str) -> Result<T, String> {
    serde_json::from_str(value).map_err(|e| e.to_string())
}

fn set<T>(slot: &mut Option<T>, name: &str, v: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("duplicate field `{name}`"));
    }
    *slot = Some(v);
    Ok(())
}

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end (exclusive) of the JSON value starting at `i`, found by its structure alone
/// (strings, escapes, brackets); `None` if it does not end. Scalars end at the next
/// delimiter; they are checked by whoever decodes them.
pub(crate) fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => skip_nested(b, i),
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// `b[i]` is an opening quote: the index after the closing one.
#[inline]
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// `b[i]` is `{` or `[`: the index after the bracket that closes it.
fn skip_nested(b: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        // Small values (most results) are scanned faster than a block is set up.
        if b.len() - i < 64 {
            return scalar_nested(b, i, 0, false);
        }
        sse2::skip_nested(b, i)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        scalar_nested(b, i, 0, false)
    }
}

const OTHER: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;
const BACKSLASH: u8 = 4;

static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b'"' as usize] = QUOTE;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t[b'\\' as usize] = BACKSLASH;
    t
};

/// The scalar scan from `j` with `depth` brackets open; `in_string`: `j` is inside a string
/// (after its opening quote), and `b[j]` is not escaped.
pub(crate) fn scalar_nested(
    b: &[u8],
    mut j: usize,
    mut depth: usize,
    in_string: bool,
) -> Option<usize> {
    if in_string {
        j = skip_string(b, j.checked_sub(1)?)?;
    }
    while j < b.len() {
        match CLASS[b[j] as usize] {
            QUOTE => {
                j = skip_string(b, j)?;
                continue;
            }
            // Outside strings a backslash is invalid JSON, but the SSE2 scan (like
            // simdjson's) decides escapes by backslash runs alone: an odd run escapes the
            // quote after it. Do the same, so both scans find the same end on any input.
            BACKSLASH => {
                j += if matches!(b.get(j + 1), Some(b'"' | b'\\')) {
                    2
                } else {
                    1
                };
                continue;
            }
            OPEN => depth += 1,
            CLOSE => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// The structural scan 64 bytes at a time, as in simdjson's first stage: bit masks of
/// quotes, backslashes and brackets; escaped quotes removed with the odd-backslash-run
/// trick; in-string bytes masked with a prefix xor of the quotes; then the brackets are
/// counted, and walked one by one only in the block where the value may end.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub(crate) mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    struct Block {
        quote: u64,
        backslash: u64,
        open: u64,
        close: u64,
    }

    #[inline(always)]
    fn block(p: &[u8; 64]) -> Block {
        #[inline(always)]
        fn eq(v: __m128i, c: u8) -> u64 {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u32 as u64 }
        }
        let mut out = Block {
            quote: 0,
            backslash: 0,
            open: 0,
            close: 0,
        };
        for k in 0..4 {
            // SAFETY: 16 bytes at offset 16*k of a 64-byte array; unaligned load.
            let v = unsafe { _mm_loadu_si128(p.as_ptr().add(16 * k) as *const __m128i) };
            let s = 16 * k;
            out.quote |= eq(v, b'"') << s;
            out.backslash |= eq(v, b'\\') << s;
            out.open |= (eq(v, b'{') | eq(v, b'[')) << s;
            out.close |= (eq(v, b'}') | eq(v, b']')) << s;
        }
        out
    }

    #[inline(always)]
    fn prefix_xor(mut x: u64) -> u64 {
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        x
    }

    /// The characters escaped by a backslash (simdjson's `find_escaped_branchless`);
    /// `prev_escaped` carries a run of backslashes across blocks.
    #[inline(always)]
    fn escaped(backslash: u64, prev_escaped: &mut u64) -> u64 {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let backslash = backslash & !*prev_escaped;
        let follows_escape = backslash << 1 | *prev_escaped;
        let odd_starts = backslash & !EVEN & !follows_escape;
        let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
        *prev_escaped = overflow as u64;
        let invert = even_starts << 1;
        (EVEN ^ invert) & follows_escape
    }

    pub(crate) fn skip_nested(b: &[u8], i: usize) -> Option<usize> {
        let mut depth: u64 = 0;
        let mut in_string: u64 = 0; // all ones: the previous block ended inside a string
        let mut prev_escaped: u64 = 0;
        let mut j = i;
        let mut tail: [u8; 64];
        while j < b.len() {
            let chunk: &[u8; 64] = match b.get(j..j + 64) {
                Some(c) => c.try_into().expect("64 bytes"),
                None => {
                    // The last partial block, padded with spaces (never structural).
                    tail = [b' '; 64];
                    tail[..b.len() - j].copy_from_slice(&b[j..]);
                    &tail
                }
            };
            let m = block(chunk);
            let quote = if m.backslash | prev_escaped != 0 {
                m.quote & !escaped(m.backslash, &mut prev_escaped)
            } else {
                m.quote
            };
            let strings = prefix_xor(quote) ^ in_string;
            in_string = ((strings as i64) >> 63) as u64;
            let open = m.open & !strings;
            let close = m.close & !strings;
            let closes = u64::from(close.count_ones());
            if close != 0 && closes >= depth {
                // The value may end in this block: walk its brackets in order.
                let mut s = open | close;
                while s != 0 {
                    let bit = s.trailing_zeros();
                    if open >> bit & 1 == 1 {
                        depth += 1;
                    } else {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            let end = j + bit as usize + 1;
                            return (end <= b.len()).then_some(end);
                        }
                    }
                    s &= s - 1;
                }
            } else {
                depth = depth + u64::from(open.count_ones()) - closes;
            }
            j += 64;
        }
        None
    }
}

/// The start of a frame, for messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 200;
    let text = &*crate::redact::text(text);
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &text[..cut], text.len())
}

/// `{"jsonrpc":"2.0","id":…,"handle":…,"method":…,"params":…}`.
pub(crate) fn request_frame(
    id: i64,
    handle: i32,
    method: &str,
    params: &str,
    delta: bool,
) -> String {
    // itoa, not `write!`: the formatting machinery showed in profiles of pipelined calls.
    let mut ints = itoa::Buffer::new();
    let mut frame = String::with_capacity(80 + method.len() + params.len());
    frame.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    frame.push_str(ints.format(id));
    frame.push_str(",\"handle\":");
    frame.push_str(ints.format(handle));
    frame.push_str(",\"method\":");
    if method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        frame.push('"');
        frame.push_str(method);
        frame.push('"');
    } else {
        frame.push_str(&serde_json::Value::from(method).to_string());
    }
    frame.push_str(",\"params\":");
    frame.push_str(params);
    if delta {
        frame.push_str(",\"delta\":true");
    }
    frame.push('}');
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::value::RawValue;

    /// The end of the value at `i` by serde_json.
    fn reference_end(text: &str, i: usize) -> Option<usize> {
        let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<&RawValue>();
        match de.next() {
            Some(Ok(_)) => Some(i + de.byte_offset()),
            _ => None,
        }
    }

    /// A pseudo-random JSON value rich in escapes, backslash runs, brackets in strings and
    /// multi-byte characters.
    fn random_value(seed: &mut u64, depth: u32, out: &mut String) {
        let mut next = |n: u64| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % n
        };
        let kind = if depth > 5 { next(4) } else { next(7) };
        match kind {
            0 => out.push_str(["1", "-2.5e3", "0", "true", "false", "null"][next(6) as usize]),
            1..=3 => {
                out.push('"');
                for _ in 0..next(40) {
                    let piece = [
                        "a", "\\\\", "\\\"", "{", "}", "[", "]", "\\n", "é", "\\u00e9", ",", ":",
                        "\\\\\\\"", " ",
                    ];
                    out.push_str(piece[next(piece.len() as u64) as usize]);
                }
                out.push('"');
            }
            4 | 5 => {
                out.push('[');
                for k in 0..next(6) {
                    if k > 0 {
                        out.push(',');
                    }
                    random_value(seed, depth + 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for k in 0..next(6) {
                    if k > 0 {
                        out.push_str(" , ");
                    }
                    out.push_str("\"k\\\\\":");
                    random_value(seed, depth + 1, out);
                }
                out.push('}');
            }
        }
    }

    #[test]
    fn skip_value_agrees_with_serde_json() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for n in 0..3000 {
            let mut v = String::new();
            random_value(&mut seed, 0, &mut v);
            // Shift the value across the 64-byte block grid, with text after it.
            let pad = " ".repeat(n % 70);
            let text = format!("{pad}{v} ,\"x\":[1]}}");
            let i = pad.len();
            let want = reference_end(&text, i);
            assert!(want.is_some(), "generator made invalid JSON: {v}");
            assert_eq!(skip_value(text.as_bytes(), i), want, "value: {v}");
            if !v.starts_with('"') && (v.starts_with('{') || v.starts_with('[')) {
                assert_eq!(
                    scalar_nested(text.as_bytes(), i, 0, false),
                    want,
                    "scalar: {v}"
                );
            }
            // Cut short: never past the end, never a false end.
            let cut = &text[..i + v.len() - 1];
            if v.len() > 1 && (v.starts_with('{') || v.starts_with('[') || v.starts_with('"')) {
                assert_eq!(skip_value(cut.as_bytes(), i), None, "cut value: {v}");
            }
        }
    }

    /// Found by the `envelope_scan` fuzz target: `{\"}` (a backslash outside any string)
    /// ended at byte 4 in the SSE2 scan and nowhere in the scalar one, so frames of 64
    /// bytes or more and shorter ones were cut differently.
    #[test]
    fn fuzz_regression_backslash_outside_strings_scans_alike() {
        for core in [
            r#"{\"}"#,
            r#"{\\"}"}"#,
            r#"[\{]]"#,
            r#"{\\\"}"#,
            r#"{"a":\"}"}"#,
        ] {
            for pad in [0, 70, 130] {
                let text = format!("{core}{}", " ".repeat(pad));
                let b = text.as_bytes();
                let scalar = scalar_nested(b, 0, 0, false);
                #[cfg(target_arch = "x86_64")]
                assert_eq!(sse2::skip_nested(b, 0), scalar, "{text:?}");
                assert_eq!(skip_nested(b, 0), scalar, "{text:?}");
            }
        }
        crate::__fuzz::envelope_scan(br#"{\"}"#);
    }

    #[test]
    fn long_strings_and_backslash_runs_cross_blocks() {
        for run in 0..140 {
            for lead in 0..66 {
                let s = format!("{}{}", "x".repeat(lead), "\\".repeat(run * 2));
                let v = format!("[\"{s}\\\"]\",{{\"a\":\"{s}\"}}]");
                let text = format!("{v}]");
                assert_eq!(
                    skip_value(text.as_bytes(), 0),
                    reference_end(&text, 0),
                    "{v}"
                );
            }
        }
    }

    #[test]
    fn parses_responses_like_serde_json() {
        let page = format!(
            "{{\"qDataPages\":[{{\"qMatrix\":[{}]}}]}}",
            vec![r#"[{"qText":"a\"}","qNum":1.5,"qState":"O"}]"#; 200].join(",")
        );
        let frame = format!(r#"{{"jsonrpc":"2.0","id":7,"result":{page},"change":[2,3]}}"#);
        match parse(&frame).unwrap() {
            Incoming::Response {
                id,
                outcome: Outcome::Result(r),
                change,
                close,
                delta,
            } => {
                assert_eq!(id, 7);
                assert_eq!(r.get(), page);
                assert_eq!(change, vec![2, 3]);
                assert!(close.is_empty());
                assert!(!delta);
            }
            _ => panic!("not a result"),
        }
        let frame =
            " {\"change\" : [1], \"id\":8 ,\"result\" : {} , \"close\":[4],\"delta\":true}\n";
        match parse(frame).unwrap() {
            Incoming::Response {
                id,
                outcome: Outcome::Result(r),
                change,
                close,
                delta,
            } => assert_eq!(
                (id, r.get(), change, close, delta),
                (8, "{}", vec![1], vec![4], true)
            ),
            _ => panic!("not a result"),
        }
        let frame = r#"{"jsonrpc":"2.0","id":9,"error":{"code":1007,"parameter":"x","message":"App invalid"}}"#;
        match parse(frame).unwrap() {
            Incoming::Response {
                outcome: Outcome::Error(e),
                ..
            } => assert_eq!((e.code, e.message.as_deref()), (1007, Some("App invalid"))),
            _ => panic!("not an error"),
        }
        let frame = r#"{"jsonrpc":"2.0","method":"OnConnected","params":{"qSessionState":"SESSION_CREATED"}}"#;
        match parse(frame).unwrap() {
            Incoming::Notification { method, params, .. } => {
                assert_eq!(method, "OnConnected");
                let p: Value = serde_json::from_str(params.unwrap().get()).unwrap();
                assert_eq!(p["qSessionState"], "SESSION_CREATED");
            }
            _ => panic!("not a notification"),
        }
        for (id, want) in [
            ("0", 0),
            ("-5", -5),
            ("9007199254740993", 9_007_199_254_740_993),
        ] {
            let frame = format!(r#"{{"id":{id},"result":true}}"#);
            assert!(matches!(parse(&frame).unwrap(), Incoming::Response { id, .. } if id == want));
        }
        // An escaped member name is still recognised.
        let frame = r#"{"i\u0064":3,"result":{"a":1}}"#;
        assert!(matches!(
            parse(frame).unwrap(),
            Incoming::Response { id: 3, .. }
        ));
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        for frame in [
            "",
            "[]",
            "{",
            r#"{"id":1,"result":{"a":1}"#,
            r#"{"id":1,"result":{"a":1}} x"#,
            r#"{"id":1,"result":{"a":[1}}"#,
            r#"{"id":1,"result":{"a":1},}"#,
            r#"{"id":1 "result":{}}"#,
            r#"{"id":"1","result":{}}"#,
            r#"{"id":1.5,"result":{}}"#,
            r#"{"id":01,"result":{}}"#,
            r#"{"id":1,"result":{},"jsonrpc":"2.0
"}"#,
            r#"{"id":1,"id":2,"result":{}}"#,
            r#"{"id":1}"#,
            r#"{"id":1,"result":null}"#,
            r#"{"id":1,"result":{},"change":[1,"x"]}"#,
            r#"{"id":1,"result":{},"delta":tru}"#,
            r#"{"method":"OnX","params":{"a":}}"#,
            r#"{"jsonrpc":"2.0"}"#,
        ] {
            assert!(parse(frame).is_err(), "accepted {frame:?}");
        }
    }
}
