//! `ProxyConfig`: the settings of a proxy (the mesh default is `defaultConfig`), with the small
//! messages and enums only it uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    ConnectionSettings, Duration, EmptyObject, NetworkingObject, ProxyHeaders, ProxyTracing,
};

/// `AuthenticationPolicy` of the control plane connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthenticationPolicy {
    /// Plaintext.
    #[default]
    #[serde(rename = "NONE")]
    None,
    /// mTLS.
    #[serde(rename = "MUTUAL_TLS")]
    MutualTls,
    /// Inherit.
    #[serde(rename = "INHERIT")]
    Inherit,
}

/// Settings of a proxy (`mesh/v1alpha1` `ProxyConfig`; the mesh default is `defaultConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Directory of the generated Envoy configuration.
    #[serde(rename = "configPath", alias = "config_path")]
    pub config_path: String,
    /// Path of the Envoy binary.
    #[serde(rename = "binaryPath", alias = "binary_path")]
    pub binary_path: String,
    /// Service cluster (a `oneof` with `tracingServiceName`).
    #[serde(
        rename = "serviceCluster",
        alias = "service_cluster",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_cluster: Option<String>,
    /// How the service name in traces is built.
    #[serde(
        rename = "tracingServiceName",
        alias = "tracing_service_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub tracing_service_name: Option<TracingServiceName>,
    /// How long connections drain on restart (45s).
    #[serde(
        rename = "drainDuration",
        alias = "drain_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub drain_duration: Option<Duration>,
    /// Address of istiod (`istiod.istio-system.svc:15012`).
    #[serde(rename = "discoveryAddress", alias = "discovery_address")]
    pub discovery_address: String,
    /// Deprecated.
    #[serde(
        rename = "discoveryRefreshDelay",
        alias = "discovery_refresh_delay",
        skip_serializing_if = "Option::is_none"
    )]
    pub discovery_refresh_delay: Option<Duration>,
    /// Deprecated: Zipkin address.
    #[serde(rename = "zipkinAddress", alias = "zipkin_address")]
    pub zipkin_address: String,
    /// Statsd address.
    #[serde(rename = "statsdUdpAddress", alias = "statsd_udp_address")]
    pub statsd_udp_address: String,
    /// Deprecated: metrics service address.
    #[serde(
        rename = "envoyMetricsServiceAddress",
        alias = "envoy_metrics_service_address"
    )]
    pub envoy_metrics_service_address: String,
    /// Envoy admin port (15000).
    #[serde(rename = "proxyAdminPort", alias = "proxy_admin_port")]
    pub proxy_admin_port: i32,
    /// Deprecated.
    #[serde(rename = "availabilityZone", alias = "availability_zone")]
    pub availability_zone: String,
    /// Authentication towards the control plane.
    #[serde(rename = "controlPlaneAuthPolicy", alias = "control_plane_auth_policy")]
    pub control_plane_auth_policy: AuthenticationPolicy,
    /// Custom Envoy configuration file.
    #[serde(rename = "customConfigFile", alias = "custom_config_file")]
    pub custom_config_file: String,
    /// Maximum stat name length (189).
    #[serde(rename = "statNameLength", alias = "stat_name_length")]
    pub stat_name_length: i32,
    /// Number of worker threads (0: one per core; unset: from the CPU limit).
    #[serde(rename = "concurrency", skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i32>,
    /// Bootstrap template path.
    #[serde(
        rename = "proxyBootstrapTemplatePath",
        alias = "proxy_bootstrap_template_path"
    )]
    pub proxy_bootstrap_template_path: String,
    /// How inbound traffic is captured.
    #[serde(rename = "interceptionMode", alias = "interception_mode")]
    pub interception_mode: InboundInterceptionMode,
    /// Tracing settings.
    #[serde(rename = "tracing", skip_serializing_if = "Option::is_none")]
    pub tracing: Option<ProxyTracing>,
    /// Deprecated.
    #[serde(rename = "sds", skip_serializing_if = "Option::is_none")]
    pub sds: Option<Sds>,
    /// Access log service.
    #[serde(
        rename = "envoyAccessLogService",
        alias = "envoy_access_log_service",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_access_log_service: Option<RemoteService>,
    /// Metrics service.
    #[serde(
        rename = "envoyMetricsService",
        alias = "envoy_metrics_service",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_metrics_service: Option<RemoteService>,
    /// Environment of the agent and metadata of the proxy.
    #[serde(rename = "proxyMetadata", alias = "proxy_metadata")]
    pub proxy_metadata: BTreeMap<String, String>,
    /// Envoy runtime values.
    #[serde(rename = "runtimeValues", alias = "runtime_values")]
    pub runtime_values: BTreeMap<String, String>,
    /// Port of the status and readiness endpoint (15020).
    #[serde(rename = "statusPort", alias = "status_port")]
    pub status_port: i32,
    /// Extra stat tags.
    #[serde(rename = "extraStatTags", alias = "extra_stat_tags")]
    pub extra_stat_tags: Vec<String>,
    /// Topology of a gateway in front of the proxy.
    #[serde(
        rename = "gatewayTopology",
        alias = "gateway_topology",
        skip_serializing_if = "Option::is_none"
    )]
    pub gateway_topology: Option<Topology>,
    /// How long the proxy drains on termination (5s).
    #[serde(
        rename = "terminationDrainDuration",
        alias = "termination_drain_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub termination_drain_duration: Option<Duration>,
    /// Mesh id.
    #[serde(rename = "meshId", alias = "mesh_id")]
    pub mesh_id: String,
    /// Readiness probe of a VM workload (`networking.v1alpha3` `ReadinessProbe`).
    #[serde(
        rename = "readinessProbe",
        alias = "readiness_probe",
        skip_serializing_if = "Option::is_none"
    )]
    pub readiness_probe: Option<NetworkingObject>,
    /// Extra Envoy stats to keep.
    #[serde(
        rename = "proxyStatsMatcher",
        alias = "proxy_stats_matcher",
        skip_serializing_if = "Option::is_none"
    )]
    pub proxy_stats_matcher: Option<ProxyStatsMatcher>,
    /// Whether the application waits for the proxy.
    #[serde(
        rename = "holdApplicationUntilProxyStarts",
        alias = "hold_application_until_proxy_starts",
        skip_serializing_if = "Option::is_none"
    )]
    pub hold_application_until_proxy_starts: Option<bool>,
    /// Extra trusted CA certificates.
    #[serde(rename = "caCertificatesPem", alias = "ca_certificates_pem")]
    pub ca_certificates_pem: Vec<String>,
    /// Proxy image settings (`networking.v1beta1` `ProxyImage`).
    #[serde(rename = "image", skip_serializing_if = "Option::is_none")]
    pub image: Option<NetworkingObject>,
    /// Private key provider.
    #[serde(
        rename = "privateKeyProvider",
        alias = "private_key_provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub private_key_provider: Option<PrivateKeyProvider>,
    /// Headers the proxy adds.
    #[serde(
        rename = "proxyHeaders",
        alias = "proxy_headers",
        skip_serializing_if = "Option::is_none"
    )]
    pub proxy_headers: Option<ProxyHeaders>,
    /// Access log flush interval.
    #[serde(
        rename = "fileFlushInterval",
        alias = "file_flush_interval",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_flush_interval: Option<Duration>,
    /// Access log flush size.
    #[serde(rename = "fileFlushMinSizeKb", alias = "file_flush_min_size_kb")]
    pub file_flush_min_size_kb: u32,
    /// Whether stats are compressed.
    #[serde(
        rename = "statsCompression",
        alias = "stats_compression",
        skip_serializing_if = "Option::is_none"
    )]
    pub stats_compression: Option<bool>,
    /// Connection settings.
    #[serde(
        rename = "connectionSettings",
        alias = "connection_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_settings: Option<ConnectionSettings>,
}

/// `ProxyConfig.TracingServiceName`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TracingServiceName {
    /// `app` label and namespace.
    #[default]
    #[serde(rename = "APP_LABEL_AND_NAMESPACE")]
    AppLabelAndNamespace,
    /// Canonical name.
    #[serde(rename = "CANONICAL_NAME_ONLY")]
    CanonicalNameOnly,
    /// Canonical name and namespace.
    #[serde(rename = "CANONICAL_NAME_AND_NAMESPACE")]
    CanonicalNameAndNamespace,
}

/// `ProxyConfig.InboundInterceptionMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InboundInterceptionMode {
    /// iptables REDIRECT.
    #[default]
    #[serde(rename = "REDIRECT")]
    Redirect,
    /// iptables TPROXY.
    #[serde(rename = "TPROXY")]
    Tproxy,
    /// No capture.
    #[serde(rename = "NONE")]
    None,
}

/// Deprecated SDS settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sds {
    /// Enabled.
    #[serde(rename = "enabled")]
    pub enabled: bool,
    /// Token path.
    #[serde(rename = "k8sSaJwtPath", alias = "k8s_sa_jwt_path")]
    pub k8s_sa_jwt_path: String,
}

/// Topology of the network in front of a gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// Number of trusted proxies (X-Forwarded-For hops).
    #[serde(rename = "numTrustedProxies", alias = "num_trusted_proxies")]
    pub num_trusted_proxies: u32,
    /// XFCC handling.
    #[serde(
        rename = "forwardClientCertDetails",
        alias = "forward_client_cert_details"
    )]
    pub forward_client_cert_details: ForwardClientCertDetails,
    /// Whether PROXY protocol is expected.
    #[serde(
        rename = "proxyProtocol",
        alias = "proxy_protocol",
        skip_serializing_if = "Option::is_none"
    )]
    pub proxy_protocol: Option<EmptyObject>,
}

/// `ForwardClientCertDetails`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ForwardClientCertDetails {
    /// Unset.
    #[default]
    #[serde(rename = "UNDEFINED")]
    Undefined,
    /// Do not send XFCC.
    #[serde(rename = "SANITIZE")]
    Sanitize,
    /// Forward only.
    #[serde(rename = "FORWARD_ONLY")]
    ForwardOnly,
    /// Append and forward.
    #[serde(rename = "APPEND_FORWARD")]
    AppendForward,
    /// Reset.
    #[serde(rename = "SANITIZE_SET")]
    SanitizeSet,
    /// Always forward.
    #[serde(rename = "ALWAYS_FORWARD_ONLY")]
    AlwaysForwardOnly,
}

/// Private key provider (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivateKeyProvider {
    /// CryptoMB.
    #[serde(rename = "cryptomb", skip_serializing_if = "Option::is_none")]
    pub cryptomb: Option<PollingProvider>,
    /// QAT.
    #[serde(rename = "qat", skip_serializing_if = "Option::is_none")]
    pub qat: Option<PollingProvider>,
}

/// Settings of a polling private key provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollingProvider {
    /// Poll delay.
    #[serde(
        rename = "pollDelay",
        alias = "poll_delay",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_delay: Option<Duration>,
    /// Whether to fall back to software.
    #[serde(rename = "fallback", skip_serializing_if = "Option::is_none")]
    pub fallback: Option<bool>,
}

/// A remote service of the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteService {
    /// Address.
    #[serde(rename = "address")]
    pub address: String,
    /// TLS (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(
        rename = "tlsSettings",
        alias = "tls_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_settings: Option<NetworkingObject>,
    /// Keepalive (`networking.v1alpha3` `TcpKeepalive`).
    #[serde(
        rename = "tcpKeepalive",
        alias = "tcp_keepalive",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_keepalive: Option<NetworkingObject>,
}

/// Extra stats to keep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyStatsMatcher {
    /// Prefixes.
    #[serde(rename = "inclusionPrefixes", alias = "inclusion_prefixes")]
    pub inclusion_prefixes: Vec<String>,
    /// Suffixes.
    #[serde(rename = "inclusionSuffixes", alias = "inclusion_suffixes")]
    pub inclusion_suffixes: Vec<String>,
    /// Regular expressions.
    #[serde(rename = "inclusionRegexps", alias = "inclusion_regexps")]
    pub inclusion_regexps: Vec<String>,
}
