//! The project file's YAML, as corectl reads it: the keys are corectl's flags' names; the
//! entity keys take a glob or a list of globs; `connections` a map or a file's path.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::{CliResult, Failure};

/// `corectl.yml`. Unknown keys are errors (corectl's too), naming the key and its line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub engine: Option<String>,
    pub app: Option<String>,
    pub headers: Option<IndexMap<String, Scalar>>,
    pub certificates: Option<String>,
    pub ttl: Option<Scalar>,
    pub script: Option<String>,
    pub app_properties: Option<String>,
    pub connections: Option<Connections>,
    pub dimensions: Option<Globs>,
    pub measures: Option<Globs>,
    pub variables: Option<Globs>,
    pub bookmarks: Option<Globs>,
    pub objects: Option<Globs>,
    pub insecure: Option<bool>,
    pub no_data: Option<bool>,
    pub verbose: Option<bool>,
    pub json: Option<bool>,
    pub quiet: Option<bool>,
    pub no_save: Option<bool>,
    pub no_reload: Option<bool>,
    pub silent: Option<bool>,
    pub limit: Option<u64>,
    /// corectl's keys with no meaning here (its contexts, its `--traffic` switch, its
    /// confirmation prompts): accepted so that corectl's projects read unchanged.
    #[serde(rename = "context")]
    pub _context: Option<de::IgnoredAny>,
    #[serde(rename = "traffic")]
    pub _traffic: Option<de::IgnoredAny>,
    #[serde(rename = "suppress")]
    pub _suppress: Option<de::IgnoredAny>,
}

/// A connections file (`connections.yml`): `connections:` and the same map as inline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsFile {
    #[serde(default)]
    pub connections: Option<IndexMap<String, ConnectionEntry>>,
}

/// One connection, as corectl writes it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEntry {
    #[serde(alias = "connectionString")]
    pub connectionstring: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub settings: Option<IndexMap<String, Scalar>>,
}

/// `connections:` is either a map or the path of a connections file.
#[derive(Debug)]
pub enum Connections {
    File(String),
    Inline(IndexMap<String, ConnectionEntry>),
}

impl<'de> Deserialize<'de> for Connections {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Connections;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of connections or the path of a connections file")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Connections, E> {
                Ok(Connections::File(s.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Connections, E> {
                Ok(Connections::Inline(IndexMap::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Connections, A::Error> {
                IndexMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Connections::Inline)
            }
        }
        d.deserialize_any(V)
    }
}

/// A glob or a list of globs (`objects: objects/*.json` as corectl's unbuild writes it,
/// or `objects: [./a-*.json, ./b.json]`).
#[derive(Debug, Default)]
pub struct Globs(pub Vec<String>);

impl<'de> Deserialize<'de> for Globs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Globs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a glob or a list of globs")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Globs, E> {
                Ok(Globs(vec![s.to_string()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Globs, E> {
                Ok(Globs(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Globs, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Globs(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar read as text (`port: 5432`, `ttl: 0`, `ttl: "30"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, number or boolean")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(s.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar(b.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses YAML into `T`; an error is one line: `file:line:column: key: what`.
pub fn parse<T: for<'de> Deserialize<'de> + Default>(text: &str, file: &str) -> CliResult<T> {
    // An empty file (or one of comments) is an empty project, as for corectl.
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    }) {
        return Ok(T::default());
    }
    serde_norway::from_str(text).map_err(|e| {
        // serde_norway gives the location in words too; it is put first, compiler-style.
        let message = super::strip_location(&e.to_string());
        match e.location() {
            Some(l) => Failure(format!("{file}:{}:{}: {message}", l.line(), l.column())),
            None => Failure(format!("{file}: {message}")),
        }
    })
}

/// The 1-based line where a value is written (the first line holding it).
pub fn line_of_value(text: &str, value: &str) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(value)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_corectl_keys_in_both_glob_forms() {
        let f: ConfigFile = parse(
            "engine: localhost:9076\nttl: 0\nobjects:\n  - ./object-*.json\nmeasures: m/*.json\nconnections: connections.yml\n",
            "corectl.yml",
        )
        .unwrap();
        assert_eq!(f.objects.unwrap().0, ["./object-*.json"]);
        assert_eq!(f.measures.unwrap().0, ["m/*.json"]);
        assert_eq!(f.ttl.unwrap().0, "0");
        assert!(matches!(f.connections, Some(Connections::File(p)) if p == "connections.yml"));
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let e = parse::<ConfigFile>("engine: x\nscirpt: a.qvs\n", "corectl.yml").unwrap_err();
        assert!(
            e.0.starts_with("corectl.yml:2:1: unknown field `scirpt`"),
            "{}",
            e.0
        );
    }

    #[test]
    fn a_wrong_type_names_the_key_and_line() {
        let e = parse::<ConfigFile>("engine: x\nobjects:\n  nested: map\n", "p.yml").unwrap_err();
        assert!(e.0.starts_with("p.yml:3:"), "{}", e.0);
        assert!(e.0.contains("objects"), "{}", e.0);
    }

    #[test]
    fn broken_yaml_names_its_line() {
        let e = parse::<ConfigFile>("engine: x\nobjects: [a\n", "p.yml").unwrap_err();
        assert!(e.0.starts_with("p.yml:"), "{}", e.0);
        assert_eq!(e.0.lines().count(), 1);
    }
}
