//! Policies: automatic reconnection ([`Reconnect`]) and retry of aborted calls
//! ([`RetryPolicy`]).

use std::time::Duration;

use crate::error::Error;

/// Automatic reconnection: exponential backoff with jitter, bounded in attempts and in
/// total time per episode (from the first drop until a connection stays up: see
/// `stable_after`). Every attempt waits its delay first, the first one `initial_delay`.
/// When the budget is spent the session ends with [`Error::ReconnectFailed`]. Turned on with
/// [`SessionBuilder::reconnect`](crate::SessionBuilder::reconnect); without it a dropped
/// connection ends the session.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconnect {
    /// The wait before the first attempt.
    pub initial_delay: Duration,
    /// The wait never grows beyond this.
    pub max_delay: Duration,
    /// Each wait is the previous one times this.
    pub multiplier: f64,
    /// Each wait is moved at random by up to this fraction (0.2: ±20%), so that many
    /// clients cut at once do not come back at once.
    pub jitter: f64,
    /// Give up after this many failed attempts…
    pub max_attempts: u32,
    /// …or once this much time has passed since the connection was lost.
    pub max_elapsed: Duration,
    /// A connection counts as back once it has stayed up this long, or once a call
    /// succeeded on it; only then does the next drop start a new episode with a fresh
    /// budget. Until then the attempts and the time above bound the whole episode, so a
    /// peer that accepts each connection and drops it at once (a busy engine closing with
    /// 4205, a proxy) sees the backoff, not a storm.
    pub stable_after: Duration,
}

impl Default for Reconnect {
    /// 100 ms, doubling up to 10 s, ±20%, at most 10 attempts within 2 minutes per
    /// episode; a connection is back after 5 s up (or a successful call).
    fn default() -> Self {
        Reconnect {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: 10,
            max_elapsed: Duration::from_secs(120),
            stable_after: Duration::from_secs(5),
        }
    }
}

impl Reconnect {
    /// The wait before attempt `attempt` (1, 2, …); `unit` is a random number in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let base = (self.initial_delay.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * factor).max(0.0))
    }
}

/// Whether a lost connection (or a failed attempt) is worth connecting again: the one
/// rule of [`CloseInfo::is_transient`](crate::CloseInfo::is_transient) for closes, yes
/// after a transport failure or a timeout, and for a failed sign-in what the
/// [`AuthError`](crate::AuthError) says (a token endpoint that is down: yes; refused
/// credentials: no).
pub(crate) fn worth_reconnecting(e: &Error) -> bool {
    match e {
        Error::ConnectionClosed(c) => c.is_transient(),
        Error::Transport(_) | Error::Timeout { .. } => true,
        Error::Auth(a) => a.is_retryable(),
        _ => false,
    }
}

/// Retries of calls the engine aborted (error 15, `LOCERR_GENERIC_ABORTED`: a newer
/// request, typically a selection, made it moot). Only reads — methods safe to repeat,
/// as the generator marks them ([`MethodInfo::read`](crate::MethodInfo::read)) — are
/// retried by default; a write is retried only when its call asks (`.retries(n)` on a
/// generated request), and a call the user asked the engine to abort (`AbortRequest`,
/// `CancelRequest`, `AbortAll`) never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How often an aborted read is sent again before its error is returned (default 2).
    pub aborted: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { aborted: 2 }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy { aborted: 0 }
    }
}

/// A random number in [0, 1) for jitter (xorshift seeded per call from the clock; jitter
/// needs spread, not quality).
pub(crate) fn unit_random() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0x2545_f491);
    let mut x = nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CloseInfo;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let r = Reconnect::default();
        assert_eq!(r.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(r.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(r.delay(30, 0.5), Duration::from_secs(10));
        assert_eq!(r.delay(1, 0.0), Duration::from_millis(80));
        assert!(r.delay(1, 0.999) > Duration::from_millis(119));
        for _ in 0..100 {
            let u = unit_random();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn which_closes_reconnect_and_retry_agree() {
        let close = |code| Error::ConnectionClosed(CloseInfo::remote(code, ""));
        for code in [
            None,
            Some(1000),
            Some(1001),
            Some(1011),
            Some(4205),
            Some(4230),
            Some(4240),
        ] {
            assert!(worth_reconnecting(&close(code)), "{code:?}");
            assert!(close(code).is_retryable(), "{code:?}");
        }
        for code in [4202, 4203, 4204] {
            assert!(!worth_reconnecting(&close(Some(code))), "{code}");
            assert!(!close(Some(code)).is_retryable(), "{code}");
        }
        let mine = Error::ConnectionClosed(CloseInfo {
            by_client: true,
            ..CloseInfo::remote(Some(1000), "")
        });
        assert!(!worth_reconnecting(&mine));
        assert!(!mine.is_retryable());
        let gave_up = Error::ReconnectFailed {
            attempts: 3,
            elapsed: Duration::from_secs(1),
            last: Box::new(close(Some(4205))),
        };
        assert!(!gave_up.is_retryable() && !worth_reconnecting(&gave_up));
        // A token endpoint that is down: retried; refused credentials: not.
        let down = Error::Auth(crate::AuthError::retryable("down"));
        assert!(down.is_retryable() && worth_reconnecting(&down));
        let refused = Error::Auth(crate::AuthError::refused("401"));
        assert!(!refused.is_retryable() && !worth_reconnecting(&refused));
    }
}
