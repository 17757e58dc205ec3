//! `connection ls|get|set FILE|rm`: an app's data connections. `set` reads corectl's
//! connections file and creates or modifies each connection by name (always: a password
//! may have changed, and the engine never sends one back to compare).

use qix_generated::prelude::*;
use qix_generated::types::Connection;
use serde_json::json;

use crate::output::{self, opt};
use crate::plan::{Action, Item, What};
use crate::project::connections;
use crate::{CliResult, ConnectOpts, ConnectionCommand, Failure};

pub async fn run(doc: &Doc, cmd: &ConnectionCommand, opts: &ConnectOpts) -> CliResult {
    match cmd {
        ConnectionCommand::Ls => {
            let mut list = doc.get_connections().await?;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            if opts.json {
                return output::json(&list);
            }
            if opts.quiet {
                for c in &list {
                    output::line(&opt(&c.id))?;
                }
                return Ok(());
            }
            let rows = list
                .iter()
                .map(|c| vec![opt(&c.id), opt(&c.name), opt(&c.r#type), redacted(c)])
                .collect();
            output::table(&["Id", "Name", "Type", "Connection string"], rows)
        }
        ConnectionCommand::Get { connection } => {
            let c = find(doc, connection).await?;
            output::json(&c)
        }
        ConnectionCommand::Set { file, no_save } => {
            let specs = connections::read_file(file)?;
            let have = doc.get_connections().await?;
            let mut rows = Vec::new();
            for spec in specs {
                let existing = have
                    .iter()
                    .find(|c| c.name.as_deref() == Some(spec.name.as_str()))
                    .and_then(|c| c.id.clone());
                let word = if existing.is_some() {
                    "updated"
                } else {
                    "created"
                };
                let item = Item {
                    action: if existing.is_some() {
                        Action::Change(Vec::new())
                    } else {
                        Action::Add
                    },
                    what: What::Connection {
                        spec: spec.clone(),
                        existing,
                    },
                    diff: None,
                };
                crate::build::apply(doc, &item)
                    .await
                    .map_err(|Failure(e)| {
                        Failure(format!("connection {} ({}): {e}", spec.name, spec.origin))
                    })?;
                rows.push(vec![spec.name.clone(), word.to_string()]);
            }
            finish(doc, rows, *no_save, opts).await
        }
        ConnectionCommand::Rm {
            connections,
            no_save,
        } => {
            // All found first: a typo removes nothing.
            let mut ids = Vec::new();
            for c in connections {
                ids.push((c.clone(), opt(&find(doc, c).await?.id)));
            }
            let mut rows = Vec::new();
            for (name, id) in ids {
                doc.delete_connection(id).await?;
                rows.push(vec![name, "removed".to_string()]);
            }
            finish(doc, rows, *no_save, opts).await
        }
    }
}

/// The connection string as `ls` shows it: credentials redacted, as logs are.
fn redacted(c: &Connection) -> String {
    qix_runtime::redact::connection_string(c.connection_string.as_deref().unwrap_or(""))
        .into_owned()
}

/// A connection by id, else by name.
async fn find(doc: &Doc, wanted: &str) -> CliResult<Connection> {
    doc.get_connections()
        .await?
        .into_iter()
        .find(|c| c.id.as_deref() == Some(wanted) || c.name.as_deref() == Some(wanted))
        .ok_or_else(|| Failure(format!("the app has no connection {wanted:?}")))
}

async fn finish(doc: &Doc, rows: Vec<Vec<String>>, no_save: bool, opts: &ConnectOpts) -> CliResult {
    if !no_save {
        crate::reload::save(doc, opts.no_data).await?;
    }
    if opts.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| json!({"name": r[0], "result": r[1]}))
            .collect();
        return output::json(&json!({"results": list, "saved": !no_save}));
    }
    if opts.quiet {
        for r in &rows {
            output::line(&r[0])?;
        }
        return Ok(());
    }
    output::table(&["Name", "Result"], rows)?;
    if !no_save {
        output::line("App saved.")?;
    }
    Ok(())
}
