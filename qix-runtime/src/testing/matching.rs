//! Comparing requests by meaning, as the engine reads them: the same call may be sent with
//! named params (`{"qId":"x"}`) or positional ones (`["x"]`), and with or without optional
//! params at their default value. `jsonrpc`, `delta` and the request id never matter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

/// Maps a method to its param names in positional order: `(class, method) -> names`.
/// `class` is `None` when the handle's class is unknown. `qix_generated::catalog::params_of`
/// is one; the runtime takes a plain function so that it does not depend on the generated
/// crate.
pub type ParamNames = fn(Option<&str>, &str) -> Option<&'static [&'static str]>;

/// Params in one form for comparing: by name when the names are known.
#[derive(Debug, Clone, PartialEq)]
pub enum NormalParams {
    Named(Map<String, Value>),
    /// Positional params of a method whose param names are unknown.
    Positional(Vec<Value>),
}

impl NormalParams {
    /// Puts `params` (an object, an array or null) in named form when `names` knows the
    /// method; `class` picks among methods of the same name in several classes.
    pub fn new(
        params: &Value,
        class: Option<&str>,
        method: &str,
        names: Option<ParamNames>,
    ) -> Self {
        match params {
            Value::Object(m) => NormalParams::Named(m.clone()),
            Value::Null => NormalParams::Named(Map::new()),
            Value::Array(a) if a.is_empty() => NormalParams::Named(Map::new()),
            Value::Array(a) => {
                let known = names.and_then(|f| f(class, method).or_else(|| f(None, method)));
                match known {
                    Some(ns) if a.len() <= ns.len() => NormalParams::Named(
                        ns.iter()
                            .zip(a)
                            .map(|(n, v)| (n.to_string(), v.clone()))
                            .collect(),
                    ),
                    _ => NormalParams::Positional(a.clone()),
                }
            }
            other => NormalParams::Positional(vec![other.clone()]),
        }
    }

    /// A param by name (named form only).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            NormalParams::Named(m) => m.get(name),
            NormalParams::Positional(_) => None,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            NormalParams::Named(m) => Value::Object(m.clone()),
            NormalParams::Positional(a) => Value::Array(a.clone()),
        }
    }
}

/// The engine reads an absent optional param as its default, and the defaults of the API
/// are the zero values: so `{"qDocName":"a"}` and `["a","","","",false]` are one call.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// At most this many differences are listed for one comparison.
const MAX_DIFFS: usize = 8;

/// Lists where `sent` differs from `expected` (empty: they mean the same), with paths
/// under `path`.
fn diff_values(path: &str, expected: &Value, sent: &Value, out: &mut Vec<String>) {
    if out.len() >= MAX_DIFFS {
        return;
    }
    // A recording made by `JsonLinesLog` has its secrets redacted: they match anything.
    if expected.as_str() == Some(crate::redact::REDACTED) {
        return;
    }
    let key = path.rsplit('.').next().unwrap_or(path);
    if crate::redact::BUILTIN.kind_of_key(key).is_some() {
        if expected != sent {
            out.push(format!("{path}: differs (a secret: values not shown)"));
        }
        return;
    }
    match (expected, sent) {
        (Value::Object(e), Value::Object(s)) => diff_maps(path, e, s, out),
        (Value::Array(e), Value::Array(s)) => {
            if e.len() != s.len() {
                out.push(format!(
                    "{path}: expected {} items, sent {}: expected {}, sent {}",
                    e.len(),
                    s.len(),
                    short(expected),
                    short(sent)
                ));
                return;
            }
            for (i, (a, b)) in e.iter().zip(s).enumerate() {
                diff_values(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if a != b && a.as_f64() != b.as_f64() {
                out.push(format!("{path}: expected {a}, sent {b}"));
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: expected {}, sent {}", short(a), short(b))),
    }
}

fn diff_maps(
    path: &str,
    expected: &Map<String, Value>,
    sent: &Map<String, Value>,
    out: &mut Vec<String>,
) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, e) in expected {
        match sent.get(k) {
            Some(s) => diff_values(&join(k), e, s, out),
            None if is_zero(e) => {}
            None => out.push(format!("{}: expected {}, not sent", join(k), short(e))),
        }
    }
    for (k, s) in sent {
        if !expected.contains_key(k) && !is_zero(s) {
            out.push(format!("{}: not expected, sent {}", join(k), short(s)));
        }
    }
}

/// Where `sent` params differ from `expected` ones, by meaning.
pub fn diff_params(expected: &NormalParams, sent: &NormalParams) -> Vec<String> {
    let mut out = Vec::new();
    match (expected, sent) {
        (NormalParams::Named(e), NormalParams::Named(s)) => diff_maps("params", e, s, &mut out),
        (NormalParams::Positional(e), NormalParams::Positional(s)) => {
            // Trailing params at their default may be left out.
            let n = e.len().max(s.len());
            for i in 0..n {
                match (e.get(i), s.get(i)) {
                    (Some(a), Some(b)) => diff_values(&format!("params[{i}]"), a, b, &mut out),
                    (Some(a), None) if !is_zero(a) => {
                        out.push(format!("params[{i}]: expected {}, not sent", short(a)))
                    }
                    (None, Some(b)) if !is_zero(b) => {
                        out.push(format!("params[{i}]: not expected, sent {}", short(b)))
                    }
                    _ => {}
                }
            }
        }
        (e, s) => out.push(format!(
            "params: expected {}, sent {} (one is positional and the param names of the method \
             are unknown: give a param_names lookup such as qix_generated::catalog::params_of)",
            short(&e.to_value()),
            short(&s.to_value())
        )),
    }
    out
}

/// JSON for messages, cut to a readable length.
pub(crate) fn short(v: &Value) -> String {
    const MAX: usize = 160;
    let mut v = v.clone();
    crate::redact::value(&mut v);
    let s = v.to_string();
    if s.len() <= MAX {
        return s;
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…({} bytes)", &s[..cut], s.len())
}

/// How a mock expectation matches the params of a request.
#[derive(Clone)]
pub enum ParamMatch {
    /// Any params.
    Any,
    /// The same params by meaning (named or positional, defaults left out or not).
    Equals(Value),
    /// At least these named params, by meaning; others may be sent too.
    Contains(Map<String, Value>),
    /// A predicate over the params in named form (positional when the names are unknown).
    Custom(Arc<dyn Fn(&NormalParams) -> bool + Send + Sync>),
}

impl ParamMatch {
    pub fn equals(params: impl Serialize) -> Self {
        ParamMatch::Equals(to_json(params))
    }

    /// `params` must serialize to an object.
    pub fn contains(params: impl Serialize) -> Self {
        match to_json(params) {
            Value::Object(m) => ParamMatch::Contains(m),
            other => panic!("ParamMatch::contains needs an object of named params, got {other}"),
        }
    }

    /// `f` runs while the mock's state is locked: it must not call the mock.
    pub fn custom(f: impl Fn(&NormalParams) -> bool + Send + Sync + 'static) -> Self {
        ParamMatch::Custom(Arc::new(f))
    }

    /// Why `sent` does not match (empty: it matches).
    pub fn mismatch(
        &self,
        sent: &NormalParams,
        class: Option<&str>,
        method: &str,
        names: Option<ParamNames>,
    ) -> Vec<String> {
        match self {
            ParamMatch::Any => Vec::new(),
            ParamMatch::Equals(v) => diff_params(&NormalParams::new(v, class, method, names), sent),
            ParamMatch::Contains(want) => match sent {
                NormalParams::Named(got) => {
                    let mut out = Vec::new();
                    for (k, e) in want {
                        match got.get(k) {
                            Some(s) => diff_values(&format!("params.{k}"), e, s, &mut out),
                            None if is_zero(e) => {}
                            None => {
                                out.push(format!("params.{k}: expected {}, not sent", short(e)))
                            }
                        }
                    }
                    out
                }
                NormalParams::Positional(a) => vec![format!(
                    "params: expected named params containing {}, sent positional {} (param names unknown)",
                    short(&Value::Object(want.clone())),
                    short(&Value::Array(a.clone()))
                )],
            },
            ParamMatch::Custom(f) => {
                if f(sent) {
                    Vec::new()
                } else {
                    vec![format!(
                        "params: {} rejected by the custom matcher",
                        short(&sent.to_value())
                    )]
                }
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            ParamMatch::Any => "any params".into(),
            ParamMatch::Equals(v) => short(v),
            ParamMatch::Contains(m) => {
                format!("params containing {}", short(&Value::Object(m.clone())))
            }
            ParamMatch::Custom(_) => "params accepted by a custom matcher".into(),
        }
    }
}

impl From<Value> for ParamMatch {
    fn from(v: Value) -> Self {
        ParamMatch::Equals(v)
    }
}

impl std::fmt::Debug for ParamMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

pub(crate) fn to_json(v: impl Serialize) -> Value {
    // Test-authored values: a value that cannot be JSON is a bug in the test.
    serde_json::to_value(v)
        .unwrap_or_else(|e| panic!("a mock value cannot be serialized to JSON: {e}"))
}

/// The classes of the handles a connection has seen opened, for mapping positional params
/// of methods whose name several classes share (`GetLayout`).
#[derive(Debug, Clone)]
pub(crate) struct HandleClasses(HashMap<i32, String>);

impl Default for HandleClasses {
    fn default() -> Self {
        let mut m = HashMap::new();
        m.insert(-1, "Global".to_string());
        HandleClasses(m)
    }
}

impl HandleClasses {
    pub(crate) fn get(&self, handle: i32) -> Option<&str> {
        self.0.get(&handle).map(String::as_str)
    }

    /// Learns the objects a response opened (`{"qReturn":{"qType":…,"qHandle":…}}`) and
    /// forgets the handles it closed.
    pub(crate) fn learn(&mut self, frame: &Value) {
        if let Some(Value::Object(result)) = frame.get("result") {
            for v in result.values() {
                let handle = v.get("qHandle").and_then(Value::as_i64);
                let class = v.get("qType").and_then(Value::as_str);
                if let (Some(h), Some(c)) = (handle, class) {
                    if let Ok(h) = i32::try_from(h) {
                        self.0.insert(h, c.to_string());
                    }
                }
            }
        }
        if let Some(Value::Array(closed)) = frame.get("close") {
            for h in closed.iter().filter_map(Value::as_i64) {
                if let Ok(h) = i32::try_from(h) {
                    self.0.remove(&h);
                }
            }
        }
    }
}

/// A request as the engine reads it.
#[derive(Debug, Clone)]
pub struct MockRequest {
    /// The JSON-RPC id (`None` when the client sent none).
    pub id: Option<i64>,
    pub handle: i32,
    pub method: String,
    /// The params as sent.
    pub params: Value,
    /// The params by name (when the names are known), for matching and for responders.
    pub named: NormalParams,
    /// The class of the handle, when the connection saw it opened.
    pub class: Option<String>,
    /// Which connection of the mock sent it (0, 1, … in accept order).
    pub connection: usize,
    /// The request asked for the delta protocol (`"delta": true`).
    pub delta: bool,
    /// The frame as received.
    pub raw: String,
}

impl MockRequest {
    /// Parses a request frame; the error says what is wrong with it.
    pub(crate) fn parse(
        raw: &str,
        connection: usize,
        classes: &HandleClasses,
        names: Option<ParamNames>,
    ) -> Result<MockRequest, String> {
        let v: Value =
            serde_json::from_str(raw).map_err(|e| format!("not JSON ({e}): {}", cut(raw)))?;
        Self::from_value(&v, raw, connection, classes, names)
    }

    pub(crate) fn from_value(
        v: &Value,
        raw: &str,
        connection: usize,
        classes: &HandleClasses,
        names: Option<ParamNames>,
    ) -> Result<MockRequest, String> {
        let method = v
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("request without a method: {}", cut(raw)))?;
        let handle = v
            .get("handle")
            .and_then(Value::as_i64)
            .and_then(|h| i32::try_from(h).ok())
            .ok_or_else(|| format!("request without an integer handle: {}", cut(raw)))?;
        let params = v.get("params").cloned().unwrap_or(Value::Null);
        let class = classes.get(handle).map(str::to_string);
        let named = NormalParams::new(&params, class.as_deref(), method, names);
        Ok(MockRequest {
            id: v.get("id").and_then(Value::as_i64),
            handle,
            method: method.to_string(),
            params,
            named,
            class,
            connection,
            delta: v.get("delta").and_then(Value::as_bool).unwrap_or(false),
            raw: raw.to_string(),
        })
    }

    /// A param by name (after mapping positional params to names).
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.named.get(name)
    }

    /// `Doc.SetScript (handle 1) {"qScript":…}`.
    pub fn describe(&self) -> String {
        describe(
            self.class.as_deref(),
            &self.method,
            self.handle,
            &self.named.to_value(),
        )
    }
}

pub(crate) fn describe(class: Option<&str>, method: &str, handle: i32, params: &Value) -> String {
    let mut s = String::new();
    if let Some(c) = class {
        let _ = write!(s, "{c}.");
    }
    let _ = write!(s, "{method} (handle {handle}) {}", short(params));
    s
}

pub(crate) fn cut(raw: &str) -> String {
    short(&Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(_: Option<&str>, m: &str) -> Option<&'static [&'static str]> {
        match m {
            "OpenDoc" => Some(&["qDocName", "qUserName", "qPassword", "qSerial", "qNoData"]),
            _ => None,
        }
    }

    #[test]
    fn positional_and_named_forms_of_one_call_match() {
        let sent = NormalParams::new(
            &json!({"qDocName": "/apps/a.qvf"}),
            None,
            "OpenDoc",
            Some(names),
        );
        let rec = NormalParams::new(
            &json!(["/apps/a.qvf", "", "", "", false]),
            None,
            "OpenDoc",
            Some(names),
        );
        assert!(diff_params(&rec, &sent).is_empty());
        let other = NormalParams::new(
            &json!(["/apps/b.qvf", "", "", "", true]),
            None,
            "OpenDoc",
            Some(names),
        );
        let d = diff_params(&other, &sent);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].contains("qDocName") && d[1].contains("qNoData"),
            "{d:?}"
        );
    }

    #[test]
    fn redacted_recordings_match_any_secret_and_diffs_never_show_one() {
        let sent = NormalParams::new(
            &json!({"qDocName": "/apps/a.qvf", "qPassword": "hunter2"}),
            None,
            "OpenDoc",
            Some(names),
        );
        let recorded = NormalParams::new(
            &json!(["/apps/a.qvf", "", "<redacted>"]),
            None,
            "OpenDoc",
            Some(names),
        );
        assert!(diff_params(&recorded, &sent).is_empty());
        let other = NormalParams::new(
            &json!({"qDocName": "/apps/b.qvf", "qPassword": "swordfish"}),
            None,
            "OpenDoc",
            Some(names),
        );
        let d = diff_params(&other, &sent);
        assert_eq!(d.len(), 2, "{d:?}");
        let text = d.join("\n");
        assert!(
            !text.contains("hunter2") && !text.contains("swordfish"),
            "{text}"
        );
        assert!(text.contains("qPassword: differs"), "{text}");
    }

    #[test]
    fn unknown_names_compare_positionally() {
        let a = NormalParams::new(&json!([1, 2.0]), None, "X", None);
        let b = NormalParams::new(&json!([1.0, 2]), None, "X", None);
        assert!(diff_params(&a, &b).is_empty());
        let named = NormalParams::new(&json!({"q": 1}), None, "X", None);
        assert!(diff_params(&a, &named)[0].contains("param_names"));
    }
}
