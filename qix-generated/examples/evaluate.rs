//! Connect and evaluate an expression.
//!
//! ```text
//! cargo run -p qix-generated --features testing --example evaluate                     # offline
//! cargo run -p qix-generated --features testing --example evaluate -- --engine ws://localhost:9076 --app /apps/sales.qvf 'Sum(Sales)'
//! ```

mod common;

use qix_generated::prelude::*;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = common::args();
    let expression = args.rest.first().cloned().unwrap_or("Sum(Sales)".into());
    let (url, mock) = common::engine(&args, |mock| {
        common::active_doc(mock);
        mock.expect("EvaluateEx").returns(
            json!({"qValue": {"qText": "1,234,567", "qIsNumeric": true, "qNumber": 1234567}}),
        );
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let doc = common::open_app(&session, &args).await?;
    let value = doc.evaluate_ex(expression.clone()).await?;
    println!(
        "{expression} = {} ({})",
        value.text.as_deref().unwrap_or("-"),
        value
            .number
            .map_or("no number".to_string(), |n| n.to_string())
    );
    session.close().await;
    common::verify(mock);
    Ok(())
}
