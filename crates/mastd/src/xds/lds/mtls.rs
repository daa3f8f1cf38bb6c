//! Inbound mutual TLS: the PeerAuthentication mode of each port of a workload (workload
//! policy over namespace policy over mesh policy, PERMISSIVE by default, port-level
//! overrides), and the server TLS contexts of mTLS filter chains.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiConfigSource, ApiVersion, ConfigSource, GrpcService,
    api_config_source::ApiType,
    config_source::ConfigSourceSpecifier,
    grpc_service::{EnvoyGrpc, TargetSpecifier},
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    TlsParameters,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    tls_parameters::TlsProtocol,
};
use mast_config::istio::security::{MtlsMode as ConfigMode, MutualTls, PeerAuthentication};
use mast_xds::Proxy;

use crate::model::{Config, Snapshot};
use crate::xds::rds::util::{bool_value, no_timeout};

/// The effective mTLS mode of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtlsMode {
    /// Plaintext only.
    Disable,
    /// mTLS and plaintext.
    Permissive,
    /// mTLS only.
    Strict,
}

/// The PeerAuthentication policies of a workload merged (`ComposePeerAuthentication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Mode of every port without an override.
    pub mode: MtlsMode,
    /// Port-level modes, by workload (target) port.
    pub per_port: BTreeMap<u32, MtlsMode>,
}

impl PeerPolicy {
    /// The mode of `port`.
    pub fn for_port(&self, port: u32) -> MtlsMode {
        self.per_port.get(&port).copied().unwrap_or(self.mode)
    }
}

fn convert(m: Option<&MutualTls>) -> Option<MtlsMode> {
    match m?.mode {
        ConfigMode::Unset => None,
        ConfigMode::Disable => Some(MtlsMode::Disable),
        ConfigMode::Permissive => Some(MtlsMode::Permissive),
        ConfigMode::Strict => Some(MtlsMode::Strict),
    }
}

fn selects(c: &Config<PeerAuthentication>, proxy: &Proxy) -> Option<bool> {
    selector_applies(c.spec.selector.as_ref(), proxy)
}

/// How a policy's workload selector applies to `proxy`: `Some(false)` without one (the policy
/// is namespace- or mesh-wide), `Some(true)` when it selects the proxy, `None` when not.
pub fn selector_applies(
    selector: Option<&mast_config::istio::security::WorkloadSelector>,
    proxy: &Proxy,
) -> Option<bool> {
    match selector.filter(|s| !s.match_labels.is_empty()) {
        None => Some(false),
        Some(s) => s
            .match_labels
            .iter()
            .all(|(k, v)| proxy.labels.get(k) == Some(v))
            .then_some(true),
    }
}

/// Merges the PeerAuthentications applying to `proxy`: the mesh policy (root namespace, no
/// selector), then its namespace's, then the first one selecting it; `UNSET` inherits.
pub fn peer_policy(snap: &Snapshot, proxy: &Proxy) -> PeerPolicy {
    let root = snap.mesh.root_namespace.as_str();
    let mut mesh = None;
    let mut namespace = None;
    let mut workload = None;
    for c in &snap.peer_authentications {
        if c.namespace != root && c.namespace != proxy.namespace {
            continue;
        }
        match selects(c, proxy) {
            Some(false) if c.namespace == root => mesh = mesh.or(Some(c)),
            Some(false) => namespace = namespace.or(Some(c)),
            Some(true) if c.namespace != root => workload = workload.or(Some(c)),
            _ => {}
        }
    }
    let mut mode = MtlsMode::Permissive;
    for c in [mesh, namespace, workload].into_iter().flatten() {
        if let Some(m) = convert(c.spec.mtls.as_ref()) {
            mode = m;
        }
    }
    let per_port = workload
        .and_then(|w| w.spec.port_level_mtls.as_ref())
        .map(|ports| {
            ports
                .iter()
                .map(|(p, m)| (*p, convert(Some(m)).unwrap_or(mode)))
                .collect()
        })
        .unwrap_or_default();
    PeerPolicy { mode, per_port }
}

/// Cipher suites of mesh mTLS servers.
pub const SUPPORTED_CIPHERS: &[&str] = &[
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
];

/// The SDS cluster of the proxy's agent.
pub const SDS_CLUSTER: &str = "sds-grpc";

/// An SDS secret fetched from the agent (`default` certificate, `ROOTCA` bundle).
pub fn sds_secret(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: ApiType::Grpc as i32,
                    set_node_on_first_message_only: true,
                    transport_api_version: ApiVersion::V3 as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(TargetSpecifier::EnvoyGrpc(EnvoyGrpc {
                            cluster_name: SDS_CLUSTER.into(),
                            ..Default::default()
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            initial_fetch_timeout: Some(no_timeout()),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// An ADS config source (RDS, ...) with no initial fetch timeout.
pub fn ads_source() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        initial_fetch_timeout: Some(no_timeout()),
        resource_api_version: ApiVersion::V3 as i32,
        ..Default::default()
    }
}

/// The server side of mesh mTLS for a filter chain (`BuildInboundTLS`): the workload
/// certificate, client certificates required and checked against the mesh root. TCP chains
/// also offer `istio-peer-exchange`.
pub fn inbound_tls(mode: MtlsMode, tcp: bool) -> Option<DownstreamTlsContext> {
    if mode == MtlsMode::Disable {
        return None;
    }
    let alpn: &[&str] = if tcp {
        &["istio-peer-exchange", "h2", "http/1.1"]
    } else {
        &["h2", "http/1.1"]
    };
    Some(DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_params: Some(TlsParameters {
                cipher_suites: SUPPORTED_CIPHERS.iter().map(|s| s.to_string()).collect(),
                tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
                tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
                ..Default::default()
            }),
            alpn_protocols: alpn.iter().map(|s| s.to_string()).collect(),
            tls_certificate_sds_secret_configs: vec![sds_secret("default")],
            validation_context_type: Some(ValidationContextType::CombinedValidationContext(
                CombinedCertificateValidationContext {
                    default_validation_context: Some(CertificateValidationContext::default()),
                    validation_context_sds_secret_config: Some(sds_secret("ROOTCA")),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        require_client_certificate: bool_value(true),
        ..Default::default()
    })
}
