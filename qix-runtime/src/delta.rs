//! The delta protocol: a request may carry `"delta": true`; the engine then answers each
//! out-param with a list of JSON-Patch operations (RFC 6902) relative to the last value it
//! sent for the same handle, method and out-param. This module keeps those last values
//! (the cache) and applies the patches.
//!
//! The engine's one departure from RFC 6901 pointers: it names the whole value `"/"`
//! (RFC 6901 would read that as the member `""` of the root object). [`apply`] handles the
//! root itself and hands every other operation to the `json-patch` crate. So a root
//! member named `""` cannot be addressed; engine results have none (the `delta_patch`
//! fuzz target found the ambiguity).
//!
//! Patches must be applied in the order the engine produced them, which is the order the
//! responses arrive, so the connection task applies them (also for calls whose caller gave
//! up: the engine moved its cache on either way).
//!
//! # When the two sides diverge
//!
//! A patch carries no checksum of the value it applies to, so a client that has lost the
//! engine's base cannot tell a patch that applies to the wrong base from a right one: it
//! could compute a wrong value that looks fine. Nobody outside Qlik knows whether the
//! engine moves its base when it answers a request sent *without* delta, so a full answer
//! cannot be trusted as the new base either. The rules, which hold whichever the engine
//! does:
//!
//! 1. **Only a root `add` or `replace` starts a cache.** A patch list for a key that has
//!    no value (an empty list, or operations below the root) is an error, never a value
//!    (it would decode as `T::default()`).
//! 2. **A key whose value we lost is pinned to full answers.** A patch that does not apply,
//!    a patch without a base, an entry evicted by the cache's bounds, a delta answer
//!    dropped by `max_response_bytes`, a delta request whose answer was lost when the
//!    connection dropped while the engine kept the session (`SESSION_ATTACHED`), and a
//!    full answer to a request that asked for delta: from then on that (handle, method)
//!    is asked without delta, and its full answers are used as they are and never stored.
//!    The pin lasts until the engine closes the handle (its number may come back for a new
//!    object, with a new engine cache) or the engine session is new (`SESSION_CREATED`).
//! 3. **A read that hit a divergence is sent once more, without delta.** Methods marked
//!    safe to repeat (reads) retry transparently; a write fails with [`Error::Delta`]
//!    (`crate::Error::Delta`). So a user sees at most one failed call per key (per call in
//!    flight at the moment of the divergence) and never a wrong value.
//!
//! Keys that never diverged keep their caches across a `SESSION_ATTACHED` reconnection:
//! the engine moves its base only when it answers a delta request, so a key with no delta
//! request in flight at the cut is still in step.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

/// One operation of a patch list, as the engine sends it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Op {
    pub op: String,
    pub path: String,
    #[serde(default)]
    pub from: Option<String>,
    /// `None`: absent; `Some(Value::Null)`: the value `null` (which a plain `Option`
    /// would lose).
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A patch that does not apply: which operation (its index, kind and path) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index} (`{op}` at `{path}`): {message}")]
pub struct PatchError {
    pub index: usize,
    pub op: String,
    pub path: String,
    pub message: String,
}

fn is_root(path: &str) -> bool {
    path == "/" || path.is_empty()
}

/// Applies `ops` in order to `target` (`None`: no value yet, as for a new cache). On an
/// error the target is left in an unspecified state: the caller must drop it.
pub fn apply(target: &mut Option<Value>, ops: Vec<Op>) -> Result<(), PatchError> {
    for (index, op) in ops.into_iter().enumerate() {
        let err = |op: &Op, message: String| PatchError {
            index,
            op: op.op.clone(),
            path: op.path.clone(),
            message,
        };
        if is_root(&op.path) {
            match op.op.as_str() {
                "add" | "replace" => match op.value {
                    Some(v) => *target = Some(v),
                    None => return Err(err(&op, "no `value`".into())),
                },
                "remove" => *target = None,
                "test" => {
                    if target.as_ref() != op.value.as_ref() {
                        return Err(err(&op, "test failed: the value differs".into()));
                    }
                }
                "copy" | "move" => {
                    let from = op.from.as_deref().unwrap_or_default();
                    if is_root(from) {
                        continue;
                    }
                    let Some(doc) = target.as_mut() else {
                        return Err(err(&op, "no value to copy from".into()));
                    };
                    let v = doc
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| err(&op, format!("`from` path `{from}` does not exist")))?;
                    *target = Some(v);
                }
                other => return Err(err(&op, format!("unknown operation `{other}`"))),
            }
            continue;
        }
        let Some(doc) = target.as_mut() else {
            return Err(err(
                &op,
                "there is no value to patch (the cache is empty)".into(),
            ));
        };
        match op.op.as_str() {
            // By hand, moving the value in: `json_patch::patch` takes the operations by
            // reference and clones every value it adds, and a layout patch can carry
            // megabytes of pages (a deep copy of them on the connection task, which every
            // other call waits for).
            "add" | "replace" | "remove" => {
                let path = tokens(&op.path).map_err(|m| err(&op, m))?;
                let kind = op.op.clone();
                let result = match (kind.as_str(), op.value) {
                    ("remove", _) => remove_at(doc, &path),
                    (_, None) => Err("no `value`".to_string()),
                    ("add", Some(v)) => add_at(doc, &path, v),
                    (_, Some(v)) => replace_at(doc, &path, v),
                };
                result.map_err(|message| PatchError {
                    index,
                    op: kind,
                    path: op.path,
                    message,
                })?;
            }
            "copy" | "move" if op.from.as_deref().is_some_and(is_root) => {
                // Copying the whole value below itself: RFC 6902 forbids a move, allows a
                // copy.
                if op.op == "move" {
                    return Err(err(&op, "cannot move the root into itself".into()));
                }
                let path = tokens(&op.path).map_err(|m| err(&op, m))?;
                let whole = doc.clone();
                add_at(doc, &path, whole).map_err(|m| err(&op, m))?;
            }
            _ => {
                let one = to_crate(&op).map_err(|m| err(&op, m))?;
                json_patch::patch_unsafe(doc, std::slice::from_ref(&one))
                    .map_err(|e| err(&op, e.kind.to_string()))?;
            }
        }
    }
    Ok(())
}

/// The reference tokens of a non-root JSON pointer (RFC 6901: `~1` is `/`, `~0` is `~`).
fn tokens(path: &str) -> Result<Vec<std::borrow::Cow<'_, str>>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("bad path `{path}`: it does not start with `/`"));
    };
    rest.split('/')
        .map(|t| {
            if !t.contains('~') {
                return Ok(std::borrow::Cow::Borrowed(t));
            }
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(format!("bad path `{path}`: a `~` not followed by 0 or 1")),
                }
            }
            Ok(std::borrow::Cow::Owned(out))
        })
        .collect()
}

/// An array index token: `-` (past the end) or a decimal without leading zeros.
fn index_of(token: &str, len: usize, past_end: bool) -> Result<usize, String> {
    if token == "-" && past_end {
        return Ok(len);
    }
    let canonical = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    match token.parse::<usize>() {
        Ok(i) if canonical && (i < len || (past_end && i == len)) => Ok(i),
        _ => Err(format!(
            "array index `{token}` is out of bounds (length {len})"
        )),
    }
}

/// The value that holds the last token of `path`, and that token.
fn parent_mut<'v, 'p>(
    doc: &'v mut Value,
    path: &'p [std::borrow::Cow<'p, str>],
) -> Result<(&'v mut Value, &'p str), String> {
    let (last, parents) = path.split_last().ok_or("an empty path")?;
    let mut at = doc;
    for t in parents {
        at = match at {
            Value::Object(m) => m
                .get_mut(t.as_ref())
                .ok_or_else(|| format!("member `{t}` does not exist"))?,
            Value::Array(a) => {
                let i = index_of(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("`{t}` is below a value that is not a container")),
        };
    }
    Ok((at, last))
}

fn add_at(doc: &mut Value, path: &[std::borrow::Cow<'_, str>], value: Value) -> Result<(), String> {
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last.to_string(), value);
        }
        Value::Array(a) => {
            let i = index_of(last, a.len(), true)?;
            a.insert(i, value);
        }
        _ => return Err("the parent is not a container".into()),
    }
    Ok(())
}

fn replace_at(
    doc: &mut Value,
    path: &[std::borrow::Cow<'_, str>],
    value: Value,
) -> Result<(), String> {
    let (parent, last) = parent_mut(doc, path)?;
    let slot = match parent {
        Value::Object(m) => m
            .get_mut(last)
            .ok_or_else(|| format!("member `{last}` does not exist"))?,
        Value::Array(a) => {
            let i = index_of(last, a.len(), false)?;
            &mut a[i]
        }
        _ => return Err("the parent is not a container".into()),
    };
    *slot = value;
    Ok(())
}

fn remove_at(doc: &mut Value, path: &[std::borrow::Cow<'_, str>]) -> Result<(), String> {
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => m
            .remove(last)
            .map(drop)
            .ok_or_else(|| format!("member `{last}` does not exist")),
        Value::Array(a) => {
            let i = index_of(last, a.len(), false)?;
            a.remove(i);
            Ok(())
        }
        _ => Err("the parent is not a container".into()),
    }
}

fn pointer(path: &str) -> Result<json_patch::jsonptr::PointerBuf, String> {
    json_patch::jsonptr::PointerBuf::parse(path).map_err(|e| format!("bad path: {e}"))
}

fn to_crate(op: &Op) -> Result<json_patch::PatchOperation, String> {
    use json_patch::*;
    let path = pointer(&op.path)?;
    let value = || op.value.clone().ok_or_else(|| "no `value`".to_string());
    let from = || {
        op.from
            .as_deref()
            .ok_or_else(|| "no `from`".to_string())
            .and_then(pointer)
    };
    Ok(match op.op.as_str() {
        "add" => PatchOperation::Add(AddOperation {
            path,
            value: value()?,
        }),
        "remove" => PatchOperation::Remove(RemoveOperation { path }),
        "replace" => PatchOperation::Replace(ReplaceOperation {
            path,
            value: value()?,
        }),
        "move" => PatchOperation::Move(MoveOperation {
            from: from()?,
            path,
        }),
        "copy" => PatchOperation::Copy(CopyOperation {
            from: from()?,
            path,
        }),
        "test" => PatchOperation::Test(TestOperation {
            path,
            value: value()?,
        }),
        other => return Err(format!("unknown operation `{other}`")),
    })
}

/// The key of a cache: handle, method (the out-param is the method's one).
pub(crate) type Key = (i32, &'static str);

struct Entry {
    /// Shared with the caller that decodes it; copied on the next patch only if that
    /// caller still holds it. `None`: the engine removed the value (a root `remove`).
    value: Option<Arc<Value>>,
    /// Rough size in bytes (the wire text that built it), for the bound.
    bytes: usize,
    last_used: u64,
}

/// What the cache holds for a key when a delta answer arrives.
pub(crate) enum Base {
    /// Nothing: only a root `add`/`replace` may start the value (rule 1).
    Absent,
    /// The last value (`None`: removed by the engine), taken out to be patched.
    Value(Option<Arc<Value>>),
}

/// The last values of one session, bounded in total bytes and entries, and the keys
/// pinned to full answers (see the module docs).
pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    /// Keys asked without delta until their handle closes (rule 2).
    pinned: HashSet<Key>,
    bytes: usize,
    clock: u64,
    pub(crate) max_bytes: usize,
    pub(crate) max_entries: usize,
}

impl Cache {
    pub(crate) fn new(max_bytes: usize, max_entries: usize) -> Self {
        Cache {
            entries: HashMap::default(),
            pinned: HashSet::default(),
            bytes: 0,
            clock: 0,
            max_bytes,
            max_entries: max_entries.max(1),
        }
    }

    /// Whether a request for `key` may ask for delta.
    pub(crate) fn may_ask(&self, key: &Key) -> bool {
        self.pinned.is_empty() || !self.pinned.contains(key)
    }

    /// Takes the value out to patch it without holding the session's lock.
    pub(crate) fn take(&mut self, key: &Key) -> Base {
        match self.entries.remove(key) {
            Some(e) => {
                self.bytes -= e.bytes;
                Base::Value(e.value)
            }
            None => Base::Absent,
        }
    }

    /// The bytes counted for a key so far.
    pub(crate) fn bytes_of(&self, key: &Key) -> usize {
        self.entries.get(key).map_or(0, |e| e.bytes)
    }

    /// Puts a patched value back (unless the key was pinned while it was out: then the
    /// value is behind the engine's and must not be used again).
    pub(crate) fn put(&mut self, key: Key, value: Option<Arc<Value>>, bytes: usize) {
        if self.pinned.contains(&key) {
            return;
        }
        self.clock += 1;
        self.bytes += bytes;
        if let Some(old) = self.entries.insert(
            key,
            Entry {
                value,
                bytes,
                last_used: self.clock,
            },
        ) {
            self.bytes -= old.bytes;
        }
        while (self.bytes > self.max_bytes || self.entries.len() > self.max_entries)
            && self.entries.len() > 1
        {
            let Some(victim) = self
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            // Evicted: the engine keeps its base, we do not; asked without delta from now.
            self.diverged(victim);
        }
    }

    /// We no longer hold the engine's base for `key`: its value goes, and it is pinned to
    /// full answers (rule 2).
    pub(crate) fn diverged(&mut self, key: Key) {
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.bytes;
        }
        self.pinned.insert(key);
    }

    /// The engine closed a handle: its caches and pins go (a handle number that comes
    /// back names a new object, with a new engine cache).
    pub(crate) fn drop_handle(&mut self, handle: i32) {
        if self.entries.is_empty() && self.pinned.is_empty() {
            return;
        }
        let mut freed = 0;
        self.entries.retain(|k, e| {
            let keep = k.0 != handle;
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        self.bytes -= freed;
        self.pinned.retain(|k| k.0 != handle);
    }

    /// A new engine session: every handle is new, nothing is cached on either side.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.pinned.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Rule 1: whether a patch list may start a cache that has no value.
pub(crate) fn starts_a_value(ops: &[Op]) -> bool {
    ops.first()
        .is_some_and(|op| is_root(&op.path) && matches!(op.op.as_str(), "add" | "replace"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<Op> {
        serde_json::from_value(v).unwrap()
    }

    fn run(base: Option<Value>, patch: Value) -> Result<Option<Value>, PatchError> {
        let mut t = base;
        apply(&mut t, ops(patch))?;
        Ok(t)
    }

    #[test]
    fn root_add_replace_and_empty_lists() {
        let v = run(None, json!([{"op":"add","path":"/","value":{"a":1}}])).unwrap();
        assert_eq!(v, Some(json!({"a":1})));
        let v = run(v, json!([])).unwrap();
        assert_eq!(v, Some(json!({"a":1})));
        let v = run(v, json!([{"op":"replace","path":"/","value":"text"}])).unwrap();
        assert_eq!(v, Some(json!("text")));
    }

    #[test]
    fn escaped_keys_appends_removals_moves_copies() {
        let base = Some(json!({"a/b": 1, "m~n": [1, 2], "x": {"y": 1}}));
        let v = run(
            base,
            json!([
                {"op":"replace","path":"/a~1b","value":2},
                {"op":"add","path":"/m~0n/-","value":3},
                {"op":"remove","path":"/m~0n/0"},
                {"op":"move","from":"/x/y","path":"/z"},
                {"op":"copy","from":"/z","path":"/x/w"},
                {"op":"test","path":"/z","value":1}
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            Some(json!({"a/b": 2, "m~n": [2, 3], "x": {"w": 1}, "z": 1}))
        );
    }

    #[test]
    fn errors_name_the_operation_and_path() {
        let e = run(
            Some(json!({"a": 1})),
            json!([{"op":"add","path":"/b","value":1},{"op":"replace","path":"/missing/x","value":1}]),
        )
        .unwrap_err();
        assert_eq!(
            (e.index, e.op.as_str(), e.path.as_str()),
            (1, "replace", "/missing/x")
        );
        let e = run(None, json!([{"op":"add","path":"/a","value":1}])).unwrap_err();
        assert!(e.message.contains("cache is empty"), "{e}");
        let e = run(Some(json!(1)), json!([{"op":"frobnicate","path":"/a"}])).unwrap_err();
        assert!(
            e.to_string().contains("unknown operation `frobnicate`"),
            "{e}"
        );
        let e = run(
            Some(json!({"a":[1]})),
            json!([{"op":"add","path":"/a/7","value":1}]),
        )
        .unwrap_err();
        assert_eq!(e.path, "/a/7");
    }

    #[test]
    fn cache_is_bounded_and_pins_evicted_keys() {
        let mut c = Cache::new(100, 3);
        for (i, m) in ["A", "B", "C", "D"].into_iter().enumerate() {
            c.put((i as i32, m), Some(Arc::new(json!(i))), 10);
        }
        assert_eq!(c.len(), 3);
        assert!(!c.may_ask(&(0, "A")), "the oldest was evicted: pinned");
        assert!(matches!(c.take(&(0, "A")), Base::Absent));
        assert!(c.may_ask(&(3, "D")));
        c.put((9, "big"), Some(Arc::new(json!(0))), 95);
        assert_eq!(c.len(), 1, "byte bound keeps only the newest");
        assert_eq!(c.bytes, 95);
        c.drop_handle(9);
        assert_eq!((c.len(), c.bytes), (0, 0));
        c.drop_handle(0);
        assert!(c.may_ask(&(0, "A")), "a closed handle's pins go");
        c.put((1, "X"), None, 5);
        c.diverged((1, "X"));
        assert!(!c.may_ask(&(1, "X")));
        c.put((1, "X"), Some(Arc::new(json!(1))), 5);
        assert!(
            matches!(c.take(&(1, "X")), Base::Absent),
            "a pinned key stores nothing"
        );
        c.clear();
        assert!(c.may_ask(&(1, "X")));
    }

    #[test]
    fn only_a_root_add_or_replace_starts_a_value() {
        assert!(starts_a_value(&ops(
            json!([{"op":"add","path":"/","value":1}])
        )));
        assert!(starts_a_value(&ops(
            json!([{"op":"replace","path":"/","value":{}},{"op":"add","path":"/a","value":1}])
        )));
        assert!(!starts_a_value(&ops(json!([]))));
        assert!(!starts_a_value(&ops(
            json!([{"op":"replace","path":"/a","value":1}])
        )));
        assert!(!starts_a_value(&ops(json!([{"op":"remove","path":"/"}]))));
        assert!(!starts_a_value(&ops(
            json!([{"op":"test","path":"/","value":null}])
        )));
    }

    /// Property: random edits of a random document, expressed as a patch, turn the old
    /// document into the new one (a patch computed by `json_patch::diff`, with its root
    /// operations rewritten to the engine's `"/"`).
    #[test]
    fn random_diffs_apply() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn random(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 3 { 4 } else { 6 } {
                0 => Value::Null,
                1 => json!(next() % 100),
                2 => json!(format!("s/{}~", next() % 5)),
                3 => json!(next() % 2 == 0),
                4 => Value::Array((0..next() % 4).map(|_| random(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next() % 4)
                        .map(|_| (format!("k~{}/", next() % 6), random(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        for _ in 0..2000 {
            let a = random(&mut next, 0);
            let b = random(&mut next, 0);
            let patch = json_patch::diff(&a, &b);
            let mut wire = serde_json::to_value(&patch).unwrap();
            for op in wire.as_array_mut().unwrap() {
                if op["path"] == "" {
                    op["path"] = json!("/");
                }
            }
            let out = run(Some(a.clone()), wire.clone())
                .unwrap_or_else(|e| panic!("{e}: {a} -> {b} via {wire}"));
            assert_eq!(out, Some(b));
        }
    }
}
