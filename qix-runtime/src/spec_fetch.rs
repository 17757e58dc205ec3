//! Downloading an engine's API spec: `GET /api/engine/openrpc` (feature `http`).
//!
//! Over reqwest (a maintained HTTP client: chunked bodies, hostile sizes and every other
//! HTTP/1.1 corner are its job), with the session's TLS options (the same rustls setup
//! as the WebSocket: extra roots, client certificates, insecure only by name).

use std::time::Duration;

use crate::builder::TlsOptions;
use crate::error::{Error, Result};

/// The path an engine serves its OpenRPC spec at.
pub const SPEC_PATH: &str = "/api/engine/openrpc";

/// The largest spec accepted (today's are ~1.5 MB).
const MAX_BODY: usize = 64 << 20;

/// Fetches `<base>/api/engine/openrpc`. `base` is `http(s)://host[:port][/prefix]`
/// (`ws(s)://` is read as `http(s)://`); `headers` go with the request (`Authorization`
/// for Qlik Cloud); `tls` applies to `https`. Returns the body of a `200 OK`.
pub async fn fetch_spec(
    base: &str,
    headers: &[(String, String)],
    tls: &TlsOptions,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let target = Target::parse(base)?;
    let url = format!("{}{}", target.display, SPEC_PATH);
    tokio::time::timeout(timeout, fetch_from(&target, &url, headers, tls, timeout))
        .await
        .map_err(|_| Error::Timeout {
            what: format!("GET {url}"),
            after: timeout,
        })?
        .map_err(|e| match e {
            Error::Transport(m) => Error::Transport(m.context(format_args!("GET {url}"))),
            other => other,
        })
}

struct Target {
    secure: bool,
    /// `scheme://host[:port][/prefix]`, without a query (which may carry a ticket).
    display: String,
}

impl Target {
    fn parse(base: &str) -> Result<Target> {
        let bad = |why: &str| Error::Config(format!("spec URL {base:?}: {why}").into());
        let (scheme, rest) = base.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let secure = match scheme {
            "https" | "wss" => true,
            "http" | "ws" => false,
            _ => return Err(bad("use http:// or https://")),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("needs a host (and no user:password@)"));
        }
        if let Some((h, p)) = authority.rsplit_once(':') {
            if !h.ends_with(']') || authority.starts_with('[') {
                p.parse::<u16>().map_err(|_| bad("bad port"))?;
            }
        }
        // A WebSocket app path (`/app/<id>`) is not part of the HTTP prefix.
        let prefix = match path.find("/app/") {
            Some(i) => &path[..i],
            None => path,
        }
        .trim_end_matches('/');
        let display = format!(
            "{}://{authority}{prefix}",
            if secure { "https" } else { "http" }
        );
        Ok(Target { secure, display })
    }
}

async fn fetch_from(
    target: &Target,
    url: &str,
    headers: &[(String, String)],
    tls: &TlsOptions,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let client = crate::http::client(target.secure, tls, timeout)?;
    let mut request = client.get(url).header("Accept", "application/json");
    for (name, value) in headers {
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::Config(format!("bad header name {name:?}: {e}").into()))?;
        let v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("bad value for header {name}").into()))?;
        request = request.header(n, v);
    }
    let mut response = request.send().await.map_err(crate::http::transport_error)?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| format!(" (to {l})"))
            .unwrap_or_default();
        let text = crate::http::read_capped(&mut response, 4096)
            .await
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        return Err(Error::Transport(
            format!("the engine answered HTTP {status}{to}: {}", text.trim()).into(),
        ));
    }
    crate::http::read_capped(&mut response, MAX_BODY).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("wss://tenant.example.com/app/abc?x=1").unwrap();
        assert!(t.secure);
        assert_eq!(t.display, "https://tenant.example.com");
        let t = Target::parse("http://127.0.0.1:9076/proxy/").unwrap();
        assert_eq!(t.display, "http://127.0.0.1:9076/proxy");
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!(t.display, "https://[::1]:8443");
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("https://user:pw@x").is_err());
        assert!(Target::parse("https://x:notaport").is_err());
    }
}
