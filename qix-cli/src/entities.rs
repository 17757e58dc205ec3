//! `measure`, `dimension`, `variable`, `bookmark` and `object`: `ls`, `layout ID`,
//! `properties ID [--full|--minimum]`, `set GLOB…`, `rm ID…`, and `object data ID`.

use futures_util::TryStreamExt;
use qix_generated::helpers::paging::{PageShape, data_pages};
use qix_generated::prelude::*;
use qix_generated::types::{
    BookmarkListDef, DimensionListDef, GenericObjectProperties, MeasureListDef, NxContainerEntry,
};
use serde_json::{Value, json};

use crate::appstate::{self, to_json};
use crate::commands::{list_props, session_layout};
use crate::output::{self, opt};
use crate::plan::{self, Action, Desired, Sources};
use crate::project::Glob;
use crate::project::entities::Kind;
use crate::{CliResult, ConnectOpts, EntityCommand, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Measure,
    Dimension,
    Variable,
    Bookmark,
    Object,
}

impl Family {
    fn kind(self) -> Kind {
        match self {
            Family::Measure => Kind::Measure,
            Family::Dimension => Kind::Dimension,
            Family::Variable => Kind::Variable,
            Family::Bookmark => Kind::Bookmark,
            Family::Object => Kind::Object,
        }
    }
}

pub async fn run(doc: &Doc, family: Family, cmd: &EntityCommand, opts: &ConnectOpts) -> CliResult {
    let kind = family.kind();
    match cmd {
        EntityCommand::Ls => ls(doc, family, opts).await,
        EntityCommand::Layout { id } => {
            let layout = layout(doc, kind, id).await?;
            output::json(&layout)
        }
        EntityCommand::Properties { id, full, minimum } => {
            if *full && kind != Kind::Object {
                return Err(Failure(format!(
                    "--full is the property tree of an object; a {} has no children",
                    kind.name()
                )));
            }
            let props = appstate::fetch(doc, kind, id, *full)
                .await?
                .ok_or_else(|| not_found(kind, id))?;
            if *minimum {
                output::json(&minimum_of(&props).unwrap_or(json!({})))
            } else {
                output::json(&props)
            }
        }
        EntityCommand::Set { globs, no_save } => set(doc, kind, globs, *no_save, opts).await,
        EntityCommand::Rm { ids, no_save } => rm(doc, kind, ids, *no_save, opts).await,
    }
}

fn not_found(kind: Kind, id: &str) -> Failure {
    Failure(format!("the app has no {} {id:?}", kind.name()))
}

/// Maps "no such object" errors to one naming the entity.
fn opened<T>(r: qix_generated::Result<T>, kind: Kind, id: &str) -> CliResult<T> {
    match r {
        Ok(v) => Ok(v),
        Err(Error::ObjectNotFound { .. }) => Err(not_found(kind, id)),
        Err(e) if e.error_code() == Some(ErrorCode::GenericNotFound) => Err(not_found(kind, id)),
        Err(e) => Err(e.into()),
    }
}

async fn layout(doc: &Doc, kind: Kind, id: &str) -> CliResult<Value> {
    let id = id.to_string();
    match kind {
        Kind::Measure => to_json(
            &opened(doc.get_measure(id.clone()).await, kind, &id)?
                .get_layout()
                .await?,
            "layout",
        ),
        Kind::Dimension => to_json(
            &opened(doc.get_dimension(id.clone()).await, kind, &id)?
                .get_layout()
                .await?,
            "layout",
        ),
        Kind::Bookmark => to_json(
            &opened(doc.get_bookmark(id.clone()).await, kind, &id)?
                .get_layout()
                .await?,
            "layout",
        ),
        Kind::Variable => to_json(
            &opened(doc.get_variable_by_id(id.clone()).await, kind, &id)?
                .get_layout()
                .await?,
            "layout",
        ),
        Kind::Object => to_json(
            &opened(doc.get_object(id.clone()).await, kind, &id)?
                .get_layout()
                .await?,
            "layout",
        ),
    }
}

/// The properties without what is empty (`null`, `""`, `[]`, `{}`, `false`): what
/// recreating the entity needs, since the engine reads a missing property as empty.
pub fn minimum_of(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) => {
            let kept: Vec<Value> = a
                .iter()
                .map(|x| minimum_of(x).unwrap_or(Value::Null))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, x)| minimum_of(x).map(|x| (k.clone(), x)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// A listed entity: id, type, title and (master items, variables) its definition.
struct Row {
    id: String,
    r#type: String,
    title: String,
    definition: String,
}

async fn rows(doc: &Doc, family: Family) -> CliResult<Vec<Row>> {
    let from_entries = |items: Vec<NxContainerEntry>, ty: &str| -> Vec<Row> {
        items
            .into_iter()
            .map(|e| {
                let data = e.data.unwrap_or(Value::Null);
                let text = |k: &str| match &data[k] {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => String::new(),
                };
                Row {
                    id: e.info.and_then(|i| i.id).unwrap_or_default(),
                    r#type: ty.to_string(),
                    title: text("title"),
                    definition: text("definition"),
                }
            })
            .collect()
    };
    let mut out = match family {
        Family::Measure => {
            let props = GenericObjectProperties {
                measure_list_def: Some(MeasureListDef {
                    r#type: Some("measure".into()),
                    data: Some(json!({"title": "/qMetaDef/title", "definition": "/qMeasure/qDef"})),
                    ..Default::default()
                }),
                ..list_props("qix-measure-list")
            };
            let layout = session_layout(doc, props).await?;
            from_entries(
                layout.measure_list.map(|l| l.items).unwrap_or_default(),
                "measure",
            )
        }
        Family::Dimension => {
            let props = GenericObjectProperties {
                dimension_list_def: Some(DimensionListDef {
                    r#type: Some("dimension".into()),
                    data: Some(
                        json!({"title": "/qMetaDef/title", "definition": "/qDim/qFieldDefs"}),
                    ),
                    ..Default::default()
                }),
                ..list_props("qix-dimension-list")
            };
            let layout = session_layout(doc, props).await?;
            from_entries(
                layout.dimension_list.map(|l| l.items).unwrap_or_default(),
                "dimension",
            )
        }
        Family::Bookmark => {
            let props = GenericObjectProperties {
                bookmark_list_def: Some(BookmarkListDef {
                    r#type: Some("bookmark".into()),
                    data: Some(
                        json!({"title": "/qMetaDef/title", "definition": "/qMetaDef/description"}),
                    ),
                    ..Default::default()
                }),
                ..list_props("qix-bookmark-list")
            };
            let layout = session_layout(doc, props).await?;
            from_entries(
                layout.bookmark_list.map(|l| l.items).unwrap_or_default(),
                "bookmark",
            )
        }
        Family::Variable => appstate::variable_list(doc)
            .await?
            .into_iter()
            .map(|v| Row {
                id: v.info.and_then(|i| i.id).unwrap_or_default(),
                r#type: "variable".into(),
                title: opt(&v.name),
                definition: opt(&v.definition),
            })
            .collect(),
        Family::Object => {
            // GetAllInfos lists master items, variables and bookmarks too: as corectl,
            // `object ls` leaves them out.
            let infos: Vec<appstate::Info> = appstate::infos(doc)
                .await?
                .into_iter()
                .filter(|i| i.kind == Kind::Object)
                .collect();
            let wanted = infos
                .iter()
                .map(|i| (Kind::Object, i.id.clone(), false))
                .collect();
            let props = appstate::fetch_all(doc, wanted).await?;
            infos
                .into_iter()
                .zip(props)
                .map(|(i, p)| {
                    let p = p.unwrap_or(Value::Null);
                    let title = p
                        .pointer("/qMetaDef/title")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .or_else(|| p.get("title").and_then(Value::as_str))
                        .unwrap_or("")
                        .to_string();
                    Row {
                        id: i.id,
                        r#type: i.r#type,
                        title,
                        definition: String::new(),
                    }
                })
                .collect()
        }
    };
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

async fn ls(doc: &Doc, family: Family, opts: &ConnectOpts) -> CliResult {
    let rows = rows(doc, family).await?;
    if opts.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = json!({"qId": r.id, "qType": r.r#type, "title": r.title});
                if family != Family::Object {
                    v["definition"] = json!(r.definition);
                }
                v
            })
            .collect();
        return output::json(&list);
    }
    if opts.quiet {
        for r in &rows {
            output::line(&r.id)?;
        }
        return Ok(());
    }
    match family {
        Family::Object => output::table(
            &["Id", "Type", "Title"],
            rows.into_iter()
                .map(|r| vec![r.id, r.r#type, r.title])
                .collect(),
        ),
        Family::Variable => output::table(
            &["Id", "Name", "Definition"],
            rows.into_iter()
                .map(|r| vec![r.id, r.title, r.definition])
                .collect(),
        ),
        _ => output::table(
            &["Id", "Title", "Definition"],
            rows.into_iter()
                .map(|r| vec![r.id, r.title, r.definition])
                .collect(),
        ),
    }
}

/// `set GLOB…`: the files' entities created or updated (as `build` does them), then a save.
async fn set(
    doc: &Doc,
    kind: Kind,
    globs: &[String],
    no_save: bool,
    opts: &ConnectOpts,
) -> CliResult {
    let sources = Sources {
        globs: [(
            kind,
            globs
                .iter()
                .map(|g| Glob {
                    pattern: g.clone(),
                    base: ".".into(),
                    origin: format!("{} set", kind.name()),
                })
                .collect(),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let desired = Desired::read(&sources)?;
    let items = plan::compute(doc, &desired).await?;
    let mut rows = Vec::new();
    for item in items.iter().filter(|i| i.action != Action::Remove) {
        let word = match item.action {
            Action::Add => "created",
            Action::Change(_) => "updated",
            _ => "unchanged",
        };
        if word != "unchanged" {
            crate::build::apply(doc, item).await.map_err(|Failure(e)| {
                let done: Vec<&str> = rows
                    .iter()
                    .map(|(id, _): &(String, &str)| id.as_str())
                    .collect();
                Failure(format!(
                    "{} {} ({}): {e}; set before it, not saved: {}",
                    kind.name(),
                    item.id(),
                    item.origin().unwrap_or(""),
                    if done.is_empty() {
                        "none".into()
                    } else {
                        done.join(", ")
                    }
                ))
            })?;
        }
        rows.push((item.id().to_string(), word));
    }
    if !no_save {
        crate::reload::save(doc, opts.no_data).await?;
    }
    if opts.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(id, w)| json!({"qId": id, "result": w}))
            .collect();
        return output::json(&json!({"results": list, "saved": !no_save}));
    }
    if opts.quiet {
        for (id, _) in &rows {
            output::line(id)?;
        }
        return Ok(());
    }
    output::table(
        &["Id", "Result"],
        rows.iter()
            .map(|(id, w)| vec![id.clone(), w.to_string()])
            .collect(),
    )?;
    if !no_save {
        output::line("App saved.")?;
    }
    Ok(())
}

/// `rm ID…`: every id is checked to exist first, so a typo removes nothing.
async fn rm(doc: &Doc, kind: Kind, ids: &[String], no_save: bool, opts: &ConnectOpts) -> CliResult {
    let wanted = ids.iter().map(|id| (kind, id.clone(), false)).collect();
    let found = appstate::fetch_all(doc, wanted).await?;
    if let Some((id, _)) = ids.iter().zip(&found).find(|(_, f)| f.is_none()) {
        return Err(Failure(format!(
            "{}; nothing was removed",
            not_found(kind, id).0
        )));
    }
    for (n, id) in ids.iter().enumerate() {
        let id = id.clone();
        let removed = match kind {
            Kind::Measure => doc.destroy_measure(id.clone()).await,
            Kind::Dimension => doc.destroy_dimension(id.clone()).await,
            Kind::Bookmark => doc.destroy_bookmark(id.clone()).await,
            Kind::Variable => doc.destroy_variable_by_id(id.clone()).await,
            Kind::Object => doc.destroy_object(id.clone()).await,
        };
        let fail = |why: String| {
            let before = &ids[..n];
            Failure(format!(
                "{} {id}: {why}; removed before it, not saved: {}",
                kind.name(),
                if before.is_empty() {
                    "none".into()
                } else {
                    before.join(", ")
                }
            ))
        };
        match removed {
            Ok(true) => {}
            Ok(false) => return Err(fail("the engine did not remove it".into())),
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    if !no_save {
        crate::reload::save(doc, opts.no_data).await?;
    }
    if opts.json {
        return output::json(&json!({"removed": ids, "saved": !no_save}));
    }
    if opts.quiet {
        for id in ids {
            output::line(id)?;
        }
        return Ok(());
    }
    output::line(&format!(
        "Removed {} {}(s): {}.",
        ids.len(),
        kind.name(),
        ids.join(", ")
    ))?;
    if !no_save {
        output::line("App saved.")?;
    }
    Ok(())
}

/// `object data ID`: the object's hypercube, every page, as a table.
pub async fn data(doc: &Doc, id: &str, opts: &ConnectOpts) -> CliResult {
    let object = opened(doc.get_object(id.to_string()).await, Kind::Object, id)?;
    let layout = object.get_layout().await?;
    let cube = layout
        .hyper_cube
        .ok_or_else(|| Failure(format!("object {id:?} has no hypercube (qHyperCubeDef)")))?;
    if let Some(e) = &cube.error {
        return Err(Failure(format!(
            "object {id:?}: the engine could not compute its hypercube (error {})",
            opt(&e.error_code)
        )));
    }
    let size = cube.size.clone().unwrap_or_default();
    let mut header: Vec<String> = cube
        .dimension_info
        .iter()
        .map(|d| opt(&d.fallback_title))
        .collect();
    header.extend(cube.measure_info.iter().map(|m| opt(&m.fallback_title)));
    let width = i32::try_from(header.len()).unwrap_or(i32::MAX).max(1);
    let pages: Vec<_> = data_pages(
        &object,
        "/qHyperCubeDef",
        &size,
        PageShape::full_width(width),
    )
    .try_collect()
    .await?;
    let rows: Vec<Vec<String>> = pages
        .into_iter()
        .flat_map(|p| p.matrix)
        .map(|row| row.into_iter().map(|c| opt(&c.text)).collect())
        .collect();
    table_or_json(&header, rows, opts)
}

/// Rows as a table, as JSON objects keyed by column (`--json`), or the first column (`-q`).
pub fn table_or_json(header: &[String], rows: Vec<Vec<String>>, opts: &ConnectOpts) -> CliResult {
    if opts.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                Value::Object(
                    header
                        .iter()
                        .zip(r)
                        .map(|(h, c)| (h.clone(), json!(c)))
                        .collect(),
                )
            })
            .collect();
        return output::json(&list);
    }
    if opts.quiet {
        for r in &rows {
            output::line(r.first().map(String::as_str).unwrap_or(""))?;
        }
        return Ok(());
    }
    let head: Vec<&str> = header.iter().map(String::as_str).collect();
    output::table(&head, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_drops_what_is_empty() {
        let v = json!({"qInfo": {"qId": "m", "qType": "measure"}, "qMeasure": {"qDef": "Sum(X)",
            "qLabel": "", "qExpressions": [], "qNumFormat": {}, "qActiveExpression": 0,
            "isCustomFormatted": false}, "qMetaDef": {}});
        assert_eq!(
            minimum_of(&v).unwrap(),
            json!({"qInfo": {"qId": "m", "qType": "measure"},
                "qMeasure": {"qDef": "Sum(X)", "qActiveExpression": 0}})
        );
    }
}
