//! Filter chains of outbound TCP and TLS ports (`buildSidecarOutboundTCPListenerOpts`): routes
//! of the VirtualService `tls` (by SNI) and `tcp` sections that apply, else a TCP proxy to
//! the service's cluster.

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::listener::v3::Filter;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use mast_config::istio::common::host_matches;
use mast_config::istio::networking::virtual_service::{
    L4MatchAttributes, RouteDestination, TlsMatchAttributes,
};
use mast_xds::Proxy;

use super::Ctx;
use super::filters::{tcp_proxy as simple_tcp_proxy, tcp_proxy_filter};
use super::outbound::ChainOpts;
use crate::registry::{Protocol, Service};
use crate::xds::rds::delegate::ResolvedVs;
use crate::xds::rds::route::{config_metadata, destination_cluster, destination_rule};
use crate::xds::rds::util::{MESH_GATEWAY, outbound_cluster, parse_duration};

fn static_match(
    gateways: &[String],
    labels: &std::collections::BTreeMap<String, String>,
    port: u32,
    source_ns: &str,
    proxy: &Proxy,
    listen_port: u32,
) -> bool {
    (gateways.is_empty() || gateways.iter().any(|g| g == MESH_GATEWAY))
        && labels.iter().all(|(k, v)| proxy.labels.get(k) == Some(v))
        && (port == 0 || port == listen_port)
        && (source_ns.is_empty() || source_ns == proxy.namespace)
}

fn tls_match(m: &TlsMatchAttributes, proxy: &Proxy, port: u32) -> bool {
    static_match(
        &m.gateways,
        &m.source_labels,
        m.port,
        &m.source_namespace,
        proxy,
        port,
    )
}

fn tcp_match(m: &L4MatchAttributes, proxy: &Proxy, port: u32) -> bool {
    static_match(
        &m.gateways,
        &m.source_labels,
        m.port,
        &m.source_namespace,
        proxy,
        port,
    )
}

/// A TCP proxy to `cluster` with the DestinationRule's TCP idle timeout and connection
/// duration of `host`.
fn tcp_proxy_to(ctx: &Ctx<'_>, stat_prefix: &str, cluster: &str, host: &str) -> TcpProxy {
    let mut p = simple_tcp_proxy(stat_prefix, cluster);
    let tcp = destination_rule(ctx.snap, ctx.proxy, host)
        .and_then(|dr| dr.spec.traffic_policy.as_ref())
        .and_then(|tp| tp.connection_pool.as_ref())
        .and_then(|cp| cp.tcp.as_ref());
    if let Some(t) = tcp {
        p.idle_timeout = t
            .idle_timeout
            .as_deref()
            .and_then(|d| parse_duration(d, "connectionPool.tcp.idleTimeout"));
        p.max_downstream_connection_duration = t
            .max_connection_duration
            .as_deref()
            .and_then(|d| parse_duration(d, "connectionPool.tcp.maxConnectionDuration"));
    }
    p
}

/// The network filters of a TCP/TLS route: RBAC never applies outbound, so a TCP proxy to one
/// cluster or a weighted set.
fn route_filters(
    ctx: &Ctx<'_>,
    routes: &[RouteDestination],
    port: u32,
    vs: &ResolvedVs,
) -> Vec<Filter> {
    let lookup = |h: &str| {
        ctx.snap
            .registry
            .services
            .iter()
            .find(|s| {
                s.hostname == h
                    && s.visibility
                        .visible_from(&s.namespace, &ctx.proxy.namespace)
            })
            .cloned()
    };
    let dests: Vec<(
        &RouteDestination,
        &mast_config::istio::networking::virtual_service::Destination,
    )> = routes
        .iter()
        .filter_map(|r| r.destination.as_ref().map(|d| (r, d)))
        .collect();
    let Some((_, first)) = dests.first() else {
        return vec![];
    };
    if dests.len() == 1 {
        let cluster = destination_cluster(first, lookup(&first.host).as_deref(), port);
        return vec![tcp_proxy_filter(tcp_proxy_to(
            ctx,
            &cluster,
            &cluster,
            &first.host,
        ))];
    }
    let stat = format!("{}.{}", vs.name, vs.namespace);
    let clusters: Vec<tcp_proxy::weighted_cluster::ClusterWeight> = dests
        .iter()
        .filter(|(r, _)| r.weight > 0)
        .map(|(r, d)| tcp_proxy::weighted_cluster::ClusterWeight {
            name: destination_cluster(d, lookup(&d.host).as_deref(), port),
            weight: r.weight as u32,
            metadata_match: None,
        })
        .collect();
    let mut p = tcp_proxy_to(ctx, &stat, "", &first.host);
    p.cluster_specifier = Some(tcp_proxy::ClusterSpecifier::WeightedClusters(
        tcp_proxy::WeightedCluster { clusters },
    ));
    vec![tcp_proxy_filter(p)]
}

/// The VirtualServices of the listener whose hosts match `host`.
pub fn configs_for_host<'v>(vses: &'v [ResolvedVs], host: &str) -> Vec<&'v ResolvedVs> {
    vses.iter()
        .filter(|vs| vs.spec.hosts.iter().any(|h| host_matches(h, host)))
        .collect()
}

/// The chain options of a TCP or TLS port of `svc` on the listener bound to `bind`.
pub fn tcp_chain_opts(
    ctx: &Ctx<'_>,
    svc: &Service,
    port: u32,
    protocol: Protocol,
    bind: &str,
    cidrs: &[String],
    vses: &[&ResolvedVs],
) -> Vec<ChainOpts> {
    let single_port = if svc.ports.len() == 1 {
        u32::from(svc.ports[0].port)
    } else {
        port
    };
    let default_cluster = outbound_cluster("", &svc.hostname, single_port);
    let mut out = Vec::new();
    if matches!(protocol, Protocol::Tls | Protocol::Https) {
        let mut seen = BTreeSet::new();
        for vs in vses {
            for tls in vs.spec.tls.iter().filter(|t| !t.route.is_empty()) {
                for m in tls.matches.iter().filter(|m| tls_match(m, ctx.proxy, port)) {
                    let subnets = if !m.destination_subnets.is_empty() && port > 0 {
                        m.destination_subnets.clone()
                    } else {
                        cidrs.to_vec()
                    };
                    if seen.insert((m.sni_hosts.join(","), m.destination_subnets.join(","))) {
                        out.push(ChainOpts {
                            sni_hosts: m.sni_hosts.clone(),
                            cidrs: subnets,
                            network: route_filters(ctx, &tls.route, port, vs),
                            metadata: Some(config_metadata(
                                "virtual-service",
                                &vs.namespace,
                                &vs.name,
                            )),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        if out.is_empty() {
            let vip = svc.addresses.first().map(String::as_str).unwrap_or("");
            let wildcard = vip.is_empty() || vip == "0.0.0.0";
            let sni = if !cidrs.is_empty() || wildcard && (bind == "0.0.0.0" || vip.is_empty()) {
                vec![svc.hostname.clone()]
            } else {
                vec![]
            };
            out.push(ChainOpts {
                sni_hosts: sni,
                cidrs: cidrs.to_vec(),
                network: vec![tcp_proxy_filter(tcp_proxy_to(
                    ctx,
                    &default_cluster,
                    &default_cluster,
                    &svc.hostname,
                ))],
                ..Default::default()
            });
        }
        return out;
    }
    let mut default_added = false;
    'vs: for vs in vses {
        for tcp in vs.spec.tcp.iter().filter(|t| !t.route.is_empty()) {
            let meta = || Some(config_metadata("virtual-service", &vs.namespace, &vs.name));
            if tcp.matches.is_empty() {
                out.push(ChainOpts {
                    cidrs: cidrs.to_vec(),
                    network: route_filters(ctx, &tcp.route, port, vs),
                    metadata: meta(),
                    ..Default::default()
                });
                default_added = true;
                break 'vs;
            }
            let mut subnets = Vec::new();
            for m in tcp.matches.iter().filter(|m| tcp_match(m, ctx.proxy, port)) {
                if m.destination_subnets.is_empty() || port == 0 {
                    out.push(ChainOpts {
                        cidrs: cidrs.to_vec(),
                        network: route_filters(ctx, &tcp.route, port, vs),
                        metadata: meta(),
                        ..Default::default()
                    });
                    default_added = true;
                    break 'vs;
                }
                subnets.extend(m.destination_subnets.iter().cloned());
            }
            if !subnets.is_empty() {
                let mut a = subnets.clone();
                a.sort();
                let mut b = cidrs.to_vec();
                b.sort();
                default_added |= a == b;
                out.push(ChainOpts {
                    cidrs: subnets,
                    network: route_filters(ctx, &tcp.route, port, vs),
                    ..Default::default()
                });
            }
        }
    }
    if !default_added {
        out.push(ChainOpts {
            cidrs: cidrs.to_vec(),
            network: vec![tcp_proxy_filter(tcp_proxy_to(
                ctx,
                &default_cluster,
                &default_cluster,
                &svc.hostname,
            ))],
            ..Default::default()
        });
    }
    out
}
