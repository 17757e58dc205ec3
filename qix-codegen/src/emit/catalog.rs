//! `catalog.rs`: what the API knows about each method and its secrets, as data.

use super::*;

impl Cx<'_> {
    pub(super) fn catalog_rs(&self) -> Vec<Piece> {
        let secrets = crate::secrets::catalog_item(self.api);
        let rows = self
            .api
            .classes
            .iter()
            .flat_map(|c| c.methods.iter().map(move |m| (c, m)))
            .map(|(c, m)| {
                let since = match &m.facts.since {
                    Some(s) => format!("Some({})", format::str_lit(s)),
                    None => "None".into(),
                };
                format!(
                    "MethodInfo {{ class: {}, name: {}, params: {}, since: {since} }}",
                    format::str_lit(&c.name),
                    format::str_lit(&m.name),
                    format::str_list(m.params.iter().map(|p| &p.name)),
                )
            })
            .collect();
        let table = Table {
            doc: vec![" Every method, by class (alphabetical) and spec order.".into()],
            decl: "pub static METHODS: &[MethodInfo]".into(),
            rows,
        };
        let head = quote! {
            //! What the generated API knows about each method, as data: for tools that map
            //! positional params to names (replay), check versions, or list the API.

            /// One API method.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct MethodInfo {
                /// The engine class (`Doc`).
                pub class: &'static str,
                /// The method name as sent on the wire (`GetObject`).
                pub name: &'static str,
                /// Param names in positional order.
                pub params: &'static [&'static str],
                /// The oldest engine version known to have the method, when history was given.
                pub since: ::std::option::Option<&'static str>,
            }
        };
        let tail = quote! {
            /// The param names of a method by its wire name. Methods of the same name on
            /// different classes share their params unless `class` is given.
            pub fn params_of(class: ::std::option::Option<&str>, method: &str) -> ::std::option::Option<&'static [&'static str]> {
                METHODS
                    .iter()
                    .find(|m| m.name == method && class.is_none_or(|c| c == m.class))
                    .map(|m| m.params)
            }

            /// A started [`MockEngine`](::qix_runtime::testing::MockEngine) that knows this
            /// API's param names ([`params_of`]), so expectations and recordings match
            /// positional params by name: what a test of this API starts from.
            #[cfg(feature = "testing")]
            pub async fn mock_engine() -> ::qix_runtime::testing::MockEngine {
                let mock = ::qix_runtime::testing::MockEngine::start().await;
                mock.param_names(params_of);
                mock
            }

            #secrets
        };
        vec![Piece::Items(head), Piece::Table(table), Piece::Items(tail)]
    }
}
