//! `qix eval`: one expression (`Doc.EvaluateEx`), or measures by dimensions through a
//! session hypercube — `eval "Sum(Sales), Count(Id) by Region, Year"`, or corectl's
//! `eval "Sum(Sales)" "Count(Id)" by Region Year` — printed as a table of every row.

use futures_util::TryStreamExt;
use qix_generated::helpers::paging::{PageShape, data_pages};
use qix_generated::prelude::*;
use qix_generated::types::{
    GenericObjectProperties, HyperCubeDef, NxDimension, NxInlineDimensionDef, NxInlineMeasureDef,
    NxMeasure,
};

use crate::commands::list_props;
use crate::output::opt;
use crate::{CliResult, ConnectOpts, Failure};

/// Splits at commas outside parentheses, brackets and quotes (`If(a, b), c` is two).
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    let mut cur = String::new();
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The byte offset of a top-level `by` word that follows whitespace (outside parentheses,
/// brackets and quotes).
fn find_by(s: &str) -> Option<usize> {
    let (mut depth, mut quote) = (0i32, None::<char>);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, c) if c.is_whitespace() && depth == 0 => {
                let at = i + c.len_utf8();
                let rest = &s[at..];
                let word = rest.get(..2).is_some_and(|w| w.eq_ignore_ascii_case("by"));
                if word && rest[2..].chars().next().is_none_or(char::is_whitespace) {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// Measures and dimensions of the command line.
pub fn parse(args: &[String]) -> (Vec<String>, Vec<String>) {
    // corectl's form: `by` as an argument of its own.
    if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case("by")) {
        let measures = args[..at].iter().flat_map(|a| split_top(a)).collect();
        let dims = args[at + 1..].iter().flat_map(|a| split_top(a)).collect();
        return (measures, dims);
    }
    let joined = args.join(" ");
    let lead = if joined
        .get(..3)
        .is_some_and(|w| w.eq_ignore_ascii_case("by "))
    {
        Some(0)
    } else {
        find_by(&joined)
    };
    match lead {
        Some(i) => (split_top(&joined[..i]), split_top(&joined[i + 2..])),
        None => (args.iter().flat_map(|a| split_top(a)).collect(), Vec::new()),
    }
}

pub async fn run(doc: &Doc, args: &[String], opts: &ConnectOpts) -> CliResult {
    let (measures, dims) = parse(args);
    if dims.is_empty() && measures.len() == 1 {
        return crate::commands::eval(doc, &measures[0], opts).await;
    }
    if dims.is_empty() && measures.is_empty() {
        return Err(Failure("eval: no expression".into()));
    }
    let props = GenericObjectProperties {
        hyper_cube_def: Some(HyperCubeDef {
            dimensions: dims
                .iter()
                .map(|d| NxDimension {
                    def: Some(NxInlineDimensionDef {
                        field_defs: vec![d.clone()],
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            measures: measures
                .iter()
                .map(|m| NxMeasure {
                    def: Some(NxInlineMeasureDef {
                        def: Some(m.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..list_props("qix-eval")
    };
    let object = doc.create_session_object(props).await?;
    let cube = object
        .get_layout()
        .await?
        .hyper_cube
        .ok_or_else(|| Failure("eval: the engine answered without a hypercube".into()))?;
    if let Some(e) = &cube.error {
        return Err(Failure(format!(
            "eval: the engine could not compute it (error {})",
            opt(&e.error_code)
        )));
    }
    let size = cube.size.clone().unwrap_or_default();
    let mut header = dims.clone();
    header.extend(measures.iter().cloned());
    let width = i32::try_from(header.len()).unwrap_or(i32::MAX);
    let pages: Vec<_> = data_pages(
        &object,
        "/qHyperCubeDef",
        &size,
        PageShape::full_width(width),
    )
    .try_collect()
    .await?;
    let rows = pages
        .into_iter()
        .flat_map(|p| p.matrix)
        .map(|row| row.into_iter().map(|c| opt(&c.text)).collect())
        .collect();
    crate::entities::table_or_json(&header, rows, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> (Vec<String>, Vec<String>) {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn measures_by_dimensions_in_both_forms() {
        let want = (
            vec!["Sum(Sales)".to_string(), "Count(Id)".to_string()],
            vec!["Region".to_string(), "Year".to_string()],
        );
        assert_eq!(p(&["Sum(Sales), Count(Id) by Region, Year"]), want);
        assert_eq!(
            p(&["Sum(Sales)", "Count(Id)", "by", "Region", "Year"]),
            want
        );
        assert_eq!(p(&["Sum(Sales)", "Count(Id)", "BY", "Region,Year"]), want);
        assert_eq!(p(&["by Region"]), (vec![], vec!["Region".to_string()]));
        assert_eq!(p(&["1+1"]), (vec!["1+1".to_string()], vec![]));
        // `by` inside a string or a function is part of the expression.
        assert_eq!(
            p(&["Count({<Note={'paid by card'}>} Id)"]),
            (
                vec!["Count({<Note={'paid by card'}>} Id)".to_string()],
                vec![]
            )
        );
        // Any whitespace, any case; not a word that starts with "by".
        assert_eq!(
            p(&["Sum(x)\u{3000}BY\tRegion"]),
            (vec!["Sum(x)".to_string()], vec!["Region".to_string()])
        );
        assert_eq!(
            p(&["Sum(x) bytes"]),
            (vec!["Sum(x) bytes".to_string()], vec![])
        );
        assert_eq!(
            p(&["If(a, b, c) by Region"]),
            (vec!["If(a, b, c)".to_string()], vec!["Region".to_string()])
        );
    }
}
