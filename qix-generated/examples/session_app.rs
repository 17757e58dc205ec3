//! A session app from a script: an app that lives only as long as the session, loaded
//! from an inline script, then queried.
//!
//! ```text
//! cargo run -p qix-generated --features testing --example session_app
//! cargo run -p qix-generated --features testing --example session_app -- --engine ws://localhost:9076
//! ```

mod common;

use qix_generated::prelude::*;
use serde_json::json;

const SCRIPT: &str = "Sales:\nLOAD * INLINE [\nRegion, Sales\nEast, 100\nWest, 250\n];\n";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = common::args();
    let (url, mock) = common::engine(&args, |mock| {
        mock.expect("CreateSessionApp").returns(json!({
            "qSessionAppId": "SessionApp_6f1c", "qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "SessionApp_6f1c"}
        }));
        mock.expect("SetScript").on_handle(1).with_params(json!({"qScript": SCRIPT}));
        mock.expect("DoReload").on_handle(1).returns(json!({"qReturn": true}));
        mock.expect("EvaluateEx").on_handle(1).returns(json!({"qValue": {"qText": "350", "qIsNumeric": true, "qNumber": 350}}));
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let created = session.global().create_session_app().await?;
    println!("session app {}", created.session_app_id);
    let app = created.doc;
    app.set_script(SCRIPT).await?;
    if !app.do_reload().await? {
        eprintln!("the reload failed");
        std::process::exit(1);
    }
    let total = app.evaluate_ex("Sum(Sales)").await?;
    println!("Sum(Sales) = {}", total.text.as_deref().unwrap_or("-"));
    session.close().await;
    common::verify(mock);
    Ok(())
}
