//! LDS: the listeners of a sidecar as istiod builds them (`BuildListeners`), in istiod's
//! order: outbound listeners per service port ([`outbound`], [`tcp`]), `virtualOutbound` on
//! 15001, then `virtualInbound` on 15006 and explicitly bound inbound listeners
//! ([`inbound`], with [`mtls`], [`authz`] and [`jwt`] policies). Proxies in `NONE`
//! interception mode get neither virtual listener: only what their Sidecar resource binds.
//! Proxyless gRPC clients get API listeners instead ([`grpc`]).
//!
//! Only filters mast-proxy implements are emitted: listener filters `original_dst`,
//! `tls_inspector`, `http_inspector`; network filters `tcp_proxy`, `rbac`,
//! `http_connection_manager`; HTTP filters `jwt_authn`, `rbac`, `fault`, `cors`, `router`.

pub mod authz;
pub mod filters;
pub mod grpc;
pub mod hcm;
pub mod inbound;
pub mod inspect;
pub mod jwt;
pub mod mtls;
pub mod outbound;
pub mod tcp;
pub mod telemetry;
pub mod tracing;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_inbound;

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::util::pack_any;
use mast_xds::node::InterceptionMode;
use mast_xds::{NodeType, Proxy};

use super::NamedResource;
use crate::model::Snapshot;
use crate::registry::Protocol;
use crate::xds::rds::egress::{self, SidecarView};
use crate::xds::rds::util::{BLACK_HOLE_CLUSTER, bool_value, u32_value, warn_once};

/// Name of the outbound capture listener.
pub const VIRTUAL_OUTBOUND: &str = "virtualOutbound";
/// The outbound capture port.
pub const OUTBOUND_PORT: u32 = 15001;

/// How a listener treats a port's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// HTTP: an HTTP connection manager.
    Http,
    /// Opaque TCP.
    Tcp,
    /// Unknown: sniffed, HTTP or TCP.
    Auto,
}

/// The listener protocol of a port protocol; `None` for UDP (not proxied).
pub fn listener_protocol(p: Protocol) -> Option<ListenerProtocol> {
    match p {
        Protocol::Udp => None,
        Protocol::Unsupported => Some(ListenerProtocol::Auto),
        p if p.is_http() => Some(ListenerProtocol::Http),
        _ => Some(ListenerProtocol::Tcp),
    }
}

/// What listener generation reads, computed once per request.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    /// The proxy.
    pub proxy: &'a Proxy,
    /// Its Sidecar scope.
    pub view: SidecarView<'a>,
    /// Its JWT filter (inbound HTTP chains), if RequestAuthentications apply.
    pub jwt: Option<HttpFilter>,
    /// Its metrics and access logs, by side.
    pub telemetry: telemetry::TelemetryPolicy,
}

impl<'a> Ctx<'a> {
    /// Computes the context of `proxy`.
    pub fn new(snap: &'a Snapshot, proxy: &'a Proxy) -> Ctx<'a> {
        let jwt = jwt::jwt_filter(&jwt::policies_for(snap, proxy));
        Ctx {
            snap,
            proxy,
            view: egress::view(snap, proxy),
            jwt,
            telemetry: telemetry::policy_for(snap, proxy),
        }
    }
}

/// The listeners of a sidecar, in istiod's order.
pub fn sidecar_listeners(snap: &Snapshot, proxy: &Proxy) -> Vec<Listener> {
    let (mut out, _) = shared_listeners(snap, proxy);
    out.extend(own_listeners(snap, proxy));
    out
}

/// The listeners every sidecar with the same outbound facts gets (see
/// [`crate::xds::cache`]): its outbound listeners and `virtualOutbound`, with the route names
/// they use.
pub fn shared_listeners(snap: &Snapshot, proxy: &Proxy) -> (Vec<Listener>, Vec<String>) {
    let ctx = Ctx::new(snap, proxy);
    if proxy.interception_mode == InterceptionMode::Tproxy {
        warn_once(
            "tproxy original_src",
            "TPROXY interception: the original_src listener filter is not emitted (not supported by mast-proxy)",
        );
    }
    let (mut out, routes) = outbound::outbound_listeners(&ctx);
    if proxy.interception_mode != InterceptionMode::None {
        out.push(virtual_outbound(&ctx));
    }
    filters::add_tcp_stats(&mut out, &ctx.telemetry);
    filters::add_tcp_access_logs(&mut out, &ctx.telemetry);
    (out, routes)
}

/// The listeners of the sidecar alone, after the shared ones: `virtualInbound` and the
/// inbound listeners bound explicitly.
pub fn own_listeners(snap: &Snapshot, proxy: &Proxy) -> Vec<Listener> {
    // inbound listeners read the Sidecar resource but nothing it imports
    let sidecar = egress::select_sidecar(snap, proxy);
    let ctx = Ctx {
        snap,
        proxy,
        view: SidecarView {
            sidecar,
            egress: Vec::new(),
            allow_any: crate::xds::scope::allow_any(snap, proxy),
            egress_proxy: sidecar
                .and_then(|s| s.spec.outbound_traffic_policy.as_ref())
                .and_then(|p| p.egress_proxy.as_ref()),
        },
        jwt: jwt::jwt_filter(&jwt::policies_for(snap, proxy)),
        telemetry: telemetry::policy_for(snap, proxy),
    };
    let mut out = inbound::inbound_listeners(&ctx);
    filters::add_tcp_stats(&mut out, &ctx.telemetry);
    filters::add_tcp_access_logs(&mut out, &ctx.telemetry);
    out
}

/// The route configuration names a sidecar's listeners refer to.
pub fn route_names(snap: &Snapshot, proxy: &Proxy) -> Vec<String> {
    if crate::xds::rds::is_grpc(proxy) {
        return grpc::route_names(snap, proxy);
    }
    outbound::outbound_listeners(&Ctx::new(snap, proxy)).1
}

/// The outbound capture listener: hands connections to the listener of their original
/// destination, and passes through (or drops) the rest.
pub fn virtual_outbound(ctx: &Ctx<'_>) -> Listener {
    let blackhole = FilterChain {
        name: "virtualOutbound-blackhole".into(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: u32_value(OUTBOUND_PORT),
            ..Default::default()
        }),
        filters: vec![filters::tcp_proxy_filter(filters::tcp_proxy(
            BLACK_HOLE_CLUSTER,
            BLACK_HOLE_CLUSTER,
        ))],
        ..Default::default()
    };
    let catch_all = FilterChain {
        name: "virtualOutbound-catchall-tcp".into(),
        filters: outbound::fallthrough_filters(ctx),
        ..Default::default()
    };
    let wildcard = if ctx.proxy.ips.first().is_some_and(|ip| ip.is_ipv6()) {
        "::"
    } else {
        "0.0.0.0"
    };
    Listener {
        name: VIRTUAL_OUTBOUND.into(),
        address: Some(filters::address(wildcard, OUTBOUND_PORT)),
        transparent: (ctx.proxy.interception_mode == InterceptionMode::Tproxy)
            .then_some(true)
            .and_then(bool_value),
        use_original_dst: bool_value(true),
        filter_chains: vec![blackhole, catch_all],
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}

/// Generates the listeners of `proxy`. Sidecars get every listener (LDS is a wildcard type);
/// proxyless gRPC clients get the listeners they name; gateways get none (not generated yet).
pub fn generate(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<NamedResource> {
    if proxy.node_type == NodeType::Router {
        warn_once(
            "router lds",
            "gateway (router) listeners are not generated yet; gateways get no listeners",
        );
        return Vec::new();
    }
    let listeners = if crate::xds::rds::is_grpc(proxy) {
        grpc::listeners(snap, proxy, names)
    } else {
        sidecar_listeners(snap, proxy)
    };
    listeners
        .into_iter()
        .map(|l| NamedResource::new(l.name.clone(), pack_any(l)))
        .collect()
}
