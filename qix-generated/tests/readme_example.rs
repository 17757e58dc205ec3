//! The README's usage example, compiled (not run: it needs a live engine).
#![allow(dead_code, unused_variables, clippy::all)]

use qix_generated::types::{
    GenericObjectProperties, HyperCubeDef, NxDimension, NxInfo, NxInlineDimensionDef,
    NxInlineMeasureDef, NxMeasure, NxPage,
};
use qix_generated::{ErrorCode, ErrorCodeExt, SessionExt};
use qix_runtime::{EngineUrl, Session};

async fn readme_example() -> qix_runtime::Result<()> {
    let url = EngineUrl::new("wss://your-tenant.eu.qlikcloud.com").app("7f3c…");
    let session = Session::builder(url.to_string())
        .bearer(std::env::var("QLIK_API_KEY").unwrap_or_default())
        .connect()
        .await?; // returns once OnConnected arrives
    let global = session.global();
    let doc = global.open_doc("7f3c…").await?; // a typed `Doc` handle

    // Required params are arguments; optional ones are builder methods (unset ones are not sent).
    let value = doc.evaluate_ex("Sum(Sales)").await?; // a typed `FieldValue`
    println!("{:?} {:?}", value.text, value.number);

    // A hypercube: build the typed definition, read typed pages.
    let props = GenericObjectProperties {
        info: Some(NxInfo {
            r#type: Some("my-cube".into()),
            ..Default::default()
        }),
        hyper_cube_def: Some(HyperCubeDef {
            dimensions: vec![NxDimension {
                def: Some(NxInlineDimensionDef {
                    field_defs: vec!["Region".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            measures: vec![NxMeasure {
                def: Some(NxInlineMeasureDef {
                    def: Some("Sum(Sales)".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let cube = doc.create_session_object(props).await?; // a `GenericObject`
    let pages = cube
        .get_hyper_cube_data(
            "/qHyperCubeDef",
            vec![NxPage {
                width: Some(2),
                height: Some(100),
                ..Default::default()
            }],
        )
        .await?;
    for row in &pages[0].matrix {
        println!("{:?} {:?}", row[0].text, row[1].num); // `num` is NaN for text-only cells
    }

    // Engine errors: match on the typed code, never on the message.
    match doc.get_object("no-such-id").await {
        Err(e) if e.error_code() == Some(ErrorCode::GenericNotFound) => {}
        Err(qix_runtime::Error::ObjectNotFound { .. }) => {} // engines answer qHandle: null
        other => {
            other?;
        }
    }
    Ok(())
}

#[test]
fn readme_example_compiles() {
    // Building the future proves the example type-checks; it is never polled.
    drop(readme_example());
}
