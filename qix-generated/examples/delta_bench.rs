//! The delta protocol's cost and gain: repeated `GenericObject.GetLayout` of a real 60 KiB
//! layout (the corpus's `qlik-radar-chart-1.json`) that changes a little between calls (one
//! cell's `qNum` and `qText`), answered in full or as JSON-Patch lists.
//!
//! ```text
//! cargo run --release -p qix-generated --example delta_bench -- --corpus ../shared/corpus [--calls N]
//! ```
//!
//! The engine side runs on a thread of its own over the in-memory transport, with every
//! answer prepared before the clock starts (its diffs are the engine's work, not the
//! client's); the client's CPU time is its own thread's (`/proc/thread-self/schedstat`),
//! which runs the connection task, the patching and the typed decode. Prints one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use qix_generated::GenericObject;
use qix_runtime::transport::{self, Frame, Text};
use qix_runtime::{ObjectInfo, Session, SessionOptions};
use serde_json::{Value, json};

fn die(msg: &str) -> ! {
    eprintln!("delta_bench: {msg}");
    std::process::exit(2);
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| die("cannot read /proc/thread-self/schedstat"))
}

/// JSON pointers of every numeric `qNum` in the layout.
fn num_paths(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                if k == "qNum" && x.is_number() {
                    out.push(p);
                } else {
                    num_paths(x, p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                num_paths(x, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

struct Run {
    bytes: u64,
    cpu_ns: u64,
    wall_ns: u64,
}

fn run(bodies: Vec<(String, bool)>, delta: bool, expect_last: &Value) -> Run {
    let (t, mut peer) = transport::channel();
    let calls = bodies.len();
    let bytes: u64 = bodies.iter().map(|(b, _)| b.len() as u64 + 40).sum();
    // The engine: answers request i with body i.
    let engine = std::thread::spawn(move || {
        for (body, is_delta) in bodies {
            let Some(req) = peer.sent.blocking_recv() else {
                return;
            };
            let id = serde_json::from_str::<Value>(&req)
                .ok()
                .and_then(|v| v["id"].as_i64())
                .unwrap_or_else(|| die("a request without an id"));
            let flag = if is_delta { ",\"delta\":true" } else { "" };
            let frame = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{body}{flag}}}");
            if peer.push.send(Frame::Text(Text::from(frame))).is_err() {
                return;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&e.to_string()));
    let (cpu_ns, wall_ns, last) = rt.block_on(async {
        let session = Session::from_transport(
            t,
            SessionOptions {
                delta,
                ..SessionOptions::default()
            },
        );
        let obj = GenericObject::from_object(
            session.register_object(ObjectInfo::new(2, "GenericObject")),
        );
        let (cpu0, t0) = (thread_cpu_ns(), Instant::now());
        let mut last = None;
        for _ in 0..calls {
            last = Some(
                obj.get_layout()
                    .await
                    .unwrap_or_else(|e| die(&format!("GetLayout: {e}"))),
            );
        }
        (thread_cpu_ns() - cpu0, t0.elapsed().as_nanos() as u64, last)
    });
    let _ = engine.join();
    // The typed value re-encodes to what the engine meant: nothing was lost on the way.
    let got = serde_json::to_value(last.unwrap_or_else(|| die("no calls")))
        .unwrap_or_else(|e| die(&e.to_string()));
    if !same_numbers(&got, expect_last) {
        die("the last layout differs from the engine's");
    }
    Run {
        bytes,
        cpu_ns,
        wall_ns,
    }
}

/// Equal, with numbers compared by value (`1` and `1.0` are one number).
fn same_numbers(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_numbers(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_numbers(v, w)))
        }
        _ => a == b,
    }
}

fn main() {
    let mut corpus = None;
    let mut calls = 2000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--corpus" => corpus = it.next().map(PathBuf::from),
            "--calls" => {
                calls = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| die("--calls needs a number"))
            }
            other => die(&format!("unknown option {other}")),
        }
    }
    let corpus = corpus.unwrap_or_else(|| die("--corpus DIR is required"));
    let file = corpus.join("layouts/qlik-to-d3-render/qlik-radar-chart-1.json");
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| die(&format!("{}: {e}", file.display())));
    let raw: Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&e.to_string()));
    let base = raw.get("qLayout").cloned().unwrap_or(raw);
    let mut paths = Vec::new();
    num_paths(&base, String::new(), &mut paths);
    if paths.is_empty() {
        die("the layout has no qNum");
    }
    // The engine's successive values, and its answers both ways.
    let mut values = vec![base.clone()];
    for i in 1..calls {
        let mut next = values[i - 1].clone();
        let p = &paths[i % paths.len()];
        if let Some(n) = next.pointer_mut(p) {
            *n = json!(i as f64 + 0.25);
        }
        let text_path = format!("{}/qText", &p[..p.rfind('/').unwrap_or(0)]);
        if let Some(t) = next.pointer_mut(&text_path) {
            *t = json!(format!("{i}.25"));
        }
        values.push(next);
    }
    let full: Vec<(String, bool)> = values
        .iter()
        .map(|v| (json!({"qLayout": v}).to_string(), false))
        .collect();
    let mut delta = Vec::with_capacity(calls);
    for i in 0..calls {
        let patch = if i == 0 {
            json!([{"op": "add", "path": "/", "value": values[0]}])
        } else {
            let mut p = serde_json::to_value(json_patch::diff(&values[i - 1], &values[i]))
                .unwrap_or_else(|e| die(&e.to_string()));
            for op in p.as_array_mut().into_iter().flatten() {
                if op["path"] == "" {
                    op["path"] = json!("/");
                }
            }
            p
        };
        delta.push((json!({ "qLayout": patch }).to_string(), true));
    }
    let last = values.last().cloned().unwrap_or(Value::Null);
    // Warm up both paths, then measure.
    run(
        full[..calls.min(50)].to_vec(),
        false,
        &values[calls.min(50) - 1],
    );
    run(
        delta[..calls.min(50)].to_vec(),
        true,
        &values[calls.min(50) - 1],
    );
    let f = run(full, false, &last);
    let d = run(delta, true, &last);
    let per = |what: u64| what as f64 / calls as f64;
    println!(
        "{}",
        json!({
            "layout_bytes": text.len(),
            "calls": calls,
            "full": {"bytes_per_call": per(f.bytes), "cpu_us_per_call": per(f.cpu_ns) / 1e3, "wall_us_per_call": per(f.wall_ns) / 1e3},
            "delta": {"bytes_per_call": per(d.bytes), "cpu_us_per_call": per(d.cpu_ns) / 1e3, "wall_us_per_call": per(d.wall_ns) / 1e3},
        })
    );
}
