//! `errors.rs`: the engine's error codes and their table.

use super::*;

impl Cx<'_> {
    pub(super) fn errors_rs(&self) -> Vec<Piece> {
        let variants = self.api.errors.iter().map(|e| {
            let id = ident(&e.rust_name);
            let mut d = format!("`{}` ({})", e.name, e.code);
            if let Some(m) = &e.message {
                d.push_str(&format!(": {}", docs::clean(m)));
            }
            if let Some(s) = &e.since {
                d.push_str(&format!(". Available since engine {s}."));
            }
            let d = doc_attrs(&d);
            quote!(#d #id,)
        });
        // One table, sorted by code so that `from_code` is a binary search (the lowering
        // made the codes unique and 32-bit).
        let mut sorted: Vec<&ErrorCodeDef> = self.api.errors.iter().collect();
        sorted.sort_by_key(|e| e.code as i32);
        let rows = sorted
            .iter()
            .map(|e| {
                format!(
                    "Row(ErrorCode::{}, {}, {}, {})",
                    ident(&e.rust_name),
                    e.code as i32,
                    format::str_lit(&e.name),
                    format::str_lit(e.message.as_deref().unwrap_or_default())
                )
            })
            .collect();
        let table = Table {
            doc: vec![" Every code the spec lists, by number.".into()],
            decl: "static CODES: &[Row]".into(),
            rows,
        };
        let head = quote! {
            //! The engine's error codes (`components.errors` of the spec).
            use qix_runtime::Error;

            /// An engine error code. Match on this, not on messages: the engine's texts differ
            /// from the spec's. A code this version does not know is kept in `Unknown`.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            #[non_exhaustive]
            pub enum ErrorCode {
                #(#variants)*
                /// A code this version of the API does not know.
                Unknown(i32),
            }

            /// A code the spec lists: variant, number, spec name, spec message.
            struct Row(ErrorCode, i32, &'static str, &'static str);
        };
        let tail = quote! {
            impl ErrorCode {
                /// This code's row of [`CODES`]; a linear search, as errors are rare and
                /// the table is a few hundred rows.
                fn entry(self) -> ::std::option::Option<&'static Row> {
                    CODES.iter().find(|e| e.0 == self)
                }

                /// The numeric code sent by the engine.
                pub fn code(self) -> i32 {
                    match self {
                        Self::Unknown(c) => c,
                        known => known.entry().map_or(0, |e| e.1),
                    }
                }

                /// The code for a number; never fails.
                pub fn from_code(code: i32) -> Self {
                    match CODES.binary_search_by_key(&code, |e| e.1) {
                        ::std::result::Result::Ok(i) => CODES[i].0,
                        ::std::result::Result::Err(_) => Self::Unknown(code),
                    }
                }

                /// The spec's name (`LOCERR_GENERIC_NOT_FOUND`), or `""` for an unknown code.
                pub fn name(self) -> &'static str {
                    self.entry().map_or("", |e| e.2)
                }

                /// The spec's message for the code (the engine may send another text).
                pub fn spec_message(self) -> &'static str {
                    self.entry().map_or("", |e| e.3)
                }
            }

            impl ::std::convert::From<i32> for ErrorCode {
                fn from(code: i32) -> Self {
                    Self::from_code(code)
                }
            }

            impl ::std::fmt::Display for ErrorCode {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match self {
                        Self::Unknown(c) => write!(f, "unknown engine error code {c}"),
                        known => write!(f, "{} ({})", known.name(), known.code()),
                    }
                }
            }

            /// Typed error codes for [`qix_runtime::Error`].
            pub trait ErrorCodeExt {
                /// The engine's error code, when the error is an engine error.
                fn error_code(&self) -> ::std::option::Option<ErrorCode>;
            }

            impl ErrorCodeExt for Error {
                fn error_code(&self) -> ::std::option::Option<ErrorCode> {
                    self.engine_code().map(ErrorCode::from_code)
                }
            }
        };
        vec![Piece::Items(head), Piece::Table(table), Piece::Items(tail)]
    }
}
