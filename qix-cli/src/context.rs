//! Contexts, as corectl has them: named connection settings (engine, headers, certificates,
//! ttl, insecure) kept in `$QIX_HOME/contexts.yml` (default `~/.qix/contexts.yml`), one of
//! them current. They have the lowest precedence: a flag, the project file or the
//! environment (`QIX_ENGINE`) wins over the current context. The bearer token is never
//! stored (`QLIK_API_KEY` or `--bearer` give it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::project::Project;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, Context>,
}

fn file() -> CliResult<PathBuf> {
    if let Some(home) = std::env::var_os("QIX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("contexts.yml"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".qix/contexts.yml"))
        .ok_or_else(|| Failure("no home folder for contexts: set QIX_HOME".into()))
}

fn read(path: &Path) -> CliResult<Contexts> {
    match std::fs::read_to_string(path) {
        Ok(text) => crate::project::parse_yaml(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contexts::default()),
        Err(e) => Err(Failure(format!("cannot read {}: {e}", path.display()))),
    }
}

fn write(path: &Path, contexts: &Contexts) -> CliResult {
    let text = serde_norway::to_string(contexts)
        .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure(format!("cannot write {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))
}

/// The context's settings where neither a flag, the project file nor the environment
/// gave one. `--context NAME` picks one; else the current one, if any.
pub fn apply(opts: &mut ConnectOpts, matches: &ArgMatches, project: Option<&Project>) -> CliResult {
    let contexts = read(&file()?)?;
    let name = match opts.context.clone().or(contexts.current.clone()) {
        Some(n) => n,
        None => return Ok(()),
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
    if let Some(e) = &ctx.engine {
        if !given("engine") && !p(|p| p.engine.is_some()) {
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
    Ok(())
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
            let ctx = Context {
                engine: Some(opts.engine.clone()),
                headers,
                certificates,
                ttl: opts.ttl,
                insecure: opts.insecure,
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
                .ok_or_else(|| Failure(format!("there is no context {name:?} (qix context ls)")))?;
            if opts.json {
                return output::json(&json!({"name": name, "context": ctx}));
            }
            let text = serde_norway::to_string(ctx)
                .map_err(|e| Failure(format!("cannot write the context: {e}")))?;
            output::line(&format!("name: {name}\n{}", text.trim_end()))
        }
        ContextCommand::Ls => {
            if opts.json {
                return output::json(&json!({"current": all.current, "contexts": all.contexts}));
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
                        c.comment.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["", "Name", "Engine", "Comment"], rows)
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
