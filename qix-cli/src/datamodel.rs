//! The data model (`tables`, `keys`, `meta`, `assoc`), `status`, alternate states
//! (`state ls|add|rm`) and `app rm`.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt, stream};
use qix_generated::prelude::*;
use qix_generated::types::{FieldDescription, Size, SourceKeyRecord, TableRecord};
use serde_json::json;

use crate::output::{self, opt};
use crate::{CliResult, ConnectOpts, Failure, GraphFormat, StateCommand, connect};

/// The tables (a synthetic key's table included) and the keys between them.
async fn model(doc: &Doc) -> CliResult<(Vec<TableRecord>, Vec<SourceKeyRecord>)> {
    let zero = || Size {
        cx: Some(0),
        cy: Some(0),
        ..Default::default()
    };
    let out = doc
        .get_tables_and_keys(zero(), zero(), 0, true, false)
        .await?;
    Ok((out.tr, out.k))
}

fn is_synthetic_table(t: &TableRecord) -> bool {
    t.is_synthetic == Some(true)
}

fn is_synthetic_key(k: &SourceKeyRecord) -> bool {
    k.key_fields.iter().any(|f| f.starts_with("$Syn"))
}

/// `tables`: each table with its rows, fields and key fields.
pub async fn tables(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let (tables, _) = model(doc).await?;
    if opts.json {
        return output::json(&tables);
    }
    if opts.quiet {
        for t in &tables {
            output::line(&opt(&t.name))?;
        }
        return Ok(());
    }
    let rows = tables
        .iter()
        .map(|t| {
            let fields: Vec<String> = t.fields.iter().map(|f| opt(&f.name)).collect();
            let keys: Vec<String> = t
                .fields
                .iter()
                .filter(|f| {
                    f.key_type
                        .as_ref()
                        .is_some_and(|k| format!("{k:?}") != "NotKey")
                })
                .map(|f| opt(&f.name))
                .collect();
            let name = if is_synthetic_table(t) {
                format!("{} (synthetic)", opt(&t.name))
            } else {
                opt(&t.name)
            };
            vec![name, opt(&t.no_of_rows), fields.join(", "), keys.join(", ")]
        })
        .collect();
    output::table(&["Table", "Rows", "Fields", "Keys"], rows)
}

/// `keys`: the key fields and the tables each links.
pub async fn keys(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let (_, keys) = model(doc).await?;
    if opts.json {
        return output::json(&keys);
    }
    if opts.quiet {
        for k in &keys {
            output::line(&k.key_fields.join(", "))?;
        }
        return Ok(());
    }
    let rows = keys
        .iter()
        .map(|k| {
            vec![
                k.key_fields.join(", "),
                k.tables.join(", "),
                if is_synthetic_key(k) { "synthetic" } else { "" }.to_string(),
            ]
        })
        .collect();
    output::table(&["Key", "Tables", ""], rows)
}

/// A byte count for people.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `meta`: every field with its tables, tags, cardinality and memory.
pub async fn meta(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let (tables, _) = model(doc).await?;
    let mut names: Vec<String> = Vec::new();
    for t in tables.iter().filter(|t| !is_synthetic_table(t)) {
        for f in &t.fields {
            let n = opt(&f.name);
            if !n.starts_with("$Syn") && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let fields: Vec<FieldDescription> = stream::iter(names)
        .map(|n| async move { doc.get_field_description(n).await })
        .buffered(32)
        .try_collect()
        .await?;
    if opts.json {
        return output::json(&fields);
    }
    if opts.quiet {
        for f in &fields {
            output::line(&opt(&f.name))?;
        }
        return Ok(());
    }
    let rows = fields
        .iter()
        .map(|f| {
            vec![
                opt(&f.name),
                f.src_tables.join(", "),
                opt(&f.cardinal),
                opt(&f.total_count),
                f.tags.join(", "),
                f.byte_size.map(|b| bytes(b as f64)).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &["Field", "Tables", "Values", "Rows", "Tags", "Memory"],
        rows,
    )
}

/// `assoc`: which tables each key links; `--format dot|mermaid` draws the model.
pub async fn assoc(doc: &Doc, format: GraphFormat, opts: &ConnectOpts) -> CliResult {
    let (tables, keys) = model(doc).await?;
    if opts.json {
        return output::json(&json!({"tables": tables, "keys": keys}));
    }
    match format {
        GraphFormat::Table => {
            if opts.quiet {
                for k in &keys {
                    output::line(&k.key_fields.join(", "))?;
                }
                return Ok(());
            }
            let rows = keys
                .iter()
                .map(|k| {
                    vec![
                        k.tables.join(" ⟷ "),
                        k.key_fields.join(", "),
                        if is_synthetic_key(k) { "synthetic" } else { "" }.to_string(),
                    ]
                })
                .collect();
            output::table(&["Tables", "Key", ""], rows)
        }
        GraphFormat::Dot => output::line(&dot(&tables, &keys)),
        GraphFormat::Mermaid => output::line(&mermaid(&tables, &keys)),
    }
}

/// A Graphviz string: quotes and backslashes escaped, a newline as dot's `\n`.
fn quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn rows(n: &Option<i64>) -> String {
    match n {
        Some(1) => "1 row".into(),
        n => format!("{} rows", opt(n)),
    }
}

/// Graphviz: a box per table, an edge per key (a point joins a key of 3 tables or more);
/// synthetic keys and their tables dashed and red.
pub fn dot(tables: &[TableRecord], keys: &[SourceKeyRecord]) -> String {
    let mut out = String::from("graph datamodel {\n  rankdir=LR;\n  node [shape=box];\n");
    for t in tables {
        let name = opt(&t.name);
        let style = if is_synthetic_table(t) {
            ", style=dashed, color=red"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} [label={}{style}];\n",
            quote(&name),
            quote(&format!("{name}\n{}", rows(&t.no_of_rows)))
        ));
    }
    for (n, k) in keys.iter().enumerate() {
        let label = k.key_fields.join(", ");
        let style = if is_synthetic_key(k) {
            ", style=dashed, color=red"
        } else {
            ""
        };
        if k.tables.len() == 2 {
            out.push_str(&format!(
                "  {} -- {} [label={}{style}];\n",
                quote(&k.tables[0]),
                quote(&k.tables[1]),
                quote(&label)
            ));
        } else {
            let point = format!("key{n}");
            out.push_str(&format!(
                "  {point} [shape=point, xlabel={}{style}];\n",
                quote(&label)
            ));
            for t in &k.tables {
                out.push_str(&format!(
                    "  {point} -- {}{};\n",
                    quote(t),
                    if style.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", &style[2..])
                    }
                ));
            }
        }
    }
    out.push('}');
    out
}

/// Mermaid: the same graph, for markdown that renders it.
pub fn mermaid(tables: &[TableRecord], keys: &[SourceKeyRecord]) -> String {
    let ids: BTreeMap<String, String> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (opt(&t.name), format!("t{i}")))
        .collect();
    let text = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("graph LR\n");
    for t in tables {
        let name = opt(&t.name);
        let class = if is_synthetic_table(t) {
            ":::synthetic"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {}[\"{}<br/>{}\"]{class}\n",
            ids[&name],
            text(&name),
            rows(&t.no_of_rows)
        ));
    }
    let id = |t: &String| {
        ids.get(t)
            .cloned()
            .unwrap_or_else(|| format!("\"{}\"", text(t)))
    };
    for (n, k) in keys.iter().enumerate() {
        let label = text(&k.key_fields.join(", "));
        let link = if is_synthetic_key(k) { "-.-" } else { "---" };
        if k.tables.len() == 2 {
            out.push_str(&format!(
                "  {} {link}|\"{label}\"| {}\n",
                id(&k.tables[0]),
                id(&k.tables[1])
            ));
        } else {
            out.push_str(&format!("  k{n}((\"{label}\"))\n"));
            for t in &k.tables {
                out.push_str(&format!("  k{n} {link} {}\n", id(t)));
            }
        }
    }
    out.push_str("  classDef synthetic stroke:#d33,stroke-dasharray:5 5");
    out
}

/// `status`: the engine, the app and the connection.
pub async fn status(session: &Session, opts: &ConnectOpts) -> CliResult {
    let url = connect::websocket_url(opts)?;
    let version = session
        .global()
        .engine_version()
        .await?
        .component_version
        .unwrap_or_default();
    let app = match connect::open_app(session, opts).await {
        Ok(doc) => {
            let layout = doc.get_app_layout().await?;
            let (tables, _) = model(&doc).await?;
            Ok((
                layout,
                tables.iter().filter(|t| !is_synthetic_table(t)).count(),
            ))
        }
        Err(Failure(e)) => Err(e),
    };
    if opts.json {
        let (app, error) = match &app {
            Ok((l, n)) => (
                Some(json!({"title": l.title, "file": l.file_name,
                    "lastReloadTime": l.last_reload_time, "hasData": l.has_data, "tables": n})),
                None,
            ),
            Err(e) => (None, Some(e.clone())),
        };
        return output::json(&json!({"engine": url, "engineVersion": version, "app": app,
            "appError": error}));
    }
    output::line(&format!("Engine   {url} (engine {version})"))?;
    match app {
        Ok((l, n)) => {
            output::line(&format!(
                "App      {} ({})",
                opt(&l.title),
                opt(&l.file_name)
            ))?;
            let reloaded = l
                .last_reload_time
                .filter(|t| !t.is_empty())
                .map(|t| format!("last reloaded {t}"))
                .unwrap_or_else(|| "never reloaded".into());
            output::line(&format!("Data     {n} table(s), {reloaded}"))
        }
        Err(e) => output::line(&format!("App      none open: {e}")),
    }
}

/// `state ls|add|rm`.
pub async fn states(doc: &Doc, cmd: &StateCommand, opts: &ConnectOpts) -> CliResult {
    let list = || async { Ok::<_, Failure>(doc.get_app_layout().await?.state_names) };
    match cmd {
        StateCommand::Ls => {
            let names = list().await?;
            if opts.json {
                return output::json(&names);
            }
            if opts.quiet {
                for n in &names {
                    output::line(n)?;
                }
                return Ok(());
            }
            output::table(&["State"], names.into_iter().map(|n| vec![n]).collect())
        }
        StateCommand::Add { names, no_save } | StateCommand::Rm { names, no_save } => {
            let adding = matches!(cmd, StateCommand::Add { .. });
            let have = list().await?;
            // All checked first: nothing is half done by a name that cannot be.
            for n in names {
                if adding && have.contains(n) {
                    return Err(Failure(format!("the app already has the state {n:?}")));
                }
                if !adding && !have.contains(n) {
                    return Err(Failure(format!("the app has no state {n:?}")));
                }
            }
            for n in names {
                if adding {
                    doc.add_alternate_state(n.clone()).await?;
                } else {
                    doc.remove_alternate_state(n.clone()).await?;
                }
            }
            if !no_save {
                crate::reload::save(doc, opts.no_data).await?;
            }
            if opts.json {
                return output::json(&json!({"states": list().await?, "saved": !no_save}));
            }
            if opts.quiet {
                for n in names {
                    output::line(n)?;
                }
                return Ok(());
            }
            let word = if adding { "Added" } else { "Removed" };
            output::line(&format!("{word} state(s): {}.", names.join(", ")))?;
            if !no_save {
                output::line("App saved.")?;
            }
            Ok(())
        }
    }
}

/// `app rm`: every app checked to be in the doc list first.
pub async fn remove_apps(session: &Session, apps: &[String], opts: &ConnectOpts) -> CliResult {
    let global = session.global();
    let list = global.get_doc_list().await?;
    for a in apps {
        if !list.iter().any(|d| d.doc_id.as_deref() == Some(a.as_str())) {
            return Err(Failure(format!(
                "the engine has no app {a:?}; nothing was removed"
            )));
        }
    }
    for a in apps {
        if !global.delete_app(a.clone()).await? {
            return Err(Failure(format!("the engine did not remove the app {a:?}")));
        }
    }
    if opts.json {
        return output::json(&json!({"removed": apps}));
    }
    if opts.quiet {
        for a in apps {
            output::line(a)?;
        }
        return Ok(());
    }
    output::line(&format!(
        "Removed {} app(s): {}.",
        apps.len(),
        apps.join(", ")
    ))
}
