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

use std::collections::{HashMap, HashSet};
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
        if matches!(op.op.as_str(), "copy" | "move") && op.from.as_deref().is_some_and(is_root) {
            // Copying the whole value below itself: RFC 6902 forbids a move, allows a copy.
            if op.op == "move" {
                return Err(err(&op, "cannot move the root into itself".into()));
            }
            let whole = doc.clone();
            let one = json_patch::PatchOperation::Add(json_patch::AddOperation {
                path: pointer(&op.path).map_err(|m| err(&op, m))?,
                value: whole,
            });
            json_patch::patch(doc, &[one]).map_err(|e| err(&op, e.kind.to_string()))?;
            continue;
        }
        let one = to_crate(&op).map_err(|m| err(&op, m))?;
        json_patch::patch(doc, std::slice::from_ref(&one))
            .map_err(|e| err(&op, e.kind.to_string()))?;
    }
    Ok(())
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

/// The key of a cache: handle, method, out-param.
pub(crate) type Key = (i32, &'static str);

struct Entry {
    /// Shared with the caller that decodes it; copied on the next patch only if that
    /// caller still holds it.
    value: Option<Arc<Value>>,
    /// Rough size in bytes (the wire text that built it), for the bound.
    bytes: usize,
    last_used: u64,
}

/// The last values of one session, bounded in total bytes and entries; an evicted or
/// failed key asks without delta once, so the engine starts that cache over too.
pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    /// Keys whose next request goes without delta.
    restart: HashSet<Key>,
    bytes: usize,
    clock: u64,
    pub(crate) max_bytes: usize,
    pub(crate) max_entries: usize,
}

impl Cache {
    pub(crate) fn new(max_bytes: usize, max_entries: usize) -> Self {
        Cache {
            entries: HashMap::new(),
            restart: HashSet::new(),
            bytes: 0,
            clock: 0,
            max_bytes,
            max_entries: max_entries.max(1),
        }
    }

    /// Whether the next request for `key` may ask for delta.
    pub(crate) fn may_ask(&self, key: &Key) -> bool {
        self.restart.is_empty() || !self.restart.contains(key)
    }

    /// Takes the value out to patch it without holding the session's lock.
    pub(crate) fn take(&mut self, key: &Key) -> Option<Arc<Value>> {
        let e = self.entries.remove(key)?;
        self.bytes -= e.bytes;
        e.value
    }

    /// The bytes counted for a key so far.
    pub(crate) fn bytes_of(&self, key: &Key) -> usize {
        self.entries.get(key).map_or(0, |e| e.bytes)
    }

    /// Puts a patched value back.
    pub(crate) fn put(&mut self, key: Key, value: Option<Arc<Value>>, bytes: usize) {
        self.clock += 1;
        self.restart.remove(&key);
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
            self.forget(victim);
        }
    }

    /// Drops a key's value; its next request asks without delta.
    pub(crate) fn forget(&mut self, key: Key) {
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.bytes;
        }
        self.restart.insert(key);
    }

    /// A full (non-delta) answer arrived for `key`: nothing of ours is relative to it.
    pub(crate) fn full_answer(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.bytes;
        }
        self.restart.remove(key);
    }

    /// The engine closed a handle: its caches go.
    pub(crate) fn drop_handle(&mut self, handle: i32) {
        if self.entries.is_empty() && self.restart.is_empty() {
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
        self.restart.retain(|k| k.0 != handle);
    }

    /// A new engine session: every handle is new, nothing is cached on either side.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.restart.clear();
        self.bytes = 0;
    }

    /// The same engine session after a reconnection: answers in flight were lost, so our
    /// values may be behind the engine's. Every key starts over.
    pub(crate) fn restart_all(&mut self) {
        let keys: Vec<Key> = self.entries.keys().copied().collect();
        for k in keys {
            self.forget(k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
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
    fn cache_is_bounded_and_restarts_evicted_keys() {
        let mut c = Cache::new(100, 3);
        for (i, m) in ["A", "B", "C", "D"].into_iter().enumerate() {
            c.put((i as i32, m), Some(Arc::new(json!(i))), 10);
        }
        assert_eq!(c.len(), 3);
        assert!(
            !c.may_ask(&(0, "A")),
            "the oldest was evicted and starts over"
        );
        assert!(c.may_ask(&(3, "D")));
        c.put((9, "big"), Some(Arc::new(json!(0))), 95);
        assert_eq!(c.len(), 1, "byte bound keeps only the newest");
        assert_eq!(c.bytes, 95);
        c.drop_handle(9);
        assert_eq!((c.len(), c.bytes), (0, 0));
        c.put((1, "X"), None, 5);
        c.restart_all();
        assert!(!c.may_ask(&(1, "X")));
        c.full_answer(&(1, "X"));
        assert!(c.may_ask(&(1, "X")));
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
