//! `MeshConfig`: the mesh-wide settings of the control plane, with the small messages and
//! enums only it uses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    CaConfig, Certificate, CertificateData, Duration, ExtensionProvider, LabelSelector,
    ProxyConfig, ServiceEntryVisibility, ServiceScopeConfigs, ServiceSettings, TlsConfig,
};

/// A `networking.istio.io` message embedded in the mesh config, as its JSON object.
pub type NetworkingObject = Map<String, Value>;

/// Mesh-wide settings of the control plane and defaults of the proxies (`mesh/v1alpha1` `MeshConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshConfig {
    /// Port on which the proxies capture outbound traffic (15001).
    #[serde(rename = "proxyListenPort", alias = "proxy_listen_port")]
    pub proxy_listen_port: i32,
    /// Port on which the proxies capture inbound traffic (15006).
    #[serde(rename = "proxyInboundListenPort", alias = "proxy_inbound_listen_port")]
    pub proxy_inbound_listen_port: i32,
    /// Port of the HTTP proxy listener (0: none).
    #[serde(rename = "proxyHttpPort", alias = "proxy_http_port")]
    pub proxy_http_port: i32,
    /// Timeout of upstream connections (10s).
    #[serde(
        rename = "connectTimeout",
        alias = "connect_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// Idle timeout of HBONE connections.
    #[serde(
        rename = "hboneIdleTimeout",
        alias = "hbone_idle_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub hbone_idle_timeout: Option<Duration>,
    /// How long the proxy waits for the client to speak first before treating traffic as TCP (0: no timeout).
    #[serde(
        rename = "protocolDetectionTimeout",
        alias = "protocol_detection_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol_detection_timeout: Option<Duration>,
    /// TCP keepalive of upstream connections (`networking.v1alpha3` `TcpKeepalive`).
    #[serde(
        rename = "tcpKeepalive",
        alias = "tcp_keepalive",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_keepalive: Option<NetworkingObject>,
    /// Ingress class the Kubernetes Ingress controller handles (`istio`).
    #[serde(rename = "ingressClass", alias = "ingress_class")]
    pub ingress_class: String,
    /// Service of the ingress gateway (`istio-ingressgateway`).
    #[serde(rename = "ingressService", alias = "ingress_service")]
    pub ingress_service: String,
    /// Which Kubernetes Ingresses Istio handles.
    #[serde(rename = "ingressControllerMode", alias = "ingress_controller_mode")]
    pub ingress_controller_mode: IngressControllerMode,
    /// Selector of the gateway handling Kubernetes Ingresses.
    #[serde(rename = "ingressSelector", alias = "ingress_selector")]
    pub ingress_selector: String,
    /// Whether tracing is on.
    #[serde(rename = "enableTracing", alias = "enable_tracing")]
    pub enable_tracing: bool,
    /// File the proxies write access logs to (`/dev/stdout`); empty: off.
    #[serde(rename = "accessLogFile", alias = "access_log_file")]
    pub access_log_file: String,
    /// Format of the access log lines.
    #[serde(rename = "accessLogFormat", alias = "access_log_format")]
    pub access_log_format: String,
    /// Encoding of the access log.
    #[serde(rename = "accessLogEncoding", alias = "access_log_encoding")]
    pub access_log_encoding: AccessLogEncoding,
    /// Whether the proxies send access logs to an access log service.
    #[serde(
        rename = "enableEnvoyAccessLogService",
        alias = "enable_envoy_access_log_service"
    )]
    pub enable_envoy_access_log_service: bool,
    /// Whether the listener access log is off.
    #[serde(
        rename = "disableEnvoyListenerLog",
        alias = "disable_envoy_listener_log"
    )]
    pub disable_envoy_listener_log: bool,
    /// Default settings of every proxy.
    #[serde(
        rename = "defaultConfig",
        alias = "default_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_config: Option<ProxyConfig>,
    /// What the proxies do with traffic to unknown destinations.
    #[serde(
        rename = "outboundTrafficPolicy",
        alias = "outbound_traffic_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    /// How inbound traffic reaches the application.
    #[serde(
        rename = "inboundTrafficPolicy",
        alias = "inbound_traffic_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub inbound_traffic_policy: Option<InboundTrafficPolicy>,
    /// Configuration sources (MCP servers).
    #[serde(rename = "configSources", alias = "config_sources")]
    pub config_sources: Vec<ConfigSource>,
    /// Whether clients use mTLS automatically where the server supports it (true).
    #[serde(
        rename = "enableAutoMtls",
        alias = "enable_auto_mtls",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_auto_mtls: Option<bool>,
    /// Trust domain of the mesh (`cluster.local`).
    #[serde(rename = "trustDomain", alias = "trust_domain")]
    pub trust_domain: String,
    /// Other trust domains treated as this one.
    #[serde(rename = "trustDomainAliases", alias = "trust_domain_aliases")]
    pub trust_domain_aliases: Vec<String>,
    /// Extra root certificates, by signer or trust domain.
    #[serde(rename = "caCertificates", alias = "ca_certificates")]
    pub ca_certificates: Vec<CertificateData>,
    /// Default `exportTo` of services (`*`).
    #[serde(rename = "defaultServiceExportTo", alias = "default_service_export_to")]
    pub default_service_export_to: Vec<String>,
    /// Default `exportTo` of virtual services (`*`).
    #[serde(
        rename = "defaultVirtualServiceExportTo",
        alias = "default_virtual_service_export_to"
    )]
    pub default_virtual_service_export_to: Vec<String>,
    /// Default `exportTo` of destination rules (`*`).
    #[serde(
        rename = "defaultDestinationRuleExportTo",
        alias = "default_destination_rule_export_to"
    )]
    pub default_destination_rule_export_to: Vec<String>,
    /// Namespace whose configuration applies mesh-wide (`istio-system`).
    #[serde(rename = "rootNamespace", alias = "root_namespace")]
    pub root_namespace: String,
    /// Default locality load balancing (`networking.v1alpha3` `LocalityLoadBalancerSetting`).
    #[serde(
        rename = "localityLbSetting",
        alias = "locality_lb_setting",
        skip_serializing_if = "Option::is_none"
    )]
    pub locality_lb_setting: Option<NetworkingObject>,
    /// Default zone-aware load balancing (`networking.v1alpha3` `ZoneAwareLoadBalancerSetting`).
    #[serde(
        rename = "zoneAwareLbSetting",
        alias = "zone_aware_lb_setting",
        skip_serializing_if = "Option::is_none"
    )]
    pub zone_aware_lb_setting: Option<NetworkingObject>,
    /// Refresh interval of DNS-resolved clusters (60s).
    #[serde(
        rename = "dnsRefreshRate",
        alias = "dns_refresh_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_refresh_rate: Option<Duration>,
    /// Whether HTTP/1.1 connections are upgraded to HTTP/2.
    #[serde(rename = "h2UpgradePolicy", alias = "h2_upgrade_policy")]
    pub h2_upgrade_policy: H2UpgradePolicy,
    /// Stat name pattern of inbound clusters.
    #[serde(rename = "inboundClusterStatName", alias = "inbound_cluster_stat_name")]
    pub inbound_cluster_stat_name: String,
    /// Stat name pattern of outbound clusters.
    #[serde(
        rename = "outboundClusterStatName",
        alias = "outbound_cluster_stat_name"
    )]
    pub outbound_cluster_stat_name: String,
    /// Deprecated: certificates for DNS names.
    #[serde(rename = "certificates")]
    pub certificates: Vec<Certificate>,
    /// Settings of groups of services.
    #[serde(rename = "serviceSettings", alias = "service_settings")]
    pub service_settings: Vec<ServiceSettings>,
    /// Which services are local or global (ambient multi-network).
    #[serde(rename = "serviceScopeConfigs", alias = "service_scope_configs")]
    pub service_scope_configs: Vec<ServiceScopeConfigs>,
    /// Whether application metrics are merged into the proxy's Prometheus endpoint (true).
    #[serde(
        rename = "enablePrometheusMerge",
        alias = "enable_prometheus_merge",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_prometheus_merge: Option<bool>,
    /// Deprecated: whether clients verify server certificates.
    #[serde(
        rename = "verifyCertificateAtClient",
        alias = "verify_certificate_at_client",
        skip_serializing_if = "Option::is_none"
    )]
    pub verify_certificate_at_client: Option<bool>,
    /// The external certificate authority.
    #[serde(rename = "ca", skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaConfig>,
    /// Providers of authorization, tracing, metrics and logging extensions.
    #[serde(rename = "extensionProviders", alias = "extension_providers")]
    pub extension_providers: Vec<ExtensionProvider>,
    /// Providers used when a Telemetry resource names none.
    #[serde(
        rename = "defaultProviders",
        alias = "default_providers",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_providers: Option<DefaultProviders>,
    /// Namespaces istiod watches (all when empty).
    #[serde(rename = "discoverySelectors", alias = "discovery_selectors")]
    pub discovery_selectors: Vec<LabelSelector>,
    /// How request paths are normalized before authorization and routing.
    #[serde(
        rename = "pathNormalization",
        alias = "path_normalization",
        skip_serializing_if = "Option::is_none"
    )]
    pub path_normalization: Option<ProxyPathNormalization>,
    /// Default retry policy of HTTP routes (`networking.v1alpha3` `HTTPRetry`).
    #[serde(
        rename = "defaultHttpRetryPolicy",
        alias = "default_http_retry_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_http_retry_policy: Option<NetworkingObject>,
    /// TLS settings of mesh-internal mTLS.
    #[serde(
        rename = "meshMTLS",
        alias = "mesh_mTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub mesh_mtls: Option<TlsConfig>,
    /// TLS settings of gateways and DestinationRule TLS.
    #[serde(
        rename = "tlsDefaults",
        alias = "tls_defaults",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_defaults: Option<TlsConfig>,
    /// Default traffic policy of every destination.
    #[serde(
        rename = "defaultTrafficPolicy",
        alias = "default_traffic_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_traffic_policy: Option<DefaultTrafficPolicy>,
    /// Default visibility of ServiceEntries.
    #[serde(
        rename = "serviceEntryVisibility",
        alias = "service_entry_visibility",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_entry_visibility: Option<ServiceEntryVisibility>,
}

/// `MeshConfig.IngressControllerMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IngressControllerMode {
    /// Unset (same as STRICT).
    #[default]
    #[serde(rename = "UNSPECIFIED")]
    Unspecified,
    /// Kubernetes Ingresses are ignored.
    #[serde(rename = "OFF")]
    Off,
    /// Ingresses with the mesh class or no class.
    #[serde(rename = "DEFAULT")]
    Default,
    /// Only ingresses with the mesh class.
    #[serde(rename = "STRICT")]
    Strict,
}

/// `MeshConfig.AccessLogEncoding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccessLogEncoding {
    /// Plain text.
    #[default]
    #[serde(rename = "TEXT")]
    Text,
    /// JSON.
    #[serde(rename = "JSON")]
    Json,
}

/// `MeshConfig.OutboundTrafficPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundTrafficPolicy {
    /// The mode.
    #[serde(rename = "mode")]
    pub mode: OutboundTrafficMode,
    /// TLS of passthrough traffic (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(rename = "tls", skip_serializing_if = "Option::is_none")]
    pub tls: Option<NetworkingObject>,
}

/// `MeshConfig.OutboundTrafficPolicy.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutboundTrafficMode {
    /// Only destinations in the service registry are reachable.
    #[default]
    #[serde(rename = "REGISTRY_ONLY")]
    RegistryOnly,
    /// Unknown destinations are passed through.
    #[serde(rename = "ALLOW_ANY")]
    AllowAny,
    /// Unknown destinations are passed through, resolved by DNS.
    #[serde(rename = "ALLOW_ANY_DYNAMIC_DNS")]
    AllowAnyDynamicDns,
}

/// `MeshConfig.InboundTrafficPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundTrafficPolicy {
    /// The mode.
    #[serde(rename = "mode")]
    pub mode: InboundTrafficMode,
}

/// `MeshConfig.InboundTrafficPolicy.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InboundTrafficMode {
    /// To the address the client connected to.
    #[default]
    #[serde(rename = "PASSTHROUGH")]
    Passthrough,
    /// To localhost.
    #[serde(rename = "LOCALHOST")]
    Localhost,
}

/// `MeshConfig.DefaultProviders`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultProviders {
    /// Tracing providers.
    #[serde(rename = "tracing")]
    pub tracing: Vec<String>,
    /// Metrics providers.
    #[serde(rename = "metrics")]
    pub metrics: Vec<String>,
    /// Access logging providers.
    #[serde(rename = "accessLogging", alias = "access_logging")]
    pub access_logging: Vec<String>,
}

/// `MeshConfig.ProxyPathNormalization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyPathNormalization {
    /// The normalization.
    #[serde(rename = "normalization")]
    pub normalization: NormalizationType,
}

/// `MeshConfig.ProxyPathNormalization.NormalizationType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NormalizationType {
    /// Same as BASE.
    #[default]
    #[serde(rename = "DEFAULT")]
    Default,
    /// No normalization.
    #[serde(rename = "NONE")]
    None,
    /// RFC 3986 normalization.
    #[serde(rename = "BASE")]
    Base,
    /// BASE, and merging of repeated slashes.
    #[serde(rename = "MERGE_SLASHES")]
    MergeSlashes,
    /// MERGE_SLASHES, and decoding of escaped slashes.
    #[serde(rename = "DECODE_AND_MERGE_SLASHES")]
    DecodeAndMergeSlashes,
}

/// `MeshConfig.DefaultTrafficPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultTrafficPolicy {
    /// Connection pool (`networking.v1alpha3` `ConnectionPoolSettings`).
    #[serde(
        rename = "connectionPool",
        alias = "connection_pool",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_pool: Option<NetworkingObject>,
    /// Outlier detection (`networking.v1alpha3` `OutlierDetection`).
    #[serde(
        rename = "outlierDetection",
        alias = "outlier_detection",
        skip_serializing_if = "Option::is_none"
    )]
    pub outlier_detection: Option<NetworkingObject>,
}

/// `MeshConfig.H2UpgradePolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum H2UpgradePolicy {
    /// Keep HTTP/1.1.
    #[default]
    #[serde(rename = "DO_NOT_UPGRADE")]
    DoNotUpgrade,
    /// Upgrade to HTTP/2.
    #[serde(rename = "UPGRADE")]
    Upgrade,
}

/// A configuration source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigSource {
    /// Address of the server.
    #[serde(rename = "address")]
    pub address: String,
    /// TLS towards it (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(
        rename = "tlsSettings",
        alias = "tls_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_settings: Option<NetworkingObject>,
    /// Resources read from it.
    #[serde(rename = "subscribedResources", alias = "subscribed_resources")]
    pub subscribed_resources: Vec<ConfigResource>,
}

/// `Resource`: a kind of configuration a source provides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    /// Services.
    #[default]
    #[serde(rename = "SERVICE_REGISTRY")]
    ServiceRegistry,
}
