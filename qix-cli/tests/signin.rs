//! Signing in from the command line: contexts in the platform's config folder (mode 0600,
//! secrets never printed), OAuth client credentials against a fake tenant (HTTPS with a
//! test CA), the precedence of flags, the project file, the environment and a context,
//! and Qlik Sense Enterprise's ways (virtual proxy prefix, header authentication, JWT).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{expect_code, one_line_error, qix_env, qix_in, serve, temp_dir};
use qix_runtime::testing::{ConnectionInfo, FakeApp, FakeTenant, MockEngine, TokenAnswer};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const CLIENT: &str = "cli-client";
const SECRET: &str = "cli-secret-6Gb1Xr";

/// A `--certs` folder whose `root.pem` is a test CA, and a server config with a
/// `localhost` certificate that CA signed.
fn certs(dir: &Path) -> (PathBuf, rustls::ServerConfig) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let folder = dir.join("certs");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("root.pem"), issuer.pem()).unwrap();
    // The client certificate `--certs` also wants; this server does not ask for one.
    let client = rcgen::generate_simple_self_signed(vec!["qix-client".to_string()]).unwrap();
    std::fs::write(folder.join("client.pem"), client.cert.pem()).unwrap();
    std::fs::write(
        folder.join("client_key.pem"),
        client.signing_key.serialize_pem(),
    )
    .unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], der)
    .unwrap();
    (folder, config)
}

fn bearer(c: &ConnectionInfo) -> Option<&str> {
    c.header("authorization")
}

fn last(mock: &MockEngine) -> ConnectionInfo {
    mock.connections().last().cloned().expect("a connection")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn contexts_live_in_the_config_folder_with_mode_0600_and_never_print_secrets() {
    let dir = temp_dir("ctx-folder");
    let xdg = dir.join("xdg");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let env = [
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
    ];
    let qix = |args: &'static [&'static str]| {
        let dir = dir.clone();
        async move { qix_env(&dir, &env, &["QIX_HOME"], args).await }
    };
    // The file of before is read while the new one does not exist.
    std::fs::create_dir_all(home.join(".qix")).unwrap();
    std::fs::write(
        home.join(".qix/contexts.yml"),
        "current: old\ncontexts:\n  old:\n    engine: ws://localhost:9076\n",
    )
    .unwrap();
    let ls = qix(&["-q", "context", "ls"]).await;
    expect_code(&ls, 0, "ls of the old file");
    assert_eq!(ls.stdout, "old\n");

    let set = qix(&[
        "--engine",
        "wss://tenant.example.com",
        "--client-id",
        CLIENT,
        "--client-secret",
        SECRET,
        "--header",
        "X-Qlik-User: UserDirectory=CORP; UserId=svc",
        "--header",
        "X-Team: data",
        "context",
        "set",
        "prod",
        "--comment",
        "the prod tenant",
    ])
    .await;
    expect_code(&set, 0, "context set");
    let file = xdg.join("qix/contexts.yml");
    assert_eq!(
        set.stdout,
        format!("Context prod created ({}).\n", file.display())
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(SECRET) && text.contains("old:"), "{text}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&xdg.join("qix")), 0o700);
    }
    // The old file is left as it was.
    assert!(
        std::fs::read_to_string(home.join(".qix/contexts.yml"))
            .unwrap()
            .starts_with("current: old")
    );

    let get = qix(&["context", "get", "prod"]).await;
    expect_code(&get, 0, "context get");
    assert_eq!(
        get.stdout,
        format!(
            "name: prod\nengine: wss://tenant.example.com\nheaders:\n  X-Qlik-User: <redacted>\n  X-Team: data\nclient-id: {CLIENT}\nclient-secret: <redacted>\ncomment: the prod tenant\n"
        )
    );
    let json = qix(&["--json", "context", "get", "prod"]).await;
    let ls = qix(&["context", "ls"]).await;
    let ls_json = qix(&["--json", "context", "ls"]).await;
    for (what, out) in [("get --json", &json), ("ls", &ls), ("ls --json", &ls_json)] {
        expect_code(out, 0, what);
        assert!(!out.stdout.contains(SECRET), "{what}: {}", out.stdout);
        assert!(!out.stdout.contains("UserId=svc"), "{what}: {}", out.stdout);
    }
    assert!(
        json.stdout.contains("\"client-secret\": \"<redacted>\""),
        "{}",
        json.stdout
    );
    assert!(
        ls.stdout.contains("│ *")
            && ls
                .stdout
                .contains(&format!("client {CLIENT}, X-Qlik-User header")),
        "{}",
        ls.stdout
    );
    assert!(ls.stdout.contains("the prod tenant"), "{}", ls.stdout);

    expect_code(&qix(&["context", "use", "prod"]).await, 0, "use");
    let get = qix(&["context", "get"]).await;
    assert!(get.stdout.starts_with("name: prod\n"), "{}", get.stdout);
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600, "after use");
        // A file others may read is pointed out.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let ls = qix(&["-q", "context", "ls"]).await;
        expect_code(&ls, 0, "ls of an open file");
        assert_eq!(
            ls.stderr,
            format!(
                "qix: warning: {} holds secrets and others may read it (mode 0644): chmod 600 it\n",
                file.display()
            )
        );
    }
    expect_code(&qix(&["context", "rm", "prod"]).await, 0, "rm");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "rewritten after rm");
    let ls = qix(&["-q", "context", "ls"]).await;
    assert_eq!(ls.stdout, "old\n");
    assert_eq!(ls.stderr, "", "no secrets left: no warning");
    let out = qix(&["--json", "context", "get", "prod"]).await;
    assert_eq!(
        one_line_error(&out, "get after rm"),
        "qix: there is no context \"prod\" (qix context ls)\n"
    );
}

#[tokio::test]
async fn context_set_stores_credentials_of_its_command_line_only() {
    let dir = temp_dir("ctx-env");
    let home = dir.join("h");
    let env = [
        ("QIX_HOME", home.to_str().unwrap()),
        ("QLIK_API_KEY", "env-key-3Tn"),
        ("QLIK_CLIENT_SECRET", "env-secret-7Mq"),
    ];
    let set = qix_in(&dir, &env, &["context", "set", "dev"]).await;
    expect_code(&set, 0, "set");
    let text = std::fs::read_to_string(home.join("contexts.yml")).unwrap();
    assert!(
        !text.contains("env-key-3Tn") && !text.contains("env-secret-7Mq"),
        "{text}"
    );
    let set = qix_in(
        &dir,
        &env,
        &["--bearer", "flag-key-9Pz", "context", "set", "dev"],
    )
    .await;
    expect_code(&set, 0, "set with --bearer");
    let text = std::fs::read_to_string(home.join("contexts.yml")).unwrap();
    assert!(text.contains("api-key: flag-key-9Pz"), "{text}");
    let out = qix_in(&dir, &env, &["--client-secret", "s", "context", "set", "x"]).await;
    assert_eq!(
        one_line_error(&out, "a secret without a client"),
        "qix: --client-secret needs --client-id\n"
    );
}

/// A TLS tenant in front of a mock serving an app, with the `--certs` folder that trusts
/// it.
async fn tls_tenant(dir: &Path) -> (MockEngine, FakeTenant, PathBuf) {
    let app = FakeApp::new("a.qvf");
    let mock = serve(&app).await;
    let (certs, config) = certs(dir);
    let tenant = FakeTenant::start_tls(&mock, config).await;
    tenant.add_client(CLIENT, SECRET);
    (mock, tenant, certs)
}

#[tokio::test]
async fn client_credentials_sign_in_from_flags_or_the_environment_and_show_nowhere() {
    let dir = temp_dir("client-creds");
    let (mock, tenant, certs) = tls_tenant(&dir).await;
    let engine = tenant.url();
    let certs_s = certs.to_str().unwrap();
    let traffic = dir.join("traffic.jsonl");
    let out = qix_in(
        &dir,
        &[],
        &[
            "-v",
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "--traffic",
            traffic.to_str().unwrap(),
            "apps",
        ],
    )
    .await;
    expect_code(&out, 0, "apps with client credentials");
    let token = tenant.issued()[0].clone();
    assert_eq!(
        bearer(&last(&mock)),
        Some(format!("Bearer {token}").as_str())
    );
    let requests = tenant.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].secret_ok && requests[0].client_id.as_deref() == Some(CLIENT));
    assert!(
        out.stderr.contains(&format!(
            "qix: signing in with --client-id \"{CLIENT}\" (OAuth client credentials)\nqix: connecting to {engine}\nqix: token URL {}\n",
            tenant.token_url()
        )),
        "{}",
        out.stderr
    );
    let recorded = std::fs::read_to_string(&traffic).unwrap();
    assert!(recorded.contains("GetDocList"), "{recorded}");
    for (what, text) in [
        ("stdout", &out.stdout),
        ("-v", &out.stderr),
        ("traffic", &recorded),
    ] {
        assert!(
            !text.contains(SECRET) && !text.contains(&token),
            "{what}: {text}"
        );
    }

    // From the environment, with an explicit token URL.
    let out = qix_in(
        &dir,
        &[("QLIK_CLIENT_ID", CLIENT), ("QLIK_CLIENT_SECRET", SECRET)],
        &[
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--token-url",
            &tenant.token_url(),
            "apps",
        ],
    )
    .await;
    expect_code(&out, 0, "apps with the environment's client");
    assert_eq!(tenant.token_requests().len(), 2);

    // A refused client: one line naming the client id, never the secret.
    let out = qix_in(
        &dir,
        &[("QLIK_CLIENT_SECRET", "wrong-secret-2Kd")],
        &[
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--client-id",
            CLIENT,
            "apps",
        ],
    )
    .await;
    assert_eq!(
        one_line_error(&out, "a refused client"),
        format!(
            "qix: sign-in failed: token endpoint {} for client id \"{CLIENT}\": HTTP 401 Unauthorized: invalid_client (Client authentication failed) (check the client id and secret)\n",
            tenant.token_url()
        )
    );
    assert!(!out.stderr.contains("wrong-secret-2Kd"));
    // A token endpoint that answers garbage, and a wrong token URL: said where.
    tenant.answer_next(TokenAnswer::Http(200, "<html>".into()));
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "apps",
        ],
    )
    .await;
    assert!(
        one_line_error(&out, "garbage").contains("the answer is not JSON (6 bytes;"),
        "{}",
        out.stderr
    );
    let wrong_url = format!(
        "{}/nope",
        engine
            .replace("wss://", "https://")
            .trim_end_matches("/app/")
    );
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "--token-url",
            &wrong_url,
            "apps",
        ],
    )
    .await;
    let line = one_line_error(&out, "wrong token URL");
    assert!(
        line.contains(&format!("token endpoint {wrong_url} ")),
        "{line}"
    );
    // Without the CA the token endpoint is not trusted.
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &engine,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "apps",
        ],
    )
    .await;
    assert!(
        one_line_error(&out, "untrusted").contains("invalid peer certificate"),
        "{}",
        out.stderr
    );
    // `spec fetch` signs in the same way (the tenant has no spec: its door answers).
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &engine,
            "--certs",
            certs_s,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "spec",
            "fetch",
        ],
    )
    .await;
    let line = one_line_error(&out, "spec fetch");
    assert!(
        !line.contains("401"),
        "the spec request carried a valid token: {line}"
    );
}

#[tokio::test]
async fn a_context_a_project_file_the_environment_and_flags_in_precedence_order() {
    let dir = temp_dir("precedence");
    let app = FakeApp::new("a.qvf");
    let mock = serve(&app).await;
    let tenant = FakeTenant::start(&mock).await;
    tenant.add_client(CLIENT, SECRET);
    let home = dir.join("home");
    let env_home = ("QIX_HOME", home.to_str().unwrap());
    let engine = tenant.url();
    let set = qix_in(
        &dir,
        &[env_home],
        &[
            "--engine",
            &engine,
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "--header",
            "X-Level: context",
            "--header",
            "X-From-Context: c",
            "context",
            "set",
            "ctx",
        ],
    )
    .await;
    expect_code(&set, 0, "context set");
    expect_code(
        &qix_in(&dir, &[env_home], &["context", "use", "ctx"]).await,
        0,
        "use",
    );
    let headers = |c: &ConnectionInfo| {
        (
            c.header("x-level").map(str::to_string),
            c.header("x-from-context").map(str::to_string),
            c.header("x-from-project").map(str::to_string),
        )
    };
    let some = |s: &str| Some(s.to_string());

    // The context alone: its engine, headers and client.
    let out = qix_in(&dir, &[env_home], &["apps"]).await;
    expect_code(&out, 0, "the context alone");
    assert_eq!(headers(&last(&mock)), (some("context"), some("c"), None));
    assert_eq!(tenant.token_requests().len(), 1);

    // A project file over the context (its headers add up, same names win).
    std::fs::write(
        dir.join("qix.yml"),
        "headers:\n  X-Level: project\n  X-From-Project: p\n",
    )
    .unwrap();
    let out = qix_in(&dir, &[env_home], &["apps"]).await;
    expect_code(&out, 0, "with a project file");
    assert_eq!(
        headers(&last(&mock)),
        (some("project"), some("c"), some("p"))
    );
    assert_eq!(
        tenant.token_requests().len(),
        2,
        "still the context's client"
    );

    // Flags over both.
    let out = qix_in(&dir, &[env_home], &["--header", "X-Level: flag", "apps"]).await;
    expect_code(&out, 0, "with a flag");
    assert_eq!(headers(&last(&mock)), (some("flag"), some("c"), some("p")));
    assert_eq!(tenant.token_requests().len(), 3);

    // The environment's API key over the context's client: no token request.
    let issued = tenant.issued()[0].clone();
    let out = qix_in(&dir, &[env_home, ("QLIK_API_KEY", &issued)], &["apps"]).await;
    expect_code(&out, 0, "with QLIK_API_KEY");
    assert_eq!(
        bearer(&last(&mock)),
        Some(format!("Bearer {issued}").as_str())
    );
    assert_eq!(tenant.token_requests().len(), 3, "no new token");

    // The project file's Authorization over the environment's; a flag over both.
    let second = tenant.issued()[1].clone();
    std::fs::write(
        dir.join("qix.yml"),
        "headers:\n  Authorization: Bearer ${PROJECT_TOKEN}\n",
    )
    .unwrap();
    let out = qix_in(
        &dir,
        &[
            env_home,
            ("QLIK_API_KEY", "refused"),
            ("PROJECT_TOKEN", &second),
        ],
        &["apps"],
    )
    .await;
    expect_code(&out, 0, "the project's Authorization");
    assert_eq!(
        bearer(&last(&mock)),
        Some(format!("Bearer {second}").as_str())
    );
    let out = qix_in(
        &dir,
        &[env_home, ("PROJECT_TOKEN", "refused")],
        &["--bearer", &issued, "apps"],
    )
    .await;
    expect_code(&out, 0, "--bearer over the project");
    assert_eq!(
        bearer(&last(&mock)),
        Some(format!("Bearer {issued}").as_str())
    );
    let connections = mock.connections().len();
    assert_eq!(tenant.refused_upgrades(), 0);

    // A project file naming another engine: the context is not used, its client and
    // headers go nowhere.
    let other = serve(&FakeApp::new("a.qvf")).await;
    std::fs::write(
        dir.join("qix.yml"),
        format!("engine: ws://{}\n", other.addr()),
    )
    .unwrap();
    let out = qix_in(&dir, &[env_home], &["-v", "apps"]).await;
    expect_code(&out, 0, "another engine");
    let c = last(&other);
    assert_eq!((bearer(&c), headers(&c)), (None, (None, None, None)));
    assert!(
        out.stderr.contains("context ctx not used"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.connections().len(), connections);
    let out = qix_in(&dir, &[env_home], &["--context", "ctx", "apps"]).await;
    assert!(
        one_line_error(&out, "--context for another engine").starts_with(&format!(
            "qix: context ctx is for {engine}, but the project file names ws://"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(tenant.token_requests().len(), 3);
}

#[tokio::test]
async fn qlik_sense_enterprise_prefix_header_authentication_and_jwt_from_the_command_line() {
    let dir = temp_dir("qsefw");
    let mock = serve(&FakeApp::new("abc-1")).await;
    let base = format!("ws://{}", mock.addr());
    // Header authentication: X-Qlik-User, and a header name the virtual proxy configures.
    for (prefix, header) in [
        ("hdr", "X-Qlik-User: UserDirectory=CORP; UserId=jdoe"),
        ("custom", "hdr-usr: CORP\\jdoe"),
    ] {
        let out = qix_in(
            &dir,
            &[],
            &[
                "--engine",
                &format!("{base}/{prefix}"),
                "--app",
                "abc-1",
                "--header",
                header,
                "apps",
            ],
        )
        .await;
        expect_code(&out, 0, prefix);
        let c = last(&mock);
        assert_eq!(c.path, format!("/{prefix}/app/abc-1"));
        let (name, value) = header.split_once(": ").unwrap();
        assert_eq!(c.header(name), Some(value));
    }
    // A JWT as a bearer token, then as corectl's using-jwts project passes it.
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqZG9lIn0.c2ln";
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &format!("{base}/jwt"),
            "--app",
            "abc-1",
            "--bearer",
            jwt,
            "apps",
        ],
    )
    .await;
    expect_code(&out, 0, "--bearer JWT");
    assert_eq!(last(&mock).path, "/jwt/app/abc-1");
    assert_eq!(bearer(&last(&mock)), Some(format!("Bearer {jwt}").as_str()));
    std::fs::write(
        dir.join("corectl.yml"),
        format!("engine: {base}/jwt\napp: abc-1\nheaders:\n  Authorization: Bearer ${{JWT}}\n"),
    )
    .unwrap();
    let out = qix_in(&dir, &[("JWT", jwt)], &["apps"]).await;
    expect_code(&out, 0, "corectl.yml with a JWT");
    assert_eq!(last(&mock).path, "/jwt/app/abc-1");
    assert_eq!(bearer(&last(&mock)), Some(format!("Bearer {jwt}").as_str()));
}

#[tokio::test]
async fn context_name_on_any_command_picks_a_context_over_the_current_one() {
    let dir = temp_dir("ctx-pick");
    let a = serve(&FakeApp::new("a.qvf")).await;
    let b = serve(&FakeApp::new("a.qvf")).await;
    let home = dir.join("home");
    let env = [("QIX_HOME", home.to_str().unwrap())];
    for (name, mock) in [("a", &a), ("b", &b)] {
        let engine = format!("ws://{}", mock.addr());
        let header = format!("X-Ctx: {name}");
        let set = qix_in(
            &dir,
            &env,
            &[
                "--engine", &engine, "--header", &header, "context", "set", name,
            ],
        )
        .await;
        expect_code(&set, 0, name);
    }
    expect_code(
        &qix_in(&dir, &env, &["context", "use", "a"]).await,
        0,
        "use a",
    );
    let ctx = |c: &ConnectionInfo| c.header("x-ctx").map(str::to_string);

    // The current context, then another one named on the command line (any command).
    expect_code(&qix_in(&dir, &env, &["apps"]).await, 0, "current");
    assert_eq!(ctx(&last(&a)), Some("a".into()));
    let out = qix_in(
        &dir,
        &env,
        &["-v", "--context", "b", "--app", "a.qvf", "fields"],
    )
    .await;
    expect_code(&out, 0, "--context b");
    assert_eq!(ctx(&last(&b)), Some("b".into()));
    assert!(out.stderr.contains("qix: context b\n"), "{}", out.stderr);
    assert_eq!(a.connections().len(), 1, "the current one was not used");

    // An --engine flag elsewhere: the current context stays out of it (its header too).
    let out = qix_in(
        &dir,
        &env,
        &["-v", "--engine", &format!("ws://{}", b.addr()), "apps"],
    )
    .await;
    expect_code(&out, 0, "--engine over the current context");
    assert_eq!(ctx(&last(&b)), None);
    assert!(out.stderr.contains("context a not used"), "{}", out.stderr);

    // After `context clear` no context applies, but one can still be named.
    expect_code(&qix_in(&dir, &env, &["context", "clear"]).await, 0, "clear");
    let out = qix_in(&dir, &env, &["--context", "a", "apps"]).await;
    expect_code(&out, 0, "--context a after clear");
    assert_eq!(ctx(&last(&a)), Some("a".into()));
    assert_eq!(a.connections().len(), 2);
}

/// A TLS front on loopback (`localhost`) that requires a client certificate issued by
/// `client_ca` and passes the bytes on to `mock`, as Qlik Sense's engine port (4747) does.
async fn mutual_tls_front(
    mock: &MockEngine,
    server: rustls::ServerConfig,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let engine = mock.addr();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client without an acceptable certificate fails here: nothing reaches
                // the engine.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut inner) = tokio::net::TcpStream::connect(engine).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn client_certificates_and_x_qlik_user_reach_an_engine_that_requires_them() {
    use rcgen::ExtendedKeyUsagePurpose;
    let dir = temp_dir("mtls");
    let mock = serve(&FakeApp::new("a.qvf")).await;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: &[&str], usage: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert, key)
    };
    let (server_cert, server_key) = leaf(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(&["qix-client"], ExtendedKeyUsagePurpose::ClientAuth);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
                server_key.serialize_der(),
            )),
        )
        .unwrap();
    let (port, front) = mutual_tls_front(&mock, config).await;
    let engine = format!("wss://localhost:{port}");

    // A `--certs` folder as Qlik Sense exports it: the engine's CA and a client it issued.
    let write_certs = |name: &str, cert: &str, key: &str| {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("root.pem"), ca.pem()).unwrap();
        std::fs::write(folder.join("client.pem"), cert).unwrap();
        std::fs::write(folder.join("client_key.pem"), key).unwrap();
        folder
    };
    let good = write_certs("good", &client_cert.pem(), &client_key.serialize_pem());
    let user = "X-Qlik-User: UserDirectory=INTERNAL; UserId=sa_engine";
    let out = qix_in(
        &dir,
        &[],
        &[
            "-v",
            "--engine",
            &engine,
            "--certs",
            good.to_str().unwrap(),
            "--header",
            user,
            "apps",
        ],
    )
    .await;
    expect_code(&out, 0, "client certificate and X-Qlik-User");
    assert_eq!(
        last(&mock).header("x-qlik-user"),
        Some("UserDirectory=INTERNAL; UserId=sa_engine")
    );
    // -v says what it does, not who it signs in as.
    assert!(
        out.stderr.contains("qix: connecting to wss://localhost:")
            && !out.stderr.contains("sa_engine"),
        "{}",
        out.stderr
    );

    // A client certificate the engine's CA did not issue: refused in the handshake.
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_string()]).unwrap();
    let bad = write_certs(
        "bad",
        &stranger.cert.pem(),
        &stranger.signing_key.serialize_pem(),
    );
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &engine,
            "--certs",
            bad.to_str().unwrap(),
            "--header",
            user,
            "apps",
        ],
    )
    .await;
    let line = one_line_error(&out, "a client certificate of another CA");
    assert!(line.contains(&engine), "{line}");
    assert_eq!(mock.connections().len(), 1, "nothing got through");
    front.abort();
}
