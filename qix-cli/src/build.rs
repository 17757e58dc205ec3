//! `qix build`: an app from a corectl project. In this order: connections (created, or
//! modified by name), the script, the app properties, then every dimension, measure,
//! variable, bookmark and object created or updated by `qId` (objects with children
//! through the full property tree), a reload, a save. What already matches is left alone;
//! nothing is ever created twice. Every file is read and checked first (see [`plan`]).

use qix_generated::prelude::*;
use qix_generated::types::{
    Connection, GenericBookmarkProperties, GenericDimensionProperties, GenericMeasureProperties,
    GenericObjectEntry, GenericObjectProperties, GenericVariableProperties, NxAppProperties,
    NxInfo,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::plan::{self, Action, Desired, Item, Sources, What};
use crate::project::Project;
use crate::project::entities::{EntityFile, Kind};
use crate::reload::{self, ReloadOptions};
use crate::{BuildArgs, CliResult, ConnectOpts, Failure, output};

/// What a build did to one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Created,
    Updated,
    Unchanged,
}

impl Done {
    fn word(self) -> &'static str {
        match self {
            Done::Created => "created",
            Done::Updated => "updated",
            Done::Unchanged => "unchanged",
        }
    }
}

pub async fn run(
    session: &Session,
    doc: &Doc,
    project: Option<&Project>,
    args: &BuildArgs,
    opts: &ConnectOpts,
) -> CliResult {
    let sources = Sources::new(project, &args.sources);
    if sources.is_empty() && project.is_none() {
        return Err(Failure(
            "nothing to build: no corectl.yml (or qix.yml) here, no --config, and no --script, \
             --connections, --app-properties or entity globs"
                .into(),
        ));
    }
    let desired = Desired::read(&sources)?;
    let items = plan::compute(doc, &desired).await?;
    if args.dry_run {
        return plan::print(&items, opts);
    }
    let flags = |flag: bool, key: fn(&Project) -> bool| flag || project.is_some_and(key);
    let no_reload = flags(args.no_reload, |p| p.no_reload);
    let no_save = flags(args.no_save, |p| p.no_save);
    let silent = flags(args.silent, |p| p.silent);
    let limit = args.limit.or(project.and_then(|p| p.limit));

    let mut done: Vec<(&Item, Done)> = Vec::new();
    for item in items.iter().filter(|i| i.action != Action::Remove) {
        let outcome = match &item.action {
            Action::Same => Done::Unchanged,
            Action::Add => Done::Created,
            _ => Done::Updated,
        };
        if outcome != Done::Unchanged {
            output::verbose(&format!("{} {} {}", outcome.word(), item.kind(), item.id()));
            apply(doc, item).await.map_err(|Failure(e)| {
                let place = item.origin().map(|o| format!(" ({o})")).unwrap_or_default();
                Failure(format!(
                    "{} {}{place}: {e}; {}",
                    item.kind(),
                    item.id(),
                    so_far(&done)
                ))
            })?;
        }
        done.push((item, outcome));
    }
    let left = items.iter().filter(|i| i.action == Action::Remove).count();

    let mut reloaded = None;
    if !no_reload {
        let result = reload::run(session, doc, ReloadOptions { silent, limit })
            .await
            .map_err(|Failure(e)| Failure(format!("reload: {e}; {}", so_far(&done))))?;
        if let Some(Failure(e)) = reload::failure(&result) {
            return Err(Failure(format!("{e}; {}", so_far(&done))));
        }
        reloaded = Some(result);
    }
    if !no_save {
        reload::save(doc, opts.no_data)
            .await
            .map_err(|Failure(e)| {
                Failure(format!(
                    "save: {e}; {} (reloaded: {})",
                    so_far(&done),
                    reloaded.is_some()
                ))
            })?;
    }
    let count = |d: Done| done.iter().filter(|(_, x)| *x == d).count();
    if opts.json {
        let list = |d: Done| -> Vec<Value> {
            done.iter()
                .filter(|(_, x)| *x == d)
                .map(|(i, _)| json!({"kind": i.kind(), "id": i.id()}))
                .collect()
        };
        return output::json(&json!({
            "created": list(Done::Created),
            "updated": list(Done::Updated),
            "unchanged": list(Done::Unchanged),
            "onlyInApp": left,
            "reload": reloaded,
            "saved": !no_save,
        }));
    }
    if opts.quiet {
        for (i, d) in &done {
            if *d != Done::Unchanged {
                output::line(i.id())?;
            }
        }
        return Ok(());
    }
    let rows = done
        .iter()
        .map(|(i, d)| {
            vec![
                i.kind().to_string(),
                i.id().to_string(),
                d.word().to_string(),
            ]
        })
        .collect();
    output::table(&["Kind", "Id", "Result"], rows)?;
    if reloaded.is_some() {
        output::line("Reload finished.")?;
    }
    if !no_save {
        output::line("App saved.")?;
    }
    let tail = if left > 0 {
        format!("; {left} only in the app, left as they are")
    } else {
        String::new()
    };
    output::line(&format!(
        "Built: {} created, {} updated, {} unchanged{tail}.",
        count(Done::Created),
        count(Done::Updated),
        count(Done::Unchanged)
    ))
}

/// What was done before a failure, for its message: the app is left as it is, unsaved.
fn so_far(done: &[(&Item, Done)]) -> String {
    let changed: Vec<String> = done
        .iter()
        .filter(|(_, d)| *d != Done::Unchanged)
        .map(|(i, d)| format!("{} {} {}", i.kind(), i.id(), d.word()))
        .collect();
    if changed.is_empty() {
        "nothing was changed before it".into()
    } else {
        format!("done before it, not saved: {}", changed.join(", "))
    }
}

fn e_id(info: &NxInfo) -> String {
    info.id.clone().unwrap_or_default()
}

fn typed<T: DeserializeOwned>(value: &Value, what: &str) -> CliResult<T> {
    // The files were decoded once when read: this cannot fail on them.
    serde_json::from_value(value.clone()).map_err(|e| Failure(format!("not {what}: {e}")))
}

pub(crate) async fn apply(doc: &Doc, item: &Item) -> CliResult {
    let add = item.action == Action::Add;
    match &item.what {
        What::Connection { spec, existing } => {
            let conn = Connection {
                name: Some(spec.name.clone()),
                connection_string: Some(spec.connection_string.clone()),
                r#type: Some(spec.kind.clone()),
                user_name: Some(spec.username.clone()).filter(|u| !u.is_empty()),
                password: Some(spec.password.clone()).filter(|p| !p.is_empty()),
                ..Default::default()
            };
            match existing {
                Some(id) => {
                    doc.modify_connection(id.clone(), conn)
                        .override_credentials(!spec.password.is_empty())
                        .await?
                }
                None => {
                    doc.create_connection(conn).await?;
                }
            }
        }
        What::Script { text, .. } => doc.set_script(text.clone()).await?,
        What::AppProperties { value, .. } => {
            doc.set_app_properties(typed::<NxAppProperties>(value, "app properties")?)
                .await?
        }
        What::Entity(e) => entity(doc, e, add).await?,
        What::Other { .. } => {}
    }
    Ok(())
}

async fn entity(doc: &Doc, e: &EntityFile, add: bool) -> CliResult {
    let v = &e.value;
    match (e.kind, add) {
        (Kind::Dimension, true) => {
            doc.create_dimension(typed::<GenericDimensionProperties>(
                v,
                "dimension properties",
            )?)
            .await?;
        }
        (Kind::Dimension, false) => {
            doc.get_dimension(e.id.clone())
                .await?
                .set_properties(typed(v, "dimension properties")?)
                .await?
        }
        (Kind::Measure, true) => {
            doc.create_measure(typed::<GenericMeasureProperties>(v, "measure properties")?)
                .await?;
        }
        (Kind::Measure, false) => {
            doc.get_measure(e.id.clone())
                .await?
                .set_properties(typed(v, "measure properties")?)
                .await?
        }
        (Kind::Bookmark, true) => {
            doc.create_bookmark(typed::<GenericBookmarkProperties>(
                v,
                "bookmark properties",
            )?)
            .await?;
        }
        (Kind::Bookmark, false) => {
            doc.get_bookmark(e.id.clone())
                .await?
                .set_properties(typed(v, "bookmark properties")?)
                .await?
        }
        (Kind::Variable, true) => {
            doc.create_variable_ex(typed::<GenericVariableProperties>(
                v,
                "variable properties",
            )?)
            .await?;
        }
        (Kind::Variable, false) => {
            // By id, else by name (a variable the project gives another id).
            let variable = match doc.get_variable_by_id(e.id.clone()).await {
                Ok(v) => v,
                Err(_) => {
                    doc.get_variable_by_name(e.name.clone().unwrap_or_default())
                        .await?
                }
            };
            variable
                .set_properties(typed::<GenericVariableProperties>(
                    v,
                    "variable properties",
                )?)
                .await?
        }
        (Kind::Object, true) if e.tree => {
            let entry: GenericObjectEntry = typed(v, "a property tree")?;
            let info = entry
                .property
                .as_ref()
                .and_then(|p| p.info.clone())
                .unwrap_or_default();
            let created = doc
                .create_object(GenericObjectProperties {
                    info: Some(NxInfo {
                        id: info.id,
                        r#type: info.r#type,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?;
            if let Err(e) = created.object.set_full_property_tree(entry).await {
                // Not an empty object left behind unsaid: removed, or named.
                let left = match doc.destroy_object(e_id(&created.info)).await {
                    Ok(true) => "the empty object made for it was removed",
                    _ => "an empty object with its id is left in the app",
                };
                return Err(Failure(format!("{e} ({left})")));
            }
        }
        (Kind::Object, false) if e.tree => {
            doc.get_object(e.id.clone())
                .await?
                .set_full_property_tree(typed(v, "a property tree")?)
                .await?
        }
        (Kind::Object, true) => {
            doc.create_object(typed::<GenericObjectProperties>(v, "object properties")?)
                .await?;
        }
        (Kind::Object, false) => {
            doc.get_object(e.id.clone())
                .await?
                .set_properties(typed(v, "object properties")?)
                .await?
        }
    }
    Ok(())
}
