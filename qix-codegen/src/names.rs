//! Rust names for spec names: one rule each, so a name changes only where the spec's does.

use heck::{ToSnakeCase, ToUpperCamelCase};

// ---- Names the generated code defines beside the spec's ---------------------------------
//
// Defined once: the lowering checks spec names against them, the emitter writes them. The
// runtime's macros (`qix-runtime/src/macros.rs`) expand some of them; a test checks that
// they define exactly these.

/// The catch-all field every generated struct (and every output struct) has.
pub const EXTRA_FIELD: &str = "extra";
/// The fallback variant every generated enum and `ErrorCode` has.
pub const UNKNOWN_VARIANT: &str = "Unknown";
/// Accessors every handle struct has; a method of the same name would collide.
pub const HANDLE_ACCESSORS: &[&str] = &[
    "handle",
    "object",
    "session",
    "generic_id",
    "generic_type",
    "from_object",
    "new",
    "into_object",
    "changed",
    "closed",
    "is_closed",
];
/// Methods and fields every request struct has (the runtime's `__request!` adds `timeout`
/// and `retries`); an optional param's builder method of the same name would collide.
pub const REQUEST_ITEMS: &[&str] = &[
    "into_future",
    "object",
    "call_options",
    "timeout",
    "retries",
];
/// Prelude names `types.rs` writes unqualified (`Option<Vec<String>>`): a spec type of the
/// same name would shadow them.
pub const TYPES_MODULE_RESERVED: &[&str] = &["Option", "Vec", "String", "Box"];

/// The struct a method with several out-properties returns: `CreateSessionAppOutput`.
pub fn output_name(method: &str) -> String {
    format!("{}Output", camel(method))
}

/// The private struct its result is decoded into first: `CreateSessionAppOutputRaw`.
pub fn raw_output_name(method: &str) -> String {
    format!("{}Raw", output_name(method))
}

/// Keywords that can be used as raw identifiers (`r#type`).
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers; these get a trailing underscore.
const PLAIN_KEYWORDS: &[&str] = &["crate", "self", "super", "Self", "_"];

/// A field or param name: the wire name without its `q` prefix, in snake_case
/// (`qText` → `text`, `qcx` → `cx`, `qnDec` → `n_dec`, `qType` → `r#type`).
pub fn field_name(wire: &str) -> String {
    let bare = match wire.strip_prefix('q') {
        Some(rest) if !rest.is_empty() => rest,
        _ => wire,
    };
    escape(&bare.to_snake_case())
}

/// The field for `qReturn` in a struct of several out-properties, named after what it
/// holds: an object handle by its class without `Generic` (`Doc` → `doc`,
/// `GenericObject` → `object`), a bool `success`, anything else `value`.
pub fn return_field(object_class: Option<&str>, ty: &crate::ir::TypeRef) -> String {
    match object_class {
        Some(class) => {
            let bare = class
                .strip_prefix("Generic")
                .filter(|r| !r.is_empty())
                .unwrap_or(class);
            escape(&bare.to_snake_case())
        }
        None if *ty == crate::ir::TypeRef::Bool => "success".to_string(),
        None => "value".to_string(),
    }
}

/// A method name: `GetObject` → `get_object`.
pub fn method_name(wire: &str) -> String {
    escape(&wire.to_snake_case())
}

/// A type name: spec names are kept (`NxPage`); only characters Rust does not allow change.
pub fn type_name(spec: &str) -> String {
    let mut out: String = spec
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, 'T');
    }
    out
}

/// An UpperCamelCase name (enum variants, error codes, request types).
pub fn camel(name: &str) -> String {
    let mut out = name.to_upper_camel_case();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if PLAIN_KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Escapes a snake_case identifier that is a Rust keyword.
pub fn escape(ident: &str) -> String {
    let mut ident = if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{ident}")
    } else {
        ident.to_string()
    };
    if RAW_KEYWORDS.contains(&ident.as_str()) {
        ident.insert_str(0, "r#");
    } else if PLAIN_KEYWORDS.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// The identifier without a raw prefix, for building other names from it.
pub fn bare(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_drop_the_q_prefix() {
        assert_eq!(field_name("qText"), "text");
        assert_eq!(field_name("qcx"), "cx");
        assert_eq!(field_name("qnDec"), "n_dec");
        assert_eq!(field_name("qType"), "r#type");
        assert_eq!(field_name("qReturn"), "r#return");
        assert_eq!(field_name("qSelf"), "self_");
        assert_eq!(field_name("q"), "q");
        assert_eq!(field_name("title"), "title");
        assert_eq!(
            field_name("qPersonalEditionHash_OBSOLETE"),
            "personal_edition_hash_obsolete"
        );
    }

    #[test]
    fn method_and_variant_names() {
        assert_eq!(method_name("GetObject"), "get_object");
        assert_eq!(method_name("DoReloadEx"), "do_reload_ex");
        assert_eq!(camel("NX_DIM_CELL_VALUE"), "NxDimCellValue");
        assert_eq!(camel("CONNECT_64"), "Connect64");
        assert_eq!(camel("64"), "V64");
    }
}
