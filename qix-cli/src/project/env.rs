//! `${VAR}` in project files, replaced from the environment.

use crate::{CliResult, Failure};

/// `text` with every `${NAME}` replaced by the environment's value. A `${` not followed
/// by a name and `}` is kept as written. `what` names the value in the error (file, line
/// and key) when a variable is not set.
pub fn substitute(text: &str, what: impl Fn(&str) -> String) -> CliResult<String> {
    substitute_with(text, |name| std::env::var(name).ok(), what)
}

pub fn substitute_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    what: impl Fn(&str) -> String,
) -> CliResult<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if is_name(&after[..end]) => {
                let name = &after[..end];
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        return Err(Failure(format!(
                            "{}: environment variable {name} is not set",
                            what(name)
                        )));
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The 1-based line of `text` where `${name}` first appears (for error messages).
pub fn line_of(text: &str, name: &str) -> Option<usize> {
    let needle = format!("${{{name}}}");
    text.lines()
        .position(|l| l.contains(&needle))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str) -> CliResult<String> {
        substitute_with(
            text,
            |n| (n == "HOST").then(|| "db.example".to_string()),
            |n| format!("key ({n})"),
        )
    }

    #[test]
    fn replaces_whole_and_embedded_variables() {
        assert_eq!(sub("${HOST}").unwrap(), "db.example");
        assert_eq!(
            sub("host=${HOST};port=1").unwrap(),
            "host=db.example;port=1"
        );
        assert_eq!(sub("no vars").unwrap(), "no vars");
        // Not a variable: kept as written.
        assert_eq!(sub("a ${ b} ${1x} ${").unwrap(), "a ${ b} ${1x} ${");
    }

    #[test]
    fn an_unset_variable_is_named() {
        let e = sub("x ${NOPE_NOT_SET} y").unwrap_err();
        assert_eq!(
            e.0,
            "key (NOPE_NOT_SET): environment variable NOPE_NOT_SET is not set"
        );
    }

    #[test]
    fn finds_the_line() {
        assert_eq!(line_of("a: 1\nb: ${X}\n", "X"), Some(2));
        assert_eq!(line_of("a: 1\n", "X"), None);
    }
}
