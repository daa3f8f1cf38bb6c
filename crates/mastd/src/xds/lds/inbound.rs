//! Inbound listeners (`buildInboundListeners`): `virtualInbound` on 15006 with a filter chain
//! per workload port (per PeerAuthentication mode: mTLS and/or plaintext, HTTP and/or TCP)
//! and the pass-through chains for other ports; or, for Sidecar `ingress` listeners captured
//! with `NONE`, listeners bound to their own address.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use mast_config::istio::networking::sidecar::CaptureMode;
use mast_xds::Proxy;
use mast_xds::node::InterceptionMode;

use super::authz::{self, Policies};
use super::filters::{
    self, ALL_ISTIO_MTLS_ALPNS, MTLS_HTTP_ALPNS, MTLS_TCP_ALPNS, PLAINTEXT_HTTP_ALPNS, RAW_BUFFER,
    TLS, address, strings,
};
use super::hcm::{Direction, Routes, connection_manager, hcm_filter};
use super::inspect::inbound_listener_filters;
use super::mtls::{MtlsMode, PeerPolicy, inbound_tls, peer_policy};
use super::{Ctx, ListenerProtocol, listener_protocol};
use crate::registry::Protocol;
use crate::xds::rds::route::{config_metadata, default_inbound_route};
use crate::xds::rds::util::{
    BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, bool_value, inbound_cluster, no_timeout,
    u32_value, warn_once,
};

/// Name of the inbound capture listener.
pub const VIRTUAL_INBOUND: &str = "virtualInbound";
/// Name of the HTTP pass-through chain of `virtualInbound`.
pub const CATCH_ALL_HTTP: &str = "virtualInbound-catchall-http";
/// Name of the chain dropping traffic addressed to 15006 itself.
pub const BLACKHOLE_CHAIN: &str = "virtualInbound-blackhole";
/// The inbound capture port.
pub const INBOUND_PORT: u32 = 15006;

/// One inbound port: where its traffic goes and how it is matched.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Destination cluster (`inbound|PORT||` or `InboundPassthroughCluster`).
    pub cluster: String,
    /// Service port (telemetry and virtual host name).
    pub port: u32,
    /// Port the workload listens on.
    pub target_port: u32,
    /// Protocol of the port.
    pub protocol: Protocol,
    /// Bind address.
    pub bind: String,
    /// Whether the chain forms its own listener bound to `bind:target_port`.
    pub bind_to_port: bool,
    /// Whether this is a pass-through chain.
    pub passthrough: bool,
    /// Host name used in tracing operations.
    pub hostname: String,
    /// `(namespace, name)` of the Sidecar resource the port comes from, if any.
    pub sidecar: Option<(String, String)>,
}

impl ChainConfig {
    fn name(&self, http: bool) -> String {
        match (self.passthrough, http) {
            (true, true) => CATCH_ALL_HTTP.into(),
            (true, false) => VIRTUAL_INBOUND.into(),
            (false, _) => format!("{}_{}", self.bind, self.target_port),
        }
    }
}

/// A filter chain match option (`FilterChainMatchOptions`).
#[derive(Debug, Clone, Copy)]
pub struct MatchOption {
    /// ALPNs to match.
    pub alpn: &'static [&'static str],
    /// Transport protocol to match (`tls`, `raw_buffer`).
    pub transport: &'static str,
    /// Whether the chain is HTTP (else TCP).
    pub http: bool,
    /// Whether the chain terminates mTLS.
    pub tls: bool,
}

const fn opt(
    alpn: &'static [&'static str],
    transport: &'static str,
    http: bool,
    tls: bool,
) -> MatchOption {
    MatchOption {
        alpn,
        transport,
        http,
        tls,
    }
}

/// The chains a port gets for its mTLS mode and protocol (`getFilterChainMatchOptions`).
pub fn match_options(mode: MtlsMode, protocol: ListenerProtocol) -> Vec<MatchOption> {
    use ListenerProtocol::*;
    use MtlsMode::*;
    match (protocol, mode) {
        (Http, Strict) => vec![opt(&[], TLS, true, true)],
        (Http, Permissive) => vec![
            opt(ALL_ISTIO_MTLS_ALPNS, TLS, true, true),
            opt(&[], RAW_BUFFER, true, false),
        ],
        (Http, Disable) => vec![opt(&[], RAW_BUFFER, true, false)],
        (Auto, Strict) => vec![
            opt(MTLS_HTTP_ALPNS, TLS, true, true),
            opt(&[], TLS, false, true),
        ],
        (Auto, Permissive) => vec![
            opt(MTLS_HTTP_ALPNS, TLS, true, true),
            opt(PLAINTEXT_HTTP_ALPNS, RAW_BUFFER, true, false),
            opt(MTLS_TCP_ALPNS, TLS, false, true),
            opt(&[], RAW_BUFFER, false, false),
            opt(&[], TLS, false, false),
        ],
        (Auto, Disable) => vec![
            opt(PLAINTEXT_HTTP_ALPNS, RAW_BUFFER, true, false),
            opt(&[], RAW_BUFFER, false, false),
        ],
        (Tcp, Strict) => vec![opt(&[], TLS, false, true)],
        (Tcp, Permissive) => vec![
            opt(ALL_ISTIO_MTLS_ALPNS, TLS, false, true),
            opt(&[], TLS, false, false),
            opt(&[], RAW_BUFFER, false, false),
        ],
        (Tcp, Disable) => vec![opt(&[], RAW_BUFFER, false, false)],
    }
}

fn wildcard_bind(proxy: &Proxy) -> &'static str {
    if proxy.ips.first().is_some_and(|ip| ip.is_ipv6()) {
        "::"
    } else {
        "0.0.0.0"
    }
}

/// The chain configurations of a proxy's inbound ports, sorted by target port: from its
/// Sidecar's `ingress` listeners if any, else from the services selecting it (none in `NONE`
/// interception mode).
pub fn chain_configs(ctx: &Ctx<'_>) -> Vec<ChainConfig> {
    let proxy = ctx.proxy;
    let none = proxy.interception_mode == InterceptionMode::None;
    let mut by_port: BTreeMap<u32, ChainConfig> = BTreeMap::new();
    match ctx.view.sidecar.filter(|s| !s.spec.ingress.is_empty()) {
        None if none => {}
        None => {
            for (svc, eps) in ctx.snap.registry.services_of_proxy(&proxy.ips) {
                for e in eps {
                    let Some(sp) = svc.port(e.service_port) else {
                        continue;
                    };
                    by_port
                        .entry(u32::from(e.port))
                        .or_insert_with(|| ChainConfig {
                            cluster: inbound_cluster(u32::from(e.port)),
                            port: u32::from(sp.port),
                            target_port: u32::from(e.port),
                            protocol: sp.protocol,
                            bind: wildcard_bind(proxy).into(),
                            bind_to_port: none,
                            passthrough: false,
                            hostname: svc.hostname.clone(),
                            sidecar: None,
                        });
                }
            }
        }
        Some(sc) => {
            for ing in &sc.spec.ingress {
                let Some(p) = &ing.port else { continue };
                if ing.tls.is_some() {
                    warn_once(
                        &format!("sidecar-ingress-tls {}/{}", sc.namespace, sc.name),
                        &format!(
                            "Sidecar {}/{}: ingress tls is not supported; port {} is served with mesh mTLS settings",
                            sc.namespace, sc.name, p.number
                        ),
                    );
                }
                let bind_to_port = match ing.capture_mode {
                    CaptureMode::Default => none,
                    CaptureMode::None => true,
                    CaptureMode::Iptables => false,
                };
                let bind = if ing.bind.is_empty() {
                    proxy
                        .ips
                        .iter()
                        .find(|ip| filters::is_global_unicast(ip))
                        .map(|ip| ip.to_string())
                        .unwrap_or_else(|| wildcard_bind(proxy).into())
                } else {
                    ing.bind.clone()
                };
                by_port.entry(p.number).or_insert_with(|| ChainConfig {
                    cluster: inbound_cluster(p.number),
                    port: p.number,
                    target_port: p.number,
                    protocol: Protocol::parse(&p.protocol),
                    bind,
                    bind_to_port,
                    passthrough: false,
                    hostname: format!("{}.{}", sc.name, sc.namespace),
                    sidecar: Some((sc.namespace.clone(), sc.name.clone())),
                });
            }
        }
    }
    by_port.into_values().collect()
}

fn inbound_route_config(cc: &ChainConfig) -> RouteConfiguration {
    let operation = format!("{}:{}/*", cc.hostname, cc.port);
    RouteConfiguration {
        name: cc.cluster.clone(),
        virtual_hosts: vec![VirtualHost {
            name: format!("inbound|http|{}", cc.port),
            domains: vec!["*".into()],
            routes: vec![default_inbound_route(
                cc.cluster.clone(),
                operation,
                cc.protocol == Protocol::Grpc,
            )],
            ..Default::default()
        }],
        validate_clusters: bool_value(false),
        ..Default::default()
    }
}

/// Builds the filter chains of one port for `options`.
pub fn chains_for(
    ctx: &Ctx<'_>,
    cc: &ChainConfig,
    mode: MtlsMode,
    options: &[MatchOption],
    policies: &Policies<'_>,
) -> Vec<FilterChain> {
    options
        .iter()
        .map(|o| {
            let filters = if o.http {
                let stat = if cc.passthrough {
                    cc.cluster.clone()
                } else {
                    format!("inbound_{}", cc.name(true))
                };
                let mut pre: Vec<_> = ctx.jwt.iter().cloned().collect();
                pre.extend(authz::http_filters(policies));
                let hcm = connection_manager(
                    Direction::Inbound,
                    stat,
                    Routes::Inline(Box::new(inbound_route_config(cc))),
                    cc.protocol,
                    pre,
                    &ctx.telemetry.server,
                );
                vec![hcm_filter(hcm)]
            } else {
                // mTLS peers exchange their metadata first (ALPN istio-peer-exchange)
                let mut f: Vec<_> = o
                    .tls
                    .then(filters::tcp_metadata_exchange)
                    .into_iter()
                    .collect();
                f.extend(authz::network_filters(policies));
                f.push(filters::tcp_proxy_filter(filters::tcp_proxy(
                    &cc.cluster,
                    &cc.cluster,
                )));
                f
            };
            FilterChain {
                name: cc.name(o.http),
                filter_chain_match: Some(FilterChainMatch {
                    destination_port: (cc.target_port > 0)
                        .then(|| u32_value(cc.target_port))
                        .flatten(),
                    transport_protocol: o.transport.into(),
                    application_protocols: strings(o.alpn),
                    ..Default::default()
                }),
                filters,
                metadata: cc
                    .sidecar
                    .as_ref()
                    .map(|(ns, name)| config_metadata("sidecar", ns, name)),
                transport_socket: if o.tls {
                    inbound_tls(mode, !o.http).map(filters::downstream_tls_socket)
                } else {
                    None
                },
                ..Default::default()
            }
        })
        .collect()
}

fn passthrough_chains(
    ctx: &Ctx<'_>,
    peer: &PeerPolicy,
    configs: &[ChainConfig],
    policies: &Policies<'_>,
) -> Vec<FilterChain> {
    let blackhole = FilterChain {
        name: BLACKHOLE_CHAIN.into(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: u32_value(INBOUND_PORT),
            ..Default::default()
        }),
        filters: vec![filters::tcp_proxy_filter(filters::tcp_proxy(
            BLACK_HOLE_CLUSTER,
            BLACK_HOLE_CLUSTER,
        ))],
        ..Default::default()
    };
    let mut out = vec![blackhole];
    let mut ports = vec![(0u32, peer.mode)];
    ports.extend(
        peer.per_port
            .iter()
            .filter(|(p, _)| !configs.iter().any(|c| c.target_port == **p))
            .map(|(p, m)| (*p, *m)),
    );
    for (port, mode) in ports {
        let cc = ChainConfig {
            cluster: INBOUND_PASSTHROUGH_CLUSTER.into(),
            port: 0,
            target_port: port,
            protocol: Protocol::Unsupported,
            bind: String::new(),
            bind_to_port: false,
            passthrough: true,
            hostname: String::new(),
            sidecar: None,
        };
        out.extend(chains_for(
            ctx,
            &cc,
            mode,
            &match_options(mode, ListenerProtocol::Auto),
            policies,
        ));
    }
    out
}

fn listener(
    name: String,
    bind: &str,
    port: u32,
    bind_to_port: bool,
    tproxy: bool,
    chains: Vec<FilterChain>,
) -> Listener {
    Listener {
        name,
        address: Some(address(bind, port)),
        traffic_direction: envoy_types::pb::envoy::config::core::v3::TrafficDirection::Inbound
            as i32,
        continue_on_listener_filters_timeout: true,
        transparent: if !bind_to_port && tproxy {
            bool_value(true)
        } else {
            None
        },
        listener_filters: inbound_listener_filters(&chains, bind_to_port),
        listener_filters_timeout: Some(no_timeout()),
        filter_chains: chains,
        ..Default::default()
    }
}

/// The inbound listeners of a sidecar: `virtualInbound` first (unless interception is
/// `NONE`), then one listener per port bound explicitly.
pub fn inbound_listeners(ctx: &Ctx<'_>) -> Vec<Listener> {
    let peer = peer_policy(ctx.snap, ctx.proxy);
    let policies = authz::policies_for(ctx.snap, ctx.proxy);
    let configs = chain_configs(ctx);
    let tproxy = ctx.proxy.interception_mode == InterceptionMode::Tproxy;
    let mut virtual_chains = Vec::new();
    let mut explicit = Vec::new();
    for cc in &configs {
        let Some(lp) = listener_protocol(cc.protocol) else {
            continue;
        };
        let mode = peer.for_port(cc.target_port);
        let chains = chains_for(ctx, cc, mode, &match_options(mode, lp), &policies);
        if cc.bind_to_port {
            explicit.push(listener(
                cc.name(false),
                &cc.bind,
                cc.target_port,
                true,
                tproxy,
                chains,
            ));
        } else {
            virtual_chains.extend(chains);
        }
    }
    let mut out = Vec::new();
    if ctx.proxy.interception_mode != InterceptionMode::None {
        let mut chains = passthrough_chains(ctx, &peer, &configs, &policies);
        chains.extend(virtual_chains);
        out.push(listener(
            VIRTUAL_INBOUND.into(),
            wildcard_bind(ctx.proxy),
            INBOUND_PORT,
            false,
            tproxy,
            chains,
        ));
    }
    out.extend(explicit);
    out
}
