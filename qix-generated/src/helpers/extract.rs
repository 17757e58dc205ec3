//! Getting a whole table out: every page of a hypercube, fetched concurrently on the one
//! session, in order, from one consistent state of the data.
//!
//! ```no_run
//! # async fn run(doc: qix_generated::Doc) -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::TryStreamExt;
//! use qix_generated::helpers::extract::{Event, Extract};
//!
//! let mut rows = Extract::cube(&doc, ["Region"], ["Sum(Sales)"]).window(8).rows();
//! while let Some(event) = rows.try_next().await? {
//!     match event {
//!         // The columns, typed; again (snapshot 1, 2, …) when the data changed and the
//!         // extraction started over: drop what came before.
//!         Event::Begin(table) => println!("{} rows", table.rows),
//!         Event::Data(row) => println!("{:?} {}", row.text(0), row.num(1)),
//!         Event::End(summary) => println!("{} rows read", summary.rows),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! - **Source**: an object's hypercube ([`Extract::object`], at `/qHyperCubeDef` or
//!   [`Extract::path`]), or an ad hoc cube of dimensions and measures ([`Extract::cube`]):
//!   a session object created for the extraction and destroyed after it.
//! - **Window**: up to [`Extract::window`] page requests in flight (default
//!   [`DEFAULT_WINDOW`]); results come back in order, so memory is bounded by the window.
//! - **Consistent snapshot**: the extraction watches the object's `changed()`. When the
//!   engine reports a change before the last page arrived (a selection, a reload), the pages in flight are cancelled and the
//!   extraction starts over with a fresh layout, announced by a new [`Event::Begin`]
//!   ([`OnChange::Restart`], the default), or ends with [`ExtractError::Changed`]
//!   ([`OnChange::Fail`]). Pages of two states of the data are never mixed.
//! - **Reconnection**: pages lost with a connection do not end an extraction that may
//!   start over: it waits until a reconnection has restored the object and starts over
//!   (counted as a restart; a new engine session may hold other data). Without
//!   reconnection, or when the object is not restored, it fails naming the lost page.
//! - **Typed columns** from `qDimensionInfo`/`qMeasureInfo` ([`Table`], [`ColumnKind`]);
//!   cells keep their text, number and element number (the generated `NxCell`).
//! - **Modes**: straight cubes as pages or rows ([`Extract::pages`], [`Extract::rows`]),
//!   stacked and pivot cubes as pages ([`Extract::stack_pages`], [`Extract::pivot_pages`]).
//! - **Nothing dropped silently**: when the engine returns fewer rows than `qSize` says
//!   (object limits), the extraction fails with [`ExtractError::Incomplete`], or with
//!   [`Extract::allow_incomplete`] reports the missing rows in the [`Summary`].
//!
//! With the `arrow` feature, [`arrow`] turns rows into Arrow `RecordBatch`es.

#[cfg(feature = "arrow")]
pub mod arrow;
mod columns;
mod fetch;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use qix_runtime::{BroadcastStream, ClosedReason};

pub use columns::{
    Column, ColumnKind, ColumnSource, Field, FieldValue, Table, cell_number, cell_text,
};
use fetch::PageKind;

use crate::helpers::paging::{MAX_CELLS_PER_PAGE, PageShape, page_plan};
use crate::types::{
    GenericObjectLayout, GenericObjectProperties, HyperCube, HyperCubeDef, NxCell, NxDataPage,
    NxDimension, NxInfo, NxInlineDimensionDef, NxInlineMeasureDef, NxMeasure, NxPage, NxPivotPage,
    NxStackPage, NxValidationError, Size,
};
use crate::{Doc, Error, GenericObject};

/// Page requests in flight by default. Measured (`cargo xtask bench`, 1,000,000 rows × 4
/// columns, 10 ms per round trip): 8 reads ~6× faster than one at a time, and 16 adds
/// little more, so 8 keeps the memory small for nearly all of the gain.
pub const DEFAULT_WINDOW: usize = 8;

/// Restarts after changes allowed by default before the extraction gives up.
pub const DEFAULT_MAX_RESTARTS: u32 = 5;

/// What to do when the data changes during an extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// Start over with the new data (a new [`Event::Begin`]), at most `max` times.
    Restart { max: u32 },
    /// End with [`ExtractError::Changed`].
    Fail,
}

impl Default for OnChange {
    fn default() -> Self {
        OnChange::Restart {
            max: DEFAULT_MAX_RESTARTS,
        }
    }
}

/// An item of an extraction.
#[derive(Debug, Clone)]
pub enum Event<T> {
    /// The table about to be read. The first item, and again after each restart (with the
    /// next `snapshot` number): everything received before it is void.
    Begin(Arc<Table>),
    /// A page or a row, in order.
    Data(T),
    /// The last item: the extraction is complete.
    End(Summary),
}

/// One page of an extraction.
#[derive(Debug, Clone)]
pub struct Page<P> {
    /// The page's number in this snapshot, from 0.
    pub index: u64,
    /// The request: its first row is `top`.
    pub request: NxPage,
    pub data: P,
}

/// One row of a straight cube.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its number in the cube, from 0.
    pub index: u64,
    /// Its cells, in column order (see [`Table::columns`]).
    pub cells: Vec<NxCell>,
}

impl Row {
    /// The text of cell `i` (`None` for the engine's nulls or past the end).
    pub fn text(&self, i: usize) -> Option<&str> {
        self.cells.get(i).and_then(cell_text)
    }

    /// The number of cell `i`: NaN when it has none.
    pub fn num(&self, i: usize) -> f64 {
        self.cells.get(i).and_then(cell_number).unwrap_or(f64::NAN)
    }

    /// The element number of cell `i` (negative for totals, nulls, others, empty cells).
    pub fn elem(&self, i: usize) -> Option<i32> {
        self.cells.get(i).and_then(|c| c.elem_number)
    }
}

/// How an extraction went.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The table of the last snapshot (the one whose data was delivered).
    pub table: Arc<Table>,
    /// Rows delivered in the last snapshot.
    pub rows: u64,
    pub pages: u64,
    /// Rows the engine did not return though `qSize` counts them (only with
    /// [`Extract::allow_incomplete`]; otherwise that is an error).
    pub missing_rows: u64,
    /// How often the extraction started over because the data changed.
    pub restarts: u32,
}

/// Why an extraction failed. Each names the object and the place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// A call failed (the engine's error, a dropped connection, …).
    #[error("{what}: {source}")]
    Call {
        /// What was being done, and on which object.
        what: String,
        #[source]
        source: Error,
    },
    /// The data changed during the extraction ([`OnChange::Fail`], or more restarts than
    /// allowed).
    #[error(
        "the data of {object} changed during the extraction ({rows} rows read, {restarts} restarts)"
    )]
    Changed {
        object: String,
        rows: u64,
        restarts: u32,
    },
    /// The layout has no hypercube at the path.
    #[error("{object} has no hypercube at {path}")]
    NoHyperCube { object: String, path: String },
    /// The engine reports an error for the cube or one of its columns (an expression it
    /// rejects, a calculation condition, …).
    #[error("the engine rejected {what} of {object}: error {code}{message}")]
    Rejected {
        object: String,
        /// `the hypercube`, `dimension 2 ("Region")`, `measure 1 ("Sum(Sales")`.
        what: String,
        code: i32,
        /// The code's `LOCERR_…` name, and the engine's context and extended message or
        /// else the spec's message for the code (` LOCERR_CALC_TOO_LARGE: Too many cells`).
        message: String,
    },
    /// The engine returned fewer rows than `qSize` counts.
    #[error(
        "{object}: qSize counts {expected} rows but the engine returned {got} of the rows from {from} to {to} (object limits?); allow incomplete results to keep what it returns"
    )]
    Incomplete {
        object: String,
        expected: u64,
        from: u64,
        to: u64,
        got: u64,
    },
    /// The engine closed the object during the extraction (or a reconnection could not
    /// restore it).
    #[error("{object} was closed during the extraction ({reason}) after {rows} rows")]
    Closed {
        object: String,
        reason: ClosedReason,
        rows: u64,
    },
    /// An option or the cube's shape does not allow an extraction.
    #[error("{0}")]
    Invalid(String),
}

impl ExtractError {
    /// The runtime's error underneath, for failed calls.
    pub fn call_error(&self) -> Option<&Error> {
        match self {
            ExtractError::Call { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The items of an extraction; the first error is the last item.
pub type Extraction<T> = Pin<Box<dyn Stream<Item = Result<Event<T>, ExtractError>> + Send>>;

enum Source {
    Object(GenericObject),
    Cube {
        doc: Doc,
        props: Box<GenericObjectProperties>,
    },
}

/// An extraction, configured with its builder methods, started by [`pages`](Self::pages),
/// [`rows`](Self::rows), [`stack_pages`](Self::stack_pages) or
/// [`pivot_pages`](Self::pivot_pages).
pub struct Extract {
    source: Source,
    path: String,
    window: usize,
    page_rows: Option<u32>,
    limit: Option<u64>,
    on_change: OnChange,
    allow_incomplete: bool,
}

impl Extract {
    fn new(source: Source) -> Self {
        Extract {
            source,
            path: "/qHyperCubeDef".into(),
            window: DEFAULT_WINDOW,
            page_rows: None,
            limit: None,
            on_change: OnChange::default(),
            allow_incomplete: false,
        }
    }

    /// The hypercube of an existing object (at `/qHyperCubeDef` unless [`path`](Self::path)
    /// says otherwise).
    pub fn object(object: &GenericObject) -> Self {
        Self::new(Source::Object(object.clone()))
    }

    /// An ad hoc straight table: one dimension per field (or `=expression`), one measure per
    /// expression, in a session object created for the extraction and destroyed after it.
    pub fn cube<D, M>(
        doc: &Doc,
        dimensions: impl IntoIterator<Item = D>,
        measures: impl IntoIterator<Item = M>,
    ) -> Self
    where
        D: Into<String>,
        M: Into<String>,
    {
        let def = HyperCubeDef {
            dimensions: dimensions
                .into_iter()
                .map(|d| {
                    let d = d.into();
                    NxDimension {
                        def: Some(NxInlineDimensionDef {
                            field_defs: vec![d.clone()],
                            field_labels: vec![d],
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                })
                .collect(),
            measures: measures
                .into_iter()
                .map(|m| {
                    let m = m.into();
                    NxMeasure {
                        def: Some(NxInlineMeasureDef {
                            def: Some(m.clone()),
                            label: Some(m),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        };
        Self::cube_def(doc, def)
    }

    /// An ad hoc cube from a full definition (sorting, suppression, a state, …), in a
    /// session object created for the extraction and destroyed after it.
    pub fn cube_def(doc: &Doc, def: HyperCubeDef) -> Self {
        let props = GenericObjectProperties {
            info: Some(NxInfo {
                r#type: Some("qix-extract".into()),
                ..Default::default()
            }),
            hyper_cube_def: Some(def),
            ..Default::default()
        };
        Self::new(Source::Cube {
            doc: doc.clone(),
            props: Box::new(props),
        })
    }

    /// The path of the `HyperCubeDef` in the object's properties (`/qHyperCubeDef`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Page requests in flight at most (at least 1; default [`DEFAULT_WINDOW`]).
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Rows per page (default: as many as fit the engine's 10,000 cells per page).
    pub fn page_rows(mut self, rows: u32) -> Self {
        self.page_rows = Some(rows.max(1));
        self
    }

    /// Reads at most this many rows (from the top).
    pub fn limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }

    pub fn on_change(mut self, on_change: OnChange) -> Self {
        self.on_change = on_change;
        self
    }

    /// Accepts fewer rows than `qSize` counts, reporting them in [`Summary::missing_rows`],
    /// instead of failing with [`ExtractError::Incomplete`].
    pub fn allow_incomplete(mut self, allow: bool) -> Self {
        self.allow_incomplete = allow;
        self
    }

    /// The pages of a straight cube (`GetHyperCubeData`), each of whole rows.
    pub fn pages(self) -> Extraction<Page<NxDataPage>> {
        self.run::<fetch::Data>()
    }

    /// The rows of a straight cube, one by one.
    pub fn rows(self) -> Extraction<Row> {
        self.pages()
            .flat_map(|item| {
                let items: Vec<Result<Event<Row>, ExtractError>> = match item {
                    Ok(Event::Data(page)) => {
                        let top = page.request.top.unwrap_or(0).max(0) as u64;
                        page.data
                            .matrix
                            .into_iter()
                            .enumerate()
                            .map(|(i, cells)| {
                                Ok(Event::Data(Row {
                                    index: top + i as u64,
                                    cells,
                                }))
                            })
                            .collect()
                    }
                    Ok(Event::Begin(t)) => vec![Ok(Event::Begin(t))],
                    Ok(Event::End(s)) => vec![Ok(Event::End(s))],
                    Err(e) => vec![Err(e)],
                };
                stream::iter(items)
            })
            .boxed()
    }

    /// The pages of a straight cube as Arrow record batches, one per page (see
    /// [`arrow`] for the fields).
    #[cfg(feature = "arrow")]
    pub fn record_batches(self) -> Extraction<arrow_array::RecordBatch> {
        arrow::batches(self.pages())
    }

    /// The pages of a stacked cube (`GetHyperCubeStackData`).
    pub fn stack_pages(self) -> Extraction<Page<NxStackPage>> {
        self.run::<fetch::Stack>()
    }

    /// The pages of a pivot cube (`GetHyperCubePivotData`).
    pub fn pivot_pages(self) -> Extraction<Page<NxPivotPage>> {
        self.run::<fetch::Pivot>()
    }

    fn run<K: PageKind>(self) -> Extraction<Page<K::Page>> {
        let driver = Driver::<K> {
            source: Some(self.source),
            path: self.path,
            window: self.window,
            page_rows: self.page_rows,
            limit: self.limit,
            on_change: self.on_change,
            allow_incomplete: self.allow_incomplete,
            object: None,
            cleanup: None,
            changes: None,
            restarts: 0,
            state: State::Start,
        };
        stream::unfold(driver, |mut d| async move {
            let item = d.next().await?;
            Some((item, d))
        })
        .boxed()
    }
}

/// A page answer with the request it answers.
type Fetched<P> = (NxPage, Result<Vec<P>, Error>);

enum State<P> {
    Start,
    Pages {
        table: Arc<Table>,
        pages: BoxStream<'static, Fetched<P>>,
        index: u64,
        rows: u64,
        missing: u64,
    },
    Done,
}

/// The ad hoc cube's session object, destroyed when the extraction ends.
struct Cleanup {
    doc: Doc,
    id: String,
}

struct Driver<K: PageKind> {
    source: Option<Source>,
    path: String,
    window: usize,
    page_rows: Option<u32>,
    limit: Option<u64>,
    on_change: OnChange,
    allow_incomplete: bool,
    object: Option<GenericObject>,
    cleanup: Option<Cleanup>,
    changes: Option<BroadcastStream<()>>,
    restarts: u32,
    state: State<K::Page>,
}

/// How to name an object in messages.
fn describe(object: &GenericObject) -> String {
    match object.generic_id() {
        Some(id) => format!("object {id:?}"),
        None => format!("object handle {}", object.handle()),
    }
}

impl<K: PageKind> Driver<K> {
    async fn next(&mut self) -> Option<Result<Event<Page<K::Page>>, ExtractError>> {
        loop {
            match &mut self.state {
                State::Done => return None,
                State::Start => {
                    return match self.begin().await {
                        Ok(table) => Some(Ok(Event::Begin(table))),
                        Err(e) => Some(Err(self.fail(e).await)),
                    };
                }
                State::Pages { pages, .. } => {
                    let changes = self.changes.as_mut();
                    // Changes first: a change is published before the answer that carried
                    // it, so a page that came with one is never taken.
                    let next = match changes {
                        Some(changes) => tokio::select! {
                            biased;
                            change = changes.next() => Next::Change(change.is_some()),
                            page = pages.next() => Next::Page(page),
                        },
                        None => Next::Page(pages.next().await),
                    };
                    match next {
                        Next::Change(true) => {
                            if let Err(e) = self.restart() {
                                return Some(Err(self.fail(e).await));
                            }
                        }
                        Next::Change(false) => {
                            // No more changes come. When the session ended, the calls in
                            // flight fail with an error naming their rows; when the engine
                            // closed the object, their answers may never come: stop now.
                            self.changes = None;
                            if let Some(e) = self.closed() {
                                return Some(Err(self.fail(e).await));
                            }
                        }
                        Next::Page(Some((request, result))) => {
                            if matches!(&result, Err(e) if self.waits_for_restore(e))
                                && self.restored().await
                            {
                                if let Err(e) = self.restart() {
                                    return Some(Err(self.fail(e).await));
                                }
                                continue;
                            }
                            return match self.take(request, result) {
                                Ok(page) => Some(Ok(Event::Data(page))),
                                Err(e) => Some(Err(self.fail(e).await)),
                            };
                        }
                        Next::Page(None) => {
                            let summary = self.summary();
                            self.finish().await;
                            return Some(Ok(Event::End(summary)));
                        }
                    }
                }
            }
        }
    }

    fn object(&self) -> String {
        self.object.as_ref().map_or("the cube".into(), describe)
    }

    /// Opens the cube (once), reads its layout and starts the page requests.
    async fn begin(&mut self) -> Result<Arc<Table>, ExtractError> {
        let object = match (self.object.clone(), self.source.take()) {
            (Some(o), _) => o,
            (None, Some(Source::Object(o))) => o,
            (None, Some(Source::Cube { doc, props })) => {
                let o =
                    doc.create_session_object(*props)
                        .await
                        .map_err(|e| ExtractError::Call {
                            what: "creating the extraction's session object".into(),
                            source: e,
                        })?;
                if let Some(id) = o.generic_id() {
                    self.cleanup = Some(Cleanup {
                        doc,
                        id: id.to_string(),
                    });
                }
                o
            }
            (None, None) => {
                return Err(ExtractError::Invalid("extraction without a source".into()));
            }
        };
        self.object = Some(object.clone());
        // Subscribed before the layout is asked for: a change after it is seen.
        if self.changes.is_none() {
            self.changes = Some(object.changed());
        }
        let name = describe(&object);
        let layout = object.get_layout().await.map_err(|e| ExtractError::Call {
            what: format!("reading the layout of {name}"),
            source: e,
        })?;
        // Changes reported up to the layout's answer are in the layout.
        self.drain_changes();
        let cube = hypercube_at(&layout, &self.path, &name)?;
        check_errors(&cube, &name)?;
        let mut table = Table::of_cube(&cube);
        table.snapshot = self.restarts;
        let width = cube
            .size
            .as_ref()
            .and_then(|s| s.cx)
            .unwrap_or(table.columns.len() as i32)
            .max(1);
        if i64::from(width) > MAX_CELLS_PER_PAGE {
            return Err(ExtractError::Invalid(format!(
                "{name}: {width} columns do not fit a page of {MAX_CELLS_PER_PAGE} cells"
            )));
        }
        let fit = (MAX_CELLS_PER_PAGE / i64::from(width)) as u32;
        let height = self.page_rows.unwrap_or(fit).min(fit).max(1);
        let planned = match self.limit {
            Some(l) => l.min(table.rows),
            None => table.rows,
        };
        table.planned_rows = planned;
        let size = Size {
            cx: Some(width),
            cy: Some(i32::try_from(planned).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let plan = page_plan(&size, PageShape::rows(width, height as i32))
            .map_err(|e| ExtractError::Invalid(e.to_string()))?;
        let path = self.path.clone();
        let pages = stream::iter(plan)
            .map(move |page| {
                // The call is sent here, when the window pulls the next page.
                let call = K::fetch(&object, &path, page.clone());
                call.map(move |r| (page, r))
            })
            .buffered(self.window)
            .boxed();
        let table = Arc::new(table);
        self.state = State::Pages {
            table: table.clone(),
            pages,
            index: 0,
            rows: 0,
            missing: 0,
        };
        Ok(table)
    }

    /// Checks one page answer and turns it into an event's page.
    fn take(
        &mut self,
        request: NxPage,
        result: Result<Vec<K::Page>, Error>,
    ) -> Result<Page<K::Page>, ExtractError> {
        let from = request.top.unwrap_or(0).max(0) as u64;
        let asked = request.height.unwrap_or(0).max(0) as u64;
        let object = self.object();
        let State::Pages {
            table,
            index,
            rows,
            missing,
            ..
        } = &mut self.state
        else {
            return Err(ExtractError::Invalid("a page outside an extraction".into()));
        };
        let data = result
            .map_err(|e| ExtractError::Call {
                what: format!(
                    "{} for rows {from}..{} of {} on {object}",
                    K::METHOD,
                    from + asked,
                    self.path
                ),
                source: e,
            })?
            .into_iter()
            .next();
        let got = data.as_ref().map_or(0, K::rows).min(asked);
        if got < asked {
            if !self.allow_incomplete {
                return Err(ExtractError::Incomplete {
                    object,
                    expected: table.rows,
                    from,
                    to: from + asked,
                    got,
                });
            }
            *missing += asked - got;
        }
        let data = data.ok_or_else(|| ExtractError::Call {
            what: format!(
                "{} for rows {from}..{} on {object}",
                K::METHOD,
                from + asked
            ),
            source: Error::Protocol("the answer has no page".into()),
        })?;
        *rows += got;
        let page = Page {
            index: *index,
            request,
            data,
        };
        *index += 1;
        Ok(page)
    }

    /// A page lost with its connection, in an extraction that may start over: worth
    /// waiting for the session's reconnection (when it has none, the session ends and so
    /// does the wait).
    fn waits_for_restore(&self, e: &Error) -> bool {
        matches!(e, Error::ConnectionClosed(_))
            && e.is_retryable()
            && matches!(self.on_change, OnChange::Restart { .. })
    }

    /// Waits until the object is back after a reconnection (`changed()` fires when it is
    /// restored: true) or gone (the stream ends when it closes, also when the session
    /// ends: false). The data may differ on the new connection (a new engine session has
    /// no selections), so the caller starts over rather than going on.
    async fn restored(&mut self) -> bool {
        match self.changes.as_mut() {
            Some(changes) => changes.next().await.is_some(),
            None => false,
        }
    }

    /// The data changed: start over, or fail.
    fn restart(&mut self) -> Result<(), ExtractError> {
        self.drain_changes();
        let rows = match &self.state {
            State::Pages { rows, .. } => *rows,
            _ => 0,
        };
        let give_up = match self.on_change {
            OnChange::Fail => true,
            OnChange::Restart { max } => self.restarts >= max,
        };
        if give_up {
            return Err(ExtractError::Changed {
                object: self.object(),
                rows,
                restarts: self.restarts,
            });
        }
        self.restarts += 1;
        // Dropping the pages in flight cancels their calls.
        self.state = State::Start;
        Ok(())
    }

    /// The object is closed for a reason other than the end of the session.
    fn closed(&self) -> Option<ExtractError> {
        let reason = self.object.as_ref()?.object().closed_reason()?;
        if matches!(reason, ClosedReason::SessionEnded(_)) {
            return None;
        }
        let rows = match &self.state {
            State::Pages { rows, .. } => *rows,
            _ => 0,
        };
        Some(ExtractError::Closed {
            object: self.object(),
            reason,
            rows,
        })
    }

    /// Takes every change already reported (a burst is one restart).
    fn drain_changes(&mut self) {
        if let Some(changes) = self.changes.as_mut() {
            while let Some(Some(_)) = changes.next().now_or_never() {}
        }
    }

    fn summary(&self) -> Summary {
        match &self.state {
            State::Pages {
                table,
                index,
                rows,
                missing,
                ..
            } => Summary {
                table: table.clone(),
                rows: *rows,
                pages: *index,
                missing_rows: *missing,
                restarts: self.restarts,
            },
            _ => Summary {
                table: Arc::new(Table::of_cube(&HyperCube::default())),
                rows: 0,
                pages: 0,
                missing_rows: 0,
                restarts: self.restarts,
            },
        }
    }

    /// Ends the extraction after an error: cleans up, and the stream ends after it.
    async fn fail(&mut self, e: ExtractError) -> ExtractError {
        self.finish().await;
        e
    }

    /// Cancels what is in flight and destroys the ad hoc cube.
    async fn finish(&mut self) {
        self.state = State::Done;
        self.changes = None;
        if let Some(c) = self.cleanup.take() {
            // The session object dies with the session anyway; a failure here (the
            // connection is gone, say) leaves nothing behind worth reporting over the
            // extraction's own outcome.
            let _ = c.doc.destroy_session_object(c.id).await;
        }
    }
}

impl<K: PageKind> Drop for Driver<K> {
    fn drop(&mut self) {
        // Dropped before its end (the consumer stopped reading): destroy the ad hoc cube in
        // the background when a runtime is there to do it.
        if let Some(c) = self.cleanup.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = c.doc.destroy_session_object(c.id).await;
                });
            }
        }
    }
}

enum Next<P> {
    /// `false`: the change stream ended (the object closed).
    Change(bool),
    Page(Option<Fetched<P>>),
}

/// The hypercube of `layout` that the `HyperCubeDef` at `path` (in the properties) gives:
/// `/qHyperCubeDef` → `qHyperCube`, `/a/b/qHyperCubeDef` → `a.b.qHyperCube`.
pub fn hypercube_at(
    layout: &GenericObjectLayout,
    path: &str,
    object: &str,
) -> Result<HyperCube, ExtractError> {
    let none = || ExtractError::NoHyperCube {
        object: object.to_string(),
        path: path.to_string(),
    };
    let Some(at) = path
        .strip_suffix("Def")
        .filter(|p| p.ends_with("qHyperCube"))
    else {
        return Err(ExtractError::Invalid(format!(
            "{path} is not the path of a HyperCubeDef (it ends in /qHyperCubeDef)"
        )));
    };
    if at == "/qHyperCube" {
        return layout.hyper_cube.clone().ok_or_else(none);
    }
    let value = serde_json::to_value(layout).map_err(|e| ExtractError::Invalid(e.to_string()))?;
    let cube = value.pointer(at).ok_or_else(none)?;
    serde_json::from_value(cube.clone()).map_err(|e| ExtractError::Call {
        what: format!("decoding the hypercube at {at} of {object}"),
        source: Error::Protocol(e.to_string()),
    })
}

/// The engine's errors on the cube or its columns.
fn check_errors(cube: &HyperCube, object: &str) -> Result<(), ExtractError> {
    let rejected = |what: String, e: &NxValidationError| {
        let code = e.error_code.unwrap_or(0);
        let known = crate::ErrorCode::from_code(code);
        let mut detail: Vec<&str> = [e.context.as_deref(), e.extended_message.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if detail.is_empty() && !known.spec_message().is_empty() {
            detail.push(known.spec_message());
        }
        let mut message = String::new();
        if !known.name().is_empty() {
            message.push(' ');
            message.push_str(known.name());
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(&detail.join("; "));
        }
        ExtractError::Rejected {
            object: object.to_string(),
            what,
            code,
            message,
        }
    };
    if let Some(e) = &cube.error {
        return Err(rejected("the hypercube".into(), e));
    }
    for (i, d) in cube.dimension_info.iter().enumerate() {
        if let Some(e) = &d.error {
            let title = d.fallback_title.as_deref().unwrap_or("");
            return Err(rejected(format!("dimension {} ({title:?})", i + 1), e));
        }
    }
    for (i, m) in cube.measure_info.iter().enumerate() {
        if let Some(e) = &m.error {
            let title = m.fallback_title.as_deref().unwrap_or("");
            return Err(rejected(format!("measure {} ({title:?})", i + 1), e));
        }
    }
    Ok(())
}
