//! `qix spec fetch`.

use std::path::Path;

use crate::{CliResult, ConnectOpts, Failure, connect};

pub async fn fetch(opts: &ConnectOpts, _out: Option<&Path>) -> CliResult {
    let base = connect::http_base(opts)?;
    Err(Failure(format!(
        "spec fetch from {base}: not implemented yet"
    )))
}
