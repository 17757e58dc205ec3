//! Pieces of a generated file → formatted text. prettyplease formats items; what it lays
//! out badly is formatted here piece by piece, never by editing formatted text:
//!
//! - a struct or enum marked `#[__qix_struct]`/`#[__qix_enum]` becomes an invocation of
//!   the runtime's macro (which expands its serde impls). prettyplease leaves macro bodies
//!   unformatted, so the item is formatted on its own, as a plain item, and indented into
//!   the invocation;
//! - a [`Table`] (the error codes, the method catalog) is written one row per line, which
//!   reads better and is a fraction of the length of prettyplease's one value per line.
//!
//! prettyplease separates top-level items by a line break only, so formatting runs of
//! items separately gives the text formatting them together would.

use proc_macro2::TokenStream;

use super::EmitError;

/// Part of a generated file, in order.
pub(super) enum Piece {
    /// Items (the first piece of a file may start with inner attributes and `//!` docs).
    Items(TokenStream),
    /// A static table, one row per line.
    Table(Table),
}

/// `#[doc] {decl} = &[ rows ];`, a row per line.
pub(super) struct Table {
    /// The doc comment, one line per entry (without `///`).
    pub doc: Vec<String>,
    /// The declaration before ` = &[` (`pub static METHODS: &[MethodInfo]`).
    pub decl: String,
    /// Each row's expression, without the trailing comma.
    pub rows: Vec<String>,
}

/// The macro a marker attribute asks for.
const MARKERS: [(&str, &str); 2] = [("__qix_struct", "__struct"), ("__qix_enum", "__enum")];

/// Formats the pieces of the file `path`.
pub(super) fn render(path: &str, pieces: Vec<Piece>) -> Result<String, EmitError> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Items(tokens) => {
                let file: syn::File = syn::parse2(tokens).map_err(|source| EmitError::Tokens {
                    path: path.to_string(),
                    source,
                })?;
                render_items(file, &mut out);
            }
            Piece::Table(t) => render_table(&t, &mut out),
        }
    }
    Ok(out)
}

/// Runs of plain items go to prettyplease together; each marked item alone, wrapped.
fn render_items(file: syn::File, out: &mut String) {
    let mut run = syn::File {
        shebang: None,
        attrs: file.attrs,
        items: Vec::new(),
    };
    for mut item in file.items {
        match take_marker(&mut item) {
            None => run.items.push(item),
            Some(mac) => {
                flush(&mut run, out);
                let alone = syn::File {
                    shebang: None,
                    attrs: Vec::new(),
                    items: vec![item],
                };
                out.push_str("::qix_runtime::");
                out.push_str(mac);
                out.push_str("! {\n");
                for line in prettyplease::unparse(&alone).lines() {
                    if !line.is_empty() {
                        out.push_str("    ");
                    }
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("}\n");
            }
        }
    }
    flush(&mut run, out);
}

fn flush(run: &mut syn::File, out: &mut String) {
    if run.attrs.is_empty() && run.items.is_empty() {
        return;
    }
    out.push_str(&prettyplease::unparse(run));
    run.attrs.clear();
    run.items.clear();
}

/// Removes the marker attribute of a struct or enum and names the macro it asks for.
fn take_marker(item: &mut syn::Item) -> Option<&'static str> {
    let attrs = match item {
        syn::Item::Struct(s) => &mut s.attrs,
        syn::Item::Enum(e) => &mut e.attrs,
        _ => return None,
    };
    let (i, mac) = attrs.iter().enumerate().find_map(|(i, a)| {
        MARKERS
            .iter()
            .find(|(marker, _)| a.path().is_ident(marker))
            .map(|(_, mac)| (i, *mac))
    })?;
    attrs.remove(i);
    Some(mac)
}

fn render_table(t: &Table, out: &mut String) {
    for line in &t.doc {
        out.push_str("///");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&t.decl);
    if t.rows.is_empty() {
        out.push_str(" = &[];\n");
        return;
    }
    out.push_str(" = &[\n");
    for row in &t.rows {
        out.push_str("    ");
        out.push_str(row);
        out.push_str(",\n");
    }
    out.push_str("];\n");
}

/// A string literal as Rust source, escaped as `quote` and prettyplease write it.
pub(super) fn str_lit(s: &str) -> String {
    proc_macro2::Literal::string(s).to_string()
}

/// `&["a", "b"]`.
pub(super) fn str_list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| str_lit(s.as_ref())).collect();
    format!("&[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    #[test]
    fn marked_items_become_macro_invocations() {
        let tokens = quote! {
            use x;
            #[__qix_struct]
            #[wire("A")]
            pub struct A {
                #[wire("qB")]
                pub b: Option<i32>,
            }
            impl A {}
            #[__qix_enum]
            pub enum E { X }
            fn f() {}
        };
        assert_eq!(
            render("t.rs", vec![Piece::Items(tokens)]).unwrap(),
            "use x;\n::qix_runtime::__struct! {\n    #[wire(\"A\")]\n    pub struct A {\n        #[wire(\"qB\")]\n        pub b: Option<i32>,\n    }\n}\nimpl A {}\n::qix_runtime::__enum! {\n    pub enum E {\n        X,\n    }\n}\nfn f() {}\n"
        );
    }

    #[test]
    fn table_rows_are_one_line_each() {
        let table = Table {
            doc: vec![" Rows.".into()],
            decl: "static T: &[Row]".into(),
            rows: vec![
                format!("Row(A, -1, {})", str_lit("n\"")),
                format!("M {{ params: {} }}", str_list(["a", "b"])),
            ],
        };
        let empty = Table {
            doc: Vec::new(),
            decl: "static E: &[Row]".into(),
            rows: Vec::new(),
        };
        assert_eq!(
            render(
                "t.rs",
                vec![
                    Piece::Items(quote!(
                        struct Row;
                    )),
                    Piece::Table(table),
                    Piece::Table(empty)
                ]
            )
            .unwrap(),
            "struct Row;\n/// Rows.\nstatic T: &[Row] = &[\n    Row(A, -1, \"n\\\"\"),\n    M { params: &[\"a\", \"b\"] },\n];\nstatic E: &[Row] = &[];\n"
        );
    }
}
