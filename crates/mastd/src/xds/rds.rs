//! RDS: the route configurations a proxy's HTTP listeners name, as istiod builds them.
//!
//! - Sidecars ask for configurations named by port (`"9080"`): one virtual host per service
//!   of the port the proxy may reach (routes from the VirtualServices that apply, else the
//!   default route), then the `allow_any`/`block_all` catch-all. A name `HOST:PORT` is the
//!   route of a sniffed listener bound to one service.
//! - Proxyless gRPC clients ask for `outbound|PORT||HOST`: the virtual host of that service.
//!
//! Submodules: [`egress`] (what a Sidecar resource imports), [`delegate`] (short names and
//! delegate VirtualServices), [`vhost`], [`route`], [`matches`], [`policy`], [`actions`], [`util`].

pub mod actions;
pub mod delegate;
pub mod egress;
pub mod matches;
pub mod policy;
pub mod route;
pub mod util;
pub mod vhost;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_vhost;
#[cfg(test)]
pub(crate) mod testutil;

use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use envoy_types::util::pack_any;
use mast_xds::{NodeType, Proxy};

use self::egress::SidecarView;
use self::util::{bool_value, domain_name, parse_cluster_name, u32_value};
use super::NamedResource;
use crate::model::Snapshot;

/// Envoy's limit on direct response bodies, raised to what validation allows (1 MiB).
pub const MAX_DIRECT_RESPONSE_BODY: u32 = 1024 * 1024;

/// Whether a proxy is a proxyless gRPC client (node metadata `GENERATOR=grpc`).
pub fn is_grpc(proxy: &Proxy) -> bool {
    proxy.generator == "grpc"
}

/// Generates the route configurations `names` for `proxy`; every route name the proxy's
/// listeners use when `names` is empty. Gateways get empty configurations (not generated yet).
pub fn generate(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<NamedResource> {
    let view = egress::view(snap, proxy);
    let names: Vec<String> = if names.is_empty() {
        super::lds::route_names(snap, proxy)
    } else {
        names.to_vec()
    };
    names
        .iter()
        .map(|name| {
            NamedResource::new(
                name.clone(),
                pack_any(route_configuration(snap, proxy, &view, name)),
            )
        })
        .collect()
}

/// The route configuration `name` for any kind of proxy (`view` is its Sidecar scope).
pub fn route_configuration(
    snap: &Snapshot,
    proxy: &Proxy,
    view: &SidecarView<'_>,
    name: &str,
) -> RouteConfiguration {
    if proxy.node_type == NodeType::Router {
        util::warn_once(
            "router rds",
            "gateway (router) routes are not generated yet; sent empty",
        );
        RouteConfiguration {
            name: name.to_string(),
            ..Default::default()
        }
    } else if is_grpc(proxy) {
        grpc_route_config(snap, proxy, view, name)
    } else {
        route_config(snap, proxy, view, name)
    }
}

/// The route configuration `name` for a sidecar.
pub fn route_config(
    snap: &Snapshot,
    proxy: &Proxy,
    view: &SidecarView<'_>,
    name: &str,
) -> RouteConfiguration {
    let empty = || RouteConfiguration {
        name: name.to_string(),
        validate_clusters: bool_value(false),
        ..Default::default()
    };
    let (port, sniffed) = match name.rsplit_once(':') {
        Some((_, p)) => (p.parse::<u32>(), true),
        None => (name.parse::<u32>(), false),
    };
    let Ok(port) = port else { return empty() };
    let Some(egress) = view.egress_for_port(port) else {
        return empty();
    };
    let mut hosts = vhost::virtual_hosts(snap, proxy, egress, port, false);
    if sniffed {
        hosts = sniffed_hosts(hosts, name);
    } else {
        hosts.push(vhost::catch_all(view));
    }
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts: hosts,
        validate_clusters: bool_value(false),
        max_direct_response_body_size_bytes: u32_value(MAX_DIRECT_RESPONSE_BODY),
        ..Default::default()
    }
}

/// Keeps the virtual host of the one service a sniffed listener serves, matching any host.
fn sniffed_hosts(hosts: Vec<VirtualHost>, name: &str) -> Vec<VirtualHost> {
    let host = name.rsplit_once(':').map(|(h, _)| h).unwrap_or(name);
    let mut out: Vec<VirtualHost> = hosts
        .into_iter()
        .filter(|v| v.domains.iter().any(|d| d == name || d == host))
        .collect();
    if out.len() == 1 {
        out[0].domains = vec!["*".into()];
    }
    out
}

/// The route configuration `outbound|PORT||HOST` for a proxyless gRPC client: the virtual
/// host of that service only.
pub fn grpc_route_config(
    snap: &Snapshot,
    proxy: &Proxy,
    view: &SidecarView<'_>,
    name: &str,
) -> RouteConfiguration {
    let mut rc = RouteConfiguration {
        name: name.to_string(),
        ..Default::default()
    };
    let Some((_, host, port)) = parse_cluster_name(name) else {
        util::warn_once(
            &format!("grpc-rds {name}"),
            &format!("gRPC route name {name} is not outbound|PORT||HOST; sent empty"),
        );
        return rc;
    };
    let Some(egress) = view.egress_for_port(port) else {
        return rc;
    };
    let want = host.to_ascii_lowercase();
    let want_port = domain_name(&want, port);
    rc.virtual_hosts = vhost::virtual_hosts(snap, proxy, egress, port, true)
        .into_iter()
        .filter(|v| {
            v.domains.iter().any(|d| {
                let d = d.to_ascii_lowercase();
                d == want
                    || d == want_port
                    || (d.starts_with('*')
                        && mast_config::istio::common::host_matches(
                            d.split(':').next().unwrap_or(&d),
                            &want,
                        ))
            })
        })
        .collect();
    rc
}
