//! Reading the JSON-RPC envelope of an incoming frame without decoding its result: the
//! result is located (a byte range) and decoded later, by the caller, into its own type.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What an incoming frame is.
pub(crate) enum Incoming<'a> {
    Response {
        id: i64,
        outcome: Outcome<'a>,
        change: Vec<i32>,
        close: Vec<i32>,
    },
    Notification {
        method: &'a str,
        params: Option<&'a RawValue>,
        change: Vec<i32>,
        close: Vec<i32>,
    },
}

pub(crate) enum Outcome<'a> {
    Result(&'a RawValue),
    Error(WireError),
}

#[derive(Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub parameter: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<serde_json::Number>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    change: Option<Vec<i32>>,
    #[serde(default)]
    close: Option<Vec<i32>>,
}

/// Parses a frame; the error says what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Incoming<'_>, String> {
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| format!("malformed frame ({e}): {}", preview(text)))?;
    let change = env.change.unwrap_or_default();
    let close = env.close.unwrap_or_default();
    match (env.id, env.method) {
        (Some(id), _) => {
            let id = id
                .as_i64()
                .ok_or_else(|| format!("response id {id} is not an integer: {}", preview(text)))?;
            let outcome = match (env.result, env.error) {
                (_, Some(e)) => Outcome::Error(e),
                (Some(r), None) => Outcome::Result(r),
                (None, None) => {
                    return Err(format!(
                        "response {id} has neither result nor error: {}",
                        preview(text)
                    ));
                }
            };
            Ok(Incoming::Response {
                id,
                outcome,
                change,
                close,
            })
        }
        (None, Some(method)) => Ok(Incoming::Notification {
            method,
            params: env.params,
            change,
            close,
        }),
        (None, None) => Err(format!(
            "frame is neither a response nor a notification: {}",
            preview(text)
        )),
    }
}

/// The start of a frame, for messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &text[..cut], text.len())
}
