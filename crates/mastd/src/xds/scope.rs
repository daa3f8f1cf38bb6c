//! What a proxy sees: the Sidecar resource that applies to it, the services its egress
//! listeners import, and its outbound traffic policy — Istio's `SidecarScope`.
//!
//! A Sidecar applies to a proxy when its `workloadSelector` matches the proxy's labels (in the
//! proxy's namespace), else the namespace's selector-less Sidecar does, else the root
//! namespace's. Egress hosts are `namespace/host`: `.` is the proxy's namespace, `*` any
//! namespace, a `~` prefix excludes, and hosts may be wildcards. Without a Sidecar (or without
//! egress listeners) every service exported to the proxy's namespace is visible. Services that
//! VirtualServices selected by the egress hosts route to are imported too.

use std::collections::BTreeMap;
use std::sync::Arc;

use mast_config::istio::common::{host_matches, host_subset_of};
use mast_config::istio::networking::sidecar::{EgressListener, OutboundMode, Sidecar};
use mast_config::istio::networking::virtual_service::{Destination, VirtualService};
use mast_xds::{NodeType, Proxy};

use crate::model::{Config, Snapshot};
use crate::registry::{Service, kube::DOMAIN_SUFFIX};

/// Whether every `selector` label is among `labels` with the same value.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A configuration host resolved as Istio resolves short names: `name` in namespace `ns`
/// becomes `name.ns.svc.cluster.local`; names with a dot, `*` and IPs stay as written.
pub fn resolve_short_name(host: &str, ns: &str) -> String {
    if host.is_empty()
        || host == "*"
        || host.contains('.')
        || host.parse::<std::net::IpAddr>().is_ok()
    {
        host.to_string()
    } else {
        format!("{host}.{ns}.svc.{DOMAIN_SUFFIX}")
    }
}

/// The Sidecar resource that applies to `proxy`, if any. Gateways ignore Sidecars.
pub fn sidecar_scope<'a>(snap: &'a Snapshot, proxy: &Proxy) -> Option<&'a Config<Sidecar>> {
    if proxy.node_type != NodeType::Sidecar {
        return None;
    }
    fn selector_of(s: &Config<Sidecar>) -> Option<&BTreeMap<String, String>> {
        s.spec
            .workload_selector
            .as_ref()
            .map(|w| &w.labels)
            .filter(|l| !l.is_empty())
    }
    let in_ns = |ns: &str, selected: bool| {
        snap.sidecars.iter().find(|s| {
            s.namespace == ns
                && match selector_of(s) {
                    Some(sel) => selected && selects(sel, &proxy.labels),
                    None => !selected,
                }
        })
    };
    in_ns(&proxy.namespace, true)
        .or_else(|| in_ns(&proxy.namespace, false))
        .or_else(|| in_ns(&snap.mesh.root_namespace, false))
}

/// Egress hosts of one listener, by namespace (`*` for any), split into imports and exclusions.
#[derive(Debug, Default)]
struct Imports {
    by_ns: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl Imports {
    fn of(listener: &EgressListener, proxy_namespace: &str) -> Imports {
        let mut out = Imports::default();
        for h in &listener.hosts {
            let Some((ns, host)) = h.split_once('/') else {
                tracing::warn!(host = %h, "sidecar egress host is not namespace/host; ignored");
                continue;
            };
            let (excluded, ns) = match ns.strip_prefix('~') {
                Some("") => (true, "*"),
                Some(rest) => (true, rest),
                None => (false, ns),
            };
            let ns = if ns == "." { proxy_namespace } else { ns };
            let entry = out.by_ns.entry(ns.to_string()).or_default();
            if excluded {
                entry.1.push(host.to_string())
            } else {
                entry.0.push(host.to_string())
            }
        }
        out
    }

    fn excluded(&self, ns: &str, host: &str) -> bool {
        [ns, "*"]
            .iter()
            .filter_map(|n| self.by_ns.get(*n))
            .any(|(_, ex)| ex.iter().any(|e| host_subset_of(host, e)))
    }

    /// Whether the service host of namespace `ns` is imported (Istio's `SubsetOf` matching).
    fn imports(&self, ns: &str, host: &str) -> bool {
        if self.excluded(ns, host) {
            return false;
        }
        [ns, "*"]
            .iter()
            .filter_map(|n| self.by_ns.get(*n))
            .any(|(im, _)| im.iter().any(|i| host_subset_of(host, i)))
    }

    /// Whether a VirtualService host of namespace `ns` is selected (`Matches` semantics).
    fn selects_vs(&self, ns: &str, host: &str) -> bool {
        [ns, "*"]
            .iter()
            .filter_map(|n| self.by_ns.get(*n))
            .any(|(im, _)| im.iter().any(|i| host_matches(host, i)))
    }
}

/// Whether any egress listener of `sidecar` imports `service` (ports aside), for a proxy in
/// `proxy_namespace`. A Sidecar without egress listeners imports everything.
pub fn egress_visible(sidecar: &Config<Sidecar>, proxy_namespace: &str, service: &Service) -> bool {
    sidecar.spec.egress.is_empty()
        || sidecar
            .spec
            .egress
            .iter()
            .any(|l| Imports::of(l, proxy_namespace).imports(&service.namespace, &service.hostname))
}

/// `service` restricted to the egress listener's port, when the listener has one.
fn port_matched(service: &Arc<Service>, listener: &EgressListener) -> Option<Arc<Service>> {
    // a port-less listener, or an HTTP_PROXY one, imports every port
    let port = listener
        .port
        .as_ref()
        .filter(|p| p.number != 0 && !p.protocol.eq_ignore_ascii_case("HTTP_PROXY"));
    let Some(number) = port.map(|p| p.number) else {
        return Some(service.clone());
    };
    let port = service.ports.iter().find(|p| u32::from(p.port) == number)?;
    if service.ports.len() == 1 {
        return Some(service.clone());
    }
    let mut s = (**service).clone();
    s.ports = vec![port.clone()];
    Some(Arc::new(s))
}

fn vs_exported_to(vs: &Config<VirtualService>, ns: &str) -> bool {
    let e = &vs.spec.export_to;
    e.is_empty()
        || e.iter()
            .any(|x| x == "*" || x == ns || (x == "." && vs.namespace == ns))
}

fn vs_destinations(vs: &VirtualService) -> Vec<&Destination> {
    let mut out: Vec<&Destination> = Vec::new();
    for h in &vs.http {
        out.extend(h.route.iter().filter_map(|r| r.destination.as_ref()));
        out.extend(h.mirror.as_ref());
        out.extend(h.mirrors.iter().filter_map(|m| m.destination.as_ref()));
    }
    for r in vs
        .tcp
        .iter()
        .flat_map(|t| &t.route)
        .chain(vs.tls.iter().flat_map(|t| &t.route))
    {
        out.extend(r.destination.as_ref());
    }
    out
}

/// The services `proxy` sees, one per hostname, ordered by hostname: those exported to its
/// namespace and imported by its Sidecar's egress listeners (ports restricted to a
/// listener's port), plus the destinations of VirtualServices those listeners select. For a
/// hostname defined in several namespaces, the proxy's own namespace wins.
pub fn visible_services(snap: &Snapshot, proxy: &Proxy) -> Vec<Arc<Service>> {
    let ns = proxy.namespace.as_str();
    let sidecar = sidecar_scope(snap, proxy);
    let listeners: &[EgressListener] = sidecar
        .map(|s| s.spec.egress.as_slice())
        .unwrap_or_default();
    if listeners.is_empty() {
        return snap.registry.visible_services(ns);
    }
    let exported: Vec<&Arc<Service>> = snap
        .registry
        .services
        .iter()
        .filter(|s| s.visibility.visible_from(&s.namespace, ns))
        .collect();
    // hostname -> (namespace, service); merged port lists
    let mut chosen: BTreeMap<String, Arc<Service>> = BTreeMap::new();
    let mut add = |s: Arc<Service>| match chosen.get_mut(&s.hostname) {
        Some(have) if have.namespace == s.namespace => {
            if s.ports.iter().any(|p| have.port(p.port).is_none()) {
                let mut merged = (**have).clone();
                merged.ports.extend(
                    s.ports
                        .iter()
                        .filter(|p| have.port(p.port).is_none())
                        .cloned(),
                );
                *have = Arc::new(merged);
            }
        }
        Some(have) if have.namespace != ns && s.namespace == ns => *have = s,
        Some(_) => {}
        None => {
            chosen.insert(s.hostname.clone(), s);
        }
    };
    for l in listeners {
        let imports = Imports::of(l, ns);
        for s in &exported {
            if imports.imports(&s.namespace, &s.hostname)
                && let Some(s) = port_matched(s, l)
            {
                add(s);
            }
        }
        for vs in snap
            .virtual_services
            .iter()
            .filter(|v| vs_exported_to(v, ns))
        {
            let mesh_bound =
                vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh");
            if !mesh_bound
                || !vs
                    .spec
                    .hosts
                    .iter()
                    .any(|h| imports.selects_vs(&vs.namespace, h))
            {
                continue;
            }
            for d in vs_destinations(&vs.spec) {
                let host = resolve_short_name(&d.host, &vs.namespace);
                let candidates: Vec<&&Arc<Service>> =
                    exported.iter().filter(|s| s.hostname == host).collect();
                let Some(s) = candidates
                    .iter()
                    .find(|s| s.namespace == ns)
                    .or(candidates.first())
                else {
                    continue;
                };
                let port = d.port.as_ref().map(|p| p.number).unwrap_or(0);
                let picked = if port == 0 {
                    Some((**s).clone())
                } else {
                    port_matched(
                        s,
                        &EgressListener {
                            port: l.port.clone(),
                            ..Default::default()
                        },
                    )
                    .filter(|svc| svc.ports.iter().any(|p| u32::from(p.port) == port))
                };
                if let Some(p) = picked {
                    add(p);
                }
            }
        }
    }
    chosen.into_values().collect()
}

/// The visible service named `hostname`, if any.
pub fn service_for_hostname(
    snap: &Snapshot,
    proxy: &Proxy,
    hostname: &str,
) -> Option<Arc<Service>> {
    visible_services(snap, proxy)
        .into_iter()
        .find(|s| s.hostname == hostname)
}

/// Whether traffic to unknown destinations passes through (`ALLOW_ANY`) rather than being
/// dropped (`REGISTRY_ONLY`): the Sidecar's `outboundTrafficPolicy`, else the mesh's.
pub fn allow_any(snap: &Snapshot, proxy: &Proxy) -> bool {
    match sidecar_scope(snap, proxy).and_then(|s| s.spec.outbound_traffic_policy.as_ref()) {
        Some(p) => p.mode != OutboundMode::RegistryOnly,
        None => snap.mesh.allow_any,
    }
}

/// The proxy's locality (`region/zone/subzone`): its workload's in the registry, found by IP.
pub fn proxy_locality(snap: &Snapshot, proxy: &Proxy) -> String {
    let ips: Vec<String> = proxy.ips.iter().map(ToString::to_string).collect();
    snap.registry
        .workloads
        .iter()
        .find(|w| {
            ips.contains(&w.address)
                && (w.namespace == proxy.namespace || proxy.namespace.is_empty())
        })
        .map(|w| w.locality.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
