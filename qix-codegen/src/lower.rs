//! Spec → IR, validating as it goes. Every problem is reported with the JSON path of the
//! item it concerns; lowering collects them all and fails once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use indexmap::IndexMap;

use crate::companion::Companion;
use crate::ir::*;
use crate::names;
use crate::spec::{Schema, Spec};

pub use crate::names::{EXTRA_FIELD, HANDLE_ACCESSORS, UNKNOWN_VARIANT};
/// The spec type whose result is turned into a handle.
pub const OBJECT_INTERFACE: &str = "ObjectInterface";

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems found in a spec.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} problem(s) in the spec",
            self.origin,
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

struct Lowerer<'a> {
    spec: &'a Spec,
    companion: &'a Companion,
    problems: Vec<Problem>,
}

/// Validates a spec and lowers it to the IR.
pub fn lower(spec: &Spec, companion: &Companion, origin: &str) -> Result<Api, Invalid> {
    let mut l = Lowerer {
        spec,
        companion,
        problems: Vec::new(),
    };
    let api = l.api();
    if l.problems.is_empty() {
        Ok(api)
    } else {
        Err(Invalid {
            origin: origin.to_string(),
            problems: l.problems,
        })
    }
}

impl Lowerer<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn api(&mut self) -> Api {
        let spec = self.spec;
        if spec.info.version.trim().is_empty() {
            self.problem(
                "$.info.version",
                "empty or missing: the spec must name its engine version",
            );
        }
        let mut types = IndexMap::new();
        for (name, schema) in &spec.components.schemas {
            let path = format!("$.components.schemas.{name}");
            if let Some(t) = self.type_def(name, schema, &path) {
                types.insert(name.clone(), t);
            }
        }
        self.check_unique(
            types
                .keys()
                .map(|n| (names::type_name(n), n.clone()))
                .chain(names::TYPES_MODULE_RESERVED.iter().map(|r| {
                    (
                        r.to_string(),
                        format!("(the prelude's `{r}`, which the types module uses)"),
                    )
                })),
            "$.components.schemas",
            "type",
        );
        self.check_alias_cycles(&types);
        mark_boxed(&mut types);
        mark_cells_boxed(&mut types);

        let mut classes: BTreeMap<String, Vec<MethodDef>> = BTreeMap::new();
        let mut first_at: HashMap<&str, usize> = HashMap::new();
        for (i, m) in spec.methods.iter().enumerate() {
            let path = format!("$.methods[{i}]({})", m.name);
            if let Some(j) = first_at.insert(&m.name, i) {
                first_at.insert(&m.name, j);
                self.problem(
                    path,
                    format!("duplicate method {} (first at $.methods[{j}])", m.name),
                );
                continue;
            }
            let Some((class, short)) = m.name.split_once('.') else {
                self.problem(path, "a method name must be `Class.Method`");
                continue;
            };
            if class.is_empty() || short.is_empty() {
                self.problem(path, "a method name must be `Class.Method`");
                continue;
            }
            if let Some(def) = self.method(class, short, m, &path) {
                classes.entry(class.to_string()).or_default().push(def);
            }
        }
        for (class, methods) in &classes {
            for m in methods {
                for o in &m.results {
                    if let Some(target) = &o.object_class {
                        if !classes.contains_key(target) {
                            self.problem(
                                format!("$.methods({}).result.{}", m.full_name(), o.name),
                                format!("the companion map says it opens a {target}, but the spec has no methods of class {target}"),
                            );
                        }
                    }
                }
            }
            let path = format!("$.methods[{class}.*]");
            self.check_unique(
                methods
                    .iter()
                    .map(|m| (m.rust_name.clone(), m.full_name()))
                    .chain(
                        HANDLE_ACCESSORS
                            .iter()
                            .map(|a| (a.to_string(), format!("(handle accessor `{a}`)"))),
                    ),
                &path,
                "method",
            );
            // Everything the class's module defines: the handle, one request per method,
            // and an output struct (with its raw twin) per method of several results.
            let outputs = methods
                .iter()
                .filter(|m| m.results.len() > 1)
                .flat_map(|m| {
                    [
                        (
                            names::output_name(&m.name),
                            format!("{} (its output struct)", m.full_name()),
                        ),
                        (
                            names::raw_output_name(&m.name),
                            format!("{} (its raw result)", m.full_name()),
                        ),
                    ]
                });
            self.check_unique(
                methods
                    .iter()
                    .map(|m| (names::camel(&m.name), m.full_name()))
                    .chain(outputs)
                    .chain(std::iter::once((
                        names::type_name(class),
                        format!("(the handle struct `{class}`)"),
                    ))),
                &path,
                "type in the class module",
            );
        }

        let mut errors = Vec::new();
        for (name, e) in &spec.components.errors {
            let path = format!("$.components.errors.{name}");
            match (e.code, &e.one_of) {
                (Some(code), _) => errors.push(ErrorCodeDef {
                    name: name.clone(),
                    rust_name: names::camel(name.strip_prefix("LOCERR_").unwrap_or(name)),
                    code,
                    message: e.message.clone(),
                    since: None,
                }),
                (None, Some(refs)) => {
                    for (j, r) in refs.iter().enumerate() {
                        match r.ref_name() {
                            Some(target) if spec.components.errors.contains_key(target) => {}
                            _ => self.problem(
                                format!("{path}.oneOf[{j}]"),
                                format!("unresolved $ref {:?}", r.reference),
                            ),
                        }
                    }
                }
                (None, None) => self.problem(path, "an error has neither `code` nor `oneOf`"),
            }
        }
        self.check_unique(
            errors
                .iter()
                .map(|e| (e.rust_name.clone(), e.name.clone()))
                .chain(std::iter::once((
                    UNKNOWN_VARIANT.to_string(),
                    "(fallback variant)".to_string(),
                ))),
            "$.components.errors",
            "error code",
        );
        let mut seen_codes = HashMap::new();
        for e in &errors {
            // The engine's codes, and `ErrorCode::code`, are 32-bit.
            if i32::try_from(e.code).is_err() {
                self.problem(
                    format!("$.components.errors.{}", e.name),
                    format!("code {} does not fit in 32 bits", e.code),
                );
            }
            if let Some(other) = seen_codes.insert(e.code, e.name.clone()) {
                self.problem(
                    format!("$.components.errors.{}", e.name),
                    format!("code {} is also used by {other}", e.code),
                );
            }
        }

        let root_class = self
            .companion
            .root_class
            .clone()
            .filter(|c| classes.contains_key(c));
        Api {
            version: spec.info.version.clone(),
            title: spec.info.title.clone(),
            default_stability: spec.stability.clone(),
            root_class,
            classes: classes
                .into_iter()
                .map(|(name, methods)| Class { name, methods })
                .collect(),
            types,
            errors,
        }
    }

    /// Reports aliases that lead back to themselves (`A` = `B` = `A`, `A` = `Vec<A>`): no
    /// Rust type can be either. Structs that contain each other are fine (boxed).
    fn check_alias_cycles(&mut self, types: &IndexMap<String, TypeDef>) {
        for (name, t) in types {
            let TypeDef::Alias(a) = t else { continue };
            let mut chain = vec![name.as_str()];
            let mut target = &a.target;
            // Every step visits another alias, so this ends within `types.len()` steps.
            for _ in 0..=types.len() {
                match target {
                    TypeRef::Array(inner) => target = inner,
                    TypeRef::Named(n) => match types.get(n) {
                        Some(TypeDef::Alias(next)) => {
                            chain.push(n);
                            if n == name {
                                self.problem(
                                    format!("$.components.schemas.{name}"),
                                    format!("$ref cycle: {}", chain.join(" → ")),
                                );
                                break;
                            }
                            if chain[..chain.len() - 1].contains(&n.as_str()) {
                                // A cycle not through this alias: reported at its own members.
                                break;
                            }
                            target = &next.target;
                        }
                        _ => break,
                    },
                    _ => break,
                }
            }
        }
    }

    /// Reports Rust names that two spec names map to.
    fn check_unique(
        &mut self,
        names: impl IntoIterator<Item = (String, String)>,
        path: &str,
        what: &str,
    ) {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut clashes = Vec::new();
        for (rust, spec) in names {
            if let Some(first) = seen.get(&rust) {
                clashes.push(format!(
                    "{what} names {first} and {spec} both become `{rust}` in Rust"
                ));
            } else {
                seen.insert(rust, spec);
            }
        }
        for c in clashes {
            self.problem(path, c);
        }
    }

    fn facts(
        &self,
        stability: &Option<String>,
        deprecated: bool,
        text: &Option<String>,
        access: &[String],
    ) -> Facts {
        Facts {
            stability: stability.clone(),
            deprecated: deprecated.then(|| Deprecation { text: text.clone() }),
            access_control: access.to_vec(),
            since: None,
        }
    }

    fn type_def(&mut self, name: &str, s: &Schema, path: &str) -> Option<TypeDef> {
        let doc = s.description.clone();
        let facts = self.facts(&s.stability, s.deprecated, &s.deprecation_description, &[]);
        if s.one_of.is_some() {
            if !s.is_enum() {
                self.problem(
                    path,
                    "oneOf entries of a schema must all have a `title` (enum values)",
                );
                return None;
            }
            if s.ty.as_deref().is_some_and(|t| t != "string") {
                self.problem(
                    path,
                    format!("unknown type/format combination: enum of type {:?}", s.ty),
                );
                return None;
            }
            return Some(TypeDef::Enum(self.enum_def(name, s, path, doc, facts)));
        }
        match s.ty.as_deref() {
            Some("object") if s.properties.is_some() || s.additional_properties.is_some() => {
                Some(TypeDef::Struct(self.struct_def(name, s, path, doc, facts)))
            }
            Some("object") if s.reference.is_none() => Some(TypeDef::Alias(AliasDef {
                name: name.to_string(),
                doc,
                target: TypeRef::Json,
                facts,
            })),
            _ => {
                let target = self.type_ref(s, path)?;
                Some(TypeDef::Alias(AliasDef {
                    name: name.to_string(),
                    doc,
                    target,
                    facts,
                }))
            }
        }
    }

    fn struct_def(
        &mut self,
        name: &str,
        s: &Schema,
        path: &str,
        doc: Option<String>,
        facts: Facts,
    ) -> StructDef {
        let mut fields = Vec::new();
        for (pname, p) in s.properties.iter().flatten() {
            let ppath = format!("{path}.properties.{pname}");
            let Some(ty) = self.type_ref(p, &ppath) else {
                continue;
            };
            fields.push(FieldDef {
                name: pname.clone(),
                rust_name: names::field_name(pname),
                ty,
                doc: p.description.clone(),
                default: p.default.clone(),
                boxed: false,
                facts: self.facts(&p.stability, p.deprecated, &p.deprecation_description, &[]),
            });
        }
        let mut dynamic = Vec::new();
        if let Some(extra) = &s.additional_properties {
            for (i, alt) in extra.any_of.iter().flatten().enumerate() {
                let apath = format!("{path}.additionalProperties.anyOf[{i}]");
                let (Some(aname), Some(aschema)) = (&alt.name, &alt.schema) else {
                    self.problem(apath, "an anyOf entry needs `name` and `schema`");
                    continue;
                };
                let Some(ty) = self.type_ref(aschema, &format!("{apath}.schema")) else {
                    continue;
                };
                if fields.iter().any(|f| &f.name == aname) {
                    continue;
                }
                dynamic.push(FieldDef {
                    name: aname.clone(),
                    rust_name: names::field_name(aname),
                    ty,
                    doc: alt.description.clone(),
                    default: None,
                    boxed: false,
                    facts: Facts::default(),
                });
            }
        }
        self.check_unique(
            fields
                .iter()
                .chain(&dynamic)
                .map(|f| (names::bare(&f.rust_name).to_string(), f.name.clone()))
                .chain(std::iter::once((
                    EXTRA_FIELD.to_string(),
                    "(unknown-properties field)".to_string(),
                ))),
            path,
            "property",
        );
        StructDef {
            name: name.to_string(),
            doc,
            fields,
            dynamic,
            facts,
        }
    }

    fn enum_def(
        &mut self,
        name: &str,
        s: &Schema,
        path: &str,
        doc: Option<String>,
        facts: Facts,
    ) -> EnumDef {
        let values: Vec<&Schema> = s.one_of.iter().flatten().collect();
        let long_names: Vec<Option<String>> = values
            .iter()
            .map(|v| v.description.clone().filter(|d| is_identifier(d)))
            .collect();
        // Variants are named after the long names (`NX_DIM_CELL_VALUE` → `Value`) when every
        // value has one: titles are often single letters. The shared prefix is dropped.
        // Values without a long name (a `NSTATES` sentinel, say) are named by their title.
        let use_long = long_names.iter().filter(|l| l.is_some()).count() * 2 > long_names.len();
        let prefix = if use_long && long_names.iter().flatten().count() > 1 {
            common_word_prefix(long_names.iter().flatten().map(String::as_str))
        } else {
            String::new()
        };
        let mut out = Vec::new();
        let mut used = BTreeSet::from([UNKNOWN_VARIANT.to_string()]);
        for (i, v) in values.iter().enumerate() {
            let title = v.title.clone().unwrap_or_default();
            let long = long_names[i].clone();
            let from_long = long
                .as_deref()
                .filter(|_| use_long)
                .map(|l| names::camel(&l[prefix.len()..]));
            let mut rust = from_long.unwrap_or_else(|| names::camel(&title));
            if used.contains(&rust) {
                rust = names::camel(&title);
            }
            if used.contains(&rust) {
                self.problem(
                    format!("{path}.oneOf[{i}]"),
                    format!("enum value {title:?} becomes `{rust}` in Rust, which another value (or the fallback) already has"),
                );
            }
            used.insert(rust.clone());
            out.push(EnumValue {
                title,
                long_name: long,
                constant: v.qlik_const,
                rust_name: rust,
                since: None,
            });
        }
        let mut titles = HashMap::new();
        for (i, v) in out.iter().enumerate() {
            if let Some(prev) = titles.insert(v.title.clone(), i) {
                self.problem(
                    format!("{path}.oneOf[{i}]"),
                    format!("title {:?} is also the title of value {prev}", v.title),
                );
            }
        }
        EnumDef {
            name: name.to_string(),
            doc,
            values: out,
            facts,
        }
    }

    /// The type a property, param, item or out-property refers to.
    fn type_ref(&mut self, s: &Schema, path: &str) -> Option<TypeRef> {
        if let Some(r) = &s.reference {
            let target = r.strip_prefix("#/components/schemas/");
            return match target {
                Some(t) if self.spec.components.schemas.contains_key(t) => {
                    Some(TypeRef::Named(t.to_string()))
                }
                _ => {
                    self.problem(path, format!("unresolved $ref {r:?}"));
                    None
                }
            };
        }
        if s.one_of.is_some() {
            self.problem(
                path,
                "an inline enum (oneOf) must be a named component schema",
            );
            return None;
        }
        let ty = s.ty.as_deref();
        let format = s.format.as_deref();
        Some(match (ty, format) {
            (Some("boolean"), None) => TypeRef::Bool,
            (Some("integer"), None | Some("int64")) => TypeRef::Int(IntKind::I64),
            (Some("integer"), Some("int32")) => TypeRef::Int(IntKind::I32),
            (Some("integer"), Some("int8")) => TypeRef::Int(IntKind::I8),
            (Some("integer"), Some("byte")) => TypeRef::Int(IntKind::U8),
            (Some("number"), None | Some("double") | Some("float")) => TypeRef::Number,
            (Some("string"), None) if s.content_encoding.as_deref() == Some("base64") => {
                TypeRef::Blob
            }
            (Some("string"), None) if s.content_encoding.is_none() => TypeRef::String,
            (Some("array"), None) => match &s.items {
                Some(items) => {
                    TypeRef::Array(Box::new(self.type_ref(items, &format!("{path}.items"))?))
                }
                None => {
                    self.problem(path, "an array needs `items`");
                    return None;
                }
            },
            (Some("object"), None) if s.properties.is_none() => TypeRef::Json,
            (Some("object"), None) => {
                self.problem(
                    path,
                    "an inline object with properties must be a named component schema",
                );
                return None;
            }
            (None, None) => {
                self.problem(path, "no `type` and no `$ref`");
                return None;
            }
            _ => {
                self.problem(
                    path,
                    format!(
                        "unknown type/format combination: type {:?}, format {:?}{}",
                        ty.unwrap_or("-"),
                        format.unwrap_or("-"),
                        s.content_encoding
                            .as_deref()
                            .map(|c| format!(", contentEncoding {c:?}"))
                            .unwrap_or_default()
                    ),
                );
                return None;
            }
        })
    }

    /// How the runtime treats the method's calls (see [`Protocol`]).
    fn protocol(&self, class: &str, method: &str, results: &[OutDef]) -> Protocol {
        let delta = match results {
            [one] if one.name != "qSuccess" && one.object_class.is_none() => Some(one.name.clone()),
            _ => None,
        };
        let opens = results
            .iter()
            .find(|r| r.name == "qReturn")
            .and_then(|r| r.object_class.clone());
        Protocol {
            delta,
            opens,
            read: self.companion.reads.is_read(class, method),
        }
    }

    fn method(
        &mut self,
        class: &str,
        short: &str,
        m: &crate::spec::Method,
        path: &str,
    ) -> Option<MethodDef> {
        let mut params = Vec::new();
        for (i, p) in m.params.iter().enumerate() {
            let ppath = format!("{path}.params[{i}]({})", p.name);
            let Some(ty) = self.type_ref(&p.schema, &format!("{ppath}.schema")) else {
                continue;
            };
            params.push(ParamDef {
                name: p.name.clone(),
                rust_name: names::field_name(&p.name),
                required: p.required,
                position: i,
                ty,
                doc: p.description.clone(),
                default: p.schema.default.clone(),
                since: None,
            });
        }
        self.check_unique(
            params
                .iter()
                .map(|p| (names::bare(&p.rust_name).to_string(), p.name.clone()))
                .chain(
                    names::REQUEST_ITEMS
                        .iter()
                        .map(|r| (r.to_string(), format!("(request method `{r}`)"))),
                ),
            path,
            "param",
        );
        let mut results = Vec::new();
        let rschema = &m.result.schema;
        for (name, o) in rschema.properties.iter().flatten() {
            let opath = format!("{path}.result.schema.properties.{name}");
            let Some(ty) = self.type_ref(o, &opath) else {
                continue;
            };
            let object_class = if ty == TypeRef::Named(OBJECT_INTERFACE.to_string()) {
                match self.companion.object_interface.get(&m.name) {
                    Some(c) => Some(c.clone()),
                    None => {
                        self.problem(
                            opath.clone(),
                            format!(
                                "{} returns an ObjectInterface, but the companion map (schemas/companion.json, objectInterface) does not say which class it opens",
                                m.name
                            ),
                        );
                        None
                    }
                }
            } else {
                None
            };
            results.push(OutDef {
                name: name.clone(),
                rust_name: names::field_name(name),
                ty,
                doc: o.description.clone(),
                object_class,
                since: None,
            });
        }
        // Several out-properties make a struct, where `qReturn` as `r#return` would say
        // nothing about what it holds: it is named after its content instead.
        if results.len() > 1 {
            for o in &mut results {
                if o.name == "qReturn" {
                    o.rust_name = names::return_field(o.object_class.as_deref(), &o.ty);
                }
            }
        }
        self.check_unique(
            results
                .iter()
                .map(|o| (names::bare(&o.rust_name).to_string(), o.name.clone()))
                .chain((results.len() > 1).then(|| {
                    (
                        EXTRA_FIELD.to_string(),
                        "(the struct's unknown out-properties)".to_string(),
                    )
                })),
            path,
            "out-property",
        );
        let protocol = self.protocol(class, short, &results);
        Some(MethodDef {
            class: class.to_string(),
            name: short.to_string(),
            rust_name: names::method_name(short),
            doc: m.description.clone(),
            params,
            results,
            protocol,
            facts: self.facts(
                &m.stability,
                m.deprecated,
                &m.deprecation_description,
                &m.access_control,
            ),
        })
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// The longest prefix ending in `_` shared by all names, such that no name is left empty
/// or starting with a digit.
fn common_word_prefix<'a>(names: impl Iterator<Item = &'a str> + Clone) -> String {
    let Some(first) = names.clone().next() else {
        return String::new();
    };
    let mut best = String::new();
    for (i, c) in first.char_indices() {
        if c != '_' {
            continue;
        }
        let cand = &first[..=i];
        let ok = names.clone().all(|n| {
            n.starts_with(cand)
                && n.len() > cand.len()
                && !n[cand.len()..].starts_with(|c: char| c.is_ascii_digit())
        });
        if ok {
            best = cand.to_string();
        } else {
            break;
        }
    }
    best
}

/// Boxes every struct field that closes a cycle of directly contained structs: a field of
/// `A` of struct type `B` where `B` leads back to `A`, i.e. `A` and `B` are in one strongly
/// connected component. Linear in the number of types and fields (huge specs stay fast).
fn mark_boxed(types: &mut IndexMap<String, TypeDef>) {
    // Direct containment: a field whose type is a struct, not behind an array.
    let index: HashMap<&str, usize> = types
        .iter()
        .enumerate()
        .filter(|(_, (_, t))| matches!(t, TypeDef::Struct(_)))
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = types
        .values()
        .map(|t| match t {
            TypeDef::Struct(s) => s
                .fields
                .iter()
                .chain(&s.dynamic)
                .filter_map(|f| match &f.ty {
                    TypeRef::Named(t) => index.get(t.as_str()).copied(),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let component = strongly_connected(&edges);
    let mut to_box = Vec::new();
    for (a, (_, t)) in types.iter().enumerate() {
        if let TypeDef::Struct(s) = t {
            for (i, f) in s.fields.iter().chain(&s.dynamic).enumerate() {
                if let TypeRef::Named(target) = &f.ty {
                    if let Some(&b) = index.get(target.as_str()) {
                        if component[a] == component[b] {
                            to_box.push((a, i));
                        }
                    }
                }
            }
        }
    }
    for (a, i) in to_box {
        if let Some((_, TypeDef::Struct(s))) = types.get_index_mut(a) {
            let n = s.fields.len();
            if i < n {
                s.fields[i].boxed = true;
            } else {
                s.dynamic[i - n].boxed = true;
            }
        }
    }
}

/// Boxes the nested structs of data cells: the element types of matrices (an array of
/// arrays, such as a data page's `qMatrix` or a pivot page's `qData`), of which a page
/// holds up to 10,000. Their nested structs (attribute values, search highlights, mini
/// charts) are rarely sent, but inline they made every cell large: `NxCell` was 384 bytes,
/// which decoding a page initialized, moved and dropped once per cell; behind a `Box`
/// (8 bytes while absent) it is 152 (see the decode rows of `cargo xtask bench`).
fn mark_cells_boxed(types: &mut IndexMap<String, TypeDef>) {
    /// The item type of an array, through aliases (`NxCellRows` = array of `NxCell`).
    fn item<'a>(ty: &'a TypeRef, types: &'a IndexMap<String, TypeDef>) -> Option<&'a TypeRef> {
        let mut ty = ty;
        // Alias chains are short; the bound only guards against a cycle the lowering
        // reports elsewhere.
        for _ in 0..16 {
            match ty {
                TypeRef::Array(t) => return Some(t),
                TypeRef::Named(n) => match types.get(n) {
                    Some(TypeDef::Alias(a)) => ty = &a.target,
                    _ => return None,
                },
                _ => return None,
            }
        }
        None
    }
    let is_struct = |n: &str, types: &IndexMap<String, TypeDef>| {
        matches!(types.get(n), Some(TypeDef::Struct(_)))
    };
    let mut cells: Vec<String> = Vec::new();
    for t in types.values() {
        let TypeDef::Struct(s) = t else { continue };
        for f in s.fields.iter().chain(&s.dynamic) {
            let cell = item(&f.ty, types).and_then(|row| item(row, types));
            if let Some(TypeRef::Named(n)) = cell {
                if is_struct(n, types) && !cells.contains(n) {
                    cells.push(n.clone());
                }
            }
        }
    }
    for name in cells {
        let nested: Vec<usize> = match types.get(&name) {
            Some(TypeDef::Struct(s)) => s
                .fields
                .iter()
                .chain(&s.dynamic)
                .enumerate()
                .filter(|(_, f)| matches!(&f.ty, TypeRef::Named(n) if is_struct(n, types)))
                .map(|(i, _)| i)
                .collect(),
            _ => continue,
        };
        if let Some(TypeDef::Struct(s)) = types.get_mut(&name) {
            let n = s.fields.len();
            for i in nested {
                if i < n {
                    s.fields[i].boxed = true;
                } else {
                    s.dynamic[i - n].boxed = true;
                }
            }
        }
    }
}

/// The strongly connected component of every node (Tarjan's algorithm with an explicit
/// stack: a chain of thousands of types must not overflow the call stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut component = vec![UNSEEN; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_order = 0;
    let mut components = 0;
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        // (node, index of the next edge to follow)
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut e)) = work.last_mut() {
            if *e == 0 && order[v] == UNSEEN {
                order[v] = next_order;
                low[v] = next_order;
                next_order += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*e) {
                *e += 1;
                if order[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = components;
                    if w == v {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::common_word_prefix;

    #[test]
    fn prefix_stops_before_digits_and_empty_names() {
        let v = ["NX_DIM_CELL_VALUE", "NX_DIM_CELL_EMPTY"];
        assert_eq!(common_word_prefix(v.iter().copied()), "NX_DIM_CELL_");
        let v = ["CONNECT_64", "CONNECT_32", "CONNECT_DEFAULT"];
        assert_eq!(common_word_prefix(v.iter().copied()), "");
        let v = ["A_B", "A_B_C"];
        assert_eq!(common_word_prefix(v.iter().copied()), "A_");
        let v = ["A_B", "A_"];
        assert_eq!(common_word_prefix(v.iter().copied()), "");
    }
}
