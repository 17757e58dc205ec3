//! `qix extract`: a whole table out of the engine into a CSV, Parquet or Arrow IPC file
//! (or CSV on stdout), with `qix_generated::helpers::extract`.
//!
//! The file is written under a temporary name beside the target and renamed when the
//! extraction is complete, so a failed run leaves no partial file (and an older file of
//! that name is untouched) unless `--keep-partial` asks for what was read. When the data
//! changes during the run, the extraction starts over and so does the file.

mod write;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use qix_generated::helpers::extract::{DEFAULT_WINDOW, Event, Extract, ExtractError, OnChange};
use qix_generated::prelude::*;

use crate::{CliResult, ConnectOpts, Failure};
use write::{Output, Writer};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// Apache Parquet, Snappy-compressed, one row group per --row-group rows.
    Parquet,
    /// Arrow IPC file (Feather v2).
    Arrow,
}

/// The options of `qix extract`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractArgs {
    /// The id of the object whose hypercube to read; or give --dimension and --measure.
    #[arg(required_unless_present_any = ["dimensions", "measures"], conflicts_with_all = ["dimensions", "measures"])]
    pub object: Option<String>,
    /// A dimension of an ad hoc cube: a field name or `=expression` (repeatable).
    #[arg(long = "dimension", short = 'd', value_name = "FIELD")]
    pub dimensions: Vec<String>,
    /// A measure of an ad hoc cube: an expression such as `Sum(Sales)` (repeatable).
    #[arg(long = "measure", short = 'm', value_name = "EXPRESSION")]
    pub measures: Vec<String>,
    /// Where to write: a file (.csv, .parquet, .arrow/.feather), or `-` for CSV on stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// The format, when the file name does not say it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The path of the HyperCubeDef in the object's properties.
    #[arg(long, default_value = "/qHyperCubeDef")]
    pub path: String,
    /// Read at most this many rows (from the top).
    #[arg(long, value_name = "ROWS")]
    pub limit: Option<u64>,
    /// Page requests in flight at once.
    #[arg(long, default_value_t = DEFAULT_WINDOW, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub window: usize,
    /// Rows per page (default: as many as fit the engine's 10,000 cells).
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_rows: Option<u32>,
    /// Rows per Parquet row group.
    #[arg(long, value_name = "ROWS", default_value_t = 131_072, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub row_group: usize,
    /// Fail when the data changes during the extraction instead of starting over.
    #[arg(long)]
    pub fail_on_change: bool,
    /// Keep what the engine returns when it returns fewer rows than the cube has (object
    /// limits), with a warning, instead of failing.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// On failure, keep what was read in the output file.
    #[arg(long)]
    pub keep_partial: bool,
}

impl ExtractArgs {
    fn format(&self) -> CliResult<Format> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        if self.output == Path::new("-") {
            return Ok(Format::Csv);
        }
        let ext = self
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            Some("arrow" | "feather" | "ipc") => Ok(Format::Arrow),
            _ => Err(Failure(format!(
                "{}: cannot tell the format from the name; use .csv, .parquet or .arrow, or --format",
                self.output.display()
            ))),
        }
    }
}

pub async fn run(doc: &Doc, args: &ExtractArgs, opts: &ConnectOpts) -> CliResult {
    let format = args.format()?;
    if args.output == Path::new("-") && format != Format::Csv {
        return Err(Failure(format!(
            "-o -: only CSV goes to stdout; give a file for {format:?}"
        )));
    }
    if cfg!(not(feature = "arrow")) && format != Format::Csv {
        return Err(Failure(
            "this qix was built without the `arrow` feature: CSV only".into(),
        ));
    }
    let extract = match &args.object {
        Some(id) => Extract::object(&doc.get_object(id.clone()).await?).path(args.path.clone()),
        None => Extract::cube(doc, args.dimensions.clone(), args.measures.clone()),
    };
    let mut extract = extract
        .window(args.window)
        .allow_incomplete(args.allow_incomplete)
        .on_change(if args.fail_on_change {
            OnChange::Fail
        } else {
            OnChange::default()
        });
    if let Some(l) = args.limit {
        extract = extract.limit(l);
    }
    if let Some(r) = args.page_rows {
        extract = extract.page_rows(r);
    }
    let mut output = Output::create(&args.output)?;
    let started = Instant::now();
    let mut progress = Progress::new(opts.json);
    let outcome = pump(extract, &mut output, format, args, &mut progress).await;
    progress.done();
    match outcome {
        Ok(summary) => {
            output.commit()?;
            let secs = started.elapsed().as_secs_f64();
            if summary.missing_rows > 0 {
                eprintln!(
                    "qix: warning: the engine returned {} fewer rows than the cube has ({}): object limits?",
                    summary.missing_rows, summary.table.rows
                );
            }
            if args.output != Path::new("-") {
                let line = format!(
                    "{} rows × {} columns to {} in {secs:.2} s ({:.0} rows/s){}",
                    summary.rows,
                    summary.table.columns.len(),
                    args.output.display(),
                    summary.rows as f64 / secs.max(1e-9),
                    if summary.restarts > 0 {
                        format!(
                            "; started over {} time(s): the data changed",
                            summary.restarts
                        )
                    } else {
                        String::new()
                    }
                );
                if opts.json {
                    crate::output::json(&serde_json::json!({
                        "rows": summary.rows,
                        "columns": summary.table.columns.len(),
                        "file": args.output.display().to_string(),
                        "seconds": secs,
                        "restarts": summary.restarts,
                        "missing_rows": summary.missing_rows,
                    }))?;
                } else {
                    eprintln!("{line}");
                }
            }
            Ok(())
        }
        Err(failure) => {
            if let Some(kept) = output.abandon(args.keep_partial) {
                eprintln!("qix: the partial output is kept in {}", kept.display());
            }
            Err(failure)
        }
    }
}

/// Reads the extraction into the output; the summary when it completed.
async fn pump(
    extract: Extract,
    output: &mut Output,
    format: Format,
    args: &ExtractArgs,
    progress: &mut Progress,
) -> CliResult<qix_generated::helpers::extract::Summary> {
    let mut events = extract.pages();
    let mut writer: Option<Writer> = None;
    while let Some(event) = events.try_next().await.map_err(failure)? {
        match event {
            Event::Begin(table) => {
                if let Some(w) = writer.take() {
                    // The data changed: everything written is void.
                    drop(w);
                    output.restart()?;
                }
                writer = Some(Writer::new(format, output.file()?, &table, args.row_group)?);
                progress.begin(table.planned_rows, table.snapshot);
            }
            Event::Data(page) => {
                let w = writer
                    .as_mut()
                    .ok_or_else(|| Failure("a page before its table".into()))?;
                w.write_page(&page.data)
                    .map_err(|e| output.write_error(e))?;
                progress.add(page.data.matrix.len() as u64);
            }
            Event::End(summary) => {
                if let Some(w) = writer.take() {
                    w.finish().map_err(|e| output.write_error(e))?;
                }
                return Ok(summary);
            }
        }
    }
    Err(Failure("the extraction ended without its summary".into()))
}

fn failure(e: ExtractError) -> Failure {
    Failure(e.to_string())
}

/// A progress bar with rows/s on a terminal (stderr); nothing otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(json: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rows, {rate}, {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} rows/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
            );
            bar
        });
        Progress { bar }
    }

    fn begin(&mut self, rows: u64, snapshot: u32) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(rows);
            bar.set_message(if snapshot == 0 {
                "extracting".to_string()
            } else {
                format!("the data changed; extracting again (#{snapshot})")
            });
        }
    }

    fn add(&mut self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(rows);
        }
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
