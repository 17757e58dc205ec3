//! What a diff reports: the kinds of change, the situations that decide their verdicts, the
//! verdicts themselves, and one [`Change`] record per difference.

use std::fmt;

/// How bad a change is for one audience (the wire or the crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Compatible,
    /// Works, but may behave differently (a value decodes as `Unknown`, a setting is ignored).
    Dangerous,
    Breaking,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compatible => "compatible",
            Verdict::Dangerous => "dangerous",
            Verdict::Breaking => "breaking",
        }
    }

    /// Parses `--fail-on` values.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "compatible" => Some(Verdict::Compatible),
            "dangerous" => Some(Verdict::Dangerous),
            "breaking" => Some(Verdict::Breaking),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`Kind`] with its dotted name and its mirror (what the same difference is called
/// when the two specs are swapped), so the three can never drift apart.
macro_rules! kinds {
    ($($variant:ident = $name:literal, mirror $mirror:ident;)*) => {
        /// The kind of a change; `as_str` is the dotted name used in every output.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($variant),*
        }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name),*
                }
            }

            /// The kind diff(new, old) reports for what diff(old, new) reports as `self`.
            pub fn mirror(self) -> Kind {
                match self {
                    $(Kind::$variant => Kind::$mirror),*
                }
            }
        }
    };
}

kinds! {
    MethodAdded = "method.added", mirror MethodRemoved;
    MethodRemoved = "method.removed", mirror MethodAdded;
    MethodStabilityChanged = "method.stability_changed", mirror MethodStabilityChanged;
    MethodDeprecated = "method.deprecated", mirror MethodUndeprecated;
    MethodUndeprecated = "method.undeprecated", mirror MethodDeprecated;
    MethodAccessControlChanged = "method.access_control_changed", mirror MethodAccessControlChanged;
    MethodDeltaChanged = "method.delta_changed", mirror MethodDeltaChanged;
    MethodOpensChanged = "method.opens_changed", mirror MethodOpensChanged;
    MethodReadChanged = "method.read_changed", mirror MethodReadChanged;
    ParamAdded = "param.added", mirror ParamRemoved;
    ParamRemoved = "param.removed", mirror ParamAdded;
    ParamRenamed = "param.renamed", mirror ParamRenamed;
    ParamReordered = "param.reordered", mirror ParamReordered;
    ParamTypeChanged = "param.type_changed", mirror ParamTypeChanged;
    ParamRequiredChanged = "param.required_changed", mirror ParamRequiredChanged;
    ParamDefaultChanged = "param.default_changed", mirror ParamDefaultChanged;
    ParamSecretChanged = "param.secret_changed", mirror ParamSecretChanged;
    ResultAdded = "result.added", mirror ResultRemoved;
    ResultRemoved = "result.removed", mirror ResultAdded;
    ResultChanged = "result.changed", mirror ResultChanged;
    SchemaAdded = "schema.added", mirror SchemaRemoved;
    SchemaRemoved = "schema.removed", mirror SchemaAdded;
    SchemaKindChanged = "schema.kind_changed", mirror SchemaKindChanged;
    SchemaStabilityChanged = "schema.stability_changed", mirror SchemaStabilityChanged;
    SchemaDeprecated = "schema.deprecated", mirror SchemaUndeprecated;
    SchemaUndeprecated = "schema.undeprecated", mirror SchemaDeprecated;
    PropertyAdded = "property.added", mirror PropertyRemoved;
    PropertyRemoved = "property.removed", mirror PropertyAdded;
    PropertyTypeChanged = "property.type_changed", mirror PropertyTypeChanged;
    PropertyDefaultChanged = "property.default_changed", mirror PropertyDefaultChanged;
    PropertyBoxingChanged = "property.boxing_changed", mirror PropertyBoxingChanged;
    PropertySecretChanged = "property.secret_changed", mirror PropertySecretChanged;
    PropertyStabilityChanged = "property.stability_changed", mirror PropertyStabilityChanged;
    PropertyDeprecated = "property.deprecated", mirror PropertyUndeprecated;
    PropertyUndeprecated = "property.undeprecated", mirror PropertyDeprecated;
    EnumValueAdded = "enum.value_added", mirror EnumValueRemoved;
    EnumValueRemoved = "enum.value_removed", mirror EnumValueAdded;
    EnumConstantChanged = "enum.constant_changed", mirror EnumConstantChanged;
    EnumLongNameChanged = "enum.long_name_changed", mirror EnumLongNameChanged;
    EnumVariantRenamed = "enum.variant_renamed", mirror EnumVariantRenamed;
    ErrorAdded = "error.added", mirror ErrorRemoved;
    ErrorRemoved = "error.removed", mirror ErrorAdded;
    ErrorRenumbered = "error.renumbered", mirror ErrorRenumbered;
    DocChanged = "doc.changed", mirror DocChanged;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The situation of a change that its verdicts depend on (a required vs an optional param, a
/// type the engine sends vs one it only receives, …). `Any` when nothing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Any,
    /// The param is (or was) required.
    Required,
    Optional,
    /// An optional param became required.
    ToRequired,
    /// A required param became optional.
    ToOptional,
    /// The order of the required params (the positional Rust arguments) changed.
    RequiredOrder,
    /// Only optional params moved (they are builder methods, order does not matter).
    OptionalOrder,
    /// The number of out-properties crossed 0/1/many, so the Rust return type changes shape.
    ShapeChanged,
    ShapeKept,
    /// The removed out-property was the method's only one.
    Sole,
    /// The removed out-property was one of several.
    Many,
    /// The type is reachable from method params only (the client sends it).
    Request,
    /// The type is reachable from method results only (the client decodes it).
    Response,
    Both,
    /// No method reaches the type.
    Unused,
    /// Stability went down (locked → stable → experimental).
    Lowered,
    /// Stability went up, or between values the tool does not rank.
    Raised,
    /// A call now needs privileges it did not need.
    Stricter,
    Looser,
    /// The Rust variant name changes with the long name.
    RenamesVariant,
    KeepsVariant,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Any => "any",
            Context::Required => "required",
            Context::Optional => "optional",
            Context::ToRequired => "to_required",
            Context::ToOptional => "to_optional",
            Context::RequiredOrder => "required_order",
            Context::OptionalOrder => "optional_order",
            Context::ShapeChanged => "shape_changed",
            Context::ShapeKept => "shape_kept",
            Context::Sole => "sole",
            Context::Many => "many",
            Context::Request => "request",
            Context::Response => "response",
            Context::Both => "both",
            Context::Unused => "unused",
            Context::Lowered => "lowered",
            Context::Raised => "raised",
            Context::Stricter => "stricter",
            Context::Looser => "looser",
            Context::RenamesVariant => "renames_variant",
            Context::KeepsVariant => "keeps_variant",
        }
    }

    /// A phrase for the policy table (`when …`).
    pub fn describe(self) -> &'static str {
        match self {
            Context::Any => "—",
            Context::Required => "required param",
            Context::Optional => "optional param",
            Context::ToRequired => "optional → required",
            Context::ToOptional => "required → optional",
            Context::RequiredOrder => "required params change order",
            Context::OptionalOrder => "only optional params move",
            Context::ShapeChanged => "return type changes shape (0 / 1 / several out-properties)",
            Context::ShapeKept => "return type keeps its shape",
            Context::Sole => "the only out-property",
            Context::Many => "one of several out-properties",
            Context::Request => "type in requests only",
            Context::Response => "type in responses only",
            Context::Both => "type in requests and responses",
            Context::Unused => "type no method uses",
            Context::Lowered => "towards experimental",
            Context::Raised => "towards locked (or unranked)",
            Context::Stricter => "more privileges needed",
            Context::Looser => "fewer privileges needed",
            Context::RenamesVariant => "the Rust variant name changes",
            Context::KeepsVariant => "the Rust variant name stays",
        }
    }
}

/// Where a change belongs in a grouped report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Method { class: String, method: String },
    Type { name: String, is_enum: bool },
    Error,
}

/// One difference between two specs, with its two verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Stable across runs: the kind and path (and, for doc changes, which text).
    pub id: String,
    pub kind: Kind,
    pub context: Context,
    /// `Doc.GetObject`, `Doc.GetObject(qId)`, `Doc.GetObject -> qReturn`, `NxPage.qLeft`,
    /// `NxDimCellType::V`, `LOCERR_X`.
    pub path: String,
    pub scope: Scope,
    /// Does a client generated from the old spec still work against an engine at the new one?
    pub wire: Verdict,
    /// Does code written against the crate generated from the old spec still compile?
    pub krate: Verdict,
    /// Why the policy gives these verdicts.
    pub why: &'static str,
    pub message: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Change {
    /// The worse of the two verdicts.
    pub fn worst(&self) -> Verdict {
        self.wire.max(self.krate)
    }
}
