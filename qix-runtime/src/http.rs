//! The HTTP client of the runtime (feature `http`): reqwest, on the same rustls setup as
//! the WebSocket ([`TlsOptions`]). For the spec download, and for whatever else speaks
//! HTTP to a Qlik deployment.

use std::time::Duration;

use crate::builder::TlsOptions;
use crate::error::{ConfigError, Error, Result, TransportError};

/// A client for one target: `https` with the session's TLS options, redirects not
/// followed (a redirect to a login page is an answer to report, not to follow).
pub(crate) fn client(secure: bool, tls: &TlsOptions, timeout: Duration) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("qix/", env!("CARGO_PKG_VERSION")));
    let builder = with_tls(builder, secure, tls)?;
    builder.build().map_err(|e| {
        Error::Config(ConfigError::with_cause(
            format!("cannot set up the HTTP client: {e}"),
            e,
        ))
    })
}

#[cfg(feature = "rustls")]
fn with_tls(
    builder: reqwest::ClientBuilder,
    _secure: bool,
    tls: &TlsOptions,
) -> Result<reqwest::ClientBuilder> {
    // Also for `http://`: reqwest's rustls backend wants a configuration (with its crypto
    // provider) whatever the scheme.
    let config = crate::tls::connector(tls)?;
    Ok(builder.tls_backend_preconfigured((*config).clone()))
}

#[cfg(not(feature = "rustls"))]
fn with_tls(
    builder: reqwest::ClientBuilder,
    secure: bool,
    _tls: &TlsOptions,
) -> Result<reqwest::ClientBuilder> {
    if secure {
        return Err(Error::Config(
            "https:// needs the `rustls` feature of qix-runtime".into(),
        ));
    }
    Ok(builder)
}

/// A failed request as a transport error that says what failed in a few words (the TLS
/// handshake, reaching the host, the time limit), with reqwest's error as the source.
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    // The caller names the URL.
    let e = e.without_url();
    let mut source = std::error::Error::source(&e);
    let mut io = None;
    while let Some(s) = source {
        #[cfg(feature = "rustls")]
        if let Some(tls) = rustls_error(s) {
            let text = tls.to_string();
            let hint = crate::builder::tls_hint(&format!("received fatal alert: {text}"));
            return Error::Transport(TransportError::with_cause(
                format!("TLS handshake failed: {text}{hint}"),
                e,
            ));
        }
        if io.is_none() {
            io = s.downcast_ref::<std::io::Error>().map(|i| i.to_string());
        }
        source = s.source();
    }
    let text = if e.is_timeout() {
        "timed out".to_string()
    } else if let Some(io) = io {
        format!("cannot connect: {io}")
    } else {
        e.to_string()
    };
    Error::Transport(TransportError::with_cause(text, e))
}

/// The rustls error of a TLS failure: it comes wrapped in I/O errors (hyper's around
/// tokio-rustls's), whose `source` skips the error they wrap.
#[cfg(feature = "rustls")]
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => rustls_error(inner),
        None => None,
    }
}

/// The body, at most `max` bytes (more is an error naming the limit).
pub(crate) async fn read_capped(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(Error::Protocol(format!(
                "the HTTP answer is bigger than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
