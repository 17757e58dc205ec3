//! Golden tests: one small hand-written spec per generation rule (optional params, several
//! out-properties, ObjectInterface results, enums, NaN numbers and integer formats, Rust
//! keywords, recursive types, deprecation and docs), each with its generated code as a
//! snapshot (`tests/golden/<name>.snap`, insta). After an intended change,
//! `INSTA_UPDATE=always cargo test -p qix-codegen --test golden` rewrites them (or
//! `cargo insta review`); review the diff before committing.

use std::path::{Path, PathBuf};

use qix_codegen::{Settings, Spec};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// All generated files of a spec, one after another.
fn generate(name: &str) -> String {
    let path = golden_dir().join(format!("{name}.openrpc"));
    let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let g =
        qix_codegen::generate(&spec, name, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    for f in &g.files {
        out.push_str(&format!("// ==== {} ====\n", f.path));
        out.push_str(&f.contents);
    }
    out
}

/// The generated code of `tests/golden/<name>.openrpc`, checked against its snapshot
/// `tests/golden/<name>.snap` (insta: a failure shows the diff).
fn check(name: &str) -> String {
    let got = generate(name);
    // insta ignores a difference in trailing newlines only: rustfmt-style files end with one.
    assert!(
        got.ends_with('\n'),
        "{name}: generated code ends without a newline"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(golden_dir());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!(
        "qix-codegen output for tests/golden/{name}.openrpc"
    ));
    settings.bind(|| insta::assert_snapshot!(name, got));
    got
}

#[test]
fn optional_params_are_builder_methods_and_never_sent_unset() {
    let code = check("optional_params");
    // Required params are arguments; optional ones are builder methods with Option storage.
    assert!(code.contains("pub fn get_field(\n        &self,\n        field_name: impl ::std::convert::Into<::std::string::String>,\n    ) -> GetField"));
    assert!(code.contains("pub fn state_name(\n        mut self,\n        value: impl ::std::convert::Into<::std::string::String>,\n    ) -> Self {"));
    assert!(code.contains("if let ::std::option::Option::Some(v) = &self.state_name {"));
    assert!(code.contains("Engine default: `10`."));
    // The ObjectInterface result is the typed handle.
    assert!(code.contains("type Output = ::qix_runtime::Result<crate::Field>;"));
}

#[test]
fn several_out_properties_make_a_struct_with_all_of_them() {
    let code = check("multi_out");
    assert!(code.contains("pub struct CreateSessionAppOutput {"));
    assert!(code.contains("pub session_app_id: ::std::string::String,"));
    // `qReturn` among several out-properties is named after what it holds.
    assert!(code.contains("pub doc: crate::Doc,"));
    assert!(!code.contains("r#return"));
    // Newer engines may add out-properties; outputs without a handle compare.
    assert!(code.contains(
        "#[derive(Debug, Clone)]\n#[non_exhaustive]\npub struct CreateSessionAppOutput {"
    ));
    assert!(code.contains(
        "#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub struct GetAppLayoutishOutput {"
    ));
    // The crate states the runtime contract it was generated for, and tests start from a
    // mock engine that knows the param names.
    assert!(code.contains("#![allow(clippy::all)]\n::qix_runtime::__contract!(1);\n"));
    assert!(code.contains("#[cfg(feature = \"testing\")]\npub async fn mock_engine()"));
    // The prelude names every handle type and the entry trait.
    assert!(code.contains("pub mod prelude {"));
    assert!(code.contains("Result, Session, SessionExt,"));
    assert!(code.contains("pub struct GetAppLayoutishOutput {"));
    // A list of engine numbers: its type picks the runtime's decoder ("NaN" accepted).
    assert!(code.contains("pub(crate) values: ::std::vec::Vec<f64>,"));
    assert!(code.contains("type Output = ::qix_runtime::Result<()>;"));
    assert!(code.contains("the caller needs the `create` privilege"));
}

#[test]
fn enums_are_open_and_named_after_long_names() {
    let code = check("enums");
    assert!(code.contains("pub enum NxDimCellType {"));
    // The runtime's `__enum!` adds `Unknown(String)`, `non_exhaustive` and the wire forms.
    assert!(code.contains("::qix_runtime::__enum! {\n    #[wire(\"NxDimCellType\")]"));
    assert!(code.contains("#[wire(\"V\", \"NX_DIM_CELL_VALUE\")]\n        Value,"));
    // A value without a long name keeps its title; titles with digits stay valid names.
    assert!(code.contains("Nstates,"));
    assert!(code.contains("Connect64,"));
}

#[test]
fn numbers_integer_formats_and_keywords() {
    let code = check("numbers_and_keywords");
    // Engine numbers are `f64` fields; their type picks the runtime's "NaN"-aware codec.
    assert!(code.contains("pub num: Option<f64>,"));
    assert!(code.contains("pub nums: Vec<f64>,"));
    assert!(code.contains("pub r#type: Option<String>,"));
    assert!(code.contains("pub self_: Option<bool>,"));
    assert!(code.contains("pub small: Option<i8>,"));
    assert!(code.contains("pub byte: Option<u8>,"));
    assert!(code.contains("pub big: Option<i64>,"));
    assert!(code.contains("pub type Blob = ::qix_runtime::Blob;"));
    assert!(code.contains("pub type JsonObject = ::serde_json::Value;"));
}

#[test]
fn recursive_types_are_boxed() {
    let code = check("recursion");
    assert!(code.contains("pub parent: Option<Box<NxPatches>>,"));
    // Through a Vec no box is needed.
    assert!(code.contains("pub children: Vec<NxPatches>,"));
    assert!(code.contains("pub b: Option<Box<TreeB>>,"));
}

#[test]
fn deprecation_stability_and_docs() {
    let code = check("deprecation");
    assert!(
        code.contains(
            "#[deprecated(note = \"Use _GenericVariable::GetProperties_ method instead\")]"
        )
    );
    assert!(code.contains("Stability: **experimental**"));
    assert!(code.contains("/// **Note:** Old."));
    // Indentation that would make a doctest is flattened; help links keep their text.
    assert!(!code.contains("///     indented"));
    assert!(code.contains("/// see"));
}

#[test]
fn output_is_deterministic() {
    for name in ["optional_params", "enums", "recursion"] {
        assert_eq!(generate(name), generate(name));
    }
}

#[test]
fn every_golden_spec_has_a_test() {
    let mut specs: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".openrpc")
                .map(str::to_string)
        })
        .collect();
    specs.sort();
    assert_eq!(
        specs,
        [
            "deprecation",
            "enums",
            "multi_out",
            "numbers_and_keywords",
            "optional_params",
            "recursion",
            "secrets"
        ]
    );
}

#[test]
fn standalone_manifests_take_the_runtime_by_path_or_version_and_forward_features() {
    use qix_codegen::{RuntimeDep, crate_manifest};
    let by_path = crate_manifest(
        "12.9.0",
        "qix-generated",
        &RuntimeDep::Path("/src/qix/qix-runtime".into()),
        true,
    );
    assert!(
        by_path.contains(
            "qix-runtime = { path = \"/src/qix/qix-runtime\", default-features = false }"
        )
    );
    assert!(
        by_path.ends_with("\n[workspace]\n"),
        "builds outside any workspace"
    );
    let by_version = crate_manifest(
        "12.9.0",
        "qix-generated",
        &RuntimeDep::Version("0.1".into()),
        true,
    );
    assert!(by_version.contains("qix-runtime = { version = \"0.1\", default-features = false }"));
    for m in [&by_path, &by_version] {
        assert!(m.contains("default = [\"rustls\"]\nrustls = [\"qix-runtime/rustls\"]\n"));
        assert!(m.contains("testing = [\"qix-runtime/testing\"]\n"));
    }
}

/// `qix-codegen generate --out DIR`: the runtime by `--runtime-version` or `--runtime`,
/// never both.
#[test]
fn generate_command_chooses_the_runtime_source() {
    let bin = env!("CARGO_BIN_EXE_qix-codegen");
    let spec = golden_dir().join("multi_out.openrpc");
    let out = std::env::temp_dir().join(format!("qix-codegen-out-{}", std::process::id()));
    let run = |extra: &[&str]| {
        std::process::Command::new(bin)
            .args([
                "generate",
                "--spec",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let r = run(&["--runtime-version", "0.1.0"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qix-runtime = { version = \"0.1.0\", default-features = false }"));
    assert!(out.join("src/lib.rs").is_file());
    let r = run(&[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qix-runtime = { path = \""), "{manifest}");
    let r = run(&["--runtime", ".", "--runtime-version", "1"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not both"));
}

#[test]
fn secrets_have_redacting_debug_impls_and_are_listed_as_data() {
    let code = check("secrets");
    // Requests and types with a secret implement Debug by hand; the others derive it.
    assert!(code.contains("#[derive(Clone)]\n#[must_use = \"a request does nothing until it is awaited\"]\npub struct OpenDoc {"));
    assert!(code.contains("impl ::std::fmt::Debug for OpenDoc {"));
    assert!(code.contains("&::qix_runtime::redact::Redacted(\n                    &self.password,\n                    ::qix_runtime::redact::SecretKind::Value,"));
    assert!(code.contains("impl ::std::fmt::Debug for Connection {"));
    assert!(code.contains("::qix_runtime::redact::SecretKind::ConnectionString"));
    assert!(code.contains("#[derive(Debug, Clone)]\n#[must_use = \"a request does nothing until it is awaited\"]\npub struct CreateConnection {"));
    // The list as data, with the param's position.
    assert!(code.contains("pub static SECRETS: ::qix_runtime::redact::Secrets"));
    assert!(code.contains("method: \"Global.OpenDoc\",\n            param: \"qPassword\",\n            position: 2usize,"));
}

/// Hand-written modules are declared by the generator itself (a setting), at the end of
/// `lib.rs`: no second tool edits generated text. A name that is no identifier is an error.
#[test]
fn extra_modules_are_declared_by_the_generator() {
    let path = golden_dir().join("optional_params.openrpc");
    let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let settings = Settings::default().with_extra_module("helpers", "Hand-written.\nTwo lines.");
    let g = qix_codegen::generate(&spec, "optional_params", &settings).unwrap();
    let lib = &g
        .files
        .iter()
        .find(|f| f.path == "lib.rs")
        .unwrap()
        .contents;
    assert!(
        lib.ends_with(";\n/// Hand-written.\n/// Two lines.\npub mod helpers;\n"),
        "{lib}"
    );
    assert!(!g.files.iter().any(|f| f.path.starts_with("helpers")));
    let settings = Settings::default().with_extra_module("not a name", "");
    let e = qix_codegen::generate(&spec, "optional_params", &settings).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"not a name\": not a Rust identifier"),
        "{e}"
    );
}
