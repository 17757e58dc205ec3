//! corectl projects: `corectl.yml` (or `qix.yml`, the same format) and the files it
//! names. The format is corectl's, unchanged, so a repository of corectl projects builds
//! with `qix build` as it is.
//!
//! Precedence: command-line flags win over the file, the file over the environment's
//! defaults (`QIX_ENGINE`, `QIX_APP`). Relative paths are relative to the file's folder;
//! `${VAR}` anywhere in a value is replaced from the environment.

pub mod connections;
pub mod entities;
pub mod env;
mod yaml;

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;

pub use connections::{ConnectionSpec, ConnectionsSource};
pub use yaml::parse as parse_yaml;
use yaml::{ConfigFile, Globs};

use crate::{CliResult, ConnectOpts, Failure};

/// The names looked for in the working folder, in order.
pub const CONFIG_NAMES: [&str; 4] = ["corectl.yml", "corectl.yaml", "qix.yml", "qix.yaml"];

/// The project for a command line: read (unless the command is `completion`), and its
/// connection settings applied where no flag gave them.
pub fn load(cli: &mut crate::Cli, matches: &ArgMatches) -> CliResult<Option<Project>> {
    if matches!(cli.command, crate::Command::Completion { .. }) {
        return Ok(None);
    }
    let flag_headers = cli.conn.headers.clone();
    let project = Project::find(cli.conn.config.as_deref())?;
    if let Some(p) = &project {
        p.apply(&mut cli.conn, matches);
    }
    crate::output::set_verbose(cli.conn.verbose);
    if matches!(cli.command, crate::Command::Context(_)) {
        // `context set` saves what its command line gave, not what a context or the
        // environment's credentials gave.
        crate::signin::command_line_only(&mut cli.conn, matches);
        return Ok(project);
    }
    let context = crate::context::apply(&mut cli.conn, matches, project.as_ref())?;
    crate::signin::resolve(
        &mut cli.conn,
        matches,
        &flag_headers,
        project.as_ref(),
        context.as_ref(),
    )?;
    Ok(project)
}

/// A project file, read and checked, with `${VAR}`s replaced and paths resolved.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// The file, as named (for messages).
    pub file: PathBuf,
    pub engine: Option<String>,
    pub app: Option<String>,
    pub headers: Vec<(String, String)>,
    pub certificates: Option<PathBuf>,
    pub ttl: Option<u32>,
    pub script: Option<PathBuf>,
    pub app_properties: Option<PathBuf>,
    pub connections: Option<ConnectionsSource>,
    pub dimensions: Vec<Glob>,
    pub measures: Vec<Glob>,
    pub variables: Vec<Glob>,
    pub bookmarks: Vec<Glob>,
    pub objects: Vec<Glob>,
    /// corectl's flags, which its projects may set too.
    pub insecure: bool,
    pub no_data: bool,
    pub verbose: bool,
    pub json: bool,
    pub quiet: bool,
    pub no_save: bool,
    pub no_reload: bool,
    pub silent: bool,
    pub limit: Option<u64>,
}

/// A glob pattern and where it was given (for messages: the file and line, or a flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern as written.
    pub pattern: String,
    /// The folder it is relative to.
    pub base: PathBuf,
    /// `corectl.yml:12: objects` or `--objects`.
    pub origin: String,
}

impl Glob {
    /// The files the pattern matches, sorted; none is an error naming the pattern.
    pub fn files(&self) -> CliResult<Vec<PathBuf>> {
        let full = if Path::new(&self.pattern).is_absolute() {
            self.pattern.clone()
        } else {
            // The base folder is a path, not a pattern: its `*` or `[` match themselves.
            let pattern = self.pattern.trim_start_matches("./");
            if self.base == Path::new(".") {
                pattern.to_string()
            } else {
                let base = glob::Pattern::escape(&self.base.to_string_lossy());
                format!("{base}/{pattern}")
            }
        };
        let entries = glob::glob(&full).map_err(|e| {
            Failure(format!(
                "{}: {:?} is not a glob pattern: {}",
                self.origin, self.pattern, e.msg
            ))
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let path =
                entry.map_err(|e| Failure(format!("{}: {:?}: {e}", self.origin, self.pattern)))?;
            if path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(Failure(format!(
                "{}: {:?} matches no file",
                self.origin, self.pattern
            )));
        }
        files.sort();
        Ok(files)
    }
}

impl Project {
    /// The project file: `--config FILE`, else the first of [`CONFIG_NAMES`] in the working
    /// folder, else none.
    pub fn find(config: Option<&Path>) -> CliResult<Option<Project>> {
        match config {
            Some(path) => Project::read(path).map(Some),
            None => match CONFIG_NAMES.iter().map(Path::new).find(|p| p.is_file()) {
                Some(path) => Project::read(path).map(Some),
                None => Ok(None),
            },
        }
    }

    /// Reads and checks one project file.
    pub fn read(path: &Path) -> CliResult<Project> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
        let shown = path.display().to_string();
        let file: ConfigFile = yaml::parse(&text, &shown)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let ctx = Ctx {
            text: &text,
            file: &shown,
        };
        let sub = |v: &Option<String>, key: &str| -> CliResult<Option<String>> {
            v.as_deref().map(|s| ctx.env(s, key)).transpose()
        };
        let rel = |v: &Option<String>, key: &str| -> CliResult<Option<PathBuf>> {
            Ok(sub(v, key)?.map(|s| join(&dir, &s)))
        };
        let globs = |g: &Option<Globs>, key: &str| -> CliResult<Vec<Glob>> {
            let Some(g) = g else { return Ok(Vec::new()) };
            g.0.iter()
                .map(|p| {
                    let pattern = ctx.env(p, key)?;
                    Ok(Glob {
                        origin: ctx.at(p, key),
                        pattern,
                        base: dir.clone(),
                    })
                })
                .collect()
        };
        let mut headers = Vec::new();
        for (name, value) in file.headers.iter().flatten() {
            headers.push((name.clone(), ctx.env(&value.0, &format!("headers.{name}"))?));
        }
        let ttl = match &file.ttl {
            None => None,
            Some(t) => {
                let t = ctx.env(&t.0, "ttl")?;
                Some(t.trim().parse::<u32>().map_err(|_| {
                    Failure(format!(
                        "{}: ttl {t:?} is not a number of seconds",
                        ctx.at(&t, "ttl")
                    ))
                })?)
            }
        };
        let connections = match &file.connections {
            None => None,
            Some(yaml::Connections::File(f)) => Some(ConnectionsSource::File(join(
                &dir,
                &ctx.env(f, "connections")?,
            ))),
            Some(yaml::Connections::Inline(map)) => Some(ConnectionsSource::Inline(
                connections::specs_in(map, &|v, key| ctx.env(v, key), &shown, &text)?,
            )),
        };
        let certificates = rel(&file.certificates, "certificates")?;
        if let (Some(dir), Some(given)) = (&certificates, &file.certificates) {
            for name in ["client.pem", "client_key.pem", "root.pem"] {
                if !dir.join(name).is_file() {
                    return Err(Failure(format!(
                        "{}: {} is missing",
                        ctx.at(given, "certificates"),
                        dir.join(name).display()
                    )));
                }
            }
        }
        Ok(Project {
            file: path.to_path_buf(),
            engine: sub(&file.engine, "engine")?,
            app: sub(&file.app, "app")?,
            headers,
            certificates,
            ttl,
            script: rel(&file.script, "script")?,
            app_properties: rel(&file.app_properties, "app-properties")?,
            connections,
            dimensions: globs(&file.dimensions, "dimensions")?,
            measures: globs(&file.measures, "measures")?,
            variables: globs(&file.variables, "variables")?,
            bookmarks: globs(&file.bookmarks, "bookmarks")?,
            objects: globs(&file.objects, "objects")?,
            insecure: file.insecure.unwrap_or(false),
            no_data: file.no_data.unwrap_or(false),
            verbose: file.verbose.unwrap_or(false),
            json: file.json.unwrap_or(false),
            quiet: file.quiet.unwrap_or(false),
            no_save: file.no_save.unwrap_or(false),
            no_reload: file.no_reload.unwrap_or(false),
            silent: file.silent.unwrap_or(false),
            limit: file.limit,
        })
    }

    /// The connection options with the file's values where no flag gave one (a value from
    /// the environment or a default gives way to the file's).
    pub fn apply(&self, opts: &mut ConnectOpts, matches: &ArgMatches) {
        let from_flag =
            |id: &str| matches!(matches.value_source(id), Some(ValueSource::CommandLine));
        if let Some(engine) = self.engine.as_ref().filter(|_| !from_flag("engine")) {
            opts.engine = engine.clone();
        }
        if let Some(app) = self.app.as_ref().filter(|_| !from_flag("app")) {
            opts.app = Some(app.clone());
        }
        if let Some(certs) = self.certificates.as_ref().filter(|_| !from_flag("certs")) {
            opts.certs = Some(certs.clone());
        }
        if let Some(ttl) = self.ttl.filter(|_| !from_flag("ttl")) {
            opts.ttl = Some(ttl);
        }
        // Headers add up; a flag's header of the same name wins.
        for (name, value) in &self.headers {
            let given = opts.headers.iter().any(|h| {
                h.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            });
            if !given {
                opts.headers.push(format!("{name}:{value}"));
            }
        }
        opts.insecure |= self.insecure;
        opts.no_data |= self.no_data;
        opts.verbose |= self.verbose;
        opts.json |= self.json;
        opts.quiet |= self.quiet;
    }
}

/// A parser's message without the " at line N column M" it puts in words (the location is
/// given first, compiler-style, by the caller).
pub fn strip_location(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
        let n = digits(rest);
        let after = &rest[n..];
        let Some(col) = after.strip_prefix(" column ") else {
            break;
        };
        let m = digits(col);
        if n == 0 || m == 0 {
            break;
        }
        let end = i + " at line ".len() + n + " column ".len() + m;
        out.replace_range(i..end, "");
    }
    out
}

/// `dir/path` without `./` noise (`script.qvs` rather than `././script.qvs`), so that
/// messages name files as people wrote them.
pub fn join(dir: &Path, path: &str) -> PathBuf {
    let path = path.trim_start_matches("./");
    if dir == Path::new(".") || Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        dir.join(path)
    }
}

/// Where values of one file come from, for messages.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    /// `file:line: key` for a value (the first line holding it).
    fn at(&self, value: &str, key: &str) -> String {
        match yaml::line_of_value(self.text, value) {
            Some(line) => format!("{}:{line}: {key}", self.file),
            None => format!("{}: {key}", self.file),
        }
    }

    fn env(&self, value: &str, key: &str) -> CliResult<String> {
        env::substitute(value, |name| match env::line_of(self.text, name) {
            Some(line) => format!("{}:{line}: {key}", self.file),
            None => format!("{}: {key}", self.file),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_in_words_are_taken_out() {
        assert_eq!(
            strip_location("expected value at line 2 column 12"),
            "expected value"
        );
        assert_eq!(
            strip_location("x: did not find ',' at line 3 column 7, while parsing"),
            "x: did not find ',', while parsing"
        );
        assert_eq!(strip_location("at line one"), "at line one");
    }

    #[test]
    fn joined_paths_keep_what_people_wrote() {
        assert_eq!(
            join(Path::new("."), "./script.qvs"),
            PathBuf::from("script.qvs")
        );
        assert_eq!(
            join(Path::new("proj"), "./s.qvs"),
            PathBuf::from("proj/s.qvs")
        );
        assert_eq!(
            join(Path::new("proj"), "/abs/s.qvs"),
            PathBuf::from("/abs/s.qvs")
        );
    }
}
