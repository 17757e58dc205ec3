//! Interceptors: hooks around every call (enigma.js's request and response interceptors).
//!
//! Installed with [`SessionBuilder::interceptor`](crate::SessionBuilder::interceptor), they
//! run in the order installed for requests and in reverse order for responses (the first
//! installed is the outermost). They run in the caller's task, synchronously: keep them
//! quick. A session without interceptors pays an empty-slice check per call.

use crate::error::{Error, Result};

/// The call an interceptor sees.
#[derive(Debug, Clone, Copy)]
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

/// What a call ended with, as an interceptor sees it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The `result` JSON.
    Result(&'a str),
    Error(&'a Error),
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

    /// When the answer (or error) arrived, before it is decoded.
    fn response(&self, call: &CallInfo<'_>, outcome: Outcome<'_>) -> Decision {
        let _ = (call, outcome);
        Decision::Continue
    }
}
