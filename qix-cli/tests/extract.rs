//! `qix extract` (the real binary) against a `MockEngine` serving a `MockCube`: each output
//! format read back with the crates that wrote it gives exactly the cells the mock served,
//! numbers bit for bit; CSV on stdout; ad hoc cubes; a restart when the data changes; and
//! bad input (an unknown object, a measure the engine rejects, a failed page) exits 1 with
//! the engine's message and leaves no partial file unless `--keep-partial`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, RecordBatch};
use qix_generated::catalog;
use qix_runtime::testing::{MockColumn, MockCube, MockEngine, Reply};
use serde_json::json;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `qix --engine <mock> args…`, the environment's connection variables removed.
async fn qix(mock: &MockEngine, args: &[&str]) -> Out {
    let url = mock.url();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"))
            .args(["--engine", url.as_str()])
            .args(args)
            .env_remove("QIX_ENGINE")
            .env_remove("QIX_APP")
            .env_remove("QLIK_API_KEY")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("qix did not finish within 60 s")
    .expect("qix runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn ok(mock: &MockEngine, args: &[&str]) -> Out {
    let out = qix(mock, args).await;
    assert_eq!(out.code, Some(0), "qix {args:?} failed: {}", out.stderr);
    out
}

/// Fails with exit status 1 and one line on stderr (after any note about a kept file).
async fn fails(mock: &MockEngine, args: &[&str]) -> String {
    let out = qix(mock, args).await;
    assert_eq!(
        out.code,
        Some(1),
        "qix {args:?} should fail: {}",
        out.stderr
    );
    let last = out.stderr.lines().last().unwrap_or("").to_string();
    assert!(last.starts_with("qix: "), "{:?}", out.stderr);
    out.stderr
}

/// A fresh, empty folder for one test's files.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qix-extract-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn cube(rows: u64) -> MockCube {
    MockCube::new(rows)
        .column(MockColumn::Text {
            name: "Region, \"quoted\"".into(),
            distinct: 30,
        })
        .column(MockColumn::Date { name: "Day".into() })
        .column(MockColumn::Measure {
            name: "Sales".into(),
        })
        .column(MockColumn::Measure {
            name: "Cost".into(),
        })
}

/// The header of the files of `cube()`: per dimension its text (and number when it has
/// one), per measure its number.
const HEADER: [&str; 5] = ["Region, \"quoted\"", "Day", "Day (num)", "Sales", "Cost"];

/// A mock whose active doc (1) has the object "cube" (2) serving `cube`.
async fn serve(cube: &MockCube) -> MockEngine {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc").on_handle(-1).returns(
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/sales.qvf"}}),
    );
    mock.expect("GetObject")
        .on_handle(1)
        .with_params(json!({"qId": "cube"}))
        .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}))
        .optional();
    cube.serve(&mock, 2, "cube");
    mock
}

/// The values a row of `cube` has in the files, field by field: text, or number bits.
fn expected(cube: &MockCube, generation: u32, row: u64) -> Vec<Value> {
    let c0 = cube.cell(generation, row, 0);
    let c1 = cube.cell(generation, row, 1);
    let num = |n: f64| (!n.is_nan()).then(|| n.to_bits());
    vec![
        Value::Text(c0.text),
        Value::Text(c1.text),
        Value::Num(num(c1.num)),
        Value::Num(num(cube.cell(generation, row, 2).num)),
        Value::Num(num(cube.cell(generation, row, 3).num)),
    ]
}

#[derive(Debug, PartialEq)]
enum Value {
    Text(Option<String>),
    Num(Option<u64>),
}

/// The rows of a CSV file as values (empty fields are nulls).
fn read_csv(bytes: &[u8]) -> Vec<Vec<Value>> {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, HEADER);
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            rec.iter()
                .enumerate()
                .map(|(i, f)| match (i, f) {
                    (0 | 1, "") => Value::Text(None),
                    (0 | 1, t) => Value::Text(Some(t.to_string())),
                    (_, "") => Value::Num(None),
                    (_, n) => Value::Num(Some(n.parse::<f64>().unwrap().to_bits())),
                })
                .collect()
        })
        .collect()
}

/// The rows of record batches as values.
fn batch_rows(batches: &[RecordBatch]) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for b in batches {
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, HEADER);
        for r in 0..b.num_rows() {
            let mut row = Vec::new();
            for i in 0..b.num_columns() {
                let col = b.column(i);
                row.push(if i < 2 {
                    let d = col.as_dictionary::<Int32Type>();
                    let values = d.values().as_string::<i32>();
                    Value::Text(d.key(r).map(|k| values.value(k).to_string()))
                } else {
                    let n = col.as_primitive::<Float64Type>();
                    Value::Num((!n.is_null(r)).then(|| n.value(r).to_bits()))
                });
            }
            out.push(row);
        }
    }
    out
}

fn assert_rows(cube: &MockCube, generation: u32, rows: &[Vec<Value>]) {
    assert_eq!(rows.len() as u64, cube.rows());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row, &expected(cube, generation, i as u64), "row {i}");
    }
}

#[tokio::test]
async fn each_format_reads_back_to_exactly_the_served_cells() {
    let cube = cube(12_345);
    let mock = serve(&cube).await;
    let dir = folder("formats");

    let csv_path = dir.join("out.csv");
    let out = ok(
        &mock,
        &["extract", "cube", "-o", csv_path.to_str().unwrap()],
    )
    .await;
    assert!(
        out.stderr.contains("12345 rows × 4 columns to"),
        "{}",
        out.stderr
    );
    assert_rows(&cube, 0, &read_csv(&std::fs::read(&csv_path).unwrap()));

    let pq_path = dir.join("out.parquet");
    ok(
        &mock,
        &[
            "extract",
            "cube",
            "-o",
            pq_path.to_str().unwrap(),
            "--row-group",
            "5000",
            "--window",
            "3",
        ],
    )
    .await;
    let file = std::fs::File::open(&pq_path).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let meta = builder.metadata().clone();
    let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [5000, 5000, 2345]);
    assert_eq!(
        meta.row_group(0).column(3).compression(),
        parquet::basic::Compression::SNAPPY
    );
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    assert_eq!(
        batches[0]
            .schema()
            .field(1)
            .metadata()
            .get("qix.kind")
            .map(String::as_str),
        Some("date")
    );
    assert_rows(&cube, 0, &batch_rows(&batches));

    let arrow_path = dir.join("out.arrow");
    ok(
        &mock,
        &["extract", "cube", "-o", arrow_path.to_str().unwrap()],
    )
    .await;
    let file = std::fs::File::open(&arrow_path).unwrap();
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert!(batches.len() > 1, "one batch per page");
    assert_rows(&cube, 0, &batch_rows(&batches));

    // Only the three files: no temporary file left.
    assert_eq!(files_in(&dir), ["out.arrow", "out.csv", "out.parquet"]);
    // --format wins over the name; --limit reads the top rows.
    let odd = dir.join("out.data");
    ok(
        &mock,
        &[
            "extract",
            "cube",
            "-o",
            odd.to_str().unwrap(),
            "--format",
            "csv",
            "--limit",
            "10",
        ],
    )
    .await;
    assert_eq!(read_csv(&std::fs::read(&odd).unwrap()).len(), 10);
}

#[tokio::test]
async fn csv_streams_to_stdout() {
    let cube = cube(3_000);
    let mock = serve(&cube).await;
    let out = ok(&mock, &["extract", "cube", "-o", "-"]).await;
    assert!(
        out.stdout
            .starts_with("\"Region, \"\"quoted\"\"\",Day,Day (num),Sales,Cost\n")
    );
    assert_rows(&cube, 0, &read_csv(out.stdout.as_bytes()));
    let err = fails(
        &mock,
        &["extract", "cube", "-o", "-", "--format", "parquet"],
    )
    .await;
    assert!(err.contains("only CSV goes to stdout"), "{err}");
}

#[tokio::test]
async fn an_ad_hoc_cube_of_dimensions_and_measures() {
    let cube = cube(2_000);
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc").on_handle(-1).returns(
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/sales.qvf"}}),
    );
    mock.expect("CreateSessionObject")
        .on_handle(1)
        .respond_with(|req| {
            let def = &req.param("qProp").unwrap()["qHyperCubeDef"];
            assert_eq!(def["qDimensions"][1]["qDef"]["qFieldDefs"], json!(["Day"]));
            assert_eq!(def["qMeasures"][0]["qDef"]["qDef"], json!("Sum(Sales)"));
            Reply::result(
                json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "adhoc"}}),
            )
        })
        .times(1);
    cube.serve(&mock, 2, "adhoc");
    mock.expect("DestroySessionObject")
        .with_params(json!({"qId": "adhoc"}))
        .returns(json!({"qSuccess": true}))
        .times(1);
    let out = ok(
        &mock,
        &[
            "extract",
            "-d",
            "Region",
            "-d",
            "Day",
            "-m",
            "Sum(Sales)",
            "-m",
            "Sum(Cost)",
            "-o",
            "-",
        ],
    )
    .await;
    assert_rows(&cube, 0, &read_csv(out.stdout.as_bytes()));
    mock.verify().unwrap();
}

#[tokio::test]
async fn a_change_during_the_run_starts_the_file_over() {
    let cube = cube(20_000);
    cube.change_at(7_500);
    let mock = serve(&cube).await;
    let dir = folder("restart");
    let path = dir.join("out.csv");
    let out = ok(
        &mock,
        &[
            "extract",
            "cube",
            "-o",
            path.to_str().unwrap(),
            "--window",
            "2",
        ],
    )
    .await;
    assert!(
        out.stderr.contains("started over 1 time(s)"),
        "{}",
        out.stderr
    );
    assert_rows(&cube, 1, &read_csv(&std::fs::read(&path).unwrap()));

    cube.change_at(2_500);
    let err = fails(
        &mock,
        &[
            "extract",
            "cube",
            "-o",
            dir.join("two.csv").to_str().unwrap(),
            "--fail-on-change",
        ],
    )
    .await;
    assert!(err.contains("changed during the extraction"), "{err}");
    assert_eq!(files_in(&dir), ["out.csv"]);
}

#[tokio::test]
async fn an_unknown_object_fails_with_the_engine_message_and_no_file() {
    let mock = serve(&cube(10)).await;
    mock.expect("GetObject")
        .on_handle(1)
        .with_params(json!({"qId": "nope"}))
        .returns_error(2, "nope", "Object not found");
    let dir = folder("unknown");
    let err = fails(
        &mock,
        &[
            "extract",
            "nope",
            "-o",
            dir.join("x.parquet").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        err,
        "qix: Doc.GetObject failed: engine error 2: Object not found (nope)\n"
    );
    assert!(files_in(&dir).is_empty());
}

#[tokio::test]
async fn a_measure_the_engine_rejects_fails_with_its_message_and_no_file() {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc").returns(
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/sales.qvf"}}),
    );
    mock.expect("CreateSessionObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "adhoc"}}),
    );
    mock.expect("GetLayout").on_handle(2).returns(json!({"qLayout": {"qHyperCube": {
        "qSize": {"qcx": 2, "qcy": 100},
        "qDimensionInfo": [{"qFallbackTitle": "Region", "qTags": ["$text"]}],
        "qMeasureInfo": [{"qFallbackTitle": "Sum(Sales", "qError": {"qErrorCode": 7001, "qContext": "Error in expression: ')' expected"}}]
    }}}));
    mock.expect("DestroySessionObject")
        .returns(json!({"qSuccess": true}))
        .times(1);
    let dir = folder("rejected");
    let err = fails(
        &mock,
        &[
            "extract",
            "-d",
            "Region",
            "-m",
            "Sum(Sales",
            "-o",
            dir.join("x.csv").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        err,
        "qix: the engine rejected measure 1 (\"Sum(Sales\") of object \"adhoc\": error 7001 \
         LOCERR_CALC_NOT_IN_LIB: Error in expression: ')' expected\n"
    );
    assert!(files_in(&dir).is_empty());
    mock.verify().unwrap();
}

#[tokio::test]
async fn a_failed_page_leaves_no_partial_file_unless_asked() {
    let cube = cube(10_000);
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc").returns(
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/sales.qvf"}}),
    );
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    let c = cube.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |_| Reply::result(c.layout("cube")));
    let c = cube.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(move |req| {
            if req.param("qPages").unwrap()[0]["qTop"] == json!(5_000) {
                Reply::error(7004, "", "Calculation timed out")
            } else {
                c.answer(req, 2)
            }
        });
    let dir = folder("partial");
    let path = dir.join("out.csv");
    // An older file of the name survives a failed run.
    std::fs::write(&path, "old\n").unwrap();
    let args = [
        "extract",
        "cube",
        "-o",
        path.to_str().unwrap(),
        "--window",
        "1",
    ];
    let err = fails(&mock, &args).await;
    assert!(
        err.contains("GetHyperCubeData for rows 5000..7500 of /qHyperCubeDef on object \"cube\": GenericObject.GetHyperCubeData failed: engine error 7004"),
        "{err}"
    );
    assert_eq!(files_in(&dir), ["out.csv"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");

    let mut keep = args.to_vec();
    keep.push("--keep-partial");
    let err = fails(&mock, &keep).await;
    assert!(err.contains("the partial output is kept in"), "{err}");
    let rows = read_csv(&std::fs::read(&path).unwrap());
    assert_eq!(rows.len(), 5_000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row, &expected(&cube, 0, i as u64));
    }
    assert_eq!(files_in(&dir), ["out.csv"]);
}

#[tokio::test]
async fn bad_options_are_named() {
    let mock = serve(&cube(10)).await;
    let err = fails(&mock, &["extract", "cube", "-o", "x.xlsx"]).await;
    assert!(
        err.contains("cannot tell the format from the name"),
        "{err}"
    );
    let out = qix(&mock, &["extract", "-o", "x.csv"]).await;
    assert_eq!(out.code, Some(2), "clap usage error: {}", out.stderr);
    let out = qix(&mock, &["extract", "cube", "-d", "Region", "-o", "x.csv"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}
