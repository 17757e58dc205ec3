//! `cargo xtask`: the project's own commands.
//!
//! ```text
//! cargo xtask regenerate [--spec FILE|VERSION | --from-engine URL [--bearer TOKEN] [--certs DIR] [--insecure]] [--history DIR | --no-history]
//! cargo xtask check      [--history DIR | --no-history]
//! cargo xtask diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs]
//! cargo xtask compile-all [--dir DIR] [--versions A,B,…] [--build]
//! cargo xtask fuzz-seeds
//! ```

mod bench;
mod codegen;
mod compile_all;
mod fuzz_seeds;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>
  regenerate [--spec FILE|VERSION | --from-engine URL [--bearer TOKEN] [--certs DIR] [--insecure]]
             [--history DIR|--no-history]
      write qix-generated/src from the pinned spec (schemas/spec.pin), or from the given one;
      --from-engine downloads URL/api/engine/openrpc into schemas/<version>.json first
      (--bearer, or $QLIK_API_KEY, for Qlik Cloud; --certs and --insecure as for `qix`)
  check [--history DIR|--no-history]
      fail, naming the files, if qix-generated/src differs from what the pinned spec gives
  diff OLD NEW [--format text|markdown|json] [--fail-on breaking|dangerous] [--docs]
      what changed between two spec versions (files or versions on the spec search path)
  compile-all [--versions A,B,...] [--dir DIR] [--build]
      generate a crate for every spec on the search path (or the listed versions) and compile
      them all in one workspace; reports the time
  bench [--quick] [--compile] [--skip-runtime] [--reps N]
      the benchmark table (see the README)
  fuzz-seeds
      seed corpora for the fuzz targets in fuzz/ (fuzz/corpus/<target>), from ../shared";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "regenerate" => codegen::regenerate(rest),
        "check" => codegen::check(rest),
        "diff" => qix_codegen::diff::run_cli(rest),
        "compile-all" => compile_all::run(rest),
        "bench" => bench::run(rest),
        "fuzz-seeds" => fuzz_seeds::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask {cmd}: {e}");
            ExitCode::from(2)
        }
    }
}
