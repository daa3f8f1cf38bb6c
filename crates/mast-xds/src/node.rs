//! The proxy's identity as it presents itself on an ADS stream: Istio's node id and the node
//! metadata its agent sends.

use std::collections::BTreeMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::Node;
use serde_json::{Map, Value};

use crate::structs::{json_to_struct, struct_to_json};

/// What kind of proxy a node is (the first part of its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// A sidecar next to one workload.
    Sidecar,
    /// A gateway (Istio's `router`).
    Router,
}

impl NodeType {
    /// Istio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Sidecar => "sidecar",
            NodeType::Router => "router",
        }
    }
}

/// Why a node was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The request carried no node.
    #[error("the request has no node")]
    Missing,
    /// The id is not `TYPE~IP~ID~DOMAIN`.
    #[error("node id {0:?} is not of the form TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN")]
    BadId(String),
    /// The type part is neither `sidecar` nor `router`.
    #[error("node id {id:?}: unknown proxy type {kind:?} (want sidecar or router)")]
    BadType {
        /// The whole id.
        id: String,
        /// The type part.
        kind: String,
    },
    /// The IP part is not an IP address.
    #[error("node id {id:?}: {ip:?} is not an IP address")]
    BadIp {
        /// The whole id.
        id: String,
        /// The IP part.
        ip: String,
    },
}

/// How traffic reaches the proxy (`INTERCEPTION_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterceptionMode {
    /// iptables REDIRECT (Istio's default).
    Redirect,
    /// iptables TPROXY.
    Tproxy,
    /// No capture: explicit listeners only (Sidecar `captureMode: NONE`).
    None,
}

/// A connected proxy as the control plane sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// Sidecar or router.
    pub node_type: NodeType,
    /// Its IP addresses (the id's IP first, then `INSTANCE_IPS`).
    pub ips: Vec<IpAddr>,
    /// `POD.NAMESPACE`.
    pub id: String,
    /// `NAMESPACE.svc.cluster.local`.
    pub dns_domain: String,
    /// The whole node id.
    pub node_id: String,
    /// `NAMESPACE` (or the namespace part of the id).
    pub namespace: String,
    /// `SERVICE_ACCOUNT`.
    pub service_account: String,
    /// `LABELS`.
    pub labels: BTreeMap<String, String>,
    /// `WORKLOAD_NAME`.
    pub workload_name: String,
    /// `CLUSTER_ID` (default `Kubernetes`).
    pub cluster_id: String,
    /// `ISTIO_VERSION`.
    pub istio_version: String,
    /// `INTERCEPTION_MODE`.
    pub interception_mode: InterceptionMode,
    /// `GENERATOR` (`grpc` for proxyless gRPC clients).
    pub generator: String,
    /// The whole metadata as sent.
    pub metadata: Map<String, Value>,
}

impl Proxy {
    /// Reads a node as Istio's `model.ParseServiceNodeWithMetadata` does.
    pub fn from_node(node: Option<&Node>) -> Result<Proxy, NodeError> {
        let node = node.ok_or(NodeError::Missing)?;
        let metadata = node
            .metadata
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_default();
        Proxy::parse(&node.id, metadata)
    }

    /// Parses a node id and its metadata.
    pub fn parse(node_id: &str, metadata: Map<String, Value>) -> Result<Proxy, NodeError> {
        let parts: Vec<&str> = node_id.split('~').collect();
        if parts.len() != 4 {
            return Err(NodeError::BadId(node_id.to_string()));
        }
        let node_type = match parts[0] {
            "sidecar" => NodeType::Sidecar,
            "router" => NodeType::Router,
            other => {
                return Err(NodeError::BadType {
                    id: node_id.to_string(),
                    kind: other.to_string(),
                });
            }
        };
        let first_ip: IpAddr = parts[1].parse().map_err(|_| NodeError::BadIp {
            id: node_id.to_string(),
            ip: parts[1].to_string(),
        })?;
        let s = |k: &str| {
            metadata
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut ips = vec![first_ip];
        for ip in s("INSTANCE_IPS")
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
        {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        let id = parts[2].to_string();
        let dns_domain = parts[3].to_string();
        let mut namespace = s("NAMESPACE");
        if namespace.is_empty() {
            namespace = id
                .rsplit_once('.')
                .map(|(_, ns)| ns.to_string())
                .unwrap_or_default();
        }
        let labels = metadata
            .get("LABELS")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let interception_mode = match s("INTERCEPTION_MODE").as_str() {
            "TPROXY" => InterceptionMode::Tproxy,
            "NONE" => InterceptionMode::None,
            _ => InterceptionMode::Redirect,
        };
        let mut cluster_id = s("CLUSTER_ID");
        if cluster_id.is_empty() {
            cluster_id = "Kubernetes".to_string();
        }
        Ok(Proxy {
            node_type,
            ips,
            id,
            dns_domain,
            node_id: node_id.to_string(),
            namespace,
            service_account: s("SERVICE_ACCOUNT"),
            labels,
            workload_name: s("WORKLOAD_NAME"),
            cluster_id,
            istio_version: s("ISTIO_VERSION"),
            interception_mode,
            generator: s("GENERATOR"),
            metadata,
        })
    }

    /// Builds the node a proxy sends: its id and metadata.
    pub fn to_node(&self) -> Node {
        Node {
            id: self.node_id.clone(),
            cluster: self.cluster_name(),
            metadata: Some(json_to_struct(&self.metadata)),
            ..Default::default()
        }
    }

    /// Envoy's `--service-cluster`: `app.namespace` as Istio's agent computes it.
    pub fn cluster_name(&self) -> String {
        let app = self
            .labels
            .get("app")
            .or_else(|| self.labels.get("app.kubernetes.io/name"))
            .cloned()
            .unwrap_or_else(|| "istio-proxy".to_string());
        format!("{app}.{}", self.namespace)
    }

    /// The id Istio's debug pages print: `POD.NAMESPACE`.
    pub fn debug_id(&self) -> &str {
        &self.id
    }

    /// Whether this is a proxyless gRPC client.
    pub fn is_grpc(&self) -> bool {
        self.generator == "grpc"
    }
}

/// Builds a sidecar node id: `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`.
pub fn sidecar_id(ip: IpAddr, pod: &str, namespace: &str, domain: &str) -> String {
    format!("sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ids() {
        let md = json!({"NAMESPACE": "default", "SERVICE_ACCOUNT": "bookinfo-reviews",
            "LABELS": {"app": "reviews", "version": "v1"}, "INTERCEPTION_MODE": "NONE",
            "INSTANCE_IPS": "10.0.0.1,fd00::1"});
        let p = Proxy::parse(
            "sidecar~10.0.0.1~reviews-v1-abc.default~default.svc.cluster.local",
            md.as_object().unwrap().clone(),
        )
        .unwrap();
        assert_eq!(p.node_type, NodeType::Sidecar);
        assert_eq!(p.ips.len(), 2);
        assert_eq!(p.id, "reviews-v1-abc.default");
        assert_eq!(p.namespace, "default");
        assert_eq!(p.labels["version"], "v1");
        assert_eq!(p.interception_mode, InterceptionMode::None);
        assert_eq!(p.cluster_name(), "reviews.default");
        assert_eq!(p.cluster_id, "Kubernetes");
        let back = Proxy::from_node(Some(&p.to_node())).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn refuses_bad_ids() {
        let cases = [
            ("sidecar~1.2.3.4~x", "not of the form"),
            (
                "gateway~1.2.3.4~a.b~b.svc.cluster.local",
                "unknown proxy type",
            ),
            ("sidecar~nope~a.b~b.svc.cluster.local", "not an IP"),
        ];
        for (id, want) in cases {
            let e = Proxy::parse(id, Map::new()).unwrap_err().to_string();
            assert!(e.contains(want), "{id}: {e}");
        }
        assert_eq!(Proxy::from_node(None).unwrap_err(), NodeError::Missing);
    }
}
