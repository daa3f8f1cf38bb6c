//! Outbound listeners of a sidecar (`buildSidecarOutboundListeners`): per service port, HTTP
//! on `0.0.0.0_PORT` (RDS by port, plaintext HTTP sniffed, other traffic passed through) and
//! TCP on `VIP_PORT`; ports shared by HTTP and TCP services sniff; Sidecar `egress`
//! listeners with a port or bound explicitly come first and lock their ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{Metadata, TrafficDirection};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener,
};
use mast_xds::node::InterceptionMode;

use super::filters::{
    PLAINTEXT_HTTP_ALPNS, RAW_BUFFER, address, cidr, http_inspector, strings, tcp_proxy,
    tcp_proxy_filter, tls_inspector,
};
use super::hcm::{Direction, Routes, connection_manager, hcm_filter};
use super::tcp::{configs_for_host, tcp_chain_opts};
use super::{Ctx, ListenerProtocol, listener_protocol};
use crate::registry::{Protocol, Resolution, Service};
use crate::xds::rds::delegate::ResolvedVs;
use crate::xds::rds::route::destination_cluster;
use crate::xds::rds::util::{
    BLACK_HOLE_CLUSTER, PASSTHROUGH_CLUSTER, bool_value, no_timeout, warn_once,
};

/// Name of the default chain of outbound listeners.
pub const PASSTHROUGH_CHAIN: &str = "PassthroughFilterChain";
const WILDCARD: &str = "0.0.0.0";
const LOCALHOST: &str = "127.0.0.1";

/// One filter chain of an outbound listener, before it becomes a proto.
#[derive(Debug, Clone, Default)]
pub struct ChainOpts {
    /// SNI names to match.
    pub sni_hosts: Vec<String>,
    /// Destination CIDRs to match.
    pub cidrs: Vec<String>,
    /// ALPNs to match.
    pub alpn: Vec<String>,
    /// Transport protocol to match.
    pub transport: String,
    /// For HTTP chains: the RDS route configuration name and the port protocol.
    pub http: Option<(String, Protocol)>,
    /// For TCP chains: the network filters.
    pub network: Vec<Filter>,
    /// Config metadata (the VirtualService it comes from).
    pub metadata: Option<Metadata>,
}

impl ChainOpts {
    fn is_match_all(&self) -> bool {
        (self.sni_hosts.is_empty() || self.sni_hosts.iter().any(|s| s == "*"))
            && self.alpn.is_empty()
            && self.transport.is_empty()
            && self.cidrs.is_empty()
    }

    fn conflicts_with(&self, o: &ChainOpts) -> bool {
        let set = |v: &[String]| {
            v.iter()
                .filter(|s| *s != "*" && *s != WILDCARD)
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        self.transport == o.transport
            && self.alpn == o.alpn
            && set(&self.sni_hosts) == set(&o.sni_hosts)
            && set(&self.cidrs) == set(&o.cidrs)
    }

    fn filter_chain_match(&self) -> Option<FilterChainMatch> {
        if self.is_match_all() {
            return None;
        }
        let mut m = FilterChainMatch {
            application_protocols: self.alpn.clone(),
            transport_protocol: self.transport.clone(),
            ..Default::default()
        };
        if !self.sni_hosts.iter().any(|s| s == "*") {
            m.server_names = self.sni_hosts.clone();
            m.server_names.sort();
        }
        let mut cidrs = self.cidrs.clone();
        cidrs.sort();
        m.prefix_ranges = cidrs
            .iter()
            .filter_map(|c| cidr(c))
            .filter(|c| c.address_prefix != WILDCARD)
            .collect();
        Some(m)
    }
}

/// One outbound listener being assembled.
#[derive(Debug, Clone)]
struct Entry {
    port: u32,
    binds: Vec<String>,
    bind_to_port: bool,
    locked: bool,
    chains: Vec<ChainOpts>,
    protocol: Protocol,
}

#[derive(Debug, Clone)]
struct Opts<'a> {
    binds: Vec<String>,
    bind_to_port: bool,
    cidrs: Vec<String>,
    port: u32,
    protocol: Protocol,
    service: &'a Arc<Service>,
}

fn is_tcp(p: Protocol) -> bool {
    matches!(
        p,
        Protocol::Tcp
            | Protocol::Https
            | Protocol::Tls
            | Protocol::Mongo
            | Protocol::Redis
            | Protocol::Mysql
    )
}

fn http_opts(o: &Opts<'_>, lp: ListenerProtocol) -> ChainOpts {
    let primary = o.binds.first().map(String::as_str).unwrap_or("");
    let rds = if lp == ListenerProtocol::Auto && primary != WILDCARD {
        format!("{}:{}", o.service.hostname, o.port)
    } else {
        o.port.to_string()
    };
    ChainOpts {
        http: Some((rds, o.protocol)),
        ..Default::default()
    }
}

fn with_sniffing(mut c: ChainOpts) -> ChainOpts {
    c.alpn = strings(PLAINTEXT_HTTP_ALPNS);
    c.transport = RAW_BUFFER.into();
    c
}

fn merge_tcp(entry: &mut Entry, incoming: Vec<ChainOpts>, what: &str) {
    for c in incoming {
        if entry.chains.iter().any(|e| e.conflicts_with(&c)) {
            warn_once(
                &format!("outbound-conflict {what}"),
                &format!(
                    "outbound listener conflict on port {}: {what} dropped",
                    entry.port
                ),
            );
        } else {
            entry.chains.push(c);
        }
    }
}

/// Adds the listener (or chains) of one service port (`buildSidecarOutboundListener`).
fn add_listener(
    ctx: &Ctx<'_>,
    mut o: Opts<'_>,
    map: &mut BTreeMap<(String, u32), Entry>,
    vses: &[ResolvedVs],
) {
    let Some(lp) = listener_protocol(o.protocol) else {
        return;
    };
    if o.binds.is_empty() {
        if lp == ListenerProtocol::Http {
            o.binds = vec![WILDCARD.into()];
        } else {
            let addr = o
                .service
                .addresses
                .first()
                .cloned()
                .unwrap_or_else(|| WILDCARD.into());
            if addr.contains('/') {
                o.binds = vec![WILDCARD.into()];
                o.cidrs = vec![addr];
            } else {
                o.binds = vec![addr];
            }
        }
    }
    let key = (o.binds[0].clone(), o.port);
    let existing = map.get(&key).map(|e| (e.locked, e.protocol));
    if existing.is_some_and(|(locked, _)| locked) {
        return;
    }
    let svc_vses = configs_for_host(vses, &o.service.hostname);
    let tcp = |o: &Opts<'_>| {
        tcp_chain_opts(
            ctx,
            o.service,
            o.port,
            o.protocol,
            &o.binds[0],
            &o.cidrs,
            &svc_vses,
        )
    };
    let what = format!("{}:{}", o.service.hostname, o.port);
    let new_entry = |chains, protocol| Entry {
        port: o.port,
        binds: o.binds.clone(),
        bind_to_port: o.bind_to_port,
        locked: false,
        chains,
        protocol,
    };
    match (lp, existing) {
        (ListenerProtocol::Http, Some((_, p))) if !is_tcp(p) => {}
        (ListenerProtocol::Http, existing) => {
            let mut chain = http_opts(&o, lp);
            let mut protocol = o.protocol;
            if o.binds[0] == WILDCARD {
                chain = with_sniffing(chain);
                protocol = Protocol::Unsupported;
            }
            match existing {
                None => {
                    map.insert(key, new_entry(vec![chain], protocol));
                }
                Some((_, p)) if well_known_conflict(o.protocol, p) => warn_once(
                    &format!("well-known {what}"),
                    &format!("{what}: port conflicts with a MySQL/Mongo listener; skipped"),
                ),
                Some(_) => {
                    let e = map.get_mut(&key).expect("present");
                    merge_tcp(e, vec![chain], &what);
                    e.protocol = Protocol::Unsupported;
                }
            }
        }
        (ListenerProtocol::Tcp, None) => {
            map.insert(key, new_entry(tcp(&o), o.protocol));
        }
        (ListenerProtocol::Tcp, Some((_, p))) => {
            if well_known_conflict(o.protocol, p) {
                warn_once(
                    &format!("well-known {what}"),
                    &format!("{what}: port conflicts with a MySQL/Mongo listener; skipped"),
                );
                return;
            }
            let e = map.get_mut(&key).expect("present");
            merge_tcp(e, tcp(&o), &what);
            if p.is_http() {
                e.protocol = Protocol::Unsupported;
            }
        }
        (ListenerProtocol::Auto, Some((_, p))) if p.is_http() => {
            let mut chains = tcp(&o);
            chains.push(with_sniffing(http_opts(&o, lp)));
            map.insert(key, new_entry(chains, o.protocol));
        }
        (ListenerProtocol::Auto, Some((_, p))) => {
            let e = map.get_mut(&key).expect("present");
            let mut chains = tcp(&o);
            if is_tcp(p) {
                chains.push(with_sniffing(http_opts(&o, lp)));
                e.protocol = Protocol::Unsupported;
            }
            merge_tcp(e, chains, &what);
        }
        (ListenerProtocol::Auto, None) => {
            let mut chains = tcp(&o);
            chains.push(with_sniffing(http_opts(&o, lp)));
            map.insert(key, new_entry(chains, o.protocol));
        }
    }
}

fn well_known_conflict(incoming: Protocol, existing: Protocol) -> bool {
    let special = |p| matches!(p, Protocol::Mongo | Protocol::Mysql);
    (special(incoming) || special(existing)) && incoming != existing
}

/// The network filters of unmatched traffic: pass through (or the egress proxy) under
/// `ALLOW_ANY`, dropped under `REGISTRY_ONLY`.
pub fn fallthrough_filters(ctx: &Ctx<'_>) -> Vec<Filter> {
    let cluster = if ctx.view.allow_any {
        ctx.view
            .egress_proxy
            .map(|d| destination_cluster(d, None, 0))
            .unwrap_or_else(|| PASSTHROUGH_CLUSTER.into())
    } else {
        BLACK_HOLE_CLUSTER.into()
    };
    vec![tcp_proxy_filter(tcp_proxy(&cluster, &cluster))]
}

fn build_listener(ctx: &Ctx<'_>, e: &Entry) -> Listener {
    let name = format!("{}_{}", e.binds[0], e.port);
    let needs_tls = e.chains.iter().any(|c| !c.sni_hosts.is_empty());
    let needs_http = e.chains.iter().any(|c| !c.alpn.is_empty());
    let mut l = Listener {
        name: name.clone(),
        address: Some(address(&e.binds[0], e.port)),
        traffic_direction: TrafficDirection::Outbound as i32,
        continue_on_listener_filters_timeout: true,
        bind_to_port: if e.bind_to_port {
            None
        } else {
            bool_value(false)
        },
        listener_filters_timeout: Some(no_timeout()),
        ..Default::default()
    };
    if needs_tls {
        l.listener_filters.push(tls_inspector());
    }
    if needs_http {
        l.listener_filters.push(http_inspector());
    }
    let mut default = None;
    for c in &e.chains {
        let filters = match &c.http {
            Some((rds, protocol)) => {
                let hcm = connection_manager(
                    Direction::Outbound,
                    format!("outbound_{name}"),
                    Routes::Rds(rds.clone()),
                    *protocol,
                    vec![],
                    &ctx.telemetry.client,
                );
                vec![hcm_filter(hcm)]
            }
            None => c.network.clone(),
        };
        let chain = FilterChain {
            metadata: c.metadata.clone(),
            filters,
            ..Default::default()
        };
        if c.is_match_all() {
            default = Some(chain);
        } else {
            l.filter_chains.push(FilterChain {
                filter_chain_match: c.filter_chain_match(),
                ..chain
            });
        }
    }
    match default {
        Some(d) if l.filter_chains.is_empty() => l.filter_chains.push(d),
        Some(d) => l.default_filter_chain = Some(d),
        None => {
            l.default_filter_chain = Some(FilterChain {
                name: PASSTHROUGH_CHAIN.into(),
                filter_chain_match: Some(FilterChainMatch::default()),
                filters: fallthrough_filters(ctx),
                ..Default::default()
            })
        }
    }
    l
}

/// Builds the outbound listeners of a sidecar, sorted by name, and the route names they use.
pub fn outbound_listeners(ctx: &Ctx<'_>) -> (Vec<Listener>, Vec<String>) {
    let none = ctx.proxy.interception_mode == InterceptionMode::None;
    let mut map: BTreeMap<(String, u32), Entry> = BTreeMap::new();
    for egress in &ctx.view.egress {
        let l = egress.listener;
        let port_proto = l.and_then(|l| l.port.as_ref());
        if port_proto.is_some_and(|p| p.protocol.eq_ignore_ascii_case("HTTP_PROXY")) {
            warn_once(
                "egress HTTP_PROXY",
                "Sidecar egress listeners with protocol HTTP_PROXY are not supported; skipped",
            );
            continue;
        }
        let bind = l.map(|l| l.bind.as_str()).unwrap_or("");
        let bind_to_port = none
            || l.is_some_and(|l| {
                l.capture_mode == mast_config::istio::networking::sidecar::CaptureMode::None
                    || l.bind.starts_with("unix://")
            });
        let binds: Vec<String> = if !bind.is_empty() {
            vec![bind.to_string()]
        } else if bind_to_port {
            vec![LOCALHOST.into()]
        } else {
            vec![]
        };
        if let Some(p) = port_proto {
            for s in &egress.services {
                let o = Opts {
                    binds: binds.clone(),
                    bind_to_port,
                    cidrs: vec![],
                    port: p.number,
                    protocol: Protocol::parse(&p.protocol),
                    service: s,
                };
                add_listener(ctx, o, &mut map, &egress.virtual_services);
            }
            continue;
        }
        for e in map.values_mut() {
            e.locked = true;
        }
        for s in &egress.services {
            for sp in &s.ports {
                let o = Opts {
                    binds: binds.clone(),
                    bind_to_port,
                    cidrs: vec![],
                    port: u32::from(sp.port),
                    protocol: sp.protocol,
                    service: s,
                };
                let headless = binds.is_empty()
                    && s.resolution == Resolution::Passthrough
                    && s.addresses.is_empty()
                    && (is_tcp(sp.protocol) || sp.protocol == Protocol::Unsupported);
                if !headless {
                    add_listener(ctx, o, &mut map, &egress.virtual_services);
                    continue;
                }
                let eps = ctx.snap.registry.endpoints_of(s, sp.port);
                if eps.is_empty() && !s.origin.starts_with("Service ") {
                    add_listener(ctx, o, &mut map, &egress.virtual_services);
                    continue;
                }
                let own = ctx
                    .proxy
                    .ips
                    .first()
                    .map(|ip| ip.to_string())
                    .unwrap_or_default();
                for ep in eps.iter().filter(|ep| {
                    ep.address.parse::<std::net::IpAddr>().is_ok() && ep.address != own
                }) {
                    let mut o = o.clone();
                    o.binds = vec![ep.address.clone()];
                    add_listener(ctx, o, &mut map, &egress.virtual_services);
                }
            }
        }
    }
    let mut routes: Vec<String> = map
        .values()
        .flat_map(|e| {
            e.chains
                .iter()
                .filter_map(|c| c.http.as_ref().map(|(r, _)| r.clone()))
        })
        .collect();
    routes.sort();
    routes.dedup();
    (
        map.values().map(|e| build_listener(ctx, e)).collect(),
        routes,
    )
}
