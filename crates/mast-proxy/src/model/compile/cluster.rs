//! Clusters and endpoint assignments.
//!
//! Supported: STATIC, EDS (over ADS), STRICT_DNS and LOGICAL_DNS (resolved at connect time),
//! ORIGINAL_DST (kept, reached only by capture); ROUND_ROBIN, LEAST_REQUEST (two choices),
//! RANDOM, CLUSTER_PROVIDED; upstream HTTP/1.1, HTTP/2 or the downstream's version; TLS and
//! transport socket matches (auto mTLS); upstream bind address; idle timeout and requests per
//! connection; endpoint health, weight and priority. Accepted and ignored: stats names,
//! metadata, DNS tuning, HTTP/2 window settings, TCP keepalive. Istio's
//! `istio.metadata_exchange` cluster filter: the TCP peer metadata exchange upstream. Circuit breakers: the DEFAULT
//! priority's `max_connections`, `max_pending_requests`, `max_requests`, `max_retries`
//! (Envoy's defaults 1024, 1024, 1024, 3 where unset); retry budgets and per-host
//! thresholds are refused. Outlier detection: the consecutive 5xx and gateway-failure
//! detectors with ejection times, `max_ejection_percent` and the healthy panic threshold;
//! the success-rate and failure-percentage detectors, split local-origin errors and ejection
//! jitter are refused. Ring hash (xxHash only) and Maglev; locality-weighted balancing.
//! Refused: subsets, health checks, zone-aware balancing, custom cluster types.

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbConfig, LbPolicy as PbLb,
};
use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster as PbCluster, OutlierDetection as PbOutlier,
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, HealthStatus, TransportSocket, address, config_source::ConfigSourceSpecifier,
    socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::{
    ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
};
use std::sync::Arc;
use std::time::Duration;

use super::tls::{UpstreamTls, upstream};
use super::{Compiler, FieldError, Result, duration, timeout, unpack};
use crate::model::cluster::{
    Assignment, Cluster, Discovery, Endpoint, EndpointAddr, LbPolicy, Limits, Outlier, SocketMatch,
    UpstreamProtocol,
};

/// Key of the upstream HTTP options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/// The endpoint metadata namespace transport socket matches read.
pub const SOCKET_MATCH_KEY: &str = "envoy.transport_socket_match";
/// Envoy's default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Envoy's default idle timeout of upstream connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

fn transport_socket(c: &Compiler<'_>, ts: &TransportSocket) -> Result<Option<Arc<UpstreamTls>>> {
    let any = ts
        .config_type
        .as_ref()
        .map(|transport_socket::ConfigType::TypedConfig(a)| a);
    match ts.name.as_str() {
        "envoy.transport_sockets.raw_buffer" | "raw_buffer" => Ok(None),
        "envoy.transport_sockets.tls" | "tls" => {
            let ctx: UpstreamTlsContext = match any {
                Some(a) => unpack(a).map_err(|e| e.at("typed_config"))?,
                None => UpstreamTlsContext::default(),
            };
            Ok(Some(Arc::new(
                upstream(c, &ctx).map_err(|e| e.at("typed_config"))?,
            )))
        }
        other => Err(FieldError::new(
            "name",
            format!("transport socket {other:?} is not supported by mast-proxy"),
        )),
    }
}

/// The limits of the circuit breaker's DEFAULT priority (Envoy's defaults for fields left
/// unset; HIGH-priority thresholds are accepted and unused: routes have no priority here).
fn limits(cb: Option<&CircuitBreakers>) -> Result<Limits> {
    let mut out = Limits::default();
    let Some(cb) = cb else { return Ok(out) };
    for (i, t) in cb.thresholds.iter().enumerate() {
        if t.priority != 0 {
            continue;
        }
        if t.retry_budget.is_some() {
            return Err(FieldError::new(
                format!("circuit_breakers.thresholds[{i}].retry_budget"),
                "retry budgets are not enforced by mast-proxy yet",
            ));
        }
        let v = |f: &Option<envoy_types::pb::google::protobuf::UInt32Value>, d: u32| {
            f.as_ref().map_or(d, |v| v.value)
        };
        out = Limits {
            max_connections: v(&t.max_connections, out.max_connections),
            max_pending_requests: v(&t.max_pending_requests, out.max_pending_requests),
            max_requests: v(&t.max_requests, out.max_requests),
            max_retries: v(&t.max_retries, out.max_retries),
        };
    }
    Ok(out)
}

fn outlier(o: &PbOutlier) -> Result<Outlier> {
    let d = Outlier::default();
    let v = |f: &Option<envoy_types::pb::google::protobuf::UInt32Value>, d: u32| {
        f.as_ref().map_or(d, |v| v.value)
    };
    let enforced = |f: &Option<envoy_types::pb::google::protobuf::UInt32Value>, d: u32| v(f, d) > 0;
    let refuse = |set: bool, field: &str, why: &str| {
        if set {
            Err(FieldError::new(format!("outlier_detection.{field}"), why))
        } else {
            Ok(())
        }
    };
    refuse(
        enforced(&o.enforcing_success_rate, 100),
        "enforcing_success_rate",
        "success-rate ejection (Envoy's default 100%) is not implemented by mast-proxy; set it to 0",
    )?;
    refuse(
        enforced(&o.enforcing_failure_percentage, 0)
            || enforced(&o.enforcing_failure_percentage_local_origin, 0),
        "enforcing_failure_percentage",
        "failure-percentage ejection is not implemented by mast-proxy",
    )?;
    refuse(
        o.split_external_local_origin_errors,
        "split_external_local_origin_errors",
        "local-origin errors are counted with the upstream's 5xx by mast-proxy",
    )?;
    refuse(
        o.max_ejection_time_jitter
            .as_ref()
            .is_some_and(|j| j.seconds > 0 || j.nanos > 0),
        "max_ejection_time_jitter",
        "ejection jitter is not implemented by mast-proxy",
    )?;
    refuse(
        o.successful_active_health_check_uneject_host.is_some(),
        "successful_active_health_check_uneject_host",
        "active health checks are not implemented by mast-proxy",
    )?;
    refuse(
        !o.monitors.is_empty(),
        "monitors",
        "outlier detection monitors are not implemented by mast-proxy",
    )?;
    Ok(Outlier {
        consecutive_5xx: v(&o.consecutive_5xx, d.consecutive_5xx),
        enforcing_5xx: v(&o.enforcing_consecutive_5xx, d.enforcing_5xx).min(100),
        consecutive_gateway: v(&o.consecutive_gateway_failure, d.consecutive_gateway),
        enforcing_gateway: v(
            &o.enforcing_consecutive_gateway_failure,
            d.enforcing_gateway,
        )
        .min(100),
        interval: duration(o.interval.as_ref()).unwrap_or(d.interval),
        base_ejection: duration(o.base_ejection_time.as_ref()).unwrap_or(d.base_ejection),
        max_ejection: duration(o.max_ejection_time.as_ref()).unwrap_or(d.max_ejection),
        max_ejection_percent: v(&o.max_ejection_percent, d.max_ejection_percent).min(100),
        always_eject_one: o.always_eject_one_host.as_ref().is_some_and(|b| b.value),
    })
}

struct HttpOpts {
    protocol: Option<UpstreamProtocol>,
    idle: Option<Option<Duration>>,
    max_requests: Option<u32>,
}

fn http_options(o: &HttpProtocolOptions) -> Result<HttpOpts> {
    if !o.http_filters.is_empty() {
        return Err(FieldError::unsupported("http_filters"));
    }
    if o.outlier_detection.is_some()
        || o.retry_policy.is_some()
        || !o.hash_policy.is_empty()
        || !o.request_mirror_policies.is_empty()
    {
        return Err(FieldError::unsupported(
            "outlier_detection/retry_policy/hash_policy/request_mirror_policies",
        ));
    }
    if o.upstream_http_protocol_options
        .as_ref()
        .is_some_and(|u| u.auto_sni || u.auto_san_validation)
    {
        return Err(FieldError::unsupported(
            "upstream_http_protocol_options.auto_sni",
        ));
    }
    let protocol = match &o.upstream_protocol_options {
        None => None,
        Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config,
        })) => match protocol_config {
            Some(ProtocolConfig::HttpProtocolOptions(_)) | None => Some(UpstreamProtocol::Http1),
            Some(ProtocolConfig::Http2ProtocolOptions(_)) => Some(UpstreamProtocol::Http2),
            Some(ProtocolConfig::Http3ProtocolOptions(_)) => {
                return Err(FieldError::unsupported(
                    "explicit_http_config.http3_protocol_options",
                ));
            }
        },
        Some(UpstreamProtocolOptions::UseDownstreamProtocolConfig(_)) => {
            Some(UpstreamProtocol::Downstream)
        }
        Some(UpstreamProtocolOptions::AutoConfig(_)) => {
            return Err(FieldError::unsupported("auto_config"));
        }
    };
    let common = o.common_http_protocol_options.as_ref();
    if let Some(c) = common {
        if duration(c.max_connection_duration.as_ref()).is_some_and(|d| !d.is_zero()) {
            return Err(FieldError::unsupported(
                "common_http_protocol_options.max_connection_duration",
            ));
        }
        if duration(c.max_stream_duration.as_ref()).is_some_and(|d| !d.is_zero()) {
            return Err(FieldError::unsupported(
                "common_http_protocol_options.max_stream_duration",
            ));
        }
    }
    Ok(HttpOpts {
        protocol,
        idle: common
            .and_then(|c| c.idle_timeout.as_ref())
            .map(|d| timeout(Some(d), None)),
        max_requests: common
            .and_then(|c| c.max_requests_per_connection.as_ref())
            .map(|v| v.value)
            .filter(|v| *v > 0),
    })
}

fn checks(c: &PbCluster) -> Result<()> {
    let refuse = |set: bool, f: &str| {
        if set {
            Err(FieldError::unsupported(f))
        } else {
            Ok(())
        }
    };
    refuse(!c.health_checks.is_empty(), "health_checks")?;
    refuse(c.lb_subset_config.is_some(), "lb_subset_config")?;
    refuse(c.load_balancing_policy.is_some(), "load_balancing_policy")?;
    refuse(c.lrs_server.is_some(), "lrs_server")?;
    refuse(c.upstream_config.is_some(), "upstream_config")?;
    refuse(
        c.connection_pool_per_downstream_connection,
        "connection_pool_per_downstream_connection",
    )?;
    refuse(
        c.transport_socket_matcher.is_some(),
        "transport_socket_matcher",
    )?;
    if let Some(cl) = &c.common_lb_config {
        use envoy_types::pb::envoy::config::cluster::v3::cluster::common_lb_config::LocalityConfigSpecifier;
        refuse(
            matches!(
                cl.locality_config_specifier,
                Some(LocalityConfigSpecifier::ZoneAwareLbConfig(_))
            ),
            "common_lb_config.zone_aware_lb_config",
        )?;
    }
    match &c.lb_config {
        None | Some(LbConfig::OriginalDstLbConfig(_)) => {}
        Some(LbConfig::LeastRequestLbConfig(l)) => refuse(
            l.choice_count.as_ref().is_some_and(|n| n.value != 2),
            "least_request_lb_config.choice_count",
        )?,
        Some(LbConfig::RoundRobinLbConfig(r)) => refuse(
            r.slow_start_config.is_some(),
            "round_robin_lb_config.slow_start_config",
        )?,
        Some(LbConfig::RingHashLbConfig(r)) => refuse(
            r.hash_function != 0,
            "ring_hash_lb_config.hash_function (only XX_HASH)",
        )?,
        Some(LbConfig::MaglevLbConfig(_)) => {}
    }
    for (i, f) in c.filters.iter().enumerate() {
        if f.name != "istio.metadata_exchange" {
            return Err(FieldError::new(
                format!("filters[{i}]"),
                format!(
                    "upstream network filter {:?} is not supported by mast-proxy",
                    f.name
                ),
            ));
        }
    }
    if let Some(cb) = &c.circuit_breakers {
        refuse(
            !cb.per_host_thresholds.is_empty(),
            "circuit_breakers.per_host_thresholds",
        )?;
    }
    Ok(())
}

/// Compiles a Cluster; `fingerprint` is its encoded proto.
pub fn compile(c: &mut Compiler<'_>, pb: &PbCluster, fingerprint: Vec<u8>) -> Result<Cluster> {
    checks(pb)?;
    let discovery = match &pb.cluster_discovery_type {
        None => Discovery::Static,
        Some(ClusterDiscoveryType::Type(t)) => match DiscoveryType::try_from(*t) {
            Ok(DiscoveryType::Static) => Discovery::Static,
            Ok(DiscoveryType::StrictDns) => Discovery::StrictDns,
            Ok(DiscoveryType::LogicalDns) => Discovery::LogicalDns,
            Ok(DiscoveryType::Eds) => Discovery::Eds,
            Ok(DiscoveryType::OriginalDst) => Discovery::OriginalDst,
            Err(_) => {
                return Err(FieldError::new(
                    "type",
                    format!("unknown discovery type {t}"),
                ));
            }
        },
        Some(ClusterDiscoveryType::ClusterType(t)) => {
            return Err(FieldError::new(
                "cluster_type",
                format!(
                    "custom cluster type {:?} is not supported by mast-proxy",
                    t.name
                ),
            ));
        }
    };
    let eds_name = match (&pb.eds_cluster_config, discovery) {
        (_, d) if d != Discovery::Eds => None,
        (None, _) => Some(pb.name.clone()),
        (Some(e), _) => {
            match e
                .eds_config
                .as_ref()
                .and_then(|s| s.config_source_specifier.as_ref())
            {
                None | Some(ConfigSourceSpecifier::Ads(_)) => {}
                Some(_) => {
                    return Err(FieldError::new(
                        "eds_cluster_config.eds_config",
                        "only ADS is supported by mast-proxy",
                    ));
                }
            }
            Some(if e.service_name.is_empty() {
                pb.name.clone()
            } else {
                e.service_name.clone()
            })
        }
    };
    let lb = match PbLb::try_from(pb.lb_policy) {
        Ok(PbLb::RoundRobin) => LbPolicy::RoundRobin,
        Ok(PbLb::LeastRequest) => LbPolicy::LeastRequest,
        Ok(PbLb::Random) => LbPolicy::Random,
        Ok(PbLb::ClusterProvided) => LbPolicy::ClusterProvided,
        Ok(PbLb::RingHash) => {
            let (min, max) = match &pb.lb_config {
                Some(LbConfig::RingHashLbConfig(r)) => (
                    r.minimum_ring_size.as_ref().map_or(1024, |v| v.value),
                    r.maximum_ring_size.as_ref().map_or(8 << 20, |v| v.value),
                ),
                _ => (1024, 8 << 20),
            };
            if min == 0 || min > max || max > 8 << 20 {
                return Err(FieldError::new(
                    "ring_hash_lb_config",
                    format!("ring size {min}..{max} is not within 1..8388608"),
                ));
            }
            LbPolicy::RingHash { min, max }
        }
        Ok(PbLb::Maglev) => {
            let size = match &pb.lb_config {
                Some(LbConfig::MaglevLbConfig(m)) => {
                    m.table_size.as_ref().map_or(65_537, |v| v.value)
                }
                _ => 65_537,
            };
            let prime = (2..).take_while(|d| d * d <= size).all(|d| size % d != 0);
            if !(2..=5_000_011).contains(&size) || !prime {
                return Err(FieldError::new(
                    "maglev_lb_config.table_size",
                    format!("{size} is not a prime up to 5000011"),
                ));
            }
            LbPolicy::Maglev { size }
        }
        Ok(other) => {
            return Err(FieldError::new(
                "lb_policy",
                format!("{} is not supported by mast-proxy yet", other.as_str_name()),
            ));
        }
        Err(_) => {
            return Err(FieldError::new(
                "lb_policy",
                format!("unknown policy {}", pb.lb_policy),
            ));
        }
    };
    let mut protocol = UpstreamProtocol::Http1;
    #[allow(deprecated)]
    if pb.http2_protocol_options.is_some() {
        protocol = UpstreamProtocol::Http2;
    }
    #[allow(deprecated)]
    if pb.protocol_selection == 1 {
        protocol = UpstreamProtocol::Downstream;
    }
    #[allow(deprecated)]
    let mut max_requests = pb
        .max_requests_per_connection
        .as_ref()
        .map(|v| v.value)
        .filter(|v| *v > 0);
    let mut idle_timeout = Some(DEFAULT_IDLE_TIMEOUT);
    for (key, any) in &pb.typed_extension_protocol_options {
        let field = format!("typed_extension_protocol_options[{key:?}]");
        if key != HTTP_PROTOCOL_OPTIONS {
            return Err(FieldError::new(field, "not supported by mast-proxy"));
        }
        let o: HttpProtocolOptions = unpack(any).map_err(|e| e.at(&field))?;
        let h = http_options(&o).map_err(|e| e.at(&field))?;
        protocol = h.protocol.unwrap_or(protocol);
        idle_timeout = h.idle.unwrap_or(idle_timeout);
        max_requests = h.max_requests.or(max_requests);
    }
    let tls = match &pb.transport_socket {
        Some(ts) => transport_socket(c, ts).map_err(|e| e.at("transport_socket"))?,
        None => None,
    };
    let socket_matches = pb
        .transport_socket_matches
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let tls = match &m.transport_socket {
                Some(ts) => transport_socket(c, ts)
                    .map_err(|e| e.at(format!("transport_socket_matches[{i}].transport_socket")))?,
                None => None,
            };
            let criteria = m
                .r#match
                .as_ref()
                .map(mast_xds::structs::struct_to_json)
                .unwrap_or_default();
            Ok(SocketMatch {
                name: m.name.clone(),
                criteria,
                tls,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let bind_source = match pb
        .upstream_bind_config
        .as_ref()
        .and_then(|b| b.source_address.as_ref())
    {
        Some(sa) => Some(sa.address.parse().map_err(|_| {
            FieldError::new(
                "upstream_bind_config.source_address.address",
                format!("{:?} is not an IP", sa.address),
            )
        })?),
        None => None,
    };
    let load_assignment = match &pb.load_assignment {
        Some(cla) if discovery != Discovery::Eds => {
            let a = assignment(cla).map_err(|e| e.at("load_assignment"))?;
            if discovery == Discovery::Static
                && let Some(e) = a
                    .priorities
                    .iter()
                    .flatten()
                    .find(|e| matches!(e.addr, EndpointAddr::Dns(..)))
            {
                return Err(FieldError::new(
                    "load_assignment",
                    format!("{} is not an IP address (STATIC cluster)", e.addr),
                ));
            }
            Some(a)
        }
        _ => None,
    };
    Ok(Cluster {
        name: pb.name.clone(),
        discovery,
        eds_name,
        connect_timeout: duration(pb.connect_timeout.as_ref()).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        lb,
        locality_weighted: pb
            .common_lb_config
            .as_ref()
            .and_then(|c| c.locality_config_specifier.as_ref())
            .is_some_and(|l| {
                matches!(
                    l,
                    envoy_types::pb::envoy::config::cluster::v3::cluster::common_lb_config::LocalityConfigSpecifier::LocalityWeightedLbConfig(_)
                )
            }),
        protocol,
        tls,
        socket_matches,
        bind_source,
        exchange: pb
            .filters
            .iter()
            .any(|f| f.name == "istio.metadata_exchange")
            .then(|| c.telemetry.local.clone()),
        idle_timeout,
        max_requests_per_connection: max_requests,
        limits: limits(pb.circuit_breakers.as_ref())?,
        outlier: pb.outlier_detection.as_ref().map(outlier).transpose()?,
        panic_threshold: pb
            .common_lb_config
            .as_ref()
            .and_then(|c| c.healthy_panic_threshold.as_ref())
            .map_or(50.0, |p| p.value.clamp(0.0, 100.0)),
        load_assignment,
        service: service(pb.metadata.as_ref()),
        fingerprint,
    })
}

/// The cluster's service from Istio's metadata (`filter_metadata.istio.services[0]`: host,
/// name, namespace).
fn service(
    md: Option<&envoy_types::pb::envoy::config::core::v3::Metadata>,
) -> Option<Arc<crate::telemetry::metrics::Service>> {
    let istio = mast_xds::structs::struct_to_json(md?.filter_metadata.get("istio")?);
    let s = istio.get("services")?.as_array()?.first()?.as_object()?;
    let field = |k: &str| -> Arc<str> {
        s.get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .unwrap_or(crate::telemetry::peer::UNKNOWN)
            .into()
    };
    Some(Arc::new(crate::telemetry::metrics::Service {
        host: field("host"),
        name: field("name"),
        namespace: field("namespace"),
    }))
}

fn endpoint_addr(a: Option<&Address>) -> Result<EndpointAddr> {
    match a.and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => {
            if sa.protocol != 0 {
                return Err(FieldError::new(
                    "protocol",
                    "UDP endpoints are not supported by mast-proxy",
                ));
            }
            let port = match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => u16::try_from(p)
                    .map_err(|_| FieldError::new("port_value", format!("{p} is not a port")))?,
                Some(socket_address::PortSpecifier::NamedPort(_)) => {
                    return Err(FieldError::unsupported("named_port"));
                }
                None => 0,
            };
            Ok(match sa.address.parse() {
                Ok(ip) => EndpointAddr::Ip(std::net::SocketAddr::new(ip, port)),
                Err(_) => EndpointAddr::Dns(sa.address.clone(), port),
            })
        }
        Some(address::Address::Pipe(p)) => Err(FieldError::new(
            "pipe",
            format!(
                "Unix socket endpoints ({}) are not supported by mast-proxy",
                p.path
            ),
        )),
        Some(_) => Err(FieldError::unsupported("address")),
        None => Err(FieldError::new("address", "is missing")),
    }
}

/// Compiles a ClusterLoadAssignment.
pub fn assignment(cla: &ClusterLoadAssignment) -> Result<Assignment> {
    if !cla.named_endpoints.is_empty() {
        return Err(FieldError::unsupported("named_endpoints"));
    }
    if cla
        .policy
        .as_ref()
        .is_some_and(|p| !p.drop_overloads.is_empty())
    {
        return Err(FieldError::unsupported("policy.drop_overloads"));
    }
    let mut out = Assignment::default();
    for (i, loc) in cla.endpoints.iter().enumerate() {
        let prio = loc.priority as usize;
        if out.priorities.len() <= prio {
            out.priorities.resize_with(prio + 1, Vec::new);
        }
        let locality = loc
            .locality
            .as_ref()
            .map(|l| format!("{}/{}/{}", l.region, l.zone, l.sub_zone))
            .unwrap_or_default();
        for (j, lb) in loc.lb_endpoints.iter().enumerate() {
            let at = |e: FieldError| e.at(format!("endpoints[{i}].lb_endpoints[{j}]"));
            let ep = match &lb.host_identifier {
                Some(lb_endpoint::HostIdentifier::Endpoint(e)) => e,
                Some(_) => return Err(at(FieldError::unsupported("endpoint_name"))),
                None => return Err(at(FieldError::new("endpoint", "is missing"))),
            };
            let addr =
                endpoint_addr(ep.address.as_ref()).map_err(|e| at(e.at("endpoint.address")))?;
            let healthy = matches!(
                HealthStatus::try_from(lb.health_status),
                Ok(HealthStatus::Unknown | HealthStatus::Healthy)
            );
            let socket_metadata = lb
                .metadata
                .as_ref()
                .and_then(|m| m.filter_metadata.get(super::cluster::SOCKET_MATCH_KEY))
                .map(mast_xds::structs::struct_to_json)
                .unwrap_or_default();
            out.priorities[prio].push(Endpoint {
                addr,
                healthy,
                weight: lb
                    .load_balancing_weight
                    .as_ref()
                    .map(|w| w.value)
                    .unwrap_or(1)
                    .max(1),
                socket_metadata,
                locality: locality.clone(),
                locality_weight: loc.load_balancing_weight.as_ref().map_or(0, |w| w.value),
            });
        }
    }
    Ok(out)
}
