//! [`FakeApp`]: a stateful app behind a [`MockEngine`](super::MockEngine), for tools that
//! read and write whole apps (build, unbuild, plan) and would need hundreds of scripted
//! expectations otherwise.
//!
//! It keeps what a client gives it and answers from that: the script, the app properties,
//! generic objects (with children and full property trees), master dimensions and
//! measures, bookmarks, variables, data connections, alternate states, and a small data
//! model of in-memory tables that hypercubes, `EvaluateEx`, `GetTablesAndKeys` and field
//! descriptions read. Properties come back exactly as they were set (the real engine keeps
//! them too), with the `qInfo.qId` it assigned when none was given.
//!
//! Its limits, so that a test knows what it proves: expressions are the aggregations
//! `Sum`, `Count`, `Count(DISTINCT …)`, `Avg`, `Min`, `Max` and `Only` of one field, or a
//! number; a hypercube reads one table (the first that has every field it names); there are
//! no selections; a reload loads the tables the test gave (it runs no script).
//!
//! The mock must map positional params to names (`mock.param_names(catalog::params_of)`):
//! the fake reads params by name.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::matching::{MockRequest, NormalParams};
use super::mock::{MockEngine, Reply};

// The engine's error codes the fake answers with (the spec's `LOCERR_*`; 1007 is what
// engines answer `GetActiveDoc` with when no app is open, as in corectl's recordings).
const NOT_FOUND: i32 = 2;
const ALREADY_EXISTS: i32 = 3;
const INVALID_PARAMETER: i32 = 8;
const APP_NOT_FOUND: i32 = 1003;
const NO_ACTIVE_DOC: i32 = 1007;
const CONNECTION_EXISTS: i32 = 2000;
const CONNECTION_NOT_FOUND: i32 = 2001;

/// The handle of the app's `Doc`.
const DOC_HANDLE: i32 = 1;

/// A stateful fake app; clones share it. See the [module docs](self).
#[derive(Clone)]
pub struct FakeApp {
    state: Arc<Mutex<AppState>>,
}

/// A table of the fake data model: field names and rows of values (strings or numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeTable {
    pub name: String,
    pub fields: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Dimension,
    Measure,
    Bookmark,
    Variable,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Object => "GenericObject",
            Kind::Dimension => "GenericDimension",
            Kind::Measure => "GenericMeasure",
            Kind::Bookmark => "GenericBookmark",
            Kind::Variable => "GenericVariable",
        }
    }

    fn default_type(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Dimension => "dimension",
            Kind::Measure => "measure",
            Kind::Bookmark => "bookmark",
            Kind::Variable => "variable",
        }
    }
}

#[derive(Debug, Clone)]
struct Entity {
    kind: Kind,
    props: Value,
    parent: Option<String>,
    children: Vec<String>,
    /// A session object: not in `GetAllInfos`, not saved.
    session: bool,
    /// A variable the load script made (`qIsScriptCreated` in the variable list).
    script_created: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Entity(String),
}

#[derive(Debug, Default)]
struct AppState {
    id: String,
    script: String,
    app_properties: Value,
    entities: BTreeMap<String, Entity>,
    handles: HashMap<i32, Target>,
    next_handle: i32,
    next_id: u64,
    connections: BTreeMap<String, Value>,
    passwords: BTreeMap<String, String>,
    tables: Vec<FakeTable>,
    loaded: bool,
    states: Vec<String>,
    opened_on: HashSet<usize>,
    opened_without_data: Option<bool>,
    deleted: bool,
    saves: usize,
    reloads: Vec<Value>,
    fetch_limit: Option<i64>,
    last_reload: Option<String>,
    progress: String,
    other_apps: Vec<Value>,
}

fn lock(m: &Mutex<AppState>) -> MutexGuard<'_, AppState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Answer = Result<Value, (i32, String)>;

fn err<T>(code: i32, message: impl Into<String>) -> Result<T, (i32, String)> {
    Err((code, message.into()))
}

impl FakeApp {
    /// An empty app whose doc id (what `OpenDoc` takes and `GetDocList` lists) is `id`.
    pub fn new(id: impl Into<String>) -> FakeApp {
        let id = id.into();
        let title = id.rsplit('/').next().unwrap_or(&id).to_string();
        FakeApp {
            state: Arc::new(Mutex::new(AppState {
                app_properties: json!({"qTitle": title}),
                id,
                next_handle: 10,
                ..Default::default()
            })),
        }
    }

    /// Adds a table to the data model (visible once the app was reloaded, or at once
    /// with [`FakeApp::loaded`]).
    pub fn table(
        self,
        name: impl Into<String>,
        fields: &[&str],
        rows: impl IntoIterator<Item = Vec<Value>>,
    ) -> FakeApp {
        lock(&self.state).tables.push(FakeTable {
            name: name.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            rows: rows.into_iter().collect(),
        });
        self
    }

    /// The data model is there from the start (as in an app reloaded before).
    pub fn loaded(self) -> FakeApp {
        lock(&self.state).loaded = true;
        self
    }

    /// A variable as the load script makes one (`LET name = definition;`).
    pub fn script_variable(self, name: &str, definition: &str) -> FakeApp {
        let id = format!("script-{name}");
        lock(&self.state).entities.insert(
            id.clone(),
            Entity {
                kind: Kind::Variable,
                props: json!({"qInfo": {"qId": id, "qType": "variable"}, "qName": name,
                    "qDefinition": definition}),
                parent: None,
                children: Vec::new(),
                session: false,
                script_created: true,
            },
        );
        self
    }

    /// Another app in the engine's doc list (`GetDocList`; `OpenDoc` of it fails).
    pub fn other_app(self, id: &str, title: &str) -> FakeApp {
        lock(&self.state)
            .other_apps
            .push(json!({"qDocId": id, "qDocName": title, "qTitle": title, "qMeta": {}}));
        self
    }

    /// Answers `mock`'s requests that no expectation matches.
    pub fn serve(&self, mock: &MockEngine) {
        let app = self.clone();
        mock.fallback(move |req| Some(app.answer(req)));
    }

    /// The load script.
    pub fn script(&self) -> String {
        lock(&self.state).script.clone()
    }

    /// How many times the app was saved (`DoSave`, `SaveObjects`).
    pub fn saves(&self) -> usize {
        lock(&self.state).saves
    }

    /// The `DoReloadEx`/`DoReload` params of each reload, in order.
    pub fn reloads(&self) -> Vec<Value> {
        lock(&self.state).reloads.clone()
    }

    /// The last `SetFetchLimit`.
    pub fn fetch_limit(&self) -> Option<i64> {
        lock(&self.state).fetch_limit
    }

    /// `qNoData` of the last `OpenDoc`.
    pub fn opened_without_data(&self) -> Option<bool> {
        lock(&self.state).opened_without_data
    }

    /// Whether `DeleteApp` removed it.
    pub fn deleted(&self) -> bool {
        lock(&self.state).deleted
    }

    /// The password a connection was given (engines never send it back).
    pub fn connection_password(&self, name: &str) -> Option<String> {
        lock(&self.state).passwords.get(name).cloned()
    }

    /// The connections as `GetConnections` lists them.
    pub fn connections(&self) -> Vec<Value> {
        lock(&self.state).connections.values().cloned().collect()
    }

    /// The alternate states.
    pub fn states(&self) -> Vec<String> {
        lock(&self.state).states.clone()
    }

    /// The ids of the persistent entities (objects and their children, master items,
    /// bookmarks, variables), sorted.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.state)
            .entities
            .iter()
            .filter(|(_, e)| !e.session)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The properties of an entity, as `GetProperties` gives them.
    pub fn properties(&self, id: &str) -> Option<Value> {
        lock(&self.state).entities.get(id).map(|e| e.props.clone())
    }

    /// Answers one request from the app's state.
    pub fn answer(&self, req: &MockRequest) -> Reply {
        let mut state = lock(&self.state);
        let params = match &req.named {
            NormalParams::Named(m) => m.clone(),
            NormalParams::Positional(_) => {
                return Reply::error(
                    -32602,
                    &req.method,
                    "the fake app reads params by name: give the mock param names",
                );
            }
        };
        let outcome = match req.handle {
            -1 => state.global(req, &params),
            DOC_HANDLE => state.doc(&req.method, &params),
            h => match state.handles.get(&h).cloned() {
                Some(Target::Entity(id)) => state.entity(&id, &req.method, &params),
                None => err(NOT_FOUND, format!("no object has handle {h}")),
            },
        };
        match outcome {
            Ok(v) => Reply::result(v),
            Err((code, message)) => Reply::error(code, &req.method, message),
        }
    }
}

fn str_param<'a>(params: &'a Map<String, Value>, name: &str) -> &'a str {
    params.get(name).and_then(Value::as_str).unwrap_or("")
}

fn info_of(props: &Value) -> Value {
    json!({
        "qId": props.pointer("/qInfo/qId").cloned().unwrap_or(Value::Null),
        "qType": props.pointer("/qInfo/qType").cloned().unwrap_or(Value::Null),
    })
}

impl AppState {
    fn doc_ref(&self) -> Value {
        json!({"qReturn": {"qType": "Doc", "qHandle": DOC_HANDLE, "qGenericId": self.id}})
    }

    fn global(&mut self, req: &MockRequest, params: &Map<String, Value>) -> Answer {
        match req.method.as_str() {
            "GetActiveDoc" if self.opened_on.contains(&req.connection) => Ok(self.doc_ref()),
            "GetActiveDoc" => err(NO_ACTIVE_DOC, "No active document"),
            "OpenDoc" => {
                let name = str_param(params, "qDocName");
                if self.deleted || name != self.id {
                    return err(APP_NOT_FOUND, format!("App not found ({name})"));
                }
                self.opened_on.insert(req.connection);
                self.opened_without_data = Some(
                    params
                        .get("qNoData")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                );
                Ok(self.doc_ref())
            }
            "GetDocList" => {
                let mut list = Vec::new();
                if !self.deleted {
                    let title = self.app_properties["qTitle"].clone();
                    list.push(
                        json!({"qDocId": self.id, "qDocName": title, "qTitle": title,
                        "qMeta": {}, "qFileSize": 4096}),
                    );
                }
                list.extend(self.other_apps.iter().cloned());
                Ok(json!({ "qDocList": list }))
            }
            "DeleteApp" => {
                let id = str_param(params, "qAppId");
                if self.deleted || id != self.id {
                    return err(APP_NOT_FOUND, format!("App not found ({id})"));
                }
                self.deleted = true;
                Ok(json!({"qSuccess": true}))
            }
            "GetProgress" => Ok(json!({"qProgressData": {
                "qStarted": true, "qFinished": true, "qCompleted": 1, "qTotal": 1,
                "qPersistentProgress": std::mem::take(&mut self.progress),
                "qUserInteractionWanted": false
            }})),
            "InteractDone" => Ok(json!({})),
            "EngineVersion" => Ok(json!({"qVersion": {"qComponentVersion": "12.2528.0"}})),
            m => err(
                NOT_FOUND,
                format!("the fake app does not answer Global.{m}"),
            ),
        }
    }

    fn doc(&mut self, method: &str, params: &Map<String, Value>) -> Answer {
        match method {
            "GetScript" => Ok(json!({"qScript": self.script})),
            "SetScript" => {
                self.script = str_param(params, "qScript").to_string();
                Ok(json!({}))
            }
            "GetAppProperties" => {
                // As engines do, the properties carry the last reload's time.
                let mut props = self.app_properties.clone();
                if let (Some(t), Some(m)) = (&self.last_reload, props.as_object_mut()) {
                    m.insert("qLastReloadTime".into(), json!(t));
                }
                Ok(json!({ "qProp": props }))
            }
            "SetAppProperties" => {
                self.app_properties = params.get("qProp").cloned().unwrap_or(json!({}));
                Ok(json!({}))
            }
            "GetAppLayout" => Ok(json!({"qLayout": {
                "qTitle": self.app_properties["qTitle"],
                "qFileName": self.id,
                "qHasScript": !self.script.is_empty(),
                "qHasData": self.loaded,
                "qLastReloadTime": self.last_reload,
                "qStateNames": self.states,
                "qIsOpenedWithoutData": self.opened_without_data.unwrap_or(false),
                "qMeta": {}
            }})),
            "DoSave" | "SaveObjects" => {
                self.saves += 1;
                Ok(json!({}))
            }
            "SetFetchLimit" => {
                self.fetch_limit = params.get("qLimit").and_then(Value::as_i64);
                Ok(json!({}))
            }
            "DoReload" | "DoReloadEx" => {
                self.reloads.push(Value::Object(params.clone()));
                self.loaded = true;
                // A fixed time: outputs that show it stay the same from run to run.
                self.last_reload = Some("2024-03-01T10:00:00.000Z".into());
                let mut progress = String::new();
                for t in &self.tables {
                    progress.push_str(&format!(
                        "{} << fake\nLines fetched: {}\n",
                        t.name,
                        t.rows.len()
                    ));
                }
                self.progress = progress;
                if method == "DoReload" {
                    Ok(json!({"qReturn": true}))
                } else {
                    Ok(json!({"qResult": {"qSuccess": true,
                        "qScriptLogFile": format!("/logs/{}.log", self.app_properties["qTitle"].as_str().unwrap_or("app"))}}))
                }
            }
            "GetConnections" => {
                Ok(json!({"qConnections": self.connections.values().collect::<Vec<_>>()}))
            }
            "GetConnection" => {
                let id = str_param(params, "qConnectionId");
                self.connection_by_id(id)
                    .map(|(_, c)| json!({ "qConnection": c }))
                    .ok_or((CONNECTION_NOT_FOUND, format!("Connection not found ({id})")))
            }
            "CreateConnection" => {
                let conn = params.get("qConnection").cloned().unwrap_or(json!({}));
                let name = conn["qName"].as_str().unwrap_or("").to_string();
                if name.is_empty() {
                    return err(INVALID_PARAMETER, "a connection needs a qName");
                }
                if self.connections.contains_key(&name) {
                    return err(
                        CONNECTION_EXISTS,
                        format!("Connection already exists ({name})"),
                    );
                }
                let id = self.new_id("conn");
                self.store_connection(&name, &id, &conn, true);
                Ok(json!({ "qConnectionId": id }))
            }
            "ModifyConnection" => {
                let id = str_param(params, "qConnectionId").to_string();
                let Some((old_name, _)) = self.connection_by_id(&id) else {
                    return err(CONNECTION_NOT_FOUND, format!("Connection not found ({id})"));
                };
                let conn = params.get("qConnection").cloned().unwrap_or(json!({}));
                let name = conn["qName"].as_str().unwrap_or(&old_name).to_string();
                self.connections.remove(&old_name);
                let override_credentials = params
                    .get("qOverrideCredentials")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.store_connection(&name, &id, &conn, override_credentials);
                Ok(json!({}))
            }
            "DeleteConnection" => {
                let id = str_param(params, "qConnectionId");
                let Some((name, _)) = self.connection_by_id(id) else {
                    return err(CONNECTION_NOT_FOUND, format!("Connection not found ({id})"));
                };
                self.connections.remove(&name);
                self.passwords.remove(&name);
                Ok(json!({}))
            }
            "GetTablesAndKeys" => Ok(self.tables_and_keys(
                params
                    .get("qSyntheticMode")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )),
            "GetFieldDescription" => {
                let name = str_param(params, "qFieldName");
                self.field_description(name)
                    .map(|d| json!({ "qReturn": d }))
                    .ok_or((NOT_FOUND, format!("Field not found ({name})")))
            }
            "GetAllInfos" => {
                let infos: Vec<Value> = self
                    .entities
                    .values()
                    .filter(|e| !e.session)
                    .map(|e| info_of(&e.props))
                    .collect();
                Ok(json!({ "qInfos": infos }))
            }
            "EvaluateEx" => {
                let expr = str_param(params, "qExpression");
                let value = self.evaluate(expr, None);
                Ok(json!({ "qValue": match value {
                    Some(Cell::Num(n)) => json!({"qText": num_text(n), "qIsNumeric": true, "qNumber": n}),
                    Some(Cell::Text(t)) => json!({"qText": t, "qIsNumeric": false}),
                    None => json!({"qText": "-", "qIsNumeric": false}),
                }}))
            }
            "CreateObject" => self.create(Kind::Object, params, false, None),
            "CreateSessionObject" => self.create(Kind::Object, params, true, None),
            "CreateDimension" => self.create(Kind::Dimension, params, false, None),
            "CreateMeasure" => self.create(Kind::Measure, params, false, None),
            "CreateBookmark" => self.create(Kind::Bookmark, params, false, None),
            "CreateVariableEx" => {
                let name = params
                    .get("qProp")
                    .and_then(|p| p.get("qName"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if name.is_empty() {
                    return err(INVALID_PARAMETER, "a variable needs a qName");
                }
                if self.variable_by_name(name).is_some() {
                    return err(ALREADY_EXISTS, format!("Variable already exists ({name})"));
                }
                self.create(Kind::Variable, params, false, None)
            }
            "GetObject" => Ok(self.open(Kind::Object, str_param(params, "qId"))),
            "GetDimension" => Ok(self.open(Kind::Dimension, str_param(params, "qId"))),
            "GetMeasure" => Ok(self.open(Kind::Measure, str_param(params, "qId"))),
            "GetBookmark" => Ok(self.open(Kind::Bookmark, str_param(params, "qId"))),
            "GetVariableById" => Ok(self.open(Kind::Variable, str_param(params, "qId"))),
            "GetVariableByName" => {
                let id = self
                    .variable_by_name(str_param(params, "qName"))
                    .unwrap_or_default();
                Ok(self.open(Kind::Variable, &id))
            }
            "DestroyObject" | "DestroySessionObject" => {
                Ok(self.destroy(Kind::Object, str_param(params, "qId")))
            }
            "DestroyDimension" => Ok(self.destroy(Kind::Dimension, str_param(params, "qId"))),
            "DestroyMeasure" => Ok(self.destroy(Kind::Measure, str_param(params, "qId"))),
            "DestroyBookmark" => Ok(self.destroy(Kind::Bookmark, str_param(params, "qId"))),
            "DestroyVariableById" => Ok(self.destroy(Kind::Variable, str_param(params, "qId"))),
            "DestroyVariableByName" => {
                let id = self
                    .variable_by_name(str_param(params, "qName"))
                    .unwrap_or_default();
                Ok(self.destroy(Kind::Variable, &id))
            }
            "AddAlternateState" => {
                let name = str_param(params, "qStateName").to_string();
                if self.states.contains(&name) {
                    return err(ALREADY_EXISTS, format!("State already exists ({name})"));
                }
                self.states.push(name);
                Ok(json!({}))
            }
            "RemoveAlternateState" => {
                let name = str_param(params, "qStateName");
                let before = self.states.len();
                self.states.retain(|s| s != name);
                if self.states.len() == before {
                    return err(NOT_FOUND, format!("State not found ({name})"));
                }
                Ok(json!({}))
            }
            m => err(NOT_FOUND, format!("the fake app does not answer Doc.{m}")),
        }
    }

    fn entity(&mut self, id: &str, method: &str, params: &Map<String, Value>) -> Answer {
        let Some(entity) = self.entities.get(id).cloned() else {
            return err(NOT_FOUND, format!("{id} no longer exists"));
        };
        match method {
            "GetProperties" | "GetEffectiveProperties" => Ok(json!({"qProp": entity.props})),
            "GetInfo" => Ok(json!({"qInfo": info_of(&entity.props)})),
            "SetProperties" => {
                let mut props = params.get("qProp").cloned().unwrap_or(json!({}));
                // The id and type stay what they are (the engine ignores others).
                props["qInfo"] = info_of(&entity.props);
                if let Some(e) = self.entities.get_mut(id) {
                    e.props = props;
                }
                Ok(json!({}))
            }
            "GetLayout" => Ok(json!({"qLayout": self.layout(id)})),
            "GetFullPropertyTree" if entity.kind == Kind::Object => {
                Ok(json!({"qPropEntry": self.tree(id)}))
            }
            "SetFullPropertyTree" if entity.kind == Kind::Object => {
                let entry = params.get("qPropEntry").cloned().unwrap_or(json!({}));
                self.set_tree(id, &entry)?;
                Ok(json!({}))
            }
            "GetChildInfos" if entity.kind == Kind::Object => {
                let infos: Vec<Value> = entity
                    .children
                    .iter()
                    .filter_map(|c| self.entities.get(c))
                    .map(|c| info_of(&c.props))
                    .collect();
                Ok(json!({ "qInfos": infos }))
            }
            "GetParent" if entity.kind == Kind::Object => match &entity.parent {
                Some(p) => {
                    let p = p.clone();
                    Ok(self.open(Kind::Object, &p))
                }
                None => Ok(json!({"qReturn": {"qType": "GenericObject", "qHandle": null}})),
            },
            "CreateChild" if entity.kind == Kind::Object => {
                self.create(Kind::Object, params, entity.session, Some(id))
            }
            "DestroyChild" if entity.kind == Kind::Object => {
                let child = str_param(params, "qId");
                if !entity.children.iter().any(|c| c == child) {
                    return Ok(json!({"qSuccess": false}));
                }
                Ok(self.destroy(Kind::Object, child))
            }
            "GetHyperCubeData" if entity.kind == Kind::Object => {
                let path = str_param(params, "qPath");
                let def_path = path.trim_end_matches('/');
                let Some(def) = entity.props.pointer(def_path).cloned() else {
                    return err(NOT_FOUND, format!("no hypercube at {path}"));
                };
                let cube = self.cube(&def)?;
                let pages: Vec<Value> = params
                    .get("qPages")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| cube.page(p))
                    .collect();
                Ok(json!({ "qDataPages": pages }))
            }
            m => err(
                NOT_FOUND,
                format!("the fake app does not answer {}.{m}", entity.kind.class()),
            ),
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    fn handle_for(&mut self, id: &str) -> i32 {
        self.next_handle += 1;
        let h = self.next_handle;
        self.handles.insert(h, Target::Entity(id.to_string()));
        h
    }

    fn open(&mut self, kind: Kind, id: &str) -> Value {
        match self.entities.get(id) {
            Some(e) if e.kind == kind => {
                let ty = e.props.pointer("/qInfo/qType").cloned();
                let h = self.handle_for(id);
                json!({"qReturn": {"qType": kind.class(), "qHandle": h, "qGenericId": id,
                    "qGenericType": ty}})
            }
            // What engines answer for an id they do not have.
            _ => json!({"qReturn": {"qType": kind.class(), "qHandle": null}}),
        }
    }

    fn create(
        &mut self,
        kind: Kind,
        params: &Map<String, Value>,
        session: bool,
        parent: Option<&str>,
    ) -> Answer {
        let mut props = params.get("qProp").cloned().unwrap_or(json!({}));
        if !props.is_object() {
            return err(INVALID_PARAMETER, "qProp is not an object");
        }
        let id = match props.pointer("/qInfo/qId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => self.new_id(kind.default_type()),
        };
        if self.entities.contains_key(&id) {
            return err(ALREADY_EXISTS, format!("Object already exists ({id})"));
        }
        let ty = props
            .pointer("/qInfo/qType")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or(kind.default_type())
            .to_string();
        props["qInfo"] = json!({"qId": id, "qType": ty});
        self.entities.insert(
            id.clone(),
            Entity {
                kind,
                props: props.clone(),
                parent: parent.map(str::to_string),
                children: Vec::new(),
                session,
                script_created: false,
            },
        );
        if let Some(p) = parent.and_then(|p| self.entities.get_mut(p)) {
            p.children.push(id.clone());
        }
        let h = self.handle_for(&id);
        Ok(json!({
            "qReturn": {"qType": kind.class(), "qHandle": h, "qGenericId": id, "qGenericType": ty},
            "qInfo": {"qId": id, "qType": ty}
        }))
    }

    fn destroy(&mut self, kind: Kind, id: &str) -> Value {
        match self.entities.get(id) {
            Some(e) if e.kind == kind => {
                self.remove_tree(id);
                json!({"qSuccess": true})
            }
            _ => json!({"qSuccess": false}),
        }
    }

    /// Removes an entity with its children, and unlinks it from its parent.
    fn remove_tree(&mut self, id: &str) {
        let Some(e) = self.entities.remove(id) else {
            return;
        };
        if let Some(p) = e.parent.as_ref().and_then(|p| self.entities.get_mut(p)) {
            p.children.retain(|c| c != id);
        }
        for c in e.children {
            self.remove_tree(&c);
        }
        self.handles
            .retain(|_, t| *t != Target::Entity(id.to_string()));
    }

    fn tree(&self, id: &str) -> Value {
        let Some(e) = self.entities.get(id) else {
            return Value::Null;
        };
        let children: Vec<Value> = e.children.iter().map(|c| self.tree(c)).collect();
        json!({"qProperty": e.props, "qChildren": children, "qEmbeddedSnapshotRef": null})
    }

    /// `SetFullPropertyTree`: the object's properties, and its children made to be the
    /// tree's (children not in the tree are removed, new ones created).
    fn set_tree(&mut self, id: &str, entry: &Value) -> Result<(), (i32, String)> {
        let mut props = entry.get("qProperty").cloned().unwrap_or(json!({}));
        let Some(e) = self.entities.get(id) else {
            return err(NOT_FOUND, format!("{id} no longer exists"));
        };
        props["qInfo"] = info_of(&e.props);
        let old_children = e.children.clone();
        let session = e.session;
        let children = entry
            .get("qChildren")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let wanted: Vec<String> = children
            .iter()
            .filter_map(|c| c.pointer("/qProperty/qInfo/qId").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        for old in old_children.iter().filter(|c| !wanted.contains(c)) {
            self.remove_tree(old);
        }
        if let Some(e) = self.entities.get_mut(id) {
            e.props = props;
        }
        for child in &children {
            let child_props = child.get("qProperty").cloned().unwrap_or(json!({}));
            let child_id = child_props
                .pointer("/qInfo/qId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let exists = child_id
                .as_deref()
                .is_some_and(|c| self.entities.contains_key(c));
            let child_id = if exists {
                child_id.unwrap_or_default()
            } else {
                let mut params = Map::new();
                params.insert("qProp".into(), child_props);
                let made = self.create(Kind::Object, &params, session, Some(id))?;
                made["qInfo"]["qId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            self.set_tree(&child_id, child)?;
        }
        // The children in the tree's order.
        if let Some(e) = self.entities.get_mut(id) {
            let mut ordered: Vec<String> = wanted
                .iter()
                .filter(|w| e.children.contains(w))
                .cloned()
                .collect();
            ordered.extend(e.children.iter().filter(|c| !wanted.contains(c)).cloned());
            e.children = ordered;
        }
        Ok(())
    }

    fn variable_by_name(&self, name: &str) -> Option<String> {
        self.entities
            .iter()
            .find(|(_, e)| {
                e.kind == Kind::Variable
                    && e.props.get("qName").and_then(Value::as_str) == Some(name)
            })
            .map(|(id, _)| id.clone())
    }

    fn connection_by_id(&self, id: &str) -> Option<(String, Value)> {
        self.connections
            .iter()
            .find(|(_, c)| c["qId"] == id)
            .map(|(n, c)| (n.clone(), c.clone()))
    }

    fn store_connection(&mut self, name: &str, id: &str, conn: &Value, credentials: bool) {
        let mut stored = json!({
            "qId": id,
            "qName": name,
            "qConnectionString": conn["qConnectionString"].as_str().unwrap_or(""),
            "qType": conn["qType"].as_str().unwrap_or(""),
            "qModifiedDate": "2024-01-01T00:00:00.000Z",
            "qMeta": {"name": name},
        });
        let user = conn["qUserName"].as_str().unwrap_or("");
        if !user.is_empty() {
            stored["qUserName"] = json!(user);
        }
        if credentials {
            match conn["qPassword"].as_str().filter(|p| !p.is_empty()) {
                Some(p) => {
                    self.passwords.insert(name.to_string(), p.to_string());
                }
                None => {
                    self.passwords.remove(name);
                }
            }
        }
        self.connections.insert(name.to_string(), stored);
    }

    fn layout(&self, id: &str) -> Value {
        let Some(e) = self.entities.get(id) else {
            return Value::Null;
        };
        let meta = {
            let mut m = e.props.get("qMetaDef").cloned().unwrap_or(json!({}));
            if !m.is_object() {
                m = json!({});
            }
            m["privileges"] = json!(["read", "update", "delete"]);
            m
        };
        match e.kind {
            Kind::Dimension => {
                let fields = e
                    .props
                    .pointer("/qDim/qFieldDefs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let infos: Vec<Value> = fields
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|f| json!({"qCardinal": self.cardinal(f), "qTags": []}))
                    .collect();
                json!({"qInfo": info_of(&e.props), "qMeta": meta,
                    "qDim": e.props.get("qDim").cloned().unwrap_or(json!({})), "qDimInfos": infos})
            }
            Kind::Measure => json!({"qInfo": info_of(&e.props), "qMeta": meta,
                "qMeasure": e.props.get("qMeasure").cloned().unwrap_or(json!({}))}),
            Kind::Bookmark => json!({"qInfo": info_of(&e.props), "qMeta": meta,
                "qBookmark": {"qStateData": [], "qUtcModifyTime": 0}}),
            Kind::Variable => {
                let def = e.props["qDefinition"].as_str().unwrap_or("");
                let (text, num) = match def.trim_start_matches('=').trim().parse::<f64>() {
                    Ok(n) => (num_text(n), json!(n)),
                    Err(_) => (def.to_string(), json!("NaN")),
                };
                json!({"qInfo": info_of(&e.props), "qMeta": meta, "qText": text, "qNum": num,
                    "qIsScriptCreated": false})
            }
            Kind::Object => self.object_layout(e, meta),
        }
    }

    /// A generic object's layout: its properties with each `…Def` computed.
    fn object_layout(&self, e: &Entity, meta: Value) -> Value {
        let mut out = Map::new();
        let Some(props) = e.props.as_object() else {
            return Value::Null;
        };
        for (key, value) in props {
            let computed = match key.as_str() {
                "qMetaDef" => Some(("qMeta".to_string(), meta.clone())),
                "qHyperCubeDef" => Some((
                    "qHyperCube".to_string(),
                    match self.cube(value) {
                        Ok(cube) => cube.layout(value),
                        Err((_, message)) => {
                            json!({"qError": {"qErrorCode": 7005, "qContext": message}})
                        }
                    },
                )),
                "qMeasureListDef" => Some(("qMeasureList".into(), self.list(Kind::Measure, value))),
                "qDimensionListDef" => {
                    Some(("qDimensionList".into(), self.list(Kind::Dimension, value)))
                }
                "qBookmarkListDef" => {
                    Some(("qBookmarkList".into(), self.list(Kind::Bookmark, value)))
                }
                "qVariableListDef" => Some(("qVariableList".into(), self.variable_list())),
                "qFieldListDef" => Some(("qFieldList".into(), self.field_list())),
                "qChildListDef" => Some(("qChildList".into(), self.child_list(e, value))),
                _ => None,
            };
            match computed {
                Some((k, v)) => {
                    out.insert(k, v);
                }
                None => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        out.entry("qMeta").or_insert(meta);
        Value::Object(out)
    }

    fn list(&self, kind: Kind, def: &Value) -> Value {
        let items: Vec<Value> = self
            .entities
            .values()
            .filter(|e| e.kind == kind && !e.session)
            .map(|e| {
                json!({"qInfo": info_of(&e.props), "qMeta": e.props.get("qMetaDef").cloned().unwrap_or(json!({})),
                    "qData": data_of(&e.props, def.get("qData"))})
            })
            .collect();
        json!({ "qItems": items })
    }

    fn variable_list(&self) -> Value {
        let items: Vec<Value> = self
            .entities
            .values()
            .filter(|e| e.kind == Kind::Variable && !e.session)
            .map(|e| {
                json!({"qName": e.props["qName"], "qDefinition": e.props["qDefinition"],
                    "qInfo": info_of(&e.props), "qIsScriptCreated": e.script_created,
                    "qData": {}})
            })
            .collect();
        json!({ "qItems": items })
    }

    fn child_list(&self, e: &Entity, def: &Value) -> Value {
        let items: Vec<Value> = e
            .children
            .iter()
            .filter_map(|c| self.entities.get(c))
            .map(|c| json!({"qInfo": info_of(&c.props), "qData": data_of(&c.props, def.get("qData"))}))
            .collect();
        json!({ "qItems": items })
    }

    fn visible_tables(&self) -> &[FakeTable] {
        if self.loaded { &self.tables } else { &[] }
    }

    /// The fields of the data model in load order, each with the tables that have it.
    fn fields(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.visible_tables() {
            for f in &t.fields {
                match out.iter_mut().find(|(n, _)| n == f) {
                    Some((_, tables)) => tables.push(t.name.clone()),
                    None => out.push((f.clone(), vec![t.name.clone()])),
                }
            }
        }
        out
    }

    fn values_of(&self, field: &str) -> Vec<Value> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for t in self.visible_tables() {
            if let Some(i) = t.fields.iter().position(|f| f == field) {
                for row in &t.rows {
                    if let Some(v) = row.get(i) {
                        if seen.insert(v.to_string()) {
                            out.push(v.clone());
                        }
                    }
                }
            }
        }
        out
    }

    fn cardinal(&self, field: &str) -> usize {
        self.values_of(field).len()
    }

    fn field_tags(&self, field: &str) -> Vec<&'static str> {
        let values = self.values_of(field);
        let mut tags = Vec::new();
        if self.fields().iter().any(|(f, t)| f == field && t.len() > 1) {
            tags.push("$key");
        }
        if !values.is_empty() && values.iter().all(Value::is_number) {
            tags.push("$numeric");
            if values
                .iter()
                .all(|v| v.as_f64().is_some_and(|n| n.fract() == 0.0))
            {
                tags.push("$integer");
            }
        } else {
            tags.push("$ascii");
            tags.push("$text");
        }
        tags
    }

    fn field_list(&self) -> Value {
        let items: Vec<Value> = self
            .fields()
            .iter()
            .map(|(f, tables)| {
                json!({"qName": f, "qCardinal": self.cardinal(f), "qTags": self.field_tags(f),
                    "qSrcTables": tables})
            })
            .collect();
        json!({ "qItems": items })
    }

    fn field_description(&self, name: &str) -> Option<Value> {
        let fields = self.fields();
        let (index, (_, tables)) = fields.iter().enumerate().find(|(_, (f, _))| f == name)?;
        let values = self.values_of(name);
        let total: usize = self
            .visible_tables()
            .iter()
            .filter(|t| t.fields.iter().any(|f| f == name))
            .map(|t| t.rows.len())
            .sum();
        let bytes: usize = values.iter().map(|v| v.to_string().len() + 8).sum();
        Some(json!({
            "qInternalNumber": index, "qName": name, "qSrcTables": tables,
            "qIsSystem": false, "qIsHidden": false, "qIsSemantic": false, "qDistinctOnly": false,
            "qCardinal": values.len(), "qTotalCount": total, "qIsLocked": false,
            "qAlwaysOneSelected": false, "qAndMode": false,
            "qIsNumeric": !values.is_empty() && values.iter().all(Value::is_number),
            "qComment": "", "qTags": self.field_tags(name), "qIsDefinitionOnly": false,
            "qByteSize": bytes
        }))
    }

    /// `GetTablesAndKeys`: tables with their fields, and the keys between them. Tables that
    /// share two fields or more are linked by a synthetic key, as the engine does: in
    /// synthetic mode a `$Syn n Table` holds those fields and a `$Syn n` field, which
    /// replaces them in each table that shares them; otherwise the tables are shown as
    /// loaded.
    fn tables_and_keys(&self, synthetic_mode: bool) -> Value {
        let tables = self.visible_tables();
        // Synthetic keys: one per set of two or more fields shared by tables.
        let mut synthetic: Vec<(Vec<String>, BTreeSet<String>)> = Vec::new();
        for (i, a) in tables.iter().enumerate() {
            for b in &tables[i + 1..] {
                let common: Vec<String> = a
                    .fields
                    .iter()
                    .filter(|f| b.fields.contains(f))
                    .cloned()
                    .collect();
                if common.len() < 2 {
                    continue;
                }
                match synthetic.iter_mut().find(|(f, _)| *f == common) {
                    Some((_, ts)) => {
                        ts.insert(a.name.clone());
                        ts.insert(b.name.clone());
                    }
                    None => synthetic.push((
                        common,
                        [a.name.clone(), b.name.clone()].into_iter().collect(),
                    )),
                }
            }
        }
        // The tables as the model shows them: (name, fields, rows, synthetic).
        let mut shown: Vec<(String, Vec<String>, Option<&FakeTable>, bool)> = Vec::new();
        for t in tables {
            let mut fields = t.fields.clone();
            if synthetic_mode {
                for (n, (fs, ts)) in synthetic.iter().enumerate() {
                    if ts.contains(&t.name) {
                        fields.retain(|f| !fs.contains(f));
                        fields.push(format!("$Syn {}", n + 1));
                    }
                }
            }
            shown.push((t.name.clone(), fields, Some(t), false));
        }
        if synthetic_mode {
            for (n, (fs, _)) in synthetic.iter().enumerate() {
                let mut fields = fs.clone();
                fields.push(format!("$Syn {}", n + 1));
                shown.push((format!("$Syn {} Table", n + 1), fields, None, true));
            }
        }
        let in_tables = |f: &str| -> Vec<String> {
            shown
                .iter()
                .filter(|(_, fs, _, _)| fs.iter().any(|x| x == f))
                .map(|(n, _, _, _)| n.clone())
                .collect()
        };
        let mut records = Vec::new();
        let mut keys: Vec<Value> = Vec::new();
        let mut seen_keys = BTreeSet::new();
        for (name, fields, table, is_synthetic) in &shown {
            let rows = table.map(|t| t.rows.len()).unwrap_or(0);
            let recs: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let linked = in_tables(f);
                    let distinct: BTreeSet<String> = table
                        .and_then(|t| t.fields.iter().position(|x| x == f).map(|i| (t, i)))
                        .map(|(t, i)| {
                            t.rows
                                .iter()
                                .filter_map(|r| r.get(i))
                                .map(Value::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    let key_type = if linked.len() < 2 {
                        "NOT_KEY"
                    } else if rows > 0 && distinct.len() == rows {
                        "PRIMARY_KEY"
                    } else {
                        "ANY_KEY"
                    };
                    if linked.len() > 1 && seen_keys.insert(f.clone()) {
                        keys.push(json!({"qKeyFields": [f], "qTables": linked}));
                    }
                    json!({"qName": f, "qOriginalFields": [], "qPresent": true, "qHasNull": false,
                        "qHasWild": false, "qHasDuplicates": distinct.len() < rows,
                        "qIsSynthetic": f.starts_with("$Syn"), "qInformationDensity": 1,
                        "qnNonNulls": rows, "qnRows": rows, "qSubsetRatio": 1,
                        "qnTotalDistinctValues": distinct.len(),
                        "qnPresentDistinctValues": distinct.len(), "qKeyType": key_type,
                        "qComment": "", "qTags": self.field_tags(f), "qDerivedFields": [],
                        "qIsFieldOnTheFly": false, "qReadableName": f})
                })
                .collect();
            records.push(json!({"qName": name, "qLoose": false, "qNoOfRows": rows,
                "qFields": recs, "qPos": {"qx": 0, "qy": 0}, "qComment": "",
                "qIsDirectDiscovery": false, "qIsSynthetic": is_synthetic, "qTableTags": []}));
        }
        json!({ "qtr": records, "qk": keys })
    }

    /// A master item's definition by library id.
    fn library(&self, id: &str, pointer: &str) -> Option<Value> {
        self.entities
            .get(id)
            .and_then(|e| e.props.pointer(pointer).cloned())
    }

    fn cube(&self, def: &Value) -> Result<Cube, (i32, String)> {
        let mut dims = Vec::new();
        for d in def["qDimensions"].as_array().cloned().unwrap_or_default() {
            let field = match d["qLibraryId"].as_str().filter(|s| !s.is_empty()) {
                Some(lib) => self
                    .library(lib, "/qDim/qFieldDefs/0")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .ok_or((NOT_FOUND, format!("no master dimension {lib}")))?,
                None => d
                    .pointer("/qDef/qFieldDefs/0")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            dims.push(field.trim_start_matches('=').trim().to_string());
        }
        let mut measures = Vec::new();
        for m in def["qMeasures"].as_array().cloned().unwrap_or_default() {
            let expr = match m["qLibraryId"].as_str().filter(|s| !s.is_empty()) {
                Some(lib) => self
                    .library(lib, "/qMeasure/qDef")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .ok_or((NOT_FOUND, format!("no master measure {lib}")))?,
                None => m
                    .pointer("/qDef/qDef")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            measures.push(expr);
        }
        let mut needed: Vec<String> = dims.clone();
        for m in &measures {
            if let Some(a) = Aggregation::parse(m) {
                if a.field != "*" {
                    needed.push(a.field);
                }
            }
        }
        let table = if needed.is_empty() {
            None
        } else {
            Some(
                self.visible_tables()
                    .iter()
                    .find(|t| needed.iter().all(|f| t.fields.contains(f)))
                    .ok_or((
                        NOT_FOUND,
                        format!("no table of the fake app has all of {needed:?}"),
                    ))?,
            )
        };
        // Groups of rows by their dimension values, in the order of first appearance,
        // then sorted by those values (numbers before text, as the engine sorts).
        let mut groups: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
        if let Some(t) = table {
            let idx: Vec<usize> = dims
                .iter()
                .filter_map(|d| t.fields.iter().position(|f| f == d))
                .collect();
            for (r, row) in t.rows.iter().enumerate() {
                let key: Vec<Value> = idx.iter().map(|i| row[*i].clone()).collect();
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, rows)) => rows.push(r),
                    None => groups.push((key, vec![r])),
                }
            }
        }
        if dims.is_empty() {
            let all = table
                .map(|t| (0..t.rows.len()).collect())
                .unwrap_or_default();
            groups = vec![(Vec::new(), all)];
        }
        groups.sort_by(|a, b| compare_keys(&a.0, &b.0));
        let rows: Vec<Vec<Value>> = groups
            .iter()
            .map(|(key, rows)| {
                let mut cells: Vec<Value> = key
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let elem = self
                            .values_of(&dims[i])
                            .iter()
                            .position(|x| x == v)
                            .unwrap_or(0);
                        dim_cell(v, elem)
                    })
                    .collect();
                for m in &measures {
                    let cell = match table {
                        Some(t) => aggregate(m, t, rows),
                        None => literal(m),
                    };
                    cells.push(match cell {
                        Some(Cell::Num(n)) => json!({"qText": num_text(n), "qNum": n, "qElemNumber": 0, "qState": "L"}),
                        Some(Cell::Text(s)) => json!({"qText": s, "qNum": "NaN", "qElemNumber": 0, "qState": "L"}),
                        None => json!({"qText": "-", "qNum": "NaN", "qElemNumber": -2, "qState": "L", "qIsNull": true}),
                    });
                }
                cells
            })
            .collect();
        let dim_infos: Vec<Value> = dims
            .iter()
            .map(|d| json!({"qFallbackTitle": d, "qCardinal": self.cardinal(d)}))
            .collect();
        let measure_infos: Vec<Value> = measures
            .iter()
            .map(|m| json!({"qFallbackTitle": m}))
            .collect();
        Ok(Cube {
            rows,
            dim_infos,
            measure_infos,
        })
    }

    fn evaluate(&self, expr: &str, _state: Option<&str>) -> Option<Cell> {
        match Aggregation::parse(expr) {
            Some(a) => {
                let needed = if a.field == "*" {
                    None
                } else {
                    Some(a.field.clone())
                };
                let table = self.visible_tables().iter().find(|t| match &needed {
                    Some(f) => t.fields.contains(f),
                    None => true,
                })?;
                aggregate(expr, table, &(0..table.rows.len()).collect::<Vec<_>>())
            }
            None => literal(expr),
        }
    }
}

/// A list item's `qData`: each key's JSON pointer read from the properties.
fn data_of(props: &Value, def: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(paths)) = def {
        for (k, p) in paths {
            let v = p
                .as_str()
                .and_then(|p| props.pointer(p))
                .cloned()
                .unwrap_or(Value::Null);
            out.insert(k.clone(), v);
        }
    }
    Value::Object(out)
}

fn compare_keys(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => x.as_str().unwrap_or("").cmp(y.as_str().unwrap_or("")),
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn dim_cell(v: &Value, elem: usize) -> Value {
    match v {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            json!({"qText": num_text(f), "qNum": f, "qElemNumber": elem, "qState": "O"})
        }
        other => {
            json!({"qText": other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string()),
            "qNum": "NaN", "qElemNumber": elem, "qState": "O"})
        }
    }
}

/// A number as the engine's default format writes it (integers without decimals).
fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Num(f64),
    Text(String),
}

struct Aggregation {
    func: String,
    distinct: bool,
    field: String,
}

impl Aggregation {
    /// `Sum(Sales)`, `Count(DISTINCT [Customer Name])`, `Count(*)`.
    fn parse(expr: &str) -> Option<Aggregation> {
        let e = expr.trim().trim_start_matches('=').trim();
        let open = e.find('(')?;
        if !e.ends_with(')') {
            return None;
        }
        let func = e[..open].trim().to_ascii_lowercase();
        if !["sum", "count", "avg", "min", "max", "only"].contains(&func.as_str()) {
            return None;
        }
        let mut inner = e[open + 1..e.len() - 1].trim();
        let mut distinct = false;
        if inner.len() > 9 && inner[..9].eq_ignore_ascii_case("distinct ") {
            distinct = true;
            inner = inner[9..].trim();
        }
        let field = inner
            .strip_prefix('[')
            .and_then(|f| f.strip_suffix(']'))
            .unwrap_or(inner)
            .to_string();
        if field.is_empty() || field.contains(['(', ')', '+', '*', '/']) && field != "*" {
            return None;
        }
        Some(Aggregation {
            func,
            distinct,
            field,
        })
    }
}

fn literal(expr: &str) -> Option<Cell> {
    let e = expr.trim().trim_start_matches('=').trim();
    if let Ok(n) = e.parse::<f64>() {
        return Some(Cell::Num(n));
    }
    // `1+1`: sums of numbers.
    let parts: Option<Vec<f64>> = e.split('+').map(|p| p.trim().parse::<f64>().ok()).collect();
    match parts {
        Some(ps) if ps.len() > 1 => Some(Cell::Num(ps.iter().sum())),
        _ => e
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .map(|s| Cell::Text(s.to_string())),
    }
}

fn aggregate(expr: &str, table: &FakeTable, rows: &[usize]) -> Option<Cell> {
    let a = Aggregation::parse(expr)?;
    if a.field == "*" {
        return Some(Cell::Num(rows.len() as f64));
    }
    let i = table.fields.iter().position(|f| *f == a.field)?;
    let mut values: Vec<&Value> = rows.iter().filter_map(|r| table.rows[*r].get(i)).collect();
    if a.distinct {
        let mut seen = HashSet::new();
        values.retain(|v| seen.insert(v.to_string()));
    }
    let nums: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
    match a.func.as_str() {
        "count" => Some(Cell::Num(values.len() as f64)),
        "sum" => Some(Cell::Num(nums.iter().sum())),
        "avg" if !nums.is_empty() => Some(Cell::Num(nums.iter().sum::<f64>() / nums.len() as f64)),
        "min" => nums.iter().copied().reduce(f64::min).map(Cell::Num),
        "max" => nums.iter().copied().reduce(f64::max).map(Cell::Num),
        "only" => {
            let distinct: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
            match (distinct.len(), values.first()) {
                (1, Some(Value::Number(n))) => n.as_f64().map(Cell::Num),
                (1, Some(Value::String(s))) => Some(Cell::Text(s.clone())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A computed hypercube: all its rows.
struct Cube {
    rows: Vec<Vec<Value>>,
    dim_infos: Vec<Value>,
    measure_infos: Vec<Value>,
}

impl Cube {
    fn width(&self) -> usize {
        self.dim_infos.len() + self.measure_infos.len()
    }

    fn page(&self, page: &Value) -> Value {
        let get = |k: &str| page.get(k).and_then(Value::as_i64).unwrap_or(0).max(0) as usize;
        let (left, top) = (get("qLeft"), get("qTop"));
        let (width, height) = (get("qWidth"), get("qHeight"));
        let matrix: Vec<Vec<Value>> = self
            .rows
            .iter()
            .skip(top)
            .take(height)
            .map(|r| r.iter().skip(left).take(width).cloned().collect())
            .collect();
        let area = json!({"qLeft": left, "qTop": top,
            "qWidth": width.min(self.width().saturating_sub(left)), "qHeight": matrix.len()});
        json!({"qMatrix": matrix, "qTails": [], "qArea": area})
    }

    fn layout(&self, def: &Value) -> Value {
        let pages: Vec<Value> = def["qInitialDataFetch"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| self.page(p))
            .collect();
        json!({
            "qSize": {"qcx": self.width(), "qcy": self.rows.len()},
            "qDimensionInfo": self.dim_infos,
            "qMeasureInfo": self.measure_infos,
            "qDataPages": pages,
            "qMode": "S",
            "qGrandTotalRow": []
        })
    }
}
