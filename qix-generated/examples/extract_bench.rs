//! The extraction benchmark of `cargo xtask bench`: a mock engine serving a large cube with
//! a simulated round trip, and a client reading it by sequential paging or by
//! `helpers::extract` with a window.
//!
//! ```text
//! extract_bench serve --rows 1000000 --latency-ms 10        # prints "listening PORT"
//! extract_bench client --port P --mode paging               # helpers::paging, one page at a time
//! extract_bench client --port P --mode extract --window 8   # helpers::extract
//! ```
//!
//! The server's cube (`MockCube`) has 4 columns (a text dimension, a date dimension, two
//! measures) and serves the object `bench` of the active doc; it runs until stdin closes
//! or `--seconds` pass. The client prints one JSON line: rows, seconds, rows/s, its CPU
//! seconds (user + system) and peak RSS, and a checksum of the measures (the same for
//! every mode).

use std::error::Error;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use qix_generated::helpers::extract::{Event, Extract};
use qix_generated::helpers::paging::{PageShape, data_pages};
use qix_generated::prelude::*;
use qix_runtime::testing::{MockColumn, MockCube, MockEngine};
use serde_json::json;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

struct Args {
    mode: String,
    rows: u64,
    latency_ms: u64,
    seconds: u64,
    port: u16,
    window: usize,
}

fn args() -> Res<(String, Args)> {
    let mut it = std::env::args().skip(1);
    let command = it
        .next()
        .ok_or("usage: extract_bench serve|client [options]")?;
    let mut a = Args {
        mode: "extract".into(),
        rows: 1_000_000,
        latency_ms: 10,
        seconds: 900,
        port: 0,
        window: 8,
    };
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--mode" => a.mode = v,
            "--rows" => a.rows = v.parse()?,
            "--latency-ms" => a.latency_ms = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--port" => a.port = v.parse()?,
            "--window" => a.window = v.parse()?,
            _ => return Err(format!("unknown option {k}").into()),
        }
    }
    Ok((command, a))
}

fn main() -> Res<()> {
    let (command, a) = args()?;
    match command.as_str() {
        // The server gets a runtime of its own threads: page text is written on the
        // connection's task, and the client runs in another process.
        "serve" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(a)),
        "client" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(client(a)),
        c => Err(format!("unknown command {c}").into()),
    }
}

async fn serve(a: Args) -> Res<()> {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetActiveDoc")
        .optional()
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "bench.qvf"}}));
    mock.expect("GetObject").optional().returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "bench"}}),
    );
    let cube = MockCube::new(a.rows)
        .column(MockColumn::Text {
            name: "Region".into(),
            distinct: 50,
        })
        .column(MockColumn::Date { name: "Day".into() })
        .column(MockColumn::Measure {
            name: "Sales".into(),
        })
        .column(MockColumn::Measure {
            name: "Cost".into(),
        });
    let latency = (a.latency_ms > 0).then(|| Duration::from_millis(a.latency_ms));
    cube.serve_with_latency(&mock, 2, "bench", latency);
    println!("listening {}", mock.addr().port());
    // Until stdin closes (the benchmark ends) or the time is up.
    let stdin = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let _ = tokio::time::timeout(Duration::from_secs(a.seconds), stdin).await;
    eprintln!("served {} pages", cube.pages_served());
    Ok(())
}

async fn client(a: Args) -> Res<()> {
    let session = Session::builder(format!("ws://127.0.0.1:{}/app/", a.port))
        .connect()
        .await?;
    let doc = session.global().get_active_doc().await?;
    let object = doc.get_object("bench").await?;
    let t0 = Instant::now();
    let (mut rows, mut cells, mut sum) = (0u64, 0u64, 0f64);
    let mut add = |matrix: &[Vec<qix_generated::types::NxCell>]| {
        for row in matrix {
            rows += 1;
            cells += row.len() as u64;
            sum += row
                .iter()
                .skip(2)
                .filter_map(|c| c.num)
                .filter(|n| !n.is_nan())
                .sum::<f64>();
        }
    };
    match a.mode.as_str() {
        // Today's paging helper: one page after another.
        "paging" => {
            let layout = object.get_layout().await?;
            let size = layout.hyper_cube.and_then(|c| c.size).unwrap_or_default();
            let shape = PageShape::full_width(size.cx.unwrap_or(1));
            let mut pages = data_pages(&object, "/qHyperCubeDef", &size, shape);
            while let Some(page) = pages.try_next().await? {
                add(&page.matrix);
            }
        }
        "extract" => {
            let mut pages = Extract::object(&object).window(a.window).pages();
            while let Some(event) = pages.try_next().await? {
                match event {
                    Event::Begin(t) if t.snapshot > 0 => return Err("the cube changed".into()),
                    Event::Data(page) => add(&page.data.matrix),
                    _ => {}
                }
            }
        }
        m => return Err(format!("unknown mode {m}").into()),
    }
    let s = t0.elapsed().as_secs_f64();
    session.close().await;
    println!(
        "{}",
        json!({
            "mode": a.mode, "window": a.window, "rows": rows, "cells": cells,
            "seconds": s, "rows_per_s": rows as f64 / s,
            "cpu_s": cpu_seconds(), "peak_rss_kb": status_kb("VmHWM:"), "sum": sum,
        })
    );
    Ok(())
}

/// User + system CPU time of this process.
fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15 (utime, stime) in clock ticks; 100 per second on
    // Linux (USER_HZ).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // After the name: the state (field 3), then numbers from ppid (field 4) on; utime and
    // stime are fields 14 and 15.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|x| x.parse::<u64>().ok());
    match (field(14), field(15)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

/// A line of /proc/self/status in KiB (`VmHWM:` is the peak RSS).
fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
