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
//! which runs the connection task, the patching and the typed decode.
//!
//! Then big patches: a layout whose data pages (5 MiB) are replaced by each answer, while
//! a second caller makes small calls on another object of the same session; the small
//! calls' latency with and without the big patches says whether the connection task keeps
//! answering while it patches. Prints one JSON line.

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

/// A value whose `qDataPages` hold about `bytes` of cells, different for each `seed`.
fn big_layout(bytes: usize, seed: u64) -> Value {
    let rows = bytes / 64;
    let matrix: Vec<Value> = (0..rows as u64)
        .map(|r| json!([{"qText": format!("r{}", r + seed), "qNum": (r * 7 + seed) as f64 + 0.5, "qElemNumber": r}]))
        .collect();
    json!({"qInfo": {"qId": "big", "qType": "table"}, "qHyperCube": {"qDataPages": [{"qMatrix": matrix}]}})
}

/// Latency percentiles in microseconds.
fn percentiles(mut v: Vec<u64>) -> Value {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize] as f64 / 1e3;
    json!({"p50_us": at(0.5), "p99_us": at(0.99), "max_us": at(1.0), "calls": v.len()})
}

/// Small calls on one object while another's big patches arrive (or not): their
/// latencies; and the process CPU per big patch (patch and typed decode) when no small
/// calls run (`with_small` false).
fn big_patches(bytes: usize, patches: usize, with_big: bool, with_small: bool) -> (Value, f64) {
    let (t, mut peer) = transport::channel();
    let small = r#"{"qLayout":[{"op":"replace","path":"/n","value":1}]}"#.to_string();
    let first_small = r#"{"qLayout":[{"op":"add","path":"/","value":{"n":0}}]}"#.to_string();
    let mut bodies = Vec::with_capacity(patches);
    for i in 0..patches as u64 {
        let v = big_layout(bytes, i);
        let patch = if i == 0 {
            json!([{"op": "add", "path": "/", "value": v}])
        } else {
            json!([{"op": "replace", "path": "/qHyperCube/qDataPages", "value": v["qHyperCube"]["qDataPages"]}])
        };
        bodies.push(json!({ "qLayout": patch }).to_string());
    }
    let engine = std::thread::spawn(move || {
        let mut big = bodies.into_iter();
        let mut smalls = 0;
        while let Some(req) = peer.sent.blocking_recv() {
            let v: Value = serde_json::from_str(&req).unwrap_or_else(|e| die(&e.to_string()));
            let id = v["id"]
                .as_i64()
                .unwrap_or_else(|| die("a request without an id"));
            if v["delta"] != true {
                die("a request without delta: the client lost a base");
            }
            let body = if v["handle"] == 2 {
                big.next()
                    .unwrap_or_else(|| die("more big requests than answers"))
            } else {
                smalls += 1;
                if smalls == 1 {
                    first_small.clone()
                } else {
                    small.clone()
                }
            };
            let frame =
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{body},\"delta\":true}}");
            if peer.push.send(Frame::Text(Text::from(frame))).is_err() {
                return;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&e.to_string()));
    let (latencies, cpu_per_patch) = rt.block_on(async move {
        let session = Session::from_transport(t, SessionOptions::default());
        let big = GenericObject::from_object(
            session.register_object(ObjectInfo::new(2, "GenericObject")),
        );
        let small = session.register_object(ObjectInfo::new(3, "GenericObject"));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = stop.clone();
        let smalls = tokio::spawn(async move {
            let mut out = Vec::new();
            while with_small && !done.load(std::sync::atomic::Ordering::Relaxed) {
                let t0 = Instant::now();
                small
                    .call(
                        qix_runtime::MethodInfo::new("GetLayout")
                            .delta("qLayout")
                            .read(),
                        qix_runtime::__private::Params::new(),
                        Default::default(),
                        |ctx, raw| {
                            qix_runtime::__private::decode::delta_out::<Value>(
                                ctx,
                                raw,
                                "qLayout",
                                "GetLayout",
                            )
                        },
                    )
                    .await
                    .unwrap_or_else(|e| die(&format!("small call: {e}")));
                out.push(t0.elapsed().as_nanos() as u64);
                tokio::task::yield_now().await;
            }
            out
        });
        let mut cpu = 0f64;
        if with_big {
            // The connection task's CPU is not this thread's: the patch cost is measured
            // as the whole process's CPU per patch.
            let p0 = process_cpu_ns();
            for _ in 0..patches {
                let l = big
                    .get_layout()
                    .await
                    .unwrap_or_else(|e| die(&format!("big GetLayout: {e}")));
                std::hint::black_box(l);
            }
            cpu = (process_cpu_ns() - p0) as f64 / patches as f64;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (smalls.await.unwrap_or_default(), cpu)
    });
    drop(rt);
    let _ = engine.join();
    let latencies = if latencies.is_empty() {
        Value::Null
    } else {
        percentiles(latencies)
    };
    (latencies, cpu_per_patch / 1e6)
}

/// Nanoseconds the whole process has run on a CPU.
fn process_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_else(|e| die(&e.to_string()));
    // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) * 10_000_000
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
    let big_bytes = 5 << 20;
    let (quiet, _) = big_patches(big_bytes, 20, false, true);
    let (busy, _) = big_patches(big_bytes, 20, true, true);
    let (_, cpu_ms) = big_patches(big_bytes, 20, true, false);
    println!(
        "{}",
        json!({
            "layout_bytes": text.len(),
            "calls": calls,
            "full": {"bytes_per_call": per(f.bytes), "cpu_us_per_call": per(f.cpu_ns) / 1e3, "wall_us_per_call": per(f.wall_ns) / 1e3},
            "delta": {"bytes_per_call": per(d.bytes), "cpu_us_per_call": per(d.cpu_ns) / 1e3, "wall_us_per_call": per(d.wall_ns) / 1e3},
            "big_patch": {"bytes": big_bytes, "cpu_ms_per_patch": cpu_ms, "small_calls_alone": quiet, "small_calls_meanwhile": busy},
        })
    );
}
