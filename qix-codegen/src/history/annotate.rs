//! Since-version annotations: given every published version of the spec, each method, param,
//! out-property, type, property, enum value and error code learns the oldest engine version
//! that has it. Things the oldest version already has are left unannotated.

use std::collections::HashMap;

use crate::ir::{Api, TypeDef};
use crate::specpath::version_cmp;

/// Sets `since` on everything in `api` from `history` (every version, any order): the oldest
/// version that has the item, or `None` when the oldest version of the history already has
/// it. Items no version of the history has are new in `api` itself: they get `api.version`
/// when that is newer than the oldest version of the history.
///
/// Matching: methods by `Class.Method`, params and out-properties by name within their
/// method, types by name, properties by wire name within their type, enum values by title,
/// error codes by name.
pub fn annotate(api: &mut Api, history: &[Api]) {
    let mut versions: Vec<&Api> = history.iter().collect();
    versions.sort_by(|a, b| version_cmp(&a.version, &b.version));
    let Some(oldest) = versions.first() else {
        return;
    };
    let oldest = oldest.version.clone();

    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in versions.iter().enumerate() {
        for key in keys(v) {
            first_seen.entry(key).or_insert(i);
        }
    }
    let own = version_cmp(&api.version, &oldest)
        .is_gt()
        .then(|| api.version.clone());
    let since = |key: String| -> Option<String> {
        match first_seen.get(&key) {
            Some(0) => None,
            Some(&i) => Some(versions[i].version.clone()),
            None => own.clone(),
        }
    };

    for m in api.classes.iter_mut().flat_map(|c| c.methods.iter_mut()) {
        let method = m.full_name();
        m.facts.since = since(method_key(&method));
        for p in &mut m.params {
            p.since = since(param_key(&method, &p.name));
        }
        for o in &mut m.results {
            o.since = since(out_key(&method, &o.name));
        }
    }
    for (name, t) in api.types.iter_mut() {
        match t {
            TypeDef::Struct(s) => {
                s.facts.since = since(type_key(name));
                for f in s.fields.iter_mut().chain(s.dynamic.iter_mut()) {
                    f.facts.since = since(field_key(name, &f.name));
                }
            }
            TypeDef::Enum(e) => {
                e.facts.since = since(type_key(name));
                for v in &mut e.values {
                    v.since = since(value_key(name, &v.title));
                }
            }
            TypeDef::Alias(a) => a.facts.since = since(type_key(name)),
        }
    }
    for e in &mut api.errors {
        e.since = since(error_key(&e.name));
    }
}

// One namespace of keys for every kind of item: the prefixes keep them apart.
fn method_key(method: &str) -> String {
    format!("m {method}")
}
fn param_key(method: &str, param: &str) -> String {
    format!("p {method}({param})")
}
fn out_key(method: &str, out: &str) -> String {
    format!("o {method}->{out}")
}
fn type_key(name: &str) -> String {
    format!("t {name}")
}
fn field_key(type_name: &str, field: &str) -> String {
    format!("f {type_name}.{field}")
}
fn value_key(type_name: &str, title: &str) -> String {
    format!("v {type_name}::{title}")
}
fn error_key(name: &str) -> String {
    format!("e {name}")
}

/// The key of every annotatable item of an API.
fn keys(api: &Api) -> Vec<String> {
    let mut out = Vec::new();
    for m in api.classes.iter().flat_map(|c| &c.methods) {
        let method = m.full_name();
        out.extend(m.params.iter().map(|p| param_key(&method, &p.name)));
        out.extend(m.results.iter().map(|o| out_key(&method, &o.name)));
        out.push(method_key(&method));
    }
    for (name, t) in &api.types {
        out.push(type_key(name));
        match t {
            TypeDef::Struct(s) => out.extend(
                s.fields
                    .iter()
                    .chain(&s.dynamic)
                    .map(|f| field_key(name, &f.name)),
            ),
            TypeDef::Enum(e) => out.extend(e.values.iter().map(|v| value_key(name, &v.title))),
            TypeDef::Alias(_) => {}
        }
    }
    out.extend(api.errors.iter().map(|e| error_key(&e.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::companion::Companion;
    use crate::lower;
    use crate::settings::Settings;
    use crate::spec::Spec;

    fn api(
        version: &str,
        extra_method: bool,
        extra_param: bool,
        extra_value: bool,
        extra_error: bool,
    ) -> Api {
        let mut methods = vec![format!(
            r##"{{"name": "Doc.GetField", "params": [{{"name": "qName", "required": true, "schema": {{"type": "string"}}}}{}],
                "result": {{"name": "r", "schema": {{"type": "object", "properties": {{"qReturn": {{"$ref": "#/components/schemas/Page"}}}}}}}}}}"##,
            if extra_param {
                r#", {"name": "qState", "schema": {"type": "string"}}"#
            } else {
                ""
            }
        )];
        if extra_method {
            methods.push(r#"{"name": "Doc.Clear", "params": [], "result": {"name": "r", "schema": {"type": "object"}}}"#.into());
        }
        let text = format!(
            r#"{{"openrpc": "1.0.0", "info": {{"title": "QIX", "version": "{version}"}}, "methods": [{}],
                "components": {{"schemas": {{
                    "Page": {{"type": "object", "properties": {{"qTop": {{"type": "integer"}}{}}}}},
                    "Kind": {{"type": "string", "oneOf": [{{"title": "V", "x-qlik-const": 0}}{}]}}
                }}, "errors": {{"LOCERR_A": {{"code": 1}}{}}}}}}}"#,
            methods.join(","),
            if extra_param {
                r#", "qLeft": {"type": "integer"}"#
            } else {
                ""
            },
            if extra_value {
                r#", {"title": "E", "x-qlik-const": 1}"#
            } else {
                ""
            },
            if extra_error {
                r#", "LOCERR_B": {"code": 2}"#
            } else {
                ""
            },
        );
        let spec = Spec::parse(text.as_bytes(), version).unwrap();
        lower::lower(
            &spec,
            &Settings::default().with_companion(Companion::default()),
            version,
        )
        .unwrap()
    }

    #[test]
    fn annotates_what_is_newer_than_the_oldest_version() {
        let v1 = api("12.999.0", false, false, false, false);
        let v2 = api("12.1205.0", true, false, true, false);
        let v3 = api("12.2000.0", true, true, true, true);
        let mut current = v3.clone();
        // Given newest first: the order of the history must not matter.
        annotate(&mut current, &[v3, v2, v1]);

        let doc = &current.classes[0].methods;
        let get_field = doc.iter().find(|m| m.name == "GetField").unwrap();
        let clear = doc.iter().find(|m| m.name == "Clear").unwrap();
        assert_eq!(get_field.facts.since, None);
        assert_eq!(clear.facts.since.as_deref(), Some("12.1205.0"));
        assert_eq!(get_field.params[0].since, None);
        assert_eq!(get_field.params[1].since.as_deref(), Some("12.2000.0"));
        assert_eq!(get_field.results[0].since, None);
        let Some(TypeDef::Struct(page)) = current.types.get("Page") else {
            panic!()
        };
        assert_eq!(page.facts.since, None);
        let field = |name: &str| page.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(field("qTop").facts.since, None);
        assert_eq!(field("qLeft").facts.since.as_deref(), Some("12.2000.0"));
        let Some(TypeDef::Enum(kind)) = current.types.get("Kind") else {
            panic!()
        };
        assert_eq!(kind.values[0].since, None);
        assert_eq!(kind.values[1].since.as_deref(), Some("12.1205.0"));
        assert_eq!(current.errors[0].since, None);
        assert_eq!(current.errors[1].since.as_deref(), Some("12.2000.0"));
    }

    #[test]
    fn items_missing_from_the_whole_history_are_new_in_the_api_itself() {
        let mut current = api("12.3000.0", true, false, false, false);
        annotate(&mut current, &[api("12.999.0", false, false, false, false)]);
        let clear = current.classes[0]
            .methods
            .iter()
            .find(|m| m.name == "Clear")
            .unwrap();
        assert_eq!(clear.facts.since.as_deref(), Some("12.3000.0"));
    }

    #[test]
    fn an_empty_history_changes_nothing() {
        let mut current = api("12.3000.0", true, true, true, true);
        annotate(&mut current, &[]);
        assert!(
            current
                .classes
                .iter()
                .flat_map(|c| &c.methods)
                .all(|m| m.facts.since.is_none())
        );
    }
}
