//! `qix-runtime/src/api_tables/mod.rs`: what the runtime must know of the engine API, as
//! tables generated from the pinned spec and the companion data under the same drift check
//! as the generated crate, instead of hand-kept copies: the secret list (with positions)
//! that redacts frames, and the methods that open objects again after a reconnection.

use super::*;

impl Cx<'_> {
    pub(super) fn runtime_tables_rs(&self) -> TokenStream {
        let secrets = crate::secrets::secrets_value(self.api, &quote!(crate::redact));
        let reopen = self.api.reopen.iter().map(|r| {
            let (class, method) = (&r.class, &r.method);
            quote!((#class, #method),)
        });
        quote! {
            //! The engine API's facts the runtime works with, generated from
            //! `schemas/secrets.json`, `schemas/companion.json` and the pinned spec (see
            //! `cargo xtask regenerate`).

            /// Params and properties that carry secrets, with the positions of the params:
            /// what [`redact::BUILTIN`](crate::redact::BUILTIN) redacts.
            pub(crate) const SECRETS: crate::redact::Secrets = #secrets;

            /// Class → the method of `Doc` that opens an object of the class by its id
            /// (`reopen.byId` of the companion map): how objects are restored after a
            /// reconnection lost the engine session.
            pub(crate) static REOPEN_BY_ID: &[(&str, &str)] = &[#(#reopen)*];

            /// Engine version ordering, the generator's own (the runtime uses `compare`).
            #[allow(dead_code)]
            pub(crate) mod version_order;
        }
    }
}
