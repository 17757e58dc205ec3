//! One function per command, each on the typed API.

use std::path::Path;

use qix_generated::prelude::*;
use qix_generated::types::{
    BookmarkListDef, DimensionListDef, FieldListDef, FieldValue, GenericObjectLayout,
    GenericObjectProperties, ListObjectDef, MeasureListDef, NxCell, NxContainerEntry, NxDataPage,
    NxInfo, NxInlineDimensionDef, NxPage, StateEnumType, VariableListDef,
};
use serde_json::json;

use crate::output::{self, opt};
use crate::project::Project;
use crate::{
    AppCommand, Cli, CliResult, Command, ConnectOpts, Failure, ObjectCommand, ScriptCommand,
    SpecCommand, connect,
};

/// Rows of a field's values fetched by `values` (the engine's page limit is 10 000 cells).
const VALUES_PAGE: i32 = 10_000;

pub async fn run(cli: Cli, project: Option<Project>) -> CliResult {
    let opts = &cli.conn;
    output::set_verbose(opts.verbose);
    if let Some(p) = &project {
        output::verbose(&format!("project file {}", p.file.display()));
    }
    match &cli.command {
        Command::Version => return version(opts).await,
        Command::Spec(SpecCommand::Fetch { out }) => {
            return crate::spec::fetch(opts, out.as_deref()).await;
        }
        Command::Completion { shell } => return completion(*shell),
        Command::Context(c) => return crate::context::run(c, opts),
        _ => {}
    }
    output::verbose(&format!("connecting to {}", connect::websocket_url(opts)?));
    let session = connect::session(opts).await?;
    let result = match &cli.command {
        Command::Apps | Command::App(AppCommand::Ls) => apps(&session, opts).await,
        Command::App(AppCommand::Rm { apps }) => {
            crate::datamodel::remove_apps(&session, apps, opts).await
        }
        Command::Status => crate::datamodel::status(&session, opts).await,
        command => {
            let doc = connect::open_app(&session, opts).await?;
            on_doc(command, &session, &doc, project.as_ref(), opts).await
        }
    };
    session.close().await;
    result
}

fn completion(shell: clap_complete::Shell) -> CliResult {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "qix", &mut out);
    let text = String::from_utf8(out)
        .map_err(|e| Failure(format!("the completion script is not UTF-8: {e}")))?;
    output::line(text.trim_end_matches('\n'))
}

async fn on_doc(
    command: &Command,
    session: &Session,
    doc: &Doc,
    project: Option<&Project>,
    opts: &ConnectOpts,
) -> CliResult {
    use crate::entities::{self, Family};
    match command {
        Command::Eval { expression } => crate::eval::run(doc, expression, opts).await,
        Command::Build(args) => crate::build::run(session, doc, project, args, opts).await,
        Command::Plan(args) => {
            let sources = crate::plan::Sources::new(project, args);
            if sources.is_empty() && project.is_none() {
                return Err(Failure(
                    "nothing to plan: no corectl.yml (or qix.yml) here, no --config, and no \
                     --script, --connections, --app-properties or entity globs"
                        .into(),
                ));
            }
            let desired = crate::plan::Desired::read(&sources)?;
            let items = crate::plan::compute(doc, &desired).await?;
            crate::plan::print(&items, opts)?;
            let (add, change, remove, _) = crate::plan::counts(&items);
            if add + change + remove > 0 {
                output::set_exit_status(2);
            }
            Ok(())
        }
        Command::Unbuild { dir } => crate::unbuild::run(doc, dir.as_deref(), opts).await,
        Command::Measure(c) => entities::run(doc, Family::Measure, c, opts).await,
        Command::Dimension(c) => entities::run(doc, Family::Dimension, c, opts).await,
        Command::Variable(c) => entities::run(doc, Family::Variable, c, opts).await,
        Command::Bookmark(c) => entities::run(doc, Family::Bookmark, c, opts).await,
        Command::Object(ObjectCommand::Entity(c)) => {
            entities::run(doc, Family::Object, c, opts).await
        }
        Command::Object(ObjectCommand::Data { id }) => entities::data(doc, id, opts).await,
        Command::Connection(c) => crate::connections::run(doc, c, opts).await,
        Command::State(c) => crate::datamodel::states(doc, c, opts).await,
        Command::Tables => crate::datamodel::tables(doc, opts).await,
        Command::Keys => crate::datamodel::keys(doc, opts).await,
        Command::Meta => crate::datamodel::meta(doc, opts).await,
        Command::Assoc { format } => crate::datamodel::assoc(doc, *format, opts).await,
        Command::Script(ScriptCommand::Get) => {
            let script = doc.get_script().await?;
            if opts.json {
                output::json(&script)
            } else {
                // Byte for byte: `script get > s.qvs && script set s.qvs` changes nothing.
                output::exact(&script)
            }
        }
        Command::Script(ScriptCommand::Set { file, no_save }) => {
            let script = read_file(file)?;
            doc.set_script(script).await?;
            status(opts, "Script set.")?;
            save_unless(doc, *no_save, opts).await
        }
        Command::Reload(args) => reload(session, doc, args, opts).await,
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
        Command::Apps
        | Command::App(_)
        | Command::Status
        | Command::Completion { .. }
        | Command::Context(_)
        | Command::Version
        | Command::Spec(_) => Err(Failure("internal: handled before an app is opened".into())),
    }
}

pub(crate) fn read_file(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

/// A status line for people; machine output (`--json`) has none.
pub(crate) fn status(opts: &ConnectOpts, text: &str) -> CliResult {
    if opts.json {
        Ok(())
    } else {
        output::line(text)
    }
}

pub(crate) async fn save_unless(doc: &Doc, no_save: bool, opts: &ConnectOpts) -> CliResult {
    if no_save {
        return if opts.json {
            output::json(&json!({"saved": false}))
        } else {
            Ok(())
        };
    }
    crate::reload::save(doc, opts.no_data).await?;
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

pub(crate) async fn eval(doc: &Doc, expression: &str, opts: &ConnectOpts) -> CliResult {
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

pub(crate) async fn apps(session: &Session, opts: &ConnectOpts) -> CliResult {
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

pub(crate) fn list_props(kind: &str) -> GenericObjectProperties {
    GenericObjectProperties {
        info: Some(NxInfo {
            r#type: Some(kind.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The layout of a session object made for one listing (gone with the session).
pub(crate) async fn session_layout(
    doc: &Doc,
    props: GenericObjectProperties,
) -> CliResult<GenericObjectLayout> {
    let object = doc.create_session_object(props).await?;
    Ok(object.get_layout().await?)
}

pub(crate) fn entries(items: Vec<NxContainerEntry>, opts: &ConnectOpts) -> CliResult {
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

async fn reload(
    session: &Session,
    doc: &Doc,
    args: &crate::ReloadArgs,
    opts: &ConnectOpts,
) -> CliResult {
    let options = crate::reload::ReloadOptions {
        silent: args.silent,
        limit: args.limit,
    };
    let result = crate::reload::run(session, doc, options).await?;
    if let Some(failure) = crate::reload::failure(&result) {
        if opts.json {
            output::json(&result)?;
        }
        return Err(failure);
    }
    if opts.json {
        output::json(&result)?;
    } else {
        output::line("Reload finished.")?;
    }
    if args.no_save {
        return Ok(());
    }
    crate::reload::save(doc, opts.no_data).await?;
    status(opts, "App saved.")
}
