//! Registry entries from Kubernetes objects read from files: Services, with their endpoints
//! taken from EndpointSlices, else Endpoints, else the Pods their selector picks.
//!
//! As in Istio's Kubernetes controller: the hostname is `name.namespace.svc.cluster.local`,
//! the ClusterIP is the address (`None` makes a headless, passthrough service), an
//! ExternalName service resolves its external name by DNS (Istio before its alias support),
//! and `networking.istio.io/exportTo` sets the visibility. Pods give an endpoint their labels,
//! their service account's SPIFFE identity, readiness, locality and network labels, and whether
//! a sidecar fronts them.

mod pod;
#[cfg(test)]
mod tests;

pub use pod::{
    CLUSTER_ID, NETWORK_LABEL, TLS_MODE_LABEL, augment_labels, locality_from_labels, spiffe,
};
use pod::{Pod, pod};

use std::collections::BTreeMap;
use std::sync::Arc;

use mast_config::Resource;
use serde_json::Value;

use super::{Endpoint, Protocol, Registry, Resolution, Service, ServicePort, Visibility, Workload};
use crate::model::MeshSettings;

/// The DNS suffix of Kubernetes service hostnames.
pub const DOMAIN_SUFFIX: &str = "cluster.local";
/// The annotation restricting a Kubernetes Service's visibility.
const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";

/// Logs a partial-support warning once per distinct message.
pub(super) fn warn_once(what: String) {
    static SEEN: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    if SEEN
        .lock()
        .map(|mut s| s.insert(what.clone()))
        .unwrap_or(false)
    {
        tracing::warn!("{what}");
    }
}

/// Adds the services, endpoints and workloads described by Kubernetes objects.
pub fn add(objects: &[Resource], mesh: &MeshSettings, registry: &mut Registry) {
    let pods: Vec<Pod> = objects
        .iter()
        .filter(|r| is(r, "", "Pod"))
        .filter_map(pod)
        .collect();
    for p in &pods {
        registry.workloads.push(Workload {
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            address: p.ip.clone(),
            labels: p.labels.clone(),
            service_account: p.service_account.clone(),
            locality: p.locality.clone(),
            weight: 1,
            network: p.network.clone(),
            ports: p.ports.clone(),
            has_proxy: p.has_proxy,
            healthy: p.ready,
        });
    }
    for svc in objects.iter().filter(|r| is(r, "", "Service")) {
        let (service, target_ports) = service(svc);
        for sp in &service.ports {
            let target = target_ports
                .get(&sp.port)
                .cloned()
                .unwrap_or(TargetPort::Number(sp.port));
            let eps = endpoints_for(objects, &pods, svc, &service, sp, &target, mesh);
            if !eps.is_empty() {
                registry.endpoints.insert(
                    (service.hostname.clone(), service.namespace.clone(), sp.port),
                    eps,
                );
            }
        }
        registry.services.push(Arc::new(service));
    }
}

fn is(r: &Resource, group: &str, kind: &str) -> bool {
    r.gvk.group == group && r.gvk.kind == kind
}

pub(super) fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Istio's protocol for a Kubernetes Service port: UDP as such; `appProtocol` instead of the
/// name when set (with Kubernetes' `kubernetes.io/h2c`, `ws`, `wss`); a `grpc-web` prefix; the
/// name's prefix before `-`; TCP for well-known ports (SMTP, DNS, MySQL, MongoDB) left unnamed.
pub fn convert_protocol(
    port: u16,
    name: &str,
    protocol: &str,
    app_protocol: Option<&str>,
) -> Protocol {
    if protocol == "UDP" {
        return Protocol::Udp;
    }
    let name = match app_protocol {
        Some("kubernetes.io/h2c") => return Protocol::Http2,
        Some("kubernetes.io/ws") => return Protocol::Http,
        Some("kubernetes.io/wss") => return Protocol::Https,
        Some(app) => app,
        None => name,
    };
    if name
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("grpc-web"))
    {
        return Protocol::GrpcWeb;
    }
    let p = Protocol::parse(name.split('-').next().unwrap_or_default());
    if p == Protocol::Unsupported && matches!(port, 25 | 53 | 3306 | 27017) {
        return Protocol::Tcp;
    }
    p
}

/// A Service port's `targetPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TargetPort {
    Number(u16),
    Name(String),
}

fn visibility(annotations: &BTreeMap<String, String>, namespace: &str) -> Visibility {
    let Some(list) = annotations.get(EXPORT_TO_ANNOTATION) else {
        return Visibility::Public;
    };
    let items: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.iter().any(|s| s == "*") {
        Visibility::Public
    } else if items.iter().all(|s| s == "." || s == namespace) {
        Visibility::Private
    } else {
        let ns = items
            .into_iter()
            .map(|s| if s == "." { namespace.to_string() } else { s })
            .collect();
        Visibility::Namespaces(ns)
    }
}

fn service(r: &Resource) -> (Service, BTreeMap<u16, TargetPort>) {
    let spec = r.spec();
    let (name, namespace) = (&r.meta.name, &r.meta.namespace);
    for (field, value) in [
        ("internalTrafficPolicy", "Local"),
        ("trafficDistribution", "PreferClose"),
    ] {
        if str_at(spec, &format!("/{field}")) == value {
            warn_once(format!(
                "Service {namespace}/{name}: {field} {value} is not supported; endpoints of every node and zone are used"
            ));
        }
    }
    let mut targets = BTreeMap::new();
    let mut ports = Vec::new();
    for p in spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(number) = p
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
        else {
            continue;
        };
        let pname = str_at(p, "/name");
        if str_at(p, "/protocol") == "SCTP" {
            continue;
        }
        let protocol = convert_protocol(
            number,
            pname,
            str_at(p, "/protocol"),
            p.get("appProtocol").and_then(Value::as_str),
        );
        let target = match p.get("targetPort") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .map(TargetPort::Number),
            Some(Value::String(s)) => match s.parse::<u16>() {
                Ok(n) => Some(TargetPort::Number(n)),
                Err(_) => Some(TargetPort::Name(s.clone())),
            },
            _ => None,
        };
        targets.insert(number, target.unwrap_or(TargetPort::Number(number)));
        ports.push(ServicePort {
            name: pname.to_string(),
            port: number,
            protocol,
        });
    }
    let cluster_ip = str_at(spec, "/clusterIP");
    let external_name = str_at(spec, "/externalName");
    let mut resolution = Resolution::ClientSideLb;
    let mut addresses = Vec::new();
    if str_at(spec, "/type") == "ExternalName" && !external_name.is_empty() {
        resolution = Resolution::Dns;
    }
    if cluster_ip == "None" {
        resolution = Resolution::Passthrough;
    } else if !cluster_ip.is_empty() {
        let ips: Vec<String> = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        addresses = if ips.len() > 1 {
            ips
        } else {
            vec![cluster_ip.to_string()]
        };
    }
    let svc = Service {
        hostname: format!("{name}.{namespace}.svc.{DOMAIN_SUFFIX}"),
        namespace: namespace.clone(),
        ports,
        addresses,
        resolution,
        mesh_external: resolution == Resolution::Dns,
        visibility: visibility(&r.meta.annotations, namespace),
        selector: string_map(spec.get("selector")),
        origin: format!("Service {namespace}/{name}"),
    };
    (svc, targets)
}

fn endpoint_from_pod(
    pod: Option<&Pod>,
    address: &str,
    port: u16,
    sp: &ServicePort,
    healthy: bool,
    mesh: &MeshSettings,
) -> Endpoint {
    let mut ep = Endpoint {
        address: address.to_string(),
        port,
        service_port: sp.port,
        labels: BTreeMap::new(),
        identity: String::new(),
        locality: String::new(),
        weight: 1,
        network: String::new(),
        has_proxy: false,
        healthy,
        workload: String::new(),
    };
    if let Some(p) = pod {
        ep.labels = p.endpoint_labels.clone();
        ep.identity = spiffe(&mesh.trust_domain, &p.namespace, &p.service_account);
        ep.locality = p.locality.clone();
        ep.network = p.network.clone();
        ep.has_proxy = p.has_proxy;
        ep.workload = p.workload_name.clone();
    }
    ep
}

fn endpoints_for(
    objects: &[Resource],
    pods: &[Pod],
    svc: &Resource,
    service: &Service,
    sp: &ServicePort,
    target: &TargetPort,
    mesh: &MeshSettings,
) -> Vec<Endpoint> {
    let ns = &service.namespace;
    let pod_named = |name: &str| pods.iter().find(|p| &p.namespace == ns && p.name == name);
    let pod_at = |ip: &str| pods.iter().find(|p| &p.namespace == ns && p.ip == ip);
    if service.resolution == Resolution::Dns {
        let host = str_at(svc.spec(), "/externalName");
        return vec![endpoint_from_pod(None, host, sp.port, sp, true, mesh)];
    }
    let slices: Vec<&Resource> = objects
        .iter()
        .filter(|r| is(r, "discovery.k8s.io", "EndpointSlice") && &r.meta.namespace == ns)
        .filter(|r| r.meta.labels.get("kubernetes.io/service-name") == Some(&svc.meta.name))
        .collect();
    if !slices.is_empty() {
        let mut out = Vec::new();
        for s in slices {
            let v = &s.value;
            let Some(port) = v
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| str_at(p, "/name") == sp.name)
                .and_then(|p| p.get("port").and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok())
            else {
                continue;
            };
            for e in v
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Istio drops terminating endpoints; not-ready ones are sent as unhealthy
                if e.pointer("/conditions/terminating")
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    continue;
                }
                let ready = e
                    .pointer("/conditions/ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let pod = match str_at(e, "/targetRef/kind") {
                    "Pod" => pod_named(str_at(e, "/targetRef/name")),
                    _ => None,
                };
                if let Some(addr) = e
                    .get("addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                {
                    out.push(endpoint_from_pod(
                        pod.or_else(|| pod_at(addr)),
                        addr,
                        port,
                        sp,
                        ready,
                        mesh,
                    ));
                }
            }
        }
        return out;
    }
    let endpoints = objects.iter().find(|r| {
        is(r, "", "Endpoints") && &r.meta.namespace == ns && r.meta.name == svc.meta.name
    });
    if let Some(eps) = endpoints {
        let mut out = Vec::new();
        for subset in eps
            .value
            .get("subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ports = subset
                .get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let port = ports
                .iter()
                .find(|p| str_at(p, "/name") == sp.name || ports.len() == 1)
                .and_then(|p| p.get("port").and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok());
            let Some(port) = port else { continue };
            for (key, ready) in [("addresses", true), ("notReadyAddresses", false)] {
                for a in subset
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = str_at(a, "/ip");
                    let pod = match str_at(a, "/targetRef/kind") {
                        "Pod" => pod_named(str_at(a, "/targetRef/name")),
                        _ => None,
                    };
                    out.push(endpoint_from_pod(
                        pod.or_else(|| pod_at(ip)),
                        ip,
                        port,
                        sp,
                        ready,
                        mesh,
                    ));
                }
            }
        }
        return out;
    }
    if service.selector.is_empty() {
        return Vec::new();
    }
    pods.iter()
        .filter(|p| &p.namespace == ns && service.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .filter_map(|p| {
            let port = match target {
                TargetPort::Number(n) => *n,
                TargetPort::Name(name) => match p.ports.get(name) {
                    Some(n) => *n,
                    None => {
                        tracing::debug!(pod = %p.name, port = %name, "pod has no container port of that name");
                        return None;
                    }
                },
            };
            Some(endpoint_from_pod(Some(p), &p.ip, port, sp, p.ready, mesh))
        })
        .collect()
}
