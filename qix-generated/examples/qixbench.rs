//! The qixbench client of this SDK: the scenarios of the neutral QIX benchmark harness
//! (`../shared/qixbench`, see its README for the CLI contract), written with the generated
//! typed API as a user would write them.
//!
//! ```text
//! cargo build --release -p qix-generated --example qixbench
//! target/release/examples/qixbench <seq|pipeline|extract|sessions|idle> --port P
//!     [--calls N] [--inflight K] [--pages N --rows R --cols C] [--sessions N] [--timeout S]
//! ```
//!
//! Prints one JSON line on stdout; exits non-zero on any failure (an error, a wrong result,
//! the timeout). Two modes beside the qixbench scenarios, for `cargo xtask bench`:
//!
//! - `idle --port P --sessions N`: opens N sessions (connect, `OpenDoc`, `Evaluate`), lets
//!   them sit idle and reports the resident memory they hold (`VmRSS` after minus before,
//!   per session); it raises its open-files limit itself.
//! - `decode --corpus DIR [--quick 1]`: decode throughput of the largest layouts in DIR and
//!   of a 1,000-row data page, typed (the generated lossless types) against
//!   `serde_json::Value` of the same bytes. No engine needed.

#[path = "common/cube.rs"]
mod cube;

use std::error::Error;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use qix_generated::types::{GenericObjectProperties, NxPage};
use qix_generated::{Session, SessionExt};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const ENGINE_VERSION: &str = "12.2528.0";
const CLIENT: &str = concat!("qix-rs ", env!("CARGO_PKG_VERSION"));

struct Args {
    scenario: String,
    port: u16,
    calls: u64,
    inflight: u64,
    pages: u64,
    rows: u64,
    cols: u64,
    sessions: u64,
    timeout: u64,
    corpus: Option<String>,
    quick: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        scenario: String::new(),
        port: 0,
        calls: 0,
        inflight: 64,
        pages: 200,
        rows: 50,
        cols: 20,
        sessions: 500,
        timeout: 300,
        corpus: None,
        quick: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if !arg.starts_with("--") {
            a.scenario = arg;
            continue;
        }
        if arg == "--corpus" {
            a.corpus = Some(it.next().unwrap_or_else(|| die("--corpus needs a folder")));
            continue;
        }
        let v: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| die(&format!("{arg} needs a number")));
        match arg.as_str() {
            "--port" => a.port = u16::try_from(v).unwrap_or_else(|_| die("bad --port")),
            "--calls" => a.calls = v,
            "--inflight" => a.inflight = v.max(1),
            "--pages" => a.pages = v,
            "--rows" => a.rows = v,
            "--cols" => a.cols = v.max(1),
            "--sessions" => a.sessions = v,
            "--timeout" => a.timeout = v,
            "--quick" => a.quick = v != 0,
            // Not qixbench options: for comparing the library's settings in one harness run.
            "--delta" => {
                let _ = DELTA.set(v != 0);
            }
            "--metrics" => {
                if v != 0 {
                    install_counting_recorder();
                }
            }
            _ => die(&format!("unknown option {arg}")),
        }
    }
    if a.port == 0 && a.scenario != "decode" {
        die("--port is required");
    }
    if a.calls == 0 {
        a.calls = if a.scenario == "pipeline" {
            100_000
        } else {
            20_000
        };
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("qixbench (qix-rs): {msg}");
    std::process::exit(2);
}

fn main() {
    let args = parse_args();
    // Bounded: give up after --timeout seconds whatever happens.
    let timeout = args.timeout;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(timeout));
        eprintln!("qixbench (qix-rs): timeout after {timeout}s");
        std::process::exit(3);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(&args)) {
        Ok(line) => println!("{line}"),
        Err(e) => die(&format!("{} failed: {e}", args.scenario)),
    }
}

async fn run(a: &Args) -> Res<Value> {
    let mut out = match a.scenario.as_str() {
        "seq" => seq(a).await?,
        "pipeline" => pipeline(a).await?,
        "extract" => extract(a).await?,
        "sessions" => sessions(a).await?,
        "idle" => idle(a).await?,
        "decode" => decode::run(
            a.corpus.as_deref().ok_or("decode needs --corpus DIR")?,
            a.quick,
        )?,
        s => return Err(format!("unknown scenario '{s}'").into()),
    };
    out["client"] = json!(CLIENT);
    out["scenario"] = json!(a.scenario);
    if out.get("peak_rss_kb").is_none() {
        out["peak_rss_kb"] = json!(status_kb("VmHWM:"));
    }
    Ok(out)
}

fn url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/app/engineData")
}

/// `--delta 0` turns the delta protocol off (the harness's mock ignores it either way).
static DELTA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

async fn connect(port: u16) -> qix_generated::Result<Session> {
    let mut b = Session::builder(url(port));
    if let Some(&delta) = DELTA.get() {
        b = b.delta(delta);
    }
    b.connect().await
}

/// `--metrics 1`: a recorder that keeps every metric in atomics, as cheap as a real one
/// can be, to show what recording costs next to the no-op recorder.
fn install_counting_recorder() {
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    struct Sum(AtomicU64);
    impl metrics::HistogramFn for Sum {
        fn record(&self, v: f64) {
            self.0
                .fetch_add((v * 1e9) as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
    struct Counting;
    impl Recorder for Counting {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(AtomicU64::new(0)))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(AtomicU64::new(0)))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Sum(AtomicU64::new(0))))
        }
    }
    if metrics::set_global_recorder(Counting).is_err() {
        die("a metrics recorder is installed already");
    }
}

fn summary(ops: u64, s: f64) -> Value {
    json!({"ops": ops, "total_ms": round3(s * 1e3), "ops_per_s": round3(ops as f64 / s)})
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// A line of /proc/self/status in KiB (`VmHWM:` peak RSS, `VmRSS:` current RSS).
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

fn check_version(v: &qix_generated::types::NxEngineVersion) -> Res<()> {
    match v.component_version.as_deref() {
        Some(ENGINE_VERSION) => Ok(()),
        other => Err(format!("unexpected EngineVersion qComponentVersion {other:?}").into()),
    }
}

/// (a) one call at a time.
async fn seq(a: &Args) -> Res<Value> {
    let session = connect(a.port).await?;
    let global = session.global();
    let t0 = Instant::now();
    for _ in 0..a.calls {
        check_version(&global.engine_version().await?)?;
    }
    let out = summary(a.calls, t0.elapsed().as_secs_f64());
    session.close().await;
    Ok(out)
}

/// (b) --inflight calls outstanding, from one task: a new call as soon as one is answered.
async fn pipeline(a: &Args) -> Res<Value> {
    let session = connect(a.port).await?;
    let global = session.global();
    let window = a.inflight.min(a.calls);
    let t0 = Instant::now();
    let mut inflight = FuturesUnordered::new();
    let mut sent = 0u64;
    while sent < window {
        inflight.push(global.engine_version().into_future());
        sent += 1;
    }
    let mut done = 0u64;
    while let Some(r) = inflight.next().await {
        check_version(&r?)?;
        done += 1;
        if sent < a.calls {
            inflight.push(global.engine_version().into_future());
            sent += 1;
        }
    }
    if done != a.calls {
        return Err(format!("{done} calls answered, expected {}", a.calls).into());
    }
    let mut out = summary(a.calls, t0.elapsed().as_secs_f64());
    out["inflight"] = json!(window);
    session.close().await;
    Ok(out)
}

/// The properties of the benchmark's straight table: one dimension, `cols - 1` measures.
fn cube_props(cols: u64) -> GenericObjectProperties {
    cube::straight_table(
        "qixbench-cube",
        "ID",
        (1..cols).map(|i| format!("=Sum(Value{i})")),
    )
}

/// (c) open a doc, create a hypercube session object, page through it and sum qNum.
async fn extract(a: &Args) -> Res<Value> {
    let session = connect(a.port).await?;
    let global = session.global();
    let t0 = Instant::now();
    let doc = global.open_doc("qixbench.qvf").await?;
    let obj = doc.create_session_object(cube_props(a.cols)).await?;
    let layout = obj.get_layout().await?;
    if layout
        .hyper_cube
        .as_ref()
        .and_then(|c| c.size.as_ref())
        .is_none()
    {
        return Err("layout has no qHyperCube.qSize".into());
    }
    let (mut sum, mut cells) = (0f64, 0u64);
    for p in 0..a.pages {
        let page = NxPage {
            left: Some(0),
            top: Some(i32::try_from(p * a.rows)?),
            width: Some(i32::try_from(a.cols)?),
            height: Some(i32::try_from(a.rows)?),
            ..Default::default()
        };
        let pages = obj
            .get_hyper_cube_data("/qHyperCubeDef", vec![page])
            .await?;
        for row in &pages.first().ok_or("no data page")?.matrix {
            for cell in row {
                sum += cell.num.ok_or("a cell without qNum")?;
            }
            cells += row.len() as u64;
        }
    }
    if cells != a.pages * a.rows * a.cols {
        return Err(format!("got {cells} cells, expected {}", a.pages * a.rows * a.cols).into());
    }
    let s = t0.elapsed().as_secs_f64();
    let mut out = summary(a.pages, s);
    out["cells"] = json!(cells);
    out["cells_per_s"] = json!(round3(cells as f64 / s));
    out["sum"] = json!(sum);
    session.close().await;
    Ok(out)
}

/// One session as the sessions scenario opens it: connect, `OpenDoc`, `Evaluate("1+1")`.
async fn open_session(port: u16) -> Res<Session> {
    let session = connect(port).await?;
    let doc = session.global().open_doc("qixbench.qvf").await?;
    let r = doc.evaluate("1+1").await?;
    if r != "42" {
        return Err(format!("unexpected Evaluate result {r:?}").into());
    }
    Ok(session)
}

/// Opens `n` sessions at once, each in its own task; all are returned open.
async fn open_sessions(port: u16, n: u64) -> Res<Vec<Session>> {
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(open_session(port))).collect();
    let mut sessions = Vec::with_capacity(tasks.len());
    for t in tasks {
        sessions.push(t.await??);
    }
    Ok(sessions)
}

async fn close_all(sessions: Vec<Session>) {
    let close = futures_util::future::join_all(sessions.iter().map(Session::close));
    let _ = tokio::time::timeout(Duration::from_secs(30), close).await;
}

/// (d) --sessions sessions opened at once; the clock stops when the last is ready.
async fn sessions(a: &Args) -> Res<Value> {
    let base = status_kb("VmHWM:");
    let t0 = Instant::now();
    let sessions = open_sessions(a.port, a.sessions).await?;
    let s = t0.elapsed().as_secs_f64();
    let mut out = summary(a.sessions, s);
    out["sessions"] = json!(a.sessions);
    out["sessions_per_s"] = json!(round3(a.sessions as f64 / s));
    out["peak_rss_kb"] = json!(status_kb("VmHWM:"));
    out["base_rss_kb"] = json!(base);
    close_all(sessions).await;
    Ok(out)
}

/// Raises the soft limit of open files to the hard limit (one socket per session).
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur as u64
    }
}

#[cfg(not(unix))]
fn raise_nofile() -> u64 {
    u64::MAX
}

/// Memory of idle sessions: --sessions sessions opened (as in `sessions`, in batches of
/// 500 so that the engine's accept queue is never the limit), then left idle; reports the
/// resident memory they hold.
async fn idle(a: &Args) -> Res<Value> {
    let limit = raise_nofile();
    if limit < a.sessions + 64 {
        return Err(format!(
            "the open-files limit is {limit}, too low for {} sessions",
            a.sessions
        )
        .into());
    }
    // Warm the runtime, the allocator and the connect path with one session first.
    let warm = open_sessions(a.port, 1).await?;
    close_all(warm).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = status_kb("VmRSS:");
    let t0 = Instant::now();
    let mut all = Vec::with_capacity(a.sessions as usize);
    while (all.len() as u64) < a.sessions {
        let n = (a.sessions - all.len() as u64).min(500);
        all.extend(open_sessions(a.port, n).await?);
    }
    let s = t0.elapsed().as_secs_f64();
    // Idle: nothing in flight; let the runtime settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = status_kb("VmRSS:");
    if let Some(s) = all.iter().find(|s| s.is_closed()) {
        return Err(format!("a session closed while idle: {:?}", s.closed_reason()).into());
    }
    let per = (after.saturating_sub(before)) as f64 / a.sessions.max(1) as f64;
    let mut out = summary(a.sessions, s);
    out["sessions"] = json!(a.sessions);
    out["sessions_per_s"] = json!(round3(a.sessions as f64 / s));
    out["rss_before_kb"] = json!(before);
    out["rss_after_kb"] = json!(after);
    out["kb_per_session"] = json!(round3(per));
    out["peak_rss_kb"] = json!(status_kb("VmHWM:"));
    close_all(all).await;
    Ok(out)
}

/// `decode`: typed decoding against `serde_json::Value`, in this (release) binary.
mod decode {
    use std::fmt::Write as _;
    use std::path::Path;
    use std::time::Instant;

    use qix_generated::types::{GenericObjectLayout, HyperCube, NxDataPage};
    use serde::Deserialize;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::Res;

    /// Data page rows and columns: 10,000 cells, the engine's limit for one request.
    const ROWS: u32 = 1000;
    const COLS: u32 = 10;

    /// Bytes per second of `f` over `bytes`, the median of `reps` runs of about `ms` each.
    fn throughput(bytes: usize, reps: usize, ms: f64, mut f: impl FnMut() -> Res<f64>) -> Res<f64> {
        let mut check = f()?;
        let t0 = Instant::now();
        check += f()?;
        let once = t0.elapsed().as_secs_f64().max(1e-7);
        let iters = ((ms / 1e3) / once).ceil().max(1.0) as usize;
        let mut rates = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t0 = Instant::now();
            for _ in 0..iters {
                check += f()?;
            }
            rates.push((bytes * iters) as f64 / t0.elapsed().as_secs_f64());
        }
        std::hint::black_box(check);
        rates.sort_by(f64::total_cmp);
        Ok(rates[rates.len() / 2])
    }

    fn typed<T: DeserializeOwned>(text: &str) -> Res<f64> {
        let v: T = serde_json::from_str(text)?;
        std::hint::black_box(&v);
        Ok(1.0)
    }

    fn value(text: &str) -> Res<f64> {
        let v: Value = serde_json::from_str(text)?;
        std::hint::black_box(&v);
        Ok(1.0)
    }

    /// A GetHyperCubeData result as the qixbench engine sends it: cell (r, c) is
    /// `{"qText":"…","qNum":…,"qElemNumber":r,"qState":"O"}` with qNum = 100*c + r + 0.25.
    fn data_page() -> String {
        let mut s = String::from(r#"{"qDataPages":[{"qMatrix":["#);
        for r in 0..ROWS {
            s.push_str(if r > 0 { ",[" } else { "[" });
            for c in 0..COLS {
                if c > 0 {
                    s.push(',');
                }
                let v = 100 * c + r;
                let _ = write!(
                    s,
                    r#"{{"qText":"{v}.25","qNum":{v}.25,"qElemNumber":{r},"qState":"O"}}"#
                );
            }
            s.push(']');
        }
        let _ = write!(
            s,
            r#"],"qTails":[{{"qUp":0,"qDown":0}}],"qArea":{{"qLeft":0,"qTop":0,"qWidth":{COLS},"qHeight":{ROWS}}},"qTilted":false}}]}}"#
        );
        s
    }

    /// What a serde-derive client keeps of a page (the qixbench raw client's `--typed`).
    #[derive(Deserialize)]
    struct DeriveData {
        #[serde(rename = "qDataPages")]
        pages: Vec<DerivePage>,
    }
    #[derive(Deserialize)]
    struct DerivePage {
        #[serde(rename = "qMatrix")]
        matrix: Vec<Vec<DeriveCell>>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct DeriveCell {
        #[serde(rename = "qText", default)]
        text: String,
        #[serde(rename = "qNum", default)]
        num: f64,
        #[serde(rename = "qElemNumber", default)]
        elem_number: i64,
        #[serde(rename = "qState", default)]
        state: String,
    }

    /// The layouts to decode: the largest files of the corpus folder (searched
    /// recursively), as compact JSON, with the type each decodes into.
    fn layouts(dir: &Path) -> Res<Vec<(String, &'static str, String)>> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    files.push((std::fs::metadata(&p)?.len(), p));
                }
            }
        }
        files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut out = Vec::new();
        for (_, p) in files {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p)?)?;
            let (kind, body) = if let Some(l) = v.pointer("/result/qLayout") {
                ("GenericObjectLayout", l)
            } else if let Some(l) = v.get("qLayout") {
                ("GenericObjectLayout", l)
            } else if v.get("qSize").is_some() && v.get("qDimensionInfo").is_some() {
                ("HyperCube", &v)
            } else {
                continue;
            };
            let name = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            out.push((name, kind, serde_json::to_string(body)?));
            if out.len() == 4 {
                break;
            }
        }
        Ok(out)
    }

    pub(super) fn run(corpus: &str, quick: bool) -> Res<Value> {
        let (reps, ms) = if quick { (3, 30.0) } else { (7, 150.0) };
        let mut items = Vec::new();
        for (name, kind, text) in layouts(Path::new(corpus))? {
            let t = match kind {
                "HyperCube" => throughput(text.len(), reps, ms, || typed::<HyperCube>(&text))?,
                _ => throughput(text.len(), reps, ms, || typed::<GenericObjectLayout>(&text))?,
            };
            let v = throughput(text.len(), reps, ms, || value(&text))?;
            items.push(json!({"name": name, "type": kind, "bytes": text.len(),
                "typed_mb_s": mb(t), "value_mb_s": mb(v), "ratio": round(t / v)}));
        }
        if items.is_empty() {
            return Err(format!("no layouts in {corpus}").into());
        }
        let page = data_page();
        let want = f64::from(ROWS * COLS) * f64::from(100 * (COLS - 1) + (ROWS - 1)) / 2.0
            + 0.25 * f64::from(ROWS * COLS);
        let sum_typed = || -> Res<f64> {
            let pages: Vec<NxDataPage> = qix_generated::qix_runtime::__private::decode::out(
                &page,
                "qDataPages",
                "GenericObject.GetHyperCubeData",
            )?;
            let sum: f64 = pages[0]
                .matrix
                .iter()
                .flatten()
                .map(|c| c.num.unwrap_or(f64::NAN))
                .sum();
            if sum != want {
                return Err(format!("typed page sum {sum}, expected {want}").into());
            }
            Ok(sum)
        };
        let sum_value = || -> Res<f64> {
            let v: Value = serde_json::from_str(&page)?;
            let rows = v["qDataPages"][0]["qMatrix"]
                .as_array()
                .ok_or("no qMatrix")?;
            let sum: f64 = rows
                .iter()
                .flat_map(|r| r.as_array().into_iter().flatten())
                .map(|c| c["qNum"].as_f64().unwrap_or(f64::NAN))
                .sum();
            if sum != want {
                return Err(format!("Value page sum {sum}, expected {want}").into());
            }
            Ok(sum)
        };
        let sum_derive = || -> Res<f64> {
            let d: DeriveData = serde_json::from_str(&page)?;
            Ok(d.pages[0].matrix.iter().flatten().map(|c| c.num).sum())
        };
        let t = throughput(page.len(), reps, ms, sum_typed)?;
        let v = throughput(page.len(), reps, ms, sum_value)?;
        let d = throughput(page.len(), reps, ms, sum_derive)?;
        items.push(json!({"name": format!("data page {ROWS} x {COLS}"), "type": "NxDataPage", "bytes": page.len(),
            "typed_mb_s": mb(t), "value_mb_s": mb(v), "ratio": round(t / v),
            "derive_mb_s": mb(d), "ratio_derive": round(t / d)}));
        Ok(json!({"ops": items.len(), "total_ms": 0, "ops_per_s": 0, "items": items}))
    }

    fn mb(bytes_per_s: f64) -> f64 {
        round(bytes_per_s / 1e6)
    }

    fn round(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }
}
