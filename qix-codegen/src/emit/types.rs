//! `types.rs`: every component type (structs, enums, aliases) and the schema registry.

use super::*;

impl Cx<'_> {
    pub(super) fn types_rs(&self) -> Result<TokenStream, EmitError> {
        let mut items = Vec::new();
        for t in self.api.types.values() {
            items.push(match t {
                TypeDef::Struct(s) => self.struct_item(s)?,
                TypeDef::Enum(e) => self.enum_item(e),
                TypeDef::Alias(a) => self.alias_item(a),
            });
        }
        let registry = self.api.types.keys().map(|n| {
            let id = ident(&names::type_name(n));
            quote!((#n, <#id as ::schemars::JsonSchema>::json_schema(generator)),)
        });
        items.push(quote! {
            /// The JSON schema of every type, by spec name (inline, not as a `$ref`): for
            /// checking the generated types against the spec, or publishing them.
            #[cfg(feature = "schemars")]
            pub fn json_schemas(generator: &mut ::schemars::SchemaGenerator) -> ::std::vec::Vec<(&'static str, ::schemars::Schema)> {
                ::std::vec![#(#registry)*]
            }
        });
        Ok(quote! {
            //! Every component type of the engine API, by its spec name.
            //!
            //! Structs keep the properties they do not know in `extra` and write them back,
            //! so reading an object's properties and setting them again loses nothing. Every
            //! enum has an `Unknown` variant that keeps a value this version does not know.
            #![allow(deprecated)]
            #![allow(clippy::all)]
            #(#items)*
        })
    }

    fn alias_item(&self, a: &AliasDef) -> TokenStream {
        let name = ident(&names::type_name(&a.name));
        let target = self.rust_type(&a.target);
        let doc = doc_attrs(&self.item_doc(a.doc.as_deref(), &a.facts, "type"));
        let dep = self.deprecated_attr(&a.facts);
        quote! {
            #doc
            #dep
            pub type #name = #target;
        }
    }
    fn field_doc(&self, f: &FieldDef) -> String {
        let mut doc = self.item_doc(f.doc.as_deref(), &f.facts, "object");
        if let Some(d) = &f.default {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str(&format!("Engine default: `{d}`."));
        }
        doc
    }

    fn struct_item(&self, s: &StructDef) -> Result<TokenStream, EmitError> {
        let name = ident(&names::type_name(&s.name));
        let mut doc = self.item_doc(s.doc.as_deref(), &s.facts, "type");
        if !s.dynamic.is_empty() {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str("The engine adds one property per definition in the object's properties (a `qHyperCubeDef` gives a `qHyperCube`, …); the known ones are typed fields here.");
        }
        let dep = self.deprecated_attr(&s.facts);
        let fields: Vec<StructField> = s
            .fields
            .iter()
            .chain(&s.dynamic)
            .map(|f| {
                // Rejects the wire shapes the runtime cannot decode (nested number lists).
                self.wire(&f.ty, || format!("{}.{}", s.name, f.name))?;
                Ok(StructField {
                    wire: f.name.clone(),
                    ident: ident(&f.rust_name),
                    ty: self.field_type(f),
                    list: self.is_list(&f.ty),
                    doc: self.field_doc(f),
                    deprecated: self.deprecated_attr(&f.facts),
                    secret: f.secret,
                })
            })
            .collect::<Result<_, EmitError>>()?;
        let lists = fields.iter().filter(|f| f.list).count();
        if lists > 64 {
            return Err(EmitError::TooManyLists {
                item: s.name.clone(),
            });
        }
        let doc = doc_attrs(&doc);
        Ok(self.struct_tokens(&name, &s.name, &fields, true, quote!(#doc #dep)))
    }

    /// The type of a field in `types.rs`, by short names: the lowering reserves the
    /// prelude names the module uses ([`names::TYPES_MODULE_RESERVED`]).
    fn field_type(&self, f: &FieldDef) -> TokenStream {
        let base = self.local_type(&f.ty);
        if self.is_list(&f.ty) {
            base
        } else if f.boxed {
            quote!(Option<Box<#base>>)
        } else {
            quote!(Option<#base>)
        }
    }

    /// [`Self::rust_type`] as written inside `types.rs`.
    fn local_type(&self, ty: &TypeRef) -> TokenStream {
        match ty {
            TypeRef::String => quote!(String),
            TypeRef::Named(n) => {
                let id = ident(&names::type_name(n));
                quote!(#id)
            }
            TypeRef::Array(t) => {
                let inner = self.local_type(t);
                quote!(Vec<#inner>)
            }
            other => self.rust_type(other),
        }
    }

    /// A struct with the lossless `Deserialize`/`Serialize`, as an invocation of the
    /// runtime's `__struct!` (which expands them): `fields[i].ty` is the full field type
    /// (`Option<T>` or `Vec<T>`). `outer`: docs and attributes of the struct.
    pub(super) fn struct_tokens(
        &self,
        name: &Ident,
        spec_name: &str,
        fields: &[StructField],
        public: bool,
        outer: TokenStream,
    ) -> TokenStream {
        // Public structs travel both ways; the private raw results are only decoded.
        let vis = if public {
            quote!(pub)
        } else {
            quote!(pub(crate))
        };
        let mut list_index = 0u32;
        let decls = fields.iter().map(|f| {
            let StructField {
                wire,
                ident,
                ty,
                doc,
                deprecated,
                ..
            } = f;
            let wire_attr = if f.list {
                let bit = proc_macro2::Literal::u32_unsuffixed(list_index);
                list_index += 1;
                quote!(#[wire(#wire, #bit)])
            } else {
                quote!(#[wire(#wire)])
            };
            let docs = doc_attrs(doc);
            quote! {
                #wire_attr
                #docs
                #deprecated
                #vis #ident: #ty,
            }
        });
        let mut secret_fields: Vec<_> =
            fields.iter().map(|f| (f.ident.clone(), f.secret)).collect();
        secret_fields.push((ident(names::EXTRA_FIELD), None));
        let secret_debug = crate::secrets::debug_impl(name, &secret_fields);
        let derive = match secret_debug {
            Some(_) => quote!(),
            None => quote!(#[derive(Debug)]),
        };
        quote! {
            #[__qix_struct]
            #[wire(#spec_name)]
            #outer
            #derive
            #vis struct #name {
                #(#decls)*
            }

            #secret_debug
        }
    }

    /// An enum, as an invocation of the runtime's `__enum!` (which expands its wire forms,
    /// serde impls and `Unknown` variant).
    fn enum_item(&self, e: &EnumDef) -> TokenStream {
        let name = ident(&names::type_name(&e.name));
        let doc = doc_attrs(&self.item_doc(e.doc.as_deref(), &e.facts, "type"));
        let dep = self.deprecated_attr(&e.facts);
        let variants = e.values.iter().map(|v| {
            let id = ident(&v.rust_name);
            let t = &v.title;
            let wire = match &v.long_name {
                Some(l) => quote!(#[wire(#t, #l)]),
                None => quote!(#[wire(#t)]),
            };
            let since = match &v.since {
                Some(since) => doc_attrs(&format!("\nAvailable since engine {since}.")),
                None => quote!(),
            };
            quote! { #wire #since #id, }
        });
        let spec_name = &e.name;
        quote! {
            #[__qix_enum]
            #[wire(#spec_name)]
            #doc
            #dep
            pub enum #name {
                #(#variants)*
            }
        }
    }
}
