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
    /// Its locality's weight (locality-weighted balancing; 0 when not given).
    pub locality_weight: u32,
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

/// The hosts of a cluster at one moment, by priority level.
#[derive(Debug, Default)]
pub struct HostSet {
    /// Every host.
    pub all: Vec<Arc<Host>>,
    /// The priority levels (index = priority).
    pub levels: Vec<Level>,
    /// The share of traffic of each level, in percent, while no host is ejected.
    loads: Vec<u32>,
}

/// The hosts of one priority level and how they are picked.
#[derive(Debug, Default)]
pub struct Level {
    /// Its hosts that take traffic (health UNKNOWN or HEALTHY).
    pub hosts: Vec<Arc<Host>>,
    /// How many hosts it has, healthy or not.
    total: usize,
    /// Weighted round-robin order over `hosts` (empty: plain round robin).
    schedule: Vec<u32>,
    next: AtomicUsize,
    /// The consistent-hash table over `hosts` (RING_HASH, MAGLEV).
    table: Table,
    /// Locality-weighted balancing: each locality's effective weight (its weight scaled by
    /// its availability) and its hosts' indexes; empty when not locality-weighted.
    localities: Vec<(u32, Vec<u32>)>,
    /// The sum of the localities' effective weights.
    locality_total: u32,
}

/// A consistent-hash lookup structure.
#[derive(Debug, Default)]
enum Table {
    #[default]
    None,
    Ring(hash::Ring),
    Maglev(hash::Maglev),
}

/// Envoy's default overprovisioning factor (1.4), in percent.
const OVERPROVISIONING: u64 = 140;

/// The share of traffic (percent) of each priority level, from `(usable, total)` hosts per
/// level, as Envoy computes it: a level's health is `1.4 × usable / total` (at most 100%);
/// levels take traffic in order up to their health; when the healths add up to less than
/// 100%, the loads are scaled up to 100%. All zero when no level has a usable host.
pub fn priority_loads(levels: &[(usize, usize)]) -> Vec<u32> {
    let health: Vec<u64> = levels
        .iter()
        .map(|(usable, total)| {
            if *total == 0 {
                0
            } else {
                (OVERPROVISIONING * *usable as u64 / *total as u64).min(100)
            }
        })
        .collect();
    let sum: u64 = health.iter().sum();
    if sum == 0 {
        return vec![0; levels.len()];
    }
    if sum < 100 {
        // normalized; the rounding remainder goes to the first level with health
        let mut loads: Vec<u32> = health.iter().map(|h| (h * 100 / sum) as u32).collect();
        let rest = 100 - loads.iter().sum::<u32>();
        if let Some(i) = health.iter().position(|h| *h > 0) {
            loads[i] += rest;
        }
        return loads;
    }
    let mut left = 100u64;
    health
        .iter()
        .map(|h| {
            let l = (*h).min(left);
            left -= l;
            l as u32
        })
        .collect()
}

/// The level a draw in `0..100` falls in, by cumulative `loads`.
fn level_for(loads: &[u32], draw: u32) -> Option<usize> {
    let mut acc = 0;
    loads.iter().position(|l| {
        acc += l;
        *l > 0 && draw < acc
    })
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

impl Level {
    fn build(all: &[Arc<Host>], priority: usize, lb: LbPolicy, by_locality: bool) -> Level {
        let mine: Vec<&Arc<Host>> = all.iter().filter(|h| h.priority == priority).collect();
        let hosts: Vec<Arc<Host>> = mine
            .iter()
            .filter(|h| h.healthy)
            .map(|h| (*h).clone())
            .collect();
        let weights: Vec<u32> = hosts.iter().map(|h| h.weight).collect();
        let schedule = if weights.is_empty() {
            Vec::new()
        } else {
            schedule(&weights)
        };
        let names: Vec<&str> = hosts.iter().map(|h| &*h.name).collect();
        let table = match lb {
            LbPolicy::RingHash { min, max } => {
                Table::Ring(hash::Ring::build(&names, &weights, min, max))
            }
            LbPolicy::Maglev { size } => Table::Maglev(hash::Maglev::build(&names, &weights, size)),
            _ => Table::None,
        };
        let mut localities: Vec<(u32, Vec<u32>)> = Vec::new();
        if by_locality {
            let mut seen: Vec<&str> = Vec::new();
            for h in &mine {
                if !seen.contains(&h.locality.as_str()) {
                    seen.push(&h.locality);
                }
            }
            for loc in seen {
                let total = mine.iter().filter(|h| h.locality == loc).count() as u64;
                let idx: Vec<u32> = hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.locality == loc)
                    .map(|(i, _)| i as u32)
                    .collect();
                let weight = mine
                    .iter()
                    .find(|h| h.locality == loc)
                    .map_or(0, |h| u64::from(h.locality_weight));
                let available = (OVERPROVISIONING * idx.len() as u64 / total.max(1)).min(100);
                localities.push(((weight * available / 100) as u32, idx));
            }
            if localities.iter().all(|(w, _)| *w == 0) {
                localities.clear();
            }
        }
        Level {
            locality_total: localities.iter().map(|(w, _)| *w).sum(),
            total: mine.len(),
            hosts,
            schedule,
            next: AtomicUsize::new(fastrand::usize(..usize::MAX / 2)),
            table,
            localities,
        }
    }
}

impl HostSet {
    fn build(all: Vec<Arc<Host>>, lb: LbPolicy, by_locality: bool) -> HostSet {
        let n = all.iter().map(|h| h.priority).max().map_or(0, |m| m + 1);
        let levels: Vec<Level> = (0..n)
            .map(|p| Level::build(&all, p, lb, by_locality))
            .collect();
        let loads = priority_loads(
            &levels
                .iter()
                .map(|l| (l.hosts.len(), l.total))
                .collect::<Vec<_>>(),
        );
        HostSet { all, levels, loads }
    }

    /// The hosts that take traffic while every host is healthy: those of the first level
    /// that has any.
    pub fn active(&self) -> &[Arc<Host>] {
        self.levels
            .iter()
            .find(|l| !l.hosts.is_empty())
            .map_or(&[], |l| &l.hosts)
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
                        && h.locality == e.locality
                        && h.locality_weight == e.locality_weight
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
                        locality_weight: e.locality_weight,
                        ..self.host(e.addr.clone(), tls)
                    }),
                });
            }
        }
        self.hosts.store(Arc::new(HostSet::build(
            all,
            self.spec.lb,
            self.spec.locality_weighted,
        )));
    }

    fn host(&self, addr: EndpointAddr, tls: Option<Arc<UpstreamTls>>) -> Host {
        Host {
            name: addr.to_string().into(),
            addr,
            healthy: true,
            weight: 1,
            priority: 0,
            locality: String::new(),
            locality_weight: 0,
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
        let set = self.hosts.load();
        let now = outlier::now_ms();
        let ejecting =
            self.spec.outlier.is_some() && now < self.traffic.ejected_until.load(Ordering::Relaxed);
        let draw = match hash {
            Some(h) => (h % 100) as u32,
            None => fastrand::u32(..100),
        };
        let level = self.level(&set, ejecting, now, draw)?;
        if let Some(h) = hash {
            let usable = |i: usize| {
                let host = &level.hosts[i];
                let ejected = ejecting && host.health.ejected_at(now);
                !ejected && !avoid.iter().any(|a| Arc::ptr_eq(a, host))
            };
            let found = match &level.table {
                Table::Ring(r) => r.walk(h).take(r.len().min(64)).find(|i| usable(*i)),
                Table::Maglev(m) => m.walk(h).take(m.len().min(64)).find(|i| usable(*i)),
                Table::None => None,
            };
            if let Some(i) = found {
                return Some(level.hosts[i].clone());
            }
        }
        self.pick_in(level, ejecting, now, avoid, attempts)
    }

    /// The current hosts.
    pub fn hosts(&self) -> arc_swap::Guard<Arc<HostSet>> {
        self.hosts.load()
    }

    /// The level a request goes to: by the levels' loads (recomputed while outlier detection
    /// has hosts ejected, ejected hosts counting as unhealthy), `draw` in `0..100`; the first
    /// level with hosts when no level is healthy (panic). `None`: no host at all.
    fn level<'a>(
        &self,
        set: &'a HostSet,
        ejecting: bool,
        now: u64,
        draw: u32,
    ) -> Option<&'a Level> {
        if set.levels.len() == 1 {
            return set.levels.first().filter(|l| !l.hosts.is_empty());
        }
        let found = if ejecting {
            let counts: Vec<(usize, usize)> = set
                .levels
                .iter()
                .map(|l| {
                    let usable = l.hosts.iter().filter(|h| !h.health.ejected_at(now)).count();
                    (usable, l.total)
                })
                .collect();
            level_for(&priority_loads(&counts), draw)
        } else {
            level_for(&set.loads, draw)
        };
        found
            .map(|i| &set.levels[i])
            .or_else(|| set.levels.iter().find(|l| !l.hosts.is_empty()))
    }

    /// Picks a host of the first level with hosts (tests; requests use [`ClusterRt::select`]).
    pub fn pick(&self, avoid: &[Arc<Host>], attempts: u32) -> Option<Arc<Host>> {
        self.select(None, None, avoid, attempts)
    }

    /// Picks a host of `level` by the cluster's policy, avoiding `avoid` when another is
    /// available (`attempts` picks at most) and hosts outlier detection ejected, unless fewer
    /// than the panic threshold of the level's hosts are left. `None`: no usable host (UH).
    fn pick_in(
        &self,
        level: &Level,
        ejecting: bool,
        now: u64,
        avoid: &[Arc<Host>],
        attempts: u32,
    ) -> Option<Arc<Host>> {
        let n = level.hosts.len();
        if n == 0 {
            return None;
        }
        let skip_ejected = ejecting && {
            let ejected = level
                .hosts
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
            let h = self.choose(level);
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
        last.or_else(|| level.hosts.iter().find(|h| usable(h)).cloned())
    }

    fn choose<'a>(&self, level: &'a Level) -> &'a Arc<Host> {
        let hosts = &level.hosts;
        if !level.localities.is_empty() {
            // a locality by its effective weight, then its hosts in turn
            let mut draw = fastrand::u32(..level.locality_total.max(1));
            for (w, idx) in &level.localities {
                if draw < *w && !idx.is_empty() {
                    let i = level.next.fetch_add(1, Ordering::Relaxed);
                    return &hosts[idx[i % idx.len()] as usize];
                }
                draw = draw.saturating_sub(*w);
            }
        }
        let n = hosts.len();
        match self.spec.lb {
            LbPolicy::Random => &hosts[fastrand::usize(..n)],
            LbPolicy::LeastRequest if n > 1 => {
                let a = &hosts[fastrand::usize(..n)];
                let b = &hosts[fastrand::usize(..n)];
                if b.active.load(Ordering::Relaxed) < a.active.load(Ordering::Relaxed) {
                    b
                } else {
                    a
                }
            }
            _ => {
                let i = level.next.fetch_add(1, Ordering::Relaxed);
                if level.schedule.is_empty() {
                    &hosts[i % n]
                } else {
                    &hosts[level.schedule[i % level.schedule.len()] as usize]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_loads_spill_as_envoys_do() {
        type Case<'a> = (&'a [(usize, usize)], &'a [u32]);
        let cases: &[Case] = &[
            (&[(4, 4), (4, 4)], &[100, 0]),
            // 3 of 4: 1.4 × 75% = 105% → still all traffic
            (&[(3, 4), (4, 4)], &[100, 0]),
            // 2 of 4: 70%, the rest spills
            (&[(2, 4), (4, 4)], &[70, 30]),
            (&[(0, 4), (4, 4)], &[0, 100]),
            (&[(1, 4), (1, 4), (1, 4)], &[35, 35, 30]),
            // healths below 100% in sum are scaled up
            (&[(1, 10), (1, 10)], &[50, 50]),
            (&[(0, 4), (0, 4)], &[0, 0]),
            (&[(0, 0), (2, 2)], &[0, 100]),
        ];
        for (levels, want) in cases {
            assert_eq!(priority_loads(levels), *want, "{levels:?}");
        }
        assert_eq!(level_for(&[70, 30], 0), Some(0));
        assert_eq!(level_for(&[70, 30], 69), Some(0));
        assert_eq!(level_for(&[70, 30], 70), Some(1));
        assert_eq!(level_for(&[0, 100], 0), Some(1));
        assert_eq!(level_for(&[0, 0], 5), None);
    }

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
