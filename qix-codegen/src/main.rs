//! `qix-codegen`: the generator as a command.
//!
//! ```text
//! qix-codegen generate --spec FILE --out DIR [--companion FILE] [--runtime PATH | --runtime-version VERSION]
//! qix-codegen check --spec FILE
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use qix_codegen::Companion;

const USAGE: &str = "usage:
  qix-codegen generate --spec FILE --out DIR [--companion FILE] [--runtime PATH | --runtime-version VERSION]
      writes a standalone crate (Cargo.toml + src/) for the spec into DIR, depending on
      qix-runtime at PATH (default: this checkout's) or on its published VERSION
  qix-codegen check --spec FILE [--companion FILE]
      validates the spec and reports what would be generated
  qix-codegen diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs]
      what changed between two spec versions (see qix-codegen/src/diff/README.md)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qix-codegen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some(cmd) = args.first() else {
        return Err(USAGE.to_string());
    };
    if cmd == "diff" {
        return qix_codegen::diff::run_cli(&args[1..]);
    }
    let opts = Opts::parse(&args[1..])?;
    match cmd.as_str() {
        "generate" => {
            let spec = opts.required("--spec")?;
            let out = PathBuf::from(opts.required("--out")?);
            let companion = opts.companion()?;
            let generated = qix_codegen::generate_file(Path::new(spec), &companion)?;
            for w in &generated.warnings {
                eprintln!("warning: {w}");
            }
            let runtime = match (opts.get("--runtime"), opts.get("--runtime-version")) {
                (Some(_), Some(_)) => {
                    return Err("give --runtime or --runtime-version, not both".into());
                }
                (None, Some(v)) => qix_codegen::RuntimeDep::Version(v.to_string()),
                (path, None) => {
                    let path = match path {
                        Some(p) => PathBuf::from(p),
                        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../qix-runtime"),
                    };
                    let path = path
                        .canonicalize()
                        .map_err(|e| format!("--runtime {}: {e}", path.display()))?;
                    qix_codegen::RuntimeDep::Path(path)
                }
            };
            qix_codegen::write_crate_with(&out, &generated, &runtime)?;
            eprintln!(
                "wrote {} files for engine API {} into {}",
                generated.files.len() + 1,
                generated.api.version,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        "check" => {
            let spec = opts.required("--spec")?;
            let companion = opts.companion()?;
            let generated = qix_codegen::generate_file(Path::new(spec), &companion)?;
            for w in &generated.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}", qix_codegen::summary(&generated));
            Ok(ExitCode::SUCCESS)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

struct Opts {
    pairs: Vec<(String, String)>,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if !a.starts_with("--") {
                return Err(format!("unexpected argument {a:?}\n{USAGE}"));
            }
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            pairs.push((a.clone(), v.clone()));
        }
        Ok(Opts { pairs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("{key} is required\n{USAGE}"))
    }

    fn companion(&self) -> Result<Companion, String> {
        match self.get("--companion") {
            Some(p) => Companion::load(Path::new(p)),
            None => Ok(Companion::builtin()),
        }
    }
}
