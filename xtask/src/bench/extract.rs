//! The extraction scenario of `bench`: 1,000,000 rows × 4 columns served by a mock engine
//! (`extract_bench serve`, a `MockCube`) with a simulated round trip of 10 ms per call,
//! then without one; read by today's sequential paging, by `helpers::extract` with windows
//! 1, 4, 8 and 16, and by the release CLI (`qix extract`) to CSV and to Parquet.
//! Repetitions are interleaved; each figure is the median, each ratio the median of
//! per-repetition ratios. Client CPU and peak RSS are the client process's own (the server
//! runs in another process).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use super::{Table, cargo, median, root, step, thousands};

/// Targets (issue 17): window 8 at 10 ms is at least 5× sequential paging; without latency
/// the window costs nothing (within 10% of sequential).
const WINDOW_TARGET: f64 = 5.0;
const NO_LATENCY_TARGET: f64 = 0.9;

/// One way of reading the cube.
#[derive(Clone)]
struct Mode {
    name: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Paging,
    Window(usize),
    Cli(&'static str),
}

/// One run's figures.
#[derive(Clone, Copy, Default)]
struct Run {
    rows: f64,
    seconds: f64,
    cpu_s: f64,
    peak_kib: f64,
}

pub struct Figures {
    rows: u64,
    reps: u32,
    /// (latency ms, mode) → runs.
    runs: BTreeMap<(u64, String), Vec<Run>>,
    modes: Vec<(u64, Vec<Mode>)>,
}

fn modes(latency: u64) -> Vec<Mode> {
    let m = |name: &str, kind| Mode {
        name: name.into(),
        kind,
    };
    let mut v = vec![m("sequential paging (helpers::paging)", Kind::Paging)];
    let windows: &[usize] = if latency > 0 { &[1, 4, 8, 16] } else { &[1, 8] };
    for &w in windows {
        v.push(m(&format!("helpers::extract, window {w}"), Kind::Window(w)));
    }
    if latency > 0 {
        v.push(m("qix extract -o out.csv (window 8)", Kind::Cli("csv")));
        v.push(m(
            "qix extract -o out.parquet (window 8)",
            Kind::Cli("parquet"),
        ));
    }
    v
}

pub fn run(quick: bool, reps: u32) -> Result<Figures, String> {
    step("extraction: building extract_bench and the qix CLI (release)");
    cargo(
        &[
            "build",
            "--release",
            "-p",
            "qix-generated",
            "--features",
            "testing",
            "--example",
            "extract_bench",
        ],
        None,
    )?;
    cargo(&["build", "--release", "-p", "qix-cli"], None)?;
    let bench = root().join("target/release/examples/extract_bench");
    let cli = root().join("target/release/qix");
    let rows: u64 = if quick { 100_000 } else { 1_000_000 };
    let out_dir = std::env::temp_dir().join(format!("qix-bench-extract-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut figures = Figures {
        rows,
        reps,
        runs: BTreeMap::new(),
        modes: Vec::new(),
    };
    for latency in [10u64, 0] {
        step(&format!(
            "extraction: {rows} rows, {latency} ms per round trip"
        ));
        let mut server = Server::start(&bench, rows, latency)?;
        let modes = modes(latency);
        for rep in 0..reps {
            for mode in &modes {
                let r = match &mode.kind {
                    Kind::Paging => client(&bench, server.port, "paging", 1),
                    Kind::Window(w) => client(&bench, server.port, "extract", *w),
                    Kind::Cli(ext) => {
                        let file = out_dir.join(format!("out.{ext}"));
                        run_cli(&cli, server.port, &file)
                    }
                };
                let r = r.map_err(|e| format!("{} (rep {}): {e}", mode.name, rep + 1))?;
                if r.rows as u64 != rows {
                    return Err(format!("{}: read {} rows of {rows}", mode.name, r.rows));
                }
                figures
                    .runs
                    .entry((latency, mode.name.clone()))
                    .or_default()
                    .push(r);
            }
        }
        server.stop();
        figures.modes.push((latency, modes));
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(figures)
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bench: &Path, rows: u64, latency: u64) -> Result<Server, String> {
        let mut child = Command::new(bench)
            .args(["serve", "--rows", &rows.to_string()])
            .args(["--latency-ms", &latency.to_string(), "--seconds", "1800"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bench.display()))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok());
        match port {
            Some(port) => Ok(Server { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the extract_bench server did not start: {line:?}"))
            }
        }
    }

    fn stop(&mut self) {
        // Closing stdin ends it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn client(bench: &Path, port: u16, mode: &str, window: usize) -> Result<Run, String> {
    let out = Command::new(bench)
        .args(["client", "--port", &port.to_string(), "--mode", mode])
        .args(["--window", &window.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", bench.display()))?;
    if !out.status.success() {
        return Err(format!("extract_bench client failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("no JSON line from extract_bench client")?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Run {
        rows: f("rows"),
        seconds: f("seconds"),
        cpu_s: f("cpu_s"),
        peak_kib: f("peak_rss_kb"),
    })
}

/// The release CLI to a file; its CPU time and peak RSS from `wait4`.
fn run_cli(cli: &Path, port: u16, file: &PathBuf) -> Result<Run, String> {
    let _ = std::fs::remove_file(file);
    let t0 = Instant::now();
    let child = Command::new(cli)
        .args(["--engine", &format!("ws://127.0.0.1:{port}/app/")])
        .args(["--json", "extract", "bench", "-o"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", cli.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout {
        let _ = std::io::Read::read_to_string(&mut s, &mut stdout);
    }
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct; `wait4` writes it
    // and the status for our own child, which nothing else waits for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = t0.elapsed().as_secs_f64();
    if got != pid || !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("qix extract failed (status {status})"));
    }
    let v: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("qix extract --json printed no JSON summary ({e}): {stdout:?}"))?;
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let _ = std::io::stderr().flush();
    Ok(Run {
        rows: v["rows"].as_f64().unwrap_or(f64::NAN),
        seconds,
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_kib: usage.ru_maxrss as f64,
    })
}

pub fn rows(t: &mut Table, f: &Figures) {
    let med = |latency: u64, name: &str, pick: fn(&Run) -> f64| {
        let mut v: Vec<f64> = f
            .runs
            .get(&(latency, name.to_string()))
            .map(|runs| runs.iter().map(pick).collect())
            .unwrap_or_default();
        median(&mut v)
    };
    let rate = |r: &Run| r.rows / r.seconds;
    let per_rep_ratio = |latency: u64, a: &str, b: &str| {
        let (Some(x), Some(y)) = (
            f.runs.get(&(latency, a.to_string())),
            f.runs.get(&(latency, b.to_string())),
        ) else {
            return f64::NAN;
        };
        let mut v: Vec<f64> = x.iter().zip(y).map(|(x, y)| rate(x) / rate(y)).collect();
        median(&mut v)
    };
    let cells = f.rows as f64 * 4.0;
    for (latency, modes) in &f.modes {
        let sequential = &modes[0].name;
        for m in modes {
            let rows_s = med(*latency, &m.name, rate);
            let wall = med(*latency, &m.name, |r| r.seconds);
            let cpu = med(*latency, &m.name, |r| r.cpu_s) / (cells / 1e6);
            let peak = med(*latency, &m.name, |r| r.peak_kib) / 1024.0;
            let ratio = per_rep_ratio(*latency, &m.name, sequential);
            let (target, ok) = match (&m.kind, latency) {
                (Kind::Window(8), 10) => (
                    format!("≥ {WINDOW_TARGET}x sequential"),
                    Some(ratio >= WINDOW_TARGET),
                ),
                (Kind::Window(8), 0) => (
                    format!("≥ {NO_LATENCY_TARGET}x sequential"),
                    Some(ratio >= NO_LATENCY_TARGET),
                ),
                _ => (String::new(), None),
            };
            t.row(
                "extract",
                &format!(
                    "{} rows × 4 columns, {latency} ms round trip: {}; wall {wall:.2} s, client CPU {cpu:.3} s per million cells, peak RSS {peak:.1} MiB (medians of {})",
                    thousands(f.rows as f64),
                    m.name,
                    f.reps
                ),
                format!("{} rows/s", thousands(rows_s)),
                format!("{} rows/s", thousands(med(*latency, sequential, rate))),
                format!("{ratio:.2}x"),
                &target,
                ok,
            );
        }
    }
}
