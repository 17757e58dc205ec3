//! `qix`: a command line for the Qlik Associative Engine, written only on the public typed
//! API (`qix_generated`, `qix_runtime`). Conventions follow corectl where they fit: the
//! same environment variables, the same way of opening an app, the same save-after-change.

mod commands;
mod connect;
mod extract;
mod output;
mod spec;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A command line for the Qlik Associative Engine (QIX API).
#[derive(Debug, Parser)]
#[command(name = "qix", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnectOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the engine; every command takes these, also from the environment.
#[derive(Debug, Args, Clone)]
pub struct ConnectOpts {
    /// Engine URL: ws(s)://host:port/prefix (port and prefix optional), http(s)://… or
    /// host:port.
    #[arg(
        long,
        global = true,
        env = "QIX_ENGINE",
        default_value = "ws://localhost:9076"
    )]
    pub engine: String,
    /// The app to open when the session has no active app (an id, or a path on Qlik Core).
    #[arg(long, global = true, env = "QIX_APP")]
    pub app: Option<String>,
    /// A bearer token (Qlik Cloud API key).
    #[arg(long, global = true, env = "QLIK_API_KEY", hide_env_values = true)]
    pub bearer: Option<String>,
    /// An extra HTTP header, NAME:VALUE (repeatable).
    #[arg(long = "header", global = true, value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// A folder with client.pem, client_key.pem and root.pem (as Qlik Sense exports them).
    #[arg(long, global = true, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Accept any server certificate (test setups only).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Seconds the engine keeps the session after the connection closes.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub ttl: Option<u32>,
    /// Machine output: exact JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Record the session's frames as JSON lines in FILE (headers, and so credentials,
    /// are never recorded).
    #[arg(long, global = true, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluates an expression in the app (`Doc.EvaluateEx`).
    Eval { expression: String },
    /// The app's load script.
    #[command(subcommand)]
    Script(ScriptCommand),
    /// Reloads the app with progress, then saves it (unless --no-save).
    Reload {
        #[arg(long)]
        no_save: bool,
    },
    /// Saves the app.
    Save,
    /// Lists the apps the engine offers.
    Apps,
    /// Lists the app's fields.
    Fields,
    /// Lists the values of a field with their selection state.
    Values { field: String },
    /// Selects values in a field (in this session).
    Select {
        field: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Lists the app's objects.
    Objects,
    /// Writes a whole table (an object's hypercube, or an ad hoc one of --dimension and
    /// --measure) to a CSV, Parquet or Arrow file, or CSV on stdout (`-o -`).
    Extract(extract::ExtractArgs),
    /// Prints an object's layout.
    Layout { id: String },
    /// Prints an object's properties.
    Properties { id: String },
    /// Sets an object's properties from a JSON file, then saves (unless --no-save).
    SetProperties {
        id: String,
        file: PathBuf,
        #[arg(long)]
        no_save: bool,
    },
    /// Lists the app's master measures.
    Measures,
    /// Lists the app's master dimensions.
    Dimensions,
    /// Lists the app's variables.
    Variables,
    /// Lists the app's bookmarks.
    Bookmarks,
    /// The engine's API specification.
    #[command(subcommand)]
    Spec(SpecCommand),
    /// Versions of qix, of the API it was built for, and of the engine.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// Prints the load script.
    Get,
    /// Sets the load script from FILE, then saves (unless --no-save).
    Set {
        file: PathBuf,
        #[arg(long)]
        no_save: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Downloads the engine's OpenRPC spec (GET /api/engine/openrpc) to a file.
    Fetch {
        /// Where to write it; default `<version>.json` in $QIX_SCHEMAS_DIR (the spec search
        /// path's folder), else in the current folder.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// A failure, said in one line.
#[derive(Debug)]
pub struct Failure(pub String);

impl From<qix_runtime::Error> for Failure {
    fn from(e: qix_runtime::Error) -> Self {
        Failure(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("qix: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            // One line: the engine's messages may carry newlines.
            eprintln!("qix: {}", message.replace(['\n', '\r'], " "));
            ExitCode::FAILURE
        }
    }
}
