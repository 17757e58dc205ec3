//! `cargo xtask`: the project's own commands.
//!
//! ```text
//! cargo xtask regenerate [--spec FILE|VERSION | --from-engine URL [--bearer TOKEN] [--certs DIR] [--insecure]]
//!                        [--history DIR | --no-history | --repin-history]
//! cargo xtask check      [--history DIR | --no-history]
//! cargo xtask diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs] [--spec-dir DIR] [--companion FILE]
//! cargo xtask compile-all [--dir DIR] [--versions A,B,…] [--build]
//! cargo xtask bench [--quick] [--compile] [--skip-runtime] [--reps N]
//! cargo xtask fuzz-seeds
//! cargo xtask package-check
//! ```
//!
//! Every option takes its value as `--key value` or `--key=value`; `cargo xtask --help` and
//! `cargo xtask <command> --help` print the usage.

mod bench;
mod codegen;
mod compile_all;
mod fuzz_seeds;
mod history_pin;
mod package_check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qix_codegen::cli::DiffArgs;
use qix_codegen::diff;

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "The project's own commands",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write qix-generated/src from the pinned spec (schemas/spec.pin), or from the given
    /// one, with the since-versions of the pinned history (schemas/history.pin).
    /// --from-engine downloads URL/api/engine/openrpc into schemas/<version>.json first.
    Regenerate(codegen::RegenerateArgs),
    /// Fail, naming the files, if qix-generated/src differs from what the pinned spec and
    /// history give (or the history that --history/--no-history say, as for regenerate).
    Check(codegen::HistoryArgs),
    /// What changed between two spec versions (files or versions on the spec search path).
    /// Exit status: 0 nothing at or over the threshold, 1 threshold crossed, 2 the tool failed.
    Diff(DiffArgs),
    /// Generate a crate for every spec on the search path (or the listed versions) and
    /// compile them all in one workspace; reports the time.
    CompileAll(compile_all::CompileAllArgs),
    /// The benchmark table (see the README).
    Bench(bench::BenchArgs),
    /// Seed corpora for the fuzz targets in fuzz/ (fuzz/corpus/<target>), from ../shared.
    FuzzSeeds,
    /// Every crate packages: `cargo package --workspace --no-verify`, and no source file
    /// includes a path outside its crate (#[path], include_str!, …).
    PackageCheck,
}

fn main() -> ExitCode {
    // Bad arguments and `--help` exit here (2 and 0), with clap's messages.
    let cli = Cli::parse();
    let name = cli.command.name();
    let result = match cli.command {
        Command::Regenerate(a) => codegen::regenerate(a),
        Command::Check(a) => codegen::check(a),
        Command::Diff(a) => diff::run(&a.request(codegen::root()), &mut std::io::stdout().lock())
            .map(|crossed| {
                if crossed {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            })
            .map_err(|e| e.to_string()),
        Command::CompileAll(a) => compile_all::run(a),
        Command::Bench(a) => bench::run(a),
        Command::FuzzSeeds => fuzz_seeds::run(),
        Command::PackageCheck => package_check::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask {name}: {e}");
            ExitCode::from(2)
        }
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Regenerate(_) => "regenerate",
            Command::Check(_) => "check",
            Command::Diff(_) => "diff",
            Command::CompileAll(_) => "compile-all",
            Command::Bench(_) => "bench",
            Command::FuzzSeeds => "fuzz-seeds",
            Command::PackageCheck => "package-check",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;
    use qix_codegen::diff::{Format, Verdict};
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied())).map(|c| c.command)
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn regenerate_takes_values_either_way() {
        let Command::Regenerate(a) =
            parse(&["regenerate", "--spec=12.2399.0", "--history", "/h"]).unwrap()
        else {
            panic!("not regenerate")
        };
        assert_eq!(a.spec.as_deref(), Some("12.2399.0"));
        assert_eq!(a.history.history, Some(PathBuf::from("/h")));
        assert!(!a.history.no_history && !a.repin_history);

        let Command::Regenerate(a) = parse(&[
            "regenerate",
            "--from-engine=https://e",
            "--bearer",
            "t",
            "--certs=/c",
            "--insecure",
            "--no-history",
        ])
        .unwrap() else {
            panic!("not regenerate")
        };
        assert_eq!(a.from_engine.as_deref(), Some("https://e"));
        assert_eq!(a.bearer.as_deref(), Some("t"));
        assert_eq!(a.certs, Some(PathBuf::from("/c")));
        assert!(a.insecure && a.history.no_history);
        assert!(a.tls().danger_accept_invalid_certs);

        let Command::Regenerate(a) = parse(&["regenerate", "--repin-history"]).unwrap() else {
            panic!("not regenerate")
        };
        assert!(a.repin_history);
    }

    #[test]
    fn check_takes_the_history_options_of_regenerate_only() {
        let Command::Check(a) = parse(&["check", "--history=/h"]).unwrap() else {
            panic!("not check")
        };
        assert_eq!(a.history, Some(PathBuf::from("/h")));
        let Command::Check(a) = parse(&["check", "--no-history"]).unwrap() else {
            panic!("not check")
        };
        assert!(a.no_history);
        let Command::Check(a) = parse(&["check"]).unwrap() else {
            panic!("not check")
        };
        assert!(a.history.is_none() && !a.no_history);
        // `check` compares with the pinned spec only.
        for bad in [
            &["check", "--spec", "x"][..],
            &["check", "--from-engine", "https://e"],
            &["check", "--repin-history"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnknownArgument, "{bad:?}: {e}");
        }
    }

    #[test]
    fn conflicting_options_are_refused() {
        for bad in [
            &["regenerate", "--history", "/h", "--no-history"][..],
            &["check", "--history=/h", "--no-history"],
            &["regenerate", "--spec", "x", "--from-engine", "https://e"],
            &["regenerate", "--repin-history", "--no-history"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ArgumentConflict, "{bad:?}: {e}");
        }
        // The engine options need --from-engine.
        let e = parse(&["regenerate", "--insecure"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument, "{e}");
        assert!(e.to_string().contains("--from-engine"), "{e}");
    }

    #[test]
    fn compile_all_bench_and_fuzz_seeds_parse() {
        let Command::CompileAll(a) = parse(&[
            "compile-all",
            "--versions",
            "12.1205.0,12.1777.0, 12.2528.0",
            "--build",
        ])
        .unwrap() else {
            panic!("not compile-all")
        };
        assert_eq!(
            a.versions,
            Some(vec![
                "12.1205.0".into(),
                "12.1777.0".into(),
                "12.2528.0".into()
            ])
        );
        assert!(a.build);
        assert_eq!(a.dir, std::env::temp_dir().join("qix-compile-all"));
        let Command::CompileAll(a) =
            parse(&["compile-all", "--versions=12.1205.0", "--dir=/d"]).unwrap()
        else {
            panic!("not compile-all")
        };
        assert_eq!(a.versions, Some(vec!["12.1205.0".into()]));
        assert_eq!(a.dir, PathBuf::from("/d"));
        assert!(!a.build);

        let Command::Bench(a) = parse(&["bench", "--quick", "--reps=3", "--skip-runtime"]).unwrap()
        else {
            panic!("not bench")
        };
        assert!(a.quick && a.skip_runtime && !a.compile && !a.codegen_only);
        assert_eq!(a.reps, Some(3));
        let Command::Bench(a) = parse(&["bench", "--reps", "2", "--compile"]).unwrap() else {
            panic!("not bench")
        };
        assert_eq!(a.reps, Some(2));
        assert!(a.compile);
        assert!(parse(&["bench", "--reps", "0"]).is_err());
        assert!(parse(&["bench", "--reps=x"]).is_err());

        assert!(matches!(
            parse(&["fuzz-seeds"]).unwrap(),
            Command::FuzzSeeds
        ));
        assert_eq!(
            parse(&["fuzz-seeds", "x"]).unwrap_err().kind(),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn diff_parses_as_qix_codegen_diff() {
        let Command::Diff(a) = parse(&[
            "diff",
            "12.2399.0",
            "--format=markdown",
            "12.2528.0",
            "--fail-on",
            "dangerous",
            "--docs",
        ])
        .unwrap() else {
            panic!("not diff")
        };
        let req = a.request(codegen::root());
        assert_eq!(
            (req.old.as_str(), req.new.as_str()),
            ("12.2399.0", "12.2528.0")
        );
        assert_eq!(
            (req.format, req.fail_on, req.docs),
            (Format::Markdown, Verdict::Dangerous, true)
        );
        assert_eq!(req.search_root, Some(codegen::root()));
        let e = parse(&["diff", "a", "b", "--fail-on=compatible"]).unwrap_err();
        assert!(e.to_string().contains("not a threshold"), "{e}");
        assert!(parse(&["diff", "a"]).is_err());
    }

    #[test]
    fn bad_flags_are_clear_errors_and_help_lists_the_options() {
        let e = parse(&["regenerate", "--frobnicate"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert!(e.to_string().contains("--frobnicate"), "{e}");
        assert_eq!(
            parse(&["frobnicate"]).unwrap_err().kind(),
            ErrorKind::InvalidSubcommand
        );
        let e = parse(&["compile-all", "--versions"]).unwrap_err();
        assert!(e.to_string().contains("--versions"), "{e}");

        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let help = help.to_string();
        for cmd in [
            "regenerate",
            "check",
            "diff",
            "compile-all",
            "bench",
            "fuzz-seeds",
        ] {
            assert!(help.contains(cmd), "{cmd}: {help}");
        }
        let cases: [(&str, &[&str]); 4] = [
            (
                "regenerate",
                &[
                    "--spec",
                    "--from-engine",
                    "--bearer",
                    "--certs",
                    "--insecure",
                    "--history",
                    "--no-history",
                    "--repin-history",
                ],
            ),
            ("check", &["--history <DIR>", "--no-history"]),
            ("compile-all", &["--versions", "--dir", "--build"]),
            (
                "bench",
                &["--quick", "--compile", "--skip-runtime", "--reps <N>"],
            ),
        ];
        for (cmd, opts) in cases {
            let help = parse(&[cmd, "--help"]).unwrap_err().to_string();
            for opt in opts {
                assert!(help.contains(opt), "{cmd} {opt}: {help}");
            }
        }
        // The internal option of bench is not advertised.
        let help = parse(&["bench", "--help"]).unwrap_err().to_string();
        assert!(!help.contains("--codegen-only"), "{help}");
    }
}
