//! Contexts, as corectl has them: named connection settings (engine, headers,
//! certificates, ttl, insecure, and a sign-in: an API key or an OAuth client) kept in
//! `contexts.yml` in the platform's config folder (`$XDG_CONFIG_HOME/qix` or
//! `~/.config/qix` on Linux, `~/Library/Application Support/qix` on macOS,
//! `%APPDATA%\qix\config` on Windows; `$QIX_HOME` instead when set), one of them current.
//!
//! The file is written with mode 0600 (its folder 0700) on unix, because it may hold
//! secrets; `context ls` and `context get` never print them. A context has the lowest
//! precedence: a flag, the project file or the environment wins over each of its settings.
//! And it is settings *for its engine*: when another source names an engine on another
//! host or port, the context is not used at all (a `--context` named on the command line
//! is then an error), so its credentials never go to a host they were not made for.
//!
//! The file of before, `~/.qix/contexts.yml`, is read while the new one does not exist;
//! the first change writes the new one and leaves the old one as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::project::Project;
use crate::signin::{ContextSignIn, Secret, is_credential_header};
use crate::{CliResult, ConnectOpts, ContextCommand, Failure, output};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// A bearer token (a Qlik Cloud API key, a JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Context {
    /// The context as it may be shown: secrets and credential headers `<redacted>`.
    fn shown(&self) -> Context {
        let hidden = || Some(Secret::new(qix_runtime::redact::REDACTED));
        let mut c = self.clone();
        c.api_key = c.api_key.and_then(|_| hidden());
        c.client_secret = c.client_secret.and_then(|_| hidden());
        for (name, value) in &mut c.headers {
            if is_credential_header(name) {
                *value = qix_runtime::redact::REDACTED.to_string();
            }
        }
        c
    }

    /// How it signs in, in a few words (for `context ls`).
    fn sign_in(&self) -> String {
        let mut ways = Vec::new();
        if self.api_key.is_some() {
            ways.push("API key".to_string());
        }
        if let Some(id) = &self.client_id {
            ways.push(format!("client {id}"));
        }
        let mut headers: Vec<&str> = self
            .headers
            .keys()
            .filter(|k| is_credential_header(k))
            .map(String::as_str)
            .collect();
        headers.sort();
        ways.extend(headers.iter().map(|h| format!("{h} header")));
        if self.certificates.is_some() {
            ways.push("certificates".into());
        }
        ways.join(", ")
    }

    fn holds_secrets(&self) -> bool {
        self.api_key.is_some()
            || self.client_secret.is_some()
            || self.headers.keys().any(|k| is_credential_header(k))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, Context>,
}

/// Where contexts are kept: `$QIX_HOME/contexts.yml`, else the platform's config folder.
fn file() -> CliResult<PathBuf> {
    if let Some(home) = std::env::var_os("QIX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("contexts.yml"));
    }
    directories::ProjectDirs::from("", "", "qix")
        .map(|d| d.config_dir().join("contexts.yml"))
        .ok_or_else(|| {
            Failure("no config folder for contexts (no home folder): set QIX_HOME".into())
        })
}

/// The file of before (`~/.qix/contexts.yml`), when `QIX_HOME` does not say otherwise.
fn old_file() -> Option<PathBuf> {
    if std::env::var_os("QIX_HOME").is_some_and(|h| !h.is_empty()) {
        return None;
    }
    directories::BaseDirs::new().map(|d| d.home_dir().join(".qix/contexts.yml"))
}

/// The contexts: the file, else the file of before, else none.
fn read(path: &Path) -> CliResult<Contexts> {
    match read_file(path)? {
        Some(c) => Ok(c),
        None => match old_file() {
            Some(old) if old != path => {
                let found = read_file(&old)?;
                if found.is_some() {
                    output::verbose(&format!(
                        "contexts from {} (the next change writes {})",
                        old.display(),
                        path.display()
                    ));
                }
                Ok(found.unwrap_or_default())
            }
            _ => Ok(Contexts::default()),
        },
    }
}

fn read_file(path: &Path) -> CliResult<Option<Contexts>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let contexts: Contexts =
                crate::project::parse_yaml(&text, &path.display().to_string())?;
            warn_if_open(path, &contexts);
            Ok(Some(contexts))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A file holding secrets that others may read deserves a word.
#[cfg(unix)]
fn warn_if_open(path: &Path, contexts: &Contexts) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && contexts.contexts.values().any(Context::holds_secrets) {
        eprintln!(
            "qix: warning: {} holds secrets and others may read it (mode {mode:04o}): chmod 600 it",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_open(_: &Path, _: &Contexts) {}

/// Writes the file whole (a new file renamed over the old one), mode 0600 on unix.
fn write(path: &Path, contexts: &Contexts) -> CliResult {
    let failed =
        |p: &Path, e: std::io::Error| Failure(format!("cannot write {}: {e}", p.display()));
    let text = serde_norway::to_string(contexts)
        .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| failed(dir, e))?;
    let temp = dir.join(format!(".contexts.yml.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(failed(path, e));
    }
    Ok(())
}

/// Scheme (secure or not), host and port of an engine setting, for telling whether two
/// name the same engine.
fn origin(engine: &str) -> Option<(bool, String, u16)> {
    let engine = engine.trim();
    let (secure, rest) = match engine.split_once("://") {
        Some(("wss" | "https", rest)) => (true, rest),
        Some(("ws" | "http", rest)) => (false, rest),
        Some(_) => return None,
        None => (false, engine),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if secure => 443,
        None => 80,
    };
    Some((secure, host.to_ascii_lowercase(), port))
}

fn same_engine(a: &str, b: &str) -> bool {
    a.trim() == b.trim() || origin(a).is_some_and(|o| Some(o) == origin(b))
}

/// The context's settings where neither a flag, the project file nor the environment
/// gave one, and what it signs in with. `--context NAME` picks one; else the current one,
/// if any. Not used when another source names an engine elsewhere.
pub fn apply(
    opts: &mut ConnectOpts,
    matches: &ArgMatches,
    project: Option<&Project>,
) -> CliResult<Option<ContextSignIn>> {
    let contexts = read(&file()?)?;
    let named = opts.context.clone();
    let name = match named.clone().or(contexts.current.clone()) {
        Some(n) => n,
        None => return Ok(None),
    };
    let Some(ctx) = contexts.contexts.get(&name) else {
        return Err(Failure(format!(
            "there is no context {name:?} (qix context ls)"
        )));
    };
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let p = |f: fn(&Project) -> bool| project.is_some_and(f);
    let engine_elsewhere = given("engine") || p(|p| p.engine.is_some());
    if let Some(e) = &ctx.engine {
        if engine_elsewhere && !same_engine(e, &opts.engine) {
            let by = match matches.value_source("engine") {
                Some(ValueSource::CommandLine) => "--engine",
                _ if p(|p| p.engine.is_some()) => "the project file",
                _ => "QIX_ENGINE",
            };
            if named.is_some() {
                return Err(Failure(format!(
                    "context {name} is for {e}, but {by} names {}; its settings are not for another engine",
                    opts.engine
                )));
            }
            output::verbose(&format!(
                "context {name} not used: it is for {e}, and {by} names {}",
                opts.engine
            ));
            return Ok(None);
        }
        if !engine_elsewhere {
            opts.engine = e.clone();
        }
    }
    if let Some(c) = &ctx.certificates {
        if !given("certs") && !p(|p| p.certificates.is_some()) {
            opts.certs = Some(c.clone());
        }
    }
    if let Some(t) = ctx.ttl {
        if !given("ttl") && !p(|p| p.ttl.is_some()) {
            opts.ttl = Some(t);
        }
    }
    for (k, v) in &ctx.headers {
        let set = opts.headers.iter().any(|h| {
            h.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(k))
        });
        if !set {
            opts.headers.push(format!("{k}:{v}"));
        }
    }
    opts.insecure |= ctx.insecure;
    output::verbose(&format!("context {name}"));
    Ok(Some(ContextSignIn {
        name,
        api_key: ctx.api_key.clone(),
        client_id: ctx.client_id.clone(),
        client_secret: ctx.client_secret.clone(),
        token_url: ctx.token_url.clone(),
        authorization: ctx
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("authorization")),
    }))
}

pub fn run(cmd: &ContextCommand, opts: &ConnectOpts) -> CliResult {
    let path = file()?;
    let mut all = read(&path)?;
    match cmd {
        ContextCommand::Set { name, comment } => {
            let mut headers = BTreeMap::new();
            for (k, v) in crate::connect::headers(opts)? {
                headers.insert(k, v);
            }
            let certificates = match &opts.certs {
                Some(c) => Some(
                    std::fs::canonicalize(c)
                        .map_err(|e| Failure(format!("--certs {}: {e}", c.display())))?,
                ),
                None => None,
            };
            if opts.client_secret.is_some() && opts.client_id.is_none() {
                return Err(Failure("--client-secret needs --client-id".into()));
            }
            if opts.token_url.is_some() && opts.client_id.is_none() {
                return Err(Failure("--token-url needs --client-id".into()));
            }
            let ctx = Context {
                engine: Some(opts.engine.clone()),
                headers,
                certificates,
                ttl: opts.ttl,
                insecure: opts.insecure,
                api_key: opts.bearer.clone().filter(|b| !b.is_empty()),
                client_id: opts.client_id.clone(),
                client_secret: opts.client_secret.clone(),
                token_url: opts.token_url.clone(),
                comment: comment.clone(),
            };
            let existed = all.contexts.insert(name.clone(), ctx).is_some();
            write(&path, &all)?;
            let word = if existed { "updated" } else { "created" };
            status(
                opts,
                &format!("Context {name} {word} ({}).", path.display()),
            )
        }
        ContextCommand::Use { name } => {
            if !all.contexts.contains_key(name) {
                return Err(Failure(format!(
                    "there is no context {name:?} (qix context ls)"
                )));
            }
            all.current = Some(name.clone());
            write(&path, &all)?;
            status(opts, &format!("Using context {name}."))
        }
        ContextCommand::Clear => {
            all.current = None;
            write(&path, &all)?;
            status(opts, "No current context.")
        }
        ContextCommand::Get { name } => {
            let name = name
                .clone()
                .or(all.current.clone())
                .ok_or_else(|| Failure("no current context; name one".into()))?;
            let ctx = all
                .contexts
                .get(&name)
                .ok_or_else(|| Failure(format!("there is no context {name:?} (qix context ls)")))?
                .shown();
            if opts.json {
                return output::json(&json!({"name": name, "context": ctx}));
            }
            let text = serde_norway::to_string(&ctx)
                .map_err(|e| Failure(format!("cannot write the context: {e}")))?;
            output::line(&format!("name: {name}\n{}", text.trim_end()))
        }
        ContextCommand::Ls => {
            if opts.json {
                let shown: BTreeMap<&String, Context> =
                    all.contexts.iter().map(|(n, c)| (n, c.shown())).collect();
                return output::json(&json!({"current": all.current, "contexts": shown}));
            }
            if opts.quiet {
                for n in all.contexts.keys() {
                    output::line(n)?;
                }
                return Ok(());
            }
            let rows = all
                .contexts
                .iter()
                .map(|(n, c)| {
                    let mark = if all.current.as_deref() == Some(n) {
                        "*"
                    } else {
                        ""
                    };
                    vec![
                        mark.to_string(),
                        n.clone(),
                        c.engine.clone().unwrap_or_default(),
                        c.sign_in(),
                        c.comment.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["", "Name", "Engine", "Sign-in", "Comment"], rows)
        }
        ContextCommand::Rm { names } => {
            for n in names {
                if !all.contexts.contains_key(n) {
                    return Err(Failure(format!(
                        "there is no context {n:?}; nothing was removed"
                    )));
                }
            }
            for n in names {
                all.contexts.remove(n);
                if all.current.as_deref() == Some(n) {
                    all.current = None;
                }
            }
            write(&path, &all)?;
            status(opts, &format!("Removed context(s): {}.", names.join(", ")))
        }
    }
}

fn status(opts: &ConnectOpts, text: &str) -> CliResult {
    if opts.json || opts.quiet {
        Ok(())
    } else {
        output::line(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_the_same_by_scheme_host_and_port() {
        assert!(same_engine(
            "wss://T.example.com",
            "https://t.example.com:443/app/x"
        ));
        assert!(same_engine("localhost:9076", "ws://localhost:9076/app/"));
        assert!(same_engine("ws://[::1]:9076", "http://[::1]:9076"));
        assert!(!same_engine("wss://t.example.com", "ws://t.example.com"));
        assert!(!same_engine("wss://t.example.com", "wss://u.example.com"));
        assert!(!same_engine("ws://h:9076", "ws://h:9077"));
        assert!(!same_engine("ftp://h", "ws://h"));
    }

    #[test]
    fn shown_contexts_hide_secrets_and_credential_headers() {
        let c = Context {
            api_key: Some(Secret::new("key-1")),
            client_id: Some("cid".into()),
            client_secret: Some(Secret::new("sec-2")),
            headers: [
                ("Authorization".to_string(), "Bearer hdr-3".to_string()),
                ("X-Team".to_string(), "data".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let text = serde_norway::to_string(&c.shown()).unwrap();
        for s in ["key-1", "sec-2", "hdr-3"] {
            assert!(!text.contains(s), "{text}");
        }
        assert!(
            text.contains("client-id: cid") && text.contains("X-Team: data"),
            "{text}"
        );
        assert!(!format!("{c:?}").contains("sec-2"));
        assert_eq!(c.sign_in(), "API key, client cid, Authorization header");
    }
}
