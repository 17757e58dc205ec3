//! `compile-all`: proves that every spec version generates a crate that compiles.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use qix_codegen::{RuntimeDep, Settings, specpath};

use crate::codegen::{default_history_dir, find_spec, root};

/// The options of `compile-all`.
#[derive(Debug, clap::Args)]
pub struct CompileAllArgs {
    /// Only these versions (comma-separated), looked up on the spec search path
    /// (default: every spec of the shared folder).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', value_parser = version_name)]
    pub versions: Option<Vec<String>>,
    /// The folder of the generated crates and their workspace.
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir().join("qix-compile-all"))]
    pub dir: PathBuf,
    /// `cargo build` instead of `cargo check`.
    #[arg(long)]
    pub build: bool,
}

/// A version of the list, trimmed (`--versions "a, b"`).
fn version_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("an empty version in the list".into())
    } else {
        Ok(s.to_string())
    }
}

pub fn run(args: CompileAllArgs) -> Result<ExitCode, String> {
    let CompileAllArgs {
        versions,
        dir,
        build,
    } = args;
    let versions = match versions {
        Some(v) => v,
        None => {
            let shared = default_history_dir()
                .ok_or("no folder of specs on the search path (see the README)")?;
            specpath::versions_in(&shared)
        }
    };
    // The workspace's settings, but for the hand-written modules, which only its own
    // qix-generated has.
    let settings = Settings {
        extra_modules: Vec::new(),
        ..crate::codegen::settings()?
    };
    let runtime = RuntimeDep::Path(root().join("qix-runtime"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    let t0 = Instant::now();
    let mut members = Vec::new();
    for v in &versions {
        let path = find_spec(v)?;
        let g = qix_codegen::generate_file(&path, &settings).map_err(|e| e.to_string())?;
        let name = format!("qix-generated-{}", v.replace('.', "-"));
        let crate_dir = dir.join(&name);
        let src = crate_dir.join("src");
        std::fs::create_dir_all(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        qix_codegen::write_if_changed(
            &crate_dir.join("Cargo.toml"),
            &qix_codegen::crate_manifest(&g.api.version, &name, &runtime, false),
        )
        .map_err(|e| e.to_string())?;
        for f in &g.files {
            qix_codegen::write_if_changed(&src.join(&f.path), &f.contents)
                .map_err(|e| e.to_string())?;
        }
        members.push(name);
    }
    let generated_in = t0.elapsed();
    let manifest = format!(
        "# Written by `cargo xtask compile-all`.\n[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[profile.dev]\ndebug = false\n",
        members
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    qix_codegen::write_if_changed(&dir.join("Cargo.toml"), &manifest).map_err(|e| e.to_string())?;

    let t1 = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg(if build { "build" } else { "check" })
        .arg("--workspace")
        .arg("--quiet")
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let compiled_in = t1.elapsed();
    eprintln!(
        "{} spec versions: generated in {generated_in:.2?}, `cargo {}` of all {} crates in {compiled_in:.2?} ({})",
        versions.len(),
        if build { "build" } else { "check" },
        members.len(),
        dir.display()
    );
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!(
            "some generated crates do not compile (see above; crates in {})",
            dir.display()
        ))
    }
}
