//! Engine version names (`12.2528.0`): the one comparison shared by the generator (ordering
//! the spec history, picking since-versions) and the runtime (`qix_runtime::supports`, which
//! compares a live engine's version with a request's `SINCE`).
//!
//! Its one home is this file. The runtime gets it as generated output: `cargo xtask
//! regenerate` writes a copy to `qix-runtime/src/api_tables/version_order.rs`, and the drift
//! check fails when the two differ. So the generator does not depend on the runtime (tokio,
//! rustls), nor the runtime on the generator (syn), each crate packages on its own (no file
//! compiled into two crates by `#[path]`), and the workspace keeps its crates.
//!
//! Not `semver`: the names are not always semantic versions. Two-part names (`12.2528`) must
//! order before their `.0` extension, an engine may report a name with surrounding
//! whitespace, and parts may carry text (`12.x`, a pre-release tag); `semver` rejects all of
//! these, where this comparison still gives a total, stable order.

use std::cmp::Ordering;

/// Orders engine versions by their numeric parts (`12.999.0` < `12.1205.0`); surrounding
/// whitespace is ignored, parts that are not numbers compare as text, and a version with
/// more parts comes after its prefix (`12.2528` < `12.2528.0`).
///
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut x = a.trim().split('.');
    let mut y = b.trim().split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// A name made of dot-separated parts that each start with a digit (`12.2528.0`; not
/// `companion`, not `12.x`): how a spec file named `<version>.json` is told from others.
pub fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| p.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        assert_eq!(compare("12.999.0", "12.1205.0"), Ordering::Less);
        assert_eq!(compare("12.2528.0", "12.2528.0"), Ordering::Equal);
        assert_eq!(compare("12.2528", "12.2528.0"), Ordering::Less);
        assert_eq!(compare("13.0.0", "12.9999.9"), Ordering::Greater);
        assert_eq!(compare("12.2528.0 ", " 12.2528.0"), Ordering::Equal);
        // Text parts compare as text, after the numeric parts before them.
        assert_eq!(compare("12.2528.0-rc1", "12.2528.0-rc2"), Ordering::Less);
        assert_eq!(compare("12.x", "12.y"), Ordering::Less);
    }

    #[test]
    fn tells_version_names_from_other_names() {
        assert!(is_version("12.2528.0") && is_version("12"));
        assert!(!is_version("companion") && !is_version("12.x") && !is_version(""));
        assert!(!is_version("12..0"));
    }
}
