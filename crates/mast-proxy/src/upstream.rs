//! Clusters at runtime: their hosts (swapped whole on EDS updates, reusing the hosts and
//! pooled connections of endpoints that stayed), load balancing, and per-host connection
//! pools ([`pool`]) over plaintext or TLS connections ([`connect`]).

pub mod connect;
pub mod hash;
pub mod outlier;
pub mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::model::cluster::{Assignment, Cluster, Discovery, EndpointAddr, LbPolicy};
use crate::model::compile::tls::UpstreamTls;
use pool::Pool;

/// Counters of one host, shown by `/clusters`.
#[derive(Debug, Default)]
pub struct HostStats {
    /// Requests sent.
    pub rq_total: AtomicU64,
    /// Requests that failed or got a 5xx.
    pub rq_error: AtomicU64,
    /// Connections opened.
    pub cx_total: AtomicU64,
    /// Connections that failed to open.
    pub cx_connect_fail: AtomicU64,
}

/// What a cluster has in flight across its hosts, against its circuit breaker limits.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Requests in flight.
    pub rq_active: AtomicU32,
    /// Requests waiting for a connection.
    pub rq_pending: AtomicU32,
    /// Connections open.
    pub cx_active: AtomicU32,
    /// Retries in flight.
    pub retries_active: AtomicU32,
    /// Requests refused by a limit (Envoy's `upstream_rq_pending_overflow` and
    /// `upstream_rq_overflow` together).
    pub overflow: AtomicU64,
    /// Retries not made because of `max_retries`.
    pub retry_overflow: AtomicU64,
    /// Signalled when a connection goes idle or closes (pending requests look again).
    pub freed: tokio::sync::Notify,
    /// The latest end of a host's ejection ([`outlier::now_ms`]; before it, some host may be
    /// ejected).
    pub ejected_until: AtomicU64,
}

/// A place taken under a limit, given back on drop.
#[derive(Debug)]
pub struct Slot<'a>(&'a AtomicU32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Adds one to `counter` if it is below `max`; whether it did.
pub fn try_add(counter: &AtomicU32, max: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// Takes a place in `counter` if fewer than `max` are taken.
pub fn take(counter: &AtomicU32, max: u32) -> Option<Slot<'_>> {
    try_add(counter, max).then_some(Slot(counter))
}

/// One endpoint of a cluster.
#[derive(Debug)]
pub struct Host {
    /// Where it is.
    pub addr: EndpointAddr,
    /// `addr` as text (logs, stream info).
    pub name: Arc<str>,
    /// Whether it takes traffic.
    pub healthy: bool,
    /// Load balancing weight.
    pub weight: u32,
    /// Priority level.
    pub priority: usize,
    /// Locality.
    pub locality: String,
    /// TLS towards it (`None`: plaintext).
    pub tls: Option<Arc<UpstreamTls>>,
    /// Its connections.
    pub pool: Pool,
    /// Requests in flight (least-request balancing).
    pub active: AtomicUsize,
    /// Counters.
    pub stats: HostStats,
    /// The cluster's traffic (circuit breakers).
    pub traffic: Arc<Traffic>,
    /// Outlier detection state.
    pub health: outlier::HostHealth,
    /// The SPIFFE ID its certificate presented (learnt at the first TLS handshake).
    pub peer_identity: std::sync::OnceLock<Arc<str>>,
}

/// The hosts of a cluster at one moment.
#[derive(Debug, Default)]
pub struct HostSet {
    /// Every host.
    pub all: Vec<Arc<Host>>,
    /// Healthy hosts of the first priority that has any.
    pub active: Vec<Arc<Host>>,
    /// Weighted round-robin order over `active` (empty: plain round robin).
    schedule: Vec<u32>,
    next: AtomicUsize,
    /// The consistent-hash table over `active` (RING_HASH, MAGLEV).
    table: Table,
}

/// A consistent-hash lookup structure.
#[derive(Debug, Default)]
enum Table {
    #[default]
    None,
    Ring(hash::Ring),
    Maglev(hash::Maglev),
}

/// Smooth weighted round robin: an order over indexes where each appears `weight` times,
/// spread out.
fn schedule(weights: &[u32]) -> Vec<u32> {
    if weights.iter().all(|w| *w == weights[0]) {
        return Vec::new();
    }
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let len = total.min(10_000) as usize;
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .expect("hosts");
        current[best] -= total;
        out.push(best as u32);
    }
    out
}

impl HostSet {
    fn build(all: Vec<Arc<Host>>, lb: LbPolicy) -> HostSet {
        let levels = all.iter().map(|h| h.priority).max().map_or(0, |m| m + 1);
        let active: Vec<Arc<Host>> = (0..levels)
            .map(|p| {
                all.iter()
                    .filter(|h| h.priority == p && h.healthy)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let weights: Vec<u32> = active.iter().map(|h| h.weight).collect();
        let schedule = if weights.is_empty() {
            Vec::new()
        } else {
            schedule(&weights)
        };
        let names: Vec<&str> = active.iter().map(|h| &*h.name).collect();
        let table = match lb {
            LbPolicy::RingHash { min, max } => {
                Table::Ring(hash::Ring::build(&names, &weights, min, max))
            }
            LbPolicy::Maglev { size } => Table::Maglev(hash::Maglev::build(&names, &weights, size)),
            _ => Table::None,
        };
        HostSet {
            table,
            all,
            active,
            schedule,
            next: AtomicUsize::new(fastrand::usize(..usize::MAX / 2)),
        }
    }
}

/// A cluster at runtime.
#[derive(Debug)]
pub struct ClusterRt {
    /// Its compiled config.
    pub spec: Arc<Cluster>,
    /// What it has in flight.
    pub traffic: Arc<Traffic>,
    hosts: ArcSwap<HostSet>,
    /// ORIGINAL_DST clusters: a host per original destination, made on first use.
    original: std::sync::Mutex<std::collections::HashMap<std::net::SocketAddr, Arc<Host>>>,
}

/// Hosts an ORIGINAL_DST cluster keeps before it forgets the unused ones.
const ORIGINAL_DST_HOSTS: usize = 256;

impl ClusterRt {
    /// A cluster with `assignment`'s endpoints (its own for static and DNS clusters).
    pub fn new(spec: Arc<Cluster>, assignment: Option<&Assignment>) -> ClusterRt {
        let rt = ClusterRt {
            spec,
            traffic: Arc::default(),
            hosts: ArcSwap::from_pointee(HostSet::default()),
            original: Default::default(),
        };
        if let Some(a) = assignment.or(rt.spec.load_assignment.as_ref()) {
            rt.set_assignment(a);
        }
        rt
    }

    /// Replaces the endpoints; hosts with the same address and TLS keep their connections.
    pub fn set_assignment(&self, a: &Assignment) {
        let old = self.hosts.load();
        let mut all = Vec::new();
        for (priority, eps) in a.priorities.iter().enumerate() {
            for e in eps {
                let tls = self.spec.tls_for(&e.socket_metadata);
                let reused = old.all.iter().find(|h| {
                    h.addr == e.addr
                        && h.healthy == e.healthy
                        && h.weight == e.weight
                        && h.priority == priority
                        && match (&h.tls, &tls) {
                            (None, None) => true,
                            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                            _ => false,
                        }
                });
                all.push(match reused {
                    Some(h) => h.clone(),
                    None => Arc::new(Host {
                        healthy: e.healthy,
                        weight: e.weight,
                        priority,
                        locality: e.locality.clone(),
                        ..self.host(e.addr.clone(), tls)
                    }),
                });
            }
        }
        self.hosts
            .store(Arc::new(HostSet::build(all, self.spec.lb)));
    }

    fn host(&self, addr: EndpointAddr, tls: Option<Arc<UpstreamTls>>) -> Host {
        Host {
            name: addr.to_string().into(),
            addr,
            healthy: true,
            weight: 1,
            priority: 0,
            locality: String::new(),
            tls,
            pool: Pool::default(),
            active: AtomicUsize::new(0),
            stats: HostStats::default(),
            traffic: self.traffic.clone(),
            health: outlier::HostHealth::default(),
            peer_identity: std::sync::OnceLock::new(),
        }
    }

    /// The host of an ORIGINAL_DST cluster for `dst`, the connection's original destination
    /// (made on first use; past [`ORIGINAL_DST_HOSTS`], hosts no request holds are dropped).
    pub fn original_host(&self, dst: std::net::SocketAddr) -> Arc<Host> {
        let mut hosts = self.original.lock().expect("original_dst hosts");
        if let Some(h) = hosts.get(&dst) {
            return h.clone();
        }
        if hosts.len() >= ORIGINAL_DST_HOSTS {
            hosts.retain(|_, h| Arc::strong_count(h) > 1);
        }
        let tls = self.spec.tls_for(&Default::default());
        let h = Arc::new(self.host(EndpointAddr::Ip(dst), tls));
        hosts.insert(dst, h.clone());
        h
    }

    /// Picks a host as [`ClusterRt::pick`] does; for an ORIGINAL_DST cluster, the host of
    /// `original` (the downstream connection's original destination; `None`: no host, UH);
    /// for RING_HASH and MAGLEV with the request's `hash`, the host the table gives, or the
    /// next one on it that is neither ejected nor in `avoid`.
    pub fn select(
        &self,
        original: Option<std::net::SocketAddr>,
        hash: Option<u64>,
        avoid: &[Arc<Host>],
        attempts: u32,
    ) -> Option<Arc<Host>> {
        if self.spec.discovery == Discovery::OriginalDst {
            return original.map(|d| self.original_host(d));
        }
        if let Some(h) = hash {
            let set = self.hosts.load();
            let now = outlier::now_ms();
            let usable = |i: usize| {
                let host = &set.active[i];
                let ejected = self.spec.outlier.is_some() && host.health.ejected_at(now);
                !ejected && !avoid.iter().any(|a| Arc::ptr_eq(a, host))
            };
            let found = match &set.table {
                Table::Ring(r) => r.walk(h).take(r.len().min(64)).find(|i| usable(*i)),
                Table::Maglev(m) => m.walk(h).take(m.len().min(64)).find(|i| usable(*i)),
                Table::None => None,
            };
            if let Some(i) = found {
                return Some(set.active[i].clone());
            }
        }
        self.pick(avoid, attempts)
    }

    /// The current hosts.
    pub fn hosts(&self) -> arc_swap::Guard<Arc<HostSet>> {
        self.hosts.load()
    }

    /// Picks a host by the cluster's policy, avoiding `avoid` when another is available
    /// (`attempts` picks at most) and hosts outlier detection ejected, unless fewer than the
    /// panic threshold of the hosts are left. `None`: no usable host (Envoy's UH).
    pub fn pick(&self, avoid: &[Arc<Host>], attempts: u32) -> Option<Arc<Host>> {
        let set = self.hosts.load();
        let n = set.active.len();
        if n == 0 {
            return None;
        }
        let now = outlier::now_ms();
        let skip_ejected = self.spec.outlier.is_some()
            && now < self.traffic.ejected_until.load(Ordering::Relaxed)
            && {
                let ejected = set
                    .active
                    .iter()
                    .filter(|h| h.health.ejected_at(now))
                    .count();
                let usable = (n - ejected) as f64 * 100.0 / n as f64;
                // in panic, every host takes traffic
                ejected > 0 && usable >= self.spec.panic_threshold
            };
        let usable = |h: &Arc<Host>| !(skip_ejected && h.health.ejected_at(now));
        let attempts = attempts.max(1) as usize;
        let mut last = None;
        let mut picks = 0;
        // ejected picks are skipped, but not for ever
        for _ in 0..attempts + 2 * n {
            let h = self.choose(&set);
            if !usable(h) {
                continue;
            }
            if !avoid.iter().any(|a| Arc::ptr_eq(a, h)) {
                return Some(h.clone());
            }
            last = Some(h.clone());
            picks += 1;
            if picks >= attempts {
                break;
            }
        }
        last.or_else(|| set.active.iter().find(|h| usable(h)).cloned())
    }

    fn choose<'a>(&self, set: &'a HostSet) -> &'a Arc<Host> {
        let n = set.active.len();
        match self.spec.lb {
            LbPolicy::Random => &set.active[fastrand::usize(..n)],
            LbPolicy::LeastRequest if n > 1 => {
                let a = &set.active[fastrand::usize(..n)];
                let b = &set.active[fastrand::usize(..n)];
                if b.active.load(Ordering::Relaxed) < a.active.load(Ordering::Relaxed) {
                    b
                } else {
                    a
                }
            }
            _ => {
                let i = set.next.fetch_add(1, Ordering::Relaxed);
                if set.schedule.is_empty() {
                    &set.active[i % n]
                } else {
                    &set.active[set.schedule[i % set.schedule.len()] as usize]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_schedule_is_proportional_and_spread() {
        assert!(schedule(&[1, 1, 1]).is_empty());
        let s = schedule(&[3, 1]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.iter().filter(|i| **i == 0).count(), 3);
        let s = schedule(&[5, 1, 1]);
        assert_eq!(s, vec![0, 0, 1, 0, 2, 0, 0]);
    }
}
