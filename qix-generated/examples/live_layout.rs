//! A layout kept live: `qix_runtime::layout::Live` refetches an object's layout when the
//! engine reports it changed (here, after a selection), one fetch per burst of changes.
//!
//! ```text
//! cargo run -p qix-generated --features testing --example live_layout
//! cargo run -p qix-generated --features testing --example live_layout -- --engine ws://localhost:9076 --app /apps/sales.qvf Region East
//! ```
//! Arguments: a field and a value to select in it.

mod common;

use qix_generated::prelude::*;
use qix_generated::types::{
    FieldValue, GenericObjectLayout, GenericObjectProperties, ListObjectDef, NxInfo,
    NxInlineDimensionDef, NxPage,
};
use qix_runtime::layout::Live;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = common::args();
    let field = args.rest.first().cloned().unwrap_or("Region".into());
    let value = args.rest.get(1).cloned().unwrap_or("East".into());
    let (url, mock) = common::engine(&args, |mock| {
        common::active_doc(mock);
        mock.expect("CreateSessionObject").returns(
            json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "list"}}),
        );
        let page = |east: &str, west: &str| {
            json!({"qLayout": {"qInfo": {"qId": "list", "qType": "live-list"},
            "qListObject": {"qSize": {"qcx": 1, "qcy": 2}, "qDataPages": [{"qMatrix": [
                [{"qText": "East", "qState": east}], [{"qText": "West", "qState": west}]]}]}}})
        };
        mock.expect("GetLayout")
            .on_handle(2)
            .times(1)
            .returns(page("O", "O"));
        mock.expect("GetLayout")
            .on_handle(2)
            .times(1)
            .returns(page("S", "X"));
        mock.expect("GetField")
            .returns(json!({"qReturn": {"qType": "Field", "qHandle": 3}}));
        // The engine answers a selection with the objects it invalidated.
        mock.expect("SelectValues")
            .on_handle(3)
            .returns(json!({"qReturn": true}))
            .with_change([2]);
    })
    .await;
    let session = common::connect(&url, &args).await?;
    let doc = common::open_app(&session, &args).await?;
    let list = doc
        .create_session_object(GenericObjectProperties {
            info: Some(NxInfo {
                r#type: Some("live-list".into()),
                ..Default::default()
            }),
            list_object_def: Some(ListObjectDef {
                def: Some(NxInlineDimensionDef {
                    field_defs: vec![field.clone()],
                    ..Default::default()
                }),
                initial_data_fetch: vec![NxPage {
                    width: Some(1),
                    height: Some(20),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    let obj = list.clone();
    let mut live: Live<GenericObjectLayout> = Live::new(list.object(), move || {
        let obj = obj.clone();
        async move { obj.get_layout().await }
    });
    print_states(&live.next().await.value);
    let changed = doc
        .get_field(field.clone())
        .await?
        .select_values(vec![FieldValue {
            text: Some(value.clone()),
            ..Default::default()
        }])
        .await?;
    println!("selected {value} in {field} (changed: {changed})");
    print_states(&live.next().await.value);
    session.close().await;
    common::verify(mock);
    Ok(())
}

fn print_states(layout: &Option<std::sync::Arc<GenericObjectLayout>>) {
    let Some(layout) = layout else { return };
    let rows = layout
        .list_object
        .iter()
        .flat_map(|l| &l.data_pages)
        .flat_map(|p| &p.matrix);
    let states: Vec<String> = rows
        .filter_map(|r| r.first())
        .map(|c| {
            let state = c
                .state
                .as_ref()
                .map_or("-".to_string(), |s| format!("{s:?}"));
            format!("{}={state}", c.text.as_deref().unwrap_or("?"))
        })
        .collect();
    println!("{}", states.join(" "));
}
