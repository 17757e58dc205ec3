//! Restoring objects after a reconnection.
//!
//! When the engine answers a new connection with `SESSION_ATTACHED`, it kept the session
//! and every handle: nothing to do. With `SESSION_CREATED` it lost them, and each object
//! the user still holds is opened again, as enigma.js does and further:
//! - a doc: `GetActiveDoc`, else `OpenDoc` with the params of the original `OpenDoc`;
//! - a generic object, dimension, measure, bookmark or variable: by id on its doc
//!   (`GetObject`, `GetDimension`, `GetMeasure`, `GetBookmark`, `GetVariableById`);
//! - a session object or session variable: created again (`CreateSessionObject`,
//!   `CreateSessionVariable`) from the properties this client last gave it (its
//!   `CreateSession…` or `SetProperties` params, with `ApplyPatches` replayed), under its
//!   old id;
//! - anything else (a `Field`, a `Variable`, a session app, an object opened by a raw
//!   call) is closed with a reason.
//!
//! Every object keeps its identity: the user's handle values point at the same
//! `ObjectInner`, whose handle number changes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::decode::ObjectRef;
use crate::delta;
use crate::error::{Error, Result};
use crate::handle::{ClosedReason, ObjectInfo, ObjectInner, Origin, SessionState};
use crate::lock::lock;

/// The getter on `Doc` that opens an object of this class by id.
fn getter(class: &str) -> Option<&'static str> {
    Some(match class {
        "GenericObject" => "GetObject",
        "GenericDimension" => "GetDimension",
        "GenericMeasure" => "GetMeasure",
        "GenericBookmark" => "GetBookmark",
        "GenericVariable" => "GetVariableById",
        _ => return None,
    })
}

/// Whether a call's params must be kept until its answer, to restore objects later.
pub(crate) fn keeps_params(method: &str, target: &ObjectInner) -> bool {
    match method {
        "OpenDoc" | "CreateSessionObject" | "CreateSessionVariable" => true,
        "SetProperties" | "ApplyPatches" | "SetFullPropertyTree" | "ClearSoftPatches" => {
            matches!(*lock(&target.origin), Origin::Session { .. })
        }
        _ => false,
    }
}

/// The doc an object lives on, if it is known.
fn doc_of(o: &Arc<ObjectInner>) -> Option<Arc<ObjectInner>> {
    if &*o.info.qtype == "Doc" {
        return Some(o.clone());
    }
    match &*lock(&o.origin) {
        Origin::ById { doc, .. } | Origin::Session { doc, .. } => Some(doc.clone()),
        _ => None,
    }
}

/// A param by name or position.
fn param(params: &Value, name: &str, position: usize) -> Option<Value> {
    match params {
        Value::Object(m) => m.get(name).cloned(),
        Value::Array(a) => a.get(position).cloned(),
        _ => None,
    }
}

/// How an object that `method` on `parent` just opened can be opened again.
pub(crate) fn origin_of(
    parent: &Arc<ObjectInner>,
    method: &str,
    params: Option<&str>,
    class: &str,
) -> Origin {
    if class == "Doc" {
        return match method {
            "OpenDoc" => Origin::Doc {
                open: params.map(str::to_string),
            },
            "CreateSessionApp" | "CreateSessionAppFromApp" => {
                Origin::Unrestorable("a session app does not outlive its engine session".into())
            }
            _ => Origin::Doc { open: None },
        };
    }
    let Some(getter) = getter(class) else {
        return Origin::Unrestorable(format!(
            "a {class} handle cannot be opened again by id; get it again from its doc"
        ));
    };
    let Some(doc) = doc_of(parent) else {
        return Origin::Unrestorable(format!(
            "opened on a {} with no known doc",
            parent.info.qtype
        ));
    };
    if matches!(method, "CreateSessionObject" | "CreateSessionVariable") {
        let props = params
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| param(&p, "qProp", 0));
        return Origin::Session {
            doc,
            create: if method == "CreateSessionObject" {
                "CreateSessionObject"
            } else {
                "CreateSessionVariable"
            },
            state: SessionState {
                props,
                ..SessionState::default()
            },
        };
    }
    if let Origin::Session { .. } = &*lock(&parent.origin) {
        if &*parent.info.qtype != "Doc" {
            return Origin::Unrestorable("a child of a session object is not persisted".into());
        }
    }
    Origin::ById { doc, getter }
}

/// The origin of an object registered by hand (from a raw call): a doc by its id, an
/// object by id on the session's one doc.
pub(crate) fn origin_guess(
    info: &ObjectInfo,
    docs: impl FnOnce() -> Vec<Arc<ObjectInner>>,
) -> Origin {
    if &*info.qtype == "Doc" {
        return Origin::Doc { open: None };
    }
    // The session's docs are looked up only for a class that can be opened by id.
    let Some(getter) = getter(&info.qtype) else {
        return Origin::Unrestorable(format!("a {} opened by a raw call", info.qtype));
    };
    match docs().as_slice() {
        [doc] => Origin::ById {
            doc: doc.clone(),
            getter,
        },
        _ => Origin::Unrestorable("opened by a raw call on a session with no single doc".into()),
    }
}

/// A call on a session object succeeded (also one whose caller gave up before the answer:
/// the engine applied it all the same): remember what the object now is.
pub(crate) fn track(target: &ObjectInner, method: &str, params: &str) {
    let mut origin = lock(&target.origin);
    let Origin::Session { state, .. } = &mut *origin else {
        return;
    };
    let Ok(params) = serde_json::from_str::<Value>(params) else {
        state.props = None;
        return;
    };
    match method {
        "SetProperties" => {
            state.props = param(&params, "qProp", 0);
            if let (Some(tree), Some(props)) = (state.tree.as_mut(), &state.props) {
                tree["qProperty"] = props.clone();
            }
        }
        "ApplyPatches" => {
            let soft = param(&params, "qSoftPatch", 1)
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let patches = param(&params, "qPatches", 0);
            if soft {
                // Soft patches change the layout, not the properties.
                match patches {
                    Some(p) => state.soft.push(p),
                    None => state.props = None,
                }
                return;
            }
            state.props = state
                .props
                .take()
                .and_then(|p| apply_engine_patches(p, patches.clone()?));
            if let Some(tree) = state.tree.as_mut() {
                match (&state.props, tree.as_object_mut()) {
                    (Some(props), Some(t)) => {
                        t.insert("qProperty".into(), props.clone());
                    }
                    _ => state.tree = None,
                }
            }
        }
        "ClearSoftPatches" => state.soft.clear(),
        "SetFullPropertyTree" => {
            let entry = param(&params, "qPropEntry", 0);
            state.props = entry.as_ref().and_then(|e| e.get("qProperty").cloned());
            state.tree = entry.filter(|_| state.props.is_some());
        }
        _ => {}
    }
}

/// Replays `ApplyPatches` (`[{qOp, qPath, qValue}]`, `qValue` a JSON text) on properties.
fn apply_engine_patches(props: Value, patches: Value) -> Option<Value> {
    let mut ops = Vec::new();
    for p in patches.as_array()? {
        let op = p.get("qOp")?.as_str()?.to_ascii_lowercase();
        let path = p.get("qPath")?.as_str()?.to_string();
        let value = match p.get("qValue").and_then(Value::as_str) {
            Some(text) => Some(serde_json::from_str(text).ok()?),
            None => None,
        };
        ops.push(delta::Op {
            op,
            path,
            from: None,
            value,
        });
    }
    let mut target = Some(props);
    delta::apply(&mut target, ops).ok()?;
    target
}

/// Sends one internal call and returns its `result` JSON.
pub(crate) type Caller<'a> = &'a (
        dyn Fn(
    i32,
    &'static str,
    String,
) -> futures_util::future::BoxFuture<'static, Result<String>>
            + Sync
    );

/// The objects a `SESSION_CREATED` reconnection opened again and those it closed.
pub(crate) struct Outcome {
    pub(crate) restored: Vec<Arc<ObjectInner>>,
    pub(crate) closed: Vec<(Arc<ObjectInner>, String)>,
}

fn opened_handle(result: &str) -> Result<Option<i32>> {
    let r: Option<ObjectRef> = crate::decode::out(result, "qReturn", "restore")?;
    Ok(r.and_then(|r| r.handle.filter(|_| r.qtype.is_some())))
}

/// Opens every object again on a new engine session, docs first, then every other object
/// at once (pipelined).
pub(crate) async fn recreate(objects: Vec<Arc<ObjectInner>>, call: Caller<'_>) -> Outcome {
    let mut out = Outcome {
        restored: Vec::new(),
        closed: Vec::new(),
    };
    let (docs, others): (Vec<_>, Vec<_>) =
        objects.into_iter().partition(|o| &*o.info.qtype == "Doc");
    let mut doc_ok: HashMap<usize, bool> = HashMap::new();
    for doc in docs {
        let origin = lock(&doc.origin).clone();
        let result = match origin {
            Origin::Doc { open } => restore_doc(&doc, open, call).await,
            Origin::Unrestorable(why) => Err(why),
            _ => Err("not a doc".into()),
        };
        match result {
            Ok(h) => {
                doc.set_handle(h);
                doc_ok.insert(Arc::as_ptr(&doc) as usize, true);
                out.restored.push(doc);
            }
            Err(why) => {
                doc_ok.insert(Arc::as_ptr(&doc) as usize, false);
                out.closed.push((doc, why));
            }
        }
    }
    let jobs = others.into_iter().map(|o| {
        let origin = lock(&o.origin).clone();
        let doc_restored =
            doc_of(&o).is_some_and(|d| doc_ok.get(&(Arc::as_ptr(&d) as usize)) == Some(&true));
        async move {
            let r = restore_object(&o, origin, doc_restored, call).await;
            (o, r)
        }
    });
    for (o, r) in futures_util::future::join_all(jobs).await {
        match r {
            Ok(h) => {
                o.set_handle(h);
                out.restored.push(o);
            }
            Err(why) => out.closed.push((o, why)),
        }
    }
    out
}

async fn restore_doc(
    doc: &ObjectInner,
    open: Option<String>,
    call: Caller<'_>,
) -> Result<i32, String> {
    match call(-1, "GetActiveDoc", "{}".into())
        .await
        .map(|r| opened_handle(&r))
    {
        Ok(Ok(Some(h))) => return Ok(h),
        Ok(_) => {}
        // 1007 "No active document" is the usual answer on a new session.
        Err(Error::Engine(_)) => {}
        Err(e) => return Err(format!("GetActiveDoc failed: {e}")),
    }
    let params = match open {
        Some(p) => p,
        None => match &doc.info.generic_id {
            Some(id) => json!({ "qDocName": id }).to_string(),
            None => return Err("the doc has no id to open it by".into()),
        },
    };
    match call(-1, "OpenDoc", params).await {
        Ok(r) => match opened_handle(&r) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err("OpenDoc answered without a handle".into()),
            Err(e) => Err(format!("OpenDoc answered: {e}")),
        },
        Err(e) => Err(format!("OpenDoc failed: {e}")),
    }
}

async fn restore_object(
    o: &ObjectInner,
    origin: Origin,
    doc_restored: bool,
    call: Caller<'_>,
) -> Result<i32, String> {
    let (doc, method, params) = match origin {
        Origin::Root => return Ok(o.handle()),
        Origin::Unrestorable(why) => return Err(why),
        Origin::Doc { .. } => return Err("a doc restored out of order".into()),
        Origin::ById { doc, getter } => {
            let Some(id) = &o.info.generic_id else {
                return Err("the object has no id".into());
            };
            (doc, getter, json!({ "qId": id }))
        }
        Origin::Session { doc, create, state } => {
            let Some(props) = state.props.clone() else {
                return Err(
                    "its properties are unknown (an ApplyPatches could not be replayed)".into(),
                );
            };
            if !doc_restored {
                return Err("its doc could not be opened again".into());
            }
            return restore_session_object(o, &doc, create, props, state, call).await;
        }
    };
    if !doc_restored {
        return Err("its doc could not be opened again".into());
    }
    match call(doc.handle(), method, params.to_string()).await {
        Ok(r) => match opened_handle(&r) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err(format!(
                "{method} found no such object: it no longer exists"
            )),
            Err(e) => Err(format!("{method} answered: {e}")),
        },
        Err(e) => Err(format!("{method} failed: {e}")),
    }
}

/// Makes a session object again under its old id: created from its properties, then its
/// children (from the last full property tree) and its soft patches.
async fn restore_session_object(
    o: &ObjectInner,
    doc: &ObjectInner,
    create: &'static str,
    props: Value,
    state: SessionState,
    call: Caller<'_>,
) -> Result<i32, String> {
    // Keep the old id, so that the object is the same to everyone who knew it.
    let with_id = |mut props: Value| {
        if let (Some(id), Some(obj)) = (&o.info.generic_id, props.as_object_mut()) {
            let info = obj.entry("qInfo").or_insert_with(|| json!({}));
            if let Some(info) = info.as_object_mut() {
                info.insert("qId".into(), json!(id));
            }
        }
        props
    };
    let params = json!({ "qProp": with_id(props) });
    let handle = match call(doc.handle(), create, params.to_string()).await {
        Ok(r) => match opened_handle(&r) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(format!("{create} answered without a handle")),
            Err(e) => return Err(format!("{create} answered: {e}")),
        },
        Err(e) => return Err(format!("{create} failed: {e}")),
    };
    if let Some(mut tree) = state.tree {
        let has_children = tree
            .get("qChildren")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        if has_children {
            if let Some(p) = tree.get_mut("qProperty") {
                *p = with_id(p.take());
            }
            let params = json!({ "qPropEntry": tree });
            if let Err(e) = call(handle, "SetFullPropertyTree", params.to_string()).await {
                return Err(format!(
                    "its children could not be made again: SetFullPropertyTree failed: {e}"
                ));
            }
        }
    }
    for patches in state.soft {
        let params = json!({ "qPatches": patches, "qSoftPatch": true });
        if let Err(e) = call(handle, "ApplyPatches", params.to_string()).await {
            return Err(format!("its soft patches could not be applied again: {e}"));
        }
    }
    Ok(handle)
}

/// Waits for the answer of a restore call (as long as a user's call would: the session's
/// call timeout, if any) and returns its `result` JSON.
pub(crate) async fn await_internal(
    rx: tokio::sync::oneshot::Receiver<crate::answer::Reply>,
    limit: Option<std::time::Duration>,
    method: &'static str,
) -> Result<String> {
    use crate::answer::Reply;
    let wait = async {
        match rx.await {
            Ok(Reply::Done(Ok(a))) => Ok(a.result_str().to_string()),
            Ok(Reply::Done(Err(e))) | Ok(Reply::Aborted(e)) => Err(e),
            Ok(Reply::Requeue) => Err(Error::Internal(format!(
                "the restore call {method} was sent back to be queued again"
            ))),
            // The table dropped it without an answer: only when the session ends.
            Err(_) => Err(Error::ConnectionClosed(crate::error::CloseInfo::remote(
                None,
                "the session ended during the restore",
            ))),
        }
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("restoring with {method}"),
                after: limit,
            })?,
        None => wait.await,
    }
}

/// After `SESSION_ATTACHED`: checks instead of trusting that the engine still has the doc
/// (`GetActiveDoc`: the same app under the same handle) and every object that has an id
/// (fetched by id on its doc: the same handle), as enigma.js does. `Err` says what
/// differs; the caller then opens everything again as after `SESSION_CREATED`.
pub(crate) async fn verify_attached(
    objects: &[Arc<ObjectInner>],
    call: Caller<'_>,
) -> Result<(), String> {
    let (docs, others): (Vec<_>, Vec<_>) = objects.iter().partition(|o| &*o.info.qtype == "Doc");
    match docs.as_slice() {
        [] => {}
        [doc] => {
            let r = call(-1, "GetActiveDoc", "{}".into())
                .await
                .map_err(|e| format!("GetActiveDoc failed: {e}"))?;
            let r: Option<ObjectRef> = crate::decode::out(&r, "qReturn", "GetActiveDoc")
                .map_err(|e| format!("GetActiveDoc answered: {e}"))?;
            let r = r.unwrap_or_default();
            let same_app = match (&doc.info.generic_id, &r.generic_id) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => true,
            };
            if r.handle != Some(doc.handle()) || !same_app {
                return Err(format!(
                    "the active doc is {:?} under handle {:?}, not {:?} under handle {}",
                    r.generic_id,
                    r.handle,
                    doc.info.generic_id,
                    doc.handle()
                ));
            }
        }
        many => {
            return Err(format!(
                "{} docs were open; an engine session has one active doc",
                many.len()
            ));
        }
    }
    let checks = others.into_iter().filter_map(|o| {
        let origin = lock(&o.origin).clone();
        let doc = match origin {
            Origin::ById { doc, .. } | Origin::Session { doc, .. } => doc,
            _ => return None,
        };
        let getter = getter(&o.info.qtype)?;
        let id = o.info.generic_id.clone()?;
        Some(async move {
            let params = json!({ "qId": id }).to_string();
            let found = call(doc.handle(), getter, params)
                .await
                .map_err(|e| format!("{getter}({id}) failed: {e}"))
                .and_then(|r| opened_handle(&r).map_err(|e| format!("{getter}({id}): {e}")))?;
            if found != Some(o.handle()) {
                return Err(format!(
                    "{getter}({id}) gives handle {found:?}, not {}",
                    o.handle()
                ));
            }
            Ok(())
        })
    });
    for r in futures_util::future::join_all(checks).await {
        r?;
    }
    Ok(())
}

/// Closes what could not be restored.
pub(crate) fn close_unrestored(closed: &[(Arc<ObjectInner>, String)]) {
    for (o, why) in closed {
        o.mark_closed(ClosedReason::NotRestored(why.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_patches_replay_on_properties() {
        let props = json!({"qInfo": {"qType": "x"}, "title": "a"});
        let patches = json!([
            {"qOp": "replace", "qPath": "/title", "qValue": "\"b\""},
            {"qOp": "add", "qPath": "/n", "qValue": "1"},
            {"qOp": "remove", "qPath": "/qInfo/qType"}
        ]);
        assert_eq!(
            apply_engine_patches(props.clone(), patches),
            Some(json!({"qInfo": {}, "title": "b", "n": 1}))
        );
        let bad = json!([{"qOp": "replace", "qPath": "/missing/x", "qValue": "1"}]);
        assert_eq!(apply_engine_patches(props, bad), None);
    }

    #[test]
    fn an_origin_never_prints_its_params() {
        let o = Origin::Doc {
            open: Some(r#"{"qDocName":"a","qPassword":"hunter2"}"#.into()),
        };
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[test]
    fn origins() {
        let doc = Arc::new(ObjectInner::new(
            ObjectInfo::new(1, "Doc"),
            Origin::Doc { open: None },
        ));
        let params = r#"{"qProp":{"qInfo":{"qType":"t"}}}"#;
        match origin_of(&doc, "CreateSessionObject", Some(params), "GenericObject") {
            Origin::Session { create, state, .. } => {
                assert_eq!(create, "CreateSessionObject");
                assert_eq!(state.props, Some(json!({"qInfo":{"qType":"t"}})));
            }
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            origin_of(&doc, "GetField", None, "Field"),
            Origin::Unrestorable(_)
        ));
        assert!(matches!(
            origin_of(&doc, "GetMeasure", None, "GenericMeasure"),
            Origin::ById {
                getter: "GetMeasure",
                ..
            }
        ));
        let global = Arc::new(ObjectInner::new(
            ObjectInfo::new(-1, "Global"),
            Origin::Root,
        ));
        assert!(matches!(
            origin_of(&global, "CreateSessionApp", None, "Doc"),
            Origin::Unrestorable(_)
        ));
        match origin_of(&global, "OpenDoc", Some(r#"{"qDocName":"a"}"#), "Doc") {
            Origin::Doc { open } => assert_eq!(open.as_deref(), Some(r#"{"qDocName":"a"}"#)),
            o => panic!("{o:?}"),
        }
    }
}
