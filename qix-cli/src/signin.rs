//! Signing in: which credentials a command uses when the command line, the project file,
//! the environment and a context each may give some, and how they become the session's.
//!
//! A sign-in is a bearer token (`--bearer`, `QLIK_API_KEY`, a context's API key), OAuth
//! client credentials (`--client-id`/`--client-secret`, `QLIK_CLIENT_ID`/
//! `QLIK_CLIENT_SECRET`, a context's client) or an `Authorization` header (`--header`,
//! the project file's `headers`, a context's headers). The first of these sources that
//! gives one decides — the command line, the project file, the environment, the context —
//! and the others' are dropped, so two never reach the engine together; one source giving
//! two kinds is an error. A secret pairs with the client id of its own source, else with
//! `--client-secret`/`QLIK_CLIENT_SECRET`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use clap::ArgMatches;
use clap::parser::ValueSource;
use qix_runtime::{ClientCredentials, TlsOptions};
use serde::{Deserialize, Serialize};

use crate::project::Project;
use crate::{CliResult, ConnectOpts, Failure, connect, output};

/// A credential: its `Debug` and `Display` never show it; files hold it as it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(qix_runtime::redact::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(qix_runtime::redact::REDACTED)
    }
}

/// Header names whose values are credentials (compared without case): printed redacted.
pub fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-qlik-user",
    ]
    .contains(&n.as_str())
        || ["token", "secret", "key", "password", "session", "auth"]
            .iter()
            .any(|w| n.contains(w))
}

fn is_authorization(header: &str) -> bool {
    header
        .split_once(':')
        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("authorization"))
}

/// Where a setting came from, the strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    CommandLine,
    Project,
    Environment,
    Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bearer,
    Client,
    Header,
}

fn said(origin: Origin, kind: Kind, context: &str) -> String {
    match (origin, kind) {
        (Origin::CommandLine, Kind::Bearer) => "--bearer".into(),
        (Origin::CommandLine, Kind::Client) => "--client-id".into(),
        (Origin::CommandLine, Kind::Header) => "--header Authorization".into(),
        (Origin::Environment, Kind::Bearer) => "QLIK_API_KEY".into(),
        (Origin::Environment, Kind::Client) => "QLIK_CLIENT_ID".into(),
        (Origin::Project, _) => "the project file's Authorization header".into(),
        (Origin::Context, Kind::Bearer) => format!("context {context}'s API key"),
        (Origin::Context, Kind::Client) => format!("context {context}'s client id"),
        (Origin::Context, Kind::Header) => format!("context {context}'s Authorization header"),
        (Origin::Environment, Kind::Header) => "an Authorization header".into(),
    }
}

/// What a context may sign in with (read by [`crate::context::apply`]).
#[derive(Debug, Default, Clone)]
pub struct ContextSignIn {
    pub name: String,
    pub api_key: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub token_url: Option<String>,
    /// Its headers hold an `Authorization` (already merged into the options).
    pub authorization: bool,
}

fn source(matches: &ArgMatches, id: &str) -> Option<Origin> {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(Origin::CommandLine),
        Some(ValueSource::EnvVariable) => Some(Origin::Environment),
        _ => None,
    }
}

/// Settles the sign-in: afterwards at most one of `bearer`, `client_id` (with its
/// secret and token URL) and an `Authorization` header is left in `opts`.
pub fn resolve(
    opts: &mut ConnectOpts,
    matches: &ArgMatches,
    flag_headers: &[String],
    project: Option<&Project>,
    context: Option<&ContextSignIn>,
) -> CliResult {
    let ctx_name = context.map_or("", |c| c.name.as_str());
    let mut offers: Vec<(Origin, Kind)> = Vec::new();
    if opts.bearer.as_ref().is_some_and(|b| !b.is_empty()) {
        if let Some(o) = source(matches, "bearer") {
            offers.push((o, Kind::Bearer));
        }
    }
    if opts.client_id.as_ref().is_some_and(|c| !c.is_empty()) {
        if let Some(o) = source(matches, "client_id") {
            offers.push((o, Kind::Client));
        }
    }
    if flag_headers.iter().any(|h| is_authorization(h)) {
        offers.push((Origin::CommandLine, Kind::Header));
    }
    if project.is_some_and(|p| {
        p.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    }) {
        offers.push((Origin::Project, Kind::Header));
    }
    if let Some(c) = context {
        if c.api_key.as_ref().is_some_and(|k| !k.is_empty()) {
            offers.push((Origin::Context, Kind::Bearer));
        }
        if c.client_id.as_ref().is_some_and(|i| !i.is_empty()) {
            offers.push((Origin::Context, Kind::Client));
        }
        if c.authorization {
            offers.push((Origin::Context, Kind::Header));
        }
    }
    let token_url_flag = opts.token_url.take();
    let flag_secret = opts.client_secret.take();
    let chosen = match offers.iter().map(|(o, _)| *o).min() {
        None => None,
        Some(top) => {
            let kinds: Vec<Kind> = offers
                .iter()
                .filter(|(o, _)| *o == top)
                .map(|(_, k)| *k)
                .collect();
            if let [first, second, ..] = kinds[..] {
                return Err(Failure(format!(
                    "{} and {} both sign in; give one",
                    said(top, first, ctx_name),
                    said(top, second, ctx_name)
                )));
            }
            Some((top, kinds[0]))
        }
    };
    let bearer = opts.bearer.take();
    let client_id = opts.client_id.take();
    // Only the chosen sign-in's Authorization header stays (merging kept the strongest).
    if !matches!(chosen, Some((_, Kind::Header))) {
        opts.headers.retain(|h| !is_authorization(h));
    }
    match chosen {
        None | Some((_, Kind::Header)) => {
            if token_url_flag.is_some() {
                return Err(Failure(
                    "--token-url is for OAuth client credentials: give a client id".into(),
                ));
            }
            if let Some((origin, kind)) = chosen {
                output::verbose(&format!("signing in with {}", said(origin, kind, ctx_name)));
            }
        }
        Some((origin, Kind::Bearer)) => {
            if token_url_flag.is_some() {
                return Err(Failure(
                    "--token-url is for OAuth client credentials, not a bearer token".into(),
                ));
            }
            opts.bearer = match origin {
                Origin::Context => context.and_then(|c| c.api_key.clone()),
                _ => bearer,
            };
            output::verbose(&format!(
                "signing in with {}",
                said(origin, Kind::Bearer, ctx_name)
            ));
        }
        Some((origin, Kind::Client)) => {
            let ctx = context.cloned().unwrap_or_default();
            let id = match origin {
                Origin::Context => ctx.client_id.clone().unwrap_or_default(),
                _ => client_id.unwrap_or_default(),
            };
            let same_client = ctx.client_id.as_deref() == Some(id.as_str());
            let secret = if origin == Origin::Context {
                ctx.client_secret.clone().or(flag_secret)
            } else {
                flag_secret.or(ctx.client_secret.clone().filter(|_| same_client))
            };
            let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
                Failure(format!(
                    "{} {id:?} has no secret: give --client-secret or QLIK_CLIENT_SECRET",
                    said(origin, Kind::Client, ctx_name)
                ))
            })?;
            opts.token_url = token_url_flag.or(ctx.token_url.clone().filter(|_| same_client));
            output::verbose(&format!(
                "signing in with {} {id:?} (OAuth client credentials)",
                said(origin, Kind::Client, ctx_name)
            ));
            opts.client_id = Some(id);
            opts.client_secret = Some(secret);
        }
    }
    Ok(())
}

/// For `context set`: what the command line gave, not the environment's credentials (an
/// exported `QLIK_API_KEY` is not meant for every context made while it is set).
pub fn command_line_only(opts: &mut ConnectOpts, matches: &ArgMatches) {
    let flag = |id: &str| source(matches, id) == Some(Origin::CommandLine);
    if !flag("bearer") {
        opts.bearer = None;
    }
    if !flag("client_id") {
        opts.client_id = None;
    }
    if !flag("client_secret") {
        opts.client_secret = None;
    }
}

/// The TLS settings of `--certs` and `--insecure`, for the engine and the token endpoint.
pub fn tls_options(opts: &ConnectOpts) -> CliResult<TlsOptions> {
    let mut tls = TlsOptions {
        danger_accept_invalid_certs: opts.insecure,
        ..Default::default()
    };
    if let Some((client, key, root)) = connect::cert_files(opts)? {
        tls.client_cert = Some((client, key));
        tls.extra_roots.push(root);
    }
    Ok(tls)
}

/// The OAuth client of the settled options, if they sign in with one.
pub fn client_credentials(opts: &ConnectOpts) -> CliResult<Option<Arc<ClientCredentials>>> {
    let Some(id) = opts.client_id.clone() else {
        return Ok(None);
    };
    let secret = opts
        .client_secret
        .as_ref()
        .map(|s| s.expose().to_string())
        .ok_or_else(|| Failure(format!("client id {id:?} has no secret")))?;
    let url = match &opts.token_url {
        Some(u) => u.clone(),
        None => ClientCredentials::token_url_for(&connect::websocket_url(opts)?)?,
    };
    output::verbose(&format!("token URL {url}"));
    Ok(Some(Arc::new(
        ClientCredentials::new(url, id, secret).tls(tls_options(opts)?),
    )))
}

impl fmt::Debug for ConnectOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: names only, and the URL without its query.
        let headers: Vec<&str> = self
            .headers
            .iter()
            .map(|h| h.split_once(':').map_or(h.as_str(), |(n, _)| n.trim()))
            .collect();
        f.debug_struct("ConnectOpts")
            .field("engine", &self.engine.split('?').next().unwrap_or_default())
            .field("app", &self.app)
            .field("bearer", &self.bearer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token_url", &self.token_url)
            .field("headers", &headers)
            .field("certs", &self.certs)
            .field("insecure", &self.insecure)
            .field("ttl", &self.ttl)
            .field("json", &self.json)
            .field("traffic", &self.traffic)
            .field("config", &self.config)
            .field("no_data", &self.no_data)
            .field("verbose", &self.verbose)
            .field("quiet", &self.quiet)
            .field("context", &self.context)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn settle(args: &[&str], context: Option<&ContextSignIn>) -> CliResult<ConnectOpts> {
        let mut all = vec!["qix"];
        all.extend_from_slice(args);
        all.push("apps");
        let matches = crate::Cli::command().try_get_matches_from(all).unwrap();
        let mut opts = crate::Cli::from_arg_matches(&matches).unwrap().conn;
        let flags = opts.headers.clone();
        resolve(&mut opts, &matches, &flags, None, context)?;
        Ok(opts)
    }

    fn ctx() -> ContextSignIn {
        ContextSignIn {
            name: "prod".into(),
            client_id: Some("ctx-client".into()),
            client_secret: Some(Secret::new("ctx-secret")),
            token_url: Some("https://idp.example.com/oauth/token".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_strongest_source_decides_and_the_others_are_dropped() {
        // A flag's bearer over a context's client.
        let o = settle(&["--bearer", "flag-token"], Some(&ctx())).unwrap();
        assert_eq!(o.bearer.as_ref().map(Secret::expose), Some("flag-token"));
        assert!(o.client_id.is_none() && o.client_secret.is_none());
        // The context's client, its secret and token URL.
        let o = settle(&[], Some(&ctx())).unwrap();
        assert_eq!(o.client_id.as_deref(), Some("ctx-client"));
        assert_eq!(
            o.client_secret.as_ref().map(Secret::expose),
            Some("ctx-secret")
        );
        assert_eq!(
            o.token_url.as_deref(),
            Some("https://idp.example.com/oauth/token")
        );
        // Another client on the command line: not the context's secret, nor its URL.
        let e = settle(&["--client-id", "other"], Some(&ctx())).unwrap_err();
        assert_eq!(
            e.0,
            "--client-id \"other\" has no secret: give --client-secret or QLIK_CLIENT_SECRET"
        );
        let o = settle(
            &["--client-id", "other", "--client-secret", "s"],
            Some(&ctx()),
        )
        .unwrap();
        assert_eq!(o.token_url, None);
        // A header on the command line over all of them; the bearer is dropped.
        let o = settle(
            &["--header", "Authorization: Bearer h", "--header", "X-A: 1"],
            Some(&ctx()),
        )
        .unwrap();
        assert!(o.bearer.is_none() && o.client_id.is_none());
        assert_eq!(o.headers, vec!["Authorization: Bearer h", "X-A: 1"]);
        // Two kinds from one source.
        let e = settle(&["--bearer", "b", "--client-id", "c"], None).unwrap_err();
        assert_eq!(e.0, "--bearer and --client-id both sign in; give one");
        let e = settle(&["--token-url", "https://x/oauth/token"], None).unwrap_err();
        assert!(e.0.starts_with("--token-url is for OAuth"), "{}", e.0);
    }

    #[test]
    fn debug_shows_no_credential() {
        let o = settle(
            &[
                "--engine",
                "wss://t.example.com/app/x?qlikTicket=tkt-1Qa",
                "--client-id",
                "c",
                "--client-secret",
                "sec-4Rf",
                "--header",
                "Cookie: sess-8Yu",
            ],
            None,
        )
        .unwrap();
        let text = format!("{o:?}{o:#?}");
        for secret in ["sec-4Rf", "sess-8Yu", "tkt-1Qa"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("<redacted>") && text.contains("Cookie"),
            "{text}"
        );
        let b = settle(&["--bearer", "tok-2Ws"], None).unwrap();
        assert!(!format!("{b:?}").contains("tok-2Ws"));
        assert_eq!(format!("{}", Secret::new("x")), "<redacted>");
    }

    #[test]
    fn credential_headers_are_known_by_name() {
        for n in [
            "Authorization",
            "cookie",
            "X-Qlik-User",
            "X-Api-Key",
            "x-session-token",
        ] {
            assert!(is_credential_header(n), "{n}");
        }
        for n in ["X-Team", "hdr-usr", "Accept"] {
            assert!(!is_credential_header(n), "{n}");
        }
    }
}

/// The README's "Signing in" section shows command lines; each must be one qix accepts,
/// so a renamed or dropped flag cannot leave the README promising it.
#[cfg(test)]
mod readme {
    use clap::CommandFactory;

    /// The commands of one shell line, as words: quotes ('…', "…") group, an unquoted `;`
    /// ends a command, an unquoted `#` starting a word ends the line; `$VAR` stays as text
    /// (any value parses the same way).
    fn shell(line: &str) -> Vec<Vec<String>> {
        let mut commands = vec![Vec::new()];
        let mut word: Option<String> = None;
        let mut quote: Option<char> = None;
        for c in line.chars() {
            let current = commands.len() - 1;
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_with(String::new).push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_with(String::new);
                }
                (None, '#') if word.is_none() => break,
                (None, ';') => {
                    commands[current].extend(word.take());
                    commands.push(Vec::new());
                }
                (None, c) if c.is_whitespace() => commands[current].extend(word.take()),
                (None, c) => word.get_or_insert_with(String::new).push(c),
            }
        }
        let last = commands.len() - 1;
        commands[last].extend(word);
        commands.retain(|c| !c.is_empty());
        commands
    }

    /// The `$ qix …` commands of the section: continuations joined, leading `NAME=value`
    /// assignments dropped.
    fn commands(section: &str) -> Vec<Vec<String>> {
        let mut lines = Vec::new();
        let mut pending = String::new();
        for line in section.lines() {
            let line = line.trim();
            if pending.is_empty() && !line.starts_with("$ ") {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(part) => {
                    pending.push_str(part);
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line);
                    lines.push(std::mem::take(&mut pending));
                }
            }
        }
        lines
            .iter()
            .flat_map(|line| shell(line.trim_start_matches("$ ")))
            .map(|words| {
                words
                    .into_iter()
                    .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_signing_in_sections_command_lines_parse() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("the workspace README");
        let start = readme
            .find("\n## Signing in\n")
            .expect("README.md has a \"Signing in\" section");
        let section = &readme[start + 1..];
        let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
        let commands = commands(&section[..end]);
        // Every way with its example: API key, OAuth client (flags and environment),
        // contexts, QSEoW (header, custom header, JWT, certificates).
        assert!(commands.len() >= 14, "{commands:?}");
        for c in &commands {
            assert_eq!(c[0], "qix", "{c:?}");
            if let Err(e) = crate::Cli::command().try_get_matches_from(c) {
                panic!("README.md: `{}` does not parse: {e}", c.join(" "));
            }
        }
        for flag in [
            "--bearer",
            "--client-id",
            "--client-secret",
            "--context",
            "--header",
            "--certs",
        ] {
            assert!(
                commands.iter().any(|c| c.iter().any(|w| w == flag)),
                "no example with {flag}"
            );
        }
    }

    #[test]
    fn shell_lines_split_into_commands_of_words() {
        assert_eq!(
            shell(
                r#"qix --header 'X-Qlik-User: UserDirectory=D; UserId=U' --bearer "$JWT" apps; qix ls # x"#
            ),
            [
                vec![
                    "qix",
                    "--header",
                    "X-Qlik-User: UserDirectory=D; UserId=U",
                    "--bearer",
                    "$JWT",
                    "apps"
                ],
                vec!["qix", "ls"]
            ]
        );
        assert_eq!(
            commands("$ A=1 qix a \\\n    --b 'c d'\ntext\n"),
            [vec!["qix", "a", "--b", "c d"]]
        );
    }
}
