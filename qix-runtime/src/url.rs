//! Engine URLs in the forms the engine documents.

use std::fmt;

/// Builds a QIX WebSocket URL.
///
/// ```
/// use qix_runtime::EngineUrl;
/// assert_eq!(EngineUrl::new("wss://tenant.qlikcloud.com").app("abc-123").to_string(),
///            "wss://tenant.qlikcloud.com/app/abc-123");
/// assert_eq!(EngineUrl::local().to_string(), "ws://localhost:9076/app/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineUrl {
    base: String,
    app: Option<String>,
    identity: Option<String>,
    ttl: Option<u32>,
}

impl EngineUrl {
    /// `base` is `ws(s)://host[:port][/prefix]` (a virtual proxy prefix, say).
    pub fn new(base: impl Into<String>) -> Self {
        let mut base = base.into();
        while base.ends_with('/') {
            base.pop();
        }
        EngineUrl {
            base,
            app: None,
            identity: None,
            ttl: None,
        }
    }

    /// The engine's default local address, `ws://localhost:9076/app/` (Qlik Core,
    /// Qlik Sense Desktop): a session with no app open.
    pub fn local() -> Self {
        EngineUrl::new("ws://localhost:9076").app("")
    }

    /// `…/app/<appId>`: opens (attaches to) an app.
    pub fn app(mut self, app_id: impl Into<String>) -> Self {
        self.app = Some(app_id.into());
        self
    }

    /// `…/app/SessionApp_<id>`: a session app, not persisted. `id` should be random
    /// (see [`EngineUrl::random_session_app`]).
    pub fn session_app(self, id: impl fmt::Display) -> Self {
        self.app(format!("SessionApp_{id}"))
    }

    /// A session app with a random id. For a session app built from a template app,
    /// connect to such a URL and call `Global.CreateSessionAppFromApp(<template id>)`.
    pub fn random_session_app(self) -> Self {
        self.session_app(random_id())
    }

    /// `…/identity/<id>`: a separate engine session for the same user and app.
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// `…/ttl/<seconds>`: keep the engine session alive this long after the socket closes.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }
}

impl fmt::Display for EngineUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if let Some(app) = &self.app {
            write!(f, "/app/{}", encode_segment(app))?;
        }
        if let Some(id) = &self.identity {
            write!(f, "/identity/{}", encode_segment(id))?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, "/ttl/{ttl}")?;
        }
        Ok(())
    }
}

/// Percent-encodes what may not stand in a path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A random hex id from the OS's randomness (via the std hasher's random keys and the
/// clock; enough for session-app names, not for secrets).
fn random_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::EngineUrl;

    #[test]
    fn documented_forms() {
        let u = EngineUrl::new("wss://host/")
            .app("a b")
            .identity("x")
            .ttl(30);
        assert_eq!(u.to_string(), "wss://host/app/a%20b/identity/x/ttl/30");
        let s = EngineUrl::new("wss://host")
            .random_session_app()
            .to_string();
        assert!(
            s.starts_with("wss://host/app/SessionApp_") && s.len() > 40,
            "{s}"
        );
    }
}
