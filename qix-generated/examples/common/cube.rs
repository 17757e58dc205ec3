//! The straight table the examples, the benchmark client and the tests create: one
//! dimension (a field) and measures (expressions). Its own file so that `qixbench` and the
//! tests (`#[path]`) share it without the examples' engine plumbing.

use qix_generated::types::{
    GenericObjectProperties, HyperCubeDef, NxDimension, NxInfo, NxInlineDimensionDef,
    NxInlineMeasureDef, NxMeasure,
};

/// Properties of an object of type `object_type` with a hypercube over the field
/// `dimension` and one measure per expression of `measures`.
pub fn straight_table(
    object_type: &str,
    dimension: &str,
    measures: impl IntoIterator<Item = String>,
) -> GenericObjectProperties {
    GenericObjectProperties {
        info: Some(NxInfo {
            r#type: Some(object_type.into()),
            ..Default::default()
        }),
        hyper_cube_def: Some(HyperCubeDef {
            dimensions: vec![NxDimension {
                def: Some(NxInlineDimensionDef {
                    field_defs: vec![dimension.into()],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            measures: measures
                .into_iter()
                .map(|m| NxMeasure {
                    def: Some(NxInlineMeasureDef {
                        def: Some(m),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
