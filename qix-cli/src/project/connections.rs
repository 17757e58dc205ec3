//! Data connections of a project, as corectl makes them: the key is the connection's
//! name (`qName`), `type` its `qType`, `username`/`password` its credentials, and
//! `qConnectionString` is `connectionstring` when given, else
//! `CUSTOM CONNECT TO "provider=<type>;<key>=<value>;…"` from `settings`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::yaml::{self, ConnectionEntry, ConnectionsFile};
use crate::{CliResult, Failure};

/// Where a project's connections are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionsSource {
    /// A connections file (`connections: connections.yml`, or `--connections FILE`).
    File(PathBuf),
    /// Inline in the project file.
    Inline(Vec<ConnectionSpec>),
}

impl ConnectionsSource {
    /// The connections, read and checked.
    pub fn specs(&self) -> CliResult<Vec<ConnectionSpec>> {
        match self {
            ConnectionsSource::Inline(specs) => Ok(specs.clone()),
            ConnectionsSource::File(path) => read_file(path),
        }
    }
}

/// One connection to create or modify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub name: String,
    pub kind: String,
    pub connection_string: String,
    pub username: String,
    pub password: String,
    /// `file:line` of its key, for messages.
    pub origin: String,
}

/// Reads a connections file (`connections:` with the map of connections).
pub fn read_file(path: &Path) -> CliResult<Vec<ConnectionSpec>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let file: ConnectionsFile = yaml::parse(&text, &shown)?;
    let env = |value: &str, key: &str| {
        super::env::substitute(value, |name| match super::env::line_of(&text, name) {
            Some(line) => format!("{shown}:{line}: {key}"),
            None => format!("{shown}: {key}"),
        })
    };
    let map = file.connections.unwrap_or_default();
    specs_in(&map, &env, &shown, &text)
}

/// The connections of a map (`file` and its `text` place them in messages).
pub(super) fn specs_in(
    map: &IndexMap<String, ConnectionEntry>,
    env: &dyn Fn(&str, &str) -> CliResult<String>,
    file: &str,
    text: &str,
) -> CliResult<Vec<ConnectionSpec>> {
    let mut out = Vec::new();
    for (name, entry) in map {
        let key = format!("connections.{name}");
        let origin = match text
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{name}:")))
        {
            Some(i) => format!("{file}:{}", i + 1),
            None => file.to_string(),
        };
        let sub = |v: &Option<String>, what: &str| -> CliResult<String> {
            v.as_deref()
                .map(|s| env(s, &format!("{key}.{what}")))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let kind = sub(&entry.kind, "type")?;
        if kind.is_empty() {
            return Err(Failure(format!(
                "{origin}: {key}: a connection needs a type"
            )));
        }
        let mut settings = Vec::new();
        for (k, v) in entry.settings.iter().flatten() {
            settings.push((k.clone(), env(&v.0, &format!("{key}.settings.{k}"))?));
        }
        let given = sub(&entry.connectionstring, "connectionstring")?;
        let connection_string = if given.is_empty() {
            custom_connect(&kind, &settings)
        } else {
            given
        };
        out.push(ConnectionSpec {
            name: name.clone(),
            kind,
            connection_string,
            username: sub(&entry.username, "username")?,
            password: sub(&entry.password, "password")?,
            origin,
        });
    }
    Ok(out)
}

/// `CUSTOM CONNECT TO "provider=<type>;k=v;…"`, the settings sorted by key so that the
/// string does not depend on how a file orders them (corectl's order was a Go map's:
/// random).
pub fn custom_connect(kind: &str, settings: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = settings.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let flat: String = sorted.iter().map(|(k, v)| format!("{k}={v};")).collect();
    format!("CUSTOM CONNECT TO \"provider={kind};{flat}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_make_a_custom_connect_string_in_key_order() {
        assert_eq!(
            custom_connect(
                "testconnector",
                &[("host".into(), "h1".into()), ("db".into(), "sales".into())]
            ),
            "CUSTOM CONNECT TO \"provider=testconnector;db=sales;host=h1;\""
        );
        assert_eq!(
            custom_connect("folder", &[]),
            "CUSTOM CONNECT TO \"provider=folder;\""
        );
    }
}
