//! Observability: a `tracing` span per call (and per connect and reconnection), and
//! metrics through the `metrics` facade.
//!
//! Metrics (names are stable; labels in brackets):
//! - `qix_calls_total` [method, outcome]: calls ended, by outcome (`ok`, or an
//!   [`Error::kind`](crate::Error::kind) such as `engine`, `timeout`, `closed`);
//! - `qix_call_errors_total` [method, code]: engine errors by error code;
//! - `qix_call_duration_seconds` [method]: latency histogram, send to answer;
//! - `qix_bytes_sent_total`, `qix_bytes_received_total`: frame bytes;
//! - `qix_calls_in_flight`: gauge of calls sent and not answered;
//! - `qix_notifications_lagged_total`: notifications a slow subscriber missed;
//! - `qix_reconnections_total` [outcome]: `attached`, `created` or `failed`.
//!
//! Handles are registered when a session starts and once per method per session, then
//! reused: install the recorder (`metrics::set_global_recorder`, or an exporter's
//! `install`) before connecting. Without a recorder every handle is a no-op, and a call
//! costs a hash lookup and two clock reads (`cargo xtask bench` measures it against a
//! session with a recorder).

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram};

use crate::error::Error;

/// A session's handles, registered when it starts: used without a lock.
pub(crate) struct SessionMetrics {
    pub(crate) sent_bytes: Counter,
    pub(crate) received_bytes: Counter,
    pub(crate) in_flight: Gauge,
}

/// The per-method handles, registered on a method's first call (kept under the session's
/// call-table lock, which every call takes anyway).
#[derive(Default)]
pub(crate) struct MethodTable(HashMap<Cow<'static, str>, Arc<MethodMetrics>>);

pub(crate) struct MethodMetrics {
    pub(crate) ok: Counter,
    pub(crate) duration: Histogram,
}

impl SessionMetrics {
    pub(crate) fn new() -> Self {
        metrics::counter!("qix_sessions_started_total").increment(1);
        SessionMetrics {
            sent_bytes: metrics::counter!("qix_bytes_sent_total"),
            received_bytes: metrics::counter!("qix_bytes_received_total"),
            in_flight: metrics::gauge!("qix_calls_in_flight"),
        }
    }
}

impl MethodTable {
    // A `&Cow`, not a `&str`: cloned into the key, a generated method's `&'static str`
    // stays unallocated.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn method(&mut self, method: &Cow<'static, str>) -> Arc<MethodMetrics> {
        if let Some(m) = self.0.get(method) {
            return m.clone();
        }
        let name = method.to_string();
        let m = Arc::new(MethodMetrics {
            ok: metrics::counter!("qix_calls_total", "method" => name.clone(), "outcome" => "ok"),
            duration: metrics::histogram!("qix_call_duration_seconds", "method" => name),
        });
        self.0.insert(method.clone(), m.clone());
        m
    }
}

/// An ended call that failed: counted on the error path only, where a registration is
/// cheap next to the failure.
pub(crate) fn count_failure(method: &str, e: &Error) {
    metrics::counter!("qix_calls_total", "method" => method.to_string(), "outcome" => e.kind())
        .increment(1);
    if let Error::Engine(engine) = e {
        metrics::counter!(
            "qix_call_errors_total",
            "method" => method.to_string(),
            "code" => engine.code.to_string()
        )
        .increment(1);
    }
}

pub(crate) fn count_lagged(n: u64) {
    metrics::counter!("qix_notifications_lagged_total").increment(n);
}

pub(crate) fn count_reconnection(outcome: &'static str) {
    metrics::counter!("qix_reconnections_total", "outcome" => outcome).increment(1);
}

/// The span of one call: `qix.call` at DEBUG, with method, class, handle, request id and
/// request bytes from the start, and response bytes, duration and outcome at the end.
pub(crate) fn call_span(
    method: &str,
    class: &str,
    handle: i32,
    id: i64,
    bytes: usize,
) -> tracing::Span {
    tracing::debug_span!(
        target: "qix",
        "qix.call",
        method,
        class,
        handle,
        id,
        request_bytes = bytes,
        response_bytes = tracing::field::Empty,
        micros = tracing::field::Empty,
        outcome = tracing::field::Empty,
        code = tracing::field::Empty,
        retries = tracing::field::Empty,
    )
}

/// Records the end of a call on its span (a no-op for a disabled span).
pub(crate) fn end_span(
    span: &tracing::Span,
    started: Option<Instant>,
    response_bytes: Option<usize>,
    outcome: Result<(), &Error>,
    retries: u32,
) {
    if span.is_disabled() {
        return;
    }
    if let Some(b) = response_bytes {
        span.record("response_bytes", b);
    }
    if let Some(t0) = started {
        span.record("micros", t0.elapsed().as_micros() as u64);
    }
    if retries > 0 {
        span.record("retries", retries);
    }
    match outcome {
        Ok(()) => {
            span.record("outcome", "ok");
            span.in_scope(|| tracing::debug!(target: "qix", "call done"));
        }
        Err(e) => {
            span.record("outcome", e.kind());
            if let Some(code) = e.engine_code() {
                span.record("code", code);
            }
            span.in_scope(|| tracing::debug!(target: "qix", error = %e, "call failed"));
        }
    }
}
