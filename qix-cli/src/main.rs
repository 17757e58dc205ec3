//! `qix`: a command line for the Qlik Associative Engine, written only on the public typed
//! API (`qix_generated`, `qix_runtime`). Conventions follow corectl where they fit: the
//! same environment variables, the same way of opening an app, the same save-after-change.

mod appstate;
mod build;
mod commands;
mod connect;
mod connections;
mod context;
mod datamodel;
mod entities;
mod eval;
mod extract;
mod output;
mod plan;
mod project;
mod reload;
mod signin;
mod spec;
mod unbuild;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// A command line for the Qlik Associative Engine (QIX API).
#[derive(Debug, Parser)]
#[command(name = "qix", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnectOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the engine; every command takes these, also from the environment. Its
/// `Debug` shows no credential (see [`signin`]).
#[derive(Args, Clone)]
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
    /// A bearer token: a Qlik Cloud API key, or a JWT (Qlik Sense Enterprise).
    #[arg(
        long,
        global = true,
        env = "QLIK_API_KEY",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub bearer: Option<signin::Secret>,
    /// An OAuth client id (Qlik Cloud client credentials: a fresh token for every
    /// connection that needs one).
    #[arg(long, global = true, env = "QLIK_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// The OAuth client's secret.
    #[arg(
        long,
        global = true,
        env = "QLIK_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<signin::Secret>,
    /// Where OAuth tokens come from (default: https://<engine host>/oauth/token).
    #[arg(long, global = true, value_name = "URL")]
    pub token_url: Option<String>,
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
    /// The project file (default: corectl.yml, corectl.yaml, qix.yml or qix.yaml in the
    /// working folder).
    #[arg(short = 'c', long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Open the app without its data (saves then keep the data on disk: `SaveObjects`).
    #[arg(long, global = true)]
    pub no_data: bool,
    /// Say what is being done, on stderr.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Print only ids (corectl's --bash).
    #[arg(short = 'q', long, global = true, conflicts_with = "json")]
    pub quiet: bool,
    /// The context to connect with (default: the current one; see `qix context`).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

/// Where `build` and `plan` read the app from; each flag wins over the project file's key.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// The load script (a .qvs file).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// A YAML file of data connections (corectl's connections.yml).
    #[arg(long, value_name = "FILE")]
    pub connections: Option<PathBuf>,
    /// A JSON file of app properties.
    #[arg(long, value_name = "FILE")]
    pub app_properties: Option<PathBuf>,
    /// Generic object files (a glob; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub objects: Vec<String>,
    /// Master measure files (a glob; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub measures: Vec<String>,
    /// Master dimension files (a glob; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub dimensions: Vec<String>,
    /// Variable files (a glob; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub variables: Vec<String>,
    /// Bookmark files (a glob; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub bookmarks: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Do not reload.
    #[arg(long)]
    pub no_reload: bool,
    /// Do not save.
    #[arg(long)]
    pub no_save: bool,
    /// Load at most N rows per table.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// No reload progress.
    #[arg(long)]
    pub silent: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReloadArgs {
    /// Do not save after the reload.
    #[arg(long)]
    pub no_save: bool,
    /// Load at most N rows per table.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// No progress output.
    #[arg(long)]
    pub silent: bool,
}

/// What every entity family (`measure`, `dimension`, `variable`, `bookmark`, `object`)
/// offers.
#[derive(Debug, Subcommand, Clone)]
pub enum EntityCommand {
    /// Lists them (id and title; `--json`, `-q` for ids only).
    Ls,
    /// Prints one's layout.
    Layout { id: String },
    /// Prints one's properties.
    Properties {
        id: String,
        /// The full property tree (an object with its children).
        #[arg(long)]
        full: bool,
        /// Only what recreating it needs (empty and default values left out).
        #[arg(long, conflicts_with = "full")]
        minimum: bool,
    },
    /// Creates or updates them from JSON files (by `qInfo.qId`), then saves.
    Set {
        #[arg(required = true, value_name = "GLOB")]
        globs: Vec<String>,
        #[arg(long)]
        no_save: bool,
    },
    /// Removes them, then saves.
    Rm {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        #[arg(long)]
        no_save: bool,
    },
}

#[derive(Debug, Subcommand, Clone)]
pub enum ObjectCommand {
    #[command(flatten)]
    Entity(EntityCommand),
    /// Prints an object's hypercube as a table (all pages).
    Data { id: String },
}

#[derive(Debug, Subcommand, Clone)]
pub enum ConnectionCommand {
    /// Lists the app's data connections.
    Ls,
    /// Prints one connection (by id or name).
    Get { connection: String },
    /// Creates or modifies the connections of a YAML file (corectl's format), then saves.
    Set {
        file: PathBuf,
        #[arg(long)]
        no_save: bool,
    },
    /// Removes connections (by id or name), then saves.
    Rm {
        #[arg(required = true)]
        connections: Vec<String>,
        #[arg(long)]
        no_save: bool,
    },
}

#[derive(Debug, Subcommand, Clone)]
pub enum ContextCommand {
    /// Saves the connection settings given (engine, headers, certificates, ttl, insecure)
    /// as a context.
    Set {
        name: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Makes a context the current one.
    Use { name: String },
    /// Leaves no context current.
    Clear,
    /// Prints a context (default: the current one).
    Get { name: Option<String> },
    /// Lists the contexts (`*` marks the current one).
    Ls,
    /// Removes contexts.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand, Clone)]
pub enum StateCommand {
    /// Lists the app's alternate states.
    Ls,
    /// Adds alternate states, then saves.
    Add {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        no_save: bool,
    },
    /// Removes alternate states, then saves.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        no_save: bool,
    },
}

#[derive(Debug, Subcommand, Clone)]
pub enum AppCommand {
    /// Lists the apps the engine offers (as `apps`).
    Ls,
    /// Deletes apps (`Global.DeleteApp`).
    Rm {
        #[arg(required = true)]
        apps: Vec<String>,
    },
}

/// How `assoc` draws the data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum GraphFormat {
    /// A table of the keys and the tables they link.
    #[default]
    Table,
    /// Graphviz.
    Dot,
    /// Mermaid (renders in GitHub and GitLab markdown).
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluates an expression (`Doc.EvaluateEx`), or measures by dimensions through a
    /// hypercube: `eval "Sum(Sales), Count(Id) by Region, Year"`.
    Eval {
        #[arg(required = true, num_args = 1.., value_name = "EXPRESSION")]
        expression: Vec<String>,
    },
    /// The app's load script.
    #[command(subcommand)]
    Script(ScriptCommand),
    /// Reloads the app with progress, then saves it (unless --no-save).
    Reload(ReloadArgs),
    /// Builds the app from a corectl project: connections, script, app properties,
    /// entities, then a reload and a save.
    Build(BuildArgs),
    /// What `build` would change, entity by entity (exit 0: nothing, 2: changes).
    Plan(SourceArgs),
    /// Writes the app as a corectl project that `build` accepts.
    Unbuild {
        /// The folder (default: `<app title>-unbuild`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
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
    /// Master measures.
    #[command(subcommand)]
    Measure(EntityCommand),
    /// Master dimensions.
    #[command(subcommand)]
    Dimension(EntityCommand),
    /// Variables.
    #[command(subcommand)]
    Variable(EntityCommand),
    /// Bookmarks.
    #[command(subcommand)]
    Bookmark(EntityCommand),
    /// Generic objects (not the master items, variables or bookmarks).
    #[command(subcommand)]
    Object(ObjectCommand),
    /// Data connections.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Alternate states.
    #[command(subcommand)]
    State(StateCommand),
    /// Apps.
    #[command(subcommand)]
    App(AppCommand),
    /// The data model's tables: rows, fields, keys.
    Tables,
    /// The key fields (fields in more than one table).
    Keys,
    /// The fields with their tables, tags, cardinality and memory.
    Meta,
    /// The associations between tables (`--format dot|mermaid` draws them).
    Assoc {
        #[arg(long, value_enum, default_value_t)]
        format: GraphFormat,
    },
    /// The engine, the app and the connection.
    Status,
    /// Named connection settings (corectl's contexts).
    #[command(subcommand)]
    Context(ContextCommand),
    /// Prints a completion script for a shell.
    Completion { shell: clap_complete::Shell },
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
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The project file: read (and checked) before anything connects.
    let project = match project::load(&mut cli, &matches) {
        Ok(p) => p,
        Err(Failure(message)) => {
            eprintln!("qix: {}", message.replace(['\n', '\r'], " "));
            return ExitCode::FAILURE;
        }
    };
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
    match runtime.block_on(commands::run(cli, project)) {
        Ok(()) => ExitCode::from(output::exit_status()),
        Err(Failure(message)) => {
            // One line: the engine's messages may carry newlines.
            eprintln!("qix: {}", message.replace(['\n', '\r'], " "));
            ExitCode::FAILURE
        }
    }
}
