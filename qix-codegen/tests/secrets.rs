//! `schemas/secrets.json`: every entry names something the pinned spec has, bad lists
//! and non-string secrets are errors that say where.

use std::path::Path;

use qix_codegen::emit::EmitError;
use qix_codegen::secrets::{Secrets, SecretsError};
use qix_codegen::{Settings, Spec};

#[test]
fn every_secret_is_in_the_pinned_spec() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pin = std::fs::read_to_string(root.join("schemas/spec.pin")).unwrap();
    let version = pin
        .split_whitespace()
        .find(|w| w.starts_with("12."))
        .expect("a version in schemas/spec.pin");
    let path = root.join(format!("../shared/schemas/openrpc/{version}.json"));
    let g = qix_codegen::generate_file(&path, &Settings::default()).unwrap();
    let secrets = Secrets::builtin();
    assert_eq!(secrets.missing(&g.api), Vec::<String>::new());
    assert!(!secrets.params.is_empty() && !secrets.properties.is_empty());
}

#[test]
fn a_broken_secret_list_says_where() {
    let e = Secrets::parse(
        r#"{"params": [{"method": "Global.OpenDoc", "param": "qPassword", "redact": "maybe"}]}"#,
        "secrets.json",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("secrets.json") && e.contains("params[0].redact"),
        "{e}"
    );
    let e = Secrets::parse(
        r#"{"properties": [{"type": "Connection"}]}"#,
        "secrets.json",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("properties[0]") && e.contains("property"), "{e}");
}

#[test]
fn a_secret_that_is_not_a_string_is_refused() {
    let json = r##"{"openrpc": "1.0.0", "info": {"title": "QIX", "version": "12.1.0"},
        "methods": [{"name": "Global.OpenDoc", "params": [{"name": "qPassword", "schema": {"type": "integer"}}],
                     "result": {"schema": {"type": "object"}}}],
        "components": {}}"##;
    let spec = Spec::parse(json.as_bytes(), "t.json").unwrap();
    let err = qix_codegen::generate(&spec, "t.json", &Settings::default()).unwrap_err();
    let e = err.to_string();
    assert!(
        e.contains("t.json")
            && e.contains("Global.OpenDoc(qPassword)")
            && e.contains("secrets must be strings"),
        "{e}"
    );
    // Typed all the way: the generator's error keeps the emitter's as its source.
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<EmitError>());
    assert!(
        matches!(
            source,
            Some(EmitError::Secret(SecretsError::NotAString { item, ty }))
                if item == "Global.OpenDoc(qPassword)" && ty == "int64"
        ),
        "{source:?}"
    );
}
