//! `qix spec fetch`: the engine's OpenRPC spec, saved under its version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qix_runtime::Auth;
use qix_runtime::spec_fetch::fetch_spec;

use crate::{CliResult, ConnectOpts, Failure, connect};

pub async fn fetch(opts: &ConnectOpts, out: Option<&Path>) -> CliResult {
    let base = connect::http_base(opts)?;
    let mut headers = connect::headers(opts)?;
    if let Some(token) = opts.bearer.as_ref().filter(|t| !t.is_empty()) {
        headers.push(("Authorization".into(), format!("Bearer {}", token.expose())));
    }
    if let Some(auth) = crate::signin::client_credentials(opts)? {
        headers.extend(auth.headers().await.map_err(qix_runtime::Error::Auth)?);
    }
    let tls = crate::signin::tls_options(opts)?;
    let body = fetch_spec(&base, &headers, &tls, Duration::from_secs(60)).await?;
    let version = spec_version(&body).map_err(|why| {
        Failure(format!(
            "{base}{}: {why}",
            qix_runtime::spec_fetch::SPEC_PATH
        ))
    })?;
    // On the spec search path when there is one to use, so qix-codegen finds it by version.
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("QIX_SCHEMAS_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join(format!("{version}.json")),
            None => PathBuf::from(format!("{version}.json")),
        },
    };
    std::fs::write(&path, &body)
        .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
    if opts.json {
        crate::output::json(
            &serde_json::json!({"version": version, "path": path, "bytes": body.len()}),
        )
    } else {
        crate::output::line(&format!(
            "Spec {version} ({} bytes) written to {}.",
            body.len(),
            path.display()
        ))
    }
}

/// `info.version` of an OpenRPC document; a body without one is not a spec (a login page).
fn spec_version(body: &[u8]) -> Result<String, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let version = doc["info"]["version"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or("not an OpenRPC spec (no info.version)")?;
    // The version names a file: keep it to what versions are made of.
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("unexpected spec version {version:?}"));
    }
    Ok(version.to_string())
}
