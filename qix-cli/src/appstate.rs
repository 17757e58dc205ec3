//! What an app holds, read with the typed API in the form project files keep it: the
//! engine's properties as JSON (unknown properties included), objects as full property
//! trees. `plan`, `build` and `unbuild` compare and write these values.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, TryStreamExt, stream};
use qix_generated::prelude::*;
use qix_generated::types::{GenericObjectProperties, NxInfo, VariableListDef};
use serde::Serialize;
use serde_json::Value;

use crate::project::entities::Kind;
use crate::{CliResult, Failure};

/// Requests in flight at once when reading many entities (the session pipelines them).
const IN_FLIGHT: usize = 32;

/// An entity the app has: its kind, id and `qType`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Info {
    pub kind: Kind,
    pub id: String,
    pub r#type: String,
}

/// App properties the engine keeps itself ("do not update", says the spec; or made by
/// the reload): left out of projects, so that a reload is not a change to commit.
pub const ENGINE_APP_PROPERTIES: [&str; 4] = [
    "qLastReloadTime",
    "qMigrationHash",
    "qSavedInProductVersion",
    "qHasSectionAccess",
];

/// The app properties without the engine's own (see [`ENGINE_APP_PROPERTIES`]).
pub fn without_engine_app_properties(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        for k in ENGINE_APP_PROPERTIES {
            m.remove(k);
        }
    }
    v
}

/// The app properties as projects keep them.
pub async fn app_properties(doc: &Doc) -> CliResult<Value> {
    let v = to_json(&doc.get_app_properties().await?, "app properties")?;
    Ok(without_engine_app_properties(v))
}

pub fn to_json(v: &impl Serialize, what: &str) -> CliResult<Value> {
    serde_json::to_value(v).map_err(|e| Failure(format!("cannot write {what} as JSON: {e}")))
}

/// The kind of an entity by its `GetAllInfos` type.
fn kind_of(r#type: &str) -> Kind {
    match r#type {
        "dimension" => Kind::Dimension,
        "measure" => Kind::Measure,
        "bookmark" => Kind::Bookmark,
        "variable" => Kind::Variable,
        _ => Kind::Object,
    }
}

/// Every persistent entity of the app, sorted by kind and id: `GetAllInfos` for objects,
/// master items and bookmarks, and the variable list for variables (the ones the load
/// script makes are left out: the script makes them again).
pub async fn infos(doc: &Doc) -> CliResult<Vec<Info>> {
    let mut out: Vec<Info> = doc
        .get_all_infos()
        .await?
        .into_iter()
        .filter_map(|i| {
            let id = i.id.filter(|id| !id.is_empty())?;
            let r#type = i.r#type.unwrap_or_default();
            let kind = kind_of(&r#type);
            (kind != Kind::Variable).then_some(Info { kind, id, r#type })
        })
        .collect();
    for v in variable_list(doc).await? {
        if v.is_script_created == Some(true) {
            continue;
        }
        if let Some(id) = v.info.and_then(|i| i.id) {
            out.push(Info {
                kind: Kind::Variable,
                id,
                r#type: "variable".into(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The app's variables as its variable list shows them.
pub async fn variable_list(doc: &Doc) -> CliResult<Vec<qix_generated::types::NxVariableListItem>> {
    let props = GenericObjectProperties {
        info: Some(NxInfo {
            r#type: Some("qix-variable-list".into()),
            ..Default::default()
        }),
        variable_list_def: Some(VariableListDef {
            r#type: Some("variable".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let object = doc.create_session_object(props).await?;
    let layout = object.get_layout().await?;
    Ok(layout.variable_list.map(|l| l.items).unwrap_or_default())
}

/// One entity's properties (an object's full property tree when `tree`), `None` when the
/// app has no such entity.
pub async fn fetch(doc: &Doc, kind: Kind, id: &str, tree: bool) -> CliResult<Option<Value>> {
    let missing = |e: &Error| {
        matches!(e, Error::ObjectNotFound { .. })
            || e.error_code() == Some(ErrorCode::GenericNotFound)
    };
    macro_rules! get {
        ($open:expr, $read:ident) => {
            match $open.await {
                Ok(handle) => to_json(&handle.$read().await?, kind.name()).map(Some),
                Err(e) if missing(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
    }
    match kind {
        Kind::Dimension => get!(doc.get_dimension(id), get_properties),
        Kind::Measure => get!(doc.get_measure(id), get_properties),
        Kind::Bookmark => get!(doc.get_bookmark(id), get_properties),
        Kind::Variable => get!(doc.get_variable_by_id(id), get_properties),
        Kind::Object if tree => get!(doc.get_object(id), get_full_property_tree),
        Kind::Object => get!(doc.get_object(id), get_properties),
    }
}

/// Many entities at once (pipelined), in the order asked.
pub async fn fetch_all(
    doc: &Doc,
    wanted: Vec<(Kind, String, bool)>,
) -> CliResult<Vec<Option<Value>>> {
    stream::iter(wanted)
        .map(|(kind, id, tree)| async move {
            fetch(doc, kind, &id, tree)
                .await
                .map_err(|Failure(e)| Failure(format!("{} {id}: {e}", kind.name())))
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
}

/// The ids of every descendant in a full property tree.
pub fn descendants(tree: &Value, out: &mut BTreeSet<String>) {
    for child in tree
        .get("qChildren")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = child
            .pointer("/qProperty/qInfo/qId")
            .and_then(Value::as_str)
        {
            out.insert(id.to_string());
        }
        descendants(child, out);
    }
}

/// The objects that are no other object's child, with their trees, sorted by id.
pub async fn root_objects(doc: &Doc, ids: &[String]) -> CliResult<BTreeMap<String, Value>> {
    let wanted = ids
        .iter()
        .map(|id| (Kind::Object, id.clone(), true))
        .collect();
    let trees = fetch_all(doc, wanted).await?;
    let mut children = BTreeSet::new();
    let mut all = BTreeMap::new();
    for (id, tree) in ids.iter().zip(trees) {
        // Gone since GetAllInfos (another client removed it): nothing to keep.
        let Some(tree) = tree else { continue };
        descendants(&tree, &mut children);
        all.insert(id.clone(), tree);
    }
    all.retain(|id, _| !children.contains(id));
    Ok(all)
}

/// Where two JSON values differ, as JSON pointers (`/qMeasure/qDef`). A `null` and a
/// missing key are the same; numbers compare by value (`1` and `1.0`).
pub fn diff_paths(want: &Value, have: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(want, have, String::new(), &mut out);
    out
}

fn diff_into(want: &Value, have: &Value, path: String, out: &mut Vec<String>) {
    match (want, have) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let x = a.get(k).unwrap_or(&null);
                let y = b.get(k).unwrap_or(&null);
                let escaped = k.replace('~', "~0").replace('/', "~1");
                diff_into(x, y, format!("{path}/{escaped}"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_into(x, y, format!("{path}/{i}"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        _ => out.push(if path.is_empty() { "/".into() } else { path }),
    }
}

/// JSON as project files hold it: keys sorted, two-space indentation, a newline at the
/// end — so that a git diff of an unbuilt app shows only real changes.
pub fn canonical(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let map: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(map.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json keeps a map's insertion order only with its `preserve_order` feature;
    // sorting here makes the order the same either way.
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn differences_are_json_pointers() {
        let a = json!({"qInfo": {"qId": "m"}, "qMeasure": {"qDef": "Sum(X)", "qLabel": "a/b"},
            "n": 1, "gone": null, "list": [1, 2]});
        let b = json!({"qInfo": {"qId": "m"}, "qMeasure": {"qDef": "Sum(Y)", "qLabel": "a/b"},
            "n": 1.0, "list": [1, 3], "extra": true});
        assert_eq!(diff_paths(&a, &b), ["/extra", "/list/1", "/qMeasure/qDef"]);
        assert!(diff_paths(&a, &a).is_empty());
        assert_eq!(diff_paths(&json!([1]), &json!([1, 2])), ["/"]);
        assert_eq!(
            diff_paths(&json!({"a/b": 1}), &json!({"a/b": 2})),
            ["/a~1b"]
        );
    }

    #[test]
    fn canonical_json_is_sorted_and_ends_with_a_newline() {
        let text = canonical(&json!({"b": 1, "a": {"d": [], "c": "x"}}));
        assert_eq!(
            text,
            "{\n  \"a\": {\n    \"c\": \"x\",\n    \"d\": []\n  },\n  \"b\": 1\n}\n"
        );
    }
}
