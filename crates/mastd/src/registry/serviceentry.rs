//! Registry entries from ServiceEntry, WorkloadEntry and WorkloadGroup objects.
//!
//! As in Istio's ServiceEntry controller: one service per host (all sharing the entry's
//! ports, addresses, resolution, location and `exportTo`); endpoints from the inline
//! `endpoints`, from the WorkloadEntries and pods the `workloadSelector` picks in the entry's
//! namespace, or — for DNS resolution without either — the host itself. An endpoint's port is
//! the workload's port of the same name, else the service port's `targetPort`, else its number.
//! A WorkloadEntry fronts a proxy when its `security.istio.io/tlsMode` label says `istio`, or
//! when it names a service account and has no such label. Kubernetes Services whose selector
//! picks WorkloadEntries get them as endpoints too.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use mast_config::Resource;
use mast_config::istio::networking::service_entry::{self as se, ServiceEntry};
use mast_config::istio::networking::workload::WorkloadEntry;

use super::kube::{TLS_MODE_LABEL, augment_labels, locality_from_labels, spiffe, warn_once};
use super::{Endpoint, Protocol, Registry, Resolution, Service, ServicePort, Visibility, Workload};
use crate::model::MeshSettings;

const NET: &str = "networking.istio.io";
/// The annotation naming the WorkloadGroup that registered a WorkloadEntry.
const AUTO_REGISTRATION_GROUP: &str = "istio.io/autoRegistrationGroup";
/// Istio's explicit workload name label.
const WORKLOAD_NAME_LABEL: &str = "service.istio.io/workload-name";
const UNIX_PREFIX: &str = "unix://";
/// The annotation turning on WorkloadEntry health checking (health then comes from status).
const HEALTH_CHECKS: &str = "proxy.istio.io/health-checks-enabled";

/// A workload endpoints can be made of: a WorkloadEntry (standalone or inline) or a pod.
#[derive(Debug, Clone)]
struct Instance {
    /// Workload name for telemetry.
    workload_name: String,
    address: String,
    ports: BTreeMap<String, u16>,
    labels: BTreeMap<String, String>,
    identity: String,
    locality: String,
    weight: u32,
    network: String,
    has_proxy: bool,
    healthy: bool,
}

fn decode<T: serde::de::DeserializeOwned>(r: &Resource) -> Option<T> {
    match serde_json::from_value(r.spec().clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(object = %format!("{} {}", r.gvk.kind, r.namespaced_name()), error = %e, "typed decode failed");
            None
        }
    }
}

/// An endpoint source from a WorkloadEntry spec (`labels` already merged) in `namespace`.
fn instance(
    we: &WorkloadEntry,
    name: &str,
    namespace: &str,
    labels: BTreeMap<String, String>,
    mesh: &MeshSettings,
) -> Instance {
    let has_proxy = match labels.get(TLS_MODE_LABEL) {
        Some(mode) => mode == "istio",
        None => !we.service_account.is_empty(),
    };
    let mut locality = we.locality.clone();
    if locality.is_empty() {
        locality = locality_from_labels(&labels);
    }
    Instance {
        workload_name: name.to_string(),
        address: we.address.clone(),
        ports: we
            .ports
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), u16::try_from(*v).ok()?)))
            .collect(),
        identity: if we.service_account.is_empty() {
            String::new()
        } else {
            spiffe(&mesh.trust_domain, namespace, &we.service_account)
        },
        labels: augment_labels(&labels, &locality, "", &we.network),
        locality,
        weight: we.weight,
        network: we.network.clone(),
        has_proxy,
        healthy: true,
    }
}

/// A standalone WorkloadEntry: the registry's workload and the endpoint source.
fn workload_entry(r: &Resource, mesh: &MeshSettings) -> Option<(Workload, Instance)> {
    let we: WorkloadEntry = decode(r)?;
    // metadata labels win over spec labels, as in Istio
    let mut labels = we.labels.clone();
    labels.extend(r.meta.labels.clone());
    let name = r
        .meta
        .annotations
        .get(AUTO_REGISTRATION_GROUP)
        .or_else(|| labels.get(WORKLOAD_NAME_LABEL))
        .cloned()
        .unwrap_or_else(|| r.meta.name.clone());
    let mut inst = instance(&we, &name, &r.meta.namespace, labels.clone(), mesh);
    // with health checks on, only a `Healthy` condition makes the entry healthy
    if r.meta
        .annotations
        .get(HEALTH_CHECKS)
        .is_some_and(|v| v == "true")
    {
        inst.healthy = r
            .value
            .pointer("/status/conditions")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.get("type").and_then(serde_json::Value::as_str) == Some("Healthy")
                        && c.get("status").and_then(serde_json::Value::as_str) == Some("True")
                })
            });
    }
    let w = Workload {
        name: r.meta.name.clone(),
        namespace: r.meta.namespace.clone(),
        address: we.address.clone(),
        labels,
        service_account: we.service_account.clone(),
        locality: inst.locality.clone(),
        weight: we.weight.max(1),
        network: we.network.clone(),
        ports: inst.ports.clone(),
        has_proxy: inst.has_proxy,
        healthy: inst.healthy,
    };
    Some((w, inst))
}

/// Pods (workloads the Kubernetes source added) as endpoint sources.
fn pod_instance(w: &Workload, mesh: &MeshSettings) -> Instance {
    Instance {
        workload_name: w.name.clone(),
        address: w.address.clone(),
        ports: w.ports.clone(),
        labels: augment_labels(&w.labels, &w.locality, "", &w.network),
        identity: spiffe(&mesh.trust_domain, &w.namespace, &w.service_account),
        locality: w.locality.clone(),
        weight: w.weight,
        network: w.network.clone(),
        has_proxy: w.has_proxy,
        healthy: w.healthy,
    }
}

fn visibility(export_to: &[String], namespace: &str) -> Visibility {
    if export_to.is_empty() || export_to.iter().any(|e| e == "*") {
        Visibility::Public
    } else if export_to.iter().all(|e| e == "." || e == namespace) {
        Visibility::Private
    } else {
        Visibility::Namespaces(
            export_to
                .iter()
                .map(|e| {
                    if e == "." {
                        namespace.to_string()
                    } else {
                        e.clone()
                    }
                })
                .collect(),
        )
    }
}

fn resolution(r: se::Resolution) -> Option<Resolution> {
    match r {
        se::Resolution::None => Some(Resolution::Passthrough),
        se::Resolution::Static => Some(Resolution::ClientSideLb),
        se::Resolution::Dns => Some(Resolution::Dns),
        se::Resolution::DnsRoundRobin => Some(Resolution::DnsRoundRobin),
        se::Resolution::DynamicDns => None,
    }
}

/// An endpoint of `inst` for service port `port` of a ServiceEntry.
fn endpoint(inst: &Instance, port: &se::ServicePort) -> Option<Endpoint> {
    let number = u16::try_from(port.number).ok()?;
    let (address, target) = if let Some(path) = inst.address.strip_prefix(UNIX_PREFIX) {
        (path.to_string(), 0)
    } else if let Some(p) = inst.ports.get(&port.name).filter(|p| **p > 0) {
        (inst.address.clone(), *p)
    } else if port.target_port > 0 {
        (inst.address.clone(), u16::try_from(port.target_port).ok()?)
    } else {
        (inst.address.clone(), number)
    };
    Some(Endpoint {
        address,
        port: target,
        service_port: number,
        labels: inst.labels.clone(),
        identity: inst.identity.clone(),
        locality: inst.locality.clone(),
        weight: inst.weight.max(1),
        network: inst.network.clone(),
        has_proxy: inst.has_proxy,
        healthy: inst.healthy,
        workload: inst.workload_name.clone(),
    })
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Adds the services, endpoints and workloads described by ServiceEntry, WorkloadEntry and
/// WorkloadGroup objects. Runs after the Kubernetes source, whose pods a `workloadSelector`
/// may pick.
pub fn add(objects: &[Resource], mesh: &MeshSettings, registry: &mut Registry) {
    let pods: Vec<(String, Instance, BTreeMap<String, String>)> = registry
        .workloads
        .iter()
        .map(|w| (w.namespace.clone(), pod_instance(w, mesh), w.labels.clone()))
        .collect();
    let mut entries: Vec<(String, Instance, BTreeMap<String, String>)> = Vec::new();
    for r in objects
        .iter()
        .filter(|r| r.gvk.group == NET && r.gvk.kind == "WorkloadEntry")
    {
        if let Some((w, inst)) = workload_entry(r, mesh) {
            entries.push((w.namespace.clone(), inst, w.labels.clone()));
            registry.workloads.push(w);
        }
    }
    for r in objects
        .iter()
        .filter(|r| r.gvk.group == NET && r.gvk.kind == "WorkloadGroup")
    {
        // a group is a template for registering VMs; it has no address, so no endpoints
        tracing::debug!(object = %r.namespaced_name(), "WorkloadGroup: endpoints come from the WorkloadEntries it registers");
    }
    for r in objects
        .iter()
        .filter(|r| r.gvk.group == NET && r.gvk.kind == "ServiceEntry")
    {
        let Some(spec) = decode::<ServiceEntry>(r) else {
            continue;
        };
        add_service_entry(r, &spec, &entries, &pods, mesh, registry);
    }
    add_kube_workload_entries(&entries, registry);
}

fn add_service_entry(
    r: &Resource,
    spec: &ServiceEntry,
    entries: &[(String, Instance, BTreeMap<String, String>)],
    pods: &[(String, Instance, BTreeMap<String, String>)],
    mesh: &MeshSettings,
    registry: &mut Registry,
) {
    let ns = &r.meta.namespace;
    let Some(res) = resolution(spec.resolution) else {
        warn_once(format!(
            "ServiceEntry {}: resolution DYNAMIC_DNS is not supported; entry ignored",
            r.namespaced_name()
        ));
        return;
    };
    let ports: Vec<ServicePort> = spec
        .ports
        .iter()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.clone(),
                port: u16::try_from(p.number).ok()?,
                protocol: Protocol::parse(&p.protocol),
            })
        })
        .collect();
    let addresses: Vec<String> = spec
        .addresses
        .iter()
        .map(|a| match a.split_once('/') {
            Some((ip, bits))
                if (bits == "32" && ip.contains('.')) || (bits == "128" && ip.contains(':')) =>
            {
                ip.to_string()
            }
            _ => a.clone(),
        })
        .collect();
    let selector = spec
        .workload_selector
        .as_ref()
        .map(|s| s.labels.clone())
        .unwrap_or_default();
    // the endpoint sources shared by every host of the entry
    let mut sources: Vec<Instance> = Vec::new();
    if let Some(inline) = &spec.endpoints {
        for (i, we) in inline.iter().enumerate() {
            let name = format!("{}-{i}", r.meta.name);
            sources.push(instance(we, &name, ns, we.labels.clone(), mesh));
        }
    } else if spec.workload_selector.is_some() {
        for (wns, inst, labels) in entries.iter().chain(pods) {
            if wns == ns && selects(&selector, labels) {
                sources.push(inst.clone());
            }
        }
    }
    let dns_self = spec.endpoints.as_ref().is_none_or(Vec::is_empty)
        && spec.workload_selector.is_none()
        && matches!(res, Resolution::Dns | Resolution::DnsRoundRobin);
    for host in &spec.hosts {
        let service = Service {
            hostname: host.clone(),
            namespace: ns.clone(),
            ports: ports.clone(),
            addresses: addresses.clone(),
            resolution: res,
            mesh_external: spec.location == se::Location::MeshExternal,
            visibility: visibility(&spec.export_to, ns),
            selector: selector.clone(),
            origin: format!("ServiceEntry {ns}/{}", r.meta.name),
        };
        for port in &spec.ports {
            let eps: Vec<Endpoint> = if dns_self {
                let me = Instance {
                    workload_name: r.meta.name.clone(),
                    address: host.clone(),
                    ports: BTreeMap::new(),
                    labels: BTreeMap::new(),
                    identity: String::new(),
                    locality: String::new(),
                    weight: 0,
                    network: String::new(),
                    has_proxy: false,
                    healthy: true,
                };
                endpoint(&me, port).into_iter().collect()
            } else {
                sources.iter().filter_map(|s| endpoint(s, port)).collect()
            };
            let Ok(number) = u16::try_from(port.number) else {
                continue;
            };
            if !eps.is_empty() {
                registry
                    .endpoints
                    .entry((host.clone(), ns.clone(), number))
                    .or_default()
                    .extend(eps);
            }
        }
        registry.services.push(Arc::new(service));
    }
}

/// Kubernetes Services whose selector picks WorkloadEntries of their namespace: the entries
/// become endpoints, at their port named like the service port, else the service port.
fn add_kube_workload_entries(
    entries: &[(String, Instance, BTreeMap<String, String>)],
    registry: &mut Registry,
) {
    let services: Vec<Arc<Service>> = registry
        .services
        .iter()
        .filter(|s| {
            s.origin.starts_with("Service ")
                && !s.selector.is_empty()
                && s.resolution == Resolution::ClientSideLb
        })
        .cloned()
        .collect();
    for s in services {
        for (ns, inst, labels) in entries {
            if ns != &s.namespace
                || !selects(&s.selector, labels)
                || inst.address.starts_with(UNIX_PREFIX)
            {
                continue;
            }
            for p in &s.ports {
                let sp = se::ServicePort {
                    number: p.port.into(),
                    protocol: String::new(),
                    name: p.name.clone(),
                    target_port: 0,
                };
                if let Some(ep) = endpoint(inst, &sp) {
                    registry
                        .endpoints
                        .entry((s.hostname.clone(), s.namespace.clone(), p.port))
                        .or_default()
                        .push(ep);
                }
            }
        }
    }
}
