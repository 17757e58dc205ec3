//! Finding a spec by file path or by engine version (`12.2528.0` → `<dir>/12.2528.0.json`) on
//! the spec search path, and ordering version names.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// The environment variable naming a folder of specs.
pub const SCHEMAS_DIR_ENV: &str = "QIX_SCHEMAS_DIR";

/// The folders searched for `<version>.json`, in order, each with where it comes from:
/// `extra_dir` (`--spec-dir`), `$QIX_SCHEMAS_DIR`, `schemas/` and `../shared/schemas/openrpc`
/// relative to the current folder, then the same two relative to the workspace root.
pub fn search_dirs(extra_dir: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut dirs: Vec<(PathBuf, &'static str)> = Vec::new();
    if let Some(d) = extra_dir {
        dirs.push((d.to_path_buf(), "--spec-dir"));
    }
    if let Some(d) = std::env::var_os(SCHEMAS_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(d), "$QIX_SCHEMAS_DIR"));
    }
    dirs.push((PathBuf::from("schemas"), "current folder"));
    dirs.push((PathBuf::from("../shared/schemas/openrpc"), "current folder"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dirs.push((root.join("schemas"), "workspace root"));
    dirs.push((root.join("../shared/schemas/openrpc"), "workspace root"));
    // The same folder reached two ways is searched (and reported) once.
    let mut seen = Vec::new();
    dirs.retain(|(d, _)| {
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    dirs
}

/// A spec file: `name_or_path` itself when it is a file, else `<version>.json` (the `.json`
/// may be given) in the first folder of [`search_dirs`] that has it. The error says where it
/// looked, which versions it saw, and how to get a spec.
pub fn find_spec(name_or_path: &str, extra_dir: Option<&Path>) -> Result<PathBuf, String> {
    let given = Path::new(name_or_path);
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    if name_or_path.is_empty() {
        return Err("no spec given (a file or an engine version such as 12.2528.0)".into());
    }
    let has_dir = given.components().count() > 1;
    if has_dir {
        return Err(format!(
            "{name_or_path}: no such spec file{}",
            how_to_get(name_or_path)
        ));
    }
    let file = if name_or_path.ends_with(".json") {
        name_or_path.to_string()
    } else {
        format!("{name_or_path}.json")
    };
    let dirs = search_dirs(extra_dir);
    for (dir, _) in &dirs {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let mut msg = format!("spec {name_or_path:?} not found; looked for {file} in:");
    for (dir, from) in &dirs {
        let versions = versions_in(dir);
        let seen = match versions.as_slice() {
            [] if !dir.is_dir() => "no such folder".to_string(),
            [] => "no specs".to_string(),
            [one] => format!("has {one}"),
            [first, .., last] => format!("has {} versions, {first} … {last}", versions.len()),
        };
        msg.push_str(&format!("\n  {} ({from}): {seen}", dir.display()));
    }
    msg.push_str(&how_to_get(&file));
    Err(msg)
}

fn how_to_get(file: &str) -> String {
    format!(
        "\nTo get a spec, ask a running engine for it: `GET /api/engine/openrpc` \
         (e.g. `curl -H \"Authorization: Bearer $TOKEN\" https://TENANT/api/engine/openrpc > {file}`), \
         then pass the file's path or put it in one of the folders above (or in ${SCHEMAS_DIR_ENV})."
    )
}

/// The engine versions with a spec in `dir` (files named `<version>.json`), oldest first.
pub fn versions_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut versions: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
        })
        .filter(|stem| is_version(stem))
        .collect();
    versions.sort_by(|a, b| version_cmp(a, b));
    versions
}

/// A name made of dot-separated parts that start with a digit (`12.2528.0`).
pub fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| p.starts_with(|c: char| c.is_ascii_digit()))
}

/// Orders engine versions by their numeric components (`12.999.0` < `12.1205.0`); parts that
/// are not numbers compare as text, and a version with more parts comes after its prefix.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        assert_eq!(version_cmp("12.999.0", "12.1205.0"), Ordering::Less);
        assert_eq!(version_cmp("12.2528.0", "12.2528.0"), Ordering::Equal);
        assert_eq!(version_cmp("12.2528", "12.2528.0"), Ordering::Less);
        assert_eq!(version_cmp("13.0.0", "12.9999.9"), Ordering::Greater);
        assert!(is_version("12.2528.0") && !is_version("companion") && !is_version("12.x"));
    }

    #[test]
    fn a_missing_version_says_where_it_looked_and_how_to_get_one() {
        let dir = std::env::temp_dir().join(format!("qix-specpath-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.2.0.json"), "{}").unwrap();
        assert_eq!(
            find_spec("1.2.0", Some(&dir)).unwrap(),
            dir.join("1.2.0.json")
        );
        assert_eq!(
            find_spec("1.2.0.json", Some(&dir)).unwrap(),
            dir.join("1.2.0.json")
        );
        let err = find_spec("0.0.0-missing", Some(&dir)).unwrap_err();
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains("has 1.2.0"), "{err}");
        assert!(err.contains("GET /api/engine/openrpc"), "{err}");
        let err = find_spec("no/such/file.json", None).unwrap_err();
        assert!(err.contains("no such spec file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
