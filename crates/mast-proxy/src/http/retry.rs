//! Whether an attempt's outcome is retried under a route's retry policy (Envoy's `retry_on`
//! semantics), and the jittered exponential back-off between attempts.

use std::time::Duration;

use crate::model::route::RetryPolicy;

/// How one upstream attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Response headers with this status and, for trailers-only gRPC answers, grpc-status.
    Response(u16, Option<u32>),
    /// No connection could be opened.
    ConnectFailure,
    /// The stream or connection reset before headers.
    Reset {
        /// The request had been sent.
        sent: bool,
        /// HTTP/2 REFUSED_STREAM.
        refused: bool,
    },
    /// The per-try timeout passed.
    PerTryTimeout,
}

const GRPC_CODES: [u32; 5] = [1, 4, 8, 13, 14];

/// Whether `o` is retried under `p`.
pub fn retriable(p: &RetryPolicy, o: Outcome) -> bool {
    let on = &p.on;
    match o {
        Outcome::Response(status, grpc) => {
            (on.status_5xx && status >= 500)
                || (on.gateway_error && matches!(status, 502..=504))
                || (on.retriable_4xx && status == 409)
                || (on.status_codes && p.status_codes.contains(&status))
                || grpc.is_some_and(|g| {
                    GRPC_CODES
                        .iter()
                        .zip(on.grpc)
                        .any(|(c, enabled)| enabled && *c == g)
                })
        }
        Outcome::ConnectFailure => {
            on.connect_failure
                || on.status_5xx
                || on.gateway_error
                || on.reset
                || on.reset_before_request
        }
        Outcome::Reset { sent, refused } => {
            on.status_5xx
                || on.gateway_error
                || on.reset
                || (refused && on.refused_stream)
                || (!sent && on.reset_before_request)
        }
        Outcome::PerTryTimeout => on.status_5xx || on.gateway_error || on.reset,
    }
}

/// The pause before retry number `n` (1-based): random in `[0, base·2^(n-1))`, capped.
pub fn backoff(p: &RetryPolicy, n: u32) -> Duration {
    let ceiling = p
        .backoff_base
        .saturating_mul(1 << (n.saturating_sub(1)).min(16))
        .min(p.backoff_max);
    let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(fastrand::u64(..nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::route::RetryOn;

    fn policy(on: RetryOn) -> RetryPolicy {
        RetryPolicy {
            on,
            num_retries: 2,
            per_try_timeout: None,
            status_codes: vec![418],
            other_hosts: true,
            host_selection_attempts: 5,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
        }
    }

    #[test]
    fn istio_default_retry_on() {
        // istiod: connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes
        let mut on = RetryOn {
            connect_failure: true,
            refused_stream: true,
            status_codes: true,
            ..Default::default()
        };
        on.grpc[0] = true;
        on.grpc[4] = true;
        let p = policy(on);
        let cases = [
            (Outcome::ConnectFailure, true),
            (
                Outcome::Reset {
                    sent: true,
                    refused: true,
                },
                true,
            ),
            (
                Outcome::Reset {
                    sent: true,
                    refused: false,
                },
                false,
            ),
            (Outcome::Response(503, None), false),
            (Outcome::Response(418, None), true),
            (Outcome::Response(200, Some(14)), true),
            (Outcome::Response(200, Some(5)), false),
            (Outcome::PerTryTimeout, false),
        ];
        for (o, want) in cases {
            assert_eq!(retriable(&p, o), want, "{o:?}");
        }
    }

    #[test]
    fn five_xx_and_reset_before_request() {
        let p = policy(RetryOn {
            status_5xx: true,
            ..Default::default()
        });
        assert!(retriable(&p, Outcome::Response(500, None)));
        assert!(retriable(&p, Outcome::PerTryTimeout));
        assert!(!retriable(&p, Outcome::Response(404, None)));
        let p = policy(RetryOn {
            reset_before_request: true,
            ..Default::default()
        });
        assert!(retriable(
            &p,
            Outcome::Reset {
                sent: false,
                refused: false
            }
        ));
        assert!(!retriable(
            &p,
            Outcome::Reset {
                sent: true,
                refused: false
            }
        ));
        for n in 1..10 {
            assert!(backoff(&p, n) <= Duration::from_millis(250));
        }
    }
}
