//! Interceptors: hooks around every call (enigma.js's request and response interceptors).
//!
//! Installed with [`SessionBuilder::interceptor`](crate::SessionBuilder::interceptor), they
//! run in the order installed for requests and in reverse order for responses (the first
//! installed is the outermost). They run in the caller's task, synchronously: keep them
//! quick. A session without interceptors pays an empty-slice check per call.

use crate::error::{Error, Result};

/// The call an interceptor sees. Its `Debug` redacts the secrets of the params (see
/// [`redact`](crate::redact)); the fields themselves are as sent.
#[derive(Clone, Copy)]
pub struct CallInfo<'a> {
    /// The wire name (`GetLayout`).
    pub method: &'a str,
    /// The engine class of the handle (`GenericObject`).
    pub class: &'a str,
    /// The handle number the call goes to.
    pub handle: i32,
    /// The params as sent (JSON text; empty in [`Interceptor::request`], which gets them
    /// to edit).
    pub params: &'a str,
    /// 0 for the first send, then 1, 2, … for retries.
    pub attempt: u32,
}

/// What a call ended with, as an interceptor sees it. Its `Debug` redacts the secrets of
/// the result (a connection's password, say).
#[derive(Clone, Copy)]
pub enum Outcome<'a> {
    /// The `result` JSON.
    Result(&'a str),
    Error(&'a Error),
}

impl std::fmt::Debug for CallInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Redacted as the request frame it becomes: by name, and by position for params
        // sent as an array.
        let params = match serde_json::from_str::<serde_json::Value>(self.params) {
            Ok(p) => {
                let mut frame = serde_json::json!({ "method": self.method, "params": p });
                crate::redact::value(&mut frame);
                frame["params"].to_string()
            }
            Err(_) => crate::redact::text(self.params).into_owned(),
        };
        f.debug_struct("CallInfo")
            .field("method", &self.method)
            .field("class", &self.class)
            .field("handle", &self.handle)
            .field("params", &params)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl std::fmt::Debug for Outcome<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Result(r) => f
                .debug_tuple("Result")
                .field(&crate::redact::text(r))
                .finish(),
            Outcome::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

/// What an interceptor decides about an outcome.
#[derive(Debug)]
pub enum Decision {
    /// Leave it as it is.
    Continue,
    /// Use this instead: a `result` JSON (decoded as the engine's would be) or an error.
    Replace(Result<String>),
    /// Send the call again (at most 16 times per call).
    Retry,
}

/// A hook around every call of a session.
pub trait Interceptor: Send + Sync + 'static {
    /// Before the call is first sent: may rewrite `params` (a JSON object or array) or fail
    /// the call with an error.
    fn request(&self, call: &CallInfo<'_>, params: &mut String) -> Result<()> {
        let _ = (call, params);
        Ok(())
    }

    /// When the answer (or error) arrived, before it is decoded. A [`Decision::Retry`]
    /// sends the call again whatever the method is: the interceptor decides that it is
    /// safe.
    fn response(&self, call: &CallInfo<'_>, outcome: Outcome<'_>) -> Decision {
        let _ = (call, outcome);
        Decision::Continue
    }
}
