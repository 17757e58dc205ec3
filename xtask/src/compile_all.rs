//! `compile-all`: proves that every spec version generates a crate that compiles.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use qix_codegen::{Companion, specpath};

use crate::codegen::{default_history_dir, root};

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut versions: Option<Vec<String>> = None;
    let mut dir = std::env::temp_dir().join("qix-compile-all");
    let mut build = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--versions" => {
                let list = it.next().ok_or("--versions needs a comma-separated list")?;
                versions = Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
            "--dir" => dir = PathBuf::from(it.next().ok_or("--dir needs a folder")?),
            "--build" => build = true,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let versions = match versions {
        Some(v) => v,
        None => {
            let shared = default_history_dir()
                .ok_or("no folder of specs on the search path (see the README)")?;
            specpath::versions_in(&shared)
        }
    };
    let companion = Companion::load(&root().join("schemas/companion.json"))?;
    let runtime = root().join("qix-runtime");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    let t0 = Instant::now();
    let mut members = Vec::new();
    for v in &versions {
        let path = specpath::find_spec(v, None)?;
        let g = qix_codegen::generate_file(&path, &companion)?;
        let name = format!("qix-generated-{}", v.replace('.', "-"));
        let crate_dir = dir.join(&name);
        let src = crate_dir.join("src");
        std::fs::create_dir_all(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        qix_codegen::write_if_changed(
            &crate_dir.join("Cargo.toml"),
            &qix_codegen::crate_manifest(&g.api.version, &name, &runtime, false),
        )?;
        for f in &g.files {
            qix_codegen::write_if_changed(&src.join(&f.path), &f.contents)?;
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
    qix_codegen::write_if_changed(&dir.join("Cargo.toml"), &manifest)?;

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
