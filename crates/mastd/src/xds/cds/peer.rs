//! The server side's mTLS mode as a client infers it from PeerAuthentications, for auto-mTLS:
//! the namespace (or mesh) mode of a service, and the mode of one endpoint's port
//! (workload policy, port-level overrides, namespace, mesh; PERMISSIVE when nothing says).

use std::collections::BTreeMap;

use mast_config::istio::security::{MtlsMode as ConfigMode, MutualTls, PeerAuthentication};

use crate::model::{Config, Snapshot};
use crate::registry::{Endpoint, Resolution, Service};
use crate::xds::scope::selects;

/// An inferred mTLS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtlsMode {
    /// Nothing known (mesh-external services).
    Unknown,
    /// Plaintext only.
    Disable,
    /// Both.
    Permissive,
    /// mTLS only.
    Strict,
}

fn convert(m: Option<&MutualTls>) -> Option<MtlsMode> {
    match m?.mode {
        ConfigMode::Unset => None,
        ConfigMode::Disable => Some(MtlsMode::Disable),
        ConfigMode::Permissive => Some(MtlsMode::Permissive),
        ConfigMode::Strict => Some(MtlsMode::Strict),
    }
}

fn selector(c: &Config<PeerAuthentication>) -> Option<&BTreeMap<String, String>> {
    c.spec
        .selector
        .as_ref()
        .map(|s| &s.match_labels)
        .filter(|m| !m.is_empty())
}

/// The PeerAuthentications of a snapshot, indexed.
#[derive(Debug)]
pub struct PeerPolicies {
    /// Mesh-level mode (root namespace, no selector); `Unknown` without one.
    global: MtlsMode,
    /// Namespace-level modes, `UNSET` resolved to the inherited mode.
    namespaces: BTreeMap<String, MtlsMode>,
    /// Selector policies by namespace, in order.
    workloads: BTreeMap<String, Vec<Config<PeerAuthentication>>>,
}

impl PeerPolicies {
    /// Indexes the snapshot's policies; the first namespace-level policy of a namespace wins.
    pub fn new(snap: &Snapshot) -> PeerPolicies {
        let root = snap.mesh.root_namespace.as_str();
        let mut global = MtlsMode::Unknown;
        let mut seen = std::collections::BTreeSet::new();
        let mut found: BTreeMap<String, Option<MtlsMode>> = BTreeMap::new();
        let mut workloads: BTreeMap<String, Vec<Config<PeerAuthentication>>> = BTreeMap::new();
        for c in &snap.peer_authentications {
            if selector(c).is_some() {
                workloads
                    .entry(c.namespace.clone())
                    .or_default()
                    .push(c.clone());
                continue;
            }
            if !seen.insert(c.namespace.clone()) {
                continue;
            }
            let mode = convert(c.spec.mtls.as_ref());
            if c.namespace == root {
                global = mode.unwrap_or(MtlsMode::Permissive);
            } else {
                found.insert(c.namespace.clone(), mode);
            }
        }
        let inherited = if global == MtlsMode::Unknown {
            MtlsMode::Permissive
        } else {
            global
        };
        let namespaces = found
            .into_iter()
            .map(|(ns, m)| (ns, m.unwrap_or(inherited)))
            .collect();
        PeerPolicies {
            global,
            namespaces,
            workloads,
        }
    }

    /// The namespace- or mesh-level mode for `namespace`; `Unknown` when neither exists.
    pub fn namespace_mode(&self, namespace: &str) -> MtlsMode {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.global)
    }

    /// The mode a workload in `namespace` with `labels` applies on its port `port`.
    pub fn workload_port_mode(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        port: u16,
    ) -> MtlsMode {
        let base = match self.namespace_mode(namespace) {
            MtlsMode::Unknown => MtlsMode::Permissive,
            m => m,
        };
        let Some(w) = self.workloads.get(namespace).and_then(|l| {
            l.iter()
                .find(|c| selector(c).is_some_and(|s| selects(s, labels)))
        }) else {
            return base;
        };
        let mode = convert(w.spec.mtls.as_ref()).unwrap_or(base);
        w.spec
            .port_level_mtls
            .as_ref()
            .and_then(|p| p.get(&u32::from(port)))
            .map(|m| convert(Some(m)).unwrap_or(mode))
            .unwrap_or(mode)
    }

    /// Istio's best-effort guess of a service's mode for a client: unknown for mesh-external
    /// services; disabled for passthrough ones unless every endpoint has a proxy; else the
    /// namespace's mode, PERMISSIVE by default.
    pub fn service_mode(
        &self,
        service: &Service,
        passthrough_lb: bool,
        endpoints: &[Endpoint],
    ) -> MtlsMode {
        if service.mesh_external {
            return MtlsMode::Unknown;
        }
        if (service.resolution == Resolution::Passthrough || passthrough_lb)
            && (endpoints.is_empty() || endpoints.iter().any(|e| !e.has_proxy))
        {
            return MtlsMode::Disable;
        }
        match self.namespace_mode(&service.namespace) {
            MtlsMode::Unknown => MtlsMode::Permissive,
            m => m,
        }
    }
}
