//! `bench`: one table of the project's performance numbers and their targets.
//!
//! ```text
//! cargo xtask bench [--quick] [--compile] [--skip-runtime] [--reps N]
//! ```
//!
//! 1. codegen: parse + lower + emit + format the pinned spec, in-process in a release build
//!    of xtask (re-run as `target/release/xtask bench --codegen-only` when this one is a
//!    debug build); the median of several runs, and whether every run wrote the same bytes;
//! 2. compile (`--compile`): clean `cargo build -p qix-generated`, debug and release, in a
//!    fresh target folder: the whole build and the qix-generated crate alone (`--timings`);
//! 3. decode: the largest corpus layouts and a 1,000-row data page, typed against
//!    `serde_json::Value` (the `decode` mode of the release qixbench client);
//! 4. extraction: 1,000,000 rows × 4 columns with 10 ms per round trip and without,
//!    read by sequential paging, `helpers::extract` (windows 1, 4, 8, 16) and the CLI to
//!    CSV and Parquet (`bench/extract.rs`);
//! 5. runtime: a copy of `../shared/qixbench` runs this SDK's client
//!    (`qix-generated/examples/qixbench.rs`), the bare Rust client (`raw-rust`,
//!    `raw-rust-typed`) and enigma.js when `node` is there; then 10,000 idle sessions for
//!    the memory per session.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use qix_codegen::{Companion, Spec};
use serde_json::{Value, json};

mod extract;

use crate::codegen::{HistoryArgs, find_spec, read_pin, resolve_history, root, sha256_hex};
use crate::history_pin::HistoryPin;

/// Targets (see the issue): ratios are against the bare Rust client of the same run.
const CODEGEN_TARGET_S: f64 = 1.0;
const COMPILE_DEBUG_TARGET_S: f64 = 40.0;
/// Half the 155 s the crate took before its types became macro invocations (issue 11: at
/// most half), with headroom for a noisy machine; measured 61 s.
const COMPILE_RELEASE_TARGET_S: f64 = 80.0;
const SEQ_PIPELINE_TARGET: f64 = 0.9;
const EXTRACT_TARGET: f64 = 1.0;
const SESSIONS_TARGET: f64 = 1.0;
const IDLE_KIB_TARGET: f64 = 32.0;
const IDLE_SESSIONS: u64 = 10_000;

/// The options of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// qixbench --quick (1/10 sizes), fewer repetitions, 1,000 idle sessions.
    #[arg(long)]
    pub quick: bool,
    /// Also time clean builds of qix-generated (debug and release; slow).
    #[arg(long)]
    pub compile: bool,
    /// No qixbench runs (codegen and decode only).
    #[arg(long)]
    pub skip_runtime: bool,
    /// No extraction scenario (1,000,000 rows with a simulated round trip).
    #[arg(long)]
    pub skip_extract: bool,
    /// Only the extraction scenario.
    #[arg(long, conflicts_with = "skip_extract")]
    pub extract_only: bool,
    /// qixbench repetitions (default 5; --quick 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub reps: Option<u32>,
    /// Internal: the release re-run that times the generator and prints one JSON line.
    #[arg(long, hide = true)]
    pub codegen_only: bool,
}

type Opts = BenchArgs;

pub fn run(o: BenchArgs) -> Result<ExitCode, String> {
    if o.codegen_only {
        let r = codegen_in_process(if o.quick { 3 } else { 7 })?;
        println!("{r}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::default();
    let mut failed = Vec::new();
    let facts = machine_facts();
    let load_start = load_average();
    if o.extract_only {
        let reps = o.reps.unwrap_or(if o.quick { 1 } else { 3 });
        match extract::run(o.quick, reps) {
            Ok(f) => extract::rows(&mut t, &f),
            Err(e) => failed.push(format!("extraction: {e}")),
        }
        return Ok(finish(&facts, &load_start, &t, &failed));
    }

    // Release builds first, one at a time (never two cargo builds at once).
    let bench_bin = root().join("target/release/examples/qixbench");
    step("building the qixbench client (release)");
    cargo(
        &[
            "build",
            "--release",
            "-p",
            "qix-generated",
            "--example",
            "qixbench",
            "--example",
            "delta_bench",
        ],
        None,
    )?;

    step("codegen");
    match codegen(&o) {
        Ok(r) => codegen_rows(&mut t, &r),
        Err(e) => failed.push(format!("codegen: {e}")),
    }

    if o.compile {
        for release in [false, true] {
            step(&format!(
                "clean build of qix-generated ({})",
                if release { "release" } else { "debug" }
            ));
            match compile(release) {
                Ok(c) => compile_rows(&mut t, release, &c),
                Err(e) => failed.push(format!("compile: {e}")),
            }
        }
    }

    step("decode");
    match decode(&bench_bin, o.quick) {
        Ok(r) => decode_rows(&mut t, &r),
        Err(e) => failed.push(format!("decode: {e}")),
    }

    step("delta protocol");
    match delta(o.quick) {
        Ok(r) => delta_rows(&mut t, &r),
        Err(e) => failed.push(format!("delta: {e}")),
    }

    if !o.skip_extract {
        let reps = o.reps.unwrap_or(if o.quick { 1 } else { 3 });
        match extract::run(o.quick, reps) {
            Ok(f) => extract::rows(&mut t, &f),
            Err(e) => failed.push(format!("extraction: {e}")),
        }
    }

    if !o.skip_runtime {
        step("runtime (qixbench)");
        match runtime(&bench_bin, &o) {
            Ok(r) => {
                runtime_rows(&mut t, &r);
                failed.extend(r.failures.iter().cloned());
            }
            Err(e) => failed.push(format!("runtime: {e}")),
        }
    }

    Ok(finish(&facts, &load_start, &t, &failed))
}

/// Prints the table and the failures.
fn finish(facts: &str, load_start: &str, t: &Table, failed: &[String]) -> ExitCode {
    println!();
    println!(
        "{facts}; load average {load_start} at the start, {} at the end",
        load_average()
    );
    println!();
    print!("{}", t.render());
    if !failed.is_empty() {
        println!();
        for f in failed {
            println!("failed: {f}");
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn step(what: &str) {
    eprintln!("== bench: {what}");
}

/// Runs cargo in the workspace; `target_dir` overrides CARGO_TARGET_DIR.
fn cargo(args: &[&str], target_dir: Option<&Path>) -> Result<Duration, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root());
    if let Some(d) = target_dir {
        cmd.env("CARGO_TARGET_DIR", d);
    }
    let t0 = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("cargo {}: {e}", args.join(" ")))?;
    if !status.success() {
        return Err(format!("cargo {} failed ({status})", args.join(" ")));
    }
    Ok(t0.elapsed())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The 1-minute load average: other work on the machine shows in the numbers.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn machine_facts() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let rustc = output(Command::new("rustc").arg("-V")).unwrap_or_else(|| "rustc ?".into());
    let node = output(Command::new("node").arg("--version"))
        .map(|v| format!(", node {v}"))
        .unwrap_or_default();
    let hv = if cpuinfo.contains(" hypervisor") {
        " (VM)"
    } else {
        ""
    };
    format!(
        "machine: nproc {nproc}, {model}{hv}, {:.1} GiB, Linux {kernel}, {rustc}{node}",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

// ---------------------------------------------------------------------------------------
// The table.

#[derive(Default)]
struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    #[allow(clippy::too_many_arguments)] // one argument per column
    fn row(
        &mut self,
        area: &str,
        what: &str,
        result: String,
        reference: String,
        ratio: String,
        target: &str,
        ok: Option<bool>,
    ) {
        let status = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        self.rows.push([
            area.into(),
            what.into(),
            result,
            reference,
            ratio,
            target.into(),
            status.into(),
        ]);
    }

    fn render(&self) -> String {
        let head = [
            "area",
            "measure",
            "result",
            "reference",
            "ratio",
            "target",
            "status",
        ];
        let mut s = format!("| {} |\n", head.join(" | "));
        s.push_str("|---|---|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        s
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------------------
// 1. codegen

/// Times the generator in this process: parse + lower + emit + format of the pinned spec,
/// without history (the target) and as `regenerate` does it (with the since-version history
/// loaded from the spec folder); checks that every run gives the same bytes, and that the
/// history run gives what is checked in.
fn codegen_in_process(reps: usize) -> Result<Value, String> {
    let pin = read_pin()?;
    let path = find_spec(&pin.version)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if sha256_hex(&bytes) != pin.sha256 {
        return Err(format!("{} is not the pinned spec", path.display()));
    }
    let companion =
        Companion::load(&root().join("schemas/companion.json")).map_err(|e| e.to_string())?;
    let origin = path.display().to_string();
    let gen_once = |history: &[qix_codegen::Api]| -> Result<(f64, Vec<(String, String)>), String> {
        let t0 = Instant::now();
        let spec = Spec::parse(&bytes, &origin).map_err(|e| e.to_string())?;
        let g = qix_codegen::generate_with_history(&spec, &companion, &origin, history)
            .map_err(|e| e.to_string())?;
        let s = t0.elapsed().as_secs_f64();
        Ok((
            s,
            g.files.into_iter().map(|f| (f.path, f.contents)).collect(),
        ))
    };
    let mut times = Vec::new();
    let mut first: Option<Vec<(String, String)>> = None;
    let mut identical = true;
    // One warm-up run (page cache, allocator), then the timed runs.
    gen_once(&[])?;
    for _ in 0..reps {
        let (s, files) = gen_once(&[])?;
        times.push(s);
        match &first {
            None => first = Some(files),
            Some(f) => identical &= *f == files,
        }
    }
    let files = first.unwrap_or_default();
    let out_bytes: usize = files.iter().map(|(_, c)| c.len()).sum();
    let lines: usize = files.iter().map(|(_, c)| c.lines().count()).sum();

    // As `cargo xtask regenerate`: the pinned history loaded (its specs parsed and lowered)
    // each run.
    let mut hist_times = Vec::new();
    let mut hist_first: Option<Vec<(String, String)>> = None;
    let mut hist_identical = true;
    let mut history_specs = 0;
    // The pinned history, as `check` resolves it (none when the pin says so).
    let pinned = resolve_history(&HistoryArgs::default(), false, false, &HistoryPin::path())?;
    if let Some(h) = pinned {
        for _ in 0..reps.min(3) {
            let t0 = Instant::now();
            let history = qix_codegen::history::load_files(&h.files, &companion)
                .map_err(|e| e.to_string())?;
            history_specs = history.len();
            let (_, files) = gen_once(&history)?;
            hist_times.push(t0.elapsed().as_secs_f64());
            match &hist_first {
                None => hist_first = Some(files),
                Some(f) => hist_identical &= *f == files,
            }
        }
    }
    let matches_checked_in = hist_first.as_ref().map(|files| {
        files.iter().all(|(p, c)| {
            std::fs::read_to_string(root().join("qix-generated/src").join(p))
                .is_ok_and(|old| old == *c)
        })
    });
    Ok(json!({
        "runs": reps,
        "median_s": median(&mut times),
        "min_s": times.iter().copied().fold(f64::INFINITY, f64::min),
        "identical": identical,
        "files": files.len(),
        "bytes": out_bytes,
        "lines": lines,
        "history_specs": history_specs,
        "history_median_s": if hist_times.is_empty() { Value::Null } else { json!(median(&mut hist_times)) },
        "history_identical": hist_identical,
        "matches_checked_in": matches_checked_in,
        "release": !cfg!(debug_assertions),
    }))
}

fn codegen(o: &Opts) -> Result<Value, String> {
    let reps = if o.quick { 3 } else { 7 };
    if !cfg!(debug_assertions) {
        return codegen_in_process(reps);
    }
    // This is a debug build: time the generator in a release build of xtask.
    cargo(&["build", "--release", "-p", "xtask"], None)?;
    let exe = root().join("target/release/xtask");
    let mut cmd = Command::new(&exe);
    cmd.args(["bench", "--codegen-only"]);
    if o.quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} bench --codegen-only failed ({})",
            exe.display(),
            out.status
        ));
    }
    last_json_line(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "no JSON line from the codegen run".into())
}

fn last_json_line(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
}

fn codegen_rows(t: &mut Table, r: &Value) {
    let s = r["median_s"].as_f64().unwrap_or(f64::NAN);
    let build = if r["release"].as_bool() == Some(true) {
        "release"
    } else {
        "debug"
    };
    t.row(
        "codegen",
        &format!(
            "parse + generate + format the pinned spec ({} files, {} lines), median of {}, {build}",
            r["files"],
            thousands(r["lines"].as_f64().unwrap_or(0.0)),
            r["runs"]
        ),
        format!("{s:.3} s"),
        String::new(),
        String::new(),
        "≤ 1 s",
        Some(s <= CODEGEN_TARGET_S),
    );
    t.row(
        "codegen",
        "output byte-identical across runs",
        if r["identical"].as_bool() == Some(true) {
            "yes"
        } else {
            "NO"
        }
        .into(),
        String::new(),
        String::new(),
        "yes",
        Some(r["identical"].as_bool() == Some(true)),
    );
    if let Some(h) = r["history_median_s"].as_f64() {
        let same = r["history_identical"].as_bool() == Some(true);
        let checked_in = match r["matches_checked_in"].as_bool() {
            Some(true) => "equals qix-generated/src",
            Some(false) => "differs from qix-generated/src",
            None => "",
        };
        t.row(
            "codegen",
            &format!(
                "as `regenerate`: with the history of {} specs loaded (identical: {}; {checked_in})",
                r["history_specs"],
                if same { "yes" } else { "NO" }
            ),
            format!("{h:.3} s"),
            String::new(),
            String::new(),
            "",
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. compile

struct Compile {
    whole_s: f64,
    crate_s: Option<f64>,
    units: usize,
}

/// A clean build of qix-generated (default features) in a fresh target folder.
fn compile(release: bool) -> Result<Compile, String> {
    let dir = std::env::temp_dir().join(format!("qix-bench-compile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut args = vec!["build", "-p", "qix-generated", "--timings"];
    if release {
        args.push("--release");
    }
    let whole = cargo(&args, Some(&dir));
    let timings = std::fs::read_to_string(dir.join("cargo-timings/cargo-timing.html")).ok();
    let _ = std::fs::remove_dir_all(&dir);
    let whole = whole?;
    let (crate_s, units) = timings.as_deref().map(crate_time).unwrap_or((None, 0));
    Ok(Compile {
        whole_s: whole.as_secs_f64(),
        crate_s,
        units,
    })
}

/// The qix-generated unit's duration from cargo's `--timings` report, and the unit count.
fn crate_time(html: &str) -> (Option<f64>, usize) {
    let Some(start) = html.find("const UNIT_DATA = ") else {
        return (None, 0);
    };
    let rest = &html[start + "const UNIT_DATA = ".len()..];
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    let Some(Ok(Value::Array(units))) = de.next() else {
        return (None, 0);
    };
    let t = units
        .iter()
        .filter(|u| u["name"] == "qix-generated")
        .filter_map(|u| u["duration"].as_f64())
        .fold(None, |acc: Option<f64>, d| Some(acc.unwrap_or(0.0) + d));
    (t, units.len())
}

fn compile_rows(t: &mut Table, release: bool, c: &Compile) {
    let profile = if release { "release" } else { "debug" };
    t.row(
        "compile",
        &format!(
            "clean `cargo build -p qix-generated` ({profile}), whole build: {} units incl. deps",
            c.units
        ),
        format!("{:.1} s", c.whole_s),
        String::new(),
        String::new(),
        "",
        None,
    );
    let (target, ok) = if release {
        ("≤ 80 s", c.crate_s.map(|s| s <= COMPILE_RELEASE_TARGET_S))
    } else {
        ("≤ 40 s", c.crate_s.map(|s| s <= COMPILE_DEBUG_TARGET_S))
    };
    t.row(
        "compile",
        &format!("qix-generated crate alone ({profile}, from `--timings`)"),
        c.crate_s.map_or("n/a".into(), |s| format!("{s:.1} s")),
        String::new(),
        String::new(),
        target,
        ok,
    );
}

// ---------------------------------------------------------------------------------------
// 3. decode

fn decode(bench_bin: &Path, quick: bool) -> Result<Value, String> {
    let corpus = root().join("../shared/corpus/layouts");
    let mut cmd = Command::new(bench_bin);
    cmd.arg("decode").arg("--corpus").arg(&corpus);
    if quick {
        cmd.args(["--quick", "1"]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", bench_bin.display()))?;
    if !out.status.success() {
        return Err(format!("qixbench decode failed ({})", out.status));
    }
    last_json_line(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "no JSON line from qixbench decode".into())
}

fn decode_rows(t: &mut Table, r: &Value) {
    for it in r["items"].as_array().into_iter().flatten() {
        let kb = it["bytes"].as_f64().unwrap_or(0.0) / 1024.0;
        t.row(
            "decode",
            &format!(
                "{} → {} ({kb:.0} KiB): typed (generated, lossless) vs `serde_json::Value`",
                it["name"].as_str().unwrap_or("?"),
                it["type"].as_str().unwrap_or("?")
            ),
            format!("{:.0} MB/s", it["typed_mb_s"].as_f64().unwrap_or(0.0)),
            format!("{:.0} MB/s", it["value_mb_s"].as_f64().unwrap_or(0.0)),
            format!("{:.2}x", it["ratio"].as_f64().unwrap_or(0.0)),
            "",
            None,
        );
        if let Some(d) = it["derive_mb_s"].as_f64() {
            t.row(
                "decode",
                "same page: typed vs minimal serde-derive structs (raw-rust-typed's)",
                format!("{:.0} MB/s", it["typed_mb_s"].as_f64().unwrap_or(0.0)),
                format!("{d:.0} MB/s"),
                format!("{:.2}x", it["ratio_derive"].as_f64().unwrap_or(0.0)),
                "",
                None,
            );
        }
    }
}

/// Repeated `GetLayout` of the corpus's 60 KiB layout with small changes, in full and as
/// delta (`examples/delta_bench.rs`).
fn delta(quick: bool) -> Result<Value, String> {
    let bin = root().join("target/release/examples/delta_bench");
    let out = Command::new(&bin)
        .arg("--corpus")
        .arg(root().join("../shared/corpus"))
        .args(["--calls", if quick { "300" } else { "3000" }])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("delta_bench failed ({})", out.status));
    }
    last_json_line(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "no JSON line from delta_bench".into())
}

fn delta_rows(t: &mut Table, r: &Value) {
    let f = |mode: &str, k: &str| r[mode][k].as_f64().unwrap_or(f64::NAN);
    t.row(
        "delta",
        &format!(
            "GetLayout of a 60 KiB layout with one cell changed per call, {} calls: bytes received per call, delta vs full",
            r["calls"]
        ),
        format!("{:.0} B", f("delta", "bytes_per_call")),
        format!("{:.0} B", f("full", "bytes_per_call")),
        format!("{:.4}x", f("delta", "bytes_per_call") / f("full", "bytes_per_call")),
        "",
        None,
    );
    t.row(
        "delta",
        "same: client CPU per call (connection task, patching, typed decode), delta vs full",
        format!("{:.0} µs", f("delta", "cpu_us_per_call")),
        format!("{:.0} µs", f("full", "cpu_us_per_call")),
        format!(
            "{:.2}x",
            f("delta", "cpu_us_per_call") / f("full", "cpu_us_per_call")
        ),
        "",
        None,
    );
    let b = &r["big_patch"];
    let us = |mode: &str, k: &str| b[mode][k].as_f64().unwrap_or(f64::NAN);
    let mb = b["bytes"].as_f64().unwrap_or(0.0) / (1u64 << 20) as f64;
    let p99 = us("small_calls_meanwhile", "p99_us");
    t.row(
        "delta",
        &format!(
            "{mb:.0} MiB layout patches (off the connection task): small calls of the same session meanwhile vs alone, p99 (max)"
        ),
        format!("{p99:.0} µs ({:.1} ms)", us("small_calls_meanwhile", "max_us") / 1e3),
        format!(
            "{:.0} µs ({:.1} ms)",
            us("small_calls_alone", "p99_us"),
            us("small_calls_alone", "max_us") / 1e3
        ),
        format!("{:.2}x", p99 / us("small_calls_alone", "p99_us")),
        "p99 ≤ 1 ms",
        Some(p99 <= 1000.0),
    );
    t.row(
        "delta",
        &format!("same: process CPU per {mb:.0} MiB patch (patch and typed decode)"),
        format!(
            "{:.0} ms",
            b["cpu_ms_per_patch"].as_f64().unwrap_or(f64::NAN)
        ),
        String::new(),
        String::new(),
        "",
        None,
    );
}

// ---------------------------------------------------------------------------------------
// 4. runtime

struct Runtime {
    /// (scenario, client) → medians of the metric, total ms, peak RSS KiB; reps.
    medians: BTreeMap<(String, String), (f64, f64, f64, usize)>,
    /// (scenario, client) → (rep → the metric): for ratios of runs made seconds apart.
    per_rep: BTreeMap<(String, String), BTreeMap<u64, f64>>,
    clients: Vec<String>,
    idle: Option<Value>,
    idle_note: Option<String>,
    failures: Vec<String>,
    out_dir: PathBuf,
    reps: u32,
    /// CPU time the hypervisor took from this VM during the qixbench runs (`steal`).
    steal: Option<f64>,
    quick: bool,
}

/// The harness copy: `../shared` may be read-only, and run.sh builds in its folder. Kept
/// between runs (files copied with their times, so the engine is not rebuilt each time).
fn harness_copy() -> Result<PathBuf, String> {
    let src = root().join("../shared/qixbench");
    if !src.join("run.sh").is_file() {
        return Err(format!("{} not found", src.display()));
    }
    let dst = std::env::temp_dir().join("qix-bench/qixbench");
    std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    // Replace everything but the build output and node_modules.
    for e in std::fs::read_dir(&dst)
        .map_err(|e| format!("{}: {e}", dst.display()))?
        .flatten()
    {
        let name = e.file_name();
        if name == "target" || name == "js" {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(&dst)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if !status.success() {
        return Err(format!("copying {} failed", src.display()));
    }
    Ok(dst)
}

fn have_node() -> bool {
    output(Command::new("node").arg("--version")).is_some()
}

/// (steal, total) CPU ticks of all CPUs from /proc/stat.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    Some((*v.get(7)?, v.iter().take(8).sum()))
}

fn runtime(bench_bin: &Path, o: &Opts) -> Result<Runtime, String> {
    let dir = harness_copy()?;
    let mut clients = vec![
        format!("qix={}", bench_bin.display()),
        // The library's settings compared in the same run: delta off (the mock ignores
        // delta, so this is its cost) and a metrics recorder installed.
        format!("qix-delta-off={} --delta 0", bench_bin.display()),
        format!("qix-metrics={} --metrics 1", bench_bin.display()),
        "raw-rust=target/release/qixbench-raw".to_string(),
        "raw-rust-typed=target/release/qixbench-raw --typed".to_string(),
    ];
    if have_node() {
        let ready = dir.join("js/node_modules/enigma.js").is_dir()
            || Command::new("npm")
                .args(["ci", "--prefix", "js", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if ready {
            clients.push("enigma.js=node js/bench.js".to_string());
        } else {
            eprintln!("bench: `npm ci` failed; enigma.js left out");
        }
    }
    let reps = o.reps.unwrap_or(if o.quick { 1 } else { 5 });
    let out_dir = std::env::temp_dir().join(format!(
        "qix-bench/run-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    ));
    let mut cmd = Command::new(dir.join("run.sh"));
    cmd.current_dir(&dir)
        .arg("--reps")
        .arg(reps.to_string())
        .arg("--out")
        .arg(&out_dir);
    if o.quick {
        cmd.arg("--quick");
    }
    cmd.args(&clients);
    // The table on stdout is the harness's own; ours is printed at the end.
    let ticks0 = cpu_ticks();
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("run.sh: {e}"))?;
    let steal = match (ticks0, cpu_ticks()) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => Some((s1 - s0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    let mut failures = Vec::new();
    if !status.success() {
        failures.push(format!(
            "qixbench run.sh reported failed runs ({status}); see {}",
            out_dir.display()
        ));
    }
    let text = std::fs::read_to_string(out_dir.join("results.jsonl"))
        .map_err(|e| format!("qixbench results: {e}"))?;
    let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("results.jsonl: {e}"))?;
        let key = (
            v["scenario"].as_str().unwrap_or("").to_string(),
            v["name"].as_str().unwrap_or("").to_string(),
        );
        groups.entry(key).or_default().push(v);
    }
    let mut medians = BTreeMap::new();
    let mut per_rep = BTreeMap::new();
    for (key, runs) in groups {
        let metric = match key.0.as_str() {
            "extract" => "cells_per_s",
            "sessions" => "sessions_per_s",
            _ => "ops_per_s",
        };
        let by_rep: BTreeMap<u64, f64> = runs
            .iter()
            .filter_map(|r| Some((r["rep"].as_u64()?, r[metric].as_f64()?)))
            .collect();
        per_rep.insert(key.clone(), by_rep);
        let col = |k: &str| {
            median(
                &mut runs
                    .iter()
                    .filter_map(|r| r[k].as_f64())
                    .collect::<Vec<_>>(),
            )
        };
        medians.insert(
            key,
            (col(metric), col("total_ms"), col("peak_rss_kb"), runs.len()),
        );
    }

    // Idle sessions: the engine of the copy, with the open-files limit raised for both.
    let n = if o.quick {
        IDLE_SESSIONS / 10
    } else {
        IDLE_SESSIONS
    };
    let (idle, idle_note) = match idle_sessions(&dir, bench_bin, n) {
        Ok(v) => (Some(v), None),
        Err(e) => {
            failures.push(format!("idle sessions: {e}"));
            (None, Some(e))
        }
    };
    Ok(Runtime {
        medians,
        per_rep,
        clients: clients
            .iter()
            .map(|c| c.split('=').next().unwrap_or("").to_string())
            .collect(),
        idle,
        idle_note,
        failures,
        out_dir,
        reps,
        steal,
        quick: o.quick,
    })
}

/// Starts the harness's engine (file limit raised to the hard limit) and runs the client's
/// `idle` mode against it.
fn idle_sessions(dir: &Path, bench_bin: &Path, n: u64) -> Result<Value, String> {
    let engine = dir.join("target/release/qixbench-engine");
    let script = format!(
        "ulimit -n \"$(ulimit -Hn)\" && exec '{}' --port 0 --max-seconds 600",
        engine.display()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("engine: {e}"))?;
    let stdout = child.stdout.take().ok_or("engine stdout")?;
    let mut first = String::new();
    let _ = BufReader::new(stdout).read_line(&mut first);
    let port = first
        .trim()
        .strip_prefix("listening 127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok());
    let result = match port {
        None => Err(format!("engine did not start: {first:?}")),
        Some(port) => {
            let script = format!(
                "ulimit -n \"$(ulimit -Hn)\" && exec '{}' idle --port {port} --sessions {n} --timeout 300",
                bench_bin.display()
            );
            Command::new("bash")
                .args(["-c", &script])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("qixbench idle: {e}"))
                .and_then(|out| {
                    if out.status.success() {
                        last_json_line(&String::from_utf8_lossy(&out.stdout))
                            .ok_or_else(|| "no JSON line".to_string())
                    } else {
                        Err(format!("qixbench idle failed ({})", out.status))
                    }
                })
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The median of per-repetition ratios `a / b` of one scenario, with their range.
fn rep_ratio(r: &Runtime, sc: &str, a: &str, b: &str) -> Option<(f64, f64, f64)> {
    let (Some(x), Some(y)) = (
        r.per_rep.get(&(sc.to_string(), a.to_string())),
        r.per_rep.get(&(sc.to_string(), b.to_string())),
    ) else {
        return None;
    };
    let mut pairs: Vec<f64> = x
        .iter()
        .filter_map(|(rep, v)| Some(v / y.get(rep)?))
        .collect();
    let lo = pairs.iter().copied().reduce(f64::min)?;
    let hi = pairs.iter().copied().reduce(f64::max)?;
    Some((median(&mut pairs), lo, hi))
}

/// Delta on against off, and a metrics recorder against none, in the same run.
fn variant_rows(t: &mut Table, r: &Runtime) {
    let rows: [(&str, &str, &str, &str, Option<f64>); 4] = [
        (
            "extract",
            "qix",
            "qix-delta-off",
            "delta on vs off (mock without delta): cells/s",
            Some(0.95),
        ),
        (
            "seq",
            "qix",
            "qix-delta-off",
            "delta on vs off: calls/s",
            None,
        ),
        (
            "seq",
            "qix-metrics",
            "qix",
            "metrics recorder installed vs none: calls/s",
            None,
        ),
        (
            "pipeline",
            "qix-metrics",
            "qix",
            "metrics recorder installed vs none: calls/s",
            None,
        ),
    ];
    for (sc, a, b, what, target) in rows {
        let cell = rep_ratio(r, sc, a, b);
        t.row(
            "runtime",
            &format!("{sc}: {what} (median of per-rep ratios)"),
            cell.map_or("n/a".into(), |(m, lo, hi)| {
                format!("{m:.3}x (per rep {lo:.2}–{hi:.2})")
            }),
            String::new(),
            String::new(),
            if target.is_some() {
                "≥ 0.95x (within 5%)"
            } else {
                ""
            },
            target.and_then(|x| cell.map(|(m, _, _)| m >= x)),
        );
    }
}

fn runtime_rows(t: &mut Table, r: &Runtime) {
    variant_rows(t, r);
    let get = |sc: &str, client: &str| r.medians.get(&(sc.to_string(), client.to_string()));
    let size = if r.quick { " (--quick)" } else { "" };
    let specs: [(&str, &str, &str, f64, &str); 4] = [
        (
            "seq",
            "calls/s",
            "raw-rust",
            SEQ_PIPELINE_TARGET,
            "≥ 0.9x raw-rust",
        ),
        (
            "pipeline",
            "calls/s",
            "raw-rust",
            SEQ_PIPELINE_TARGET,
            "≥ 0.9x raw-rust",
        ),
        (
            "extract",
            "cells/s",
            "raw-rust-typed",
            EXTRACT_TARGET,
            "≥ 1.0x raw-rust-typed",
        ),
        (
            "sessions",
            "sessions/s",
            "raw-rust",
            SESSIONS_TARGET,
            "≥ 1.0x raw-rust",
        ),
    ];
    for (sc, unit, reference, target, target_text) in specs {
        let Some(q) = get(sc, "qix") else {
            t.row(
                "runtime",
                &format!("{sc}: no result for qix"),
                "n/a".into(),
                String::new(),
                String::new(),
                target_text,
                Some(false),
            );
            continue;
        };
        let refv = get(sc, reference);
        // The ratio is the median of per-repetition ratios: within one repetition the two
        // clients run seconds apart, so a machine that speeds up or slows down during the
        // run (other processes, the host) moves both.
        let mut pairs: Vec<f64> = match (
            r.per_rep.get(&(sc.to_string(), "qix".to_string())),
            r.per_rep.get(&(sc.to_string(), reference.to_string())),
        ) {
            (Some(a), Some(b)) => a
                .iter()
                .filter_map(|(rep, x)| Some(x / b.get(rep)?))
                .collect(),
            _ => Vec::new(),
        };
        let spread = match (
            pairs.iter().copied().reduce(f64::min),
            pairs.iter().copied().reduce(f64::max),
        ) {
            (Some(lo), Some(hi)) if pairs.len() > 1 => format!(" (per rep {lo:.2}–{hi:.2})"),
            _ => String::new(),
        };
        let ratio = (!pairs.is_empty()).then(|| median(&mut pairs));
        let mut others: Vec<String> = Vec::new();
        for c in &r.clients {
            if c == "qix" || c == reference {
                continue;
            }
            if let Some(v) = get(sc, c) {
                others.push(format!("{c} {} ({:.2}x)", thousands(v.0), q.0 / v.0));
            }
        }
        let extra = if others.is_empty() {
            String::new()
        } else {
            format!("; qix vs {}", others.join(", "))
        };
        t.row(
            "runtime",
            &format!(
                "{sc}{size}: qix vs {reference}, {unit}, medians of {} reps (ratio: median of per-rep ratios); qix peak RSS {:.1} MiB{extra}",
                q.3,
                q.2 / 1024.0
            ),
            thousands(q.0),
            refv.map_or("n/a".into(), |v| thousands(v.0)),
            ratio.map_or("n/a".into(), |x| format!("{x:.2}x{spread}")),
            target_text,
            ratio.map(|x| x >= target),
        );
    }
    match (&r.idle, &r.idle_note) {
        (Some(v), _) => {
            let per = v["kb_per_session"].as_f64().unwrap_or(f64::NAN);
            t.row(
                "runtime",
                &format!(
                    "{} idle sessions in one process: VmRSS growth per session ({} → {} KiB)",
                    thousands(v["sessions"].as_f64().unwrap_or(0.0)),
                    thousands(v["rss_before_kb"].as_f64().unwrap_or(0.0)),
                    thousands(v["rss_after_kb"].as_f64().unwrap_or(0.0))
                ),
                format!("{per:.1} KiB"),
                String::new(),
                String::new(),
                "≤ 32 KiB",
                Some(per <= IDLE_KIB_TARGET),
            );
        }
        (None, Some(e)) => t.row(
            "runtime",
            &format!("idle sessions: {e}"),
            "n/a".into(),
            String::new(),
            String::new(),
            "≤ 32 KiB",
            Some(false),
        ),
        _ => {}
    }
    t.row(
        "runtime",
        &format!(
            "qixbench: --pin same, {} rep(s){}; raw results in {}",
            r.reps,
            r.steal
                .map(|s| format!(", CPU steal {:.1}% during the runs", s * 100.0))
                .unwrap_or_default(),
            r.out_dir.display()
        ),
        String::new(),
        String::new(),
        String::new(),
        "",
        None,
    );
}
