//! Secrets never show: every path that prints or records is driven with known secrets
//! (an app password, a data connection's password and connection-string credentials, a
//! bearer token, a cookie, an `X-Qlik-User`), and the test fails if any of them appears in
//! what it printed or recorded:
//!
//! - `Debug` (`{:?}` and `{:#?}`) of the `OpenDoc`, `CreateDocEx`, `CreateConnection` and
//!   `ModifyConnection` requests, of `types::Connection`, of a struct whose `extra` holds a
//!   `qPassword`, of the session builder, of `Params`;
//! - the file `JsonLinesLog` wrote and the frames a custom `TrafficHook` saw;
//! - everything `tracing` emitted at TRACE level (a fmt subscriber writing to a buffer),
//!   and everything the dependencies logged through the `log` facade (bridged into it, as
//!   `tracing_subscriber::fmt().init()` does): the WebSocket library's records of the
//!   upgrade request and of each frame included;
//! - delta patches whose path names a secret (`/qConnectionString`), the `Debug` of what
//!   interceptors see (`CallInfo`, `Outcome`), and the credentials of `CONNECT`
//!   statements in a load script (`XUserId is …, XPassword is …`);
//! - `Display` and `Debug` of the errors of calls whose params carried a secret (engine
//!   errors, one echoing the connection string), of a result that held secrets and failed to decode (`DecodeError.raw`), of a
//!   malformed frame holding a secret (protocol error), including the error the session
//!   closed with.
//!
//! Each record is also checked to hold what it should (the frames, `<redacted>`), so the
//! test cannot pass by recording nothing.
#![cfg(feature = "testing")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qix_generated::types::{Connection, GenericObjectProperties};
use qix_generated::{SessionExt, catalog};
use qix_runtime::testing::{MockEngine, within};
use qix_runtime::{Direction, Error, JsonLinesLog, Session};
use serde_json::json;

const APP_PASSWORD: &str = "app-pw-7Hq2Zx";
const CONN_PASSWORD: &str = "conn-pw-9Lk4Vb";
const CONN_USER: &str = "svc-reader-3Jf8";
const CONN_STRING_PASSWORD: &str = "cs-pw-5Tr1Nm";
const TOKEN: &str = "eyJ-token-8Wm3Qa";
const COOKIE: &str = "X-Qlik-Session=cookie-2Pd6Ks";
const QLIK_USER: &str = "qlik-user-4Gh7Yc";

const ALL: &[&str] = &[
    APP_PASSWORD,
    CONN_PASSWORD,
    CONN_USER,
    CONN_STRING_PASSWORD,
    TOKEN,
    "cookie-2Pd6Ks",
    QLIK_USER,
];

const LIMIT: Duration = Duration::from_secs(30);

fn connection_string() -> String {
    format!(
        "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=db.example;XUserId={CONN_USER};XPassword={CONN_STRING_PASSWORD};\""
    )
}

fn connection() -> Connection {
    Connection {
        id: Some("conn-1".into()),
        name: Some("sales db".into()),
        connection_string: Some(connection_string()),
        r#type: Some("QvOdbcConnectorPackage.exe".into()),
        password: Some(CONN_PASSWORD.into()),
        ..Default::default()
    }
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

/// A `Write` into a shared buffer, for the tracing subscriber and `JsonLinesLog`.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn debug_of_requests_and_types_redacts_secrets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (t, _peer) = qix_runtime::transport::channel();
        let session = Session::from_transport(t, Default::default());
        let global = session.global();
        let doc = qix_generated::Doc::from_object(global.object().clone());
        let conn = connection();
        let printed = [
            format!("{:?}", global.open_doc("app.qvf").password(APP_PASSWORD)),
            format!("{:#?}", global.open_doc("app.qvf").password(APP_PASSWORD)),
            format!(
                "{:?}",
                global.create_doc_ex("new.qvf").password(APP_PASSWORD)
            ),
            format!("{:?}", conn),
            format!("{:#?}", conn),
            format!("{:?}", doc.create_connection(conn.clone())),
            format!("{:?}", doc.modify_connection("conn-1", conn.clone())),
        ];
        for p in &printed {
            assert_clean("Debug", p);
            assert!(p.contains("<redacted>"), "{p}");
        }
        // Everything else stays readable: the connection string keeps its provider.
        assert!(printed[3].contains("host=db.example") && printed[3].contains("sales db"));
        assert!(printed[0].contains("app.qvf"));
        // An unset password is not a secret.
        let unset = format!("{:?}", global.open_doc("app.qvf"));
        assert!(unset.contains("password: None"), "{unset}");

        // A secret in `extra` (a custom property, a type of a newer engine).
        let mut props = GenericObjectProperties::default();
        props.extra.insert("qPassword", json!(APP_PASSWORD));
        props.extra.insert(
            "custom",
            json!({"qConnectionString": connection_string(), "keep": 1}),
        );
        let p = format!("{props:?}");
        assert_clean("Debug of extra", &p);
        assert!(p.contains("<redacted>") && p.contains("keep"), "{p}");

        // Params on their way to the wire.
        let mut params = qix_runtime::__private::Params::new();
        params.arg("qDocName", "a").arg("qPassword", APP_PASSWORD);
        assert_clean("Debug of Params", &format!("{params:?}"));

        // JsonLinesLog redacts frames given to it directly, not only a session's.
        let log = Buffer::default();
        let direct = JsonLinesLog::new(Box::new(log.clone()));
        qix_runtime::TrafficHook::frame(
            &direct,
            Direction::Sent,
            &format!(r#"{{"id":1,"method":"OpenDoc","params":["a","u","{APP_PASSWORD}"]}}"#),
        );
        assert_clean("JsonLinesLog fed directly", &log.text());
        assert!(log.text().contains("<redacted>"));

        // The builder never prints header values.
        let b = Session::builder("ws://localhost:1/app/")
            .bearer(TOKEN)
            .cookie(COOKIE)
            .qlik_user("CORP", QLIK_USER);
        assert_clean("Debug of SessionBuilder", &format!("{b:?}"));
        let b = Session::builder(format!("wss://{CONN_USER}:{TOKEN}@engine.example/app/"));
        assert_clean("Debug of SessionBuilder", &format!("{b:?}"));

        // A raw call with a secret where params belong: the error does not quote it.
        let e = session
            .call_raw(-1, "OpenDoc", json!(APP_PASSWORD))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Encode(_)), "{e:?}");
        assert_clean("an encode error", &format!("{e} {e:?}"));
    });
}

#[test]
fn traffic_tracing_and_errors_never_show_secrets() {
    let trace = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let trace = trace.clone();
            move || trace.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Records of the `log` facade (what dependencies such as a WebSocket library use)
    // reach the subscriber too.
    let _ = tracing_log::LogTracer::init();
    // One thread: the session's connection task and the mock run where the subscriber is.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = Buffer::default();
    let seen: Arc<Mutex<Vec<(Direction, String)>>> = Arc::default();
    let mut errors = Vec::new();
    rt.block_on(within(LIMIT, "the secrets test", async {
        let mock = MockEngine::start().await;
        mock.param_names(catalog::params_of);
        mock.expect("OpenDoc")
            .times(1)
            .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}));
        mock.expect("CreateDocEx")
            .returns_error(1002, "new.qvf", "App already exists");
        // Engines may echo the failing connection string.
        mock.expect("CreateConnection").returns_error(
            -128,
            connection_string(),
            format!("Connection test failed: {}", connection_string()),
        );
        // The engine sends a connection back with its secrets, and a field of the wrong
        // type: the decode error must not carry them.
        mock.expect("GetConnection").returns(json!({"qConnection": {
            "qId": 42,
            "qName": "sales db",
            "qConnectionString": connection_string(),
            "qPassword": CONN_PASSWORD,
        }}));
        mock.expect("OpenDoc")
            .returns_error(403, "", "Access denied");
        let seen_hook = seen.clone();
        let session = mock.session()
            .bearer(TOKEN)
            .cookie(COOKIE)
            .qlik_user("CORP", QLIK_USER)
            .traffic(Arc::new(JsonLinesLog::new(Box::new(log.clone()))))
            .traffic(Arc::new(move |d: Direction, t: &str| {
                seen_hook.lock().unwrap().push((d, t.to_string()))
            }))
            .connect()
            .await
            .unwrap();
        // The headers did go out (so their absence from the records means something).
        let conns = mock.connections();
        assert_eq!(
            conns[0].header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );

        let global = session.global();
        let doc = global
            .open_doc("app.qvf")
            .user_name("someone")
            .password(APP_PASSWORD)
            .await
            .unwrap();
        errors.push(
            global
                .create_doc_ex("new.qvf")
                .password(APP_PASSWORD)
                .await
                .unwrap_err(),
        );
        errors.push(doc.create_connection(connection()).await.unwrap_err());
        let decode = doc.get_connection("conn-1").await.unwrap_err();
        let Error::Decode(d) = &decode else {
            panic!("expected a decode error, got {decode:?}")
        };
        assert!(d.raw.contains("<redacted>") && d.raw.contains("host=db.example"), "{}", d.raw);
        errors.push(decode);
        // A raw call, params by position.
        errors.push(
            session
                .call_raw(-1, "OpenDoc", json!(["app.qvf", "someone", APP_PASSWORD]))
                .await
                .unwrap_err(),
        );
        // A malformed frame that quotes a secret ends the session with a protocol error.
        mock.send_raw(format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"OnX\",\"params\":{{\"qPassword\":\"{APP_PASSWORD}\", \"qConnectionString\":\"pwd={CONN_STRING_PASSWORD};"
        ));
        let closed = tokio::time::timeout(Duration::from_secs(5), session.closed())
            .await
            .expect("the session did not end on a malformed frame");
        assert!(matches!(closed, Error::Protocol(_)), "{closed:?}");
        errors.push(closed);
    }));
    drop(rt);

    for e in &errors {
        assert_clean("an error's Display", &e.to_string());
        assert_clean("an error's Debug", &format!("{e:?}"));
    }

    let log = log.text();
    assert_clean("JsonLinesLog", &log);
    assert!(
        log.contains("OpenDoc") && log.contains("<redacted>"),
        "{log}"
    );
    assert!(log.lines().count() >= 10, "{log}");

    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(d, t)| *d == Direction::Sent && t.contains("CreateConnection"))
    );
    for (_, frame) in seen.iter() {
        assert_clean("a traffic hook's frame", frame);
    }

    let trace = trace.text();
    assert_clean("tracing output", &trace);
    assert!(
        trace.contains("TRACE") || trace.contains("DEBUG"),
        "no tracing output at all:\n{trace}"
    );
}

/// An interceptor that prints what it sees with `{:?}`, as one written to debug would.
#[derive(Default)]
struct Printing(Mutex<String>);

impl qix_runtime::Interceptor for Printing {
    fn request(
        &self,
        call: &qix_runtime::CallInfo<'_>,
        params: &mut String,
    ) -> qix_runtime::Result<()> {
        let view = qix_runtime::CallInfo { params, ..*call };
        self.0.lock().unwrap().push_str(&format!("{view:?}\n"));
        Ok(())
    }

    fn response(
        &self,
        call: &qix_runtime::CallInfo<'_>,
        outcome: qix_runtime::Outcome<'_>,
    ) -> qix_runtime::Decision {
        self.0
            .lock()
            .unwrap()
            .push_str(&format!("{call:?} {outcome:?}\n"));
        qix_runtime::Decision::Continue
    }
}

#[test]
fn delta_paths_interceptors_and_scripts_never_show_secrets() {
    let trace = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let trace = trace.clone();
            move || trace.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let _ = tracing_log::LogTracer::init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = Buffer::default();
    let printed = Arc::new(Printing::default());
    let script = format!(
        "SET x=1;\r\nODBC CONNECT TO [Sales DSN] (XUserId is {CONN_USER}, XPassword is {CONN_STRING_PASSWORD});\r\nLOAD * FROM t;\r\n"
    );
    rt.block_on(within(LIMIT, "delta paths, interceptors and scripts", async {
        let mock = MockEngine::start().await;
        mock.param_names(catalog::params_of);
        mock.expect("OpenDoc").returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}));
        let n = std::sync::atomic::AtomicUsize::new(0);
        mock.expect("GetConnection").respond_with(move |_| {
            let patch = match n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => json!([{"op": "add", "path": "/", "value": {"qId": "conn-1", "qName": "sales db", "qConnectionString": "host=db"}}]),
                // Only the path names the secret.
                _ => json!([
                    {"op": "replace", "path": "/qConnectionString", "value": connection_string()},
                    {"op": "add", "path": "/qPassword", "value": CONN_PASSWORD}
                ]),
            };
            qix_runtime::testing::Reply::result(json!({"qConnection": patch})).with_delta()
        });
        mock.expect("SetScript").returns(json!({}));
        let answer = script.clone();
        mock.expect("GetScript").returns(json!({"qScript": answer}));
        let session = mock
            .session()
            .bearer(TOKEN)
            .traffic(Arc::new(JsonLinesLog::new(Box::new(log.clone()))))
            .interceptor(printed.clone())
            .connect()
            .await
            .unwrap();
        let doc = session.global().open_doc("app.qvf").password(APP_PASSWORD).await.unwrap();
        doc.get_connection("conn-1").await.unwrap();
        let c = doc.get_connection("conn-1").await.unwrap();
        // The secrets did arrive (so their absence from the records means something).
        assert_eq!(c.password.as_deref(), Some(CONN_PASSWORD));
        doc.set_script(script.clone()).await.unwrap();
        assert_eq!(doc.get_script().await.unwrap(), script);
        session.close().await;
    }));
    drop(rt);
    let log = log.text();
    assert_clean("JsonLinesLog", &log);
    assert!(
        log.contains("qConnectionString") && log.contains("Sales DSN"),
        "{log}"
    );
    let printed = printed.0.lock().unwrap().clone();
    assert_clean("what an interceptor printed", &printed);
    assert!(
        printed.contains("SetScript") && printed.contains("Sales DSN"),
        "{printed}"
    );
    let trace = trace.text();
    assert_clean("tracing output", &trace);
}

#[test]
fn the_runtimes_built_in_list_equals_the_generated_one() {
    // The generated list comes from schemas/secrets.json (with positions from the spec);
    // the runtime's copy redacts frames without the generated crate.
    let key = |p: &qix_runtime::redact::SecretParam| (p.method, p.param);
    let mut generated = catalog::SECRETS.params.to_vec();
    let mut builtin = qix_runtime::redact::BUILTIN.params.to_vec();
    generated.sort_by_key(key);
    builtin.sort_by_key(key);
    assert_eq!(generated, builtin);
    let key = |p: &qix_runtime::redact::SecretProperty| (p.type_name, p.property);
    let mut generated = catalog::SECRETS.properties.to_vec();
    let mut builtin = qix_runtime::redact::BUILTIN.properties.to_vec();
    generated.sort_by_key(key);
    builtin.sort_by_key(key);
    assert_eq!(generated, builtin);
    assert!(!generated.is_empty());
}
