//! `qix unbuild`: an app written out as a corectl project that `qix build` (and corectl)
//! accepts. Deterministic — entities sorted by id, keys sorted, two-space JSON, a newline
//! at the end — so that a git diff of two unbuilds shows only what changed in the app.
//! Credentials are never written: `connections.yml` has a `${VAR}` placeholder for each
//! password and each secret in a connection string.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use qix_generated::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::appstate::{self, canonical};
use crate::project::entities::Kind;
use crate::{CliResult, ConnectOpts, Failure, output};

/// The project file `unbuild` writes: the paths of the files it writes beside it.
const CORECTL_YML_HEAD: &str = "\
# A corectl project written by `qix unbuild`; `qix build` here makes the app again.
# connections.yml holds no password: set the environment variables it names first.
";

pub async fn run(doc: &Doc, dir: Option<&Path>, opts: &ConnectOpts) -> CliResult {
    let infos = appstate::infos(doc).await?;
    let ids = |k: Kind| -> Vec<String> {
        infos
            .iter()
            .filter(|i| i.kind == k)
            .map(|i| i.id.clone())
            .collect()
    };
    let mut lists: BTreeMap<Kind, Vec<Value>> = BTreeMap::new();
    for kind in [
        Kind::Dimension,
        Kind::Measure,
        Kind::Variable,
        Kind::Bookmark,
    ] {
        let wanted = ids(kind).into_iter().map(|id| (kind, id, false)).collect();
        // Gone since it was listed: nothing to write.
        let values = appstate::fetch_all(doc, wanted)
            .await?
            .into_iter()
            .flatten();
        lists.insert(kind, values.collect());
    }
    let objects = appstate::root_objects(doc, &ids(Kind::Object)).await?;
    let script = doc.get_script().await?;
    let app_properties = appstate::app_properties(doc).await?;
    let connections = doc.get_connections().await?;

    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let title = app_properties["qTitle"].as_str().unwrap_or("app");
            PathBuf::from(format!("{}-unbuild", file_part(title)))
        }
    };
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut yml = String::from(CORECTL_YML_HEAD);
    yml.push_str("script: script.qvs\napp-properties: app-properties.json\n");
    yml.push_str("connections: connections.yml\n");
    for kind in [
        Kind::Dimension,
        Kind::Measure,
        Kind::Variable,
        Kind::Bookmark,
    ] {
        yml.push_str(&format!("{}: {}.json\n", kind.key(), kind.key()));
    }
    if !objects.is_empty() {
        // corectl's glob matching nothing is an error here: only listed when there are.
        yml.push_str("objects: objects/*.json\n");
    }
    files.push((dir.join("corectl.yml"), yml));
    files.push((dir.join("script.qvs"), script));
    files.push((dir.join("app-properties.json"), canonical(&app_properties)));
    files.push((dir.join("connections.yml"), connections_yml(&connections)?));
    for (kind, mut values) in lists {
        values.sort_by(|a, b| id_of(a, "/qInfo/qId").cmp(id_of(b, "/qInfo/qId")));
        files.push((
            dir.join(format!("{}.json", kind.key())),
            canonical(&Value::Array(values)),
        ));
    }
    let mut names = BTreeSet::new();
    for (id, tree) in &objects {
        let mut name = object_file_name(id, tree);
        // Two ids that read the same once made file names (`a.b`, `a-b`) get numbered.
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{}-{n}", object_file_name(id, tree));
            n += 1;
        }
        files.push((
            dir.join("objects").join(format!("{name}.json")),
            canonical(tree),
        ));
    }
    write(&dir, &files)?;
    if opts.json {
        let list: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        return output::json(&json!({"dir": dir, "files": list}));
    }
    if opts.quiet {
        for (p, _) in &files {
            output::line(&p.display().to_string())?;
        }
        return Ok(());
    }
    let count = |k: Kind| match k {
        Kind::Object => objects.len(),
        k => infos.iter().filter(|i| i.kind == k).count(),
    };
    output::line(&format!(
        "Unbuilt into {}: {} dimension(s), {} measure(s), {} variable(s), {} bookmark(s), {} object(s), {} connection(s), the script and the app properties ({} files).",
        dir.display(),
        count(Kind::Dimension),
        count(Kind::Measure),
        count(Kind::Variable),
        count(Kind::Bookmark),
        count(Kind::Object),
        connections.len(),
        files.len()
    ))
}

fn id_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Writes the files, and removes object files an earlier unbuild wrote that no longer
/// have an object (so the folder is the app, not the app plus leftovers).
fn write(dir: &Path, files: &[(PathBuf, String)]) -> CliResult {
    let fail = |p: &Path, e: std::io::Error| Failure(format!("cannot write {}: {e}", p.display()));
    let objects = dir.join("objects");
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let written: BTreeSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    if objects.is_dir() {
        let entries = std::fs::read_dir(&objects).map_err(|e| fail(&objects, e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "json") && !written.contains(&p) {
                output::verbose(&format!("removing {} (no such object now)", p.display()));
                std::fs::remove_file(&p).map_err(|e| fail(&p, e))?;
            }
        }
    }
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        // Unchanged files are not touched (their times stay, build tools stay quiet).
        if std::fs::read_to_string(path).is_ok_and(|old| old == *text) {
            continue;
        }
        std::fs::write(path, text).map_err(|e| fail(path, e))?;
    }
    Ok(())
}

/// A name for files: lowercase letters and digits, `-` for anything else.
pub fn file_part(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `<type>-<title>-<id>`: the title from `qMetaDef.title` or `title` when it is text.
fn object_file_name(id: &str, tree: &Value) -> String {
    let props = tree.get("qProperty").unwrap_or(tree);
    let r#type = id_of(props, "/qInfo/qType");
    let title = props
        .pointer("/qMetaDef/title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .or_else(|| props.get("title").and_then(Value::as_str))
        .unwrap_or("");
    [r#type, title, id]
        .iter()
        .map(|p| file_part(p))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Serialize)]
struct ConnectionOut {
    #[serde(rename = "type")]
    kind: String,
    connectionstring: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// An environment variable's name for a connection's secret.
fn secret_var(connection: &str, what: &str) -> String {
    let name: String = connection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("QIX_{}_{what}", name.trim_matches('_'))
}

/// `connections.yml`: each connection with `${VAR}`s for its secrets. The engine never
/// sends a password back; the secrets in a connection string (`PWD=…`, a URL's user
/// info) are found the way the runtime redacts logs.
fn connections_yml(connections: &[qix_generated::types::Connection]) -> CliResult<String> {
    let mut map: BTreeMap<String, ConnectionOut> = BTreeMap::new();
    for c in connections {
        let Some(name) = c.name.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let raw = c.connection_string.clone().unwrap_or_default();
        let redacted = qix_runtime::redact::connection_string(&raw);
        let parts: Vec<&str> = redacted.split(qix_runtime::redact::REDACTED).collect();
        let mut connectionstring = String::from(parts[0]);
        for (i, part) in parts.iter().enumerate().skip(1) {
            connectionstring.push_str(&format!(
                "${{{}}}",
                secret_var(&name, &format!("SECRET_{i}"))
            ));
            connectionstring.push_str(part);
        }
        let username = c.user_name.clone().filter(|u| !u.is_empty());
        let password = username
            .as_ref()
            .map(|_| format!("${{{}}}", secret_var(&name, "PASSWORD")));
        map.insert(
            name,
            ConnectionOut {
                kind: c.r#type.clone().unwrap_or_default(),
                connectionstring,
                username,
                password,
            },
        );
    }
    #[derive(Serialize)]
    struct File {
        connections: BTreeMap<String, ConnectionOut>,
    }
    serde_norway::to_string(&File { connections: map })
        .map_err(|e| Failure(format!("cannot write connections.yml: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_file_names_are_type_title_id() {
        let tree = json!({"qProperty": {"qInfo": {"qId": "a699ee97", "qType": "sheet"},
            "qMetaDef": {"title": "My new sheet 2"}}});
        assert_eq!(
            object_file_name("a699ee97", &tree),
            "sheet-my-new-sheet-2-a699ee97"
        );
        let untitled = json!({"qInfo": {"qId": "Ab.C", "qType": "my-cube"}});
        assert_eq!(object_file_name("Ab.C", &untitled), "my-cube-ab-c");
        assert_eq!(file_part("Håkan #1 / Övrigt"), "håkan-1-övrigt");
    }

    #[test]
    fn secrets_become_variables() {
        let c = qix_generated::types::Connection {
            name: Some("my db".into()),
            r#type: Some("ODBC".into()),
            connection_string: Some("DSN=sales;UID=sa;PWD=hunter2;".into()),
            user_name: Some("sa".into()),
            ..Default::default()
        };
        let yml = connections_yml(&[c]).unwrap();
        assert!(!yml.contains("hunter2"), "{yml}");
        assert!(yml.contains("${QIX_MY_DB_SECRET_1}"), "{yml}");
        assert!(yml.contains("${QIX_MY_DB_SECRET_2}"), "{yml}");
        assert!(yml.contains("password: ${QIX_MY_DB_PASSWORD}"), "{yml}");
    }
}
