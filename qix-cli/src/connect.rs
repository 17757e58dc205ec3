//! From the connection options to a session and an open app.

use std::sync::Arc;

use qix_generated::prelude::*;
use qix_runtime::{EngineUrl, JsonLinesLog, SessionBuilder};

use crate::{CliResult, ConnectOpts, Failure};

/// The WebSocket URL: an engine URL with an `/app/…` path or a query is used as given (a
/// Qlik Cloud `wss://tenant/app/<id>`, say); otherwise its path is a virtual proxy prefix
/// (`wss://sense.example.com/jwt`), and `/app/<app>` and `/ttl/<seconds>` go after it.
pub fn websocket_url(opts: &ConnectOpts) -> CliResult<String> {
    let engine = opts.engine.trim();
    if engine.is_empty() {
        return Err(Failure("--engine is empty".into()));
    }
    let with_scheme = if let Some(rest) = engine.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = engine.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if engine.starts_with("ws://") || engine.starts_with("wss://") {
        engine.to_string()
    } else if engine.contains("://") {
        return Err(Failure(format!(
            "--engine {engine:?}: use ws://, wss://, http:// or https://"
        )));
    } else {
        format!("ws://{engine}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, r)| r);
    let path = after_scheme.split_once('/').map_or("", |(_, p)| p);
    if path.contains(['?', '#']) || path.split('/').any(|segment| segment == "app") {
        return Ok(with_scheme);
    }
    let mut url = EngineUrl::new(with_scheme).app(opts.app.clone().unwrap_or_default());
    if let Some(ttl) = opts.ttl {
        url = url.ttl(ttl);
    }
    Ok(url.to_string())
}

/// The HTTP(S) base URL of the engine (for `spec fetch`): scheme mapped back from ws(s),
/// the virtual proxy prefix kept, the app path dropped.
pub fn http_base(opts: &ConnectOpts) -> CliResult<String> {
    let ws = websocket_url(opts)?;
    let (scheme, rest) = ws
        .split_once("://")
        .ok_or_else(|| Failure(format!("--engine {:?} has no scheme", opts.engine)))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let mut parts = rest.split('/');
    let host = parts.next().unwrap_or(rest);
    let prefix: Vec<&str> = parts
        .take_while(|segment| *segment != "app")
        .filter(|segment| !segment.is_empty())
        .collect();
    let scheme = if scheme == "wss" { "https" } else { "http" };
    if prefix.is_empty() {
        Ok(format!("{scheme}://{host}"))
    } else {
        Ok(format!("{scheme}://{host}/{}", prefix.join("/")))
    }
}

/// NAME:VALUE pairs of `--header`.
pub fn headers(opts: &ConnectOpts) -> CliResult<Vec<(String, String)>> {
    opts.headers
        .iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(Failure(format!("--header {h:?}: expected NAME:VALUE"))),
        })
        .collect()
}

/// The files of `--certs DIR`, checked to exist so a typo is named before connecting.
pub fn cert_files(
    opts: &ConnectOpts,
) -> CliResult<Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)>> {
    let Some(dir) = &opts.certs else {
        return Ok(None);
    };
    let files = (
        dir.join("client.pem"),
        dir.join("client_key.pem"),
        dir.join("root.pem"),
    );
    for f in [&files.0, &files.1, &files.2] {
        if !f.is_file() {
            return Err(Failure(format!(
                "--certs {}: {} is missing",
                dir.display(),
                f.display()
            )));
        }
    }
    Ok(Some(files))
}

fn builder(opts: &ConnectOpts) -> CliResult<SessionBuilder> {
    let mut b = Session::builder(websocket_url(opts)?);
    if let Some(token) = opts.bearer.as_ref().filter(|t| !t.is_empty()) {
        b = b.bearer(token.expose());
    }
    for (name, value) in headers(opts)? {
        b = b.header(name, value);
    }
    b = b.tls(crate::signin::tls_options(opts)?);
    // Asked again for every connection: a fresh token whenever the last one is near its
    // end.
    if let Some(auth) = crate::signin::client_credentials(opts)? {
        b = b.auth(auth);
    }
    if let Some(path) = &opts.traffic {
        let log = JsonLinesLog::create(path)
            .map_err(|e| Failure(format!("--traffic {}: cannot create: {e}", path.display())))?;
        b = b.traffic(Arc::new(log));
    }
    Ok(b)
}

pub async fn session(opts: &ConnectOpts) -> CliResult<Session> {
    Ok(builder(opts)?.connect().await?)
}

/// The app as corectl opens it: the session's active doc (a URL with `/app/<id>`, or a
/// session attached to an open app), else `OpenDoc(--app)` (without its data with
/// `--no-data`).
pub async fn open_app(session: &Session, opts: &ConnectOpts) -> CliResult<Doc> {
    let global = session.global();
    match global.get_active_doc().await {
        Ok(doc) => Ok(doc),
        // Only the engine's "no active document" opens the app; a broken connection is
        // the error to report.
        Err(e) if e.engine_code().is_none() => Err(e.into()),
        Err(active_err) => match &opts.app {
            Some(app) => {
                let mut open = global.open_doc(app.clone());
                if opts.no_data {
                    open = open.no_data(true);
                }
                Ok(open.await?)
            }
            None => Err(Failure(format!(
                "no app is open in this session ({active_err}); name one with --app or QIX_APP"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn opts(args: &[&str]) -> ConnectOpts {
        let mut all = vec!["qix"];
        all.extend_from_slice(args);
        all.push("apps");
        crate::Cli::try_parse_from(all).unwrap().conn
    }

    #[test]
    fn engine_urls_in_every_documented_form() {
        let url = |args: &[&str]| websocket_url(&opts(args)).unwrap();
        assert_eq!(
            url(&["--engine", "localhost:9076"]),
            "ws://localhost:9076/app/"
        );
        assert_eq!(
            url(&[
                "--engine",
                "https://tenant.example.com",
                "--app",
                "abc-1",
                "--ttl",
                "30"
            ]),
            "wss://tenant.example.com/app/abc-1/ttl/30"
        );
        assert_eq!(
            url(&["--engine", "http://host:9076/", "--app", "/apps/x.qvf"]),
            "ws://host:9076/app/%2Fapps%2Fx.qvf"
        );
        // A URL with a path is the user's: used as given.
        assert_eq!(
            url(&["--engine", "wss://tenant/app/abc", "--app", "ignored"]),
            "wss://tenant/app/abc"
        );
        assert!(websocket_url(&opts(&["--engine", "ftp://x"])).is_err());
        assert_eq!(
            http_base(&opts(&["--engine", "wss://tenant:8443/app/abc"])).unwrap(),
            "https://tenant:8443"
        );
        // A path without `/app/` is a virtual proxy prefix: the app goes after it.
        assert_eq!(
            url(&["--engine", "wss://sense.example.com/jwt/", "--app", "abc-1"]),
            "wss://sense.example.com/jwt/app/abc-1"
        );
        assert_eq!(
            url(&["--engine", "https://sense.example.com/a/b", "--ttl", "5"]),
            "wss://sense.example.com/a/b/app//ttl/5"
        );
        assert_eq!(
            url(&["--engine", "wss://sense.example.com/hdr/app/abc-1"]),
            "wss://sense.example.com/hdr/app/abc-1"
        );
        // A query (a ticket, say) means the URL is complete.
        assert_eq!(
            url(&["--engine", "wss://s/hdr?qlikTicket=t", "--app", "x"]),
            "wss://s/hdr?qlikTicket=t"
        );
        assert_eq!(
            http_base(&opts(&["--engine", "wss://s:4443/jwt/app/abc"])).unwrap(),
            "https://s:4443/jwt"
        );
        assert_eq!(
            http_base(&opts(&["--engine", "ws://s/jwt", "--app", "x"])).unwrap(),
            "http://s/jwt"
        );
    }
}
