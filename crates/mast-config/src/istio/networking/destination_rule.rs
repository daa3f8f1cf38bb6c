//! `DestinationRule`: what happens to traffic for a service after routing (load balancing,
//! connection pools, outlier detection, TLS), per subset and per port. The checks of a traffic
//! policy are in [`policy`].

pub(crate) mod policy;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Context;
use super::virtual_service::validate_subset_name;
use crate::istio::common::{
    PortSelector, WorkloadSelector, proto_enum, report, validate_export_to, validate_labels,
    validate_wildcard_domain, validate_workload_selector,
};
use crate::validate::Findings;

/// `DestinationRule`: policies for one host (a service, or a wildcard).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRule {
    /// The service the rule applies to (required).
    pub host: String,
    /// Policies for the whole service.
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named subsets of the service's endpoints, by labels.
    pub subsets: Vec<Subset>,
    /// Namespaces the rule is visible in.
    pub export_to: Vec<String>,
    /// Workloads (clients) the rule applies to; then only within its namespace.
    pub workload_selector: Option<WorkloadSelector>,
}

/// `TrafficPolicy`: load balancing, connection pool, outlier detection and TLS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    /// Load balancing.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of failing endpoints.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS to the upstream.
    pub tls: Option<ClientTlsSettings>,
    /// Overrides per port.
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// Tunnel the connection through an HTTP proxy.
    pub tunnel: Option<TunnelSettings>,
    /// Send a PROXY protocol header upstream.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Limit on concurrent retries.
    pub retry_budget: Option<RetryBudget>,
}

/// `TrafficPolicy.PortTrafficPolicy`: the policy for one port.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PortTrafficPolicy {
    /// The port (required).
    pub port: Option<PortSelector>,
    /// Load balancing.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of failing endpoints.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS to the upstream.
    pub tls: Option<ClientTlsSettings>,
}

/// `TrafficPolicy.TunnelSettings`: HTTP CONNECT/POST tunnelling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelSettings {
    /// `CONNECT` (default) or `POST`.
    pub protocol: String,
    /// Host the tunnel leads to (required).
    pub target_host: String,
    /// Port the tunnel leads to (required).
    pub target_port: u32,
}

proto_enum! {
    /// `TrafficPolicy.ProxyProtocol.VERSION`.
    pub enum ProxyProtocolVersion {
        /// Version 1 (text).
        V1 = "V1",
        /// Version 2 (binary).
        V2 = "V2",
    }
}

/// `TrafficPolicy.ProxyProtocol`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyProtocol {
    /// Protocol version.
    pub version: ProxyProtocolVersion,
}

/// `TrafficPolicy.RetryBudget`: retries allowed as a share of active requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryBudget {
    /// Percentage of active requests that may be retries.
    pub percent: Option<f64>,
    /// Retries always allowed.
    pub min_retry_concurrency: u32,
    /// Window over which the budget is computed (duration).
    pub budget_interval: Option<String>,
}

/// `Subset`: endpoints of the service with given labels, with their own policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    /// Name, referenced by routes (required).
    pub name: String,
    /// Endpoint labels.
    pub labels: BTreeMap<String, String>,
    /// Policy overriding the rule's.
    pub traffic_policy: Option<TrafficPolicy>,
}

proto_enum! {
    /// `LoadBalancerSettings.SimpleLB`.
    pub enum SimpleLb {
        /// Istio's default (least request).
        Unspecified = "UNSPECIFIED",
        /// Deprecated: least request.
        LeastConn = "LEAST_CONN",
        /// Random.
        Random = "RANDOM",
        /// Send to the address the caller asked for.
        Passthrough = "PASSTHROUGH",
        /// Round robin.
        RoundRobin = "ROUND_ROBIN",
        /// Least request.
        LeastRequest = "LEAST_REQUEST",
    }
}

/// `LoadBalancerSettings`: how an endpoint is picked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerSettings {
    /// A simple algorithm (one of `simple`, `consistentHash`, `backendUtilization`).
    pub simple: Option<SimpleLb>,
    /// Consistent hashing (one of the policies).
    pub consistent_hash: Option<ConsistentHashLb>,
    /// Weighting by reported utilization (one of the policies).
    pub backend_utilization: Option<BackendUtilization>,
    /// Locality-aware distribution and failover.
    pub locality_lb_setting: Option<LocalityLbSetting>,
    /// Zone-aware routing (Envoy's own).
    pub zone_aware_lb_setting: Option<ZoneAwareLbSetting>,
    /// Deprecated slow-start window (duration); use `warmup`.
    pub warmup_duration_secs: Option<String>,
    /// Slow start of new endpoints.
    pub warmup: Option<WarmupConfiguration>,
}

/// Load balancing weighted by utilization the endpoints report (ORCA).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendUtilization {
    /// How long a reported weight stays valid (duration).
    pub weight_expiration_period: Option<String>,
    /// How often weights are recomputed (duration).
    pub weight_update_period: Option<String>,
    /// How long a new endpoint waits before its weight is used (duration).
    pub weight_stabilization_period: Option<String>,
    /// Penalty per error, as a percentage.
    pub error_utilization_penalty_percent: Option<u32>,
    /// Named metrics used as utilization.
    pub metric_names_for_computing_utilization: Vec<String>,
}

/// `WarmupConfiguration`: slow start of new endpoints.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WarmupConfiguration {
    /// Length of the warm-up (duration, required).
    pub duration: Option<String>,
    /// Starting share of traffic, percent.
    pub minimum_percent: Option<f64>,
    /// Curve of the ramp.
    pub aggression: Option<f64>,
}

/// `LoadBalancerSettings.ConsistentHashLB`: session affinity by a hash of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistentHashLb {
    /// Hash a header (one of the hash keys).
    pub http_header_name: Option<String>,
    /// Hash a cookie (one of the hash keys).
    pub http_cookie: Option<HttpCookie>,
    /// Hash the source IP (one of the hash keys).
    pub use_source_ip: Option<bool>,
    /// Hash a query parameter (one of the hash keys).
    pub http_query_parameter_name: Option<String>,
    /// Ring hash (one of the algorithms).
    pub ring_hash: Option<RingHash>,
    /// Maglev (one of the algorithms).
    pub maglev: Option<MagLev>,
    /// Deprecated: ring size; use `ringHash`.
    pub minimum_ring_size: u64,
}

/// `ConsistentHashLB.RingHash`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RingHash {
    /// Minimum number of virtual nodes.
    pub minimum_ring_size: u64,
}

/// `ConsistentHashLB.MagLev`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct MagLev {
    /// Table size; a prime.
    pub table_size: u64,
}

/// `ConsistentHashLB.HTTPCookie`: the cookie hashed, created if missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCookie {
    /// Cookie name (required).
    pub name: String,
    /// Cookie path.
    pub path: String,
    /// Lifetime of a generated cookie (duration).
    pub ttl: Option<String>,
    /// More attributes of a generated cookie.
    pub attributes: Vec<CookieAttribute>,
}

/// `HTTPCookie.Attribute`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CookieAttribute {
    /// Attribute name (required).
    pub name: String,
    /// Attribute value.
    pub value: String,
}

proto_enum! {
    /// `ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy`.
    pub enum H2UpgradePolicy {
        /// Mesh default.
        Default = "DEFAULT",
        /// Never upgrade.
        DoNotUpgrade = "DO_NOT_UPGRADE",
        /// Upgrade HTTP/1.1 to HTTP/2.
        Upgrade = "UPGRADE",
    }
}

/// `ConnectionPoolSettings`: limits on connections and requests to each upstream host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPoolSettings {
    /// TCP limits.
    pub tcp: Option<TcpSettings>,
    /// HTTP limits.
    pub http: Option<HttpSettings>,
}

/// `ConnectionPoolSettings.TCPSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpSettings {
    /// Maximum connections.
    pub max_connections: i32,
    /// Connect timeout (duration).
    pub connect_timeout: Option<String>,
    /// Keepalive probes.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum lifetime of a connection (duration).
    pub max_connection_duration: Option<String>,
    /// Idle timeout (duration; `0s` disables).
    pub idle_timeout: Option<String>,
}

/// `TCPSettings.TcpKeepalive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpKeepalive {
    /// Probes before the connection is dropped.
    pub probes: u32,
    /// Idle time before probing (duration).
    pub time: Option<String>,
    /// Interval between probes (duration).
    pub interval: Option<String>,
}

/// `ConnectionPoolSettings.HTTPSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSettings {
    /// Maximum queued requests.
    pub http1_max_pending_requests: i32,
    /// Maximum active requests.
    pub http2_max_requests: i32,
    /// Maximum requests per connection.
    pub max_requests_per_connection: i32,
    /// Maximum concurrent retries.
    pub max_retries: i32,
    /// Idle timeout (duration).
    pub idle_timeout: Option<String>,
    /// Whether to upgrade to HTTP/2.
    pub h2_upgrade_policy: H2UpgradePolicy,
    /// Use the client's protocol upstream.
    pub use_client_protocol: bool,
    /// Maximum concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: i32,
    /// HTTP/2 keepalive pings.
    pub http2_keep_alive: Option<Http2KeepAlive>,
}

/// `HTTPSettings.ConnectionKeepalive`: HTTP/2 PING keepalive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Http2KeepAlive {
    /// Interval between pings (duration, required).
    pub interval: Option<String>,
    /// Timeout for a ping response (duration, required).
    pub timeout: Option<String>,
}

/// `OutlierDetection`: ejection of endpoints that keep failing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    /// Deprecated: consecutive errors; use `consecutive5xxErrors` or
    /// `consecutiveGatewayErrors`.
    pub consecutive_errors: i32,
    /// Count local-origin errors separately.
    pub split_external_local_origin_errors: bool,
    /// Consecutive local-origin failures before ejection.
    pub consecutive_local_origin_failures: Option<u32>,
    /// Consecutive gateway errors (502, 503, 504) before ejection.
    pub consecutive_gateway_errors: Option<u32>,
    /// Consecutive 5xx errors before ejection.
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Interval between sweeps (duration).
    pub interval: Option<String>,
    /// Base ejection time (duration).
    pub base_ejection_time: Option<String>,
    /// Maximum share of endpoints ejected, percent.
    pub max_ejection_percent: i32,
    /// Healthy share below which detection stops, percent.
    pub min_health_percent: i32,
    /// Status codes counted as errors.
    pub outlier_detection_http_error_codes: Vec<u32>,
}

proto_enum! {
    /// `ClientTLSSettings.TLSmode`.
    pub enum ClientTlsMode {
        /// Plain text.
        Disable = "DISABLE",
        /// TLS to the upstream.
        Simple = "SIMPLE",
        /// Mutual TLS with given certificates.
        Mutual = "MUTUAL",
        /// Mutual TLS with Istio's certificates.
        IstioMutual = "ISTIO_MUTUAL",
    }
}

/// `ClientTLSSettings`: TLS from the proxy to the upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// TLS mode.
    pub mode: ClientTlsMode,
    /// Client certificate file (`MUTUAL`).
    pub client_certificate: String,
    /// Private key file (`MUTUAL`).
    pub private_key: String,
    /// CA bundle file.
    pub ca_certificates: String,
    /// Secret (or `configmap://ns/name`) holding the credentials.
    pub credential_name: String,
    /// Names the server certificate must carry.
    pub subject_alt_names: Vec<String>,
    /// SNI to send.
    pub sni: String,
    /// Skip verification of the server certificate.
    pub insecure_skip_verify: Option<bool>,
    /// Certificate revocation list file.
    pub ca_crl: String,
}

/// `LocalityLoadBalancerSetting`: weights and failover between localities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityLbSetting {
    /// Traffic distribution from a locality.
    pub distribute: Vec<LocalityDistribute>,
    /// Failover from a region to another.
    pub failover: Vec<LocalityFailover>,
    /// Labels that order failover priority.
    pub failover_priority: Vec<String>,
    /// Whether locality load balancing is on.
    pub enabled: Option<bool>,
}

/// `LocalityLoadBalancerSetting.Distribute`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityDistribute {
    /// Source locality (`region/zone/subzone`, `*` suffix allowed).
    pub from: String,
    /// Destination localities and their weights (summing to 100).
    pub to: BTreeMap<String, u32>,
}

/// `LocalityLoadBalancerSetting.Failover` (also used by the zone-aware setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityFailover {
    /// Source region.
    pub from: String,
    /// Region to fail over to.
    pub to: String,
}

/// `ZoneAwareLoadBalancerSetting`: Envoy's zone-aware routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneAwareLbSetting {
    /// Whether zone-aware routing is on.
    pub enabled: Option<bool>,
    /// Failover between regions.
    pub failover: Vec<LocalityFailover>,
    /// Labels that order failover priority.
    pub failover_priority: Vec<String>,
    /// Minimum cluster size for zone-aware routing.
    pub min_cluster_size: Option<u64>,
}

impl DestinationRule {
    /// Istio's `ValidateDestinationRule`.
    pub fn validate(&self, ctx: &Context<'_>, out: &mut Findings) {
        report(out, "spec.host", validate_wildcard_domain(&self.host));
        if let Some(tp) = &self.traffic_policy {
            policy::validate_traffic_policy(tp, ctx, out, "spec.trafficPolicy");
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, s) in self.subsets.iter().enumerate() {
            let p = format!("spec.subsets[{i}]");
            if names.contains(&s.name.as_str()) {
                out.error(
                    format!("{p}.name"),
                    format!("duplicate subset names: {}", s.name),
                );
            }
            names.push(&s.name);
            report(out, &format!("{p}.name"), validate_subset_name(&s.name));
            for e in validate_labels(&s.labels) {
                out.error(format!("{p}.labels"), e);
            }
            if let Some(tp) = &s.traffic_policy {
                policy::validate_traffic_policy(tp, ctx, out, &format!("{p}.trafficPolicy"));
            }
        }
        let with_selector = self.workload_selector.is_some();
        for e in validate_export_to(ctx.namespace, &self.export_to, false, with_selector) {
            out.error("spec.exportTo", e);
        }
        validate_workload_selector(
            self.workload_selector.as_ref(),
            out,
            "spec.workloadSelector",
        );
    }
}
