//! Memory per idle session: opens sessions against a mock engine running in a child
//! process (so the server's share is not counted) and reports the growth of this
//! process's resident set (VmRSS) per session, and holds it to a budget.
#![cfg(all(feature = "testing", target_os = "linux"))]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use qix_runtime::Session;
use qix_runtime::testing::MockEngine;

const SERVER_ENV: &str = "QIX_IDLE_MEMORY_MOCK_SERVER";
const WARM_UP: usize = 20;
const SESSIONS: usize = 400;
/// Bytes per idle session at most. Measured at about 19.2 KiB (a session's tasks, its
/// WebSocket buffers and tables); RSS also moves with the allocator, the machine and
/// concurrent test threads, so the budget has ~3x headroom: a regression that doubles or
/// triples the per-session footprint (a buffer kept per session, a leaked task) fails,
/// noise does not.
const BUDGET_PER_SESSION: u64 = 64 * 1024;

/// Not a test: the child process's body. Serves a mock engine until stdin closes.
#[test]
#[ignore = "helper process of idle_session_memory"]
fn mock_engine_server_process() {
    if std::env::var_os(SERVER_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = MockEngine::start().await;
        println!("MOCK_URL {}", mock.url());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        // Bounded even if the parent never closes stdin.
        let _ = tokio::time::timeout(Duration::from_secs(120), stdin_closed).await;
    });
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "mock_engine_server_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SERVER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest may print its own text before it on the same line.
            if let Some((_, url)) = line.split_once("MOCK_URL ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the mock engine child process did not print its URL");
    (server, url)
}

#[test]
fn idle_session_memory() {
    let (_server, url) = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let connect = |n: usize| {
        let url = url.clone();
        async move {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(Session::connect(url.clone()).await.unwrap());
            }
            out
        }
    };
    let (before, after, sessions) = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            // Warm up: the runtime, the allocator's arenas, TLS-free connector paths.
            let warm = connect(WARM_UP).await;
            let before = vm_rss_kib();
            let sessions = connect(SESSIONS).await;
            // Idle: let every connection task settle into waiting.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let after = vm_rss_kib();
            (before, after, (warm, sessions))
        })
        .await
        .expect("opening the sessions took too long")
    });
    assert!(sessions.1.iter().all(|s| !s.is_closed()));
    let per_session = (after.saturating_sub(before) * 1024) / SESSIONS as u64;
    eprintln!(
        "idle session memory: {per_session} bytes per session ({SESSIONS} sessions, VmRSS {before} kB -> {after} kB)"
    );
    assert!(
        per_session <= BUDGET_PER_SESSION,
        "an idle session takes {per_session} bytes, over the budget of {BUDGET_PER_SESSION}"
    );
    drop(sessions);
    rt.shutdown_timeout(Duration::from_secs(5));
}
