//! The walk over two APIs that finds their differences. Items are matched by name (methods by
//! `Class.Method`, params and properties by wire name, enum values by title, error codes by
//! name), never by position or by `x-qlik-const`; so moving or reordering definitions is no
//! change. Verdicts come from the policy table only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ir::{
    Api, EnumDef, ErrorCodeDef, Facts, FieldDef, MethodDef, OutDef, ParamDef, Redact, StructDef,
    TypeDef, TypeRef,
};

use super::model::{Change, Context, Kind, Scope, Verdict};
use super::policy;
use super::usage::Usage;

/// A difference found, before the policy judges it.
struct Entry {
    kind: Kind,
    context: Context,
    path: String,
    message: String,
    old: Option<String>,
    new: Option<String>,
    /// Which text a `doc.changed` is about, so two doc changes of one item get distinct ids.
    aspect: Option<&'static str>,
}

impl Entry {
    fn new(kind: Kind, path: impl Into<String>, message: impl Into<String>) -> Entry {
        Entry {
            kind,
            context: Context::Any,
            path: path.into(),
            message: message.into(),
            old: None,
            new: None,
            aspect: None,
        }
    }

    fn context(mut self, c: Context) -> Entry {
        self.context = c;
        self
    }

    fn values(mut self, old: Option<String>, new: Option<String>) -> Entry {
        self.old = old;
        self.new = new;
        self
    }
}

pub(super) struct Differ<'a> {
    old: &'a Api,
    new: &'a Api,
    /// Usage in the OLD API: the verdicts are about an old client.
    usage: Usage,
    out: Vec<Change>,
}

impl<'a> Differ<'a> {
    pub(super) fn new(old: &'a Api, new: &'a Api) -> Differ<'a> {
        Differ {
            old,
            new,
            usage: Usage::of(old),
            out: Vec::new(),
        }
    }

    /// Every change, sorted by scope, path and kind.
    pub(super) fn run(mut self) -> Vec<Change> {
        self.methods();
        self.types();
        self.errors();
        self.out.sort_by(|a, b| {
            (&a.scope, &a.path, a.kind, &a.id).cmp(&(&b.scope, &b.path, b.kind, &b.id))
        });
        self.out
    }

    fn push(&mut self, scope: &Scope, e: Entry) {
        let (wire, krate, why, context) = match policy::rule_for(e.kind, e.context) {
            Some(r) => (r.wire, r.krate, r.why, r.context),
            // Unreachable while the policy tests pass; judged harshly rather than hidden.
            None => (
                Verdict::Breaking,
                Verdict::Breaking,
                "no policy row for this change",
                e.context,
            ),
        };
        let mut id = format!("{}:{}", e.kind, e.path.replace(' ', ""));
        if let Some(a) = e.aspect {
            id.push('#');
            id.push_str(&a.replace(' ', "_"));
        }
        self.out.push(Change {
            id,
            kind: e.kind,
            context,
            path: e.path,
            scope: scope.clone(),
            wire,
            krate,
            why,
            message: e.message,
            old: e.old,
            new: e.new,
        });
    }

    fn doc(
        &mut self,
        scope: &Scope,
        path: &str,
        aspect: &'static str,
        old: Option<&str>,
        new: Option<&str>,
    ) {
        if same_text(old, new) {
            return;
        }
        let (before, after) = excerpts(old, new);
        let mut e = Entry::new(
            Kind::DocChanged,
            path,
            format!("{aspect} changed: {before} → {after}"),
        )
        .values(old.map(str::to_string), new.map(str::to_string));
        e.aspect = Some(aspect);
        self.push(scope, e);
    }

    /// Stability and deprecation, shared by methods, schemas and properties.
    fn facts(&mut self, scope: &Scope, path: &str, what: FactKinds, old: &Facts, new: &Facts) {
        let before = Stability::effective(old, self.old);
        let after = Stability::effective(new, self.new);
        if before.value != after.value {
            let lowered =
                matches!((rank(before.value), rank(after.value)), (Some(a), Some(b)) if b < a);
            self.push(
                scope,
                Entry::new(
                    what.stability,
                    path,
                    format!("stability {before} → {after}"),
                )
                .context(if lowered {
                    Context::Lowered
                } else {
                    Context::Raised
                })
                .values(
                    before.value.map(str::to_string),
                    after.value.map(str::to_string),
                ),
            );
        }
        match (&old.deprecated, &new.deprecated) {
            (None, Some(d)) => {
                let note = d
                    .text
                    .as_deref()
                    .map(|t| format!(": {}", one_line(t)))
                    .unwrap_or_default();
                self.push(
                    scope,
                    Entry::new(what.deprecated, path, format!("deprecated{note}"))
                        .values(None, d.text.clone()),
                );
            }
            (Some(d), None) => {
                self.push(
                    scope,
                    Entry::new(what.undeprecated, path, "no longer deprecated")
                        .values(d.text.clone(), None),
                );
            }
            (Some(a), Some(b)) => self.doc(
                scope,
                path,
                "deprecation note",
                a.text.as_deref(),
                b.text.as_deref(),
            ),
            (None, None) => {}
        }
    }

    // ---- methods ---------------------------------------------------------------------------

    fn methods(&mut self) {
        let index = |api: &'a Api| -> BTreeMap<(String, String), &'a MethodDef> {
            api.classes
                .iter()
                .flat_map(|c| &c.methods)
                .map(|m| ((m.class.clone(), m.name.clone()), m))
                .collect()
        };
        let (old, new) = (index(self.old), index(self.new));
        for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let scope = Scope::Method {
                class: key.0.clone(),
                method: key.1.clone(),
            };
            match (old.get(key), new.get(key)) {
                (Some(m), None) => {
                    let e = Entry::new(
                        Kind::MethodRemoved,
                        m.full_name(),
                        format!("method removed (was `{}`)", signature(m)),
                    )
                    .values(Some(signature(m)), None);
                    self.push(&scope, e);
                }
                (None, Some(m)) => {
                    let e = Entry::new(
                        Kind::MethodAdded,
                        m.full_name(),
                        format!("new method `{}`", signature(m)),
                    )
                    .values(None, Some(signature(m)));
                    self.push(&scope, e);
                }
                (Some(a), Some(b)) => self.method(&scope, a, b),
                (None, None) => {}
            }
        }
    }

    fn method(&mut self, scope: &Scope, a: &'a MethodDef, b: &'a MethodDef) {
        let path = a.full_name();
        self.facts(scope, &path, FactKinds::METHOD, &a.facts, &b.facts);
        let (before, after) = (&a.facts.access_control, &b.facts.access_control);
        if before.iter().collect::<BTreeSet<_>>() != after.iter().collect::<BTreeSet<_>>() {
            let stricter = after.iter().any(|p| !before.contains(p));
            self.push(
                scope,
                Entry::new(
                    Kind::MethodAccessControlChanged,
                    &path,
                    format!(
                        "access control [{}] → [{}]",
                        before.join(", "),
                        after.join(", ")
                    ),
                )
                .context(if stricter {
                    Context::Stricter
                } else {
                    Context::Looser
                })
                .values(Some(before.join(", ")), Some(after.join(", "))),
            );
        }
        self.protocol(scope, &path, a, b);
        self.doc(
            scope,
            &path,
            "description",
            a.doc.as_deref(),
            b.doc.as_deref(),
        );
        self.params(scope, &path, a, b);
        self.results(scope, &path, a, b);
    }

    /// The facts the lowering decided for the runtime (see [`crate::ir::Protocol`]).
    fn protocol(&mut self, scope: &Scope, path: &str, a: &MethodDef, b: &MethodDef) {
        let (x, y) = (&a.protocol, &b.protocol);
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        if x.delta != y.delta {
            let e = Entry::new(
                Kind::MethodDeltaChanged,
                path,
                format!("delta out-param {} → {}", show(&x.delta), show(&y.delta)),
            )
            .values(x.delta.clone(), y.delta.clone());
            self.push(scope, e);
        }
        if x.opens != y.opens {
            let e = Entry::new(
                Kind::MethodOpensChanged,
                path,
                format!("opens {} → {}", show(&x.opens), show(&y.opens)),
            )
            .values(x.opens.clone(), y.opens.clone());
            self.push(scope, e);
        }
        if x.read != y.read {
            let word = |read: bool| if read { "read" } else { "write" };
            let e = Entry::new(
                Kind::MethodReadChanged,
                path,
                format!(
                    "{} → {} (safe to send again: {})",
                    word(x.read),
                    word(y.read),
                    y.read
                ),
            )
            .values(Some(word(x.read).into()), Some(word(y.read).into()));
            self.push(scope, e);
        }
    }

    fn params(&mut self, scope: &Scope, method: &str, a: &'a MethodDef, b: &'a MethodDef) {
        let find = |list: &'a [ParamDef], name: &str| list.iter().find(|p| p.name == name);
        let gone: Vec<&ParamDef> = a
            .params
            .iter()
            .filter(|p| find(&b.params, &p.name).is_none())
            .collect();
        let came: Vec<&ParamDef> = b
            .params
            .iter()
            .filter(|p| find(&a.params, &p.name).is_none())
            .collect();
        // A param that disappears where another of the same type appears was renamed.
        let renamed: Vec<(&ParamDef, &ParamDef)> = gone
            .iter()
            .filter_map(|g| {
                came.iter()
                    .find(|c| c.position == g.position && c.ty == g.ty)
                    .map(|c| (*g, *c))
            })
            .collect();
        let is_renamed_old = |p: &ParamDef| renamed.iter().any(|(o, _)| o.name == p.name);
        let is_renamed_new = |p: &ParamDef| renamed.iter().any(|(_, n)| n.name == p.name);

        for p in gone.iter().filter(|p| !is_renamed_old(p)) {
            let e = Entry::new(
                Kind::ParamRemoved,
                format!("{method}({})", p.name),
                format!(
                    "{} param `{}: {}` at position {} removed",
                    required_word(p),
                    p.name,
                    p.ty.describe(),
                    p.position
                ),
            )
            .context(if p.required {
                Context::Required
            } else {
                Context::Optional
            })
            .values(Some(param_sig(p)), None);
            self.push(scope, e);
        }
        for p in came.iter().filter(|p| !is_renamed_new(p)) {
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" (engine default {d})"))
                .unwrap_or_default();
            let e = Entry::new(
                Kind::ParamAdded,
                format!("{method}({})", p.name),
                format!(
                    "new {} param `{}: {}` at position {}{default}",
                    required_word(p),
                    p.name,
                    p.ty.describe(),
                    p.position
                ),
            )
            .context(if p.required {
                Context::Required
            } else {
                Context::Optional
            })
            .values(None, Some(param_sig(p)));
            self.push(scope, e);
        }
        let mut pairs: Vec<(&ParamDef, &ParamDef)> = a
            .params
            .iter()
            .filter_map(|p| find(&b.params, &p.name).map(|q| (p, q)))
            .collect();
        for (o, n) in &renamed {
            let e = Entry::new(
                Kind::ParamRenamed,
                format!("{method}({})", n.name),
                format!(
                    "param at position {} renamed `{}` → `{}` (`{}`)",
                    n.position,
                    o.name,
                    n.name,
                    n.ty.describe()
                ),
            )
            .context(if o.required {
                Context::Required
            } else {
                Context::Optional
            })
            .values(Some(o.name.clone()), Some(n.name.clone()));
            self.push(scope, e);
        }
        pairs.extend(renamed.iter().copied());

        for (o, n) in &pairs {
            let path = format!("{method}({})", n.name);
            if o.ty != n.ty {
                let e = Entry::new(
                    Kind::ParamTypeChanged,
                    &path,
                    format!("type `{}` → `{}`", o.ty.describe(), n.ty.describe()),
                )
                .values(Some(o.ty.describe()), Some(n.ty.describe()));
                self.push(scope, e);
            }
            if o.required != n.required {
                let e = Entry::new(
                    Kind::ParamRequiredChanged,
                    &path,
                    format!("{} → {}", required_word(o), required_word(n)),
                )
                .context(if n.required {
                    Context::ToRequired
                } else {
                    Context::ToOptional
                })
                .values(Some(required_word(o).into()), Some(required_word(n).into()));
                self.push(scope, e);
            }
            if o.secret != n.secret {
                let e = Entry::new(
                    Kind::ParamSecretChanged,
                    &path,
                    format!(
                        "secret {} → {}",
                        show_secret(o.secret),
                        show_secret(n.secret)
                    ),
                )
                .values(Some(show_secret(o.secret)), Some(show_secret(n.secret)));
                self.push(scope, e);
            }
            if o.default != n.default {
                let e = Entry::new(
                    Kind::ParamDefaultChanged,
                    &path,
                    format!(
                        "engine default {} → {}",
                        show_default(&o.default),
                        show_default(&n.default)
                    ),
                )
                .values(
                    o.default.as_ref().map(Value::to_string),
                    n.default.as_ref().map(Value::to_string),
                );
                self.push(scope, e);
            }
            self.doc(
                scope,
                &path,
                "description",
                o.doc.as_deref(),
                n.doc.as_deref(),
            );
        }

        // Reordered: the params both versions have (renamed ones count as the same) are in a
        // different relative order. Only the order of the required ones reaches Rust callers.
        let (before, after) = (
            order(&pairs, Side::Old, false),
            order(&pairs, Side::New, false),
        );
        if before != after {
            let required_moved = order(&pairs, Side::Old, true) != order(&pairs, Side::New, true);
            let e = Entry::new(
                Kind::ParamReordered,
                method,
                format!(
                    "params reordered: ({}) → ({})",
                    before.join(", "),
                    after.join(", ")
                ),
            )
            .context(if required_moved {
                Context::RequiredOrder
            } else {
                Context::OptionalOrder
            })
            .values(Some(before.join(", ")), Some(after.join(", ")));
            self.push(scope, e);
        }
    }

    fn results(&mut self, scope: &Scope, method: &str, a: &'a MethodDef, b: &'a MethodDef) {
        let shape = |n: usize| n.min(2);
        let shape_changed = shape(a.results.len()) != shape(b.results.len());
        let find = |list: &'a [OutDef], name: &str| list.iter().find(|o| o.name == name);
        let names: BTreeSet<&str> = a
            .results
            .iter()
            .chain(&b.results)
            .map(|o| o.name.as_str())
            .collect();
        for name in names {
            let path = format!("{method} -> {name}");
            match (find(&a.results, name), find(&b.results, name)) {
                (Some(o), None) => {
                    let e = Entry::new(
                        Kind::ResultRemoved,
                        &path,
                        format!("out-property `{}: {}` removed", o.name, out_type(o)),
                    )
                    .context(if a.results.len() == 1 {
                        Context::Sole
                    } else {
                        Context::Many
                    })
                    .values(Some(out_type(o)), None);
                    self.push(scope, e);
                }
                (None, Some(n)) => {
                    let e = Entry::new(
                        Kind::ResultAdded,
                        &path,
                        format!("new out-property `{}: {}`", n.name, out_type(n)),
                    )
                    .context(if shape_changed {
                        Context::ShapeChanged
                    } else {
                        Context::ShapeKept
                    })
                    .values(None, Some(out_type(n)));
                    self.push(scope, e);
                }
                (Some(o), Some(n)) => {
                    if o.ty != n.ty || o.object_class != n.object_class {
                        let e = Entry::new(
                            Kind::ResultChanged,
                            &path,
                            format!("type `{}` → `{}`", out_type(o), out_type(n)),
                        )
                        .values(Some(out_type(o)), Some(out_type(n)));
                        self.push(scope, e);
                    }
                    self.doc(
                        scope,
                        &path,
                        "description",
                        o.doc.as_deref(),
                        n.doc.as_deref(),
                    );
                }
                (None, None) => {}
            }
        }
    }

    // ---- types -------------------------------------------------------------------------------

    fn types(&mut self) {
        let names: BTreeSet<&String> = self.old.types.keys().chain(self.new.types.keys()).collect();
        for name in names {
            let (old, new) = (self.old.types.get(name), self.new.types.get(name));
            let is_enum = matches!(new.or(old), Some(TypeDef::Enum(_)));
            let scope = Scope::Type {
                name: name.clone(),
                is_enum,
            };
            match (old, new) {
                (Some(t), None) => {
                    let e = Entry::new(
                        Kind::SchemaRemoved,
                        name,
                        format!("{} removed", describe_type(t)),
                    )
                    .values(Some(shape(t)), None);
                    self.push(&scope, e);
                }
                (None, Some(t)) => {
                    let e =
                        Entry::new(Kind::SchemaAdded, name, format!("new {}", describe_type(t)))
                            .values(None, Some(shape(t)));
                    self.push(&scope, e);
                }
                (Some(a), Some(b)) => self.type_def(&scope, name, a, b),
                (None, None) => {}
            }
        }
    }

    fn type_def(&mut self, scope: &Scope, name: &str, a: &'a TypeDef, b: &'a TypeDef) {
        self.facts(scope, name, FactKinds::SCHEMA, a.facts(), b.facts());
        self.doc(scope, name, "description", a.doc(), b.doc());
        let used = self.usage.context(name);
        match (a, b) {
            (TypeDef::Struct(x), TypeDef::Struct(y)) => self.fields(scope, name, used, x, y),
            (TypeDef::Enum(x), TypeDef::Enum(y)) => self.enum_values(scope, name, used, x, y),
            _ if shape(a) != shape(b) => {
                let e = Entry::new(
                    Kind::SchemaKindChanged,
                    name,
                    format!("`{}` → `{}`", shape(a), shape(b)),
                )
                .context(used)
                .values(Some(shape(a)), Some(shape(b)));
                self.push(scope, e);
            }
            _ => {}
        }
    }

    fn fields(
        &mut self,
        scope: &Scope,
        type_name: &str,
        used: Context,
        a: &'a StructDef,
        b: &'a StructDef,
    ) {
        let all = |s: &'a StructDef| -> BTreeMap<&'a str, &'a FieldDef> {
            s.fields
                .iter()
                .chain(&s.dynamic)
                .map(|f| (f.name.as_str(), f))
                .collect()
        };
        let (old, new) = (all(a), all(b));
        for name in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let path = format!("{type_name}.{name}");
            match (old.get(name), new.get(name)) {
                (Some(f), None) => {
                    let e = Entry::new(
                        Kind::PropertyRemoved,
                        &path,
                        format!("property `{}: {}` removed", f.name, f.ty.describe()),
                    )
                    .context(used)
                    .values(Some(f.ty.describe()), None);
                    self.push(scope, e);
                }
                (None, Some(f)) => {
                    let e = Entry::new(
                        Kind::PropertyAdded,
                        &path,
                        format!("new property `{}: {}`", f.name, f.ty.describe()),
                    )
                    .context(used)
                    .values(None, Some(f.ty.describe()));
                    self.push(scope, e);
                }
                (Some(x), Some(y)) => self.field(scope, &path, used, x, y),
                (None, None) => {}
            }
        }
    }

    fn field(&mut self, scope: &Scope, path: &str, used: Context, x: &FieldDef, y: &FieldDef) {
        if x.ty != y.ty {
            let e = Entry::new(
                Kind::PropertyTypeChanged,
                path,
                format!("type `{}` → `{}`", x.ty.describe(), y.ty.describe()),
            )
            .context(used)
            .values(Some(x.ty.describe()), Some(y.ty.describe()));
            self.push(scope, e);
        } else if x.boxed != y.boxed {
            let (from, to) = if y.boxed {
                ("T", "Box<T>")
            } else {
                ("Box<T>", "T")
            };
            let e = Entry::new(
                Kind::PropertyBoxingChanged,
                path,
                format!(
                    "Rust field type `{from}` → `{to}` (a cycle of types {})",
                    if y.boxed { "appeared" } else { "went away" }
                ),
            )
            .values(Some(from.into()), Some(to.into()));
            self.push(scope, e);
        }
        if x.secret != y.secret {
            let e = Entry::new(
                Kind::PropertySecretChanged,
                path,
                format!(
                    "secret {} → {}",
                    show_secret(x.secret),
                    show_secret(y.secret)
                ),
            )
            .values(Some(show_secret(x.secret)), Some(show_secret(y.secret)));
            self.push(scope, e);
        }
        if x.default != y.default {
            let e = Entry::new(
                Kind::PropertyDefaultChanged,
                path,
                format!(
                    "engine default {} → {}",
                    show_default(&x.default),
                    show_default(&y.default)
                ),
            )
            .context(used)
            .values(
                x.default.as_ref().map(Value::to_string),
                y.default.as_ref().map(Value::to_string),
            );
            self.push(scope, e);
        }
        self.facts(scope, path, FactKinds::PROPERTY, &x.facts, &y.facts);
        self.doc(
            scope,
            path,
            "description",
            x.doc.as_deref(),
            y.doc.as_deref(),
        );
    }

    fn enum_values(
        &mut self,
        scope: &Scope,
        type_name: &str,
        used: Context,
        a: &'a EnumDef,
        b: &'a EnumDef,
    ) {
        let by_title = |e: &'a EnumDef| -> BTreeMap<&'a str, &'a crate::ir::EnumValue> {
            e.values.iter().map(|v| (v.title.as_str(), v)).collect()
        };
        let (old, new) = (by_title(a), by_title(b));
        for title in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let path = format!("{type_name}::{title}");
            match (old.get(title), new.get(title)) {
                (Some(v), None) => {
                    let e = Entry::new(
                        Kind::EnumValueRemoved,
                        &path,
                        format!("value {} removed", value_desc(v)),
                    )
                    .context(used)
                    .values(Some(v.title.clone()), None);
                    self.push(scope, e);
                }
                (None, Some(v)) => {
                    let e = Entry::new(
                        Kind::EnumValueAdded,
                        &path,
                        format!("new value {}", value_desc(v)),
                    )
                    .context(used)
                    .values(None, Some(v.title.clone()));
                    self.push(scope, e);
                }
                (Some(x), Some(y)) => {
                    if x.constant != y.constant {
                        let show = |c: Option<i64>| c.map_or("none".to_string(), |c| c.to_string());
                        let e = Entry::new(
                            Kind::EnumConstantChanged,
                            &path,
                            format!("x-qlik-const {} → {}", show(x.constant), show(y.constant)),
                        )
                        .values(
                            x.constant.map(|c| c.to_string()),
                            y.constant.map(|c| c.to_string()),
                        );
                        self.push(scope, e);
                    }
                    let variant = format!("Rust variant `{}` → `{}`", x.rust_name, y.rust_name);
                    if x.long_name != y.long_name {
                        let renames = x.rust_name != y.rust_name;
                        let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "none".into());
                        let mut msg =
                            format!("long name {} → {}", show(&x.long_name), show(&y.long_name));
                        if renames {
                            msg.push_str(&format!("; {variant}"));
                        }
                        let e = Entry::new(Kind::EnumLongNameChanged, &path, msg)
                            .context(if renames {
                                Context::RenamesVariant
                            } else {
                                Context::KeepsVariant
                            })
                            .values(x.long_name.clone(), y.long_name.clone());
                        self.push(scope, e);
                    } else if x.rust_name != y.rust_name {
                        let e = Entry::new(Kind::EnumVariantRenamed, &path, variant)
                            .values(Some(x.rust_name.clone()), Some(y.rust_name.clone()));
                        self.push(scope, e);
                    }
                }
                (None, None) => {}
            }
        }
    }

    // ---- error codes -------------------------------------------------------------------------

    fn errors(&mut self) {
        let index = |api: &'a Api| -> BTreeMap<&'a str, &'a ErrorCodeDef> {
            api.errors.iter().map(|e| (e.name.as_str(), e)).collect()
        };
        let (old, new) = (index(self.old), index(self.new));
        for name in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            match (old.get(name), new.get(name)) {
                (Some(e), None) => {
                    let x = Entry::new(
                        Kind::ErrorRemoved,
                        *name,
                        format!("error code {} removed", e.code),
                    )
                    .values(Some(e.code.to_string()), None);
                    self.push(&Scope::Error, x);
                }
                (None, Some(e)) => {
                    let msg = e
                        .message
                        .as_deref()
                        .map(|m| format!(": {}", one_line(m)))
                        .unwrap_or_default();
                    let x = Entry::new(
                        Kind::ErrorAdded,
                        *name,
                        format!("new error code {}{msg}", e.code),
                    )
                    .values(None, Some(e.code.to_string()));
                    self.push(&Scope::Error, x);
                }
                (Some(a), Some(b)) => {
                    if a.code != b.code {
                        let x = Entry::new(
                            Kind::ErrorRenumbered,
                            *name,
                            format!("code {} → {}", a.code, b.code),
                        )
                        .values(Some(a.code.to_string()), Some(b.code.to_string()));
                        self.push(&Scope::Error, x);
                    }
                    self.doc(
                        &Scope::Error,
                        name,
                        "message",
                        a.message.as_deref(),
                        b.message.as_deref(),
                    );
                }
                (None, None) => {}
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

/// The names (new names, for renamed params) of matched params in one side's order;
/// `required_only` keeps those required on both sides (the positional Rust arguments).
fn order(pairs: &[(&ParamDef, &ParamDef)], side: Side, required_only: bool) -> Vec<String> {
    let mut v: Vec<(usize, &str)> = pairs
        .iter()
        .filter(|(o, n)| !required_only || (o.required && n.required))
        .map(|(o, n)| {
            let at = match side {
                Side::Old => o.position,
                Side::New => n.position,
            };
            (at, n.name.as_str())
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n.to_string()).collect()
}

/// The kinds `facts` reports, per item family.
#[derive(Clone, Copy)]
struct FactKinds {
    stability: Kind,
    deprecated: Kind,
    undeprecated: Kind,
}

impl FactKinds {
    const METHOD: FactKinds = FactKinds {
        stability: Kind::MethodStabilityChanged,
        deprecated: Kind::MethodDeprecated,
        undeprecated: Kind::MethodUndeprecated,
    };
    const SCHEMA: FactKinds = FactKinds {
        stability: Kind::SchemaStabilityChanged,
        deprecated: Kind::SchemaDeprecated,
        undeprecated: Kind::SchemaUndeprecated,
    };
    const PROPERTY: FactKinds = FactKinds {
        stability: Kind::PropertyStabilityChanged,
        deprecated: Kind::PropertyDeprecated,
        undeprecated: Kind::PropertyUndeprecated,
    };
}

/// The stability that applies to an item: its own, or else the document's.
#[derive(Clone, Copy)]
struct Stability<'s> {
    value: Option<&'s str>,
    inherited: bool,
}

impl<'s> Stability<'s> {
    fn effective(facts: &'s Facts, api: &'s Api) -> Stability<'s> {
        match &facts.stability {
            Some(s) => Stability {
                value: Some(s),
                inherited: false,
            },
            None => Stability {
                value: api.default_stability.as_deref(),
                inherited: true,
            },
        }
    }
}

impl std::fmt::Display for Stability<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.value.unwrap_or("unspecified"))?;
        if self.inherited && self.value.is_some() {
            f.write_str(" (document default)")?;
        }
        Ok(())
    }
}

/// Higher is a stronger promise; `None` for values the tool does not know.
fn rank(stability: Option<&str>) -> Option<u8> {
    match stability? {
        "experimental" => Some(0),
        "stable" => Some(1),
        "locked" => Some(2),
        _ => None,
    }
}

/// Texts that differ only in whitespace (or absent vs empty) are the same.
fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    words(a) == words(b)
}

fn words(s: Option<&str>) -> Vec<&str> {
    s.unwrap_or("").split_whitespace().collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Short quoted forms of two texts for a one-line message, starting a few words before the
/// first word that differs (long descriptions often change only at the end).
fn excerpts(old: Option<&str>, new: Option<&str>) -> (String, String) {
    const MAX_CHARS: usize = 60;
    const LEAD_WORDS: usize = 3;
    let (a, b) = (words(old), words(new));
    let same = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let start = same.saturating_sub(LEAD_WORDS);
    let show = |text: Option<&str>, ws: &[&str]| -> String {
        if text.is_none() {
            return "(none)".into();
        }
        let rest = ws.get(start..).unwrap_or_default().join(" ");
        let mut shown: String = rest.chars().take(MAX_CHARS).collect();
        if shown.len() < rest.len() {
            shown.push('…');
        }
        if start > 0 {
            shown.insert(0, '…');
        }
        format!("{shown:?}")
    };
    (show(old, &a), show(new, &b))
}

fn required_word(p: &ParamDef) -> &'static str {
    if p.required { "required" } else { "optional" }
}

fn param_sig(p: &ParamDef) -> String {
    format!(
        "{}{}: {}",
        p.name,
        if p.required { "" } else { "?" },
        p.ty.describe()
    )
}

fn out_type(o: &OutDef) -> String {
    match &o.object_class {
        Some(c) => format!("{} ({c})", o.ty.describe()),
        None => o.ty.describe(),
    }
}

/// `Doc.GetObject(qId: string) -> qReturn: ObjectInterface (GenericObject)`.
fn signature(m: &MethodDef) -> String {
    let params: Vec<String> = m.params.iter().map(param_sig).collect();
    let results: Vec<String> = m
        .results
        .iter()
        .map(|o| format!("{}: {}", o.name, out_type(o)))
        .collect();
    let mut s = format!("{}({})", m.full_name(), params.join(", "));
    if !results.is_empty() {
        s.push_str(&format!(" -> {}", results.join(", ")));
    }
    s
}

fn show_default(d: &Option<Value>) -> String {
    d.as_ref().map_or("none".into(), |v| format!("`{v}`"))
}

/// What a type is, for `schema.kind_changed`: `object`, `enum`, or an alias's target.
fn shape(t: &TypeDef) -> String {
    match t {
        TypeDef::Struct(_) => "object".into(),
        TypeDef::Enum(_) => "enum".into(),
        TypeDef::Alias(a) => match &a.target {
            TypeRef::Json => "json".into(),
            other => other.describe(),
        },
    }
}

fn describe_type(t: &TypeDef) -> String {
    match t {
        TypeDef::Struct(s) => format!(
            "object type with {} properties",
            s.fields.len() + s.dynamic.len()
        ),
        TypeDef::Enum(e) => {
            const SHOWN: usize = 8;
            let titles: Vec<String> = e
                .values
                .iter()
                .take(SHOWN)
                .map(|v| format!("`{}`", v.title))
                .collect();
            let more = if e.values.len() > SHOWN { ", …" } else { "" };
            format!(
                "enum of {} values ({}{more})",
                e.values.len(),
                titles.join(", ")
            )
        }
        TypeDef::Alias(a) => format!("alias of `{}`", a.target.describe()),
    }
}

fn value_desc(v: &crate::ir::EnumValue) -> String {
    let mut s = format!("`{}`", v.title);
    let mut extra = Vec::new();
    if let Some(l) = &v.long_name {
        extra.push(l.clone());
    }
    if let Some(c) = v.constant {
        extra.push(format!("const {c}"));
    }
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    s
}

/// How a param or property is redacted, for messages: `no`, `value`, `connection string`,
/// `script`.
fn show_secret(r: Option<Redact>) -> String {
    match r {
        None => "no",
        Some(Redact::Value) => "value",
        Some(Redact::ConnectionString) => "connection string",
        Some(Redact::Script) => "script",
    }
    .to_string()
}
