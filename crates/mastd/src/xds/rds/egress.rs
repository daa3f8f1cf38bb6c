//! What a sidecar may reach: the Sidecar resource that applies to it and, per egress
//! listener, the services and VirtualServices it imports (istiod's `SidecarScope`). Without a
//! Sidecar, one catch-all listener imports `*/*`: every service and VirtualService exported
//! to the proxy's namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mast_config::istio::common::{host_matches, host_subset_of};
use mast_config::istio::networking::sidecar::{EgressListener, OutboundMode, Sidecar};
use mast_config::istio::networking::virtual_service::Destination;
use mast_xds::Proxy;

use super::delegate::{ResolvedVs, bound_to_mesh, exported_to, resolved_virtual_services};
use crate::model::{Config, Snapshot};
use crate::registry::Service;

/// The Sidecar resource applying to a proxy and what it imports.
#[derive(Debug, Clone)]
pub struct SidecarView<'a> {
    /// The Sidecar resource that applies, if any.
    pub sidecar: Option<&'a Config<Sidecar>>,
    /// Egress listeners in order; the catch-all one (no port) last.
    pub egress: Vec<EgressView<'a>>,
    /// Whether unknown destinations pass through (`ALLOW_ANY`) rather than being dropped.
    pub allow_any: bool,
    /// `outboundTrafficPolicy.egressProxy` of the Sidecar.
    pub egress_proxy: Option<&'a Destination>,
}

/// One egress listener and what it imports.
#[derive(Debug, Clone)]
pub struct EgressView<'a> {
    /// The listener as written (`None` for the implicit catch-all).
    pub listener: Option<&'a EgressListener>,
    /// Imported services; trimmed to the listener's port when it has one.
    pub services: Vec<Arc<Service>>,
    /// Imported VirtualServices bound to `mesh`.
    pub virtual_services: Vec<ResolvedVs>,
}

impl EgressView<'_> {
    /// The listener's port number, if it has one.
    pub fn port(&self) -> Option<u32> {
        self.listener
            .and_then(|l| l.port.as_ref())
            .map(|p| p.number)
    }
}

impl<'a> SidecarView<'a> {
    /// The egress listener serving routes of `port` (`GetEgressListenerForRDS`).
    pub fn egress_for_port(&self, port: u32) -> Option<&EgressView<'a>> {
        self.egress
            .iter()
            .find(|e| e.port().is_none() || e.port() == Some(port))
    }

    /// Whether the Sidecar declares ingress listeners.
    pub fn has_ingress(&self) -> bool {
        self.sidecar.is_some_and(|s| !s.spec.ingress.is_empty())
    }

    /// Every imported service once (by hostname and namespace), in listener order.
    pub fn services(&self) -> Vec<Arc<Service>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in &self.egress {
            for s in &e.services {
                if seen.insert((s.hostname.clone(), s.namespace.clone())) {
                    out.push(s.clone());
                }
            }
        }
        out
    }
}

/// The Sidecar resource applying to `proxy` (see [`crate::xds::scope::sidecar_scope`]: one in
/// its namespace selecting it, else its namespace's default, else the mesh default).
pub fn select_sidecar<'a>(snap: &'a Snapshot, proxy: &Proxy) -> Option<&'a Config<Sidecar>> {
    crate::xds::scope::sidecar_scope(snap, proxy)
}

/// Imported hosts of one namespace key (`ns/host` entries of one `ns`).
#[derive(Debug, Default)]
struct Imports {
    hosts: Vec<String>,
    excluded: Vec<String>,
}

impl Imports {
    fn matches_service(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|h| h == host || host_subset_of(host, h))
    }
    fn matches_vs(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|h| h == host || host_matches(host, h))
    }
    fn excludes(&self, host: &str) -> bool {
        self.excluded.iter().any(|h| host_subset_of(host, h))
    }
}

fn parse_imports(hosts: &[String], config_ns: &str) -> BTreeMap<String, Imports> {
    let mut out: BTreeMap<String, Imports> = BTreeMap::new();
    for h in hosts {
        let Some((ns, name)) = h.split_once('/') else {
            continue;
        };
        let (excluded, ns) = match ns.strip_prefix('~') {
            Some("") => (true, "*"),
            Some(rest) => (true, rest),
            None => (false, ns),
        };
        let ns = if ns == "." { config_ns } else { ns };
        let entry = out.entry(ns.to_string()).or_default();
        if excluded {
            entry.excluded.push(name.to_string());
        } else {
            entry.hosts.push(name.to_string());
        }
    }
    out
}

/// Builds the view of `proxy`, importing from `vses` (the output of
/// [`resolved_virtual_services`]).
pub fn sidecar_view<'a>(snap: &'a Snapshot, proxy: &Proxy, vses: &[ResolvedVs]) -> SidecarView<'a> {
    let sidecar = select_sidecar(snap, proxy);
    let ns = proxy.namespace.as_str();
    let star = vec!["*/*".to_string()];
    let listeners: Vec<Option<&EgressListener>> = match sidecar {
        Some(s) if !s.spec.egress.is_empty() => s.spec.egress.iter().map(Some).collect(),
        _ => vec![None],
    };
    let egress = listeners
        .into_iter()
        .map(|listener| {
            let hosts = listener.map(|l| &l.hosts).unwrap_or(&star);
            let imports = parse_imports(hosts, ns);
            let port = listener
                .and_then(|l| l.port.as_ref())
                .filter(|p| p.number != 0 && !p.protocol.eq_ignore_ascii_case("HTTP_PROXY"))
                .map(|p| p.number);
            let virtual_services = select_virtual_services(vses, ns, &imports);
            let mut services = select_services(snap, ns, &imports, port);
            if sidecar.is_some() {
                add_vs_destinations(snap, ns, &virtual_services, port, &mut services);
            }
            EgressView {
                listener,
                services,
                virtual_services,
            }
        })
        .collect();
    let policy = sidecar.and_then(|s| s.spec.outbound_traffic_policy.as_ref());
    SidecarView {
        sidecar,
        egress,
        allow_any: policy
            .map(|p| p.mode != OutboundMode::RegistryOnly)
            .unwrap_or(snap.mesh.allow_any),
        egress_proxy: policy.and_then(|p| p.egress_proxy.as_ref()),
    }
}

/// Convenience: resolves the snapshot's VirtualServices and builds the view.
pub fn view<'a>(snap: &'a Snapshot, proxy: &Proxy) -> SidecarView<'a> {
    let vses = resolved_virtual_services(snap);
    sidecar_view(snap, proxy, &vses)
}

fn trim_to_port(s: &Arc<Service>, port: Option<u32>) -> Option<Arc<Service>> {
    let Some(port) = port else {
        return Some(s.clone());
    };
    let p = s.ports.iter().find(|p| u32::from(p.port) == port)?;
    if s.ports.len() == 1 {
        return Some(s.clone());
    }
    let mut t = (**s).clone();
    t.ports = vec![p.clone()];
    Some(Arc::new(t))
}

fn select_services(
    snap: &Snapshot,
    ns: &str,
    imports: &BTreeMap<String, Imports>,
    port: Option<u32>,
) -> Vec<Arc<Service>> {
    let wildcard = imports.get("*");
    let mut picked: Vec<Arc<Service>> = Vec::new();
    for s in &snap.registry.services {
        if !s.visibility.visible_from(&s.namespace, ns) {
            continue;
        }
        let own = imports.get(&s.namespace);
        if own.is_some_and(|i| i.excludes(&s.hostname))
            || wildcard.is_some_and(|i| i.excludes(&s.hostname))
        {
            continue;
        }
        let matched = own.is_some_and(|i| i.matches_service(&s.hostname))
            || wildcard.is_some_and(|i| i.matches_service(&s.hostname));
        if let Some(t) = matched.then(|| trim_to_port(s, port)).flatten() {
            picked.push(t);
        }
    }
    // one namespace per hostname: the proxy's own namespace wins
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for s in &picked {
        let e = chosen
            .entry(s.hostname.clone())
            .or_insert_with(|| s.namespace.clone());
        if s.namespace == ns {
            *e = s.namespace.clone();
        }
    }
    picked.retain(|s| chosen.get(&s.hostname) == Some(&s.namespace));
    picked
}

fn select_virtual_services(
    vses: &[ResolvedVs],
    ns: &str,
    imports: &BTreeMap<String, Imports>,
) -> Vec<ResolvedVs> {
    let wildcard = imports.get("*");
    vses.iter()
        .filter(|vs| bound_to_mesh(&vs.spec) && exported_to(&vs.spec.export_to, &vs.namespace, ns))
        .filter(|vs| {
            let own = imports.get(&vs.namespace);
            vs.spec.hosts.iter().any(|h| {
                let excluded =
                    own.is_some_and(|i| i.excludes(h)) || wildcard.is_some_and(|i| i.excludes(h));
                !excluded
                    && (own.is_some_and(|i| i.matches_vs(h))
                        || wildcard.is_some_and(|i| i.matches_vs(h)))
            })
        })
        .cloned()
        .collect()
}

/// Adds the services VirtualServices route to, as istiod infers them for explicit Sidecars.
fn add_vs_destinations(
    snap: &Snapshot,
    ns: &str,
    vses: &[ResolvedVs],
    port: Option<u32>,
    services: &mut Vec<Arc<Service>>,
) {
    let mut dests: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for vs in vses {
        let http = vs
            .spec
            .http
            .iter()
            .flat_map(|h| h.route.iter().filter_map(|d| d.destination.as_ref()));
        let tcp = vs
            .spec
            .tcp
            .iter()
            .flat_map(|t| t.route.iter().filter_map(|d| d.destination.as_ref()));
        let tls = vs
            .spec
            .tls
            .iter()
            .flat_map(|t| t.route.iter().filter_map(|d| d.destination.as_ref()));
        for d in http.chain(tcp).chain(tls) {
            dests
                .entry(d.host.clone())
                .or_default()
                .insert(d.port.as_ref().map(|p| p.number).unwrap_or(0));
        }
    }
    for (host, ports) in dests {
        if services.iter().any(|s| s.hostname == host) {
            continue;
        }
        let candidates: Vec<&Arc<Service>> = snap
            .registry
            .services
            .iter()
            .filter(|s| s.hostname == host && s.visibility.visible_from(&s.namespace, ns))
            .collect();
        let Some(s) = candidates
            .iter()
            .find(|s| s.namespace == ns)
            .or_else(|| candidates.first())
        else {
            continue;
        };
        let trimmed = match port {
            Some(_) => trim_to_port(s, port),
            None if ports.contains(&0) => Some((*s).clone()),
            None => {
                let mut t = (***s).clone();
                t.ports.retain(|p| ports.contains(&u32::from(p.port)));
                (!t.ports.is_empty()).then(|| Arc::new(t))
            }
        };
        services.extend(trimmed);
    }
}
