//! What the connection task hands a waiting call: its answer (the frame, or the patched
//! value of a delta answer), or the word to send it again.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::handle::ObjectInner;
use crate::transport::Text;

/// A result the connection task hands a caller: the frame (or the patched value) and where
/// the `result` is in it, and the object the answer opened.
pub(crate) struct Answer {
    pub(crate) text: Text,
    pub(crate) range: Range<usize>,
    pub(crate) opened: Option<Arc<ObjectInner>>,
    /// A delta answer, applied: the out-param's value (the text range is then empty).
    pub(crate) patched: Option<Patched>,
}

/// The value of a delta method's out-param after its patches (`None`: removed).
pub(crate) struct Patched {
    pub(crate) value: Option<Arc<serde_json::Value>>,
    pub(crate) out: &'static str,
}

impl Answer {
    /// The `result` JSON as received (empty for a delta answer: see `patched`).
    pub(crate) fn result_str(&self) -> &str {
        &self.text.as_str()[self.range.clone()]
    }

    /// The `result` JSON as text (built from the value for a delta answer: only for
    /// interceptors, which see text).
    pub(crate) fn result_text(&self) -> Cow<'_, str> {
        match &self.patched {
            None => Cow::Borrowed(&self.text.as_str()[self.range.clone()]),
            Some(p) => Cow::Owned(
                serde_json::json!({ p.out: p.value.as_deref().unwrap_or(&serde_json::Value::Null) })
                    .to_string(),
            ),
        }
    }
}

pub(crate) enum Reply {
    Done(Result<Answer>),
    /// The call was not written before its connection was lost: send it again.
    Requeue,
    /// The engine aborted a call the user asked it to abort: final, never retried.
    Aborted(Error),
}
