//! A reload with the engine's progress messages, with `qix_generated::helpers::reload`.
//! Ctrl-C cancels it (dropping the reload sends `CancelRequest`).
//!
//! ```text
//! cargo run -p qix-generated --features testing --example reload_progress
//! cargo run -p qix-generated --features testing --example reload_progress -- --engine ws://localhost:9076 --app /apps/sales.qvf
//! ```

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use qix_generated::helpers::reload::with_progress;
use qix_generated::prelude::*;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = common::args();
    let (url, mock) = common::engine(&args, |mock| {
        common::active_doc(mock);
        mock.expect("DoReloadEx")
            .delay(Duration::from_millis(800))
            .returns(json!({"qResult": {"qSuccess": true, "qScriptLogFile": "/logs/sales.log"}}));
        mock.expect("GetProgress").returns(json!({"qProgressData": {
            "qPersistentProgress": "Sales << sales.csv\nLines fetched: 1,000",
            "qTransientProgress": "Lines fetched: 500"
        }}));
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let doc = common::open_app(&session, &args).await?;
    let mut reload = with_progress(
        &session.global(),
        doc.do_reload_ex(),
        Duration::from_millis(250),
    );
    loop {
        tokio::select! {
            update = reload.next() => match update {
                Some(Ok(p)) => {
                    for line in p.persistent_progress.as_deref().unwrap_or_default().lines() {
                        println!("{line}");
                    }
                }
                Some(Err(e)) => eprintln!("(progress unavailable: {e})"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                reload.cancel();
                eprintln!("reload cancelled");
                std::process::exit(130);
            }
        }
    }
    let result = reload.finish().await?;
    println!(
        "reload {} (log: {})",
        if result.success == Some(true) {
            "succeeded"
        } else {
            "FAILED"
        },
        result.script_log_file.as_deref().unwrap_or("-")
    );
    session.close().await;
    common::verify(mock);
    Ok(())
}
