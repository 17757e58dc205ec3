//! Helpers shared by the integration tests.
#![allow(dead_code)]

mod data;
#[cfg(feature = "rustls")]
pub mod tls;

#[allow(unused_imports)] // Each test uses some.
pub use data::{corpus_dir, corpus_files, shared};

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qix_runtime::__private::Params;
use qix_runtime::testing::MockEngine;
use qix_runtime::{CallFuture, Object, Session};
use serde_json::Value;

/// Every test is bounded by this: a bug fails the test instead of hanging CI.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A session to the mock that waited for `OnConnected`.
pub async fn connect(mock: &MockEngine) -> Session {
    mock.connect().await.expect("connect to the mock engine")
}

/// Drops the mock's connections (it attaches the next one) and waits until `session`,
/// which reconnects, is `Resumed`.
pub async fn reconnect(mock: &MockEngine, session: &Session) {
    let mut notes = session.notifications();
    mock.on_connected(Some("SESSION_ATTACHED"));
    mock.drop_connections();
    while let Some(n) = notes.next_item().await {
        if let Ok(qix_runtime::Notification::Resumed(_)) = n {
            return;
        }
    }
    panic!("the session ended without resuming");
}

/// The method as generated code describes it: reads (`Get…`, `Evaluate…`: what
/// `schemas/companion.json` marks safe to repeat) are marked so.
pub fn method(name: &'static str) -> qix_runtime::MethodInfo {
    let m = qix_runtime::MethodInfo::new(name);
    if name.starts_with("Get") || name.starts_with("Evaluate") {
        m.read()
    } else {
        m
    }
}

/// Waits for the next `Resumed` notification.
pub async fn wait_resumed(
    notes: &mut qix_runtime::BroadcastStream<qix_runtime::Notification>,
) -> qix_runtime::ResumeReport {
    while let Some(n) = notes.next_item().await {
        if let Ok(qix_runtime::Notification::Resumed(r)) = n {
            return r;
        }
    }
    panic!("the session ended without resuming");
}

/// A call as generated code makes it: sent now, result decoded as JSON.
pub fn call(
    obj: &Object,
    method: &'static str,
    params: Value,
    timeout: Option<Duration>,
) -> CallFuture<Value> {
    let mut p = Params::new();
    if let Value::Object(m) = params {
        for (k, v) in &m {
            p.arg(k, v);
        }
    }
    let options = qix_runtime::CallOptions {
        timeout,
        ..Default::default()
    };
    obj.call(self::method(method), p, options, |_, raw| {
        qix_runtime::__private::decode::all::<Value>(raw, "test call")
    })
}

/// The first error in `err`'s `source()` chain (`err` itself included) that is a `T`.
pub fn cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        next = e.source();
    }
    None
}

/// A file in the temp dir (`qix-test-<pid>-<name>.pem`), removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("qix-test-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A `Write` into memory that the test can read back.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn params_of(params: Value) -> Params {
    let mut p = Params::new();
    if let Value::Object(m) = params {
        for (k, v) in &m {
            p.arg(k, v);
        }
    }
    p
}

/// A call of a method with one out-param `out`, as generated code makes it for delta
/// methods: the value of `out` is the result.
pub fn call_out(
    obj: &Object,
    method: &'static str,
    out: &'static str,
    params: Value,
) -> CallFuture<Value> {
    obj.call(
        self::method(method).delta(out),
        params_of(params),
        Default::default(),
        |ctx, raw| {
            if let Some(patched) = ctx.patched() {
                return Ok(patched.cloned().unwrap_or(Value::Null));
            }
            let v: Value = qix_runtime::__private::decode::all(raw, "test call")?;
            Ok(v.as_object()
                .and_then(|m| m.values().next().cloned())
                .unwrap_or(Value::Null))
        },
    )
}

/// A call that opens an object (`qReturn`), as generated code makes it.
pub fn call_open(obj: &Object, method: &'static str, params: Value) -> CallFuture<Object> {
    obj.call(
        self::method(method).opens(),
        params_of(params),
        Default::default(),
        |ctx, raw| qix_runtime::__private::decode::object(ctx, raw, "qReturn", "test open"),
    )
}

/// `{"qReturn": {"qType": …, "qHandle": …, "qGenericId": …}}`.
pub fn opened(qtype: &str, handle: i32, id: &str) -> Value {
    serde_json::json!({"qReturn": {"qType": qtype, "qHandle": handle, "qGenericId": id}})
}
