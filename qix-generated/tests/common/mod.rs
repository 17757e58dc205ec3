//! Helpers shared by the generated crate's tests.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The next request a session sent to a scripted peer, as JSON (fails the test after 5 s).
pub async fn next_request(peer: &mut qix_runtime::transport::ChannelPeer) -> Value {
    let text = tokio::time::timeout(std::time::Duration::from_secs(5), peer.sent.recv())
        .await
        .expect("no request sent")
        .expect("session gone");
    serde_json::from_str(&text).unwrap()
}

/// `../shared/` beside the workspace (read-only data: specs, corpus, qixbench).
pub fn shared() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        dir.join("corpus").is_dir(),
        "the shared data folder is missing: expected {} (see the README)",
        dir.display()
    );
    dir
}

/// `../shared/corpus/layouts`: real layouts and properties, one folder per source.
pub fn layouts_dir() -> PathBuf {
    shared().join("corpus/layouts")
}

/// Every file in the folders of [`layouts_dir`], sorted.
pub fn layout_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(layouts_dir()).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

/// Compares two JSON values by meaning: numbers by value (`10` = `10.0`), everything else
/// exactly. Returns the path of the first difference.
pub fn same_json(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.as_f64() == y.as_f64() {
                Ok(())
            } else {
                Err(format!("{path}: {x} != {y}"))
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => same_json(v, w, &format!("{path}.{k}"))?,
                    None => return Err(format!("{path}.{k}: present only on the left ({v})")),
                }
            }
            for k in y.keys() {
                if !x.contains_key(k) {
                    return Err(format!("{path}.{k}: present only on the right ({})", y[k]));
                }
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{path}: {} items != {} items", x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                same_json(v, w, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}
