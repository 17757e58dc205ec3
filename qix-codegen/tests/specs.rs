//! The generator against every real spec version, and its errors on bad input.

use std::path::{Path, PathBuf};

use qix_codegen::{Companion, Settings, Spec};

fn shared_specs() -> PathBuf {
    let dir = match std::env::var_os("QIX_SCHEMAS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/openrpc"),
    };
    assert!(
        dir.is_dir(),
        "no spec folder at {} (set QIX_SCHEMAS_DIR)",
        dir.display()
    );
    dir
}

fn all_specs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared_specs())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "expected the 40 shared specs, found {}",
        files.len()
    );
    files
}

#[test]
fn every_shared_spec_generates() {
    let settings = Settings::default();
    for path in all_specs() {
        let g = qix_codegen::generate_file(&path, &settings).unwrap_or_else(|e| panic!("{e}"));
        assert!(g.api.method_count() > 300, "{}", path.display());
        assert!(
            g.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            g.warnings
        );
        assert_eq!(g.api.classes.len(), 9, "{}", path.display());
    }
}

/// The companion map names the class of every `ObjectInterface` result of every version.
#[test]
fn companion_map_covers_every_object_interface_result() {
    let companion = Companion::builtin();
    let mut used = std::collections::BTreeSet::new();
    for path in all_specs() {
        let spec = Spec::load(&path).unwrap();
        for m in &spec.methods {
            for (name, out) in m.result.schema.properties.iter().flatten() {
                if out.ref_name() == Some("ObjectInterface") {
                    let class = companion.object_interface.get(&m.name).unwrap_or_else(|| {
                        panic!(
                            "{}: {} ({name}) is not in schemas/companion.json",
                            path.display(),
                            m.name
                        )
                    });
                    assert!(
                        spec.methods.iter().any(|x| x.class() == class),
                        "{class} is not a class"
                    );
                    used.insert(m.name.clone());
                }
            }
        }
    }
    let listed: std::collections::BTreeSet<String> =
        companion.object_interface.keys().cloned().collect();
    assert_eq!(
        used, listed,
        "the companion map lists methods no spec has, or misses some"
    );
}

/// Every method the companion map names as a read (or as an exception) exists in some
/// version, and the reads of the pinned version are what the rules say: the `Get…`,
/// `Evaluate…`, `Check…`, `Search…` and `Is…` methods and the few listed, never a
/// method that changes something (`Set…`, `Select…`, `Create…`, …).
#[test]
fn companion_reads_name_real_methods_and_no_write() {
    let companion = Companion::builtin();
    let mut known = std::collections::BTreeSet::new();
    for path in all_specs() {
        let spec = Spec::load(&path).unwrap();
        known.extend(spec.methods.iter().map(|m| m.name.clone()));
    }
    for name in companion.reads.named() {
        assert!(
            known.contains(name),
            "companion reads: {name} is in no spec version"
        );
    }
    let writes = [
        "Set", "Select", "Create", "Destroy", "Apply", "Do", "Clear", "Abort", "Cancel", "Save",
        "Lock", "Unlock", "Remove", "Add", "Delete", "Modify", "Publish", "Approve",
    ];
    let mut reads = 0;
    for name in &known {
        let (class, method) = name.split_once('.').unwrap();
        if companion.reads.is_read(class, method) {
            reads += 1;
            assert!(
                !writes.iter().any(|w| method.starts_with(w)),
                "{name} is marked a read"
            );
        }
    }
    assert!(reads > 100, "only {reads} reads");
    for write in [
        "Doc.GetOrCreateObject",
        "GenericObject.SearchListObjectFor",
        "Doc.SetScript",
        "GenericObject.SelectHyperCubeValues",
    ] {
        let (class, method) = write.split_once('.').unwrap();
        assert!(!companion.reads.is_read(class, method), "{write}");
    }
    for read in [
        "GenericObject.GetLayout",
        "Doc.EvaluateEx",
        "Global.EngineVersion",
        "GenericObject.GetHyperCubeData",
    ] {
        let (class, method) = read.split_once('.').unwrap();
        assert!(companion.reads.is_read(class, method), "{read}");
    }
}

fn problems(json: &str) -> String {
    match Spec::parse(json.as_bytes(), "test.json") {
        Err(e) => e.to_string(),
        Ok(spec) => match qix_codegen::generate(&spec, "test.json", &Settings::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error for {json}"),
        },
    }
}

const HEAD: &str = r##""openrpc": "1.0.0", "info": {"title": "QIX", "version": "12.1.0"}"##;

#[test]
fn bad_specs_get_errors_that_name_the_place() {
    let e = problems("{not json");
    assert!(e.contains("test.json: not JSON (line 1, column 2)"), "{e}");

    let e = problems(
        r##"{"openrpc": "1.0.0", "info": {"title": "QIX"}, "methods": [], "components": {}}"##,
    );
    assert!(e.contains("$.info.version: empty or missing"), "{e}");

    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [], "components": {{"schemas": {{"A": {{"type": "object", "properties": {{"qB": {{"$ref": "#/components/schemas/Nope"}}}}}}}}}}}}"##
    ));
    assert!(
        e.contains(
            "$.components.schemas.A.properties.qB: unresolved $ref \"#/components/schemas/Nope\""
        ),
        "{e}"
    );

    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [], "components": {{"schemas": {{"A": {{"type": "object", "properties": {{"qB": {{"type": "integer", "format": "uint128"}}}}}}}}}}}}"##
    ));
    assert!(e.contains("$.components.schemas.A.properties.qB: unknown type/format combination: type \"integer\", format \"uint128\""), "{e}");

    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [{{"name": "Doc.OpenThing", "params": [], "result": {{"schema": {{"type": "object", "properties": {{"qReturn": {{"$ref": "#/components/schemas/ObjectInterface"}}}}}}}}}}],
           "components": {{"schemas": {{"ObjectInterface": {{"type": "object", "properties": {{"qHandle": {{"type": "integer"}}}}}}}}}}}}"##
    ));
    assert!(
        e.contains("$.methods[0](Doc.OpenThing).result.schema.properties.qReturn"),
        "{e}"
    );
    assert!(e.contains("companion map"), "{e}");

    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [], "components": {{"schemas": {{"A": {{"type": "object", "properties": {{"qFooBar": {{"type": "string"}}, "qfoo_bar": {{"type": "string"}}}}}}}}}}}}"##
    ));
    assert!(e.contains("$.components.schemas.A: property names qFooBar and qfoo_bar both become `foo_bar` in Rust"), "{e}");

    // `qReturn` (a bool) would become `success`, which another out-property already is.
    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [{{"name": "Doc.Check", "params": [], "result": {{"schema": {{"type": "object", "properties": {{"qReturn": {{"type": "boolean"}}, "qSuccess": {{"type": "boolean"}}}}}}}}}}], "components": {{}}}}"##
    ));
    assert!(
        e.contains("$.methods[0](Doc.Check): out-property names qReturn and qSuccess both become `success` in Rust"),
        "{e}"
    );

    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [{{"name": "NoClass", "result": {{"schema": {{}}}}}}], "components": {{}}}}"##
    ));
    assert!(
        e.contains("$.methods[0](NoClass): a method name must be `Class.Method`"),
        "{e}"
    );

    // A wrong shape names the JSON path of the value.
    let e = problems(&format!(
        r##"{{{HEAD}, "methods": [{{"name": "A.B", "params": 3, "result": {{"schema": {{}}}}}}], "components": {{}}}}"##
    ));
    assert!(e.contains("at $.methods[0].params"), "{e}");
}

#[test]
fn unknown_keys_are_warnings() {
    let json = format!(
        r##"{{{HEAD}, "x-new-top": 1, "methods": [{{"name": "A.B", "x-new": true, "result": {{"schema": {{"type": "object"}}}}}}], "components": {{}}}}"##
    );
    let spec = Spec::parse(json.as_bytes(), "t").unwrap();
    let g = qix_codegen::generate(&spec, "t", &Settings::default()).unwrap();
    assert_eq!(
        g.warnings,
        [
            "t: unknown key `x-new-top` at $",
            "t: unknown key `x-new` at $.methods[0](A.B)"
        ]
    );
}

#[test]
fn regenerating_gives_identical_bytes() {
    let path = shared_specs().join("12.2528.0.json");
    let a = qix_codegen::generate_file(&path, &Settings::default()).unwrap();
    let b = qix_codegen::generate_file(&path, &Settings::default()).unwrap();
    assert_eq!(a.files, b.files);
}

/// The reopen rules of the companion map (`reopen.byId`) hold in every version: each
/// method, where a version has it, opens the class it is listed for (else the lowering
/// reports a problem), and the newest version has all of them, so the runtime's generated
/// table is complete.
#[test]
fn reopen_rules_resolve_in_every_version() {
    let companion = Companion::builtin();
    assert!(companion.reopen.by_id.len() >= 5);
    let settings = Settings::default();
    let newest = all_specs()
        .into_iter()
        .max_by(|a, b| {
            let v = |p: &PathBuf| p.file_stem().unwrap().to_string_lossy().into_owned();
            qix_codegen::specpath::version_cmp(&v(a), &v(b))
        })
        .unwrap();
    let api = qix_codegen::history::load_api(&newest, &settings).unwrap_or_else(|e| panic!("{e}"));
    let classes: Vec<&str> = api.reopen.iter().map(|r| r.class.as_str()).collect();
    let listed: Vec<&str> = companion.reopen.by_id.keys().map(String::as_str).collect();
    assert_eq!(classes, listed, "{}", newest.display());
    assert!(api.reopen.iter().all(|r| r.on == "Doc"));
}
