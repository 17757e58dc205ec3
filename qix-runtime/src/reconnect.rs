//! Policies: automatic reconnection ([`Reconnect`]) and retry of aborted calls
//! ([`RetryPolicy`]).

use std::time::Duration;

use crate::error::{EngineCloseCode, Error};

/// Automatic reconnection: exponential backoff with jitter, bounded in attempts and in
/// total time. Turned on with
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
}

impl Default for Reconnect {
    /// 100 ms, doubling up to 10 s, ±20%, at most 10 attempts within 2 minutes.
    fn default() -> Self {
        Reconnect {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: 10,
            max_elapsed: Duration::from_secs(120),
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

/// Whether a lost connection is worth connecting again: not after a close this client
/// made, nor after the engine said the request was malformed (4202), forbidden (4203) or
/// for an app that does not exist (4204); yes after a network drop, 4205 (busy), 4230,
/// 4240 and other closes.
pub(crate) fn worth_reconnecting(e: &Error) -> bool {
    match e {
        Error::ConnectionClosed(c) => {
            !c.by_client
                && !matches!(
                    c.engine_code(),
                    Some(
                        EngineCloseCode::MalformedRequest
                            | EngineCloseCode::PermissionDenied
                            | EngineCloseCode::NotFound
                    )
                )
        }
        Error::Transport(_) | Error::Timeout { .. } => true,
        _ => false,
    }
}

/// Retries of calls the engine aborted (error 15, `LOCERR_GENERIC_ABORTED`: a newer
/// request, typically a selection, made it moot; the engine did nothing, so sending it
/// again is safe). Per call: `.retries(n)` on a generated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How often an aborted call is sent again before its error is returned (default 2).
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
    fn which_closes_reconnect() {
        let close = |code| Error::ConnectionClosed(CloseInfo::remote(code, ""));
        assert!(worth_reconnecting(&close(None)));
        assert!(worth_reconnecting(&close(Some(4205))));
        assert!(worth_reconnecting(&close(Some(4240))));
        assert!(worth_reconnecting(&close(Some(4230))));
        assert!(worth_reconnecting(&close(Some(1001))));
        assert!(!worth_reconnecting(&close(Some(4203))));
        assert!(!worth_reconnecting(&close(Some(4204))));
        assert!(!worth_reconnecting(&close(Some(4202))));
        let mine = Error::ConnectionClosed(CloseInfo {
            by_client: true,
            ..CloseInfo::remote(Some(1000), "")
        });
        assert!(!worth_reconnecting(&mine));
        assert!(!mine.is_retryable());
        assert!(close(None).is_retryable());
    }
}
