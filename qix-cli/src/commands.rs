//! One function per command, each on the typed API.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use qix_generated::helpers::reload::with_progress;
use qix_generated::prelude::*;
use qix_generated::types::{
    BookmarkListDef, DimensionListDef, FieldListDef, FieldValue, GenericObjectLayout,
    GenericObjectProperties, ListObjectDef, MeasureListDef, NxCell, NxContainerEntry, NxDataPage,
    NxInfo, NxInlineDimensionDef, NxPage, ProgressData, StateEnumType, VariableListDef,
};
use serde_json::json;

use crate::output::{self, opt};
use crate::{Cli, CliResult, Command, ConnectOpts, Failure, ScriptCommand, SpecCommand, connect};

/// Rows of a field's values fetched by `values` (the engine's page limit is 10 000 cells).
const VALUES_PAGE: i32 = 10_000;

pub async fn run(cli: Cli) -> CliResult {
    let opts = &cli.conn;
    match &cli.command {
        Command::Version => return version(opts).await,
        Command::Spec(SpecCommand::Fetch { out }) => {
            return crate::spec::fetch(opts, out.as_deref()).await;
        }
        _ => {}
    }
    let session = connect::session(opts).await?;
    let result = match &cli.command {
        Command::Apps => apps(&session, opts).await,
        command => {
            let doc = connect::open_app(&session, opts).await?;
            on_doc(command, &session, &doc, opts).await
        }
    };
    session.close().await;
    result
}

async fn on_doc(command: &Command, session: &Session, doc: &Doc, opts: &ConnectOpts) -> CliResult {
    match command {
        Command::Eval { expression } => eval(doc, expression, opts).await,
        Command::Script(ScriptCommand::Get) => {
            let script = doc.get_script().await?;
            if opts.json {
                output::json(&script)
            } else {
                output::line(script.trim_end_matches(['\r', '\n']))
            }
        }
        Command::Script(ScriptCommand::Set { file, no_save }) => {
            let script = read_file(file)?;
            doc.set_script(script).await?;
            status(opts, "Script set.")?;
            save_unless(doc, *no_save, opts).await
        }
        Command::Reload { no_save } => reload(session, doc, *no_save, opts).await,
        Command::Save => save_unless(doc, false, opts).await,
        Command::Fields => fields(doc, opts).await,
        Command::Values { field } => values(doc, field, opts).await,
        Command::Select { field, values } => select(doc, field, values, opts).await,
        Command::Objects => objects(doc, opts).await,
        Command::Extract(args) => crate::extract::run(doc, args, opts).await,
        Command::Layout { id } => {
            let layout: GenericObjectLayout =
                doc.get_object(id.clone()).await?.get_layout().await?;
            output::json(&layout)
        }
        Command::Properties { id } => {
            let props = doc.get_object(id.clone()).await?.get_properties().await?;
            output::json(&props)
        }
        Command::SetProperties { id, file, no_save } => {
            let text = read_file(file)?;
            let props: GenericObjectProperties = serde_json::from_str(&text)
                .map_err(|e| Failure(format!("{}: not object properties: {e}", file.display())))?;
            doc.get_object(id.clone())
                .await?
                .set_properties(props)
                .await?;
            status(opts, &format!("Properties of {id} set."))?;
            save_unless(doc, *no_save, opts).await
        }
        Command::Measures => {
            let def = json!({"title": "/qMetaDef/title"});
            let props = GenericObjectProperties {
                measure_list_def: Some(MeasureListDef {
                    r#type: Some("measure".into()),
                    data: Some(def),
                    ..Default::default()
                }),
                ..list_props("qix-measure-list")
            };
            let layout = session_layout(doc, props).await?;
            entries(
                layout.measure_list.map(|l| l.items).unwrap_or_default(),
                opts,
            )
        }
        Command::Dimensions => {
            let props = GenericObjectProperties {
                dimension_list_def: Some(DimensionListDef {
                    r#type: Some("dimension".into()),
                    data: Some(json!({"title": "/qMetaDef/title"})),
                    ..Default::default()
                }),
                ..list_props("qix-dimension-list")
            };
            let layout = session_layout(doc, props).await?;
            entries(
                layout.dimension_list.map(|l| l.items).unwrap_or_default(),
                opts,
            )
        }
        Command::Bookmarks => {
            let props = GenericObjectProperties {
                bookmark_list_def: Some(BookmarkListDef {
                    r#type: Some("bookmark".into()),
                    data: Some(json!({"title": "/qMetaDef/title"})),
                    ..Default::default()
                }),
                ..list_props("qix-bookmark-list")
            };
            let layout = session_layout(doc, props).await?;
            entries(
                layout.bookmark_list.map(|l| l.items).unwrap_or_default(),
                opts,
            )
        }
        Command::Variables => variables(doc, opts).await,
        Command::Apps | Command::Version | Command::Spec(_) => {
            unreachable!("handled before an app is opened")
        }
    }
}

fn read_file(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

/// A status line for people; machine output (`--json`) has none.
fn status(opts: &ConnectOpts, text: &str) -> CliResult {
    if opts.json {
        Ok(())
    } else {
        output::line(text)
    }
}

async fn save_unless(doc: &Doc, no_save: bool, opts: &ConnectOpts) -> CliResult {
    if no_save {
        return if opts.json {
            output::json(&json!({"saved": false}))
        } else {
            Ok(())
        };
    }
    doc.do_save().await?;
    if opts.json {
        output::json(&json!({"saved": true}))
    } else {
        output::line("App saved.")
    }
}

async fn version(opts: &ConnectOpts) -> CliResult {
    let cli = env!("CARGO_PKG_VERSION");
    let api = qix_generated::API_VERSION;
    // The engine part is best effort: `qix version` also answers with no engine around.
    let engine = match connect::session(opts).await {
        Ok(session) => {
            let v = session.global().engine_version().await;
            session.close().await;
            v.map(|v| v.component_version.unwrap_or_default())
                .map_err(|e| e.to_string())
        }
        Err(Failure(e)) => Err(e),
    };
    if opts.json {
        let (engine, error) = match engine {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        return output::json(
            &json!({"qix": cli, "api": api, "engine": engine, "engineError": error}),
        );
    }
    output::line(&format!("qix     {cli}"))?;
    output::line(&format!("API     {api}"))?;
    match engine {
        Ok(v) => output::line(&format!("engine  {v}")),
        Err(e) => output::line(&format!("engine  not reachable: {e}")),
    }
}

async fn eval(doc: &Doc, expression: &str, opts: &ConnectOpts) -> CliResult {
    let value: FieldValue = doc.evaluate_ex(expression).await?;
    if opts.json {
        return output::json(&value);
    }
    let text = match (&value.text, value.number) {
        (Some(t), _) => t.clone(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "-".into(),
    };
    output::line(&text)
}

async fn apps(session: &Session, opts: &ConnectOpts) -> CliResult {
    let list = session.global().get_doc_list().await?;
    if opts.json {
        return output::json(&list);
    }
    let rows = list
        .iter()
        .map(|d| {
            vec![
                opt(&d.doc_id),
                opt(&d.doc_name),
                opt(&d.last_reload_time),
                d.file_size.map(|s| format!("{s:.0}")).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["Id", "Name", "Last reload", "Size"], rows)
}

fn list_props(kind: &str) -> GenericObjectProperties {
    GenericObjectProperties {
        info: Some(NxInfo {
            r#type: Some(kind.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The layout of a session object made for one listing (gone with the session).
async fn session_layout(
    doc: &Doc,
    props: GenericObjectProperties,
) -> CliResult<GenericObjectLayout> {
    let object = doc.create_session_object(props).await?;
    Ok(object.get_layout().await?)
}

fn entries(items: Vec<NxContainerEntry>, opts: &ConnectOpts) -> CliResult {
    if opts.json {
        return output::json(&items);
    }
    let rows = items
        .iter()
        .map(|e| {
            let id = e.info.as_ref().map(|i| opt(&i.id)).unwrap_or_default();
            let title = e
                .data
                .as_ref()
                .and_then(|d| d.get("title"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .or_else(|| e.meta.as_ref().and_then(|m| m.name.clone()))
                .unwrap_or_default();
            vec![id, title]
        })
        .collect();
    output::table(&["Id", "Title"], rows)
}

async fn fields(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let props = GenericObjectProperties {
        field_list_def: Some(FieldListDef::default()),
        ..list_props("qix-field-list")
    };
    let layout = session_layout(doc, props).await?;
    let items = layout.field_list.map(|l| l.items).unwrap_or_default();
    if opts.json {
        return output::json(&items);
    }
    let rows = items
        .iter()
        .map(|f| vec![opt(&f.name), opt(&f.cardinal), f.tags.join(", ")])
        .collect();
    output::table(&["Field", "Values", "Tags"], rows)
}

async fn values(doc: &Doc, field: &str, opts: &ConnectOpts) -> CliResult {
    let props = GenericObjectProperties {
        list_object_def: Some(ListObjectDef {
            def: Some(NxInlineDimensionDef {
                field_defs: vec![field.to_string()],
                ..Default::default()
            }),
            initial_data_fetch: vec![NxPage {
                left: Some(0),
                top: Some(0),
                width: Some(1),
                height: Some(VALUES_PAGE),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..list_props("qix-value-list")
    };
    let object = doc.create_session_object(props).await?;
    let list = object.get_layout().await?.list_object.unwrap_or_default();
    let total = list.size.as_ref().and_then(|s| s.cy).unwrap_or(0);
    let mut cells: Vec<NxCell> = first_column(list.data_pages);
    // The layout carries the first page; a field with more values than a page holds is
    // read page by page, so nothing is cut off silently.
    while (cells.len() as i64) < i64::from(total) {
        let top = cells.len() as i32;
        let page = NxPage {
            left: Some(0),
            top: Some(top),
            width: Some(1),
            height: Some(VALUES_PAGE.min(total - top)),
            ..Default::default()
        };
        let more = first_column(
            object
                .get_list_object_data("/qListObjectDef", vec![page])
                .await?,
        );
        if more.is_empty() {
            // The engine has fewer values than it said (the field changed): stop here.
            break;
        }
        cells.extend(more);
    }
    if opts.json {
        return output::json(&cells);
    }
    let rows = cells
        .iter()
        .map(|c| {
            // The engine's long state names (Selected, Excluded, …), not its letters.
            let state = match &c.state {
                Some(StateEnumType::Unknown(s)) => s.clone(),
                Some(s) => format!("{s:?}"),
                None => String::new(),
            };
            vec![opt(&c.text), state]
        })
        .collect();
    output::table(&[field, "State"], rows)
}

fn first_column(pages: Vec<NxDataPage>) -> Vec<NxCell> {
    pages
        .into_iter()
        .flat_map(|p| p.matrix)
        .filter_map(|row| row.into_iter().next())
        .collect()
}

async fn select(doc: &Doc, field: &str, values: &[String], opts: &ConnectOpts) -> CliResult {
    let wanted = values
        .iter()
        .map(|v| FieldValue {
            text: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    let changed = doc.get_field(field).await?.select_values(wanted).await?;
    if opts.json {
        return output::json(&json!({"field": field, "values": values, "changed": changed}));
    }
    output::line(&if changed {
        format!("Selected {} value(s) in {field}.", values.len())
    } else {
        format!("The selection in {field} did not change.")
    })
}

async fn objects(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let infos = doc.get_all_infos().await?;
    if opts.json {
        return output::json(&infos);
    }
    let rows = infos
        .iter()
        .map(|i| vec![opt(&i.id), opt(&i.r#type)])
        .collect();
    output::table(&["Id", "Type"], rows)
}

async fn variables(doc: &Doc, opts: &ConnectOpts) -> CliResult {
    let props = GenericObjectProperties {
        variable_list_def: Some(VariableListDef {
            r#type: Some("variable".into()),
            ..Default::default()
        }),
        ..list_props("qix-variable-list")
    };
    let layout = session_layout(doc, props).await?;
    let items = layout.variable_list.map(|l| l.items).unwrap_or_default();
    if opts.json {
        return output::json(&items);
    }
    let rows = items
        .iter()
        .map(|v| vec![opt(&v.name), opt(&v.definition)])
        .collect();
    output::table(&["Variable", "Definition"], rows)
}

/// The lines of progress text in one `GetProgress` answer: persistent lines (new since
/// the last answer), then the transient one.
fn progress_lines(p: &ProgressData) -> (Vec<String>, Option<String>) {
    let persistent = p
        .persistent_progress
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let transient = p
        .transient_progress
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    (persistent, transient)
}

async fn reload(session: &Session, doc: &Doc, no_save: bool, opts: &ConnectOpts) -> CliResult {
    let mut progress = with_progress(
        &session.global(),
        doc.do_reload_ex(),
        Duration::from_millis(500),
    );
    // A bar on a terminal; plain lines (on stderr, so --json stdout stays JSON) otherwise.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    while let Some(update) = progress.next().await {
        // A failed poll says nothing about the reload: its result decides.
        let Ok(update) = update else { continue };
        let (lines, transient) = progress_lines(&update);
        for l in lines {
            match &bar {
                Some(bar) => bar.println(&l),
                None => eprintln!("{l}"),
            }
        }
        if let (Some(bar), Some(t)) = (&bar, transient) {
            bar.set_message(t);
        }
    }
    let result = progress.finish().await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let result = result?;
    if result.success != Some(true) {
        let log = result
            .script_log_file
            .as_deref()
            .map(|f| format!(" (script log: {f})"))
            .unwrap_or_default();
        if opts.json {
            output::json(&result)?;
        }
        return Err(Failure(format!("the reload failed{log}")));
    }
    if opts.json {
        output::json(&result)?;
    } else {
        output::line("Reload finished.")?;
    }
    if no_save {
        return Ok(());
    }
    doc.do_save().await?;
    status(opts, "App saved.")
}
