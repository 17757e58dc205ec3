//! A reload with progress, as `reload` and `build` run it: a progress bar with the
//! engine's messages on a terminal, plain lines on stderr otherwise, nothing with
//! `--silent`; `--limit N` loads at most N rows per table, as corectl does (the engine's
//! fetch limit, which applies to reloads in debug mode).

use std::io::IsTerminal;
use std::time::Duration;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use qix_generated::helpers::reload::with_progress;
use qix_generated::prelude::*;
use qix_generated::types::{DoReloadExParams, DoReloadExResult, InteractDef, ProgressData};

use crate::{CliResult, Failure, output};

#[derive(Debug, Clone, Copy, Default)]
pub struct ReloadOptions {
    pub silent: bool,
    pub limit: Option<u64>,
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

/// Reloads the app; the result says whether the script ran through ([`failure`]).
pub async fn run(
    session: &Session,
    doc: &Doc,
    options: ReloadOptions,
) -> CliResult<DoReloadExResult> {
    let global = session.global();
    let mut call = doc.do_reload_ex();
    if let Some(limit) = options.limit {
        let limit =
            i64::try_from(limit).map_err(|_| Failure(format!("--limit {limit} is too large")))?;
        output::verbose(&format!(
            "Fetch limit {limit} rows (a reload in debug mode)."
        ));
        doc.set_fetch_limit(limit).await?;
        call = call.params(DoReloadExParams {
            debug: Some(true),
            ..Default::default()
        });
    }
    let call = call.into_future();
    let request_id = call.request_id();
    let mut progress = with_progress(&global, call, Duration::from_millis(500));
    // A bar on a terminal; plain lines (on stderr, so --json stdout stays JSON) otherwise.
    let bar = (!options.silent && std::io::stderr().is_terminal()).then(|| {
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
        // A reload in debug mode waits for the client at each step: go on.
        if update.user_interaction_wanted == Some(true) {
            if let Some(id) = request_id {
                let _ = global.interact_done(id, InteractDef::default()).await;
            }
        }
        if options.silent {
            continue;
        }
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
    Ok(result?)
}

/// A reload that ran but failed, as an error naming its log.
pub fn failure(result: &DoReloadExResult) -> Option<Failure> {
    if result.success == Some(true) {
        return None;
    }
    let log = result
        .script_log_file
        .as_deref()
        .map(|f| format!(" (script log: {f})"))
        .unwrap_or_default();
    Some(Failure(format!("the reload failed{log}")))
}

/// Saves the app: `DoSave`, or only its objects (`SaveObjects`) when it was opened
/// without data (saving it whole would drop its data), as corectl does.
pub async fn save(doc: &Doc, no_data: bool) -> CliResult {
    if no_data {
        doc.save_objects().await?;
    } else {
        doc.do_save().await?;
    }
    Ok(())
}
