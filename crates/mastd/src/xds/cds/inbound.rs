//! Inbound clusters (`inbound|PORT||` per workload port of the services the proxy serves,
//! static to `127.0.0.1:PORT` — Istio's `inboundTrafficPolicy: LOCALHOST` — or per Sidecar
//! ingress listener to its `defaultEndpoint`) and the fixed clusters: `BlackHoleCluster`,
//! `PassthroughCluster`, `InboundPassthroughCluster`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{
    BindConfig, ExtraSourceAddress, Http1ProtocolOptions, Http2ProtocolOptions,
    HttpProtocolOptions as CommonHttpOptions, SocketAddress, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{UpstreamProtocolOptions, UseDownstreamHttpConfig},
};
use envoy_types::pb::google::protobuf::Duration;
use envoy_types::util::pack_any;
use mast_config::istio::networking::destination_rule::ConnectionPoolSettings;
use mast_xds::node::InterceptionMode;

use super::Ctx;
use super::builder::{CONNECT_TIMEOUT, HTTP_PROTOCOL_OPTIONS, Wrapper, base};
use super::policy::{apply_connection_pool, port_level};
use super::rules::Direction;
use crate::registry::{Protocol, Service, ServicePort};
use crate::xds::eds::address;

/// Names of the fixed clusters.
pub const BLACKHOLE: &str = "BlackHoleCluster";
/// Original destination for unknown outbound traffic.
pub const PASSTHROUGH: &str = "PassthroughCluster";
/// Original destination for inbound traffic to ports no service declares.
pub const INBOUND_PASSTHROUGH: &str = "InboundPassthroughCluster";

/// `inbound|PORT||`.
pub fn cluster_name(port: u16) -> String {
    format!("inbound|{port}||")
}

/// The catch-all for unroutable traffic.
pub fn blackhole() -> Cluster {
    Cluster {
        name: BLACKHOLE.into(),
        alt_stat_name: format!("{BLACKHOLE};"),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
        connect_timeout: Some(CONNECT_TIMEOUT),
        lb_policy: LbPolicy::RoundRobin as i32,
        ..Default::default()
    }
}

/// The original-destination cluster for traffic to unknown destinations.
pub fn passthrough() -> Cluster {
    let http = HttpProtocolOptions {
        common_http_protocol_options: Some(CommonHttpOptions {
            idle_timeout: Some(Duration {
                seconds: 300,
                nanos: 0,
            }),
            ..Default::default()
        }),
        upstream_protocol_options: Some(UpstreamProtocolOptions::UseDownstreamProtocolConfig(
            UseDownstreamHttpConfig {
                http_protocol_options: Some(Http1ProtocolOptions::default()),
                http2_protocol_options: Some(Http2ProtocolOptions::default()),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let c = Cluster {
        name: PASSTHROUGH.into(),
        alt_stat_name: format!("{PASSTHROUGH};"),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(
            DiscoveryType::OriginalDst as i32,
        )),
        connect_timeout: Some(CONNECT_TIMEOUT),
        lb_policy: LbPolicy::ClusterProvided as i32,
        typed_extension_protocol_options: [(HTTP_PROTOCOL_OPTIONS.to_string(), pack_any(http))]
            .into(),
        ..Default::default()
    };
    let mut w = Wrapper {
        cluster: c,
        http: None,
        istio: Default::default(),
    };
    apply_connection_pool(&mut w, &ConnectionPoolSettings::default(), None);
    w.build()
}

fn bind(address: &str) -> SocketAddress {
    SocketAddress {
        address: address.into(),
        port_specifier: Some(socket_address::PortSpecifier::PortValue(0)),
        ..Default::default()
    }
}

/// The passthrough for inbound traffic, bound to Istio's magic source address so the
/// capture rules let it reach the workload.
pub fn inbound_passthrough(ctx: &Ctx<'_>) -> Cluster {
    let mut c = passthrough();
    c.name = INBOUND_PASSTHROUGH.into();
    let src = if ctx.facts.ipv4 { "127.0.0.6" } else { "::6" };
    let extra = if ctx.facts.ipv4 && ctx.facts.ipv6 {
        vec![ExtraSourceAddress {
            address: Some(bind("::6")),
            ..Default::default()
        }]
    } else {
        Vec::new()
    };
    c.upstream_bind_config = Some(BindConfig {
        source_address: Some(bind(src)),
        extra_source_addresses: extra,
        ..Default::default()
    });
    c
}

/// A service the proxy serves on one workload port.
struct Target {
    service: Arc<Service>,
    port: ServicePort,
}

fn static_endpoint(host: &str, port: u16) -> Vec<LocalityLbEndpoints> {
    vec![LocalityLbEndpoints {
        lb_endpoints: vec![LbEndpoint {
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(EnvoyEndpoint {
                address: Some(address(host, port)),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn inbound_cluster(
    ctx: &Ctx<'_>,
    port: u16,
    endpoint: Option<(String, u16)>,
    targets: &[Target],
    pool: Option<&ConnectionPoolSettings>,
) -> Option<Cluster> {
    let first = targets.first()?;
    let name = cluster_name(port);
    let (kind, eps) = match &endpoint {
        Some((host, p)) => (DiscoveryType::Static, static_endpoint(host, *p)),
        None => (DiscoveryType::OriginalDst, Vec::new()),
    };
    let mut seen = BTreeSet::new();
    let services: Vec<&Service> = if first.service.mesh_external {
        Vec::new()
    } else {
        targets
            .iter()
            .filter(|t| t.port.port == first.port.port && seen.insert(t.service.hostname.clone()))
            .map(|t| t.service.as_ref())
            .collect()
    };
    let mut w = base(&name, kind, eps, first.port.protocol, &services, ctx.facts)?;
    if kind == DiscoveryType::OriginalDst {
        // never clean up original destination hosts
        w.cluster.cleanup_interval = Some(Duration {
            seconds: 9_223_372_035,
            nanos: 0,
        });
    }
    if !matches!(
        endpoint.as_ref().map(|(h, _)| h.as_str()),
        Some("127.0.0.1" | "::1")
    ) {
        // the magic source the capture rules let through to the workload
        let src = if ctx.facts.ipv4 { "127.0.0.6" } else { "::6" };
        w.cluster.upstream_bind_config = Some(BindConfig {
            source_address: Some(bind(src)),
            ..Default::default()
        });
    }
    let mut policy = None;
    if let Some(rule) = ctx
        .rules
        .lookup(ctx.snap, ctx.proxy, &first.service, Direction::Inbound)
        && rule.spec.traffic_policy.is_some()
    {
        policy = port_level(rule.spec.traffic_policy.as_ref(), first.port.port).0;
        w.istio.insert("config".into(), rule.config_path().into());
    }
    let default_pool = ConnectionPoolSettings::default();
    let pool = pool
        .or(policy.as_ref().and_then(|p| p.connection_pool.as_ref()))
        .unwrap_or(&default_pool);
    apply_connection_pool(
        &mut w,
        pool,
        policy.as_ref().and_then(|p| p.retry_budget.as_ref()),
    );
    if kind == DiscoveryType::OriginalDst {
        w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
    }
    Some(w.build())
}

/// The inbound clusters of the proxy (none for gateways, nor for capture mode NONE without
/// Sidecar ingress listeners).
pub fn inbound_clusters(ctx: &Ctx<'_>) -> Vec<Cluster> {
    let sidecar = crate::xds::scope::sidecar_scope(ctx.snap, ctx.proxy);
    let mut by_port: BTreeMap<u16, Vec<Target>> = BTreeMap::new();
    for (service, eps) in ctx.snap.registry.services_of_proxy(&ctx.proxy.ips) {
        for ep in eps {
            if let Some(sp) = service
                .port(ep.service_port)
                .filter(|p| p.protocol != Protocol::Udp)
            {
                let t = Target {
                    service: service.clone(),
                    port: sp.clone(),
                };
                if !by_port.get(&ep.port).is_some_and(|l| {
                    l.iter().any(|x| {
                        x.service.hostname == t.service.hostname && x.port.port == t.port.port
                    })
                }) {
                    by_port.entry(ep.port).or_default().push(t);
                }
            }
        }
    }
    let loopback = if ctx.facts.ipv4 { "127.0.0.1" } else { "::1" };
    let sidecar_pool = sidecar.and_then(|s| s.spec.inbound_connection_pool.as_ref());
    let ingress = sidecar
        .map(|s| s.spec.ingress.as_slice())
        .unwrap_or_default();
    if ingress.is_empty() {
        if ctx.proxy.interception_mode == InterceptionMode::None {
            return Vec::new();
        }
        return by_port
            .iter()
            .filter_map(|(port, targets)| {
                inbound_cluster(
                    ctx,
                    *port,
                    Some((loopback.to_string(), *port)),
                    targets,
                    sidecar_pool,
                )
            })
            .collect();
    }
    let mut out = Vec::new();
    for l in ingress {
        let Some(p) = l.port.as_ref() else { continue };
        let Ok(number) = u16::try_from(p.number) else {
            continue;
        };
        let endpoint = ingress_endpoint(ctx, &l.default_endpoint);
        let port = ServicePort {
            name: p.name.clone(),
            port: number,
            protocol: Protocol::parse(&p.protocol),
        };
        let found = by_port
            .iter()
            .flat_map(|(tp, ts)| ts.iter().map(move |t| (*tp, t)))
            .find(|(tp, _)| u32::from(*tp) == p.number);
        let service = match found {
            Some((_, t)) => t.service.clone(),
            None => Arc::new(Service {
                hostname: format!(
                    "{}.{}",
                    sidecar.map(|s| s.name.as_str()).unwrap_or_default(),
                    ctx.proxy.namespace
                ),
                namespace: ctx.proxy.namespace.clone(),
                ports: vec![port.clone()],
                addresses: Vec::new(),
                resolution: crate::registry::Resolution::ClientSideLb,
                mesh_external: true,
                visibility: crate::registry::Visibility::Public,
                selector: BTreeMap::new(),
                origin: "Sidecar".into(),
            }),
        };
        let pool = l.connection_pool.as_ref().or(sidecar_pool);
        if let Some(c) = inbound_cluster(ctx, number, endpoint, &[Target { service, port }], pool) {
            out.push(c);
        }
    }
    out
}

/// The address and port of a Sidecar ingress `defaultEndpoint` (`None`: original destination).
fn ingress_endpoint(ctx: &Ctx<'_>, default: &str) -> Option<(String, u16)> {
    if let Some(path) = default.strip_prefix("unix://") {
        return Some((path.to_string(), 0));
    }
    let (host, port) = default.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = |v4: bool| {
        ctx.proxy
            .ips
            .iter()
            .find(|ip| ip.is_ipv4() == v4)
            .map(ToString::to_string)
    };
    let addr = match host {
        "0.0.0.0" => ip(true).unwrap_or_else(|| "127.0.0.1".into()),
        "::" => ip(false).unwrap_or_else(|| "::1".into()),
        "127.0.0.1" => if ctx.facts.ipv4 { "127.0.0.1" } else { "::1" }.to_string(),
        "::1" => if ctx.facts.ipv6 { "::1" } else { "127.0.0.1" }.to_string(),
        other => other.to_string(),
    };
    Some((addr, port))
}
