//! The generated types are faithful to the spec: the JSON schema `schemars` derives for each
//! type has the spec's property names, property types and enum values.
#![cfg(feature = "schemars")]

mod common;

use serde_json::{Map, Value};

/// A type in a comparable form: `string`, `integer:int32`, `array<ref:NxCell>`, `any`, ….
fn spec_kind(s: &Value, defs: &Map<String, Value>) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        let target = &defs[name];
        let is_struct =
            target.get("properties").is_some() || target.get("additionalProperties").is_some();
        let is_enum = target.get("oneOf").is_some();
        if is_struct || is_enum {
            return format!("ref:{name}");
        }
        if name == "Blob" {
            return "ref:Blob".into();
        }
        // A named alias (an array type, JsonObject): compare what it stands for.
        return spec_kind(target, defs);
    }
    match s.get("type").and_then(Value::as_str) {
        Some("integer") => format!(
            "integer:{}",
            s.get("format").and_then(Value::as_str).unwrap_or("int64")
        ),
        Some("number") => "number".into(),
        Some("boolean") => "boolean".into(),
        Some("string") if s.get("contentEncoding").is_some() => "ref:Blob".into(),
        Some("string") => "string".into(),
        Some("array") => format!("array<{}>", spec_kind(&s["items"], defs)),
        Some("object") => "any".into(),
        other => panic!("unexpected spec type {other:?} in {s}"),
    }
}

fn rust_kind(s: &Value) -> String {
    if s == &Value::Bool(true) || s.as_object().is_some_and(Map::is_empty) {
        return "any".into();
    }
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        let non_null: Vec<&Value> = alts
            .iter()
            .filter(|a| a.get("type") != Some(&Value::from("null")))
            .collect();
        assert_eq!(non_null.len(), 1, "{s}");
        return rust_kind(non_null[0]);
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return format!("ref:{}", r.rsplit('/').next().unwrap_or(r));
    }
    let ty = match s.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .find(|t| *t != "null")
            .and_then(Value::as_str)
            .unwrap_or("null")
            .to_string(),
        Some(Value::String(t)) => t.clone(),
        // No constraint at all (a documented `serde_json::Value`).
        _ => return "any".into(),
    };
    match ty.as_str() {
        "integer" => match s.get("format").and_then(Value::as_str) {
            Some("uint8") => "integer:byte".into(),
            Some(f) => format!("integer:{f}"),
            None => "integer:int64".into(),
        },
        "array" => format!("array<{}>", rust_kind(&s["items"])),
        "object" => "any".into(),
        "string" if s.get("contentEncoding").is_some() => "ref:Blob".into(),
        other => other.to_string(),
    }
}

#[test]
fn every_type_matches_its_spec_definition() {
    let path = common::shared()
        .join("schemas/openrpc")
        .join(format!("{}.json", qix_generated::API_VERSION));
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let defs = spec["components"]["schemas"].as_object().unwrap();

    let mut generator = schemars::SchemaGenerator::default();
    let ours = qix_generated::types::json_schemas(&mut generator);
    assert_eq!(
        ours.len(),
        defs.len(),
        "one generated type per component schema"
    );

    let mut checked_props = 0;
    for (name, schema) in ours {
        let schema = schema.as_value();
        let def = defs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the spec"));
        if let Some(values) = def.get("oneOf") {
            let titles: Vec<&Value> = values
                .as_array()
                .unwrap()
                .iter()
                .map(|v| &v["title"])
                .collect();
            let enum_values: Vec<&Value> = schema["enum"].as_array().unwrap().iter().collect();
            assert_eq!(enum_values, titles, "{name}: enum values");
            continue;
        }
        if def.get("properties").is_none() && def.get("additionalProperties").is_none() {
            assert_eq!(rust_kind(schema), spec_kind(def, defs), "{name}: alias");
            continue;
        }
        let mut want: Vec<(String, String)> = def["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(p, s)| (p.clone(), spec_kind(s, defs)))
            .collect();
        for alt in def
            .pointer("/additionalProperties/anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            want.push((
                alt["name"].as_str().unwrap().to_string(),
                spec_kind(&alt["schema"], defs),
            ));
        }
        let mut got: Vec<(String, String)> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(p, s)| (p.clone(), rust_kind(s)))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}: properties and their types");
        checked_props += got.len();
    }
    let in_spec: usize = defs
        .values()
        .map(|d| {
            d.get("properties")
                .and_then(Value::as_object)
                .map_or(0, Map::len)
                + d.pointer("/additionalProperties/anyOf")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(
        checked_props, in_spec,
        "every property of the spec was compared"
    );
}
