//! Compiled clusters (CDS) and endpoint assignments (EDS).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::compile::tls::UpstreamTls;

/// How a cluster finds its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Endpoints in the cluster.
    Static,
    /// Endpoints from EDS.
    Eds,
    /// Host names resolved; every address is an endpoint.
    StrictDns,
    /// Host names resolved at connect time; one endpoint.
    LogicalDns,
    /// The connection's original destination.
    OriginalDst,
}

/// Load balancing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbPolicy {
    /// Round robin (weighted).
    RoundRobin,
    /// The less loaded of two random hosts.
    LeastRequest,
    /// Random.
    Random,
    /// The cluster decides (original destination).
    ClusterProvided,
    /// Consistent hashing on a ring (`RING_HASH`) of at least `min` and at most `max` entries.
    RingHash {
        /// `minimum_ring_size` (Envoy's default 1024).
        min: u64,
        /// `maximum_ring_size` (Envoy's default 8M).
        max: u64,
    },
    /// Consistent hashing with a Maglev table (`MAGLEV`) of `size` entries (a prime; 65537).
    Maglev {
        /// `table_size`.
        size: u64,
    },
}

/// Which HTTP version goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2.
    Http2,
    /// The downstream request's version.
    Downstream,
}

/// Circuit breaker limits of a cluster (Envoy's `Thresholds` of the DEFAULT priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open to all hosts (HTTP/1.1 requests wait for one beyond it).
    pub max_connections: u32,
    /// Requests waiting for a connection.
    pub max_pending_requests: u32,
    /// Requests in flight.
    pub max_requests: u32,
    /// Retries in flight.
    pub max_retries: u32,
}

impl Default for Limits {
    /// Envoy's defaults.
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
        }
    }
}

/// Outlier detection by consecutive errors (Envoy's `OutlierDetection`, success-rate and
/// failure-percentage detectors off).
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// 5xx responses (and local failures) in a row that eject a host (0: off).
    pub consecutive_5xx: u32,
    /// Percent chance that a `consecutive_5xx` trip ejects.
    pub enforcing_5xx: u32,
    /// 502, 503 and 504 responses (and local failures) in a row that eject a host (0: off).
    pub consecutive_gateway: u32,
    /// Percent chance that a `consecutive_gateway` trip ejects.
    pub enforcing_gateway: u32,
    /// Each interval a host spends uneject takes one off its ejection multiplier.
    pub interval: Duration,
    /// An ejection lasts this times the number of times the host was ejected...
    pub base_ejection: Duration,
    /// ...and at most this (or `base_ejection` when larger).
    pub max_ejection: Duration,
    /// At most this percent of the cluster's hosts are ejected at once.
    pub max_ejection_percent: u32,
    /// One host may be ejected whatever `max_ejection_percent` says.
    pub always_eject_one: bool,
}

impl Default for Outlier {
    /// Envoy's defaults.
    fn default() -> Outlier {
        Outlier {
            consecutive_5xx: 5,
            enforcing_5xx: 100,
            consecutive_gateway: 5,
            enforcing_gateway: 0,
            interval: Duration::from_secs(10),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 10,
            always_eject_one: false,
        }
    }
}

/// A transport socket match (auto mTLS): endpoints whose `envoy.transport_socket_match`
/// metadata contains every key of `criteria` use `tls`.
#[derive(Debug, Clone)]
pub struct SocketMatch {
    /// Name of the match.
    pub name: String,
    /// Required metadata.
    pub criteria: Map<String, Value>,
    /// TLS (`None`: plaintext).
    pub tls: Option<Arc<UpstreamTls>>,
}

/// A cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Endpoint discovery.
    pub discovery: Discovery,
    /// The EDS resource name (`eds_cluster_config.service_name`, else the cluster name).
    pub eds_name: Option<String>,
    /// Connect timeout (Envoy's default 5 s).
    pub connect_timeout: Duration,
    /// Load balancing.
    pub lb: LbPolicy,
    /// Locality-weighted balancing (`common_lb_config.locality_weighted_lb_config`).
    pub locality_weighted: bool,
    /// Upstream HTTP version.
    pub protocol: UpstreamProtocol,
    /// The transport socket of endpoints no match selects (`None`: plaintext).
    pub tls: Option<Arc<UpstreamTls>>,
    /// Transport socket matches, in order.
    pub socket_matches: Vec<SocketMatch>,
    /// Source address of upstream connections.
    pub bind_source: Option<IpAddr>,
    /// Istio's TCP metadata exchange with the upstream peer (`istio.metadata_exchange`
    /// cluster filter): this workload's frame.
    pub exchange: Option<std::sync::Arc<crate::telemetry::peer::Local>>,
    /// Idle timeout of pooled connections (Envoy's default 1 h).
    pub idle_timeout: Option<Duration>,
    /// Requests per connection before it is closed (`None`: no limit).
    pub max_requests_per_connection: Option<u32>,
    /// Circuit breaker limits.
    pub limits: Limits,
    /// Outlier detection (`None`: off).
    pub outlier: Option<Outlier>,
    /// Below this percent of usable hosts, balancing ignores ejections (Envoy's
    /// `healthy_panic_threshold`, default 50; 0 never panics).
    pub panic_threshold: f64,
    /// Endpoints given in the cluster (static and DNS clusters).
    pub load_assignment: Option<Assignment>,
    /// The service it belongs to (its `istio` metadata's first `services` entry), for
    /// Istio's `destination_service*` labels.
    pub service: Option<Arc<crate::telemetry::metrics::Service>>,
    /// The encoded proto, to tell an unchanged cluster from a changed one.
    pub fingerprint: Vec<u8>,
}

impl Cluster {
    /// The transport socket for an endpoint with `metadata`
    /// (`envoy.transport_socket_match`).
    pub fn tls_for(&self, metadata: &Map<String, Value>) -> Option<Arc<UpstreamTls>> {
        for m in &self.socket_matches {
            if m.criteria.iter().all(|(k, v)| metadata.get(k) == Some(v)) {
                return m.tls.clone();
            }
        }
        self.tls.clone()
    }
}

/// Where an endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointAddr {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A host name resolved at connect time (DNS clusters).
    Dns(String, u16),
}

impl std::fmt::Display for EndpointAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointAddr::Ip(a) => write!(f, "{a}"),
            EndpointAddr::Dns(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// An endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its address.
    pub addr: EndpointAddr,
    /// Whether it may take traffic (health UNKNOWN or HEALTHY).
    pub healthy: bool,
    /// Load balancing weight (1 by default).
    pub weight: u32,
    /// Its `envoy.transport_socket_match` metadata.
    pub socket_metadata: Map<String, Value>,
    /// Locality `region/zone/subzone`.
    pub locality: String,
    /// Its locality's `load_balancing_weight` (0 when not given).
    pub locality_weight: u32,
}

/// The endpoints of a cluster by priority (0 first).
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    /// Endpoints per priority level.
    pub priorities: Vec<Vec<Endpoint>>,
}
