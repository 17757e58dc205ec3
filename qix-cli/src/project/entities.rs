//! Entity files: each matched file holds one entity or a JSON array of them, as the
//! engine's properties (`GenericMeasureProperties`, …) with `qInfo.qId`; an object may
//! also be a full property tree (`{"qProperty": …, "qChildren": […]}`).

use std::collections::BTreeMap;
use std::path::Path;

use qix_generated::types::{
    GenericBookmarkProperties, GenericDimensionProperties, GenericMeasureProperties,
    GenericObjectEntry, GenericObjectProperties, GenericVariableProperties,
};
use serde_json::Value;

use super::Glob;
use crate::{CliResult, Failure};

/// The kinds of entity, in the order `build` sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Dimension,
    Measure,
    Variable,
    Bookmark,
    Object,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Dimension,
        Kind::Measure,
        Kind::Variable,
        Kind::Bookmark,
        Kind::Object,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Dimension => "dimension",
            Kind::Measure => "measure",
            Kind::Variable => "variable",
            Kind::Bookmark => "bookmark",
            Kind::Object => "object",
        }
    }

    /// The project file's key (and `build`'s flag).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Dimension => "dimensions",
            Kind::Measure => "measures",
            Kind::Variable => "variables",
            Kind::Bookmark => "bookmarks",
            Kind::Object => "objects",
        }
    }
}

/// One entity read from a project file.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityFile {
    pub kind: Kind,
    pub id: String,
    /// The entity as written.
    pub value: Value,
    /// `objects/sheet.json` or `measures.json[2]`.
    pub origin: String,
    /// An object given as a full property tree (`qProperty`, `qChildren`).
    pub tree: bool,
    /// A variable's `qName`.
    pub name: Option<String>,
}

/// Every entity of `kind` in the files `globs` match, in file order; duplicate ids are
/// an error naming both places.
pub fn read(kind: Kind, globs: &[Glob]) -> CliResult<Vec<EntityFile>> {
    let mut out: Vec<EntityFile> = Vec::new();
    let mut seen_files = std::collections::BTreeSet::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for glob in globs {
        for path in glob.files()? {
            // A file two patterns match is read once.
            if !seen_files.insert(path.clone()) {
                continue;
            }
            for entity in read_file(kind, &path)? {
                if let Some(first) = seen.insert(entity.id.clone(), entity.origin.clone()) {
                    return Err(Failure(format!(
                        "{}: {} {} is also in {first}",
                        entity.origin,
                        kind.name(),
                        entity.id
                    )));
                }
                out.push(entity);
            }
        }
    }
    Ok(out)
}

/// The entities of one file.
pub fn read_file(kind: Kind, path: &Path) -> CliResult<Vec<EntityFile>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Failure(format!(
            "{shown}:{}:{}: not JSON: {}",
            e.line(),
            e.column(),
            super::strip_location(&e.to_string())
        ))
    })?;
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| entity(kind, v, format!("{shown}[{i}]")))
            .collect(),
        v @ Value::Object(_) => Ok(vec![entity(kind, v, shown)?]),
        _ => Err(Failure(format!(
            "{shown}: expected a {} (a JSON object) or an array of them",
            kind.name()
        ))),
    }
}

fn text_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Checks one entity: its id (and type, and a variable's name) and that it decodes as
/// the engine's properties of its kind.
pub fn entity(kind: Kind, value: Value, origin: String) -> CliResult<EntityFile> {
    let what = kind.name();
    let tree = kind == Kind::Object && value.get("qProperty").is_some();
    let info = if tree { "/qProperty/qInfo" } else { "/qInfo" };
    let id = text_at(&value, &format!("{info}/qId"))
        .ok_or_else(|| Failure(format!("{origin}: the {what} has no {}/qId", &info[1..])))?
        .to_string();
    if kind == Kind::Object && text_at(&value, &format!("{info}/qType")).is_none() {
        return Err(Failure(format!(
            "{origin}: object {id} has no {}/qType",
            &info[1..]
        )));
    }
    let name = text_at(&value, "/qName").map(str::to_string);
    if kind == Kind::Variable && name.is_none() {
        return Err(Failure(format!("{origin}: variable {id} has no qName")));
    }
    let check = |r: Result<(), serde_json::Error>| {
        r.map_err(|e| Failure(format!("{origin}: not {what} properties: {e}")))
    };
    let v = value.clone();
    match kind {
        Kind::Dimension => {
            check(serde_json::from_value::<GenericDimensionProperties>(v).map(drop))?
        }
        Kind::Measure => check(serde_json::from_value::<GenericMeasureProperties>(v).map(drop))?,
        Kind::Variable => check(serde_json::from_value::<GenericVariableProperties>(v).map(drop))?,
        Kind::Bookmark => check(serde_json::from_value::<GenericBookmarkProperties>(v).map(drop))?,
        Kind::Object if tree => check(serde_json::from_value::<GenericObjectEntry>(v).map(drop))?,
        Kind::Object => check(serde_json::from_value::<GenericObjectProperties>(v).map(drop))?,
    }
    Ok(EntityFile {
        kind,
        id,
        value,
        origin,
        tree,
        name,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_types_and_names_are_checked() {
        let e = entity(Kind::Measure, json!({"qMeasure": {}}), "m.json".into()).unwrap_err();
        assert_eq!(e.0, "m.json: the measure has no qInfo/qId");
        let e = entity(
            Kind::Object,
            json!({"qInfo": {"qId": "o"}}),
            "o.json".into(),
        )
        .unwrap_err();
        assert_eq!(e.0, "o.json: object o has no qInfo/qType");
        let e = entity(
            Kind::Object,
            json!({"qProperty": {"qInfo": {"qType": "sheet"}}}),
            "t.json".into(),
        )
        .unwrap_err();
        assert_eq!(e.0, "t.json: the object has no qProperty/qInfo/qId");
        let e = entity(
            Kind::Variable,
            json!({"qInfo": {"qId": "v"}}),
            "v.json[1]".into(),
        )
        .unwrap_err();
        assert_eq!(e.0, "v.json[1]: variable v has no qName");
        let e = entity(
            Kind::Dimension,
            json!({"qInfo": {"qId": "d"}, "qDim": {"qFieldDefs": "not a list"}}),
            "d.json".into(),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("d.json: not dimension properties: "),
            "{}",
            e.0
        );
        let ok = entity(
            Kind::Object,
            json!({"qProperty": {"qInfo": {"qId": "s", "qType": "sheet"}}, "qChildren": []}),
            "s.json".into(),
        )
        .unwrap();
        assert!(ok.tree);
        assert_eq!(ok.id, "s");
    }
}
