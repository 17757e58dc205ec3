//! Every layout and property set in `../shared/corpus/layouts/` (produced by real engines)
//! decodes into its generated type and encodes back to the same JSON.

mod common;

use qix_generated::types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use common::{layout_files, layouts_dir, same_json};

/// Decodes `value` as `T`, encodes it again and compares.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value, what: &str) -> T {
    let text = value.to_string();
    let typed: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: does not decode: {e}"));
    let back =
        serde_json::to_value(&typed).unwrap_or_else(|e| panic!("{what}: does not encode: {e}"));
    if let Err(diff) = same_json(value, &back, "$") {
        panic!("{what}: re-encoded JSON differs at {diff}");
    }
    typed
}

fn read(rel: &str) -> Value {
    let path = layouts_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The layouts folder must hold exactly the files this test knows, so a new file is not
/// silently skipped.
#[test]
fn every_corpus_file_is_covered() {
    let mut seen = Vec::new();
    let root = layouts_dir();
    for f in layout_files() {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        seen.push(rel);
    }
    seen.sort();
    let mut known: Vec<String> = KNOWN.iter().map(|(f, _)| f.to_string()).collect();
    known.sort();
    assert_eq!(
        seen,
        known,
        "files in {} and the list in this test differ",
        root.display()
    );
}

/// File → the type its content is.
const KNOWN: &[(&str, &str)] = &[
    (
        "corectl/TestBookmarkManagementCommands_bookmark_properties_bookmark-1.json",
        "GenericBookmarkProperties",
    ),
    (
        "corectl/TestDimensionManagementCommands_dimension_layout_dimension-abcs.json",
        "GenericDimensionLayout",
    ),
    (
        "corectl/TestGetFullPropertyTree_object_properties_a699ee97-152d-4470-9655-ae7c82d71491_--full.json",
        "GenericObjectEntry",
    ),
    (
        "corectl/TestMeasureManagementCommands_measure_layout_measure-sum-numbers.json",
        "GenericMeasureLayout",
    ),
    (
        "corectl/TestObjectManagementCommands_object_properties_object-using-inline.json",
        "GenericObjectProperties",
    ),
    ("halyard/hyper-cube@a56355d.json", "HyperCube"),
    ("halyard/hypercube-dual@c3b569d.json", "HyperCube"),
    ("halyard/hypercube-months@7b1d4c4.json", "HyperCube"),
    ("qlik-to-d3-render/qLayout.json", "GetLayout response"),
    (
        "qlik-to-d3-render/qlik-radar-chart-1.json",
        "GetLayout response",
    ),
];

#[test]
fn corectl_properties_and_layouts_round_trip() {
    let b: GenericBookmarkProperties = round_trip(&read(KNOWN[0].0), KNOWN[0].0);
    assert_eq!(
        b.info.as_ref().and_then(|i| i.id.as_deref()),
        Some("bookmark-1")
    );
    // qMetaDef is open-ended: its custom keys are kept.
    assert_eq!(
        b.meta_def.as_ref().and_then(|m| m.get("title")),
        Some(&Value::from("Håkan #1"))
    );

    let d: GenericDimensionLayout = round_trip(&read(KNOWN[1].0), KNOWN[1].0);
    assert_eq!(d.dim_infos.len(), 1);
    assert_eq!(d.dim_infos[0].cardinal, Some(3));

    let e: GenericObjectEntry = round_trip(&read(KNOWN[2].0), KNOWN[2].0);
    let prop = e.property.as_ref().expect("qProperty");
    assert_eq!(
        prop.info.as_ref().and_then(|i| i.r#type.as_deref()),
        Some("sheet")
    );
    // Custom properties of a sheet (`cells`, `rank: null`) survive in `extra`.
    assert!(prop.extra.get("cells").is_some_and(Value::is_array));
    assert_eq!(prop.extra.get("rank"), Some(&Value::Null));
    assert!(!e.children.is_empty());

    let m: GenericMeasureLayout = round_trip(&read(KNOWN[3].0), KNOWN[3].0);
    assert_eq!(
        m.measure.as_ref().and_then(|m| m.def.as_deref()),
        Some("Sum(numbers)")
    );

    let o: GenericObjectProperties = round_trip(&read(KNOWN[4].0), KNOWN[4].0);
    let cube = o.hyper_cube_def.as_ref().expect("qHyperCubeDef is typed");
    let other = cube.dimensions[0]
        .other_total_spec
        .as_ref()
        .expect("qOtherTotalSpec");
    // The engine wrote the long enum names here; they decode to the same variants.
    assert_eq!(other.other_mode, Some(OtherMode::OtherOff));
    assert_eq!(other.other_limit_mode, Some(OtherLimitMode::OtherGtLimit));
}

#[test]
fn halyard_hypercubes_round_trip() {
    for (file, _) in &KNOWN[5..8] {
        let cube: HyperCube = round_trip(&read(file), file);
        let size = cube.size.as_ref().expect("qSize");
        assert!(size.cx.unwrap_or(0) > 0, "{file}");
        let cells: usize = cube
            .data_pages
            .iter()
            .flat_map(|p| &p.matrix)
            .map(Vec::len)
            .sum();
        assert!(cells > 0, "{file}: no cells decoded");
    }
    // "NaN" in number fields decodes to NaN and is written back as "NaN".
    let cube: HyperCube = serde_json::from_value(read(KNOWN[5].0)).unwrap();
    let nan = cube
        .data_pages
        .iter()
        .flat_map(|p| &p.matrix)
        .flatten()
        .find(|c| c.num.is_some_and(f64::is_nan));
    let nan = nan.expect("hyper-cube@a56355d.json has a NaN qNum");
    assert_eq!(
        serde_json::to_value(nan).unwrap()["qNum"],
        Value::from("NaN")
    );
}

#[test]
fn qlik_sense_layouts_round_trip() {
    let mut layouts = Vec::new();
    for (file, _) in &KNOWN[8..] {
        let response = read(file);
        let layout: GenericObjectLayout = round_trip(&response["result"]["qLayout"], file);
        assert!(
            layout.info.as_ref().and_then(|i| i.id.as_ref()).is_some(),
            "{file}"
        );
        layouts.push(layout);
    }
    // A box plot keeps its hypercube inside a custom property: kept verbatim in `extra`.
    assert!(layouts[0].hyper_cube.is_none());
    assert!(
        layouts[0]
            .extra
            .get("boxplotDef")
            .is_some_and(|b| b.get("qHyperCube").is_some())
    );
    // A radar chart has it at the top: typed, with hundreds of rows of real cells.
    let cube = layouts[1].hyper_cube.as_ref().expect("qHyperCube is typed");
    let rows: usize = cube.data_pages.iter().map(|p| p.matrix.len()).sum();
    assert!(rows >= 100, "{rows} rows");
}

/// The cells' state, which real engines send as short titles.
#[test]
fn enum_titles_and_unknown_values() {
    let v: Value = serde_json::json!({"qText": "a", "qNum": "NaN", "qElemNumber": 1, "qState": "S", "qNewField": [1]});
    let cell: NxCell = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(cell.state, Some(StateEnumType::Selected));
    assert_eq!(cell.extra.get("qNewField"), Some(&serde_json::json!([1])));
    same_json(&v, &serde_json::to_value(&cell).unwrap(), "$").unwrap();
    let odd: StateEnumType = serde_json::from_value(Value::from("Z")).unwrap();
    assert_eq!(odd, StateEnumType::Unknown("Z".into()));
    assert_eq!(serde_json::to_value(&odd).unwrap(), Value::from("Z"));
}

/// Every file found in the layouts folder (walked, not listed) decodes into the typed
/// value its entry in [`KNOWN`] names and re-encodes to the same JSON.
#[test]
fn every_corpus_layout_decodes_and_re_encodes_losslessly() {
    let root = layouts_dir();
    let mut checked = 0;
    for f in layout_files() {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        let (_, kind) = KNOWN
            .iter()
            .find(|(k, _)| *k == rel)
            .unwrap_or_else(|| panic!("{rel}: no type known for it"));
        let value = read(&rel);
        match *kind {
            "GenericBookmarkProperties" => {
                round_trip::<GenericBookmarkProperties>(&value, &rel);
            }
            "GenericDimensionLayout" => {
                round_trip::<GenericDimensionLayout>(&value, &rel);
            }
            "GenericObjectEntry" => {
                round_trip::<GenericObjectEntry>(&value, &rel);
            }
            "GenericMeasureLayout" => {
                round_trip::<GenericMeasureLayout>(&value, &rel);
            }
            "GenericObjectProperties" => {
                round_trip::<GenericObjectProperties>(&value, &rel);
            }
            "HyperCube" => {
                round_trip::<HyperCube>(&value, &rel);
            }
            "GetLayout response" => {
                round_trip::<GenericObjectLayout>(&value["result"]["qLayout"], &rel);
            }
            other => panic!("{rel}: unknown kind {other}"),
        }
        checked += 1;
    }
    assert!(checked > 0, "no layout files in {}", root.display());
    assert_eq!(checked, KNOWN.len(), "files checked");
}
