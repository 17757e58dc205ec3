//! The secret list: params and properties that carry credentials, kept by hand in
//! `schemas/secrets.json` (the spec has no secret flag). The lowering marks the params and
//! properties it names ([`ParamDef::secret`], [`FieldDef::secret`](crate::ir::FieldDef));
//! the emitter writes `Debug` impls that redact them and the list as data
//! (`catalog::SECRETS`) for the runtime.

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use serde::Deserialize;

use crate::ir::{Api, ParamDef, TypeDef, TypeRef};

/// The project's own list, built in so the binary works on its own: a copy of
/// `schemas/secrets.json` inside the crate (so it packages), which `cargo xtask
/// regenerate` writes and `cargo xtask check` keeps equal.
pub const BUILTIN: &str = include_str!("../builtin/secrets.json");

/// How a secret is redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Redact {
    /// The whole value.
    Value,
    /// The credentials inside a connection string.
    ConnectionString,
    /// The credentials of the `CONNECT` statements of a load script.
    Script,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretParam {
    /// `Class.Method`.
    pub method: String,
    pub param: String,
    pub redact: Redact,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretProperty {
    #[serde(rename = "type")]
    pub type_name: String,
    pub property: String,
    pub redact: Redact,
}

/// A secret list that does not parse, or that marks something other than a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// Not a secret list: the JSON path and serde's message.
    #[error("{origin}: not a secret list at `{path}`: {message}")]
    Parse {
        origin: String,
        path: String,
        message: String,
    },
    /// A marked param or property is not a string (the runtime's redaction and the
    /// `Debug` impls handle strings).
    #[error("schemas/secrets.json: {item} is a {ty}, but secrets must be strings")]
    NotAString { item: String, ty: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Secrets {
    #[serde(default)]
    pub params: Vec<SecretParam>,
    #[serde(default)]
    pub properties: Vec<SecretProperty>,
}

impl Secrets {
    pub fn parse(text: &str, origin: &str) -> Result<Secrets, SecretsError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| SecretsError::Parse {
            origin: origin.to_string(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Reads a secret list from a file.
    pub fn load(path: &std::path::Path) -> crate::Result<Secrets> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Secrets::parse(&text, &path.display().to_string())?)
    }

    pub fn builtin() -> Secrets {
        Secrets::parse(BUILTIN, "schemas/secrets.json")
            .unwrap_or_else(|e| panic!("the built-in secret list is broken: {e}"))
    }

    pub fn param(&self, method: &str, param: &str) -> Option<Redact> {
        self.params
            .iter()
            .find(|p| p.method == method && p.param == param)
            .map(|p| p.redact)
    }

    pub fn property(&self, type_name: &str, property: &str) -> Option<Redact> {
        self.properties
            .iter()
            .find(|p| p.type_name == type_name && p.property == property)
            .map(|p| p.redact)
    }

    /// Entries the API does not have (the list names something this spec lacks).
    pub fn missing(&self, api: &Api) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.params {
            let found = api.classes.iter().any(|c| {
                c.methods.iter().any(|m| {
                    m.full_name() == s.method && m.params.iter().any(|p| p.name == s.param)
                })
            });
            if !found {
                out.push(format!("params: {}({})", s.method, s.param));
            }
        }
        for s in &self.properties {
            let found = matches!(api.types.get(&s.type_name), Some(TypeDef::Struct(t))
                if t.fields.iter().chain(&t.dynamic).any(|f| f.name == s.property));
            if !found {
                out.push(format!("properties: {}.{}", s.type_name, s.property));
            }
        }
        out
    }
}

/// Secrets must be strings (what the runtime's redaction and the `Debug` impls handle):
/// checked on the lowered API, whose params and properties know whether they are secret.
pub fn check(api: &Api) -> Result<(), SecretsError> {
    for c in &api.classes {
        for m in &c.methods {
            for p in &m.params {
                if p.secret.is_some() && p.ty != TypeRef::String {
                    return Err(SecretsError::NotAString {
                        item: format!("{}({})", m.full_name(), p.name),
                        ty: p.ty.describe(),
                    });
                }
            }
        }
    }
    for (name, t) in &api.types {
        if let TypeDef::Struct(s) = t {
            for f in s.fields.iter().chain(&s.dynamic) {
                if f.secret.is_some() && f.ty != TypeRef::String {
                    return Err(SecretsError::NotAString {
                        item: format!("{name}.{}", f.name),
                        ty: f.ty.describe(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn kind_tokens(r: Redact) -> TokenStream {
    match r {
        Redact::Value => quote!(::qix_runtime::redact::SecretKind::Value),
        Redact::ConnectionString => quote!(::qix_runtime::redact::SecretKind::ConnectionString),
        Redact::Script => quote!(::qix_runtime::redact::SecretKind::Script),
    }
}

/// A `Debug` impl printing every field, secret ones redacted. `fields` are (Rust field,
/// how it is redacted); `None` when no field is secret (the type derives `Debug`).
pub(crate) fn debug_impl(name: &Ident, fields: &[(Ident, Option<Redact>)]) -> Option<TokenStream> {
    if fields.iter().all(|(_, r)| r.is_none()) {
        return None;
    }
    let label = name.to_string();
    let entries = fields.iter().map(|(id, r)| {
        let field = id.to_string();
        let field = field.strip_prefix("r#").unwrap_or(&field).to_string();
        match r {
            Some(r) => {
                let kind = kind_tokens(*r);
                quote!(.field(#field, &::qix_runtime::redact::Redacted(&self.#id, #kind)))
            }
            None => quote!(.field(#field, &self.#id)),
        }
    });
    Some(quote! {
        /// Secret fields (see `schemas/secrets.json`) print as `<redacted>`.
        impl ::std::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#label)
                    #(#entries)*
                    .finish()
            }
        }
    })
}

/// The list as a `Secrets` value of the runtime's `redact` module at `redact` (a path:
/// `::qix_runtime::redact` from a generated crate, `crate::redact` inside the runtime), with
/// the positions of the params. Only the entries this API has.
pub(crate) fn secrets_value(api: &Api, redact: &TokenStream) -> TokenStream {
    let kind = |r: Redact| {
        let variant = match r {
            Redact::Value => quote!(Value),
            Redact::ConnectionString => quote!(ConnectionString),
            Redact::Script => quote!(Script),
        };
        quote!(#redact::SecretKind::#variant)
    };
    let mut params = Vec::new();
    for c in &api.classes {
        for m in &c.methods {
            let full = m.full_name();
            for p in &m.params {
                if let Some(r) = p.secret {
                    let (name, pos, kind) = (&p.name, p.position, kind(r));
                    params.push(quote! {
                        #redact::SecretParam { method: #full, param: #name, position: #pos, kind: #kind },
                    });
                }
            }
        }
    }
    let mut properties = Vec::new();
    for (name, t) in &api.types {
        if let TypeDef::Struct(s) = t {
            for f in s.fields.iter().chain(&s.dynamic) {
                if let Some(r) = f.secret {
                    let (prop, kind) = (&f.name, kind(r));
                    properties.push(quote! {
                        #redact::SecretProperty { type_name: #name, property: #prop, kind: #kind },
                    });
                }
            }
        }
    }
    quote! {
        #redact::Secrets {
            params: &[#(#params)*],
            properties: &[#(#properties)*],
        }
    }
}

/// The list as data for the runtime, with positions: `catalog::SECRETS`. Only the entries
/// this API has.
pub(crate) fn catalog_item(api: &Api) -> TokenStream {
    let value = secrets_value(api, &quote!(::qix_runtime::redact));
    quote! {
        /// Params and properties that carry secrets (`schemas/secrets.json`), with the
        /// positions of the params: what `Debug` of requests and types redacts, as data.
        /// The runtime redacts frames with `qix_runtime::redact::BUILTIN`, generated from
        /// the same list and the pinned spec.
        pub static SECRETS: ::qix_runtime::redact::Secrets = #value;
    }
}

/// Request fields with how each is redacted: the handle and call options never are.
pub(crate) fn request_fields(
    params: &[ParamDef],
    ident: impl Fn(&str) -> Ident,
) -> Vec<(Ident, Option<Redact>)> {
    let mut out = vec![(ident("object"), None)];
    out.extend(params.iter().map(|p| (ident(&p.rust_name), p.secret)));
    out.push((ident("call_options"), None));
    out
}
