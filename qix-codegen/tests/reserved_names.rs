//! Names the generated code defines beside the spec's: a spec name that would collide with
//! one is an error naming both, and the runtime's macros define exactly the names the
//! generator reserves for them.

use qix_codegen::names;
use qix_codegen::{Settings, Spec};

const HEAD: &str = r##""openrpc": "1.0.0", "info": {"title": "QIX", "version": "12.1.0"}"##;

fn error(json: &str) -> String {
    let spec = Spec::parse(json.as_bytes(), "t.json").expect("parses");
    match qix_codegen::generate(&spec, "t.json", &Settings::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error for {json}"),
    }
}

fn method(name: &str, results: &str) -> String {
    format!(
        r#"{{"name": "{name}", "result": {{"name": "r", "schema": {{"type": "object", "properties": {{{results}}}}}}}}}"#
    )
}

#[test]
fn a_type_named_like_a_prelude_name_the_types_module_uses_is_an_error() {
    for reserved in names::TYPES_MODULE_RESERVED {
        let e = error(&format!(
            r#"{{{HEAD}, "methods": [], "components": {{"schemas": {{"{reserved}": {{"type": "object"}}}}}}}}"#
        ));
        assert!(
            e.contains(&format!("both become `{reserved}`")) && e.contains("prelude"),
            "{reserved}: {e}"
        );
    }
}

#[test]
fn output_struct_names_are_checked_against_requests_and_the_handle() {
    let two = r#""qA": {"type": "string"}, "qB": {"type": "string"}"#;
    // `X.Foo` returns two properties: `FooOutput` and `FooOutputRaw`; a method `FooOutput`
    // would be a request struct of the same name.
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [{}, {}], "components": {{}}}}"#,
        method("X.Foo", two),
        method("X.FooOutput", r#""qA": {"type": "string"}"#)
    ));
    assert!(
        e.contains("X.Foo (its output struct)")
            && e.contains("X.FooOutput")
            && e.contains("`FooOutput`"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [{}, {}], "components": {{}}}}"#,
        method("X.Foo", two),
        method("X.FooOutputRaw", r#""qA": {"type": "string"}"#)
    ));
    assert!(e.contains("X.Foo (its raw result)"), "{e}");
    // A method named like its class: the request struct would be the handle struct.
    let e = error(&format!(
        r#"{{{HEAD}, "methods": [{}], "components": {{}}}}"#,
        method("X.X", r#""qA": {"type": "string"}"#)
    ));
    assert!(e.contains("the handle struct `X`"), "{e}");
}

#[test]
fn an_optional_param_named_like_a_request_method_is_an_error() {
    for reserved in names::REQUEST_ITEMS {
        let wire = format!("q{}", heck_camel(reserved));
        let e = error(&format!(
            r#"{{{HEAD}, "methods": [{{"name": "X.Y", "params": [{{"name": "{wire}", "schema": {{"type": "string"}}}}], "result": {{"schema": {{}}}}}}], "components": {{}}}}"#
        ));
        assert!(
            e.contains(&format!("(request method `{reserved}`)")),
            "{reserved}: {e}"
        );
    }
}

fn heck_camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

/// The runtime's `__request!` adds `timeout` and `retries`, `__struct!` the `extra` field,
/// `__enum!` the `Unknown` variant: what the generator reserves.
#[test]
fn the_runtime_macros_define_what_the_generator_reserves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../qix-runtime/src/macros.rs");
    let src = std::fs::read_to_string(path).expect("the runtime's macros");
    let request = &src[src.find("macro_rules! __request").expect("__request!")..];
    let request = &request[..request.find("\n}\n").expect("end of __request!")];
    let defined: Vec<&str> = request
        .match_indices("pub fn ")
        .map(|(i, _)| {
            let rest = &request[i + "pub fn ".len()..];
            &rest[..rest.find('(').unwrap()]
        })
        .collect();
    assert_eq!(defined, ["timeout", "retries"]);
    for name in &defined {
        assert!(
            names::REQUEST_ITEMS.contains(name),
            "{name} is not reserved"
        );
    }
    assert!(src.contains(&format!("pub {}: $crate::Extra,", names::EXTRA_FIELD)));
    assert!(src.contains(&format!(
        "{}(::std::string::String),",
        names::UNKNOWN_VARIANT
    )));
}
