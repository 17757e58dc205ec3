//! Testing kit (feature `testing`): a [`MockEngine`] on a real loopback WebSocket, a
//! [`Replay`] of recorded sessions, request matching by meaning, a stateful
//! [`FakeApp`] to serve behind a mock, a [`MockCube`] of any size for extraction tests and
//! benchmarks, and a [`FakeTenant`] (an OAuth token endpoint and a token-checking door in
//! front of a mock) for testing sign-in.
//!
//! Recording is [`JsonLinesLog`](crate::JsonLinesLog): what it writes,
//! [`Recording::parse`] reads.

mod app;
mod cube;
mod matching;
mod mock;
mod replay;
mod tenant;
mod wire;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use app::{FakeApp, FakeTable};
pub use cube::{MockCell, MockColumn, MockCube};
pub use matching::{MockRequest, NormalParams, ParamMatch, ParamNames, diff_params};
pub use mock::{ConnectionInfo, Expectation, Fault, MockEngine, Reply};
pub use replay::{Recording, Replay, ReplayTransport, Row};
pub use tenant::{FakeTenant, TokenAnswer, TokenRequest};
pub use wire::UNMATCHED_ERROR_CODE;

/// What [`MockEngine::verify`] or [`Replay::verify`] found wrong: one problem per entry,
/// each with a diff of what was expected against what was sent. Its `Debug` is its
/// `Display`, so `verify().unwrap()` prints a readable report.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s):{}", problems.len(), listed(problems))]
pub struct VerifyError {
    pub problems: Vec<String>,
}

impl VerifyError {
    pub(crate) fn check(problems: Vec<String>) -> Result<(), VerifyError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError { problems })
        }
    }
}

/// One `\n  - problem` line each.
fn listed(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `fut`, panicking with `what` if it takes longer than `limit`: a test that would
/// hang fails instead.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}
