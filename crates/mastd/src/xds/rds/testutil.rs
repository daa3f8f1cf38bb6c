//! Builders of small snapshots and proxies for the LDS/RDS table tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::google::protobuf::Any;
use mast_xds::Proxy;
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::model::{Config, Snapshot};
use crate::registry::{Endpoint, Protocol, Resolution, Service, ServicePort, Visibility};

/// Builds a [`Snapshot`] piece by piece.
#[derive(Default)]
pub struct SnapBuilder {
    snap: Snapshot,
}

fn cfg<T: DeserializeOwned>(name: &str, ns: &str, spec: Value) -> Config<T> {
    Config {
        name: name.into(),
        namespace: ns.into(),
        labels: BTreeMap::new(),
        spec: serde_json::from_value(spec).expect("spec decodes"),
    }
}

/// `reviews` → `reviews.NS.svc.cluster.local`.
pub fn fqdn(name: &str, ns: &str) -> String {
    format!("{name}.{ns}.svc.cluster.local")
}

impl SnapBuilder {
    /// An empty snapshot with default mesh settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a Kubernetes-style service `name.ns.svc.cluster.local` with ports `(name, number)`
    /// (protocol from the name) and a VIP.
    pub fn service(mut self, name: &str, ns: &str, ports: &[(&str, u16)], vip: &str) -> Self {
        let s = Service {
            hostname: fqdn(name, ns),
            namespace: ns.into(),
            ports: ports
                .iter()
                .map(|(n, p)| ServicePort {
                    name: (*n).into(),
                    port: *p,
                    protocol: Protocol::from_port(n, None),
                })
                .collect(),
            addresses: if vip.is_empty() {
                vec![]
            } else {
                vec![vip.into()]
            },
            resolution: Resolution::ClientSideLb,
            mesh_external: false,
            visibility: Visibility::Public,
            selector: BTreeMap::from([("app".to_string(), name.to_string())]),
            origin: format!("Service {ns}/{name}"),
        };
        self.snap.registry.services.push(Arc::new(s));
        self.snap
            .registry
            .services
            .sort_by(|a, b| (&a.hostname, &a.namespace).cmp(&(&b.hostname, &b.namespace)));
        self
    }

    /// Adds an external service (ServiceEntry-like) with an explicit host.
    pub fn external(
        mut self,
        host: &str,
        ns: &str,
        ports: &[(&str, u16)],
        resolution: Resolution,
    ) -> Self {
        let s = Service {
            hostname: host.into(),
            namespace: ns.into(),
            ports: ports
                .iter()
                .map(|(n, p)| ServicePort {
                    name: (*n).into(),
                    port: *p,
                    protocol: Protocol::from_port(n, None),
                })
                .collect(),
            addresses: vec![],
            resolution,
            mesh_external: true,
            visibility: Visibility::Public,
            selector: BTreeMap::new(),
            origin: format!("ServiceEntry {ns}/{host}"),
        };
        self.snap.registry.services.push(Arc::new(s));
        self
    }

    /// Adds an endpoint of service `name.ns` port `port` at `ip:target`.
    pub fn endpoint(
        mut self,
        name: &str,
        ns: &str,
        port: u16,
        ip: &str,
        target: u16,
        labels: &[(&str, &str)],
    ) -> Self {
        let e = Endpoint {
            address: ip.into(),
            port: target,
            service_port: port,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            identity: String::new(),
            locality: String::new(),
            weight: 1,
            network: String::new(),
            has_proxy: true,
            healthy: true,
            workload: format!("{name}-pod"),
        };
        self.snap
            .registry
            .endpoints
            .entry((fqdn(name, ns), ns.into(), port))
            .or_default()
            .push(e);
        self
    }

    /// Adds a VirtualService.
    pub fn vs(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.virtual_services.push(cfg(name, ns, spec));
        self
    }

    /// Adds a DestinationRule.
    pub fn dr(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.destination_rules.push(cfg(name, ns, spec));
        self
    }

    /// Adds a Sidecar.
    pub fn sidecar(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.sidecars.push(cfg(name, ns, spec));
        self
    }

    /// Adds a PeerAuthentication.
    pub fn peer_auth(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.peer_authentications.push(cfg(name, ns, spec));
        self
    }

    /// Adds an AuthorizationPolicy.
    pub fn authz(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.authorization_policies.push(cfg(name, ns, spec));
        self
    }

    /// Adds a RequestAuthentication.
    pub fn request_auth(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.request_authentications.push(cfg(name, ns, spec));
        self
    }

    /// Adds a Telemetry.
    pub fn telemetry(mut self, name: &str, ns: &str, spec: Value) -> Self {
        self.snap.telemetries.push(cfg(name, ns, spec));
        self
    }

    /// Sets MeshConfig `accessLogFile`.
    pub fn access_log_file(mut self, path: &str) -> Self {
        self.snap.mesh.access_log_file = path.into();
        self
    }

    /// Sets the tracing parts of MeshConfig from a MeshConfig document.
    pub fn mesh_tracing(mut self, mesh: Value) -> Self {
        self.snap.mesh.tracing = crate::xds::lds::tracing::MeshTracing::from_mesh_config(&mesh);
        self
    }

    /// Sets `outboundTrafficPolicy: REGISTRY_ONLY`.
    pub fn registry_only(mut self) -> Self {
        self.snap.mesh.allow_any = false;
        self
    }

    /// The snapshot.
    pub fn build(self) -> Snapshot {
        self.snap
    }
}

/// A sidecar proxy `pod.ns` at `ip` with labels and extra node metadata.
pub fn proxy(ip: &str, pod: &str, ns: &str, labels: &[(&str, &str)], meta: Value) -> Proxy {
    let mut m = serde_json::Map::new();
    m.insert("NAMESPACE".into(), ns.into());
    m.insert(
        "LABELS".into(),
        Value::Object(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), json!(v)))
                .collect(),
        ),
    );
    if let Value::Object(extra) = meta {
        m.extend(extra);
    }
    Proxy::parse(
        &format!("sidecar~{ip}~{pod}.{ns}~{ns}.svc.cluster.local"),
        m,
    )
    .expect("valid node")
}

/// Decodes a packed resource.
pub fn unpack<T: Message + Default>(any: &Any) -> T {
    T::decode(any.value.as_slice()).expect("decodes")
}
