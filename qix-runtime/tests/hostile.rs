//! Peers that misbehave the way production engines and proxies do: a busy engine that
//! accepts every connection and closes it at once (4205), one that never says
//! `OnConnected`, a proxy that loses the connection without a word (half-open), a peer
//! that stops reading. None may cost a storm of reconnections, a hang, or a leaked task.

mod common;

use std::time::{Duration, Instant};

use common::{LIMIT, call, connect};
use qix_runtime::testing::{Fault, MockEngine, within};
use qix_runtime::{CallFuture, Error, Reconnect, Session};
use serde_json::json;

/// A backoff without jitter, so its waits are exact lower bounds.
fn backoff(max_attempts: u32) -> Reconnect {
    Reconnect {
        initial_delay: Duration::from_millis(40),
        max_delay: Duration::from_millis(320),
        multiplier: 2.0,
        jitter: 0.0,
        max_attempts,
        max_elapsed: Duration::from_secs(30),
        stable_after: Duration::from_secs(5),
    }
}

/// The waits between consecutive connections, each at least its backoff delay.
fn assert_spacing(times: &[Instant], policy: &Reconnect) {
    for (i, pair) in times.windows(2).enumerate() {
        let gap = pair[1].duration_since(pair[0]);
        let attempt = i as u32 + 1;
        let want = policy.delay(attempt, 0.5);
        assert!(
            gap >= want,
            "attempt {attempt} came {gap:?} after the connection before it; the backoff says at least {want:?}"
        );
    }
}

#[tokio::test]
async fn a_busy_engine_that_closes_every_connection_gets_the_backoff_not_a_storm() {
    within(LIMIT, "4205 after OnConnected", async {
        let mock = MockEngine::start().await;
        let policy = backoff(5);
        let session = mock
            .session()
            .reconnect(policy.clone())
            .connect()
            .await
            .expect("the first connection is fine");
        // From now on the engine accepts each connection, says OnConnected, and closes it
        // with 4205: every reconnection "succeeds" and is lost at once.
        mock.after_connected(Some(Fault::close(4205, "busy")));
        mock.close_connections(4205, "busy");
        // A call made meanwhile waits for a connection, then fails with the session.
        let waiting = call(&session.global_object(), "GetDocList", json!({}), None);
        let why = session.closed().await;
        let Error::ReconnectFailed { attempts, last, .. } = &why else {
            panic!("expected the reconnection budget to run out: {why:?}")
        };
        assert_eq!(*attempts, 5, "{why}");
        assert_eq!(last.close_info().and_then(|c| c.code), Some(4205), "{why}");
        assert!(!why.is_retryable());
        assert!(
            why.to_string()
                .contains("gave up reconnecting after 5 attempt(s)"),
            "{why}"
        );
        // It failed, no hang: with the session's end, or with the 4205 of a connection it
        // went out on in between.
        let e = waiting.await.unwrap_err();
        assert!(
            e.to_string() == why.to_string() || e.close_info().and_then(|c| c.code) == Some(4205),
            "{e}"
        );
        // One connection, then exactly one per attempt, each after its delay.
        let times: Vec<Instant> = mock.connections().iter().filter_map(|c| c.at).collect();
        assert_eq!(times.len(), 1 + 5, "connections: {times:?}");
        assert_spacing(&times, &policy);
    })
    .await;
}

#[tokio::test]
async fn an_engine_that_never_says_on_connected_is_retried_within_the_budget() {
    within(LIMIT, "no OnConnected", async {
        let mock = MockEngine::start().await;
        let policy = backoff(3);
        let session = mock
            .session()
            .reconnect(policy.clone())
            .on_connected_timeout(Some(Duration::from_millis(100)))
            .connect()
            .await
            .unwrap();
        mock.on_connected(None);
        mock.drop_connections();
        let why = session.closed().await;
        let Error::ReconnectFailed { attempts, last, .. } = &why else {
            panic!("{why:?}")
        };
        assert_eq!(*attempts, 3);
        assert!(matches!(**last, Error::Timeout { .. }), "{why}");
        assert_eq!(mock.connections().len(), 1 + 3);
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_stayed_up_starts_a_new_episode() {
    within(LIMIT, "stable connection", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").returns(json!({"qDocList": []}));
        let policy = Reconnect {
            max_attempts: 2,
            ..backoff(2)
        };
        let session = mock.session().reconnect(policy).connect().await.unwrap();
        let mut notes = session.notifications();
        // Five drops in a row, each followed by a call that succeeds: every drop is a new
        // episode (a successful call means the connection came back), so a budget of two
        // attempts is never spent.
        for _ in 0..5 {
            mock.drop_connections();
            common::wait_resumed(&mut notes).await;
            call(&session.global_object(), "GetDocList", json!({}), None)
                .await
                .unwrap();
        }
        assert!(!session.is_closed());
        assert_eq!(mock.connections().len(), 6);
    })
    .await;
}

#[tokio::test]
async fn a_half_open_connection_is_found_by_the_keepalive_and_replaced() {
    within(LIMIT, "half-open", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").returns(json!({"qDocList": []}));
        let session = mock
            .session()
            .keepalive(Some(Duration::from_millis(150)))
            .reconnect(backoff(5))
            .connect()
            .await
            .unwrap();
        let global = session.global_object();
        call(&global, "GetDocList", json!({}), None).await.unwrap();
        // The proxy loses the connection: nothing is read, answered or closed any more.
        mock.go_silent();
        let started = Instant::now();
        let e = call(&global, "GetDocList", json!({}), None)
            .await
            .expect_err("the call in flight fails instead of waiting forever");
        assert!(
            matches!(&e, Error::ConnectionClosed(c) if c.reason.contains("keepalive")),
            "{e:?}"
        );
        assert!(e.is_retryable(), "{e}");
        // Found after one silent interval and one unanswered ping, not before.
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
        // Reconnected: the next call goes through a new connection.
        call(&global, "GetDocList", json!({}), None).await.unwrap();
        assert_eq!(mock.connections().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_live_connection_is_pinged_and_kept() {
    within(LIMIT, "keepalive on a live connection", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").returns(json!({"qDocList": []}));
        let session = mock
            .session()
            .keepalive(Some(Duration::from_millis(50)))
            .connect()
            .await
            .unwrap();
        // Idle for many intervals: pings go out, pongs come back, nothing is lost.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(session.is_connected());
        call(&session.global_object(), "GetDocList", json!({}), None)
            .await
            .unwrap();
        assert_eq!(mock.connections().len(), 1);
    })
    .await;
}

/// Calls big enough to fill the socket buffers both ways when the peer stopped reading:
/// the connection task's writes block.
fn fill_the_socket(session: &Session) -> Vec<CallFuture<serde_json::Value>> {
    let big = "x".repeat(1 << 20);
    (0..32)
        .map(|_| {
            call(
                &session.global_object(),
                "Write",
                json!({ "qData": big }),
                None,
            )
        })
        .collect()
}

#[tokio::test]
async fn close_returns_promptly_when_the_peer_stopped_reading() {
    within(LIMIT, "close with a stuck peer", async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let tasks_before = metrics.num_alive_tasks();
        let mock = MockEngine::start().await;
        mock.expect("Write").no_response();
        let session = connect(&mock).await;
        mock.go_silent();
        let calls = fill_the_socket(&session);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(3), session.close())
            .await
            .expect("close() returned");
        assert!(started.elapsed() < Duration::from_secs(3));
        for r in futures_util::future::join_all(calls).await {
            assert!(r.is_err());
        }
        drop(session);
        drop(mock);
        // The connection task and the mock's tasks are gone.
        let deadline = Instant::now() + Duration::from_secs(3);
        while metrics.num_alive_tasks() > tasks_before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            metrics.num_alive_tasks() <= tasks_before,
            "{} tasks alive, {tasks_before} before",
            metrics.num_alive_tasks()
        );
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_connection_even_with_a_stuck_peer() {
    within(LIMIT, "drop with a stuck peer", async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let mock = MockEngine::start().await;
        mock.expect("Write").no_response();
        let session = connect(&mock).await;
        mock.go_silent();
        let calls = fill_the_socket(&session);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The mock's tasks and the session's connection task.
        let tasks_before = metrics.num_alive_tasks();
        drop(calls);
        drop(session);
        let deadline = Instant::now() + Duration::from_secs(3);
        while metrics.num_alive_tasks() >= tasks_before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            metrics.num_alive_tasks() < tasks_before,
            "the connection task is still alive ({} tasks, {tasks_before} before the drop)",
            metrics.num_alive_tasks()
        );
    })
    .await;
}
