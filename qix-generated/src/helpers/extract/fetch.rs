//! The page calls of each hypercube mode, sent without the delta protocol.
//!
//! The generated `get_hyper_cube_data` asks for delta answers (it has one out-param), which
//! pays off for a layout fetched again and again, not for pages: every page differs from
//! the one before, so a delta answer would be a patch as large as the page that the
//! connection task must apply to a cached copy of the previous one, and the cache would
//! hold a page per object. The extraction sends the same method without `delta`, through
//! the call path the generated methods use, and decodes the answer the same way.

use qix_runtime::__private::{DecodeContext, MethodInfo, Params, decode};
use qix_runtime::{CallFuture, CallOptions};

use crate::types::{NxDataPage, NxPage, NxPivotPage, NxStackPage, Rect};
use crate::{GenericObject, Result};

/// A hypercube mode's page type and the call that gets it.
pub trait PageKind: Send + 'static {
    type Page: Send + 'static;
    /// The engine method (`GetHyperCubeData`, …).
    const METHOD: &'static str;
    fn fetch(object: &GenericObject, path: &str, page: NxPage) -> CallFuture<Vec<Self::Page>>;
    /// The rows the engine returned in the page.
    fn rows(page: &Self::Page) -> u64;
}

fn call<T>(
    object: &GenericObject,
    method: &'static str,
    path: &str,
    page: NxPage,
    decode: fn(&DecodeContext<'_>, &str) -> Result<T>,
) -> CallFuture<T> {
    let mut p = Params::new();
    p.arg("qPath", path);
    p.arg("qPages", &[page]);
    object
        .object()
        .call(MethodInfo::new(method), p, CallOptions::default(), decode)
}

fn area_rows(area: Option<&Rect>) -> u64 {
    area.and_then(|a| a.height).map_or(0, |h| h.max(0) as u64)
}

/// Straight tables: `GetHyperCubeData`, rows of cells.
pub struct Data;

impl PageKind for Data {
    type Page = NxDataPage;
    const METHOD: &'static str = "GetHyperCubeData";

    fn fetch(object: &GenericObject, path: &str, page: NxPage) -> CallFuture<Vec<NxDataPage>> {
        call(object, Self::METHOD, path, page, |_, raw| {
            decode::out(raw, "qDataPages", "GenericObject.GetHyperCubeData")
        })
    }

    fn rows(page: &NxDataPage) -> u64 {
        page.matrix.len() as u64
    }
}

/// Stacked cubes: `GetHyperCubeStackData`.
pub struct Stack;

impl PageKind for Stack {
    type Page = NxStackPage;
    const METHOD: &'static str = "GetHyperCubeStackData";

    fn fetch(object: &GenericObject, path: &str, page: NxPage) -> CallFuture<Vec<NxStackPage>> {
        call(object, Self::METHOD, path, page, |_, raw| {
            decode::out(raw, "qDataPages", "GenericObject.GetHyperCubeStackData")
        })
    }

    fn rows(page: &NxStackPage) -> u64 {
        area_rows(page.area.as_ref())
    }
}

/// Pivot cubes: `GetHyperCubePivotData`.
pub struct Pivot;

impl PageKind for Pivot {
    type Page = NxPivotPage;
    const METHOD: &'static str = "GetHyperCubePivotData";

    fn fetch(object: &GenericObject, path: &str, page: NxPage) -> CallFuture<Vec<NxPivotPage>> {
        call(object, Self::METHOD, path, page, |_, raw| {
            decode::out(raw, "qDataPages", "GenericObject.GetHyperCubePivotData")
        })
    }

    fn rows(page: &NxPivotPage) -> u64 {
        area_rows(page.area.as_ref())
    }
}
