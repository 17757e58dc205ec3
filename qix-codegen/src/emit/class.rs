//! One file per engine class: the handle type, one request type per method, outputs.

use super::*;

impl Cx<'_> {
    pub(super) fn class_rs(&self, class: &Class) -> Result<TokenStream, EmitError> {
        let name = ident(&class.name);
        let class_name = &class.name;
        let doc = format!(
            " A handle to an engine object of class `{class_name}`: a cheap clone of the session and the handle number. Each API method of the class is a method here that returns a request; `.await` sends it."
        );
        let ctor = if self.api.root_class.as_deref() == Some(class.name.as_str()) {
            let doc = format!(" The `{class_name}` object of a session (handle -1).");
            quote! {
                #[doc = #doc]
                pub fn new(session: &::qix_runtime::Session) -> Self {
                    Self::from_object(session.global_object())
                }
            }
        } else {
            quote!()
        };
        let mut methods = Vec::new();
        let mut items = Vec::new();
        for m in &class.methods {
            let (method, extra) = self.method_items(class, m)?;
            methods.push(method);
            items.push(extra);
        }
        Ok(quote! {
            #![allow(deprecated)]
            #![allow(clippy::all)]

            #[doc = #doc]
            #[derive(Debug, Clone)]
            pub struct #name {
                object: ::qix_runtime::Object,
            }

            impl #name {
                /// The engine class name.
                pub const CLASS: &'static str = #class_name;

                #ctor

                /// Wraps an object handle (from [`qix_runtime::Session::call_raw`], say) as this class.
                pub fn from_object(object: ::qix_runtime::Object) -> Self {
                    Self { object }
                }

                /// The untyped object handle.
                pub fn object(&self) -> &::qix_runtime::Object {
                    &self.object
                }

                /// The untyped object handle.
                pub fn into_object(self) -> ::qix_runtime::Object {
                    self.object
                }

                /// The engine's handle number for this object now (a reconnection that
                /// restores the object changes it; this value keeps working).
                pub fn handle(&self) -> i32 {
                    self.object.handle()
                }

                /// The session this object lives in.
                pub fn session(&self) -> &::qix_runtime::Session {
                    self.object.session()
                }

                /// The object's id (`qGenericId`), when the engine gave one.
                pub fn generic_id(&self) -> ::std::option::Option<&str> {
                    self.object.generic_id()
                }

                /// The object's type (`qGenericType`), when the engine gave one.
                pub fn generic_type(&self) -> ::std::option::Option<&str> {
                    self.object.generic_type()
                }

                /// Yields once per `change` the engine reports for this object, and after a
                /// reconnection restored it (refetch its layout); ends when the object
                /// closes. See [`qix_runtime::Object::changed`].
                pub fn changed(&self) -> ::qix_runtime::BroadcastStream<()> {
                    self.object.changed()
                }

                /// Waits until this object is closed (by the engine, the end of the session,
                /// or a reconnection that could not restore it) and returns why.
                pub async fn closed(&self) -> ::qix_runtime::ClosedReason {
                    self.object.closed().await
                }

                /// True once the engine has closed this object; calls then fail at once.
                pub fn is_closed(&self) -> bool {
                    self.object.is_closed()
                }

                #(#methods)*
            }

            #(#items)*
        })
    }

    /// The handle method and the request type (plus output type) for one API method.
    fn method_items(
        &self,
        class: &Class,
        m: &MethodDef,
    ) -> Result<(TokenStream, TokenStream), EmitError> {
        let full = m.full_name();
        let fn_name = ident(&m.rust_name);
        let req = ident(&names::camel(&m.name));
        let wire_method = &m.name;

        let mut doc = self.item_doc(m.doc.as_deref(), &m.facts, "object");
        let required: Vec<&ParamDef> = m.params.iter().filter(|p| p.required).collect();
        let optional: Vec<&ParamDef> = m.params.iter().filter(|p| !p.required).collect();
        if !required.is_empty() {
            doc.push_str("\n\n# Parameters\n");
            for p in &required {
                let pd = p
                    .doc
                    .as_deref()
                    .map(docs::clean)
                    .unwrap_or_default()
                    .replace('\n', " ");
                doc.push_str(&format!(
                    "\n* `{}` (`{}`): {}",
                    names::bare(&p.rust_name),
                    p.name,
                    pd
                ));
            }
        }
        if !optional.is_empty() {
            doc.push_str(&format!("\n\nOptional params are methods of [`{}`]: ", req));
            let list: Vec<String> = optional
                .iter()
                .map(|p| format!("[`{0}`]({1}::{0})", names::bare(&p.rust_name), req))
                .collect();
            doc.push_str(&list.join(", "));
            doc.push('.');
        }
        doc.push_str(&format!("\n\nEngine method: `{full}`."));
        let fn_doc = doc_attrs(&doc);
        let dep = self.deprecated_attr(&m.facts);

        // Params of the handle method: required ones, positional.
        let mut fn_args = Vec::new();
        let mut field_inits = Vec::new();
        let mut field_decls = Vec::new();
        let mut writes = Vec::new();
        let mut builders = Vec::new();
        for p in &m.params {
            let id = ident(&p.rust_name);
            let ty = self.rust_type(&p.ty);
            let wire = self.wire(&p.ty, || format!("{full}({})", p.name))?;
            let pname = &p.name;
            let is_string = p.ty == TypeRef::String;
            if p.required {
                if is_string {
                    fn_args.push(quote!(#id: impl ::std::convert::Into<::std::string::String>));
                    field_inits.push(quote!(#id: #id.into(),));
                } else {
                    fn_args.push(quote!(#id: #ty));
                    field_inits.push(quote!(#id,));
                }
                field_decls.push(quote!(#id: #ty,));
                let v = wire.encode(quote!(self.#id), false);
                writes.push(quote!(p.arg(#pname, #v);));
            } else {
                field_inits.push(quote!(#id: ::std::option::Option::None,));
                field_decls.push(quote!(#id: ::std::option::Option<#ty>,));
                let v = wire.encode(quote!(v), true);
                writes.push(quote! {
                    if let ::std::option::Option::Some(v) = &self.#id {
                        p.arg(#pname, #v);
                    }
                });
                let mut bdoc = p.doc.as_deref().map(docs::clean).unwrap_or_default();
                if let Some(d) = &p.default {
                    bdoc.push_str(&format!("\n\nEngine default: `{d}`."));
                }
                if let Some(s) = &p.since {
                    bdoc.push_str(&format!("\n\nAvailable since engine {s}."));
                }
                bdoc.push_str(&format!("\n\nWire name: `{pname}`. Not sent unless set."));
                let bdoc = doc_attrs(&bdoc);
                let (arg, val) = if is_string {
                    (
                        quote!(value: impl ::std::convert::Into<::std::string::String>),
                        quote!(value.into()),
                    )
                } else {
                    (quote!(value: #ty), quote!(value))
                };
                builders.push(quote! {
                    #bdoc
                    pub fn #id(mut self, #arg) -> Self {
                        self.#id = ::std::option::Option::Some(#val);
                        self
                    }
                });
            }
        }

        let (output_ty, decode, output_item) = self.output(class, m)?;
        // The protocol facts, as the lowering decided them.
        let mut method_info = quote!(::qix_runtime::MethodInfo::new(#wire_method));
        if let Some(out) = &m.protocol.delta {
            method_info = quote!(#method_info.delta(#out));
        }
        if m.protocol.opens.is_some() {
            method_info = quote!(#method_info.opens());
        }
        if m.protocol.read {
            method_info = quote!(#method_info.read());
        }
        let p_binding = if m.params.is_empty() {
            quote!(p)
        } else {
            quote!(mut p)
        };
        let since_arg = match &m.facts.since {
            Some(s) => quote!(, #s),
            None => quote!(),
        };
        let builder_impl = if builders.is_empty() {
            quote!()
        } else {
            quote!(impl #req { #(#builders)* })
        };
        let req_doc = format!(
            " A call of [`{}::{}`] (`{full}`), not yet sent: set optional params with its methods, then `.await` it.",
            class.name,
            names::bare(&m.rust_name)
        );
        let method = quote! {
            #fn_doc
            #dep
            pub fn #fn_name(&self, #(#fn_args),*) -> #req {
                #req {
                    object: self.object.clone(),
                    #(#field_inits)*
                    call_options: ::std::default::Default::default(),
                }
            }
        };
        let secret_fields = crate::secrets::request_fields(&m.params, ident);
        let secret_debug = crate::secrets::debug_impl(&req, &secret_fields);
        let derive = match secret_debug {
            Some(_) => quote!(#[derive(Clone)]),
            None => quote!(#[derive(Debug, Clone)]),
        };
        let item = quote! {
            #[doc = #req_doc]
            #derive
            #[must_use = "a request does nothing until it is awaited"]
            pub struct #req {
                object: ::qix_runtime::Object,
                #(#field_decls)*
                call_options: ::qix_runtime::CallOptions,
            }

            ::qix_runtime::__request!(#req, #wire_method #since_arg);

            #builder_impl

            impl ::std::future::IntoFuture for #req {
                type Output = ::qix_runtime::Result<#output_ty>;
                type IntoFuture = ::qix_runtime::CallFuture<#output_ty>;
                fn into_future(self) -> Self::IntoFuture {
                    let #p_binding = ::qix_runtime::__private::Params::new();
                    #(#writes)*
                    self.object.call(#method_info, p, self.call_options, #decode)
                }
            }

            #secret_debug

            #output_item
        };
        Ok((method, item))
    }

    /// The output type of a method, the decoder (a closure that coerces to a fn pointer),
    /// and any output struct it needs.
    fn output(
        &self,
        class: &Class,
        m: &MethodDef,
    ) -> Result<(TokenStream, TokenStream, TokenStream), EmitError> {
        let full = m.full_name();
        match m.results.as_slice() {
            [] => Ok((
                quote!(()),
                quote!(|_, _| ::std::result::Result::Ok(())),
                quote!(),
            )),
            [one] => {
                let name = &one.name;
                if let Some(c) = &one.object_class {
                    let cls = ident(c);
                    return Ok((
                        quote!(crate::#cls),
                        quote!(|s, raw| ::qix_runtime::__private::decode::object(s, raw, #name, #full).map(crate::#cls::from_object)),
                        quote!(),
                    ));
                }
                let ty = self.rust_type(&one.ty);
                // Delta methods (the lowering decided which) decode the patched value when
                // the answer was a delta.
                let (out_fn, ctx, ctx_arg) = if m.protocol.delta.is_some() {
                    (quote!(delta_out), quote!(ctx), quote!(ctx,))
                } else {
                    (quote!(out), quote!(_), quote!())
                };
                let decode = match self.wire(&one.ty, || full.clone())? {
                    Wire::Num => {
                        quote!(|#ctx, raw| ::qix_runtime::__private::decode::#out_fn::<::qix_runtime::__private::de::Num>(#ctx_arg raw, #name, #full).map(|v| v.0))
                    }
                    Wire::Nums => {
                        quote!(|#ctx, raw| ::qix_runtime::__private::decode::#out_fn::<::qix_runtime::__private::de::Nums>(#ctx_arg raw, #name, #full).map(|v| v.0))
                    }
                    Wire::Plain => {
                        quote!(|#ctx, raw| ::qix_runtime::__private::decode::#out_fn::<#ty>(#ctx_arg raw, #name, #full))
                    }
                };
                Ok((ty, decode, quote!()))
            }
            many => {
                let out = ident(&names::output_name(&m.name));
                let raw_name = ident(&names::raw_output_name(&m.name));
                let session_arg = if many.iter().any(|o| o.object_class.is_some()) {
                    quote!(s)
                } else {
                    quote!(_s)
                };
                let mut raw_fields = Vec::new();
                let mut pub_fields = Vec::new();
                let mut convert = Vec::new();
                for o in many {
                    let id = ident(&o.rust_name);
                    let wire = &o.name;
                    let odoc = {
                        let mut d = o.doc.as_deref().map(docs::clean).unwrap_or_default();
                        if !d.is_empty() {
                            d.push_str("\n\n");
                        }
                        d.push_str(&format!("Wire name: `{wire}`."));
                        d
                    };
                    let odoc_attrs = doc_attrs(&odoc);
                    if let Some(c) = &o.object_class {
                        let cls = ident(c);
                        raw_fields.push(StructField {
                            wire: wire.clone(),
                            ident: id.clone(),
                            ty: quote!(
                                ::std::option::Option<::qix_runtime::__private::decode::ObjectRef>
                            ),
                            list: false,
                            doc: String::new(),
                            deprecated: quote!(),
                            secret: None,
                        });
                        pub_fields.push(quote! { #odoc_attrs pub #id: crate::#cls, });
                        convert.push(quote! {
                            #id: crate::#cls::from_object(::qix_runtime::__private::decode::into_object(s, raw.#id, #wire, #full)?),
                        });
                    } else {
                        let base = self.rust_type(&o.ty);
                        let list = self.is_list(&o.ty);
                        self.wire(&o.ty, || full.clone())?;
                        raw_fields.push(StructField {
                            wire: wire.clone(),
                            ident: id.clone(),
                            ty: if list {
                                base.clone()
                            } else {
                                quote!(::std::option::Option<#base>)
                            },
                            list,
                            doc: String::new(),
                            deprecated: quote!(),
                            secret: None,
                        });
                        pub_fields.push(quote! { #odoc_attrs pub #id: #base, });
                        if list {
                            convert.push(quote!(#id: raw.#id,));
                        } else {
                            convert.push(quote!(#id: raw.#id.unwrap_or_default(),));
                        }
                    }
                }
                let raw_struct = self.struct_tokens(
                    &raw_name,
                    &format!("{full} result"),
                    &raw_fields,
                    false,
                    quote!(#[doc(hidden)]),
                );
                let out_doc = format!(
                    " Everything [`{}::{}`] returns (`{full}`); an out-property the engine leaves out has its default value.",
                    class.name,
                    names::bare(&m.rust_name)
                );
                // Handles have no equality (two handles to one object are different
                // values), so only structs without one compare.
                let derives = if many.iter().any(|o| o.object_class.is_some()) {
                    quote!(#[derive(Debug, Clone)])
                } else {
                    quote!(#[derive(Debug, Clone, PartialEq)])
                };
                // `non_exhaustive`: a newer engine version may add out-properties.
                let item = quote! {
                    #[doc = #out_doc]
                    #derives
                    #[non_exhaustive]
                    pub struct #out {
                        #(#pub_fields)*
                        /// Out-properties this version of the API does not know.
                        pub extra: ::qix_runtime::Extra,
                    }

                    #raw_struct

                    impl #out {
                        fn from_raw(#session_arg: &::qix_runtime::DecodeContext<'_>, raw: #raw_name) -> ::qix_runtime::Result<Self> {
                            ::std::result::Result::Ok(Self {
                                #(#convert)*
                                extra: raw.extra,
                            })
                        }
                    }
                };
                let decode = quote!(|s, raw| #out::from_raw(s, ::qix_runtime::__private::decode::all::<#raw_name>(raw, #full)?));
                Ok((quote!(#out), decode, item))
            }
        }
    }
}
