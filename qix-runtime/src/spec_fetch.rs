//! Downloading an engine's API spec: `GET /api/engine/openrpc`.
//!
//! A minimal HTTP/1.1 client on what the runtime already has (tokio, and rustls through
//! the same [`TlsOptions`] as the WebSocket): one GET, `Connection: close`, a
//! `Content-Length`, chunked or read-to-end body. A general HTTP client (hyper, ureq)
//! would add a second HTTP stack and its TLS wiring for this one request.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::builder::TlsOptions;
use crate::error::{Error, Result, TransportError};

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
    tokio::time::timeout(timeout, fetch_from(&target, headers, tls))
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
    host: String,
    port: u16,
    prefix: String,
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
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p.parse().map_err(|_| bad("bad port"))?;
                (h, port)
            }
            _ => (authority, if secure { 443 } else { 80 }),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        // A WebSocket app path (`/app/<id>`) is not part of the HTTP prefix.
        let prefix = match path.find("/app/") {
            Some(i) => &path[..i],
            None => path,
        }
        .trim_end_matches('/')
        .to_string();
        let display = format!(
            "{}://{authority}{prefix}",
            if secure { "https" } else { "http" }
        );
        Ok(Target {
            secure,
            host,
            port,
            prefix,
            display,
        })
    }
}

async fn fetch_from(
    target: &Target,
    headers: &[(String, String)],
    tls: &TlsOptions,
) -> Result<Vec<u8>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            Error::Transport(TransportError::with_cause(
                format!("cannot reach {}:{}: {e}", target.host, target.port),
                e,
            ))
        })?;
    if target.secure {
        tls_fetch(tcp, target, headers, tls).await
    } else {
        let _ = tls;
        exchange(tcp, target, headers).await
    }
}

#[cfg(feature = "rustls")]
async fn tls_fetch(
    tcp: TcpStream,
    target: &Target,
    headers: &[(String, String)],
    tls: &TlsOptions,
) -> Result<Vec<u8>> {
    let config = crate::tls::connector(tls)?;
    let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| {
        Error::Config(crate::error::ConfigError::with_cause(
            format!("{:?} is no TLS server name: {e}", target.host),
            e,
        ))
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            Error::Transport(TransportError::with_cause(
                format!("TLS handshake failed: {e}"),
                crate::error::io_cause(e),
            ))
        })?;
    exchange(stream, target, headers).await
}

#[cfg(not(feature = "rustls"))]
async fn tls_fetch(
    _tcp: TcpStream,
    _target: &Target,
    _headers: &[(String, String)],
    _tls: &TlsOptions,
) -> Result<Vec<u8>> {
    Err(Error::Config(
        "https:// needs the `rustls` feature of qix-runtime".into(),
    ))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Target,
    headers: &[(String, String)],
) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| Error::Transport(TransportError::with_cause(e.to_string(), e));
    let name = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let default_port = if target.secure { 443 } else { 80 };
    let host = if target.port == default_port {
        name
    } else {
        format!("{name}:{}", target.port)
    };
    let mut request = format!(
        "GET {}{SPEC_PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: qix\r\n",
        target.prefix
    );
    for (name, value) in headers {
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return Err(Error::Config(format!("bad header {name:?}").into()));
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    // Some TLS servers end without close_notify: what was read is still the answer.
    match (&mut stream)
        .take(MAX_BODY as u64 + 65536)
        .read_to_end(&mut raw)
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(io(e)),
    }
    parse_response(&raw)
}

/// The body of a `200` response; any other status is an error naming it (and where a
/// redirect points).
fn parse_response(raw: &[u8]) -> Result<Vec<u8>> {
    let proto = |m: &str| Error::Protocol(format!("HTTP response: {m}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| proto("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| proto("headers are not UTF-8"))?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| proto(&format!("bad status line {status_line:?}")))?;
    let mut chunked = false;
    let mut length = None;
    let mut location = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            "location" => location = Some(value.to_string()),
            _ => {}
        }
    }
    if status != 200 {
        let to = location.map(|l| format!(" (to {l})")).unwrap_or_default();
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(Error::Transport(
            format!("the engine answered {status_line}{to}: {}", text.trim()).into(),
        ));
    }
    let body = if chunked {
        dechunk(body).ok_or_else(|| proto("bad chunked body"))?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or_else(|| proto(&format!("body ended after {} of {n} bytes", body.len())))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 || out.len() + size > MAX_BODY {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("wss://tenant.example.com/app/abc?x=1").unwrap();
        assert!(t.secure && t.port == 443 && t.prefix.is_empty());
        assert_eq!(t.display, "https://tenant.example.com");
        let t = Target::parse("http://127.0.0.1:9076/proxy/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 9076, "/proxy")
        );
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("https://user:pw@x").is_err());
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(ok).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{\"a\":1}");
        let e = parse_response(b"HTTP/1.1 401 Unauthorized\r\n\r\nno token").unwrap_err();
        assert!(e.to_string().contains("401 Unauthorized: no token"), "{e}");
        let e = parse_response(b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n").unwrap_err();
        assert!(e.to_string().contains("(to /login)"), "{e}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").is_err());
    }
}
