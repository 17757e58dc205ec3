//! The OpenRPC document as the engine publishes it (`engine-rpc.json`), as a typed model.
//!
//! The model mirrors the document closely and keeps every key it does not know in an
//! `unknown` map, so a newer spec never loses information silently: [`Spec::unknown_keys`]
//! lists them (with their JSON path) and the tools report them as warnings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// Keys the model does not know, by name, with their values.
pub type Unknown = BTreeMap<String, Value>;

#[derive(Debug, Clone, Deserialize)]
pub struct Spec {
    pub openrpc: String,
    pub info: Info,
    pub methods: Vec<Method>,
    pub components: Components,
    #[serde(rename = "x-qlik-visibility", default)]
    pub visibility: Option<String>,
    /// The stability that applies to every item that does not state its own.
    #[serde(rename = "x-qlik-stability", default)]
    pub stability: Option<String>,
    #[serde(rename = "x-qlik-categories", default)]
    pub categories: Option<Vec<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Method {
    /// `Class.Method`, e.g. `Doc.GetObject`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub params: Vec<Param>,
    pub result: ResultSpec,
    #[serde(default)]
    pub errors: Vec<Schema>,
    #[serde(rename = "x-qlik-stability", default)]
    pub stability: Option<String>,
    #[serde(rename = "x-qlik-access-control", default)]
    pub access_control: Vec<String>,
    #[serde(rename = "x-qlik-see-also", default)]
    pub see_also: Vec<String>,
    #[serde(rename = "x-qlik-deprecated", default)]
    pub deprecated: bool,
    #[serde(rename = "x-qlik-deprecation-description", default)]
    pub deprecation_description: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    pub schema: Schema,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResultSpec {
    #[serde(default)]
    pub name: String,
    pub schema: Schema,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Components {
    #[serde(default, deserialize_with = "unique_keys")]
    pub schemas: IndexMap<String, Schema>,
    #[serde(default, deserialize_with = "unique_keys")]
    pub errors: IndexMap<String, ErrorSpec>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// An entry of `components.errors`: either one code, or a group (`oneOf` of `$ref`s).
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorSpec {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(rename = "oneOf", default)]
    pub one_of: Option<Vec<Schema>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A JSON schema as the engine's spec uses it: one struct for every position (component,
/// property, array item, enum value, `anyOf` entry), with the fields that position uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Schema {
    #[serde(rename = "$ref", default)]
    pub reference: Option<String>,
    #[serde(rename = "type", default)]
    pub ty: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "unique_keys_opt")]
    pub properties: Option<IndexMap<String, Schema>>,
    #[serde(default)]
    pub items: Option<Box<Schema>>,
    /// Enum values (`title`, `x-qlik-const`, long name in `description`), or error refs.
    #[serde(rename = "oneOf", default)]
    pub one_of: Option<Vec<Schema>>,
    /// Named alternatives (used inside `additionalProperties` of the generic layouts).
    #[serde(rename = "anyOf", default)]
    pub any_of: Option<Vec<Schema>>,
    #[serde(rename = "additionalProperties", default)]
    pub additional_properties: Option<Box<Schema>>,
    /// The name of an `anyOf` entry.
    #[serde(default)]
    pub name: Option<String>,
    /// The schema of an `anyOf` entry.
    #[serde(default)]
    pub schema: Option<Box<Schema>>,
    /// An enum value's wire form.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(rename = "x-qlik-const", default)]
    pub qlik_const: Option<i64>,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(rename = "contentEncoding", default)]
    pub content_encoding: Option<String>,
    #[serde(rename = "x-qlik-stability", default)]
    pub stability: Option<String>,
    #[serde(rename = "x-qlik-deprecated", default)]
    pub deprecated: bool,
    #[serde(rename = "x-qlik-deprecation-description", default)]
    pub deprecation_description: Option<String>,
    #[serde(rename = "x-qlik-see-also", default)]
    pub see_also: Vec<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A map whose keys must be unique: JSON allows a repeated key and a map keeps the last,
/// which would drop a schema or property without a word.
fn unique_keys<'de, D, V>(d: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Visit<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Visit(std::marker::PhantomData))
}

fn unique_keys_opt<'de, D, V>(d: D) -> Result<Option<IndexMap<String, V>>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    unique_keys(d).map(Some)
}

/// Why a spec could not be read. The message names the file and the JSON path.
#[derive(Debug)]
pub struct LoadError {
    pub origin: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: at {}: {}", self.origin, self.path, self.message)
        }
    }
}

impl std::error::Error for LoadError {}

/// A key the model does not know, found while reading a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// JSON path of the object holding the key, e.g. `methods[3](Doc.GetObject)`.
    pub path: String,
    pub key: String,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown key `{}` at {}", self.key, self.path)
    }
}

impl Spec {
    /// Reads and parses a spec file.
    pub fn load(path: &Path) -> Result<Spec, LoadError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| LoadError {
            origin: origin.clone(),
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Spec::parse(&bytes, &origin)
    }

    /// Parses a spec from bytes; `origin` names it in errors (a file name, `<stdin>`, …).
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Spec, LoadError> {
        let err = |path: String, message: String| LoadError {
            origin: origin.to_string(),
            path,
            message,
        };
        // Straight from the bytes (not through `serde_json::Value`, whose maps are sorted),
        // so properties keep the spec's order.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => err(
                    String::new(),
                    format!(
                        "not JSON (line {}, column {}): {inner}",
                        inner.line(),
                        inner.column()
                    ),
                ),
                _ if path == "." => err("$".into(), inner.to_string()),
                _ => err(format!("$.{path}"), inner.to_string()),
            }
        })?;
        de.end().map_err(|e| {
            err(
                String::new(),
                format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
            )
        })?;
        Ok(spec)
    }

    /// The engine version this spec describes (`info.version`).
    pub fn version(&self) -> &str {
        &self.info.version
    }

    /// Every key the model does not know, in document order.
    pub fn unknown_keys(&self) -> Vec<UnknownKey> {
        let mut out = Vec::new();
        let mut push = |path: &str, unknown: &Unknown| {
            for key in unknown.keys() {
                out.push(UnknownKey {
                    path: path.to_string(),
                    key: key.clone(),
                });
            }
        };
        push("$", &self.unknown);
        push("$.info", &self.info.unknown);
        push("$.components", &self.components.unknown);
        let mut schema_keys = Vec::new();
        for (i, m) in self.methods.iter().enumerate() {
            let at = format!("$.methods[{i}]({})", m.name);
            push(&at, &m.unknown);
            for (j, p) in m.params.iter().enumerate() {
                let at = format!("{at}.params[{j}]({})", p.name);
                push(&at, &p.unknown);
                p.schema
                    .collect_unknown(&format!("{at}.schema"), &mut schema_keys);
            }
            push(&format!("{at}.result"), &m.result.unknown);
            m.result
                .schema
                .collect_unknown(&format!("{at}.result.schema"), &mut schema_keys);
        }
        for (name, s) in &self.components.schemas {
            s.collect_unknown(&format!("$.components.schemas.{name}"), &mut schema_keys);
        }
        for (name, e) in &self.components.errors {
            push(&format!("$.components.errors.{name}"), &e.unknown);
        }
        out.extend(schema_keys);
        out
    }
}

impl Schema {
    fn collect_unknown(&self, at: &str, out: &mut Vec<UnknownKey>) {
        for key in self.unknown.keys() {
            out.push(UnknownKey {
                path: at.to_string(),
                key: key.clone(),
            });
        }
        if let Some(props) = &self.properties {
            for (name, p) in props {
                p.collect_unknown(&format!("{at}.properties.{name}"), out);
            }
        }
        if let Some(items) = &self.items {
            items.collect_unknown(&format!("{at}.items"), out);
        }
        for (key, list) in [("oneOf", &self.one_of), ("anyOf", &self.any_of)] {
            for (i, s) in list.iter().flatten().enumerate() {
                s.collect_unknown(&format!("{at}.{key}[{i}]"), out);
            }
        }
        if let Some(a) = &self.additional_properties {
            a.collect_unknown(&format!("{at}.additionalProperties"), out);
        }
        if let Some(s) = &self.schema {
            s.collect_unknown(&format!("{at}.schema"), out);
        }
    }

    /// The component name a `$ref` points at (`#/components/schemas/NxPage` → `NxPage`).
    pub fn ref_name(&self) -> Option<&str> {
        self.reference
            .as_deref()
            .map(|r| r.rsplit('/').next().unwrap_or(r))
    }

    /// True when this schema lists enum values (`oneOf` entries with a `title`).
    pub fn is_enum(&self) -> bool {
        self.one_of
            .as_ref()
            .is_some_and(|v| !v.is_empty() && v.iter().all(|o| o.title.is_some()))
    }
}

impl Method {
    /// The class part of `Class.Method`.
    pub fn class(&self) -> &str {
        self.name.split_once('.').map_or("", |(c, _)| c)
    }

    /// The method part of `Class.Method`.
    pub fn short_name(&self) -> &str {
        self.name.split_once('.').map_or(&self.name, |(_, m)| m)
    }
}
