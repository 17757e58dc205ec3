//! `diff`: one fixture pair per change kind (a hand-written base spec and a variant with one
//! change), snapshots of real consecutive versions, and properties over the whole history.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use qix_codegen::Settings;
use qix_codegen::diff::{self, Change, DiffOptions, Kind, Report};
use qix_codegen::history;
use qix_codegen::ir::Api;

// ---- helpers -------------------------------------------------------------------------------

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff")
}

fn fixture(name: &str) -> Api {
    let path = fixture_dir().join(format!("{name}.openrpc"));
    history::load_api(&path, &Settings::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn with_docs(docs: bool) -> DiffOptions {
    DiffOptions { docs }
}

/// Every spec version in the shared folder, loaded once per test run, oldest first.
fn real_history() -> &'static [Api] {
    static HISTORY: OnceLock<Vec<Api>> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let dir = match std::env::var_os("QIX_SCHEMAS_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/openrpc"),
        };
        assert!(
            dir.is_dir(),
            "the real specs are missing: {} is not a folder (set QIX_SCHEMAS_DIR to a folder of <version>.json specs)",
            dir.display()
        );
        let started = Instant::now();
        let apis = history::load_history(&dir, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("loaded {} specs from {} in {:.2?}", apis.len(), dir.display(), started.elapsed());
        apis
    })
}

fn real(version: &str) -> &'static Api {
    real_history()
        .iter()
        .find(|a| a.version == version)
        .unwrap_or_else(|| panic!("no spec {version} in the real history"))
}

/// Checks that `back` (diff(b, a)) mirrors `fwd` (diff(a, b)): same count, each kind swapped
/// for its mirror at the same path (a renamed param is found under its other name).
fn assert_mirror(fwd: &[Change], back: &[Change], what: &str) {
    assert_eq!(
        fwd.len(),
        back.len(),
        "{what}: diff(A,B) and diff(B,A) differ in length"
    );
    let key = |c: &Change, kind: Kind, swap: bool| -> (Kind, String) {
        if kind == Kind::ParamRenamed {
            let (o, n) = (
                c.old.clone().unwrap_or_default(),
                c.new.clone().unwrap_or_default(),
            );
            let (o, n) = if swap { (n, o) } else { (o, n) };
            (
                kind,
                format!("{}:{o}->{n}", c.path.split('(').next().unwrap_or("")),
            )
        } else {
            (kind, c.path.clone())
        }
    };
    let mut a: Vec<_> = fwd.iter().map(|c| key(c, c.kind.mirror(), true)).collect();
    let mut b: Vec<_> = back.iter().map(|c| key(c, c.kind, false)).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "{what}: diff(B,A) does not mirror diff(A,B)");
}

fn assert_unique_ids(changes: &[Change], what: &str) {
    let mut seen = BTreeSet::new();
    for c in changes {
        assert!(seen.insert(&c.id), "{what}: id {} is used twice", c.id);
    }
}

// ---- fixture pairs -------------------------------------------------------------------------

const C: &str = "compatible";
const D: &str = "dangerous";
const B: &str = "breaking";

/// (old fixture, new fixture, list doc changes, expected (kind, path, wire, crate) in order).
type Case = (
    &'static str,
    &'static str,
    bool,
    &'static [(&'static str, &'static str, &'static str, &'static str)],
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("base", "base", true, &[]),
    ("base", "noop-reordered", true, &[]),
    ("base", "method-added", false, &[("method.added", "Doc.ClearAll", C, C)]),
    ("method-added", "base", false, &[("method.removed", "Doc.ClearAll", B, B)]),
    ("base", "method-removed", false, &[("method.removed", "Global.EngineVersion", B, B)]),
    ("base", "method-stability-lowered", false, &[("method.stability_changed", "GenericObject.GetLayout", D, C)]),
    ("method-stability-lowered", "base", false, &[("method.stability_changed", "GenericObject.GetLayout", C, C)]),
    ("base", "method-stability-dropped", true, &[]),
    ("base", "method-deprecated", false, &[("method.deprecated", "Doc.GetTableData", C, C)]),
    ("method-deprecated", "base", false, &[("method.undeprecated", "Doc.GetTableData", C, C)]),
    ("base", "method-access-control", false, &[("method.access_control_changed", "Doc.CreateObject", D, C)]),
    ("method-access-control", "base", false, &[("method.access_control_changed", "Doc.CreateObject", C, C)]),
    ("base", "param-added-required", false, &[("param.added", "GenericObject.GetHyperCubeData(qNoCache)", B, B)]),
    ("base", "param-added-optional", false, &[("param.added", "Doc.GetTableData(qStateName)", C, C)]),
    ("base", "param-removed", false, &[("param.removed", "Doc.GetTableData(qTableName)", D, B)]),
    ("base", "param-renamed-required", false, &[("param.renamed", "Doc.GetObject(qObjectId)", B, C)]),
    ("base", "param-renamed-optional", false, &[("param.renamed", "Doc.GetTableData(qTable)", B, B)]),
    ("base", "param-reordered-required", false, &[("param.reordered", "Doc.GetTableData", C, B)]),
    ("base", "param-reordered-optional", false, &[("param.reordered", "GenericObject.SortBy", C, C)]),
    ("base", "param-type-changed", false, &[("param.type_changed", "Doc.GetTableData(qRows)", B, B)]),
    ("base", "param-required-changed", false, &[("param.required_changed", "Doc.GetTableData(qSyntheticMode)", C, B)]),
    ("param-required-changed", "base", false, &[("param.required_changed", "Doc.GetTableData(qSyntheticMode)", B, B)]),
    ("base", "param-default-changed", false, &[("param.default_changed", "GenericObject.SortBy(qReverse)", D, C)]),
    ("base", "result-added-shape-changed", false, &[("result.added", "Doc.GetObject -> qInfo", C, B)]),
    ("base", "result-added-shape-kept", false, &[("result.added", "Doc.CreateObject -> qWarning", C, C)]),
    ("base", "result-removed-many", false, &[("result.removed", "Doc.CreateObject -> qInfo", D, B)]),
    // The sole out-param went, so there is none to ask the delta protocol for.
    ("base", "result-removed-sole", false, &[
        ("method.delta_changed", "Global.IsDesktopMode", C, C),
        ("result.removed", "Global.IsDesktopMode -> qReturn", B, B),
    ]),
    // A handle result became a value: the method opens nothing.
    ("base", "method-opens-changed", false, &[
        ("method.opens_changed", "Doc.CreateObject", B, B),
        ("result.changed", "Doc.CreateObject -> qReturn", B, B),
    ]),
    ("base", "result-changed", false, &[("result.changed", "GenericObject.GetHyperCubeData -> qDataPages", B, B)]),
    // The properties of a schema that comes or goes are part of its one record.
    ("base", "schema-added", true, &[("schema.added", "NxFieldDescription", C, C)]),
    ("schema-added", "base", true, &[("schema.removed", "NxFieldDescription", C, B)]),
    ("base", "schema-kind-changed", false, &[("schema.kind_changed", "Blob", B, B)]),
    ("base", "schema-stability-lowered", false, &[("schema.stability_changed", "NxDataPage", D, C)]),
    ("base", "schema-deprecated", false, &[("schema.deprecated", "NxEngineVersion", C, C)]),
    ("schema-deprecated", "base", false, &[("schema.undeprecated", "NxEngineVersion", C, C)]),
    ("base", "property-added", false, &[("property.added", "NxPage.qDepth", C, C)]),
    ("base", "property-removed-request", false, &[("property.removed", "NxSortCriteria.qSortByNumeric", D, B)]),
    ("base", "property-removed-response", false, &[("property.removed", "NxCell.qNum", C, B)]),
    ("property-added", "base", false, &[("property.removed", "NxPage.qDepth", D, B)]),
    ("base", "property-type-changed", false, &[("property.type_changed", "NxCell.qElemNumber", B, B)]),
    ("base", "property-default-changed", false, &[("property.default_changed", "NxSortCriteria.qSortByNumeric", D, C)]),
    ("base", "property-boxing-changed", false, &[
        ("property.boxing_changed", "GenericObjectLayout.qInfo", C, B),
        ("property.added", "NxInfo.qLayout", C, C),
    ]),
    ("base", "property-stability-lowered", false, &[("property.stability_changed", "NxCell.qNum", D, C)]),
    ("base", "property-deprecated", false, &[("property.deprecated", "NxPage.qWidth", C, C)]),
    ("property-deprecated", "base", false, &[("property.undeprecated", "NxPage.qWidth", C, C)]),
    ("base", "enum-value-added-response", false, &[("enum.value_added", "NxDimCellType::T", D, C)]),
    ("enum-value-added-response", "base", false, &[("enum.value_removed", "NxDimCellType::T", C, B)]),
    ("base", "enum-value-added-request", false, &[("enum.value_added", "NxSortDirection::L", C, C)]),
    ("enum-value-added-request", "base", false, &[("enum.value_removed", "NxSortDirection::L", B, B)]),
    // Matched by title: swapped constants are two constant changes, not values added/removed.
    ("base", "enum-constant-changed", false, &[
        ("enum.constant_changed", "NxDimCellType::E", C, C),
        ("enum.constant_changed", "NxDimCellType::N", C, C),
    ]),
    ("base", "enum-long-name-changed", false, &[("enum.long_name_changed", "NxDimCellType::N", C, B)]),
    ("base", "enum-variant-renamed", false, &[
        ("enum.variant_renamed", "NxDimCellType::E", C, B),
        ("enum.variant_renamed", "NxDimCellType::N", C, B),
        ("enum.variant_renamed", "NxDimCellType::V", C, B),
        ("enum.value_added", "NxDimCellType::X", D, C),
    ]),
    ("base", "error-added", false, &[("error.added", "LOCERR_APP_ALREADY_EXISTS", C, C)]),
    ("error-added", "base", false, &[("error.removed", "LOCERR_APP_ALREADY_EXISTS", C, B)]),
    ("base", "error-renumbered", false, &[("error.renumbered", "LOCERR_APP_NOT_FOUND", B, C)]),
    // Description edits are listed only on request; a whitespace-only edit is never a change.
    ("base", "doc-changed", false, &[]),
    ("base", "doc-changed", true, &[
        ("doc.changed", "Doc.GetObject", C, C),
        ("doc.changed", "NxPage.qLeft", C, C),
        ("doc.changed", "LOCERR_APP_NOT_FOUND", C, C),
    ]),
];

#[test]
fn each_fixture_pair_reports_exactly_its_change() {
    let mut failures = Vec::new();
    for &(old, new, docs, expected) in CASES {
        let changes = diff::diff(&fixture(old), &fixture(new), &with_docs(docs));
        let got: Vec<(&str, &str, &str, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c.kind.as_str(),
                    c.path.as_str(),
                    c.wire.as_str(),
                    c.krate.as_str(),
                )
            })
            .collect();
        if got != expected {
            failures.push(format!(
                "{old} → {new}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_variant_mirrors_and_has_unique_ids() {
    let base = fixture("base");
    for name in variant_names() {
        let v = fixture(&name);
        let fwd = diff::diff(&base, &v, &with_docs(true));
        let back = diff::diff(&v, &base, &with_docs(true));
        assert_mirror(&fwd, &back, &name);
        assert_unique_ids(&fwd, &name);
    }
}

fn variant_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".openrpc").map(str::to_string))
        .filter(|n| n != "base")
        .collect();
    names.sort();
    names
}

#[test]
fn every_fixture_is_used_and_every_kind_is_covered() {
    let used: BTreeSet<&str> = CASES.iter().flat_map(|c| [c.0, c.1]).collect();
    for name in variant_names() {
        assert!(
            used.contains(name.as_str()),
            "fixture {name}.openrpc has no case in CASES"
        );
    }
    let mut covered: BTreeSet<&str> = CASES.iter().flat_map(|c| c.3.iter().map(|e| e.0)).collect();
    // Facts from the companion map and the secret list: one spec, other settings.
    covered.extend(SETTINGS_KINDS);
    for k in Kind::ALL {
        assert!(covered.contains(k.as_str()), "no fixture case reports {k}");
    }
}

#[test]
fn messages_say_what_changed() {
    let message = |new: &str| -> String {
        let changes = diff::diff(&fixture("base"), &fixture(new), &with_docs(true));
        changes
            .iter()
            .map(|c| c.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let m = message("param-added-required");
    assert!(
        m.contains("required") && m.contains("qNoCache: boolean") && m.contains("position 2"),
        "{m}"
    );
    let m = message("param-added-optional");
    assert!(m.contains("optional") && m.contains("position 4"), "{m}");
    let m = message("param-renamed-required");
    assert!(m.contains("`qId` → `qObjectId`"), "{m}");
    let m = message("param-reordered-required");
    assert!(m.contains("(qOffset, qRows, qSyntheticMode, qTableName) → (qRows, qOffset, qSyntheticMode, qTableName)"), "{m}");
    let m = message("method-stability-lowered");
    assert!(
        m.contains("locked (document default) → experimental"),
        "{m}"
    );
    let m = message("error-renumbered");
    assert!(m.contains("1003 → 1004"), "{m}");
    let m = message("enum-variant-renamed");
    assert!(m.contains("`Value` → `DimCellValue`"), "{m}");
    let m = message("enum-long-name-changed");
    assert!(
        m.contains("NX_DIM_CELL_NORMAL → NX_DIM_CELL_REGULAR")
            && m.contains("`Normal` → `Regular`"),
        "{m}"
    );
}

#[test]
fn renderers_group_and_count() {
    let base = fixture("base");
    let new = fixture("param-added-required");
    let mut changes = diff::diff(&base, &new, &with_docs(true));
    changes.extend(diff::diff(&base, &fixture("doc-changed"), &with_docs(true)));
    changes.extend(diff::diff(
        &base,
        &fixture("enum-value-added-response"),
        &with_docs(true),
    ));
    changes.extend(diff::diff(&base, &fixture("error-added"), &with_docs(true)));
    changes.extend(diff::diff(
        &base,
        &fixture("schema-added"),
        &with_docs(true),
    ));
    let report = Report {
        old_version: "1.0.0",
        new_version: "1.0.1",
        changes: &changes,
        docs: false,
    };

    let text = diff::render::text(&report);
    assert!(
        text.starts_with(
            "QIX API 1.0.0 → 1.0.1: 4 changes: 1 wire-breaking, 1 crate-breaking, 1 dangerous"
        ),
        "{text}"
    );
    assert!(
        text.contains("3 description-only changes not listed"),
        "{text}"
    );
    assert!(!text.contains("doc.changed"), "{text}");
    let worst = text
        .lines()
        .find(|l| l.starts_with("breaking"))
        .unwrap_or_default();
    assert!(
        worst.contains("GenericObject.GetHyperCubeData(qNoCache)"),
        "{text}"
    );

    let md = diff::render::markdown(&report);
    let at = |s: &str| {
        md.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing from:\n{md}"))
    };
    assert!(
        at("## Methods") < at("### GenericObject")
            && at("### GenericObject") < at("#### `GenericObject.GetHyperCubeData`")
    );
    assert!(
        at("#### `GenericObject.GetHyperCubeData`") < at("## Types")
            && at("## Types") < at("### `NxFieldDescription`")
    );
    assert!(at("## Types") < at("## Enums") && at("## Enums") < at("### `NxDimCellType`"));
    assert!(
        at("## Enums") < at("## Error codes")
            && at("## Error codes") < at("LOCERR_APP_ALREADY_EXISTS")
    );
    assert!(
        md.contains("wire: **breaking**, crate: **breaking**"),
        "{md}"
    );

    let json: serde_json::Value = serde_json::from_str(&diff::render::json(&report)).unwrap();
    let records = json.as_array().unwrap();
    assert_eq!(records.len(), 4);
    let first = &records[0];
    for key in [
        "id", "kind", "path", "context", "wire", "crate", "message", "why",
    ] {
        assert!(first.get(key).is_some(), "record without {key}: {first}");
    }
    assert_eq!(
        first["id"],
        "param.added:GenericObject.GetHyperCubeData(qNoCache)"
    );
    let with_docs = Report {
        docs: true,
        ..report
    };
    let json: serde_json::Value = serde_json::from_str(&diff::render::json(&with_docs)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 7);
}

// ---- the command ---------------------------------------------------------------------------

fn run(req: diff::Request) -> Result<bool, String> {
    run_with_output(req).map(|(crossed, _)| crossed)
}

fn run_with_output(req: diff::Request) -> Result<(bool, String), String> {
    let mut out = Vec::new();
    let crossed = diff::run(&req, &mut out).map_err(|e| e.to_string())?;
    Ok((
        crossed,
        String::from_utf8(out).expect("the report is UTF-8"),
    ))
}

fn req(old: &str, new: &str) -> diff::Request {
    diff::Request::new(old, new)
}

#[test]
fn the_threshold_decides_whether_the_command_fails() {
    let dir = fixture_dir();
    let f = |n: &str| dir.join(format!("{n}.openrpc")).display().to_string();
    let (base, dangerous, breaking) = (
        f("base"),
        f("enum-value-added-response"),
        f("method-removed"),
    );
    assert_eq!(run(req(&base, &base)), Ok(false));
    assert_eq!(
        run(diff::Request {
            format: diff::Format::Json,
            ..req(&base, &dangerous)
        }),
        Ok(false)
    );
    assert_eq!(
        run(diff::Request {
            fail_on: diff::Verdict::Dangerous,
            ..req(&base, &dangerous)
        }),
        Ok(true)
    );
    assert_eq!(
        run(diff::Request {
            format: diff::Format::Markdown,
            ..req(&base, &breaking)
        }),
        Ok(true)
    );
    // Versions resolve in --spec-dir (as `<name>.json`).
    let tmp = std::env::temp_dir().join(format!("qix-diff-specdir-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for n in ["base", "method-added"] {
        std::fs::copy(
            dir.join(format!("{n}.openrpc")),
            tmp.join(format!("{n}.json")),
        )
        .unwrap();
    }
    let (crossed, out) = run_with_output(diff::Request {
        spec_dir: Some(tmp.clone()),
        ..req("base", "method-added")
    })
    .unwrap();
    assert!(!crossed);
    assert!(
        out.starts_with("QIX API 1.0.0 → 1.0.0: 1 change:") && out.contains("Doc.ClearAll"),
        "{out}"
    );
    // …and on the search root's `schemas/`, when one is given.
    let root = tmp.join("root");
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    std::fs::copy(dir.join("base.openrpc"), root.join("schemas/base.json")).unwrap();
    assert!(run(req("base", "base")).is_err());
    assert_eq!(
        run(diff::Request {
            search_root: Some(root.clone()),
            ..req("base", "base")
        }),
        Ok(false)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
    let (_, out) = run_with_output(diff::Request {
        format: diff::Format::Json,
        ..req(&base, &breaking)
    })
    .unwrap();
    let records: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(records[0]["kind"], "method.removed");
}

#[test]
fn tool_failures_are_errors_with_context() {
    let base = fixture_dir().join("base.openrpc").display().to_string();
    let err = diff::run(&req(&base, "no-such-version-0.0"), &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, qix_codegen::cli::CliError::SpecNotFound { .. }),
        "{err}"
    );
    let err = err.to_string();
    assert!(
        err.contains("not found") && err.contains("GET /api/engine/openrpc"),
        "{err}"
    );

    let bad = std::env::temp_dir().join(format!("qix-diff-bad-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"openrpc": "1.0.0", "info": {"title": "QIX", "version": "1"}, "methods": [{"name": "NoDot", "result": {"schema": {}}}], "components": {}}"#).unwrap();
    let err = diff::run(&req(&base, &bad.display().to_string()), &mut Vec::new()).unwrap_err();
    // The lowering error is the source, with every problem.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.is::<qix_codegen::lower::Invalid>(), "{source:?}");
    let err = err.to_string();
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("Class.Method"),
        "{err}"
    );
    std::fs::write(&bad, "{ not json").unwrap();
    let err = run(req(&base, &bad.display().to_string())).unwrap_err();
    assert!(err.contains("not JSON"), "{err}");
    std::fs::remove_file(&bad).unwrap();
}

// ---- real specs ----------------------------------------------------------------------------

/// The JSON and markdown output (with `--docs`) for a real pair, checked against the insta
/// snapshots `tests/snapshots/diff-<a>-<b>-{json,md}.snap` (a failure shows the diff;
/// `INSTA_UPDATE=always cargo test -p qix-codegen --test diff` rewrites them).
fn check_snapshot(a: &str, b: &str) {
    let changes = diff::diff(real(a), real(b), &with_docs(true));
    let report = Report {
        old_version: a,
        new_version: b,
        changes: &changes,
        docs: true,
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (ext, text) in [
        ("json", diff::render::json(&report)),
        ("md", diff::render::markdown(&report)),
    ] {
        settings.set_description(format!("`diff {a} {b}` as {ext}, with docs"));
        settings.bind(|| insta::assert_snapshot!(format!("diff-{a}-{b}-{ext}"), text));
    }
}

#[test]
fn snapshot_12_2399_to_12_2528() {
    check_snapshot("12.2399.0", "12.2528.0");
}

#[test]
fn snapshot_12_2064_to_12_2073() {
    check_snapshot("12.2064.0", "12.2073.0");
}

#[test]
fn every_consecutive_pair_diffs_and_mirrors() {
    let history = real_history();
    assert!(history.len() >= 2, "need at least two real specs");
    let started = Instant::now();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for api in history {
        assert!(
            diff::diff(api, api, &with_docs(true)).is_empty(),
            "{} differs from itself",
            api.version
        );
    }
    for pair in history.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let what = format!("{} → {}", a.version, b.version);
        let fwd = diff::diff(a, b, &with_docs(true));
        let back = diff::diff(b, a, &with_docs(true));
        assert_mirror(&fwd, &back, &what);
        assert_unique_ids(&fwd, &what);
        assert_unique_ids(&back, &what);
        for c in &fwd {
            *kinds.entry(c.kind.as_str()).or_default() += 1;
        }
    }
    let (first, last) = (&history[0], &history[history.len() - 1]);
    let fwd = diff::diff(first, last, &with_docs(true));
    assert_mirror(
        &fwd,
        &diff::diff(last, first, &with_docs(true)),
        "whole range",
    );
    assert_unique_ids(&fwd, "whole range");
    eprintln!(
        "diffed {} consecutive pairs both ways in {:.2?}: {kinds:?}",
        history.len() - 1,
        started.elapsed()
    );
}

#[test]
fn since_annotations_over_the_real_history() {
    let history = real_history();
    let mut latest = history[history.len() - 1].clone();
    history::annotate(&mut latest, history);
    let method = |full: &str| {
        latest
            .classes
            .iter()
            .flat_map(|c| &c.methods)
            .find(|m| m.full_name() == full)
            .unwrap_or_else(|| panic!("no method {full}"))
    };
    assert_eq!(method("Field.GetCardinal").facts.since, None);
    assert_eq!(
        method("Doc.GetOrCreateObject").facts.since.as_deref(),
        Some("12.2528.0")
    );
    assert_eq!(
        method("GenericObject.CreateGroup").facts.since.as_deref(),
        Some("12.2528.0")
    );
    let err = latest
        .errors
        .iter()
        .find(|e| e.name == "LOCERR_VARIABLE_CONSTRAINT_FAILED")
        .unwrap();
    assert_eq!(err.since.as_deref(), Some("12.2528.0"));
    // Whatever the oldest version has stays unannotated.
    let oldest = diff::diff(&history[0], &latest, &with_docs(false));
    let added_methods = oldest
        .iter()
        .filter(|c| c.kind == Kind::MethodAdded)
        .count();
    let annotated = latest
        .classes
        .iter()
        .flat_map(|c| &c.methods)
        .filter(|m| m.facts.since.is_some())
        .count();
    assert_eq!(added_methods, annotated);
}

/// The kinds only a change of the companion map or the secret list gives (the fixtures share
/// both): see [`facts_from_the_settings_are_diffed`].
const SETTINGS_KINDS: [&str; 3] = [
    "method.read_changed",
    "param.secret_changed",
    "property.secret_changed",
];

/// The lowering decides the protocol facts and which params and properties are secret;
/// `diff` reports when they change (here: the base spec lowered with another companion map
/// and secret list), with the policy's verdicts.
#[test]
fn facts_from_the_settings_are_diffed() {
    use qix_codegen::Companion;
    use qix_codegen::secrets::{Redact, SecretParam, SecretProperty, Secrets};
    let path = fixture_dir().join("base.openrpc");
    let old = history::load_api(&path, &Settings::default()).unwrap();
    let mut companion = Companion::builtin();
    companion.reads.except.push("Doc.GetObject".into());
    let secrets = Secrets {
        params: vec![SecretParam {
            method: "Doc.GetObject".into(),
            param: "qId".into(),
            redact: Redact::Value,
        }],
        properties: vec![SecretProperty {
            type_name: "NxInfo".into(),
            property: "qId".into(),
            redact: Redact::ConnectionString,
        }],
    };
    let settings = Settings::default()
        .with_companion(companion)
        .with_secrets(secrets);
    let new = history::load_api(&path, &settings).unwrap();
    let changes = diff::diff(&old, &new, &with_docs(true));
    let got: Vec<(&str, &str, &str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.path.as_str(),
                c.wire.as_str(),
                c.krate.as_str(),
                c.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "method.read_changed",
                "Doc.GetObject",
                "dangerous",
                "compatible",
                "read → write (safe to send again: false)"
            ),
            (
                "param.secret_changed",
                "Doc.GetObject(qId)",
                "compatible",
                "compatible",
                "secret no → value"
            ),
            (
                "property.secret_changed",
                "NxInfo.qId",
                "compatible",
                "compatible",
                "secret no → connection string"
            ),
        ]
    );
    let kinds: BTreeSet<&str> = got.iter().map(|c| c.0).collect();
    assert_eq!(kinds, SETTINGS_KINDS.into_iter().collect());
    assert_mirror(
        &changes,
        &diff::diff(&new, &old, &with_docs(true)),
        "settings",
    );
}
