//! `regenerate` and `check`: the generated crate from the pinned spec.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use qix_codegen::{Companion, File, Generated, Spec, specpath};
use sha2::{Digest, Sha256};

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The pinned spec: version and sha256, from `schemas/spec.pin`.
pub struct Pin {
    pub version: String,
    pub sha256: String,
}

pub fn read_pin() -> Result<Pin, String> {
    let path = root().join("schemas/spec.pin");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut version = None;
    let mut sha256 = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("version", v)) => version = Some(v.to_string()),
            Some(("sha256", v)) => sha256 = Some(v.to_lowercase()),
            _ => return Err(format!("{}: cannot read line {line:?}", path.display())),
        }
    }
    Ok(Pin {
        version: version.ok_or_else(|| format!("{}: no `version =` line", path.display()))?,
        sha256: sha256.ok_or_else(|| format!("{}: no `sha256 =` line", path.display()))?,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Args {
    spec: Option<String>,
    history: History,
    from_engine: Option<String>,
    bearer: Option<String>,
    tls: qix_runtime::TlsOptions,
}

enum History {
    /// The shared spec folder when it is there.
    Default,
    Dir(PathBuf),
    None,
}

fn parse(args: &[String], allow_spec: bool) -> Result<Args, String> {
    let mut out = Args {
        spec: None,
        history: History::Default,
        from_engine: None,
        bearer: std::env::var("QLIK_API_KEY").ok().filter(|k| !k.is_empty()),
        tls: qix_runtime::TlsOptions::default(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--spec" if allow_spec => {
                out.spec = Some(it.next().ok_or("--spec needs a value")?.clone())
            }
            "--history" => {
                out.history =
                    History::Dir(PathBuf::from(it.next().ok_or("--history needs a folder")?))
            }
            "--no-history" => out.history = History::None,
            "--from-engine" if allow_spec => {
                out.from_engine = Some(it.next().ok_or("--from-engine needs a URL")?.clone())
            }
            "--bearer" if allow_spec => {
                out.bearer = Some(it.next().ok_or("--bearer needs a token")?.clone())
            }
            // The TLS options of `qix`: a Qlik Sense certificate folder, or trust anything.
            "--certs" if allow_spec => {
                let dir = PathBuf::from(it.next().ok_or("--certs needs a folder")?);
                out.tls.client_cert = Some((dir.join("client.pem"), dir.join("client_key.pem")));
                out.tls.extra_roots.push(dir.join("root.pem"));
            }
            "--insecure" if allow_spec => out.tls.danger_accept_invalid_certs = true,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(out)
}

/// The folder of every known spec version: the last folder of the search path that exists
/// (the shared folder), which is what `--history` defaults to.
pub fn default_history_dir() -> Option<PathBuf> {
    specpath::search_dirs(None)
        .into_iter()
        .map(|(d, _)| d)
        .rev()
        .find(|d| specpath::versions_in(d).len() > 1)
}

/// Generates from the pinned spec (or `--spec`), with the since-version history.
fn generate(args: &Args) -> Result<(Generated, String), String> {
    let companion_path = root().join("schemas/companion.json");
    let companion = Companion::load(&companion_path)?;
    let (path, pinned) = match &args.spec {
        Some(s) => (specpath::find_spec(s, None)?, None),
        None => {
            let pin = read_pin()?;
            (specpath::find_spec(&pin.version, None)?, Some(pin))
        }
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(pin) = &pinned {
        let got = sha256_hex(&bytes);
        if got != pin.sha256 {
            return Err(format!(
                "{} is not the pinned spec {}: its sha256 is {got}, schemas/spec.pin says {}. \
                 Use the pinned file, or pass --spec to build from another one (and update the pin).",
                path.display(),
                pin.version,
                pin.sha256
            ));
        }
    }
    let origin = path.display().to_string();
    let spec = Spec::parse(&bytes, &origin).map_err(|e| e.to_string())?;
    let history_dir = match &args.history {
        History::Default => default_history_dir(),
        History::Dir(d) => Some(d.clone()),
        History::None => None,
    };
    let history = match &history_dir {
        Some(d) => qix_codegen::history::load_history(d, &companion)?,
        None => Vec::new(),
    };
    let mut g = qix_codegen::generate_with_history(&spec, &companion, &origin, &history)?;
    add_hand_written_modules(&mut g)?;
    let note = match &history_dir {
        Some(d) => format!(
            "from {} with the history of {} specs in {}",
            path.display(),
            history.len(),
            d.display()
        ),
        None => format!(
            "from {} without history (no since-version notes)",
            path.display()
        ),
    };
    Ok((g, note))
}

/// Hand-written modules of `qix-generated` (helpers on the generated types), declared in
/// the generated `lib.rs` of this workspace's crate only: a crate generated elsewhere
/// (`qix-codegen generate --out`, `compile-all`) has no such files. They live in folders
/// (`src/helpers/`), which the generated file list and the drift check never include.
const HAND_WRITTEN: &str = "
/// Hand-written helpers on the generated types: paging hypercubes, reloads with progress.
/// (Not generated: `qix-generated/src/helpers/`.)
pub mod helpers;
";

fn add_hand_written_modules(g: &mut Generated) -> Result<(), String> {
    let lib = g
        .files
        .iter_mut()
        .find(|f| f.path == "lib.rs")
        .ok_or("the generator wrote no lib.rs")?;
    lib.contents.push_str(HAND_WRITTEN);
    Ok(())
}

fn out_dir() -> PathBuf {
    root().join("qix-generated/src")
}

pub fn regenerate(args: &[String]) -> Result<ExitCode, String> {
    let mut args = parse(args, true)?;
    let t0 = Instant::now();
    if let Some(url) = args.from_engine.take() {
        if args.spec.is_some() {
            return Err("give --spec or --from-engine, not both".into());
        }
        let path = fetch_from_engine(
            &url,
            args.bearer.as_deref(),
            &args.tls,
            &root().join("schemas"),
        )?;
        eprintln!(
            "stored {}; schemas/spec.pin still names the pinned version, so `cargo xtask check` \
             compares with that until the pin is updated",
            path.display()
        );
        args.spec = Some(path.display().to_string());
    }
    let (g, note) = generate(&args)?;
    for w in &g.warnings {
        eprintln!("warning: {w}");
    }
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut changed = 0;
    for f in &g.files {
        let path = dir.join(&f.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.contents.as_str()) {
            changed += 1;
        }
        qix_codegen::write_if_changed(&path, &f.contents)?;
    }
    for stale in stale_files(&dir, &g.files)? {
        std::fs::remove_file(&stale).map_err(|e| format!("{}: {e}", stale.display()))?;
        eprintln!("removed {}", stale.display());
    }
    eprintln!("{}", qix_codegen::summary(&g));
    eprintln!(
        "regenerated qix-generated/src {note}: {changed} file(s) changed, in {:.2?}",
        t0.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

/// Files in the generated folder that the generator no longer writes.
fn stale_files(dir: &Path, files: &[File]) -> Result<Vec<PathBuf>, String> {
    let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut stale = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".rs") && !wanted.contains(name.as_str()) {
            stale.push(e.path());
        }
    }
    stale.sort();
    Ok(stale)
}

/// The files of `qix-generated/src` that differ from a fresh generation, as messages.
pub fn drift() -> Result<Vec<String>, String> {
    let (g, _) = generate(&parse(&[], false)?)?;
    let dir = out_dir();
    let mut problems = Vec::new();
    for f in &g.files {
        let path = dir.join(&f.path);
        match std::fs::read_to_string(&path) {
            Ok(old) if old == f.contents => {}
            Ok(old) => {
                let line = old
                    .lines()
                    .zip(f.contents.lines())
                    .position(|(a, b)| a != b)
                    .map(|i| i + 1)
                    .unwrap_or_else(|| old.lines().count().min(f.contents.lines().count()) + 1);
                problems.push(format!(
                    "qix-generated/src/{} differs (first at line {line})",
                    f.path
                ));
            }
            Err(_) => problems.push(format!("qix-generated/src/{} is missing", f.path)),
        }
    }
    for stale in stale_files(&dir, &g.files)? {
        problems.push(format!("{} is not generated any more", stale.display()));
    }
    Ok(problems)
}

pub fn check(args: &[String]) -> Result<ExitCode, String> {
    if !args.is_empty() {
        // check always compares with what `regenerate` writes by default.
        parse(args, false)?;
    }
    let problems = drift()?;
    if problems.is_empty() {
        eprintln!("qix-generated is up to date with the pinned spec");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!(
        "qix-generated is out of date: run `cargo xtask regenerate` (never edit generated files)"
    );
    Ok(ExitCode::from(1))
}

/// Downloads the engine's spec (`GET /api/engine/openrpc`, see
/// `qix_runtime::spec_fetch`) into `dir/<version>.json`, on the spec search path.
pub fn fetch_from_engine(
    url: &str,
    bearer: Option<&str>,
    tls: &qix_runtime::TlsOptions,
    dir: &Path,
) -> Result<PathBuf, String> {
    let headers: Vec<(String, String)> = bearer
        .map(|t| ("Authorization".to_string(), format!("Bearer {t}")))
        .into_iter()
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start an async runtime: {e}"))?;
    let body = runtime
        .block_on(qix_runtime::spec_fetch::fetch_spec(
            url,
            &headers,
            tls,
            std::time::Duration::from_secs(60),
        ))
        .map_err(|e| e.to_string())?;
    let where_ = format!("{url}{}", qix_runtime::spec_fetch::SPEC_PATH);
    // Parsed as a spec before it is stored: a login page is not one.
    let spec = Spec::parse(&body, &where_).map_err(|e| e.to_string())?;
    let version = spec.info.version.clone();
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("{where_}: unexpected spec version {version:?}"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{version}.json"));
    std::fs::write(&path, &body).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    /// The generated crate is what the generator makes of the pinned spec (rust-analyzer's
    /// `ensure_file_contents`): editing it by hand, or changing the generator without
    /// regenerating, fails here.
    #[test]
    fn generated_code_is_up_to_date() {
        let problems = super::drift().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            problems.is_empty(),
            "qix-generated is out of date; run `cargo xtask regenerate`:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn from_engine_takes_the_tls_options_of_qix() {
        let args: Vec<String> = ["--from-engine", "https://e", "--certs", "/c", "--insecure"]
            .map(String::from)
            .to_vec();
        let a = super::parse(&args, true).unwrap();
        assert_eq!(a.from_engine.as_deref(), Some("https://e"));
        assert_eq!(
            a.tls.client_cert,
            Some(("/c/client.pem".into(), "/c/client_key.pem".into()))
        );
        assert_eq!(
            a.tls.extra_roots,
            vec![std::path::PathBuf::from("/c/root.pem")]
        );
        assert!(a.tls.danger_accept_invalid_certs);
        // `check` compares with the pinned spec only.
        assert!(super::parse(&args, false).is_err());
    }

    /// `--from-engine`: a loopback HTTP server serving a shared spec; the file lands under
    /// its version and parses.
    #[test]
    fn fetches_a_spec_from_an_engine() {
        use std::io::{Read, Write};
        let spec_path = super::root().join("../shared/schemas/openrpc/12.2064.0.json");
        let spec =
            std::fs::read(&spec_path).unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let body = spec.clone();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
            }
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .unwrap();
            s.write_all(&body).unwrap();
            String::from_utf8(req).unwrap()
        });
        let dir = std::env::temp_dir().join(format!("xtask-spec-{}", std::process::id()));
        let tls = qix_runtime::TlsOptions::default();
        let path = super::fetch_from_engine(&url, Some("t0ken"), &tls, &dir).unwrap();
        assert_eq!(path, dir.join("12.2064.0.json"));
        assert_eq!(std::fs::read(&path).unwrap(), spec);
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /api/engine/openrpc HTTP/1.1"), "{req}");
        assert!(req.contains("Authorization: Bearer t0ken"), "{req}");
    }
}
