//! `regenerate` and `check`: the generated crate from the pinned spec (`schemas/spec.pin`)
//! and the pinned since-version history (`schemas/history.pin`, see [`crate::history_pin`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use qix_codegen::{
    Companion, DriftKind, File, Generated, Mode, Secrets, Settings, Spec, ensure_files, specpath,
};
use sha2::{Digest, Sha256};

use crate::history_pin::{self, HistoryPin};

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

/// Where the since-version history comes from: the options of `regenerate` and `check`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// Read the pinned history versions (schemas/history.pin) from DIR instead of the
    /// shared spec folder.
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
    /// Generate without a history: no since-version notes.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
}

/// The options of `regenerate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegenerateArgs {
    /// Build from this spec (a file, or a version on the spec search path) instead of the
    /// pinned one (then update schemas/spec.pin).
    #[arg(long, value_name = "FILE|VERSION", conflicts_with = "from_engine")]
    pub spec: Option<String>,
    /// Download URL/api/engine/openrpc into schemas/<version>.json first, and build from it.
    #[arg(long, value_name = "URL")]
    pub from_engine: Option<String>,
    /// The bearer token for --from-engine (Qlik Cloud; default: $QLIK_API_KEY).
    #[arg(long, value_name = "TOKEN", requires = "from_engine")]
    pub bearer: Option<String>,
    /// A Qlik Sense certificate folder (client.pem, client_key.pem, root.pem), as for `qix`.
    #[arg(long, value_name = "DIR", requires = "from_engine")]
    pub certs: Option<PathBuf>,
    /// Accept any server certificate, as for `qix`.
    #[arg(long, requires = "from_engine")]
    pub insecure: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Pin the history anew from every spec of the history folder (schemas/history.pin),
    /// after a spec version was added to it or one changed.
    #[arg(long, conflicts_with = "no_history")]
    pub repin_history: bool,
}

impl RegenerateArgs {
    /// The TLS options of `qix`: a Qlik Sense certificate folder, or trust anything.
    pub fn tls(&self) -> qix_runtime::TlsOptions {
        let mut tls = qix_runtime::TlsOptions::default();
        if let Some(dir) = &self.certs {
            tls.client_cert = Some((dir.join("client.pem"), dir.join("client_key.pem")));
            tls.extra_roots.push(dir.join("root.pem"));
        }
        tls.danger_accept_invalid_certs = self.insecure;
        tls
    }
}

/// The folder of every known spec version: the last folder of the search path that exists
/// (the shared folder), which is what `--history` defaults to.
pub fn default_history_dir() -> Option<PathBuf> {
    specpath::search_dirs(None, Some(&root()))
        .into_iter()
        .map(|(d, _)| d)
        .rev()
        .find(|d| specpath::versions_in(d).len() > 1)
}

/// The history a run uses: the pinned versions' files in a folder, verified.
pub struct History {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The pin to write after a successful `regenerate`.
    pub pin: HistoryPin,
    /// Versions in the folder the pin does not list (not used).
    pub unpinned: Vec<String>,
}

/// Resolves the history of `regenerate` (`repin` allowed, a missing pin written) or of
/// `check` (`regenerate: false`: the pin must be there). `Ok(None)`: no history.
///
/// - `--no-history`: none;
/// - `--repin-history` (regenerate): every spec of the folder, pinned anew;
/// - otherwise the versions of schemas/history.pin, read from `--history DIR` or the shared
///   spec folder, each checked against its sha256; a pin without versions means none. With
///   no pin yet, `regenerate` pins every spec of the folder (none when there is no folder),
///   and `check` fails.
pub fn resolve_history(
    args: &HistoryArgs,
    repin: bool,
    regenerate: bool,
    pin_path: &Path,
) -> Result<Option<History>, String> {
    if args.no_history {
        return Ok(None);
    }
    let pinned = if repin {
        None
    } else {
        HistoryPin::read(pin_path)?
    };
    if pinned.is_none() && !regenerate {
        return Err(format!(
            "{}: no such file; run `cargo xtask regenerate` to pin the spec history (or pass --no-history)",
            pin_path.display()
        ));
    }
    if let Some(pin) = &pinned {
        if pin.entries.is_empty() {
            if let Some(dir) = &args.history {
                return Err(format!(
                    "{} pins no history (qix-generated was generated with --no-history); \
                     to use the specs of {}, run `cargo xtask regenerate --history {} --repin-history`",
                    pin_path.display(),
                    dir.display(),
                    dir.display()
                ));
            }
            return Ok(None);
        }
    }
    let dir = match (&args.history, default_history_dir()) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d,
        (None, None) => {
            return match pinned {
                Some(pin) => Err(format!(
                    "{} pins {} spec versions, but no folder of specs is on the search path \
                     (looked for <version>.json in {}); pass --history DIR (or --no-history)",
                    pin_path.display(),
                    pin.entries.len(),
                    specpath::search_dirs(None, Some(&root()))
                        .iter()
                        .map(|(d, _)| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                None if repin => Err(
                    "--repin-history: no folder of specs on the search path; pass --history DIR"
                        .into(),
                ),
                // No pin and no folder: as before the pin, no history (and an empty pin).
                None => Ok(None),
            };
        }
    };
    let pin = match pinned {
        Some(pin) => pin,
        None => HistoryPin::of_dir(&dir)?,
    };
    let files = pin.verified_files(&dir)?;
    let unpinned = pin.unpinned_in(&dir);
    Ok(Some(History {
        dir,
        files,
        pin,
        unpinned,
    }))
}

/// Generates from the pinned spec (or `spec`), with the given since-version history.
fn generate(spec: Option<&str>, history: Option<&History>) -> Result<(Generated, String), String> {
    let settings = settings()?;
    let (path, pinned) = match spec {
        Some(s) => (find_spec(s)?, None),
        None => {
            let pin = read_pin()?;
            (find_spec(&pin.version)?, Some(pin))
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
    let apis = match history {
        Some(h) => {
            qix_codegen::history::load_files(&h.files, &settings).map_err(|e| e.to_string())?
        }
        None => Vec::new(),
    };
    let settings = settings.with_history(apis);
    let g = qix_codegen::generate(&spec, &origin, &settings).map_err(|e| e.to_string())?;
    let note = match history {
        Some(h) => format!(
            "from {} with the pinned history of {} specs in {}",
            path.display(),
            settings.history.len(),
            h.dir.display()
        ),
        None => format!(
            "from {} without history (no since-version notes)",
            path.display()
        ),
    };
    Ok((g, note))
}

/// A spec on the search path (with the workspace root).
pub fn find_spec(name: &str) -> Result<PathBuf, String> {
    specpath::find_spec(name, None, Some(&root())).map_err(|e| e.to_string())
}

/// The settings of this workspace's generation: the companion map and secret list of
/// `schemas/`, and the hand-written modules of `qix-generated` (helpers on the generated
/// types), which its generated `lib.rs` declares. A crate generated elsewhere
/// (`qix-codegen generate --out`, `compile-all`) has no such files. They live in folders
/// (`src/helpers/`), which the generated file list and the drift check never include.
pub fn settings() -> Result<Settings, String> {
    let schemas = root().join("schemas");
    let companion = Companion::load(&schemas.join("companion.json")).map_err(|e| e.to_string())?;
    let secrets = Secrets::load(&schemas.join("secrets.json")).map_err(|e| e.to_string())?;
    Ok(Settings::default()
        .with_companion(companion)
        .with_secrets(secrets)
        .with_extra_module(
            "helpers",
            "Hand-written helpers on the generated types: paging hypercubes, reloads with progress.\n\
             (Not generated: `qix-generated/src/helpers/`.)",
        ))
}

fn out_dir() -> PathBuf {
    root().join("qix-generated/src")
}

/// Where qix-codegen keeps its built-in copies of `schemas/companion.json` and
/// `schemas/secrets.json` (a crate packages only its own files).
const BUILTIN_DIR: &str = "qix-codegen/builtin";

/// The runtime's tables of the pinned API (secret list, reopen rules), generated with the
/// crate: a folder of its own, as the drift check owns every `.rs` file of a folder.
const RUNTIME_TABLES_DIR: &str = "qix-runtime/src/api_tables";

/// The built-in copies as they must be: the files of `schemas/`.
fn builtin_copies() -> Result<Vec<File>, String> {
    ["companion.json", "secrets.json"]
        .into_iter()
        .map(|name| {
            let path = root().join("schemas").join(name);
            let contents =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(File {
                path: name.to_string(),
                contents,
            })
        })
        .collect()
}

/// A folder the generation owns: every `.rs` file in it is written by `regenerate` and
/// compared by `check`.
struct Output {
    /// The folder as messages name it (relative to the workspace root).
    shown: &'static str,
    dir: PathBuf,
    files: Vec<File>,
}

/// The generated crate, the built-in copies and the runtime's tables.
fn outputs(g: &Generated) -> Result<Vec<Output>, String> {
    let output = |shown: &'static str, files| Output {
        shown,
        dir: root().join(shown),
        files,
    };
    Ok(vec![
        Output {
            shown: "qix-generated/src",
            dir: out_dir(),
            files: g.files.clone(),
        },
        output(BUILTIN_DIR, builtin_copies()?),
        output(
            RUNTIME_TABLES_DIR,
            qix_codegen::emit::runtime_tables(&g.api).map_err(|e| e.to_string())?,
        ),
    ])
}

pub fn regenerate(mut args: RegenerateArgs) -> Result<ExitCode, String> {
    let t0 = Instant::now();
    if let Some(url) = args.from_engine.take() {
        let bearer = args
            .bearer
            .clone()
            .or_else(|| std::env::var("QLIK_API_KEY").ok().filter(|k| !k.is_empty()));
        let path = fetch_from_engine(
            &url,
            bearer.as_deref(),
            &args.tls(),
            &root().join("schemas"),
        )?;
        eprintln!(
            "stored {}; schemas/spec.pin still names the pinned version, so `cargo xtask check` \
             compares with that until the pin is updated",
            path.display()
        );
        args.spec = Some(path.display().to_string());
    }
    let pin_path = HistoryPin::path();
    let history = resolve_history(&args.history, args.repin_history, true, &pin_path)?;
    let (g, note) = generate(args.spec.as_deref(), history.as_ref())?;
    for w in &g.warnings {
        eprintln!("warning: {w}");
    }
    let mut changed = 0;
    for Output { dir, files, .. } in outputs(&g)? {
        let drift = ensure_files(&dir, &files, Mode::Write).map_err(|e| e.to_string())?;
        for d in &drift {
            match d.kind {
                DriftKind::Stale => eprintln!("removed {}", dir.join(&d.path).display()),
                _ => changed += 1,
            }
        }
    }
    // The pin says what this generation used (no versions: no history).
    let pin = history.as_ref().map(|h| h.pin.clone()).unwrap_or_default();
    qix_codegen::write_if_changed(&pin_path, &pin.render()).map_err(|e| e.to_string())?;
    if let Some(h) = &history {
        report_unpinned(h);
    }
    eprintln!("{}", qix_codegen::summary(&g));
    eprintln!(
        "regenerated qix-generated/src {note}: {changed} file(s) changed, in {:.2?}",
        t0.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

fn report_unpinned(h: &History) {
    if let [first, .., last] | [first @ last] = h.unpinned.as_slice() {
        eprintln!(
            "note: {} spec version(s) in {} are not in {} and not used ({first} … {last}); \
             `cargo xtask regenerate --repin-history` adds them",
            h.unpinned.len(),
            h.dir.display(),
            history_pin::PIN_FILE
        );
    }
}

/// The files of `qix-generated/src` that differ from a fresh generation from the pinned
/// spec with `history` (resolved as `check` does), and the built-in copies of qix-codegen
/// that differ from `schemas/`, as messages: the loop of `regenerate`, writing nothing.
pub fn drift(history: &HistoryArgs) -> Result<Vec<String>, String> {
    let resolved = resolve_history(history, false, false, &HistoryPin::path())?;
    if let Some(h) = &resolved {
        report_unpinned(h);
    }
    let (g, _) = generate(None, resolved.as_ref())?;
    let mut problems = Vec::new();
    for Output { shown, dir, files } in outputs(&g)? {
        let drift = ensure_files(&dir, &files, Mode::Check).map_err(|e| e.to_string())?;
        problems.extend(drift.iter().map(|d| {
            let shown = Path::new(shown).join(&d.path);
            match d.kind {
                DriftKind::Missing => format!("{} is missing", shown.display()),
                DriftKind::Differs { line } => {
                    format!("{} differs (first at line {line})", shown.display())
                }
                DriftKind::Stale => format!("{} is not generated any more", shown.display()),
            }
        }));
    }
    Ok(problems)
}

/// `check`: regenerates in memory from the pinned spec and the pinned history (or as
/// `--history DIR` / `--no-history` say, exactly as `regenerate` would) and compares.
pub fn check(args: HistoryArgs) -> Result<ExitCode, String> {
    let problems = drift(&args)?;
    if problems.is_empty() {
        eprintln!("qix-generated is up to date with the pinned spec and history");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{p}");
    }
    if args.no_history {
        eprintln!(
            "qix-generated differs from what `cargo xtask regenerate --no-history` would write \
             (no since-version notes); {} says which history it was generated with",
            history_pin::PIN_FILE
        );
    } else {
        eprintln!(
            "qix-generated is out of date: run `cargo xtask regenerate` (never edit generated files)"
        );
    }
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
    use super::*;

    /// The generated crate is what the generator makes of the pinned spec and the pinned
    /// history (rust-analyzer's `ensure_file_contents`): editing it by hand, or changing the
    /// generator without regenerating, fails here.
    #[test]
    fn generated_code_is_up_to_date() {
        let problems = drift(&HistoryArgs::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            problems.is_empty(),
            "qix-generated is out of date; run `cargo xtask regenerate`:\n{}",
            problems.join("\n")
        );
    }

    /// `check --no-history` compares with a generation without since-version notes, as
    /// `regenerate --no-history` would write it: the checked-in crate, generated with the
    /// pinned history, differs exactly in the files that carry since notes.
    #[test]
    fn check_without_history_compares_with_a_generation_without_since_notes() {
        let pin = HistoryPin::read(&HistoryPin::path()).unwrap().unwrap();
        assert!(
            !pin.entries.is_empty(),
            "the checked-in pin lists a history"
        );
        let args = HistoryArgs {
            history: None,
            no_history: true,
        };
        let problems = drift(&args).unwrap();
        assert!(!problems.is_empty());
        let since_files: Vec<String> = std::fs::read_dir(out_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|c| c.contains("Available since engine 12."))
            })
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert!(!since_files.is_empty());
        for f in &since_files {
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains(&format!("qix-generated/src/{f} differs"))),
                "{f} not reported: {problems:?}"
            );
        }
    }

    /// `--history DIR` reads the pinned versions from DIR: a folder missing some of them is
    /// an error naming them (for `check` as for `regenerate`), never a silent
    /// generation with a smaller history.
    #[test]
    fn a_history_folder_without_the_pinned_versions_is_refused() {
        let pin = HistoryPin::read(&HistoryPin::path()).unwrap().unwrap();
        let dir =
            std::env::temp_dir().join(format!("xtask-partial-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let shared = default_history_dir().expect("the shared spec folder");
        let first = &pin.entries[0].version;
        std::fs::copy(
            shared.join(format!("{first}.json")),
            dir.join(format!("{first}.json")),
        )
        .unwrap();
        let args = HistoryArgs {
            history: Some(dir.clone()),
            no_history: false,
        };
        for regenerate in [false, true] {
            let err = match resolve_history(&args, false, regenerate, &HistoryPin::path()) {
                Err(e) => e,
                Ok(_) => panic!("a partial history was accepted"),
            };
            let last = &pin.entries[pin.entries.len() - 1].version;
            assert!(err.contains(&format!("{last}: ")), "{err}");
            assert!(!err.contains(&format!("{first}: ")), "{err}");
            assert!(err.contains("--repin-history"), "{err}");
        }
        // `check` never pins: without a pin file it says how to get one.
        let err = match resolve_history(&args, false, false, &dir.join("no.pin")) {
            Err(e) => e,
            Ok(_) => panic!("check without a pin"),
        };
        assert!(err.contains("cargo xtask regenerate"), "{err}");
        // `regenerate` without a pin pins the folder as it is.
        let h = resolve_history(&args, false, true, &dir.join("no.pin"))
            .unwrap()
            .unwrap();
        assert_eq!(h.pin.entries.len(), 1);
        assert_eq!(h.files, vec![dir.join(format!("{first}.json"))]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A pin without versions (written by `regenerate --no-history`) makes `check` compare
    /// with a generation without history; a `--history DIR` then is refused, not ignored.
    #[test]
    fn an_empty_pin_means_no_history() {
        let dir = std::env::temp_dir().join(format!("xtask-empty-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pin_path = dir.join("history.pin");
        std::fs::write(&pin_path, HistoryPin::default().render()).unwrap();
        for regenerate in [false, true] {
            let h = resolve_history(&HistoryArgs::default(), false, regenerate, &pin_path);
            assert!(matches!(h, Ok(None)), "regenerate: {regenerate}");
        }
        let args = HistoryArgs {
            history: Some(dir.clone()),
            no_history: false,
        };
        let err = match resolve_history(&args, false, false, &pin_path) {
            Err(e) => e,
            Ok(_) => panic!("--history with an empty pin"),
        };
        assert!(
            err.contains("pins no history") && err.contains("--repin-history"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn from_engine_takes_the_tls_options_of_qix() {
        let a = RegenerateArgs {
            from_engine: Some("https://e".into()),
            certs: Some("/c".into()),
            insecure: true,
            ..RegenerateArgs::default()
        };
        let tls = a.tls();
        assert_eq!(
            tls.client_cert,
            Some(("/c/client.pem".into(), "/c/client_key.pem".into()))
        );
        assert_eq!(
            tls.extra_roots,
            vec![std::path::PathBuf::from("/c/root.pem")]
        );
        assert!(tls.danger_accept_invalid_certs);
        assert!(!RegenerateArgs::default().tls().danger_accept_invalid_certs);
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
        // Header names are case-insensitive (HTTP/1.1 clients may send them lower case).
        assert!(
            req.to_ascii_lowercase()
                .contains("authorization: bearer t0ken"),
            "{req}"
        );
    }
}
