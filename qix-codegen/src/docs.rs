//! Turns the spec's descriptions (markdown with HTML) into rustdoc text that renders
//! cleanly and never compiles as a doctest.

/// Cleans a spec description for use as a doc comment.
pub fn clean(text: &str) -> String {
    let text = replace_html(text);
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            // A fenced block in a description is an example, not Rust: never a doctest.
            if in_fence {
                out.push("```".to_string());
            } else {
                out.push("```text".to_string());
            }
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.push(trimmed.to_string());
            continue;
        }
        // Four spaces of indentation would start an (untested, but compiled) code block.
        let indent = trimmed.len() - trimmed.trim_start().len();
        let body = trimmed.trim_start();
        let kept = indent.min(2);
        out.push(format!(
            "{}{}",
            " ".repeat(kept),
            escape_brackets(&unlink(body))
        ));
    }
    if in_fence {
        out.push("```".to_string());
    }
    // Collapse runs of blank lines and trim both ends.
    let mut result: Vec<String> = Vec::new();
    for line in out {
        if line.is_empty() && result.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        result.push(line);
    }
    while result.last().is_some_and(|l| l.is_empty()) {
        result.pop();
    }
    result.join("\n")
}

/// HTML the spec uses, as markdown.
fn replace_html(text: &str) -> String {
    let mut s = text.replace("\r\n", "\n");
    for (from, to) in [
        ("<div class=note>", "\n\n**Note:** "),
        ("<div class=\"note\">", "\n\n**Note:** "),
        ("</div>", "\n\n"),
        ("<br>", "\n"),
        ("<br/>", "\n"),
        ("<br />", "\n"),
        ("<i>", "*"),
        ("</i>", "*"),
        ("<em>", "*"),
        ("</em>", "*"),
        ("<b>", "**"),
        ("</b>", "**"),
        ("<strong>", "**"),
        ("</strong>", "**"),
        ("<table>", "\n"),
        ("</table>", "\n"),
        ("<tr>", ""),
        ("</tr>", "\n"),
        ("<th>", "| "),
        ("</th>", " "),
        ("<td>", "| "),
        ("</td>", " "),
        ("<ul>", "\n"),
        ("</ul>", "\n"),
        ("<li>", "* "),
        ("</li>", "\n"),
        ("<p>", "\n"),
        ("</p>", "\n"),
        ("<code>", "`"),
        ("</code>", "`"),
    ] {
        s = s.replace(from, to);
    }
    // Any other tag-like `<word>` would be read as HTML by rustdoc: show it as text.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        out.push_str("&lt;");
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.replace("&amp;lt;", "&lt;").replace("&amp;gt;", "&gt;")
}

/// Links to the engine's help pages (`[text](#csh-…)`) do not resolve here: keep the text.
fn unlink(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('[') {
        let Some(mid) = rest[start..].find("](") else {
            break;
        };
        let mid = start + mid;
        let Some(end) = rest[mid..].find(')') else {
            break;
        };
        let end = mid + end;
        let target = &rest[mid + 2..end];
        out.push_str(&rest[..start]);
        if target.starts_with("http://") || target.starts_with("https://") {
            out.push_str(&rest[start..=end]);
        } else {
            out.push_str(&rest[start + 1..mid]);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `[x]` outside links would be read as an intra-doc link.
fn escape_brackets(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == '[' {
            // Keep real markdown links `[text](http…)`.
            let rest: String = bytes[i..].iter().collect();
            if let Some(close) = rest.find("](http") {
                if let Some(paren) = rest[close..].find(')') {
                    out.push_str(&rest[..close + paren + 1]);
                    i += rest[..close + paren + 1].chars().count();
                    continue;
                }
            }
            out.push_str("\\[");
        } else if c == ']' {
            out.push_str("\\]");
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn html_and_links_become_markdown() {
        let got = clean(
            "Reloads.\n<div class=note>Only in <i>desktop</i>.</div>\nSee [Get values](#csh-get-values).",
        );
        assert_eq!(
            got,
            "Reloads.\n\n**Note:** Only in *desktop*.\n\nSee Get values."
        );
    }

    #[test]
    fn indented_text_is_not_a_code_block() {
        let got = clean("Example:\n\n        let x = 1;\n```\ncode\n```");
        assert_eq!(got, "Example:\n\n  let x = 1;\n```text\ncode\n```");
    }

    #[test]
    fn brackets_and_angles_are_escaped() {
        assert_eq!(clean("Use [a] and <x>"), "Use \\[a\\] and &lt;x>");
    }
}
