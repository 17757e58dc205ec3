//! A hypercube paged to CSV: every row of a (possibly large) cube, page by page, with
//! `qix_generated::helpers::paging`.
//!
//! ```text
//! cargo run -p qix-generated --features testing --example hypercube_csv > out.csv
//! cargo run -p qix-generated --features testing --example hypercube_csv -- --engine ws://localhost:9076 --app /apps/sales.qvf Region 'Sum(Sales)'
//! ```
//! Arguments: a dimension field, then a measure expression.

mod common;

use std::io::Write;

use futures_util::TryStreamExt;
use qix_generated::helpers::paging::{PageShape, data_pages};
use serde_json::json;

/// Rows in the offline cube: more than one page, so paging shows.
const MOCK_ROWS: i64 = 2500;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = common::args();
    let dimension = args.rest.first().cloned().unwrap_or("Region".into());
    let measure = args.rest.get(1).cloned().unwrap_or("Sum(Sales)".into());
    let (url, mock) = common::engine(&args, |mock| {
        common::active_doc(mock);
        mock.expect("CreateSessionObject")
            .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}));
        mock.expect("GetLayout").on_handle(2).returns(json!({"qLayout": {
            "qInfo": {"qId": "cube", "qType": "csv-cube"},
            "qHyperCube": {"qSize": {"qcx": 2, "qcy": MOCK_ROWS}}
        }}));
        mock.expect("GetHyperCubeData").on_handle(2).respond_with(|req| {
            let page = &req.param("qPages").unwrap()[0];
            let (top, height) = (page["qTop"].as_i64().unwrap(), page["qHeight"].as_i64().unwrap());
            let rows: Vec<_> = (top..top + height)
                .map(|i| json!([{"qText": format!("Region \"{i}\""), "qNum": "NaN"}, {"qText": format!("{}", i * 10), "qNum": i * 10}]))
                .collect();
            qix_runtime::testing::Reply::result(json!({"qDataPages": [{"qArea": page, "qMatrix": rows}]}))
        });
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let doc = common::open_app(&session, &args).await?;
    let cube = doc
        .create_session_object(common::cube::straight_table(
            "csv-cube",
            &dimension,
            [measure.clone()],
        ))
        .await?;
    let size = cube
        .get_layout()
        .await?
        .hyper_cube
        .and_then(|c| c.size)
        .unwrap_or_default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{},{}", csv(&dimension), csv(&measure))?;
    let mut pages = data_pages(&cube, "/qHyperCubeDef", &size, PageShape::full_width(2));
    let mut rows = 0;
    while let Some(page) = pages.try_next().await? {
        for row in &page.matrix {
            let cells: Vec<String> = row
                .iter()
                .map(|c| csv(c.text.as_deref().unwrap_or("")))
                .collect();
            writeln!(out, "{}", cells.join(","))?;
            rows += 1;
        }
    }
    out.flush()?;
    eprintln!("{rows} rows of {} written", size.cy.unwrap_or(0));
    session.close().await;
    common::verify(mock);
    Ok(())
}

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
