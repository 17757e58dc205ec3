//! Tables for people, exact JSON for programs.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::{CliResult, Failure};

/// Prints a value as pretty JSON with the engine's own property names.
pub fn json(value: &impl Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure(format!("cannot write JSON output: {e}")))?;
    line(&text)
}

/// Prints one line to stdout; a closed pipe (`qix apps | head`) is not an error worth a
/// panic.
pub fn line(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| Failure(format!("cannot write to stdout: {e}")))
}

/// Writes `text` exactly as it is (a script, say), with a newline after it only when it
/// has none and stdout is a terminal (so a prompt does not start mid-line).
pub fn exact(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    let newline = !text.ends_with('\n') && std::io::stdout().is_terminal();
    out.write_all(text.as_bytes())
        .and_then(|_| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|_| out.flush())
        .map_err(|e| Failure(format!("cannot write to stdout: {e}")))
}

/// A table: fitted to the terminal's width on a terminal, unwrapped (stable) otherwise.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> CliResult {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    if std::io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    t.set_header(header.iter().copied());
    for r in rows {
        t.add_row(r);
    }
    line(&t.to_string())
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

static VERBOSE: AtomicBool = AtomicBool::new(false);
static EXIT_STATUS: AtomicU8 = AtomicU8::new(0);

/// Turns `-v` on: [`verbose`] lines go to stderr.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A line of what is being done (`-v`), on stderr so that stdout stays the output.
pub fn verbose(text: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("qix: {text}");
    }
}

/// The status a command that succeeded exits with (`plan`: 2 when there are changes).
pub fn set_exit_status(status: u8) {
    EXIT_STATUS.store(status, Ordering::Relaxed);
}

pub fn exit_status() -> u8 {
    EXIT_STATUS.load(Ordering::Relaxed)
}
