//! `qix plan`: what `qix build` would change in the app, entity by entity, before it
//! changes anything. Also the first half of `build`: every project file is read and
//! checked before the app is touched, so a broken file never leaves a half-built app.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use qix_generated::prelude::*;
use qix_generated::types::Connection;
use serde_json::{Value, json};

use crate::appstate::{self, Info, diff_paths};
use crate::output;
use crate::project::entities::{self, EntityFile, Kind};
use crate::project::{ConnectionSpec, ConnectionsSource, Glob, Project};
use crate::{CliResult, ConnectOpts, Failure, SourceArgs};

/// Where the desired state comes from: each flag wins over the project file's key.
#[derive(Debug, Default)]
pub struct Sources {
    pub script: Option<PathBuf>,
    pub app_properties: Option<PathBuf>,
    pub connections: Option<ConnectionsSource>,
    pub globs: BTreeMap<Kind, Vec<Glob>>,
}

impl Sources {
    pub fn new(project: Option<&Project>, args: &SourceArgs) -> Sources {
        let cwd = PathBuf::from(".");
        let flag_globs = |patterns: &[String], flag: &str| -> Vec<Glob> {
            patterns
                .iter()
                .map(|p| Glob {
                    pattern: p.clone(),
                    base: cwd.clone(),
                    origin: format!("--{flag}"),
                })
                .collect()
        };
        let mut globs = BTreeMap::new();
        for kind in Kind::ALL {
            let flag = match kind {
                Kind::Dimension => &args.dimensions,
                Kind::Measure => &args.measures,
                Kind::Variable => &args.variables,
                Kind::Bookmark => &args.bookmarks,
                Kind::Object => &args.objects,
            };
            let from_file = project.map(|p| match kind {
                Kind::Dimension => p.dimensions.clone(),
                Kind::Measure => p.measures.clone(),
                Kind::Variable => p.variables.clone(),
                Kind::Bookmark => p.bookmarks.clone(),
                Kind::Object => p.objects.clone(),
            });
            let chosen = if flag.is_empty() {
                from_file.unwrap_or_default()
            } else {
                flag_globs(flag, kind.key())
            };
            if !chosen.is_empty() {
                globs.insert(kind, chosen);
            }
        }
        Sources {
            script: args
                .script
                .clone()
                .or_else(|| project.and_then(|p| p.script.clone())),
            app_properties: args
                .app_properties
                .clone()
                .or_else(|| project.and_then(|p| p.app_properties.clone())),
            connections: args
                .connections
                .clone()
                .map(ConnectionsSource::File)
                .or_else(|| project.and_then(|p| p.connections.clone())),
            globs,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.script.is_none()
            && self.app_properties.is_none()
            && self.connections.is_none()
            && self.globs.is_empty()
    }
}

/// The project's files, read and checked.
#[derive(Debug, Default)]
pub struct Desired {
    pub connections: Option<Vec<ConnectionSpec>>,
    pub script: Option<(String, String)>,
    pub app_properties: Option<(String, Value)>,
    pub entities: Vec<EntityFile>,
    /// The kinds the project manages (entities of other kinds are none of its business).
    pub kinds: BTreeSet<Kind>,
}

impl Desired {
    pub fn read(sources: &Sources) -> CliResult<Desired> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| Failure(format!("cannot read {}: {e}", p.display())))
        };
        let script = match &sources.script {
            Some(p) => Some((p.display().to_string(), read(p)?)),
            None => None,
        };
        let app_properties = match &sources.app_properties {
            Some(p) => {
                let text = read(p)?;
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    Failure(format!(
                        "{}:{}:{}: not JSON: {}",
                        p.display(),
                        e.line(),
                        e.column(),
                        crate::project::strip_location(&e.to_string())
                    ))
                })?;
                serde_json::from_value::<qix_generated::types::NxAppProperties>(v.clone())
                    .map_err(|e| Failure(format!("{}: not app properties: {e}", p.display())))?;
                Some((p.display().to_string(), v))
            }
            None => None,
        };
        let connections = sources
            .connections
            .as_ref()
            .map(|c| c.specs())
            .transpose()?;
        let mut all = Vec::new();
        for (kind, globs) in &sources.globs {
            all.extend(entities::read(*kind, globs)?);
        }
        Ok(Desired {
            connections,
            script,
            app_properties,
            entities: all,
            kinds: sources.globs.keys().copied().collect(),
        })
    }
}

/// What `build` would do with one thing.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Add,
    /// Changed, at these JSON pointers.
    Change(Vec<String>),
    Same,
    /// In the app only (`build` leaves it).
    Remove,
}

/// One thing of the project or the app, and what to do with it.
#[derive(Debug, Clone)]
pub struct Item {
    pub what: What,
    pub action: Action,
    /// The script's line diff (app → project).
    pub diff: Option<String>,
}

#[derive(Debug, Clone)]
pub enum What {
    Connection {
        spec: ConnectionSpec,
        existing: Option<String>,
    },
    Script {
        file: String,
        text: String,
    },
    AppProperties {
        file: String,
        value: Value,
    },
    Entity(EntityFile),
    /// An entity or connection only the app has.
    Other {
        kind: &'static str,
        id: String,
    },
}

impl Item {
    pub fn kind(&self) -> &'static str {
        match &self.what {
            What::Connection { .. } => "connection",
            What::Script { .. } => "script",
            What::AppProperties { .. } => "app-properties",
            What::Entity(e) => e.kind.name(),
            What::Other { kind, .. } => kind,
        }
    }

    /// The id (a connection's name; the file for the script and app properties).
    pub fn id(&self) -> &str {
        match &self.what {
            What::Connection { spec, .. } => &spec.name,
            What::Script { file, .. } | What::AppProperties { file, .. } => file,
            What::Entity(e) => &e.id,
            What::Other { id, .. } => id,
        }
    }

    pub fn origin(&self) -> Option<&str> {
        match &self.what {
            What::Connection { spec, .. } => Some(&spec.origin),
            What::Entity(e) => Some(&e.origin),
            _ => None,
        }
    }
}

/// The connection as the engine would hold it, and as it holds it: compared on what the
/// engine shows (never the password, which it does not send back).
fn connection_paths(spec: &ConnectionSpec, have: &Connection) -> Vec<String> {
    let mut paths = Vec::new();
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    if spec.kind != opt(&have.r#type) {
        paths.push("/qType".to_string());
    }
    if spec.connection_string != opt(&have.connection_string) {
        paths.push("/qConnectionString".to_string());
    }
    if spec.username != opt(&have.user_name) {
        paths.push("/qUserName".to_string());
    }
    paths
}

/// Compares the project with the app.
pub async fn compute(doc: &Doc, desired: &Desired) -> CliResult<Vec<Item>> {
    let mut items = Vec::new();
    if let Some(specs) = &desired.connections {
        let have = doc.get_connections().await?;
        for spec in specs {
            let existing = have
                .iter()
                .find(|c| c.name.as_deref() == Some(spec.name.as_str()));
            let action = match existing {
                None => Action::Add,
                Some(c) => match connection_paths(spec, c) {
                    p if p.is_empty() => Action::Same,
                    p => Action::Change(p),
                },
            };
            items.push(Item {
                what: What::Connection {
                    spec: spec.clone(),
                    existing: existing.and_then(|c| c.id.clone()),
                },
                action,
                diff: None,
            });
        }
        let mut extra: Vec<&str> = have
            .iter()
            .filter_map(|c| c.name.as_deref())
            .filter(|n| !specs.iter().any(|s| s.name == *n))
            .collect();
        extra.sort();
        for name in extra {
            items.push(other("connection", name));
        }
    }
    if let Some((file, text)) = &desired.script {
        let have = doc.get_script().await?;
        let (action, diff) = if have == *text {
            (Action::Same, None)
        } else {
            (Action::Change(Vec::new()), Some(script_diff(&have, text)))
        };
        items.push(Item {
            what: What::Script {
                file: file.clone(),
                text: text.clone(),
            },
            action,
            diff,
        });
    }
    if let Some((file, value)) = &desired.app_properties {
        let have = appstate::app_properties(doc).await?;
        let want = appstate::without_engine_app_properties(value.clone());
        let paths = diff_paths(&want, &have);
        items.push(Item {
            what: What::AppProperties {
                file: file.clone(),
                value: value.clone(),
            },
            action: if paths.is_empty() {
                Action::Same
            } else {
                Action::Change(paths)
            },
            diff: None,
        });
    }
    if !desired.entities.is_empty() || !desired.kinds.is_empty() {
        entity_items(doc, desired, &mut items).await?;
    }
    Ok(items)
}

fn other(kind: &'static str, id: &str) -> Item {
    Item {
        what: What::Other {
            kind,
            id: id.to_string(),
        },
        action: Action::Remove,
        diff: None,
    }
}

async fn entity_items(doc: &Doc, desired: &Desired, items: &mut Vec<Item>) -> CliResult {
    let wanted = desired
        .entities
        .iter()
        .map(|e| (e.kind, e.id.clone(), e.tree))
        .collect();
    let mut have = appstate::fetch_all(doc, wanted).await?;
    // A variable is one per name: one the project gives another id is found by name.
    for (e, h) in desired.entities.iter().zip(have.iter_mut()) {
        if e.kind == Kind::Variable && h.is_none() {
            if let Some(name) = &e.name {
                match doc.get_variable_by_name(name.clone()).await {
                    Ok(v) => *h = Some(appstate::to_json(&v.get_properties().await?, "variable")?),
                    Err(Error::ObjectNotFound { .. }) => {}
                    Err(err) if err.engine_code().is_some() => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    let mut known: BTreeSet<(Kind, String)> = BTreeSet::new();
    for (e, h) in desired.entities.iter().zip(have) {
        known.insert((e.kind, e.id.clone()));
        if e.tree {
            let mut children = BTreeSet::new();
            appstate::descendants(&e.value, &mut children);
            known.extend(children.into_iter().map(|c| (Kind::Object, c)));
        }
        if let Some(h) = &h {
            if let Some(id) = h.pointer("/qInfo/qId").and_then(Value::as_str) {
                known.insert((e.kind, id.to_string()));
            }
        }
        let action = match &h {
            None => Action::Add,
            Some(h) => match diff_paths(&e.value, h) {
                p if p.is_empty() => Action::Same,
                p => Action::Change(p),
            },
        };
        items.push(Item {
            what: What::Entity(e.clone()),
            action,
            diff: None,
        });
    }
    // What the app has of the kinds the project manages, and the project does not.
    let infos: Vec<Info> = appstate::infos(doc)
        .await?
        .into_iter()
        .filter(|i| desired.kinds.contains(&i.kind) && !known.contains(&(i.kind, i.id.clone())))
        .collect();
    let objects: Vec<String> = infos
        .iter()
        .filter(|i| i.kind == Kind::Object)
        .map(|i| i.id.clone())
        .collect();
    // Of objects only the roots: their children go with them.
    let roots = if objects.is_empty() {
        BTreeMap::new()
    } else {
        appstate::root_objects(doc, &objects).await?
    };
    for i in infos {
        if i.kind != Kind::Object || roots.contains_key(&i.id) {
            items.push(other(i.kind.name(), &i.id));
        }
    }
    Ok(())
}

/// A unified line diff, app → project.
pub fn script_diff(have: &str, want: &str) -> String {
    similar::TextDiff::from_lines(have, want)
        .unified_diff()
        .context_radius(2)
        .header("app", "project")
        .to_string()
}

/// Counts by action: (add, change, remove, same).
pub fn counts(items: &[Item]) -> (usize, usize, usize, usize) {
    let n = |f: fn(&Action) -> bool| items.iter().filter(|i| f(&i.action)).count();
    (
        n(|a| *a == Action::Add),
        n(|a| matches!(a, Action::Change(_))),
        n(|a| *a == Action::Remove),
        n(|a| *a == Action::Same),
    )
}

/// Prints a plan: a line per difference (the script's diff under it), then a summary.
pub fn print(items: &[Item], opts: &ConnectOpts) -> CliResult {
    let (add, change, remove, same) = counts(items);
    if opts.json {
        let changes: Vec<Value> = items
            .iter()
            .filter(|i| i.action != Action::Same)
            .map(|i| {
                let (action, paths) = match &i.action {
                    Action::Add => ("add", Vec::new()),
                    Action::Change(p) => ("change", p.clone()),
                    Action::Remove => ("remove", Vec::new()),
                    Action::Same => ("same", Vec::new()),
                };
                let mut v = json!({"kind": i.kind(), "id": i.id(), "action": action});
                if !paths.is_empty() {
                    v["paths"] = json!(paths);
                }
                if let Some(o) = i.origin() {
                    v["file"] = json!(o);
                }
                if let Some(d) = &i.diff {
                    v["diff"] = json!(d);
                }
                v
            })
            .collect();
        return output::json(&json!({
            "changes": changes,
            "summary": {"add": add, "change": change, "remove": remove, "unchanged": same}
        }));
    }
    if opts.quiet {
        for i in items.iter().filter(|i| i.action != Action::Same) {
            output::line(i.id())?;
        }
        return Ok(());
    }
    let width = items
        .iter()
        .filter(|i| i.action != Action::Same)
        .map(|i| i.id().chars().count())
        .max()
        .unwrap_or(0);
    for i in items {
        let (sign, detail) = match &i.action {
            Action::Same => continue,
            Action::Add => ('+', i.origin().map(str::to_string).unwrap_or_default()),
            Action::Change(paths) => ('~', paths.join(", ")),
            Action::Remove => ('-', "only in the app (build leaves it)".to_string()),
        };
        let line = format!("{sign} {:<14} {:<width$}  {detail}", i.kind(), i.id());
        output::line(line.trim_end())?;
        if let Some(diff) = &i.diff {
            for l in diff.lines() {
                output::line(&format!("    {l}"))?;
            }
        }
    }
    if add + change + remove == 0 {
        output::line(&format!(
            "No changes: the app matches the project ({same} unchanged)."
        ))
    } else {
        output::line(&format!(
            "Plan: {add} to add, {change} to change, {remove} only in the app, {same} unchanged."
        ))
    }
}
