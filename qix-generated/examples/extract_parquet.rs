//! A whole table to a Parquet file: `helpers::extract` reads the pages concurrently (a
//! window of requests in flight), in order, from one consistent state of the data, and
//! the `arrow` feature turns them into record batches for the `parquet` crate.
//!
//! ```text
//! cargo run -p qix-generated --features testing,arrow --example extract_parquet            # offline
//! cargo run -p qix-generated --features testing,arrow --example extract_parquet -- \
//!     --engine ws://localhost:9076 --app /apps/sales.qvf out.parquet Region 'Sum(Sales)'  # an ad hoc cube
//! cargo run -p qix-generated --features testing,arrow --example extract_parquet -- \
//!     --engine ws://localhost:9076 --app /apps/sales.qvf out.parquet OBJECT_ID            # an object's cube
//! ```
//! Arguments: the output file (default `qix-extract.parquet` in the temporary folder),
//! then an object id, or a dimension and measures.

mod common;

use std::fs::File;
use std::path::PathBuf;

use futures_util::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use qix_generated::helpers::extract::arrow::schema;
use qix_generated::helpers::extract::{Event, Extract};
use qix_runtime::testing::{MockColumn, MockCube};
use serde_json::json;

/// Rows in the offline cube: many pages, so the window shows.
const MOCK_ROWS: u64 = 100_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = common::args();
    let out: PathBuf = args
        .rest
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("qix-extract.parquet"));
    let what: Vec<String> = args.rest.iter().skip(1).cloned().collect();
    let cube = MockCube::new(MOCK_ROWS)
        .column(MockColumn::Text {
            name: "Region".into(),
            distinct: 12,
        })
        .column(MockColumn::Date { name: "Day".into() })
        .column(MockColumn::Measure {
            name: "Sum(Sales)".into(),
        });
    let (url, mock) = common::engine(&args, |mock| {
        common::active_doc(mock);
        mock.expect("CreateSessionObject").returns(
            json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "extract-1"}}),
        );
        cube.serve(mock, 2, "extract-1");
        mock.expect("DestroySessionObject")
            .returns(json!({"qSuccess": true}));
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let doc = common::open_app(&session, &args).await?;
    let extract = match what.as_slice() {
        [object] => Extract::object(&doc.get_object(object.clone()).await?),
        [] => Extract::cube(&doc, ["Region", "Day"], ["Sum(Sales)"]),
        [dimension, measures @ ..] => Extract::cube(&doc, [dimension.clone()], measures.to_vec()),
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut batches = extract.window(8).record_batches();
    let mut writer = None;
    let mut rows = 0;
    while let Some(event) = batches.try_next().await? {
        match event {
            // The first event, and again if the data changed mid-way: (re)start the file.
            Event::Begin(table) => {
                let file = File::create(&out)?;
                writer = Some(ArrowWriter::try_new(
                    file,
                    schema(&table),
                    Some(props.clone()),
                )?);
                rows = 0;
            }
            Event::Data(batch) => {
                rows += batch.num_rows();
                if let Some(w) = writer.as_mut() {
                    w.write(&batch)?;
                }
            }
            Event::End(summary) => {
                if let Some(w) = writer.take() {
                    w.close()?;
                }
                eprintln!(
                    "{} rows of {} columns ({} restarts)",
                    summary.rows,
                    summary.table.columns.len(),
                    summary.restarts
                );
            }
        }
    }
    session.close().await;
    common::verify(mock);
    // Read it back: the rows are all there.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&out)?)?;
    let in_file = reader.metadata().file_metadata().num_rows();
    if in_file as usize != rows {
        return Err(format!(
            "{} holds {in_file} rows, {rows} were written",
            out.display()
        )
        .into());
    }
    println!("{} rows to {}", rows, out.display());
    Ok(())
}
