//! The service registry: services and their endpoints, whatever their source. ServiceEntry
//! and WorkloadEntry/WorkloadGroup ([`serviceentry`]) and Kubernetes Services, Endpoints,
//! EndpointSlices and Pods read from files ([`kube`]) fill the same [`Registry`]; a live
//! Kubernetes source plugs in beside them later without changing the push path.

pub mod kube;
pub mod serviceentry;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Istio's protocols, from port names, `appProtocol` or ServiceEntry `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2 (`http2`).
    Http2,
    /// gRPC.
    Grpc,
    /// gRPC-Web.
    GrpcWeb,
    /// HTTPS (TLS carrying HTTP, passed through).
    Https,
    /// TLS (passed through, routed by SNI).
    Tls,
    /// Opaque TCP.
    Tcp,
    /// UDP (not proxied).
    Udp,
    /// MongoDB (TCP).
    Mongo,
    /// MySQL (TCP).
    Mysql,
    /// Redis (TCP).
    Redis,
    /// No protocol known: sniffed.
    Unsupported,
}

impl Protocol {
    /// Parses Istio's protocol names, case-insensitively (`protocol.Parse`).
    pub fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "mongo" => Protocol::Mongo,
            "mysql" => Protocol::Mysql,
            "redis" => Protocol::Redis,
            _ => Protocol::Unsupported,
        }
    }

    /// From a Kubernetes port: `appProtocol` first, then the name's prefix (`http-web`).
    pub fn from_port(name: &str, app_protocol: Option<&str>) -> Protocol {
        if let Some(p) = app_protocol {
            let p = Protocol::parse(p.strip_prefix("kubernetes.io/").unwrap_or(p));
            if p != Protocol::Unsupported {
                return p;
            }
        }
        let prefix = name.split('-').next().unwrap_or_default();
        Protocol::parse(prefix)
    }

    /// Whether the port carries HTTP (routed by RDS).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb
        )
    }

    /// Whether the upstream connection should be HTTP/2.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    }

    /// Istio's upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::Https => "HTTPS",
            Protocol::Tls => "TLS",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "Mongo",
            Protocol::Mysql => "MySQL",
            Protocol::Redis => "Redis",
            Protocol::Unsupported => "UnsupportedProtocol",
        }
    }
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name (`http`, `grpc-web`).
    pub name: String,
    /// Service port number.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// How a service's endpoints are found (Istio's `Resolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Endpoints known to the registry, load balanced by the proxy (EDS): ServiceEntry
    /// `STATIC`, Kubernetes Services.
    ClientSideLb,
    /// ServiceEntry `DNS`: the proxy resolves the endpoints' hostnames (STRICT_DNS).
    Dns,
    /// ServiceEntry `DNS_ROUND_ROBIN`: one resolved address at a time (LOGICAL_DNS).
    DnsRoundRobin,
    /// ServiceEntry `NONE`: traffic goes to the original destination.
    Passthrough,
}

/// Which namespaces see a service (`exportTo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// `*` (the default).
    Public,
    /// `.`: only its own namespace.
    Private,
    /// Listed namespaces (its own is `.`-expanded already).
    Namespaces(Vec<String>),
}

impl Visibility {
    /// Whether a proxy in `namespace` sees a service of `service_namespace`.
    pub fn visible_from(&self, service_namespace: &str, namespace: &str) -> bool {
        match self {
            Visibility::Public => true,
            Visibility::Private => service_namespace == namespace,
            Visibility::Namespaces(list) => list.iter().any(|n| n == namespace || n == "*"),
        }
    }
}

/// A service: a hostname with ports, reachable at its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// FQDN (`reviews.default.svc.cluster.local`) or external host (`api.example.com`),
    /// possibly a wildcard (`*.example.com`).
    pub hostname: String,
    /// Namespace of the object that defined it.
    pub namespace: String,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Virtual IPs (ClusterIP, ServiceEntry `addresses`); empty when none.
    pub addresses: Vec<String>,
    /// How endpoints are found.
    pub resolution: Resolution,
    /// ServiceEntry `location: MESH_EXTERNAL`.
    pub mesh_external: bool,
    /// `exportTo`.
    pub visibility: Visibility,
    /// Workloads selected as endpoints (Kubernetes `selector`, ServiceEntry
    /// `workloadSelector`); empty when endpoints are listed.
    pub selector: BTreeMap<String, String>,
    /// `Kind namespace/name` of the defining object, for debug output.
    pub origin: String,
}

impl Service {
    /// The port numbered `port`.
    pub fn port(&self, port: u16) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.port == port)
    }
}

/// One endpoint of one service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address, or a hostname for DNS-resolved services.
    pub address: String,
    /// Port the workload listens on (target port).
    pub port: u16,
    /// Service port number this endpoint serves.
    pub service_port: u16,
    /// Workload labels (used for subsets).
    pub labels: BTreeMap<String, String>,
    /// SPIFFE identity (`spiffe://td/ns/N/sa/S`), empty when unknown.
    pub identity: String,
    /// `region/zone/subzone`.
    pub locality: String,
    /// Load-balancing weight (default 1).
    pub weight: u32,
    /// Network name.
    pub network: String,
    /// Whether a Mast/Istio proxy fronts the workload (mTLS possible): Istio's
    /// `security.istio.io/tlsMode: istio` label.
    pub has_proxy: bool,
    /// Whether the endpoint is ready (Kubernetes readiness).
    pub healthy: bool,
    /// Name of the workload (pod or WorkloadEntry), for debug output.
    pub workload: String,
}

/// A workload instance independent of services (pods, WorkloadEntries): used to find the
/// services a proxy serves and the endpoints of selector-based services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Name (pod or WorkloadEntry name).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// IP address or hostname.
    pub address: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Service account.
    pub service_account: String,
    /// `region/zone/subzone`.
    pub locality: String,
    /// Weight.
    pub weight: u32,
    /// Network.
    pub network: String,
    /// Named ports (WorkloadEntry `ports`, container ports).
    pub ports: BTreeMap<String, u16>,
    /// Whether it runs a proxy.
    pub has_proxy: bool,
    /// Whether it is ready.
    pub healthy: bool,
}

/// Every service and endpoint known, with the indexes generation needs.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    /// Services, ordered by hostname then namespace.
    pub services: Vec<Arc<Service>>,
    /// Endpoints by (hostname, namespace of the service, service port).
    pub endpoints: BTreeMap<(String, String, u16), Vec<Endpoint>>,
    /// Workloads (pods, WorkloadEntries).
    pub workloads: Vec<Workload>,
}

impl Registry {
    /// Builds the registry from validated objects: ServiceEntries with WorkloadEntries and
    /// WorkloadGroups, and Kubernetes Services with Endpoints, EndpointSlices and Pods.
    pub fn build(objects: &[mast_config::Resource], mesh: &crate::model::MeshSettings) -> Registry {
        let mut r = Registry::default();
        kube::add(objects, mesh, &mut r);
        serviceentry::add(objects, mesh, &mut r);
        r.services
            .sort_by(|a, b| (&a.hostname, &a.namespace).cmp(&(&b.hostname, &b.namespace)));
        r
    }

    /// The services a proxy in `namespace` sees, one per hostname: a service in the proxy's
    /// own namespace wins over others of the same name, as in Istio.
    pub fn visible_services(&self, namespace: &str) -> Vec<Arc<Service>> {
        let mut by_host: BTreeMap<&str, Arc<Service>> = BTreeMap::new();
        for s in &self.services {
            if !s.visibility.visible_from(&s.namespace, namespace) {
                continue;
            }
            let replace = match by_host.get(s.hostname.as_str()) {
                None => true,
                Some(existing) => existing.namespace != namespace && s.namespace == namespace,
            };
            if replace {
                by_host.insert(&s.hostname, s.clone());
            }
        }
        by_host.into_values().collect()
    }

    /// The endpoints of a service port.
    pub fn endpoints_of(&self, service: &Service, port: u16) -> &[Endpoint] {
        self.endpoints
            .get(&(service.hostname.clone(), service.namespace.clone(), port))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The services whose endpoints include a workload at one of `ips` (the services a
    /// proxy serves), with the matching endpoints.
    pub fn services_of_proxy(&self, ips: &[IpAddr]) -> Vec<(Arc<Service>, Vec<Endpoint>)> {
        let ips: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        // the services with an endpoint at one of the addresses, found in one pass
        let hit: std::collections::BTreeSet<(&str, &str)> = self
            .endpoints
            .iter()
            .filter(|(_, eps)| eps.iter().any(|e| ips.contains(&e.address)))
            .map(|((host, ns, _), _)| (host.as_str(), ns.as_str()))
            .collect();
        let mut out = Vec::new();
        for s in self
            .services
            .iter()
            .filter(|s| hit.contains(&(s.hostname.as_str(), s.namespace.as_str())))
        {
            let eps: Vec<Endpoint> = s
                .ports
                .iter()
                .flat_map(|p| self.endpoints_of(s, p.port).iter())
                .filter(|e| ips.contains(&e.address))
                .cloned()
                .collect();
            if !eps.is_empty() {
                out.push((s.clone(), eps));
            }
        }
        out
    }
}

/// When `new` differs from `old` only in endpoints (the same services with the same ports),
/// the hostnames whose endpoints changed; `None` when services changed too (a full push).
pub fn endpoint_only_change(
    old: &Registry,
    new: &Registry,
) -> Option<std::collections::BTreeSet<String>> {
    if old.services.len() != new.services.len()
        || old.services.iter().zip(&new.services).any(|(a, b)| a != b)
    {
        return None;
    }
    let mut hosts = std::collections::BTreeSet::new();
    let keys: std::collections::BTreeSet<&(String, String, u16)> =
        old.endpoints.keys().chain(new.endpoints.keys()).collect();
    for k in keys {
        if old.endpoints.get(k) != new.endpoints.get(k) {
            hosts.insert(k.0.clone());
        }
    }
    Some(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(host: &str) -> Arc<Service> {
        Arc::new(Service {
            hostname: host.into(),
            namespace: "default".into(),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Http,
            }],
            addresses: vec![],
            resolution: Resolution::ClientSideLb,
            mesh_external: false,
            visibility: Visibility::Public,
            selector: BTreeMap::new(),
            origin: String::new(),
        })
    }

    fn ep(addr: &str) -> Endpoint {
        Endpoint {
            address: addr.into(),
            port: 8080,
            service_port: 80,
            labels: BTreeMap::new(),
            identity: String::new(),
            locality: String::new(),
            weight: 1,
            network: String::new(),
            has_proxy: true,
            healthy: true,
            workload: String::new(),
        }
    }

    #[test]
    fn endpoint_only_changes() {
        let mut old = Registry {
            services: vec![svc("a"), svc("b")],
            ..Default::default()
        };
        old.endpoints
            .insert(("a".into(), "default".into(), 80), vec![ep("10.0.0.1")]);
        let mut new = old.clone();
        assert_eq!(endpoint_only_change(&old, &new), Some(Default::default()));
        new.endpoints
            .insert(("a".into(), "default".into(), 80), vec![ep("10.0.0.2")]);
        new.endpoints
            .insert(("b".into(), "default".into(), 80), vec![ep("10.0.0.3")]);
        assert_eq!(
            endpoint_only_change(&old, &new),
            Some(["a".to_string(), "b".to_string()].into())
        );
        new.services.push(svc("c"));
        assert_eq!(endpoint_only_change(&old, &new), None);
    }

    #[test]
    fn protocols() {
        let cases = [
            ("http-web", None, Protocol::Http),
            ("grpc", None, Protocol::Grpc),
            ("web", Some("http2"), Protocol::Http2),
            ("web", Some("kubernetes.io/h2c"), Protocol::Unsupported),
            ("tcp-db", None, Protocol::Tcp),
            ("foo", None, Protocol::Unsupported),
            ("HTTP", None, Protocol::Http),
        ];
        for (name, app, want) in cases {
            assert_eq!(Protocol::from_port(name, app), want, "{name} {app:?}");
        }
    }

    #[test]
    fn visibility() {
        assert!(Visibility::Public.visible_from("a", "b"));
        assert!(!Visibility::Private.visible_from("a", "b"));
        assert!(Visibility::Private.visible_from("a", "a"));
        assert!(Visibility::Namespaces(vec!["b".into()]).visible_from("a", "b"));
    }
}
