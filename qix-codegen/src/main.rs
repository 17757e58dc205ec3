//! `qix-codegen`: the generator as a command.
//!
//! ```text
//! qix-codegen generate --spec FILE --out DIR [--companion FILE] [--runtime PATH | --runtime-version VERSION]
//! qix-codegen check --spec FILE [--companion FILE]
//! qix-codegen diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs] [--spec-dir DIR] [--companion FILE]
//! ```
//!
//! Every option takes its value as `--key value` or `--key=value`; `--help` on the command
//! and on each subcommand prints the usage. Exit status: 0 success, 1 `diff` crossed its
//! threshold, 2 bad arguments or the tool failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use qix_codegen::cli::DiffArgs;
use qix_codegen::diff;
use qix_codegen::{Companion, Settings};

/// This checkout's root, for the binary's defaults only (the library takes it as a
/// parameter): the runtime a generated crate depends on, and the last folders of the spec
/// search path. A binary installed elsewhere keeps the path of the checkout it was built
/// from; when that is gone, `generate` asks for `--runtime`/`--runtime-version`, and the
/// spec search reports the folders as missing.
fn checkout_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[derive(Debug, Parser)]
#[command(
    name = "qix-codegen",
    about = "Generates typed Rust for the Qlik Associative Engine (QIX) API from its OpenRPC spec",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a standalone crate (Cargo.toml + src/) for the spec into DIR, depending on
    /// qix-runtime at PATH (default: this checkout's) or on its published VERSION.
    Generate(GenerateArgs),
    /// Validate the spec and report what would be generated.
    Check(CheckArgs),
    /// What changed between two spec versions (see qix-codegen/src/diff/README.md).
    /// Exit status: 0 nothing at or over the threshold, 1 threshold crossed, 2 the tool failed.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// The spec file.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// The folder to write the crate into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A companion map (default: the built-in schemas/companion.json).
    #[arg(long, value_name = "FILE")]
    companion: Option<PathBuf>,
    /// Depend on the qix-runtime checkout at PATH (default: this checkout's).
    #[arg(long, value_name = "PATH")]
    runtime: Option<PathBuf>,
    /// Depend on the published qix-runtime VERSION instead of a path.
    #[arg(long, value_name = "VERSION")]
    runtime_version: Option<String>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The spec file.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// A companion map (default: the built-in schemas/companion.json).
    #[arg(long, value_name = "FILE")]
    companion: Option<PathBuf>,
}

impl Cli {
    /// The arguments, parsed and checked: what clap's attributes do not say.
    fn try_parse_checked<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        let both = match &cli.command {
            Command::Generate(a) => a.runtime.is_some() && a.runtime_version.is_some(),
            _ => false,
        };
        if both {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "give --runtime or --runtime-version, not both",
            ));
        }
        Ok(cli)
    }
}

fn main() -> ExitCode {
    // Bad arguments and `--help` exit here (2 and 0), with clap's messages.
    let cli = Cli::try_parse_checked(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qix-codegen: {e}");
            ExitCode::from(2)
        }
    }
}

/// The built-in settings, with the companion map at `path` when one is given.
fn settings(path: Option<&Path>) -> qix_codegen::Result<Settings> {
    Ok(match path {
        Some(p) => Settings::default().with_companion(Companion::load(p)?),
        None => Settings::default(),
    })
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Generate(a) => {
            let settings = settings(a.companion.as_deref()).map_err(|e| e.to_string())?;
            let generated =
                qix_codegen::generate_file(&a.spec, &settings).map_err(|e| e.to_string())?;
            for w in &generated.warnings {
                eprintln!("warning: {w}");
            }
            let runtime = match a.runtime_version {
                Some(v) => qix_codegen::RuntimeDep::Version(v),
                None => {
                    let (path, how) = match a.runtime {
                        Some(p) => (p, "--runtime"),
                        None => (
                            checkout_root().join("qix-runtime"),
                            "the default runtime (pass --runtime PATH or --runtime-version VERSION)",
                        ),
                    };
                    let path = path
                        .canonicalize()
                        .map_err(|e| format!("{how}: {}: {e}", path.display()))?;
                    qix_codegen::RuntimeDep::Path(path)
                }
            };
            qix_codegen::write_crate(&a.out, &generated, &runtime).map_err(|e| e.to_string())?;
            eprintln!(
                "wrote {} files for engine API {} into {}",
                generated.files.len() + 1,
                generated.api.version,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(a) => {
            let settings = settings(a.companion.as_deref()).map_err(|e| e.to_string())?;
            let generated =
                qix_codegen::generate_file(&a.spec, &settings).map_err(|e| e.to_string())?;
            for w in &generated.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}", qix_codegen::summary(&generated));
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(a) => {
            let request = a.request(checkout_root());
            let crossed =
                diff::run(&request, &mut std::io::stdout().lock()).map_err(|e| e.to_string())?;
            Ok(if crossed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use qix_codegen::diff::{Format, Verdict};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_checked(std::iter::once("qix-codegen").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_take_their_value_either_way() {
        let Command::Generate(a) = parse(&["generate", "--spec=s.json", "--out", "o"])
            .unwrap()
            .command
        else {
            panic!("not generate")
        };
        assert_eq!((a.spec, a.out), ("s.json".into(), "o".into()));
        assert_eq!((a.runtime, a.runtime_version), (None, None));

        let Command::Generate(a) = parse(&[
            "generate",
            "--spec",
            "s.json",
            "--out=o",
            "--runtime-version=0.1",
            "--companion",
            "c.json",
        ])
        .unwrap()
        .command
        else {
            panic!("not generate")
        };
        assert_eq!(a.runtime_version.as_deref(), Some("0.1"));
        assert_eq!(a.companion, Some("c.json".into()));

        let Command::Check(a) = parse(&["check", "--spec=x.json"]).unwrap().command else {
            panic!("not check")
        };
        assert_eq!(a.spec, PathBuf::from("x.json"));
    }

    #[test]
    fn a_repeated_option_keeps_its_last_value() {
        let Command::Check(a) = parse(&["check", "--spec", "a", "--spec=b"])
            .unwrap()
            .command
        else {
            panic!("not check")
        };
        assert_eq!(a.spec, PathBuf::from("b"));
    }

    #[test]
    fn diff_options_parse_in_any_order() {
        let Command::Diff(a) = parse(&[
            "diff",
            "--format=json",
            "a.json",
            "--fail-on",
            "dangerous",
            "b",
            "--docs",
            "--spec-dir",
            "d",
        ])
        .unwrap()
        .command
        else {
            panic!("not diff")
        };
        assert_eq!((a.old.as_str(), a.new.as_str()), ("a.json", "b"));
        assert_eq!(a.format, Format::Json);
        assert_eq!(a.fail_on, Verdict::Dangerous);
        assert!(a.docs);
        let req = a.request(PathBuf::from("/root"));
        assert_eq!(req.spec_dir, Some(PathBuf::from("d")));
        assert_eq!(req.search_root, Some(PathBuf::from("/root")));

        let Command::Diff(a) = parse(&["diff", "a", "b"]).unwrap().command else {
            panic!("not diff")
        };
        assert_eq!(
            (a.format, a.fail_on, a.docs),
            (Format::Text, Verdict::Breaking, false)
        );
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        let e = parse(&["generate", "--spec", "s", "--out", "o", "--frobnicate", "1"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert!(e.to_string().contains("--frobnicate"), "{e}");

        let e = parse(&["generate", "--spec", "s"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--out <DIR>"), "{e}");

        let e = parse(&[
            "generate",
            "--spec",
            "s",
            "--out",
            "o",
            "--runtime",
            "r",
            "--runtime-version",
            "1",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        assert!(e.to_string().contains("not both"), "{e}");

        let e = parse(&["diff", "a", "b", "--format", "yaml"]).unwrap_err();
        assert!(e.to_string().contains("text, markdown or json"), "{e}");
        let e = parse(&["diff", "a", "b", "--fail-on=compatible"]).unwrap_err();
        assert!(e.to_string().contains("not a threshold"), "{e}");
        assert!(parse(&["diff", "a"]).is_err());
        assert!(parse(&["diff", "a", "b", "c"]).is_err());
        assert!(parse(&["diff", "a", "b", "--format"]).is_err());
        assert!(parse(&["diff", "a", "b", "--docs=yes"]).is_err());
        assert_eq!(
            parse(&["frobnicate"]).unwrap_err().kind(),
            ErrorKind::InvalidSubcommand
        );
    }

    #[test]
    fn help_lists_every_option() {
        let e = parse(&["--help"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisplayHelp);
        let help = e.to_string();
        for cmd in ["generate", "check", "diff"] {
            assert!(help.contains(cmd), "{help}");
        }
        let help = parse(&["generate", "--help"]).unwrap_err().to_string();
        for opt in [
            "--spec <FILE>",
            "--out <DIR>",
            "--companion",
            "--runtime <PATH>",
            "--runtime-version",
        ] {
            assert!(help.contains(opt), "{opt}: {help}");
        }
        let help = parse(&["diff", "--help"]).unwrap_err().to_string();
        for opt in [
            "<OLD>",
            "<NEW>",
            "--format",
            "--fail-on",
            "--docs",
            "--spec-dir",
            "--companion",
        ] {
            assert!(help.contains(opt), "{opt}: {help}");
        }
    }
}
