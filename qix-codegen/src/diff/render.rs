//! The three outputs of a diff: a text summary (the default), a markdown changelog grouped by
//! class → method, then types, enums and error codes, and JSON (one record per change).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::model::{Change, Kind, Scope, Verdict};

/// A diff ready to render.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub old_version: &'a str,
    pub new_version: &'a str,
    /// Every change, `doc.changed` included (they are always counted).
    pub changes: &'a [Change],
    /// List `doc.changed` records too.
    pub docs: bool,
}

impl<'a> Report<'a> {
    /// The changes to list.
    pub fn listed(&self) -> impl Iterator<Item = &'a Change> + 'a {
        let docs = self.docs;
        self.changes
            .iter()
            .filter(move |c| docs || c.kind != Kind::DocChanged)
    }

    fn doc_count(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.kind == Kind::DocChanged)
            .count()
    }

    fn headline(&self) -> String {
        let listed: Vec<&Change> = self.listed().collect();
        let wire = listed
            .iter()
            .filter(|c| c.wire == Verdict::Breaking)
            .count();
        let krate = listed
            .iter()
            .filter(|c| c.krate == Verdict::Breaking)
            .count();
        let dangerous = listed
            .iter()
            .filter(|c| c.worst() == Verdict::Dangerous)
            .count();
        format!(
            "{} change{}: {wire} wire-breaking, {krate} crate-breaking, {dangerous} dangerous (and not breaking)",
            listed.len(),
            if listed.len() == 1 { "" } else { "s" }
        )
    }

    fn docs_line(&self, how: &str) -> Option<String> {
        let n = self.doc_count();
        (n > 0 && !self.docs).then(|| {
            format!(
                "{n} description-only change{} not listed ({how} lists them).",
                if n == 1 { "" } else { "s" }
            )
        })
    }

    fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for c in self.listed() {
            *counts.entry(c.kind.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

/// The text summary: a headline, counts per kind, then every change, worst first.
pub fn text(r: &Report) -> String {
    let mut out = format!(
        "QIX API {} → {}: {}\n",
        r.old_version,
        r.new_version,
        r.headline()
    );
    if let Some(l) = r.docs_line("--docs") {
        out.push_str(&l);
        out.push('\n');
    }
    let counts = r.counts();
    if counts.is_empty() {
        return out;
    }
    out.push('\n');
    for (kind, n) in &counts {
        let _ = writeln!(out, "{n:>6}  {kind}");
    }
    let mut listed: Vec<&Change> = r.listed().collect();
    listed.sort_by_key(|c| std::cmp::Reverse((c.worst(), c.wire)));
    let kind_width = listed
        .iter()
        .map(|c| c.kind.as_str().len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\n{:<10}  {:<10}  {:<kind_width$}  change",
        "wire", "crate", "kind"
    );
    for c in listed {
        let _ = writeln!(
            out,
            "{:<10}  {:<10}  {:<kind_width$}  {}: {}",
            c.wire.as_str(),
            c.krate.as_str(),
            c.kind.as_str(),
            c.path,
            c.message
        );
    }
    out
}

/// A markdown changelog.
pub fn markdown(r: &Report) -> String {
    let mut out = format!(
        "# QIX API changes: {} → {}\n\n{}.",
        r.old_version,
        r.new_version,
        r.headline()
    );
    if let Some(l) = r.docs_line("`--docs`") {
        let _ = write!(out, " {l}");
    }
    out.push_str("\n\n");
    let counts = r.counts();
    if counts.is_empty() {
        return out;
    }
    let _ = write!(
        out,
        "*Wire*: does a client generated from {old} still work against an engine at {new}? \
         *Crate*: does code written against the crate generated from {old} still compile against {new}?\n\n\
         | Change | Count |\n|---|---:|\n",
        old = r.old_version,
        new = r.new_version
    );
    for (kind, n) in &counts {
        let _ = writeln!(out, "| `{kind}` | {n} |");
    }

    let listed: Vec<&Change> = r.listed().collect();
    let section = |title: &str,
                   out: &mut String,
                   items: &[&Change],
                   heading: &dyn Fn(&Change) -> Vec<String>| {
        if items.is_empty() {
            return;
        }
        blank_line(out);
        let _ = writeln!(out, "## {title}");
        let mut open: Vec<String> = Vec::new();
        let mut in_list = false;
        for c in items {
            let heads = heading(c);
            for (depth, h) in heads.iter().enumerate() {
                if open.get(depth) != Some(h) {
                    open.truncate(depth);
                    open.push(h.clone());
                    blank_line(out);
                    let _ = writeln!(out, "{} {h}", "#".repeat(depth + 3));
                    in_list = false;
                }
            }
            if !in_list {
                blank_line(out);
                in_list = true;
            }
            let _ = writeln!(out, "- {}", item(c));
        }
    };
    let methods: Vec<&Change> = listed
        .iter()
        .copied()
        .filter(|c| matches!(c.scope, Scope::Method { .. }))
        .collect();
    section("Methods", &mut out, &methods, &|c| match &c.scope {
        Scope::Method { class, method } => vec![class.clone(), format!("`{class}.{method}`")],
        _ => Vec::new(),
    });
    let types: Vec<&Change> = listed
        .iter()
        .copied()
        .filter(|c| matches!(c.scope, Scope::Type { is_enum: false, .. }))
        .collect();
    section("Types", &mut out, &types, &type_heading);
    let enums: Vec<&Change> = listed
        .iter()
        .copied()
        .filter(|c| matches!(c.scope, Scope::Type { is_enum: true, .. }))
        .collect();
    section("Enums", &mut out, &enums, &type_heading);
    let errors: Vec<&Change> = listed
        .iter()
        .copied()
        .filter(|c| c.scope == Scope::Error)
        .collect();
    section("Error codes", &mut out, &errors, &|_| Vec::new());
    out
}

/// Ends `out` with an empty line (markdown blocks need one between them).
fn blank_line(out: &mut String) {
    while !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// Escapes markdown outside `code spans`: spec texts hold `<div>`s, `**` and `_`s.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_code = false;
    for ch in s.chars() {
        match ch {
            '`' => {
                in_code = !in_code;
                out.push(ch);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '\\' | '*' | '_' | '[' | ']' | '#' if !in_code => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

fn type_heading(c: &Change) -> Vec<String> {
    match &c.scope {
        Scope::Type { name, .. } => vec![format!("`{name}`")],
        _ => Vec::new(),
    }
}

fn item(c: &Change) -> String {
    let verdict = |v: Verdict| match v {
        Verdict::Compatible => v.as_str().to_string(),
        _ => format!("**{v}**"),
    };
    format!(
        "`{}` `{}`: {} (wire: {}, crate: {})",
        c.kind,
        c.path,
        escape(&c.message),
        verdict(c.wire),
        verdict(c.krate)
    )
}

/// One change as a JSON record.
#[derive(Serialize)]
struct Record<'a> {
    id: &'a str,
    kind: &'static str,
    path: &'a str,
    context: &'static str,
    wire: &'static str,
    #[serde(rename = "crate")]
    krate: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<&'a str>,
    why: &'static str,
}

/// A JSON array, one record per listed change.
pub fn json(r: &Report) -> String {
    let records: Vec<Record> = r
        .listed()
        .map(|c| Record {
            id: &c.id,
            kind: c.kind.as_str(),
            path: &c.path,
            context: c.context.as_str(),
            wire: c.wire.as_str(),
            krate: c.krate.as_str(),
            message: &c.message,
            old: c.old.as_deref(),
            new: c.new.as_deref(),
            why: c.why,
        })
        .collect();
    // Serializing plain strings into a String cannot fail.
    let mut s = serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}
