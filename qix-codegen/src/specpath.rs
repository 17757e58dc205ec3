//! Finding a spec by file path or by engine version (`12.2528.0` → `<dir>/<version>.json`) on
//! the spec search path, and ordering version names.
//!
//! The library bakes in no location: the workspace root whose `schemas/` and
//! `../shared/schemas/openrpc` are searched is a parameter (the binaries pass their own).

use std::path::{Path, PathBuf};

use crate::cli::CliError;

pub use crate::version_order::{compare as version_cmp, is_version};

/// The environment variable naming a folder of specs.
pub const SCHEMAS_DIR_ENV: &str = "QIX_SCHEMAS_DIR";

/// The folders searched for `<version>.json`, in order, each with where it comes from:
/// `extra_dir` (`--spec-dir`), `$QIX_SCHEMAS_DIR`, `schemas/` and `../shared/schemas/openrpc`
/// relative to the current folder, then the same two relative to `root` (the workspace
/// root, when the caller has one).
pub fn search_dirs(extra_dir: Option<&Path>, root: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut dirs: Vec<(PathBuf, &'static str)> = Vec::new();
    if let Some(d) = extra_dir {
        dirs.push((d.to_path_buf(), "--spec-dir"));
    }
    if let Some(d) = std::env::var_os(SCHEMAS_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(d), "$QIX_SCHEMAS_DIR"));
    }
    dirs.push((PathBuf::from("schemas"), "current folder"));
    dirs.push((PathBuf::from("../shared/schemas/openrpc"), "current folder"));
    if let Some(root) = root {
        dirs.push((root.join("schemas"), "workspace root"));
        dirs.push((root.join("../shared/schemas/openrpc"), "workspace root"));
    }
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

/// One folder a failed lookup searched: where it is, where it comes from on the search path,
/// and the versions it has (`None`: no such folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    pub dir: PathBuf,
    pub from: &'static str,
    pub versions: Option<Vec<String>>,
}

/// A spec file: `name_or_path` itself when it is a file, else `<version>.json` (the `.json`
/// may be given) in the first folder of [`search_dirs`] (with `root`) that has it. The error
/// says where it looked, which versions it saw, and how to get a spec.
pub fn find_spec(
    name_or_path: &str,
    extra_dir: Option<&Path>,
    root: Option<&Path>,
) -> Result<PathBuf, CliError> {
    let given = Path::new(name_or_path);
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    if name_or_path.is_empty() {
        return Err(CliError::NoSpecGiven);
    }
    let has_dir = given.components().count() > 1;
    if has_dir {
        return Err(CliError::NoSuchSpecFile {
            name: name_or_path.to_string(),
        });
    }
    let file = if name_or_path.ends_with(".json") {
        name_or_path.to_string()
    } else {
        format!("{name_or_path}.json")
    };
    let dirs = search_dirs(extra_dir, root);
    for (dir, _) in &dirs {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let looked = dirs
        .into_iter()
        .map(|(dir, from)| {
            let versions = dir.is_dir().then(|| versions_in(&dir));
            Looked {
                dir,
                from,
                versions,
            }
        })
        .collect();
    Err(CliError::SpecNotFound {
        name: name_or_path.to_string(),
        file,
        looked,
    })
}

/// The message of [`CliError::SpecNotFound`].
pub(crate) fn not_found_message(name: &str, file: &str, looked: &[Looked]) -> String {
    let mut msg = format!("spec {name:?} not found; looked for {file} in:");
    for l in looked {
        let seen = match l.versions.as_deref() {
            None => "no such folder".to_string(),
            Some([]) => "no specs".to_string(),
            Some([one]) => format!("has {one}"),
            Some(versions @ [first, .., last]) => {
                format!("has {} versions, {first} … {last}", versions.len())
            }
        };
        msg.push_str(&format!("\n  {} ({}): {seen}", l.dir.display(), l.from));
    }
    msg.push_str(&how_to_get(file));
    msg
}

pub(crate) fn how_to_get(file: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::cmp::Ordering;

    #[test]
    fn versions_order_numerically() {
        assert_eq!(version_cmp("12.999.0", "12.1205.0"), Ordering::Less);
        assert_eq!(version_cmp("12.2528.0", "12.2528.0"), Ordering::Equal);
        assert_eq!(version_cmp("12.2528", "12.2528.0"), Ordering::Less);
        assert_eq!(version_cmp("13.0.0", "12.9999.9"), Ordering::Greater);
        assert!(is_version("12.2528.0") && !is_version("companion") && !is_version("12.x"));
    }

    #[test]
    fn the_workspace_root_is_a_parameter() {
        let root = std::env::temp_dir().join(format!("qix-specpath-root-{}", std::process::id()));
        std::fs::create_dir_all(root.join("schemas")).unwrap();
        std::fs::write(root.join("schemas/7.7.7.json"), "{}").unwrap();
        assert!(
            search_dirs(None, None)
                .iter()
                .all(|(_, from)| *from != "workspace root")
        );
        assert!(find_spec("7.7.7", None, None).is_err());
        assert_eq!(
            find_spec("7.7.7", None, Some(&root)).unwrap(),
            root.join("schemas/7.7.7.json")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_version_says_where_it_looked_and_how_to_get_one() {
        let dir = std::env::temp_dir().join(format!("qix-specpath-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.2.0.json"), "{}").unwrap();
        assert_eq!(
            find_spec("1.2.0", Some(&dir), None).unwrap(),
            dir.join("1.2.0.json")
        );
        assert_eq!(
            find_spec("1.2.0.json", Some(&dir), None).unwrap(),
            dir.join("1.2.0.json")
        );
        let err = find_spec("0.0.0-missing", Some(&dir), None)
            .unwrap_err()
            .to_string();
        assert!(
            matches!(
                find_spec("0.0.0-missing", Some(&dir), None),
                Err(CliError::SpecNotFound { .. })
            ),
            "{err}"
        );
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains("has 1.2.0"), "{err}");
        assert!(err.contains("GET /api/engine/openrpc"), "{err}");
        let err = find_spec("no/such/file.json", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such spec file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
