//! The API as the generator sees it: classes, methods, params, results, types, enums and error
//! codes, with Rust names chosen and spec facts (stability, deprecation, access control)
//! attached. Built from a [`Spec`](crate::spec::Spec) by [`lower`](crate::lower::lower); read
//! by the emitter and by `diff`.

use indexmap::IndexMap;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Api {
    /// `info.version` of the spec.
    pub version: String,
    pub title: String,
    /// The stability that applies where an item states none (`x-qlik-stability` at the top).
    pub default_stability: Option<String>,
    /// Classes in a fixed order (by name), each with its methods in spec order.
    pub classes: Vec<Class>,
    /// Component schemas in spec order.
    pub types: IndexMap<String, TypeDef>,
    /// Error codes in spec order (groups such as `GenericErrors` are not codes).
    pub errors: Vec<ErrorCodeDef>,
    /// The class of the session's root object (handle -1), when the spec has it (from the
    /// companion map).
    pub root_class: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub methods: Vec<MethodDef>,
}

/// Facts the spec states about an item beside its shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `x-qlik-stability` as stated on the item (`None`: the document default applies).
    pub stability: Option<String>,
    /// Present when the item is deprecated, with the spec's text when it gives one.
    pub deprecated: Option<Deprecation>,
    /// `x-qlik-access-control`: privileges needed to call a method.
    pub access_control: Vec<String>,
    /// The oldest engine version (of a history of specs) that has the item.
    pub since: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deprecation {
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MethodDef {
    pub class: String,
    /// The method part of `Class.Method`, as sent on the wire.
    pub name: String,
    /// snake_case Rust name.
    pub rust_name: String,
    pub doc: Option<String>,
    pub params: Vec<ParamDef>,
    pub results: Vec<OutDef>,
    pub facts: Facts,
    /// How the runtime treats calls of the method, decided by the lowering.
    pub protocol: Protocol,
}

/// What the runtime must know about a method beyond its shape: decided once, by the
/// lowering, from the spec and the companion map; the emitter only writes it down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protocol {
    /// The out-param to ask the delta protocol for: the method's one out-param, unless it
    /// is `qSuccess` or an object (its handle is the point), as enigma.js asks.
    pub delta: Option<String>,
    /// The class of the object the method's `qReturn` opens.
    pub opens: Option<String>,
    /// Safe to send again (a read, as the companion map's `reads` says): retried when the
    /// engine aborts it, and sent again without delta when a delta answer cannot apply.
    pub read: bool,
}

impl MethodDef {
    /// `Class.Method`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.class, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct ParamDef {
    /// Wire name (`qId`).
    pub name: String,
    pub rust_name: String,
    pub required: bool,
    /// Zero-based position in the spec's param list.
    pub position: usize,
    pub ty: TypeRef,
    pub doc: Option<String>,
    pub default: Option<Value>,
    pub since: Option<String>,
}

/// One out-property of a result (`qReturn`, `qLayout`, `qInfo`, `qSessionAppId`, …).
#[derive(Debug, Clone)]
pub struct OutDef {
    pub name: String,
    pub rust_name: String,
    pub ty: TypeRef,
    pub doc: Option<String>,
    /// When the out-property is an `ObjectInterface`: the class of the handle it opens.
    pub object_class: Option<String>,
    pub since: Option<String>,
}

/// A reference to a type, as used by a field, param or out-property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    Bool,
    Int(IntKind),
    /// A JSON number; the engine also sends `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Number,
    String,
    /// base64 bytes.
    Blob,
    /// Any JSON (`JsonObject`, untyped objects).
    Json,
    /// A component schema by its spec name.
    Named(String),
    Array(Box<TypeRef>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntKind {
    I8,
    U8,
    I32,
    I64,
}

impl TypeRef {
    /// A short spec-like description (`int32`, `array<NxPage>`), for messages and diffs.
    pub fn describe(&self) -> String {
        match self {
            TypeRef::Bool => "boolean".into(),
            TypeRef::Int(IntKind::I8) => "int8".into(),
            TypeRef::Int(IntKind::U8) => "byte".into(),
            TypeRef::Int(IntKind::I32) => "int32".into(),
            TypeRef::Int(IntKind::I64) => "int64".into(),
            TypeRef::Number => "number".into(),
            TypeRef::String => "string".into(),
            TypeRef::Blob => "blob".into(),
            TypeRef::Json => "json".into(),
            TypeRef::Named(n) => n.clone(),
            TypeRef::Array(t) => format!("array<{}>", t.describe()),
        }
    }
}

#[derive(Debug, Clone)]
pub enum TypeDef {
    Struct(StructDef),
    Enum(EnumDef),
    /// A named array or scalar (`NxCellRows` = array of `NxCell`, `Blob`, `JsonObject`).
    Alias(AliasDef),
}

impl TypeDef {
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Struct(s) => &s.name,
            TypeDef::Enum(e) => &e.name,
            TypeDef::Alias(a) => &a.name,
        }
    }

    pub fn facts(&self) -> &Facts {
        match self {
            TypeDef::Struct(s) => &s.facts,
            TypeDef::Enum(e) => &e.facts,
            TypeDef::Alias(a) => &a.facts,
        }
    }

    pub fn doc(&self) -> Option<&str> {
        match self {
            TypeDef::Struct(s) => s.doc.as_deref(),
            TypeDef::Enum(e) => e.doc.as_deref(),
            TypeDef::Alias(a) => a.doc.as_deref(),
        }
    }

    /// `object`, `enum`, `array`, `string`, … for diffs.
    pub fn kind(&self) -> &'static str {
        match self {
            TypeDef::Struct(_) => "object",
            TypeDef::Enum(_) => "enum",
            TypeDef::Alias(a) => match a.target {
                TypeRef::Array(_) => "array",
                TypeRef::Blob => "blob",
                TypeRef::Json => "json",
                TypeRef::String => "string",
                _ => "alias",
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<FieldDef>,
    /// Named alternatives that may appear as extra properties (`qHyperCube` in a
    /// `GenericObjectLayout`), from `additionalProperties.anyOf`.
    pub dynamic: Vec<FieldDef>,
    pub facts: Facts,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Wire name (`qText`).
    pub name: String,
    pub rust_name: String,
    pub ty: TypeRef,
    pub doc: Option<String>,
    pub default: Option<Value>,
    /// Boxed to break a cycle of types that contain each other, or to keep a data cell
    /// (the element of a matrix) small.
    pub boxed: bool,
    pub facts: Facts,
}

#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: String,
    pub doc: Option<String>,
    pub values: Vec<EnumValue>,
    pub facts: Facts,
}

#[derive(Debug, Clone)]
pub struct EnumValue {
    /// The wire form (`title`), e.g. `V`.
    pub title: String,
    /// The engine's long name (`NX_DIM_CELL_VALUE`), also accepted when decoding.
    pub long_name: Option<String>,
    /// `x-qlik-const`.
    pub constant: Option<i64>,
    pub rust_name: String,
    pub since: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AliasDef {
    pub name: String,
    pub doc: Option<String>,
    pub target: TypeRef,
    pub facts: Facts,
}

#[derive(Debug, Clone)]
pub struct ErrorCodeDef {
    /// `LOCERR_GENERIC_NOT_FOUND`.
    pub name: String,
    pub rust_name: String,
    pub code: i64,
    pub message: Option<String>,
    pub since: Option<String>,
}

impl Api {
    pub fn method_count(&self) -> usize {
        self.classes.iter().map(|c| c.methods.len()).sum()
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }

    pub fn struct_def(&self, name: &str) -> Option<&StructDef> {
        match self.types.get(name) {
            Some(TypeDef::Struct(s)) => Some(s),
            _ => None,
        }
    }

    pub fn enum_count(&self) -> usize {
        self.types
            .values()
            .filter(|t| matches!(t, TypeDef::Enum(_)))
            .count()
    }
}
