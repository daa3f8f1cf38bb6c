//! DestinationRule traffic policies on a cluster, as istiod applies them: the policy for a
//! port (port-level settings replace the top level), subset overrides, connection pool →
//! circuit breakers, timeouts and HTTP options, outlier detection, HTTP/2 upgrade, upstream
//! PROXY protocol.

use std::collections::BTreeSet;
use std::sync::Mutex;

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, OutlierDetection as EnvoyOutlier, UpstreamConnectionOptions,
    circuit_breakers::{Thresholds, thresholds::RetryBudget as EnvoyRetryBudget},
};
use envoy_types::pb::envoy::config::common::matcher::v3::{
    HttpHeadersMatch, MatchPredicate,
    match_predicate::{MatchSet, Rule as PredicateRule},
};
use envoy_types::pb::envoy::config::core::v3::{
    HttpProtocolOptions as CommonHttpOptions, KeepaliveSettings, ProxyProtocolConfig, TcpKeepalive,
    TransportSocket, transport_socket,
};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::transport_sockets::proxy_protocol::v3::ProxyProtocolUpstreamTransport;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::OutlierDetection as HttpOutlier;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::Duration;
use envoy_types::util::pack_any;
use mast_config::istio::networking::destination_rule::{
    ConnectionPoolSettings, H2UpgradePolicy, OutlierDetection, ProxyProtocol, ProxyProtocolVersion,
    RetryBudget, TcpKeepalive as IstioKeepalive, TrafficPolicy,
};

use super::builder::{CONNECT_TIMEOUT, Wrapper, parse_dur, u32v};
use crate::registry::Protocol;
use crate::xds::tls::raw_buffer_socket;

/// Logs a partial-support warning once per distinct message.
pub fn warn_once(what: &str) {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if SEEN
        .lock()
        .map(|mut s| s.insert(what.to_string()))
        .unwrap_or(false)
    {
        tracing::warn!("{what}");
    }
}

/// The policy that applies to `port`: its port-level settings when present (nothing of the
/// top level is inherited then), else the top level. The flag tells a port-level match.
pub fn port_level(tp: Option<&TrafficPolicy>, port: u16) -> (Option<TrafficPolicy>, bool) {
    let Some(tp) = tp else { return (None, false) };
    match tp
        .port_level_settings
        .iter()
        .find(|p| p.port.as_ref().is_some_and(|s| s.number == u32::from(port)))
    {
        Some(p) => (
            Some(TrafficPolicy {
                connection_pool: p.connection_pool.clone(),
                load_balancer: p.load_balancer.clone(),
                outlier_detection: p.outlier_detection.clone(),
                tls: p.tls.clone(),
                ..Default::default()
            }),
            true,
        ),
        None => (
            Some(TrafficPolicy {
                port_level_settings: Vec::new(),
                ..tp.clone()
            }),
            false,
        ),
    }
}

/// A subset's policy over the rule's (both resolved for `port`): each part the subset sets
/// replaces the rule's; a subset port-level match replaces all four main parts.
pub fn merge_subset(
    original: Option<&TrafficPolicy>,
    subset: Option<&TrafficPolicy>,
    port: u16,
) -> Option<TrafficPolicy> {
    let (original, _) = port_level(original, port);
    let Some(subset) = subset else {
        return original;
    };
    let (subset, port_match) = port_level(Some(subset), port);
    let subset = subset?;
    let Some(mut merged) = original else {
        return Some(subset);
    };
    if subset.connection_pool.is_some() || port_match {
        merged.connection_pool = subset.connection_pool.clone();
    }
    if subset.outlier_detection.is_some() || port_match {
        merged.outlier_detection = subset.outlier_detection.clone();
    }
    if subset.load_balancer.is_some() || port_match {
        merged.load_balancer = subset.load_balancer.clone();
    }
    if subset.tls.is_some() || port_match {
        merged.tls = subset.tls.clone();
    }
    if subset.tunnel.is_some() {
        merged.tunnel = subset.tunnel.clone();
    }
    if subset.proxy_protocol.is_some() {
        merged.proxy_protocol = subset.proxy_protocol.clone();
    }
    if subset.retry_budget.is_some() {
        merged.retry_budget = subset.retry_budget.clone();
    }
    Some(merged)
}

/// Whether the cluster should speak HTTP/2 upstream (`shouldH2Upgrade`; the mesh default is
/// DO_NOT_UPGRADE).
pub fn should_h2_upgrade(protocol: Protocol, pool: Option<&ConnectionPoolSettings>) -> bool {
    if let Some(http) = pool.and_then(|p| p.http.as_ref()) {
        if http.use_client_protocol {
            return false;
        }
        match http.h2_upgrade_policy {
            H2UpgradePolicy::Upgrade => return true,
            H2UpgradePolicy::DoNotUpgrade => return false,
            H2UpgradePolicy::Default => {}
        }
    }
    let _ = protocol;
    false
}

/// Istio's circuit breaker defaults: everything at 2^32-1.
pub fn default_thresholds() -> Thresholds {
    Thresholds {
        max_connections: u32v(u32::MAX),
        max_pending_requests: u32v(u32::MAX),
        max_requests: u32v(u32::MAX),
        max_retries: u32v(u32::MAX),
        ..Default::default()
    }
}

fn retry_budget(t: &mut Thresholds, rb: Option<&RetryBudget>) {
    let Some(rb) = rb else { return };
    t.retry_budget = Some(EnvoyRetryBudget {
        budget_percent: Some(Percent {
            value: rb.percent.unwrap_or(20.0),
        }),
        min_retry_concurrency: u32v(if rb.min_retry_concurrency > 0 {
            rb.min_retry_concurrency
        } else {
            3
        }),
        budget_interval: parse_dur(rb.budget_interval.as_ref()),
    });
}

fn secs(d: Option<&String>) -> Option<u32> {
    parse_dur(d).map(|d| d.seconds as u32)
}

fn keepalive(w: &mut Wrapper, k: Option<&IstioKeepalive>) {
    let Some(k) = k else { return };
    let opts = w
        .cluster
        .upstream_connection_options
        .get_or_insert_with(UpstreamConnectionOptions::default);
    let tk = opts.tcp_keepalive.get_or_insert_with(TcpKeepalive::default);
    if k.probes > 0 {
        tk.keepalive_probes = u32v(k.probes);
    }
    if let Some(t) = secs(k.time.as_ref()) {
        tk.keepalive_time = u32v(t);
    }
    if let Some(i) = secs(k.interval.as_ref()) {
        tk.keepalive_interval = u32v(i);
    }
}

/// The connection pool (`applyConnectionPool`): connect timeout, circuit breaker thresholds
/// over Istio's defaults, TCP keepalive, and HTTP idle timeout / requests per connection /
/// connection duration / HTTP/2 stream and keepalive settings.
pub fn apply_connection_pool(
    w: &mut Wrapper,
    settings: &ConnectionPoolSettings,
    budget: Option<&RetryBudget>,
) {
    let mut t = default_thresholds();
    retry_budget(&mut t, budget);
    let mut idle: Option<Duration> = None;
    let mut per_conn = 0u32;
    let mut streams = 0u32;
    let mut duration: Option<Duration> = None;
    let mut h2_keepalive = None;
    if let Some(h) = &settings.http {
        if h.http2_max_requests > 0 {
            t.max_requests = u32v(h.http2_max_requests as u32);
        }
        if h.http1_max_pending_requests > 0 {
            t.max_pending_requests = u32v(h.http1_max_pending_requests as u32);
        }
        if h.max_retries > 0 {
            t.max_retries = u32v(h.max_retries as u32);
        }
        idle = parse_dur(h.idle_timeout.as_ref());
        per_conn = h.max_requests_per_connection.max(0) as u32;
        streams = h.max_concurrent_streams.max(0) as u32;
        h2_keepalive = h.http2_keep_alive.as_ref();
    }
    w.cluster.connect_timeout = Some(CONNECT_TIMEOUT);
    if let Some(tcp) = &settings.tcp {
        if let Some(ct) = parse_dur(tcp.connect_timeout.as_ref()) {
            w.cluster.connect_timeout = Some(ct);
        }
        if tcp.max_connections > 0 {
            t.max_connections = u32v(tcp.max_connections as u32);
        }
        duration = parse_dur(tcp.max_connection_duration.as_ref());
        if idle.is_none() {
            idle = parse_dur(tcp.idle_timeout.as_ref());
        }
        keepalive(w, tcp.tcp_keepalive.as_ref());
    }
    w.cluster.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![t],
        ..Default::default()
    });
    if duration.is_some() || idle.is_some() || per_conn > 0 || streams > 0 || h2_keepalive.is_some()
    {
        let is_h2 = w.is_http2();
        let http = w.http_mut();
        let common = http
            .common_http_protocol_options
            .get_or_insert_with(CommonHttpOptions::default);
        if idle.is_some() {
            common.idle_timeout = idle;
        }
        if per_conn > 0 {
            common.max_requests_per_connection = u32v(per_conn);
        }
        if duration.is_some() {
            common.max_connection_duration = duration;
        }
        if is_h2
            && let Some(envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(e)) =
                http.upstream_protocol_options.as_mut()
            && let Some(envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(o)) =
                e.protocol_config.as_mut()
        {
            if streams > 0 {
                o.max_concurrent_streams = u32v(streams);
            }
            if let Some(k) = h2_keepalive {
                o.connection_keepalive = Some(KeepaliveSettings {
                    interval: parse_dur(k.interval.as_ref()),
                    timeout: parse_dur(k.timeout.as_ref()),
                    ..Default::default()
                });
            }
        }
    }
    if settings
        .http
        .as_ref()
        .is_some_and(|h| h.use_client_protocol)
    {
        w.set_use_downstream_protocol();
    }
}

/// Outlier detection (`applyOutlierDetection`): success-rate ejection off, consecutive 5xx /
/// gateway errors enforced at 100%, interval, ejection time and percentage, and the panic
/// threshold from `minHealthPercent`.
pub fn apply_outlier_detection(w: &mut Wrapper, od: Option<&OutlierDetection>) {
    let Some(od) = od else { return };
    if od.consecutive_errors != 0 {
        warn_once(
            "DestinationRule outlierDetection.consecutiveErrors is deprecated and ignored (as istiod does); use consecutive5xxErrors",
        );
    }
    let mut out = EnvoyOutlier {
        enforcing_success_rate: u32v(0),
        ..Default::default()
    };
    if let Some(v) = od.consecutive_5xx_errors {
        out.consecutive_5xx = u32v(v);
        out.enforcing_consecutive_5xx = u32v(if v > 0 { 100 } else { 0 });
    }
    if let Some(v) = od.consecutive_gateway_errors {
        out.consecutive_gateway_failure = u32v(v);
        out.enforcing_consecutive_gateway_failure = u32v(if v > 0 { 100 } else { 0 });
    }
    out.interval = parse_dur(od.interval.as_ref());
    out.base_ejection_time = parse_dur(od.base_ejection_time.as_ref());
    if od.max_ejection_percent > 0 {
        out.max_ejection_percent = u32v(od.max_ejection_percent as u32);
    }
    if od.split_external_local_origin_errors {
        out.split_external_local_origin_errors = true;
        if let Some(v) = od.consecutive_local_origin_failures.filter(|v| *v > 0) {
            out.consecutive_local_origin_failure = u32v(v);
            out.enforcing_consecutive_local_origin_failure = u32v(100);
        }
        out.enforcing_local_origin_success_rate = u32v(0);
    }
    w.cluster.outlier_detection = Some(out);
    if od.min_health_percent >= 0 {
        let lb = w
            .cluster
            .common_lb_config
            .get_or_insert_with(Default::default);
        lb.healthy_panic_threshold = Some(Percent {
            value: f64::from(od.min_health_percent),
        });
    }
    if !od.outlier_detection_http_error_codes.is_empty() {
        let rules: Vec<MatchPredicate> = od
            .outlier_detection_http_error_codes
            .iter()
            .map(|code| MatchPredicate {
                rule: Some(PredicateRule::HttpResponseHeadersMatch(HttpHeadersMatch {
                    headers: vec![HeaderMatcher {
                        name: ":status".into(),
                        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(
                            StringMatcher {
                                match_pattern: Some(MatchPattern::Exact(code.to_string())),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                })),
            })
            .collect();
        let predicate = if rules.len() == 1 {
            rules.into_iter().next().expect("one rule")
        } else {
            MatchPredicate {
                rule: Some(PredicateRule::OrMatch(MatchSet { rules })),
            }
        };
        w.http_mut().outlier_detection = Some(HttpOutlier {
            error_matcher: Some(predicate),
        });
    }
}

fn proxy_protocol_socket(version: ProxyProtocolVersion, inner: TransportSocket) -> TransportSocket {
    let cfg = ProxyProtocolUpstreamTransport {
        config: Some(ProxyProtocolConfig {
            version: version as i32,
            ..Default::default()
        }),
        transport_socket: Some(inner),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.upstream_proxy_protocol".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(cfg))),
    }
}

/// PROXY protocol towards the upstream: wraps the transport socket (or each match's).
pub fn apply_proxy_protocol(w: &mut Wrapper, pp: Option<&ProxyProtocol>) {
    let Some(pp) = pp else { return };
    let c = &mut w.cluster;
    if c.transport_socket.is_none() && c.transport_socket_matches.is_empty() {
        c.transport_socket = Some(proxy_protocol_socket(pp.version, raw_buffer_socket()));
        return;
    }
    if let Some(ts) = c.transport_socket.take() {
        c.transport_socket = Some(proxy_protocol_socket(pp.version, ts));
    }
    for m in &mut c.transport_socket_matches {
        if let Some(ts) = m.transport_socket.take() {
            m.transport_socket = Some(proxy_protocol_socket(pp.version, ts));
        }
    }
}
