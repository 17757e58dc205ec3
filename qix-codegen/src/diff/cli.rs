//! The `diff` command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::companion::Companion;
use crate::history::load_api;
use crate::specpath::find_spec;

use super::model::Verdict;
use super::render::{self, Report};
use super::{DiffOptions, diff};

pub const USAGE: &str = "usage: diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs] [--spec-dir DIR] [--companion FILE]
  OLD, NEW      spec files, or engine versions (12.2528.0) looked up in --spec-dir, $QIX_SCHEMAS_DIR,
                schemas/ and ../shared/schemas/openrpc
  --format      text (default): a summary; markdown: a changelog; json: one record per change
  --fail-on     exit with 1 when a change is at least this bad on the wire or for the crate
                (default: breaking)
  --docs        also list description-only changes (always counted)
exit status: 0 nothing at or over the threshold, 1 threshold crossed, 2 the tool failed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug)]
struct Args {
    old: String,
    new: String,
    format: Format,
    fail_on: Verdict,
    docs: bool,
    spec_dir: Option<PathBuf>,
    companion: Option<PathBuf>,
}

/// Runs `diff OLD NEW [options]`; `args` are the words after the command name (a leading
/// `diff` is skipped). Prints the report on stdout. `Ok(0)` when no change reaches the
/// `--fail-on` threshold, `Ok(1)` when one does; `Err` (exit status 2) when the tool fails.
pub fn run_cli(args: &[String]) -> Result<ExitCode, String> {
    run_cli_to(args, &mut std::io::stdout().lock())
}

/// [`run_cli`], writing the report (or the usage, for `--help`) to `out`.
pub fn run_cli_to(args: &[String], out: &mut dyn Write) -> Result<ExitCode, String> {
    let args = match args.first().map(String::as_str) {
        Some("diff") => &args[1..],
        _ => args,
    };
    let write = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write the report: {e}"))
    };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        write(out, &format!("{USAGE}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let args = parse(args)?;
    let old_path = find_spec(&args.old, args.spec_dir.as_deref())?;
    let new_path = find_spec(&args.new, args.spec_dir.as_deref())?;
    let companion = match &args.companion {
        Some(p) => Companion::load(p)?,
        None => Companion::builtin(),
    };
    let (old, new) = std::thread::scope(|s| {
        let old = s.spawn(|| load_api(&old_path, &companion));
        let new = load_api(&new_path, &companion);
        (join(old, &old_path), new)
    });
    let (old, new) = (old?, new?);

    let changes = diff(&old, &new, &DiffOptions { docs: true });
    let report = Report {
        old_version: &old.version,
        new_version: &new.version,
        changes: &changes,
        docs: args.docs,
    };
    let text = match args.format {
        Format::Text => render::text(&report),
        Format::Markdown => render::markdown(&report),
        Format::Json => render::json(&report),
    };
    write(out, &text)?;
    let crossed = changes.iter().any(|c| c.worst() >= args.fail_on);
    Ok(if crossed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, String>>,
    path: &Path,
) -> Result<T, String> {
    handle
        .join()
        .unwrap_or_else(|_| Err(format!("{}: loading the spec panicked", path.display())))
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut format = Format::Text;
    let mut fail_on = Verdict::Breaking;
    let mut docs = false;
    let mut spec_dir = None;
    let mut companion = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // `--key value` and `--key=value` both work.
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}")),
            }
        };
        match key {
            "--format" => {
                format = match value("--format")?.as_str() {
                    "text" => Format::Text,
                    "markdown" | "md" => Format::Markdown,
                    "json" => Format::Json,
                    other => {
                        return Err(format!(
                            "--format: unknown format {other:?} (text, markdown or json)"
                        ));
                    }
                }
            }
            "--fail-on" => {
                let v = value("--fail-on")?;
                fail_on = match Verdict::parse(&v) {
                    Some(Verdict::Compatible) | None => {
                        return Err(format!(
                            "--fail-on: {v:?} is not a threshold (breaking or dangerous)"
                        ));
                    }
                    Some(t) => t,
                }
            }
            "--docs" => {
                if inline.is_some() {
                    return Err("--docs takes no value".into());
                }
                docs = true;
            }
            "--spec-dir" => spec_dir = Some(PathBuf::from(value("--spec-dir")?)),
            "--companion" => companion = Some(PathBuf::from(value("--companion")?)),
            k if k.starts_with("--") => return Err(format!("unknown option {k}\n{USAGE}")),
            _ => positional.push(arg.clone()),
        }
    }
    let [old, new]: [String; 2] = positional.try_into().map_err(|p: Vec<String>| {
        format!("expected two specs (OLD NEW), got {}\n{USAGE}", p.len())
    })?;
    Ok(Args {
        old,
        new,
        format,
        fail_on,
        docs,
        spec_dir,
        companion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options_in_any_order_and_both_spellings() {
        let a = parse(&args(
            "--format=json a.json --fail-on dangerous b --docs --spec-dir d",
        ))
        .unwrap();
        assert_eq!((a.old.as_str(), a.new.as_str()), ("a.json", "b"));
        assert_eq!(a.format, Format::Json);
        assert_eq!(a.fail_on, Verdict::Dangerous);
        assert!(a.docs);
        assert_eq!(a.spec_dir, Some(PathBuf::from("d")));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(&args("a")).is_err());
        assert!(parse(&args("a b c")).is_err());
        assert!(parse(&args("a b --format yaml")).is_err());
        assert!(parse(&args("a b --fail-on compatible")).is_err());
        assert!(parse(&args("a b --format")).is_err());
        assert!(parse(&args("a b --frobnicate 1")).is_err());
    }
}
