//! The generator on broken and hostile specs: truncated JSON, wrong types, dangling and
//! cyclic `$ref`s, duplicate names, huge and deeply nested documents. Each is a clear error
//! naming the JSON path (or line and column, for JSON that does not parse), or a result;
//! never a panic, a stack overflow or a hang.

use std::time::{Duration, Instant};

use qix_codegen::{Settings, Spec};

const HEAD: &str = r##""openrpc": "1.0.0", "info": {"title": "QIX", "version": "12.1.0"}"##;

/// The error for a spec, from parsing or from generating it.
fn error(json: &str) -> String {
    match Spec::parse(json.as_bytes(), "t.json") {
        Err(e) => e.to_string(),
        Ok(spec) => match qix_codegen::generate(&spec, "t.json", &Settings::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error for {}", &json[..json.len().min(300)]),
        },
    }
}

fn with_schemas(schemas: &str) -> String {
    format!(r#"{{{HEAD}, "methods": [], "components": {{"schemas": {{{schemas}}}}}}}"#)
}

/// Runs `f` on a thread with the stack a test thread gets (2 MiB): a recursion that
/// would overflow it fails the test instead of aborting the process silently elsewhere.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let start = Instant::now();
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("{what}: panicked"));
    assert!(
        start.elapsed() < limit,
        "{what}: took {:?} (limit {limit:?})",
        start.elapsed()
    );
    out
}

#[test]
fn truncated_json_names_line_and_column() {
    let full = with_schemas(r#""A": {"type": "object", "properties": {"qB": {"type": "string"}}}"#);
    for cut in [1, 10, full.len() / 2, full.len() - 1] {
        let e = error(&full[..cut]);
        assert!(e.starts_with("t.json: not JSON (line 1, column"), "{e}");
    }
    let real = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/schemas/openrpc/12.2528.0.json"),
    )
    .unwrap();
    let e = Spec::parse(&real[..real.len() / 3], "real.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not JSON (line") && e.contains("EOF"), "{e}");
}

#[test]
fn wrong_types_name_the_path() {
    let cases = [
        (
            format!(
                r#"{{{HEAD}, "methods": [{{"name": "A.B", "params": "qId", "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
            ),
            "at $.methods[0].params",
        ),
        (
            format!(r#"{{{HEAD}, "methods": {{}}, "components": {{}}}}"#),
            "at $.methods",
        ),
        (
            format!(
                r#"{{{HEAD}, "methods": [{{"name": 7, "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
            ),
            "at $.methods[0].name",
        ),
        (
            format!(
                r#"{{{HEAD}, "methods": [{{"name": "A.B", "params": [{{"name": "q", "required": "yes", "schema": {{}}}}], "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
            ),
            "at $.methods[0].params[0].required",
        ),
        (
            with_schemas(r#""A": {"type": "object", "properties": []}"#),
            "at $.components.schemas.A.properties",
        ),
        (
            with_schemas(r#""A": {"type": 5}"#),
            "at $.components.schemas.A.type",
        ),
        (
            with_schemas(r#""A": {"type": "array", "items": "B"}"#),
            "at $.components.schemas.A.items",
        ),
        ("[]".to_string(), "at $"),
        ("null".to_string(), "at $"),
    ];
    for (json, want) in cases {
        let e = error(&json);
        assert!(e.contains(want), "expected {want:?} in: {e}");
    }
}

#[test]
fn dangling_refs_name_the_path() {
    let e = error(&with_schemas(
        r##""A": {"type": "array", "items": {"$ref": "#/components/schemas/Gone"}}"##,
    ));
    assert!(
        e.contains("$.components.schemas.A.items: unresolved $ref \"#/components/schemas/Gone\""),
        "{e}"
    );
    let e = error(&with_schemas(
        r##""A": {"$ref": "https://example.com/x.json#/A"}"##,
    ));
    assert!(e.contains("$.components.schemas.A: unresolved $ref"), "{e}");
    let e = error(&format!(
        r##"{{{HEAD}, "methods": [{{"name": "A.B", "params": [{{"name": "q", "schema": {{"$ref": "#/components/schemas/Nope"}}}}], "result": {{"schema": {{}}}}}}], "components": {{}}}}"##
    ));
    assert!(
        e.contains("$.methods[0](A.B).params[0](q).schema: unresolved $ref"),
        "{e}"
    );
}

#[test]
fn cyclic_refs_are_errors_naming_the_cycle() {
    let e = error(&with_schemas(
        r##""A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}"##,
    ));
    assert!(
        e.contains("$.components.schemas.A") && e.contains("A → B → A"),
        "{e}"
    );
    let e = error(&with_schemas(
        r##""A": {"$ref": "#/components/schemas/A"}"##,
    ));
    assert!(
        e.contains("$.components.schemas.A") && e.contains("A → A"),
        "{e}"
    );
    // Through an array alias: `type A = Vec<A>` is no type.
    let e = error(&with_schemas(
        r##""A": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}"##,
    ));
    assert!(
        e.contains("$.components.schemas.A") && e.contains("A → A"),
        "{e}"
    );

    // Structs that contain each other are fine (boxed), also through arrays and self.
    let ok = with_schemas(
        r##""A": {"type": "object", "properties": {"qB": {"$ref": "#/components/schemas/B"}, "qSelf": {"$ref": "#/components/schemas/A"}}},
            "B": {"type": "object", "properties": {"qA": {"$ref": "#/components/schemas/A"}, "qList": {"type": "array", "items": {"$ref": "#/components/schemas/B"}}}}"##,
    );
    let spec = Spec::parse(ok.as_bytes(), "t.json").unwrap();
    qix_codegen::generate(&spec, "t.json", &Settings::default()).unwrap();
}

#[test]
fn duplicate_names_are_errors_naming_the_path() {
    let e = error(&with_schemas(
        r#""A": {"type": "string"}, "A": {"type": "integer"}"#,
    ));
    assert!(
        e.contains("at $.components.schemas") && e.contains("duplicate key `A`"),
        "{e}"
    );
    let e = error(&with_schemas(
        r#""A": {"type": "object", "properties": {"qB": {"type": "string"}, "qB": {"type": "integer"}}}"#,
    ));
    assert!(
        e.contains("at $.components.schemas.A.properties") && e.contains("duplicate key `qB`"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [{{"name": "A.B", "result": {{"schema": {{}}}}}}, {{"name": "A.B", "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
    ));
    assert!(
        e.contains("$.methods[1](A.B)") && e.contains("duplicate method"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [{{"name": "A.B", "params": [{{"name": "qX", "schema": {{"type": "string"}}}}, {{"name": "qX", "schema": {{"type": "string"}}}}], "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
    ));
    assert!(e.contains("$.methods[0](A.B)") && e.contains("qX"), "{e}");
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [], "components": {{"errors": {{"LOCERR_X": {{"code": 1}}, "LOCERR_X": {{"code": 2}}}}}}}}"#
    ));
    assert!(
        e.contains("at $.components.errors") && e.contains("duplicate key `LOCERR_X`"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [], "methods": [], "components": {{}}}}"#
    ));
    assert!(e.contains("duplicate field `methods`"), "{e}");
}

#[test]
fn error_codes_must_be_unique_and_32_bit() {
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [], "components": {{"errors": {{"LOCERR_A": {{"code": 7}}, "LOCERR_B": {{"code": 7}}}}}}}}"#
    ));
    assert!(
        e.contains("$.components.errors.LOCERR_B") && e.contains("code 7 is also used by LOCERR_A"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [], "components": {{"errors": {{"LOCERR_BIG": {{"code": 4294967297}}}}}}}}"#
    ));
    assert!(
        e.contains("$.components.errors.LOCERR_BIG") && e.contains("does not fit in 32 bits"),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 10_000, 100_000] {
        let items = format!(
            "{}{{\"type\": \"string\"}}{}",
            r#"{"type": "array", "items": "#.repeat(depth),
            "}".repeat(depth)
        );
        let json = with_schemas(&format!(r#""A": {items}"#));
        let e = bounded(
            "a deeply nested schema",
            Duration::from_secs(20),
            move || error(&json),
        );
        assert!(e.contains("recursion limit exceeded"), "{e}");
        let brackets = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let json = with_schemas(&format!(
            r#""A": {{"type": "string", "x-deep": {brackets}}}"#
        ));
        let e = bounded(
            "deeply nested unknown JSON",
            Duration::from_secs(20),
            move || error(&json),
        );
        assert!(e.contains("recursion limit exceeded"), "{e}");
    }
    // Nesting within the limit lowers (each level an array alias item).
    let items = format!(
        "{}{{\"type\": \"string\"}}{}",
        r#"{"type": "array", "items": "#.repeat(40),
        "}".repeat(40)
    );
    let json = with_schemas(&format!(r#""A": {items}"#));
    bounded("40 nested arrays", Duration::from_secs(20), move || {
        let spec = Spec::parse(json.as_bytes(), "t.json").unwrap();
        qix_codegen::lower::lower(&spec, &Settings::default(), "t.json").map(drop)
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn huge_documents_finish_in_time() {
    // 50,000 methods and a chain of 20,000 structs, each containing the next.
    let mut methods = Vec::new();
    for i in 0..50_000 {
        methods.push(format!(
            r##"{{"name": "Doc.M{i}", "params": [{{"name": "qX", "required": true, "schema": {{"type": "string"}}}}], "result": {{"schema": {{"type": "object", "properties": {{"qReturn": {{"$ref": "#/components/schemas/S0"}}}}}}}}}}"##
        ));
    }
    let mut schemas = Vec::new();
    for i in 0..20_000 {
        schemas.push(format!(
            r##""S{i}": {{"type": "object", "properties": {{"qNext": {{"$ref": "#/components/schemas/S{}"}}}}}}"##,
            (i + 1) % 20_000
        ));
    }
    let json = format!(
        r#"{{{HEAD}, "methods": [{}], "components": {{"schemas": {{{}}}}}}}"#,
        methods.join(","),
        schemas.join(",")
    );
    let api = bounded("a huge spec", Duration::from_secs(60), move || {
        let spec = Spec::parse(json.as_bytes(), "huge.json").unwrap();
        qix_codegen::lower::lower(&spec, &Settings::default(), "huge.json")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.method_count(), 50_000);
    // One cycle through all 20,000: exactly the fields on it are boxed (all of them).
    let boxed = api
        .types
        .values()
        .filter(|t| matches!(t, qix_codegen::ir::TypeDef::Struct(s) if s.fields[0].boxed))
        .count();
    assert_eq!(boxed, 20_000);
}

/// The check of the `codegen_spec` fuzz target (`fuzz/`) on inputs made here: the golden
/// and diff fixtures, cut and mutated. Deterministic, a few seconds.
#[test]
fn codegen_spec_fuzz_check_on_mutated_fixtures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut specs = Vec::new();
    for dir in ["golden", "fixtures/diff"] {
        for f in std::fs::read_dir(root.join(dir)).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "openrpc") {
                specs.push(std::fs::read(f).unwrap());
            }
        }
    }
    assert!(specs.len() > 20);
    let settings = Settings::default();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    const BYTES: &[u8] = br##"{}[]",:0-"#$ref/components/schemas"##;
    for _ in 0..5000 {
        let mut s = specs[next(specs.len())].clone();
        for _ in 0..1 + next(3) {
            if s.is_empty() {
                break;
            }
            let at = next(s.len());
            match next(4) {
                0 => s.truncate(at),
                1 => s[at] = BYTES[next(BYTES.len())],
                2 => {
                    s.remove(at);
                }
                _ => s.insert(at, BYTES[next(BYTES.len())]),
            }
        }
        if let Ok(spec) = Spec::parse(&s, "m.json") {
            let _ = qix_codegen::lower::lower(&spec, &settings, "m.json");
        }
    }
}
