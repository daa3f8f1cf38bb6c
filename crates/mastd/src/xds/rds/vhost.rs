//! The virtual hosts of an outbound route configuration (`BuildSidecarOutboundVirtualHosts`):
//! one per VirtualService-routed service and per remaining HTTP service of the port, with
//! the domains istiod generates, and the catch-all `allow_any`/`block_all` host.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, VirtualHost, route, route_action,
};
use mast_config::istio::common::host_matches;
use mast_xds::Proxy;

use super::delegate::ResolvedVs;
use super::egress::{EgressView, SidecarView};
use super::matches::match_all;
use super::route::{RouteCtx, default_outbound_route, destination_cluster, virtual_service_routes};
use super::util::{PASSTHROUGH_CLUSTER, domain_name, ipv6_compliant, no_timeout};
use crate::model::Snapshot;
use crate::registry::{Protocol, Resolution, Service};

/// Name of the pass-through virtual host (and route) for `ALLOW_ANY`.
pub const ALLOW_ANY: &str = "allow_any";
/// Name of the dropping virtual host (and route) for `REGISTRY_ONLY`.
pub const BLOCK_ALL: &str = "block_all";

/// Whether a port's traffic is HTTP or sniffed (`IsHTTPOrSniffed`).
pub fn http_or_sniffed(p: Protocol) -> bool {
    p.is_http() || p == Protocol::Unsupported
}

/// A group of routes and the hosts that share them, on one port.
struct Wrapper {
    port: u32,
    services: Vec<Arc<Service>>,
    vs_hosts: Vec<String>,
    routes: Vec<Route>,
}

/// The services of `egress` on `port`, by hostname, each trimmed to that port.
pub fn services_on_port(egress: &EgressView<'_>, port: u32) -> BTreeMap<String, Arc<Service>> {
    let mut out = BTreeMap::new();
    for s in &egress.services {
        if let Some(p) = s.ports.iter().find(|p| u32::from(p.port) == port) {
            let mut t = (**s).clone();
            t.hostname = t.hostname.to_ascii_lowercase();
            t.ports = vec![p.clone()];
            out.insert(t.hostname.clone(), Arc::new(t));
        }
    }
    out
}

/// Builds the virtual hosts of `port` for a proxy (without the catch-all).
pub fn virtual_hosts(
    snap: &Snapshot,
    proxy: &Proxy,
    egress: &EgressView<'_>,
    port: u32,
    grpc: bool,
) -> Vec<VirtualHost> {
    let services = services_on_port(egress, port);
    let vses: Vec<&ResolvedVs> = if port == 80 {
        egress.virtual_services.iter().collect()
    } else {
        egress
            .virtual_services
            .iter()
            .filter(|vs| {
                vs.spec
                    .hosts
                    .iter()
                    .any(|h| matches_any_service(&h.to_ascii_lowercase(), &services))
            })
            .collect()
    };
    let ctx = RouteCtx {
        snap,
        proxy,
        services: &services,
        listen_port: port,
        grpc,
    };
    let mut wrappers = Vec::new();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let wildcard_owner = wildcard_owners(&vses, &services);
    for (i, vs) in vses.iter().enumerate() {
        let routes = virtual_service_routes(&ctx, vs);
        if routes.is_empty() {
            continue;
        }
        let mut vs_hosts = Vec::new();
        let mut matched: Vec<Arc<Service>> = Vec::new();
        for h in &vs.spec.hosts {
            let h = h.to_ascii_lowercase();
            if h.starts_with('*') {
                let hits: Vec<&Arc<Service>> = services
                    .values()
                    .filter(|s| host_matches(&h, &s.hostname))
                    .collect();
                if hits.is_empty() {
                    vs_hosts.push(h);
                }
                matched.extend(
                    hits.into_iter()
                        .filter(|s| wildcard_owner.get(&s.hostname) == Some(&i))
                        .cloned(),
                );
            } else if let Some(s) = services.get(&h) {
                matched.push(s.clone());
            } else {
                vs_hosts.push(h);
            }
        }
        let by_port: Vec<Arc<Service>> = matched
            .into_iter()
            .filter(|s| s.ports.iter().any(|p| http_or_sniffed(p.protocol)))
            .collect();
        claimed.extend(by_port.iter().map(|s| s.hostname.clone()));
        if by_port.is_empty() && port != 80 {
            continue;
        }
        wrappers.push(Wrapper {
            port,
            services: by_port,
            vs_hosts,
            routes,
        });
    }
    for s in services.values().filter(|s| !claimed.contains(&s.hostname)) {
        for p in s.ports.iter().filter(|p| http_or_sniffed(p.protocol)) {
            wrappers.push(Wrapper {
                port: u32::from(p.port),
                services: vec![s.clone()],
                vs_hosts: vec![],
                routes: vec![default_outbound_route(&ctx, s, p.port)],
            });
        }
    }
    let known: BTreeSet<String> = wrappers
        .iter()
        .flat_map(|w| {
            w.services
                .iter()
                .flat_map(|s| [s.hostname.clone(), domain_name(&s.hostname, w.port)])
        })
        .collect();
    let mut names = BTreeSet::new();
    let mut used_domains = BTreeSet::new();
    let mut out = Vec::new();
    for w in wrappers.iter().filter(|w| !w.routes.is_empty()) {
        let entries = w
            .vs_hosts
            .iter()
            .map(|h| (h.clone(), None))
            .chain(w.services.iter().map(|s| (s.hostname.clone(), Some(s))));
        for (host, svc) in entries {
            let name = domain_name(&host, w.port);
            if !names.insert(name.clone()) {
                continue;
            }
            let (domains, alt) = match svc {
                None => (vec![ipv6_compliant(&host), name.clone()], vec![]),
                Some(s) => service_domains(s, w.port, &proxy.dns_domain),
            };
            let domains: Vec<String> = domains
                .into_iter()
                .filter(|d| !(alt.contains(d) && known.contains(d)))
                .filter(|d| used_domains.insert(d.to_ascii_lowercase()))
                .collect();
            if !domains.is_empty() {
                out.push(VirtualHost {
                    name,
                    domains,
                    routes: w.routes.clone(),
                    include_request_attempt_count: true,
                    ..Default::default()
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// For each service matched by wildcard VirtualService hosts only, the VirtualService with
/// the most specific matching host (the first on ties); services some VirtualService names
/// exactly have no wildcard owner (`MostSpecificWildcardVirtualServiceIndex`).
fn wildcard_owners(
    vses: &[&ResolvedVs],
    services: &BTreeMap<String, Arc<Service>>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in services.keys() {
        if vses
            .iter()
            .any(|vs| vs.spec.hosts.iter().any(|h| h.eq_ignore_ascii_case(s)))
        {
            continue;
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, vs) in vses.iter().enumerate() {
            for h in vs
                .spec
                .hosts
                .iter()
                .filter(|h| h.starts_with('*') && host_matches(h, s))
            {
                if best.is_none_or(|(_, len)| h.len() > len) {
                    best = Some((i, h.len()));
                }
            }
        }
        if let Some((i, _)) = best {
            out.insert(s.clone(), i);
        }
    }
    out
}

fn matches_any_service(vs_host: &str, services: &BTreeMap<String, Arc<Service>>) -> bool {
    services.contains_key(vs_host)
        || services
            .keys()
            .any(|s| (vs_host.starts_with('*') || s.starts_with('*')) && host_matches(vs_host, s))
}

/// The domains of a service on a port (`generateVirtualHostDomains`), and which of them are
/// expansions of short names.
pub fn service_domains(s: &Service, port: u32, proxy_domain: &str) -> (Vec<String>, Vec<String>) {
    let alt = alt_hosts(&s.hostname, port, proxy_domain);
    let mut domains = vec![ipv6_compliant(&s.hostname), domain_name(&s.hostname, port)];
    domains.extend(alt.iter().cloned());
    if s.resolution == Resolution::Passthrough && s.origin.starts_with("Service ") {
        let wild: Vec<String> = domains.iter().map(|d| format!("*.{d}")).collect();
        domains.extend(wild);
    }
    for a in s
        .addresses
        .iter()
        .filter(|a| !a.is_empty() && *a != "0.0.0.0")
    {
        domains.push(ipv6_compliant(a));
        domains.push(domain_name(a, port));
    }
    (domains, alt)
}

/// The other names a client may use for `host` (`GenerateAltVirtualHosts`): the absolute
/// FQDN, and for Kubernetes services the short names valid from the proxy's namespace.
pub fn alt_hosts(host: &str, port: u32, proxy_domain: &str) -> Vec<String> {
    let with_port = |h: &str| [h.to_string(), domain_name(h, port)];
    let mut out = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() {
        out.extend(with_port(&format!("{host}.")));
    }
    if let Some(svc_at) = proxy_domain.find(".svc.") {
        let suffix = &proxy_domain[svc_at..];
        if !host.ends_with(suffix) {
            return out;
        }
        let proxy_ns = &proxy_domain[..svc_at];
        let Some(ih) = host.find(".svc.") else {
            return out;
        };
        let Some(dot) = host.find('.') else {
            return out;
        };
        if dot + 1 > ih {
            return out;
        }
        let name = &host[..dot];
        let name_ns = &host[..ih];
        let name_ns_svc = format!("{name_ns}.svc");
        if &host[dot + 1..ih] == proxy_ns {
            out.extend(with_port(name));
            out.extend(with_port(&name_ns_svc));
            out.extend(with_port(name_ns));
        } else {
            out.extend(with_port(name_ns));
            out.extend(with_port(&name_ns_svc));
        }
        return out;
    }
    let host_parts: Vec<&str> = host.split('.').collect();
    let dom_parts: Vec<&str> = proxy_domain.split('.').collect();
    let shared = host_parts
        .iter()
        .rev()
        .zip(dom_parts.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if shared == 0 || proxy_domain.is_empty() {
        return out;
    }
    let unique = &host_parts[..host_parts.len() - shared];
    if unique.is_empty() {
        return out;
    }
    let uniq = unique.join(".");
    out.extend(with_port(&uniq));
    if unique.len() == 2 {
        out.extend(with_port(&format!(
            "{uniq}.{}",
            host_parts[host_parts.len() - shared]
        )));
    }
    out
}

/// The last virtual host: everything else goes to the pass-through cluster (`ALLOW_ANY`, or
/// the Sidecar's egress proxy) or gets a 502 (`REGISTRY_ONLY`).
#[allow(deprecated)] // max_grpc_timeout, as istiod sets it
pub fn catch_all(view: &SidecarView<'_>) -> VirtualHost {
    let (name, action) = if view.allow_any {
        let cluster = match view.egress_proxy {
            Some(d) => destination_cluster(d, None, 0),
            None => PASSTHROUGH_CLUSTER.to_string(),
        };
        let action = RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster)),
            timeout: Some(no_timeout()),
            max_grpc_timeout: Some(no_timeout()),
            ..Default::default()
        };
        (ALLOW_ANY, route::Action::Route(action))
    } else {
        (
            BLOCK_ALL,
            route::Action::DirectResponse(DirectResponseAction {
                status: 502,
                ..Default::default()
            }),
        )
    };
    VirtualHost {
        name: name.into(),
        domains: vec!["*".into()],
        routes: vec![Route {
            name: name.into(),
            r#match: Some(match_all()),
            action: Some(action),
            ..Default::default()
        }],
        include_request_attempt_count: true,
        ..Default::default()
    }
}
