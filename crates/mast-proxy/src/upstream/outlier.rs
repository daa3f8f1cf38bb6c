//! Outlier detection, as Envoy's consecutive-errors detectors do it: each response (or
//! local failure) updates its host's consecutive 5xx and gateway-failure counts; a host that
//! reaches a threshold is ejected (if the enforcing roll hits and fewer than
//! `max_ejection_percent` of the cluster's hosts are ejected) for `base_ejection_time` times
//! the number of times it was ejected, capped at `max_ejection_time`; each `interval` a host
//! stays in takes one off that number. Connection failures and resets count as 503 and
//! timeouts as 504, as when Envoy does not split local-origin errors; a gRPC response counts
//! as the HTTP status of its `grpc-status`. An ejected host takes no traffic until its time is
//! up, unless fewer than the panic threshold of the hosts are usable (see
//! [`super::ClusterRt::pick`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::Host;
use crate::model::cluster::Outlier;

/// What an attempt came to, for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result {
    /// A response with this status.
    Status(u16),
    /// The connection failed, or the upstream reset (counted as 503).
    LocalFailure,
    /// The attempt timed out (counted as 504).
    Timeout,
}

impl Result {
    fn status(self) -> u16 {
        match self {
            Result::Status(s) => s,
            Result::LocalFailure => 503,
            Result::Timeout => 504,
        }
    }
}

/// A host's outlier state.
#[derive(Debug, Default)]
pub struct HostHealth {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    /// Milliseconds since [`epoch`] until which the host is ejected (0: not ejected).
    ejected_until: AtomicU64,
    /// The ejection multiplier (Envoy's `num_ejections`, which intervals in take down).
    multiplier: AtomicU32,
    ejections: AtomicU32,
}

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

/// Now, in milliseconds since the process's first look at the clock (never 0).
pub fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl HostHealth {
    /// Whether the host is ejected at `now` (milliseconds from [`now_ms`]).
    pub fn ejected_at(&self, now: u64) -> bool {
        now < self.ejected_until.load(Ordering::Relaxed)
    }

    /// How many times the host was ejected.
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }
}

/// Which detector fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// `consecutive_5xx`.
    Consecutive5xx,
    /// `consecutive_gateway_failure`.
    ConsecutiveGateway,
}

/// Counts a result; the detector that reached its threshold, if one did (the counts restart).
pub fn count(o: &Outlier, h: &HostHealth, r: Result) -> Option<Trip> {
    let s = r.status();
    if s < 500 {
        h.consecutive_5xx.store(0, Ordering::Relaxed);
        h.consecutive_gateway.store(0, Ordering::Relaxed);
        return None;
    }
    let gateway = matches!(s, 502..=504);
    if gateway {
        let n = h.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1;
        if o.consecutive_gateway > 0 && n >= o.consecutive_gateway && o.enforcing_gateway > 0 {
            h.consecutive_gateway.store(0, Ordering::Relaxed);
            h.consecutive_5xx.store(0, Ordering::Relaxed);
            return Some(Trip::ConsecutiveGateway);
        }
    } else {
        h.consecutive_gateway.store(0, Ordering::Relaxed);
    }
    let n = h.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
    if o.consecutive_5xx > 0 && n >= o.consecutive_5xx && o.enforcing_5xx > 0 {
        h.consecutive_5xx.store(0, Ordering::Relaxed);
        h.consecutive_gateway.store(0, Ordering::Relaxed);
        return Some(Trip::Consecutive5xx);
    }
    None
}

/// Whether one more host may be ejected when `ejected` of `total` already are: while fewer
/// than `max_percent` are (Envoy's rule before the ejection), or the first one when
/// `always_one`.
pub fn may_eject(max_percent: u32, always_one: bool, ejected: usize, total: usize) -> bool {
    (always_one && ejected == 0) || ejected * 100 < max_percent as usize * total
}

/// The ejection multiplier of a host ejected `before` times, last let back in at `back`,
/// ejected again at `now` (milliseconds): each `interval` in takes one off.
pub fn multiplier(before: u32, back: u64, now: u64, interval: Duration) -> u32 {
    let interval = interval.as_millis() as u64;
    let earned = if back == 0 || interval == 0 {
        0
    } else {
        now.saturating_sub(back) / interval
    };
    before.saturating_sub(earned.min(u64::from(u32::MAX)) as u32) + 1
}

/// The HTTP status Envoy counts for a gRPC status (`Grpc::Utility::grpcToHttpStatus`).
pub fn grpc_to_http(grpc: u32) -> u16 {
    match grpc {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// How long the `n`-th ejection lasts.
pub fn ejection_time(o: &Outlier, n: u32) -> Duration {
    let cap = o.max_ejection.max(o.base_ejection);
    o.base_ejection.saturating_mul(n.max(1)).min(cap)
}

/// Records an attempt's result on `host`, ejecting it if a detector fires. `hosts` is the
/// cluster's host set (for `max_ejection_percent`). Returns whether the host was ejected.
pub fn record(o: &Outlier, host: &Arc<Host>, hosts: &[Arc<Host>], r: Result) -> bool {
    let Some(trip) = count(o, &host.health, r) else {
        return false;
    };
    let enforcing = match trip {
        Trip::Consecutive5xx => o.enforcing_5xx,
        Trip::ConsecutiveGateway => o.enforcing_gateway,
    };
    if enforcing < 100 && fastrand::u32(..100) >= enforcing {
        return false;
    }
    let now = now_ms();
    if host.health.ejected_at(now) {
        return false;
    }
    let ejected = hosts.iter().filter(|h| h.health.ejected_at(now)).count();
    if !may_eject(
        o.max_ejection_percent,
        o.always_eject_one,
        ejected,
        hosts.len(),
    ) {
        return false;
    }
    let h = &host.health;
    let back = h.ejected_until.load(Ordering::Relaxed);
    let n = multiplier(h.multiplier.load(Ordering::Relaxed), back, now, o.interval);
    h.multiplier.store(n, Ordering::Relaxed);
    h.ejections.fetch_add(1, Ordering::Relaxed);
    let until = now + ejection_time(o, n).as_millis() as u64;
    h.ejected_until.store(until, Ordering::Relaxed);
    host.traffic
        .ejected_until
        .fetch_max(until, Ordering::Relaxed);
    tracing::info!(host = %host.name, ?trip, ejections = n, "outlier detection: host ejected");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlier(c5xx: u32, gw: u32, enforcing_gw: u32) -> Outlier {
        Outlier {
            consecutive_5xx: c5xx,
            enforcing_5xx: 100,
            consecutive_gateway: gw,
            enforcing_gateway: enforcing_gw,
            interval: Duration::from_secs(10),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 10,
            always_eject_one: false,
        }
    }

    #[test]
    fn consecutive_counts() {
        use super::Result::*;
        // (outlier, results, trip after the last)
        let cases: Vec<(Outlier, Vec<Result>, Option<Trip>)> = vec![
            (outlier(3, 0, 0), vec![Status(500), Status(500)], None),
            (
                outlier(3, 0, 0),
                vec![Status(500), Status(502), LocalFailure],
                Some(Trip::Consecutive5xx),
            ),
            (
                outlier(3, 0, 0),
                vec![Status(500), Status(200), Status(500), Status(500)],
                None,
            ),
            (outlier(3, 0, 0), vec![Status(404); 5], None),
            (
                outlier(5, 2, 100),
                vec![Status(503), Timeout],
                Some(Trip::ConsecutiveGateway),
            ),
            // gateway failures not enforced (Envoy's default 0%) still count as 5xx
            (
                outlier(2, 1, 0),
                vec![Status(502), Status(502)],
                Some(Trip::Consecutive5xx),
            ),
            (
                outlier(5, 2, 100),
                vec![Status(503), Status(500), Status(503)],
                None,
            ),
        ];
        for (i, (o, results, want)) in cases.into_iter().enumerate() {
            let h = HostHealth::default();
            let mut last = None;
            for r in results {
                last = count(&o, &h, r);
            }
            assert_eq!(last, want, "case {i}");
        }
    }

    #[test]
    fn ejection_limits_and_times() {
        for (pct, always, ejected, total, want) in [
            (10, false, 0, 2, true),
            (10, false, 1, 2, false),
            (50, false, 1, 4, true),
            (50, false, 2, 4, false),
            (100, false, 3, 4, true),
            (100, false, 4, 4, false),
            (0, false, 0, 5, false),
            (0, true, 0, 5, true),
            (0, true, 1, 5, false),
        ] {
            assert_eq!(
                may_eject(pct, always, ejected, total),
                want,
                "{pct}% {always} {ejected}/{total}"
            );
        }
        let ten = Duration::from_secs(10);
        for (before, back, now, want) in [
            (0, 0, 5_000, 1),
            (1, 40_000, 45_000, 2),
            (2, 40_000, 61_000, 1),
            (3, 40_000, 1_000_000, 1),
        ] {
            assert_eq!(
                multiplier(before, back, now, ten),
                want,
                "{before} {back} {now}"
            );
        }
        assert_eq!(grpc_to_http(14), 503);
        assert_eq!(grpc_to_http(0), 200);
        assert_eq!(grpc_to_http(2), 500);
        let o = outlier(5, 0, 0);
        assert_eq!(ejection_time(&o, 1), Duration::from_secs(30));
        assert_eq!(ejection_time(&o, 3), Duration::from_secs(90));
        assert_eq!(ejection_time(&o, 20), Duration::from_secs(300));
    }
}
