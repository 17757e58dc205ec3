//! Paging a whole hypercube: the engine returns at most 10 000 cells per page, so reading
//! a cube of `qSize` cells means many `GetHyperCube*Data` calls with computed `NxPage`s.
//!
//! ```no_run
//! # async fn run(object: qix_generated::GenericObject) -> qix_generated::Result<()> {
//! use futures_util::TryStreamExt;
//! use qix_generated::helpers::paging::{PageShape, data_pages};
//!
//! let layout = object.get_layout().await?;
//! let size = layout.hyper_cube.and_then(|c| c.size).unwrap_or_default();
//! let mut pages = data_pages(&object, "/qHyperCubeDef", &size, PageShape::rows(2, 1000));
//! while let Some(page) = pages.try_next().await? {
//!     for row in &page.matrix {
//!         println!("{:?}", row.iter().map(|c| c.text.as_deref()).collect::<Vec<_>>());
//!     }
//! }
//! # Ok(()) }
//! ```

use futures_util::stream::{self, Stream, StreamExt};

use crate::types::{NxDataPage, NxPage, NxPivotPage, NxStackPage, Size};
use crate::{Error, GenericObject, Result};

/// The engine's limit on cells per page (`width × height`).
pub const MAX_CELLS_PER_PAGE: i64 = 10_000;

/// The size of each page requested: `width` columns by `height` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageShape {
    pub width: i32,
    pub height: i32,
}

impl PageShape {
    /// Pages of `height` rows, `width` columns each (usually the cube's column count).
    pub fn rows(width: i32, height: i32) -> Self {
        PageShape { width, height }
    }

    /// The tallest page of `width` columns within the engine's 10 000-cell limit.
    pub fn full_width(width: i32) -> Self {
        let width = width.max(1);
        PageShape {
            width,
            height: (MAX_CELLS_PER_PAGE / i64::from(width)).max(1) as i32,
        }
    }

    fn check(self) -> Result<()> {
        let cells = i64::from(self.width) * i64::from(self.height);
        if self.width < 1 || self.height < 1 || cells > MAX_CELLS_PER_PAGE {
            return Err(Error::Encode(format!(
                "page shape {}×{} must be at least 1×1 and at most {MAX_CELLS_PER_PAGE} cells",
                self.width, self.height
            )));
        }
        Ok(())
    }
}

/// The pages that cover a cube of `size` (`qcx` columns × `qcy` rows), row band by row
/// band, left to right within a band. An empty cube has no pages.
pub fn page_plan(size: &Size, shape: PageShape) -> Result<Vec<NxPage>> {
    shape.check()?;
    let cx = size.cx.unwrap_or(0).max(0);
    let cy = size.cy.unwrap_or(0).max(0);
    let mut pages = Vec::new();
    let mut top = 0;
    while top < cy {
        let mut left = 0;
        while left < cx {
            pages.push(NxPage {
                left: Some(left),
                top: Some(top),
                width: Some(shape.width.min(cx - left)),
                height: Some(shape.height.min(cy - top)),
                ..Default::default()
            });
            left += shape.width;
        }
        top += shape.height;
    }
    Ok(pages)
}

/// Pages of any mode: one call per planned page, in order; the first error ends the stream.
fn pages_of<P, F, Fut>(size: &Size, shape: PageShape, fetch: F) -> Pages<P>
where
    P: Send + 'static,
    F: Fn(NxPage) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<P>>> + Send + 'static,
{
    let plan = page_plan(size, shape);
    let (plan, error) = match plan {
        Ok(p) => (p, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let pages = stream::iter(plan)
        .then(fetch)
        .map(|r: Result<Vec<P>>| match r {
            Ok(v) => stream::iter(v.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter(std::iter::once(Err(e))).right_stream(),
        })
        .flatten();
    let failed = AfterError::new(pages);
    stream::iter(error.map(Err)).chain(failed).boxed()
}

/// The pages of a cube, in order; the first error (a bad page shape, a failed call) is
/// the last item.
pub type Pages<P> = std::pin::Pin<Box<dyn Stream<Item = Result<P>> + Send>>;

/// Ends a stream after its first error (a page after a failed one would be out of order).
struct AfterError<S> {
    inner: Option<std::pin::Pin<Box<S>>>,
}

impl<S> AfterError<S> {
    fn new(inner: S) -> Self {
        AfterError {
            inner: Some(Box::pin(inner)),
        }
    }
}

impl<S, T> Stream for AfterError<S>
where
    S: Stream<Item = Result<T>>,
{
    type Item = Result<T>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let item = std::task::ready!(inner.as_mut().poll_next(cx));
        if matches!(item, Some(Err(_)) | None) {
            self.inner = None;
        }
        std::task::Poll::Ready(item)
    }
}

/// Every data page (`GetHyperCubeData`) of the cube at `path` (`/qHyperCubeDef`) whose
/// layout gave `size`.
pub fn data_pages(
    object: &GenericObject,
    path: impl Into<String>,
    size: &Size,
    shape: PageShape,
) -> Pages<NxDataPage> {
    let (object, path) = (object.clone(), path.into());
    pages_of(size, shape, move |page| {
        object
            .get_hyper_cube_data(path.clone(), vec![page])
            .into_future()
    })
}

/// Every stacked page (`GetHyperCubeStackData`, cubes in stacked mode).
pub fn stack_pages(
    object: &GenericObject,
    path: impl Into<String>,
    size: &Size,
    shape: PageShape,
) -> Pages<NxStackPage> {
    let (object, path) = (object.clone(), path.into());
    pages_of(size, shape, move |page| {
        object
            .get_hyper_cube_stack_data(path.clone(), vec![page])
            .into_future()
    })
}

/// Every pivot page (`GetHyperCubePivotData`, cubes in pivot mode).
pub fn pivot_pages(
    object: &GenericObject,
    path: impl Into<String>,
    size: &Size,
    shape: PageShape,
) -> Pages<NxPivotPage> {
    let (object, path) = (object.clone(), path.into());
    pages_of(size, shape, move |page| {
        object
            .get_hyper_cube_pivot_data(path.clone(), vec![page])
            .into_future()
    })
}
