//! [`Params`]: the named params of a request, written straight to JSON.

use serde::Serialize;

/// The params object of a request, built by name. Only params that are set are written:
/// an unset optional param is left to the engine's default, never sent as a zero value.
#[derive(Clone)]
pub struct Params {
    buf: Vec<u8>,
    error: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self::new()
    }
}

impl Params {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.push(b'{');
        Params { buf, error: None }
    }

    /// Adds a param. Encoding errors are kept and reported when the call is made.
    pub fn arg<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Names are identifiers from the spec; they still go through the JSON writer.
        if let Err(e) = serde_json::to_writer(&mut self.buf, name).and_then(|()| {
            self.buf.push(b':');
            serde_json::to_writer(&mut self.buf, value)
        }) {
            self.error = Some(format!("param {name}: {e}"));
        }
        self
    }

    /// Adds params from a JSON value: an object is sent by name, an array by position.
    /// Used by raw calls.
    pub fn from_value(value: &serde_json::Value) -> Result<String, String> {
        match value {
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                serde_json::to_string(value).map_err(|e| e.to_string())
            }
            serde_json::Value::Null => Ok("{}".to_string()),
            // The value itself is not quoted: it may be a password passed the wrong way.
            other => Err(format!(
                "params must be an object or an array, not {}",
                match other {
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(_) => "a number",
                    _ => "a string",
                }
            )),
        }
    }

    /// The finished JSON object.
    pub fn finish(mut self) -> Result<String, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.buf.push(b'}');
        // Only serde_json wrote into the buffer, so it is UTF-8.
        String::from_utf8(self.buf).map_err(|e| e.to_string())
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The JSON so far, closed so it parses, with its secrets redacted.
        let mut text = String::from_utf8_lossy(&self.buf).into_owned();
        text.push('}');
        f.debug_struct("Params")
            .field("json", &crate::redact::frame(&text))
            .field("error", &self.error)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn writes_named_params_in_order() {
        let mut p = Params::new();
        p.arg("qId", "a\"b").arg("qPages", &[1, 2]);
        assert_eq!(p.finish().unwrap(), r#"{"qId":"a\"b","qPages":[1,2]}"#);
        assert_eq!(Params::new().finish().unwrap(), "{}");
    }
}
