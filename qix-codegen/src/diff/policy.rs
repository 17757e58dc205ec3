//! The verdict policy: one table that decides, for every kind of change in every situation,
//! what it means on the wire and for the crate. Nothing else in `diff` judges changes; the
//! table is rendered into the `diff` module's docs, `src/diff/README.md` (a test keeps the two in step).

use super::model::{Context, Kind, Verdict};

use Context::*;
use Kind::*;
use Verdict::{Breaking as B, Compatible as C, Dangerous as D};

/// One row of the policy.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub kind: Kind,
    pub context: Context,
    /// Does a client generated from the OLD spec still work against an engine at the NEW one?
    pub wire: Verdict,
    /// Does code written against the crate generated from OLD still compile against NEW?
    pub krate: Verdict,
    pub why: &'static str,
}

const fn rule(
    kind: Kind,
    context: Context,
    wire: Verdict,
    krate: Verdict,
    why: &'static str,
) -> Rule {
    Rule {
        kind,
        context,
        wire,
        krate,
        why,
    }
}

#[rustfmt::skip]
pub const POLICY: &[Rule] = &[
    rule(MethodAdded, Any, C, C, "old clients never call it; a new handle method"),
    rule(MethodRemoved, Any, B, B, "the engine rejects the call; the handle method is gone"),
    rule(MethodStabilityChanged, Lowered, D, C, "the engine no longer promises to keep the method as it is"),
    rule(MethodStabilityChanged, Raised, C, C, "a stronger promise"),
    rule(MethodDeprecated, Any, C, C, "still works; `#[deprecated]` only warns"),
    rule(MethodUndeprecated, Any, C, C, "the warning goes away"),
    rule(MethodAccessControlChanged, Stricter, D, C, "calls by users without the new privilege fail"),
    rule(MethodAccessControlChanged, Looser, C, C, "more callers may call it"),
    rule(ParamAdded, Required, B, B, "old clients do not send it; a new positional argument"),
    rule(ParamAdded, Optional, C, C, "omitted when unset; a new builder method"),
    rule(ParamRemoved, Any, D, B, "the engine ignores or rejects a param it no longer knows; the argument or builder method is gone"),
    rule(ParamRenamed, Required, B, C, "params are sent by name; a positional argument's name does not matter to callers"),
    rule(ParamRenamed, Optional, B, B, "params are sent by name; the builder method is renamed"),
    rule(ParamReordered, RequiredOrder, C, B, "params are sent by name; the positional arguments change order"),
    rule(ParamReordered, OptionalOrder, C, C, "params are sent by name; builder methods have no order"),
    rule(ParamTypeChanged, Any, B, B, "the engine expects another type; the argument type changes"),
    rule(ParamRequiredChanged, ToRequired, B, B, "old clients may omit it; it becomes a positional argument"),
    rule(ParamRequiredChanged, ToOptional, C, B, "old clients always send it; the positional argument becomes a builder method"),
    rule(ParamDefaultChanged, Any, D, C, "calls that omit it behave differently"),
    rule(ResultAdded, ShapeChanged, C, B, "unknown out-properties are ignored; the return type changes (value ↔ output struct)"),
    rule(ResultAdded, ShapeKept, C, C, "unknown out-properties are ignored; a new field of the output struct"),
    rule(ResultRemoved, Sole, B, B, "the value the old client decodes is missing; the return type changes"),
    rule(ResultRemoved, Many, D, B, "the old client sees the field's default value; the field is gone"),
    rule(ResultChanged, Any, B, B, "the old client cannot decode the new type; the return type changes"),
    rule(SchemaAdded, Any, C, C, "a new type"),
    rule(SchemaRemoved, Any, C, B, "methods that used it are reported on their own; the type is gone"),
    rule(SchemaKindChanged, Request, B, B, "one side cannot read what the other sends; the type changes"),
    rule(SchemaKindChanged, Response, B, B, "one side cannot read what the other sends; the type changes"),
    rule(SchemaKindChanged, Both, B, B, "one side cannot read what the other sends; the type changes"),
    rule(SchemaKindChanged, Unused, C, B, "no method carries it; the type changes"),
    rule(SchemaStabilityChanged, Lowered, D, C, "the engine no longer promises to keep the type as it is"),
    rule(SchemaStabilityChanged, Raised, C, C, "a stronger promise"),
    rule(SchemaDeprecated, Any, C, C, "still works; `#[deprecated]` only warns"),
    rule(SchemaUndeprecated, Any, C, C, "the warning goes away"),
    rule(PropertyAdded, Any, C, C, "decoding keeps unknown properties and the engine defaults unsent ones; structs are built with `..Default::default()`"),
    rule(PropertyRemoved, Request, D, B, "the engine ignores what old clients set; the field is gone"),
    rule(PropertyRemoved, Response, C, B, "the field is an `Option` and stays `None`; the field is gone"),
    rule(PropertyRemoved, Both, D, B, "the engine ignores what old clients set; the field is gone"),
    rule(PropertyRemoved, Unused, C, B, "no method carries it; the field is gone"),
    rule(PropertyTypeChanged, Request, B, B, "one side cannot read what the other sends; the field type changes"),
    rule(PropertyTypeChanged, Response, B, B, "one side cannot read what the other sends; the field type changes"),
    rule(PropertyTypeChanged, Both, B, B, "one side cannot read what the other sends; the field type changes"),
    rule(PropertyTypeChanged, Unused, C, B, "no method carries it; the field type changes"),
    rule(PropertyDefaultChanged, Request, D, C, "requests that leave it unset behave differently"),
    rule(PropertyDefaultChanged, Response, C, C, "no request leaves it unset"),
    rule(PropertyDefaultChanged, Both, D, C, "requests that leave it unset behave differently"),
    rule(PropertyDefaultChanged, Unused, C, C, "no request leaves it unset"),
    rule(PropertyBoxingChanged, Any, C, B, "a Rust-only change: the field type gains or loses a `Box` (a cycle of types, or a data cell's nested struct)"),
    rule(PropertyStabilityChanged, Lowered, D, C, "the engine no longer promises to keep the property as it is"),
    rule(PropertyStabilityChanged, Raised, C, C, "a stronger promise"),
    rule(PropertyDeprecated, Any, C, C, "still works; `#[deprecated]` only warns"),
    rule(PropertyUndeprecated, Any, C, C, "the warning goes away"),
    rule(EnumValueAdded, Request, C, C, "old clients never receive it; enums are `#[non_exhaustive]`"),
    rule(EnumValueAdded, Response, D, C, "old clients decode it as `Unknown(..)`; enums are `#[non_exhaustive]`"),
    rule(EnumValueAdded, Both, D, C, "old clients decode it as `Unknown(..)`; enums are `#[non_exhaustive]`"),
    rule(EnumValueAdded, Unused, C, C, "old clients never receive it; enums are `#[non_exhaustive]`"),
    rule(EnumValueRemoved, Request, B, B, "the engine rejects a value old clients may send; the variant is gone"),
    rule(EnumValueRemoved, Response, C, B, "old clients never send it; the variant is gone"),
    rule(EnumValueRemoved, Both, B, B, "the engine rejects a value old clients may send; the variant is gone"),
    rule(EnumValueRemoved, Unused, C, B, "old clients never send it; the variant is gone"),
    rule(EnumConstantChanged, Any, C, C, "the wire carries titles, not `x-qlik-const` numbers; the constant is not in the crate"),
    rule(EnumLongNameChanged, RenamesVariant, C, B, "the engine sends titles; the Rust variant is named after the long name"),
    rule(EnumLongNameChanged, KeepsVariant, C, C, "the engine sends titles; only `long_name()` changes"),
    rule(EnumVariantRenamed, Any, C, B, "a Rust-only change: the shared prefix of the long names changed, so the variant name did"),
    rule(ErrorAdded, Any, C, C, "any call may fail with a code the client does not know (`ErrorCode::Unknown`); `ErrorCode` is `#[non_exhaustive]`"),
    rule(ErrorRemoved, Any, C, B, "the engine stops sending it; the `ErrorCode` variant is gone"),
    rule(ErrorRenumbered, Any, B, C, "old clients map the new number to the wrong code or `Unknown`; the variant keeps its name"),
    rule(DocChanged, Any, C, C, "documentation only"),
];

/// The rule for a change, or `None` when the table has no row for it (a bug: a test checks
/// that every kind has its rows).
pub fn rule_for(kind: Kind, context: Context) -> Option<&'static Rule> {
    POLICY
        .iter()
        .find(|r| r.kind == kind && r.context == context)
        .or_else(|| POLICY.iter().find(|r| r.kind == kind && r.context == Any))
}

/// The policy as a markdown table (change, when, wire, crate, why), as in `src/diff/README.md`. Rows of
/// one kind that agree in everything but the situation are shown as one.
pub fn markdown_table() -> String {
    let mut rows: Vec<(Kind, Vec<Context>, Verdict, Verdict, &str)> = Vec::new();
    for r in POLICY {
        let same = |row: &&mut (Kind, Vec<Context>, Verdict, Verdict, &str)| {
            (row.0, row.2, row.3, row.4) == (r.kind, r.wire, r.krate, r.why)
        };
        match rows.iter_mut().find(same) {
            Some(row) => row.1.push(r.context),
            None => rows.push((r.kind, vec![r.context], r.wire, r.krate, r.why)),
        }
    }
    let mut out = String::from("| Change | When | Wire | Crate | Why |\n|---|---|---|---|---|\n");
    for (kind, contexts, wire, krate, why) in rows {
        let when = describe_all(&contexts);
        out.push_str(&format!(
            "| `{kind}` | {when} | {wire} | {krate} | {} |\n",
            why.replace('|', "\\|")
        ));
    }
    out
}

/// The situations of a merged row, in words: usage sets get a name of their own.
fn describe_all(contexts: &[Context]) -> String {
    let mut set = contexts.to_vec();
    set.sort();
    match set.as_slice() {
        [Request, Response, Both] => "type some method uses".into(),
        [Request, Both] => "type old clients send".into(),
        [Response, Both] => "type old clients receive".into(),
        [Request, Unused] => "type old clients never receive".into(),
        [Response, Unused] => "type old clients never send".into(),
        _ => contexts
            .iter()
            .map(|c| c.describe())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_rule_and_no_row_is_repeated() {
        for &k in Kind::ALL {
            assert!(POLICY.iter().any(|r| r.kind == k), "no policy row for {k}");
        }
        for (i, a) in POLICY.iter().enumerate() {
            for b in &POLICY[i + 1..] {
                assert!(
                    !(a.kind == b.kind && a.context == b.context),
                    "two rows for {} / {:?}",
                    a.kind,
                    a.context
                );
            }
        }
    }

    #[test]
    fn kinds_judged_by_type_usage_cover_every_usage() {
        for r in POLICY
            .iter()
            .filter(|r| matches!(r.context, Request | Response | Both | Unused))
        {
            for c in [Request, Response, Both, Unused] {
                assert!(
                    POLICY.iter().any(|x| x.kind == r.kind && x.context == c),
                    "{} has a row for {:?} but none for {c:?}",
                    r.kind,
                    r.context
                );
            }
        }
    }

    #[test]
    fn the_readme_section_shows_this_table() {
        let doc = include_str!("README.md");
        assert!(
            doc.contains(&markdown_table()),
            "qix-codegen/src/diff/README.md is out of date with the policy table; paste:\n{}",
            markdown_table()
        );
    }
}
