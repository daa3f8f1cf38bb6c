//! Mesh-wide configuration: `MeshConfig` (with its `defaultConfig` `ProxyConfig`) and
//! `MeshNetworks`, as istio/api `mesh/v1alpha1` defines them, with Istio's defaults, strict
//! reading from YAML (errors name the line and field), Istio's merge of a mesh config file over
//! the defaults, and Istio's validation of both.
//!
//! Field names are the protobuf JSON names (`defaultConfig`); the original protobuf names
//! (`default_config`) are accepted too, as Istio's reader accepts them. Messages of
//! `networking.istio.io` embedded here (TLS settings, load balancer settings, retries…) are kept
//! as JSON objects ([`NetworkingObject`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::istio::common::{
    is_dns1123_label, is_ip, validate_fqdn, validate_ip_subnet, validate_port,
};
use crate::validate::{Findings, pointer};
use crate::yaml;

/// A `networking.istio.io` message embedded in the mesh config, as its JSON object.
pub type NetworkingObject = Map<String, Value>;

/// A `google.protobuf.Duration` as Istio reads it from YAML: Go duration syntax (`45s`,
/// `1m30s`, `300ms`, `1.5h`, `0`). Stored in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Length in nanoseconds (may be negative).
    pub nanos: i64,
}

impl Duration {
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration { nanos: 1_000_000 };

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Duration {
        Duration {
            nanos: secs * 1_000_000_000,
        }
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Duration {
        Duration {
            nanos: ms * 1_000_000,
        }
    }

    /// Parses Go's `time.ParseDuration` syntax.
    pub fn parse(s: &str) -> Result<Duration, String> {
        crate::istio::common::parse_duration(s).map(|nanos| Duration { nanos })
    }
}

impl fmt::Display for Duration {
    /// Prints the protobuf JSON form: seconds with up to nine fractional digits and `s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let secs = abs / 1_000_000_000;
        let frac = abs % 1_000_000_000;
        if frac == 0 {
            write!(f, "{sign}{secs}s")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{sign}{secs}.{}s", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"10s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

// ---- MeshConfig ----

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

/// `MeshConfig.CertificateData`: a root certificate (a `oneof` of `pem` and `spiffeBundleUrl`) and whom it applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificateData {
    /// PEM-encoded certificates.
    #[serde(rename = "pem", skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// URL of a SPIFFE bundle.
    #[serde(
        rename = "spiffeBundleUrl",
        alias = "spiffe_bundle_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub spiffe_bundle_url: Option<String>,
    /// Signers (`spec.signerName`) the certificates apply to.
    #[serde(rename = "certSigners", alias = "cert_signers")]
    pub cert_signers: Vec<String>,
    /// Trust domains the certificates apply to.
    #[serde(rename = "trustDomains", alias = "trust_domains")]
    pub trust_domains: Vec<String>,
}

/// `MeshConfig.ServiceSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// The settings.
    #[serde(rename = "settings", skip_serializing_if = "Option::is_none")]
    pub settings: Option<ServiceSettingsValues>,
    /// Services the settings apply to.
    #[serde(rename = "hosts")]
    pub hosts: Vec<String>,
}

/// `MeshConfig.ServiceSettings.Settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettingsValues {
    /// Whether the services are only reachable within their cluster.
    #[serde(rename = "clusterLocal", alias = "cluster_local")]
    pub cluster_local: bool,
}

/// `MeshConfig.ServiceScopeConfigs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceScopeConfigs {
    /// Namespaces.
    #[serde(
        rename = "namespaceSelector",
        alias = "namespace_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<LabelSelector>,
    /// Services.
    #[serde(
        rename = "servicesSelector",
        alias = "services_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub services_selector: Option<LabelSelector>,
    /// Local or global.
    #[serde(rename = "scope")]
    pub scope: ServiceScope,
}

/// `MeshConfig.ServiceScopeConfigs.Scope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceScope {
    /// Within the cluster.
    #[default]
    #[serde(rename = "LOCAL")]
    Local,
    /// Across clusters.
    #[serde(rename = "GLOBAL")]
    Global,
}

/// `MeshConfig.CA`: an external certificate authority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Address of the CA.
    #[serde(rename = "address")]
    pub address: String,
    /// TLS towards the CA (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(
        rename = "tlsSettings",
        alias = "tls_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_settings: Option<NetworkingObject>,
    /// Timeout of CSR requests.
    #[serde(
        rename = "requestTimeout",
        alias = "request_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
    /// Whether istiod (rather than the agent) talks to the CA.
    #[serde(rename = "istiodSide", alias = "istiod_side")]
    pub istiod_side: bool,
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

/// `MeshConfig.TLSConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Lowest TLS version.
    #[serde(rename = "minProtocolVersion", alias = "min_protocol_version")]
    pub min_protocol_version: TlsProtocol,
    /// ECDH curves.
    #[serde(rename = "ecdhCurves", alias = "ecdh_curves")]
    pub ecdh_curves: Vec<String>,
    /// Cipher suites.
    #[serde(rename = "cipherSuites", alias = "cipher_suites")]
    pub cipher_suites: Vec<String>,
}

/// `MeshConfig.TLSConfig.TLSProtocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsProtocol {
    /// Envoy's default.
    #[default]
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    Tlsv12,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    Tlsv13,
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

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelSelector {
    /// Labels that must all match.
    #[serde(rename = "matchLabels")]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must all match.
    #[serde(rename = "matchExpressions")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One expression of a label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelSelectorRequirement {
    /// Label key.
    #[serde(rename = "key")]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(rename = "operator")]
    pub operator: String,
    /// Values.
    #[serde(rename = "values")]
    pub values: Vec<String>,
}

/// Default visibility of ServiceEntries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEntryVisibility {
    /// Visibility when no policy matches.
    #[serde(rename = "defaultVisibility", alias = "default_visibility")]
    pub default_visibility: Visibility,
    /// Whether sidecars honour it too.
    #[serde(rename = "applyToSidecars", alias = "apply_to_sidecars")]
    pub apply_to_sidecars: bool,
    /// Policies by namespace.
    #[serde(rename = "policies")]
    pub policies: Vec<VisibilityPolicy>,
}

/// `ServiceEntryVisibility.Visibility`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Visibility {
    /// Unset.
    #[default]
    #[serde(rename = "VISIBILITY_UNSPECIFIED")]
    Unspecified,
    /// Visible nowhere.
    #[serde(rename = "NONE")]
    None,
    /// Visible in its namespace.
    #[serde(rename = "NAMESPACE")]
    Namespace,
    /// Visible everywhere.
    #[serde(rename = "PUBLIC")]
    Public,
}

/// `ServiceEntryVisibility.Policy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisibilityPolicy {
    /// The visibility.
    #[serde(rename = "visibility")]
    pub visibility: Visibility,
    /// Namespaces it applies to.
    #[serde(rename = "matchingRules", alias = "matching_rules")]
    pub matching_rules: Vec<VisibilityMatchRule>,
}

/// `ServiceEntryVisibility.MatchRule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisibilityMatchRule {
    /// Namespaces.
    #[serde(
        rename = "namespaceSelector",
        alias = "namespace_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<LabelSelector>,
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

/// Deprecated: a certificate for DNS names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Certificate {
    /// Secret name.
    #[serde(rename = "secretName", alias = "secret_name")]
    pub secret_name: String,
    /// DNS names.
    #[serde(rename = "dnsNames", alias = "dns_names")]
    pub dns_names: Vec<String>,
}

/// An extension provider: a name and one provider configuration (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionProvider {
    /// Name referenced by AuthorizationPolicy and Telemetry.
    #[serde(rename = "name")]
    pub name: String,
    /// External authorization over HTTP.
    #[serde(
        rename = "envoyExtAuthzHttp",
        alias = "envoy_ext_authz_http",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_ext_authz_http: Option<EnvoyExternalAuthorizationHttpProvider>,
    /// External authorization over gRPC.
    #[serde(
        rename = "envoyExtAuthzGrpc",
        alias = "envoy_ext_authz_grpc",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_ext_authz_grpc: Option<EnvoyExternalAuthorizationGrpcProvider>,
    /// Zipkin tracing.
    #[serde(rename = "zipkin", skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<ZipkinTracingProvider>,
    /// Deprecated: Lightstep tracing.
    #[serde(rename = "lightstep", skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<LightstepTracingProvider>,
    /// Datadog tracing.
    #[serde(rename = "datadog", skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogTracingProvider>,
    /// Stackdriver telemetry.
    #[serde(rename = "stackdriver", skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<StackdriverProvider>,
    /// Deprecated: OpenCensus agent tracing.
    #[serde(rename = "opencensus", skip_serializing_if = "Option::is_none")]
    pub opencensus: Option<OpenCensusAgentTracingProvider>,
    /// SkyWalking tracing.
    #[serde(rename = "skywalking", skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<SkyWalkingTracingProvider>,
    /// OpenTelemetry tracing.
    #[serde(rename = "opentelemetry", skip_serializing_if = "Option::is_none")]
    pub opentelemetry: Option<OpenTelemetryTracingProvider>,
    /// Prometheus metrics.
    #[serde(rename = "prometheus", skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetricsProvider>,
    /// Access log to a file.
    #[serde(
        rename = "envoyFileAccessLog",
        alias = "envoy_file_access_log",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_file_access_log: Option<EnvoyFileAccessLogProvider>,
    /// HTTP access log service.
    #[serde(
        rename = "envoyHttpAls",
        alias = "envoy_http_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_http_als: Option<EnvoyHttpGrpcV3LogProvider>,
    /// TCP access log service.
    #[serde(
        rename = "envoyTcpAls",
        alias = "envoy_tcp_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_tcp_als: Option<EnvoyTcpGrpcV3LogProvider>,
    /// OpenTelemetry access log service.
    #[serde(
        rename = "envoyOtelAls",
        alias = "envoy_otel_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_otel_als: Option<EnvoyOpenTelemetryLogProvider>,
    /// Secret discovery service.
    #[serde(rename = "sds", skip_serializing_if = "Option::is_none")]
    pub sds: Option<SdsProvider>,
}

/// How the request body is sent to the authorizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationRequestBody {
    /// Maximum bytes buffered.
    #[serde(rename = "maxRequestBytes", alias = "max_request_bytes")]
    pub max_request_bytes: u32,
    /// Whether a partial body is sent when the maximum is reached.
    #[serde(rename = "allowPartialMessage", alias = "allow_partial_message")]
    pub allow_partial_message: bool,
    /// Whether the body is sent as raw bytes.
    #[serde(rename = "packAsBytes", alias = "pack_as_bytes")]
    pub pack_as_bytes: bool,
}

/// External authorization over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationHttpProvider {
    /// Service of the authorizer (`[namespace/]hostname`).
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Prefix of the check request path.
    #[serde(rename = "pathPrefix", alias = "path_prefix")]
    pub path_prefix: String,
    /// Whether requests pass when the authorizer fails.
    #[serde(rename = "failOpen", alias = "fail_open")]
    pub fail_open: bool,
    /// Whether the route cache is cleared after the check.
    #[serde(rename = "clearRouteCache", alias = "clear_route_cache")]
    pub clear_route_cache: bool,
    /// Status returned when the authorizer fails.
    #[serde(rename = "statusOnError", alias = "status_on_error")]
    pub status_on_error: String,
    /// Deprecated: request headers sent to the authorizer.
    #[serde(rename = "includeHeadersInCheck", alias = "include_headers_in_check")]
    pub include_headers_in_check: Vec<String>,
    /// Request headers sent to the authorizer.
    #[serde(
        rename = "includeRequestHeadersInCheck",
        alias = "include_request_headers_in_check"
    )]
    pub include_request_headers_in_check: Vec<String>,
    /// Extra headers sent to the authorizer.
    #[serde(
        rename = "includeAdditionalHeadersInCheck",
        alias = "include_additional_headers_in_check"
    )]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    /// Whether and how the body is sent.
    #[serde(
        rename = "includeRequestBodyInCheck",
        alias = "include_request_body_in_check",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_request_body_in_check: Option<EnvoyExternalAuthorizationRequestBody>,
    /// Authorizer headers forwarded upstream on allow.
    #[serde(
        rename = "headersToUpstreamOnAllow",
        alias = "headers_to_upstream_on_allow"
    )]
    pub headers_to_upstream_on_allow: Vec<String>,
    /// Authorizer headers returned on deny.
    #[serde(
        rename = "headersToDownstreamOnDeny",
        alias = "headers_to_downstream_on_deny"
    )]
    pub headers_to_downstream_on_deny: Vec<String>,
    /// Authorizer headers returned on allow.
    #[serde(
        rename = "headersToDownstreamOnAllow",
        alias = "headers_to_downstream_on_allow"
    )]
    pub headers_to_downstream_on_allow: Vec<String>,
}

/// External authorization over gRPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationGrpcProvider {
    /// Service of the authorizer.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Whether requests pass when the authorizer fails.
    #[serde(rename = "failOpen", alias = "fail_open")]
    pub fail_open: bool,
    /// Whether the route cache is cleared after the check.
    #[serde(rename = "clearRouteCache", alias = "clear_route_cache")]
    pub clear_route_cache: bool,
    /// Status returned when the authorizer fails.
    #[serde(rename = "statusOnError", alias = "status_on_error")]
    pub status_on_error: String,
    /// Whether and how the body is sent.
    #[serde(
        rename = "includeRequestBodyInCheck",
        alias = "include_request_body_in_check",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_request_body_in_check: Option<EnvoyExternalAuthorizationRequestBody>,
}

/// Zipkin tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinTracingProvider {
    /// Service of the collector.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
    /// Whether 64-bit trace ids are used.
    #[serde(rename = "enable64bitTraceId", alias = "enable_64bit_trace_id")]
    pub enable_64bit_trace_id: bool,
    /// Endpoint path.
    #[serde(rename = "path")]
    pub path: String,
    /// Propagation headers.
    #[serde(rename = "traceContextOption", alias = "trace_context_option")]
    pub trace_context_option: TraceContextOption,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Extra headers.
    #[serde(rename = "headers")]
    pub headers: Vec<HttpHeader>,
}

/// `ZipkinTracingProvider.TraceContextOption`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TraceContextOption {
    /// B3 headers.
    #[default]
    #[serde(rename = "USE_B3")]
    UseB3,
    /// B3 and W3C headers.
    #[serde(rename = "USE_B3_WITH_W3C_PROPAGATION")]
    UseB3WithW3cPropagation,
}

/// Lightstep tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightstepTracingProvider {
    /// Service of the collector.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Access token.
    #[serde(rename = "accessToken", alias = "access_token")]
    pub access_token: String,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
}

/// Datadog tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogTracingProvider {
    /// Service of the agent.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
}

/// SkyWalking tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkyWalkingTracingProvider {
    /// Service of the collector.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Access token.
    #[serde(rename = "accessToken", alias = "access_token")]
    pub access_token: String,
}

/// Stackdriver telemetry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackdriverProvider {
    /// Deprecated.
    #[serde(rename = "debug")]
    pub debug: bool,
    /// Deprecated.
    #[serde(
        rename = "maxNumberOfAttributes",
        alias = "max_number_of_attributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_attributes: Option<i64>,
    /// Deprecated.
    #[serde(
        rename = "maxNumberOfAnnotations",
        alias = "max_number_of_annotations",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_annotations: Option<i64>,
    /// Deprecated.
    #[serde(
        rename = "maxNumberOfMessageEvents",
        alias = "max_number_of_message_events",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_message_events: Option<i64>,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
    /// Logging settings.
    #[serde(rename = "logging", skip_serializing_if = "Option::is_none")]
    pub logging: Option<StackdriverLogging>,
}

/// `StackdriverProvider.Logging`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackdriverLogging {
    /// Extra log labels.
    #[serde(rename = "labels")]
    pub labels: BTreeMap<String, String>,
}

/// OpenCensus agent tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenCensusAgentTracingProvider {
    /// Service of the agent.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Propagation formats.
    #[serde(rename = "context")]
    pub context: Vec<OpenCensusTraceContext>,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
}

/// OpenCensus trace context format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpenCensusTraceContext {
    /// Unset.
    #[default]
    #[serde(rename = "UNSPECIFIED")]
    Unspecified,
    /// W3C.
    #[serde(rename = "W3C_TRACE_CONTEXT")]
    W3cTraceContext,
    /// gRPC binary.
    #[serde(rename = "GRPC_BIN")]
    GrpcBin,
    /// Google Cloud.
    #[serde(rename = "CLOUD_TRACE_CONTEXT")]
    CloudTraceContext,
    /// B3.
    #[serde(rename = "B3")]
    B3,
}

/// Prometheus metrics (no settings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusMetricsProvider {}

/// Access log to a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyFileAccessLogProvider {
    /// File path.
    #[serde(rename = "path")]
    pub path: String,
    /// Format.
    #[serde(
        rename = "logFormat",
        alias = "log_format",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_format: Option<FileLogFormat>,
    /// Whether empty values are omitted.
    #[serde(rename = "omitEmptyValues", alias = "omit_empty_values")]
    pub omit_empty_values: bool,
}

/// Access log format (a `oneof` of `text` and `labels`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileLogFormat {
    /// A text format string.
    #[serde(rename = "text", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// JSON labels.
    #[serde(rename = "labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map<String, Value>>,
}

/// HTTP access log service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyHttpGrpcV3LogProvider {
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Log name.
    #[serde(rename = "logName", alias = "log_name")]
    pub log_name: String,
    /// Filter state objects logged.
    #[serde(
        rename = "filterStateObjectsToLog",
        alias = "filter_state_objects_to_log"
    )]
    pub filter_state_objects_to_log: Vec<String>,
    /// Request headers logged.
    #[serde(
        rename = "additionalRequestHeadersToLog",
        alias = "additional_request_headers_to_log"
    )]
    pub additional_request_headers_to_log: Vec<String>,
    /// Response headers logged.
    #[serde(
        rename = "additionalResponseHeadersToLog",
        alias = "additional_response_headers_to_log"
    )]
    pub additional_response_headers_to_log: Vec<String>,
    /// Response trailers logged.
    #[serde(
        rename = "additionalResponseTrailersToLog",
        alias = "additional_response_trailers_to_log"
    )]
    pub additional_response_trailers_to_log: Vec<String>,
}

/// TCP access log service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyTcpGrpcV3LogProvider {
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Log name.
    #[serde(rename = "logName", alias = "log_name")]
    pub log_name: String,
    /// Filter state objects logged.
    #[serde(
        rename = "filterStateObjectsToLog",
        alias = "filter_state_objects_to_log"
    )]
    pub filter_state_objects_to_log: Vec<String>,
}

/// OpenTelemetry access log service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyOpenTelemetryLogProvider {
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Log name.
    #[serde(rename = "logName", alias = "log_name")]
    pub log_name: String,
    /// Format.
    #[serde(
        rename = "logFormat",
        alias = "log_format",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_format: Option<OtelLogFormat>,
}

/// OpenTelemetry log format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelLogFormat {
    /// Text body format.
    #[serde(rename = "text")]
    pub text: String,
    /// Attributes.
    #[serde(rename = "labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map<String, Value>>,
}

/// `ServiceAttributeEnrichment`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceAttributeEnrichment {
    /// Istio canonical names.
    #[default]
    #[serde(rename = "ISTIO_CANONICAL")]
    IstioCanonical,
    /// OpenTelemetry semantic conventions.
    #[serde(rename = "OTEL_SEMANTIC_CONVENTIONS")]
    OtelSemanticConventions,
}

/// OpenTelemetry tracing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenTelemetryTracingProvider {
    /// Service of the collector.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Maximum tag length.
    #[serde(rename = "maxTagLength", alias = "max_tag_length")]
    pub max_tag_length: u32,
    /// Export over HTTP.
    #[serde(rename = "http", skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpService>,
    /// Export over gRPC.
    #[serde(rename = "grpc", skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcService>,
    /// Resource detectors.
    #[serde(
        rename = "resourceDetectors",
        alias = "resource_detectors",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_detectors: Option<ResourceDetectors>,
    /// Service attribute naming.
    #[serde(
        rename = "serviceAttributeEnrichment",
        alias = "service_attribute_enrichment"
    )]
    pub service_attribute_enrichment: ServiceAttributeEnrichment,
    /// Dynatrace sampler.
    #[serde(
        rename = "dynatraceSampler",
        alias = "dynatrace_sampler",
        skip_serializing_if = "Option::is_none"
    )]
    pub dynatrace_sampler: Option<DynatraceSampler>,
}

/// Dynatrace sampler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynatraceSampler {
    /// Tenant.
    #[serde(rename = "tenant")]
    pub tenant: String,
    /// Cluster id.
    #[serde(rename = "clusterId", alias = "cluster_id")]
    pub cluster_id: i32,
    /// Root spans per minute.
    #[serde(rename = "rootSpansPerMinute", alias = "root_spans_per_minute")]
    pub root_spans_per_minute: u32,
    /// Dynatrace API.
    #[serde(
        rename = "httpService",
        alias = "http_service",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_service: Option<DynatraceApi>,
}

/// Dynatrace API endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynatraceApi {
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// HTTP settings.
    #[serde(rename = "http", skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpService>,
}

/// Secret discovery service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SdsProvider {
    /// Name.
    #[serde(rename = "name")]
    pub name: String,
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
}

/// HTTP export settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpService {
    /// Path.
    #[serde(rename = "path")]
    pub path: String,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Extra headers.
    #[serde(rename = "headers")]
    pub headers: Vec<HttpHeader>,
}

/// A header (value a `oneof` of `value` and `envName`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpHeader {
    /// Name.
    #[serde(rename = "name")]
    pub name: String,
    /// Fixed value.
    #[serde(rename = "value", skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Environment variable holding the value.
    #[serde(
        rename = "envName",
        alias = "env_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub env_name: Option<String>,
}

/// OpenTelemetry resource detectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectors {
    /// From the environment.
    #[serde(rename = "environment", skip_serializing_if = "Option::is_none")]
    pub environment: Option<EmptyObject>,
    /// Dynatrace.
    #[serde(rename = "dynatrace", skip_serializing_if = "Option::is_none")]
    pub dynatrace: Option<EmptyObject>,
}

/// A message without fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmptyObject {}

/// gRPC export settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcService {
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Extra metadata.
    #[serde(rename = "initialMetadata", alias = "initial_metadata")]
    pub initial_metadata: Vec<HttpHeader>,
}

// ---- ProxyConfig ----

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

/// `Tracing` settings of a proxy (a `oneof` of tracers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyTracing {
    /// Zipkin.
    #[serde(rename = "zipkin", skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<ZipkinTracer>,
    /// Lightstep.
    #[serde(rename = "lightstep", skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<LightstepTracer>,
    /// Datadog.
    #[serde(rename = "datadog", skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogTracer>,
    /// Stackdriver.
    #[serde(rename = "stackdriver", skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<StackdriverTracer>,
    /// OpenCensus agent.
    #[serde(
        rename = "openCensusAgent",
        alias = "open_census_agent",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_census_agent: Option<OpenCensusAgentTracer>,
    /// Custom span tags.
    #[serde(rename = "customTags", alias = "custom_tags")]
    pub custom_tags: BTreeMap<String, ProxyCustomTag>,
    /// Maximum length of the path tag.
    #[serde(rename = "maxPathTagLength", alias = "max_path_tag_length")]
    pub max_path_tag_length: u32,
    /// Sampling percentage.
    #[serde(rename = "sampling")]
    pub sampling: f64,
    /// TLS towards the tracer (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(
        rename = "tlsSettings",
        alias = "tls_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_settings: Option<NetworkingObject>,
    /// Whether Istio tags are added.
    #[serde(
        rename = "enableIstioTags",
        alias = "enable_istio_tags",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_istio_tags: Option<bool>,
}

/// `Tracing.Zipkin`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinTracer {
    /// Collector address (`host:port`).
    #[serde(rename = "address")]
    pub address: String,
}

/// `Tracing.Lightstep`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightstepTracer {
    /// Collector address.
    #[serde(rename = "address")]
    pub address: String,
    /// Access token.
    #[serde(rename = "accessToken", alias = "access_token")]
    pub access_token: String,
}

/// `Tracing.Datadog`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogTracer {
    /// Agent address.
    #[serde(rename = "address")]
    pub address: String,
}

/// `Tracing.Stackdriver`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackdriverTracer {
    /// Debug.
    #[serde(rename = "debug")]
    pub debug: bool,
    /// Attribute limit.
    #[serde(
        rename = "maxNumberOfAttributes",
        alias = "max_number_of_attributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_attributes: Option<i64>,
    /// Annotation limit.
    #[serde(
        rename = "maxNumberOfAnnotations",
        alias = "max_number_of_annotations",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_annotations: Option<i64>,
    /// Message event limit.
    #[serde(
        rename = "maxNumberOfMessageEvents",
        alias = "max_number_of_message_events",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_message_events: Option<i64>,
}

/// `Tracing.OpenCensusAgent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenCensusAgentTracer {
    /// Agent address.
    #[serde(rename = "address")]
    pub address: String,
    /// Propagation formats.
    #[serde(rename = "context")]
    pub context: Vec<OpenCensusTraceContext>,
}

/// `Tracing.CustomTag` (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyCustomTag {
    /// Fixed value.
    #[serde(rename = "literal", skip_serializing_if = "Option::is_none")]
    pub literal: Option<ProxyTagLiteral>,
    /// Environment variable.
    #[serde(rename = "environment", skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProxyTagSource>,
    /// Request header.
    #[serde(rename = "header", skip_serializing_if = "Option::is_none")]
    pub header: Option<ProxyTagSource>,
}

/// A fixed tag value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyTagLiteral {
    /// Value.
    #[serde(rename = "value")]
    pub value: String,
}

/// An environment variable or header with a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyTagSource {
    /// Name.
    #[serde(rename = "name")]
    pub name: String,
    /// Default.
    #[serde(rename = "defaultValue", alias = "default_value")]
    pub default_value: String,
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

/// Headers the proxy adds or removes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyHeaders {
    /// XFCC handling.
    #[serde(rename = "forwardedClientCert", alias = "forwarded_client_cert")]
    pub forwarded_client_cert: ForwardClientCertDetails,
    /// XFCC fields.
    #[serde(
        rename = "setCurrentClientCertDetails",
        alias = "set_current_client_cert_details",
        skip_serializing_if = "Option::is_none"
    )]
    pub set_current_client_cert_details: Option<SetCurrentClientCertDetails>,
    /// x-request-id.
    #[serde(
        rename = "requestId",
        alias = "request_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<HeaderDisabled>,
    /// server.
    #[serde(rename = "server", skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerHeader>,
    /// x-envoy-attempt-count.
    #[serde(
        rename = "attemptCount",
        alias = "attempt_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub attempt_count: Option<HeaderDisabled>,
    /// x-envoy debug headers.
    #[serde(
        rename = "envoyDebugHeaders",
        alias = "envoy_debug_headers",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_debug_headers: Option<HeaderDisabled>,
    /// Metadata exchange headers.
    #[serde(
        rename = "metadataExchangeHeaders",
        alias = "metadata_exchange_headers",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_exchange_headers: Option<MetadataExchangeHeaders>,
    /// Whether HTTP/1 header case is kept.
    #[serde(
        rename = "preserveHttp1HeaderCase",
        alias = "preserve_http1_header_case",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_http1_header_case: Option<bool>,
    /// x-forwarded-host.
    #[serde(
        rename = "xForwardedHost",
        alias = "x_forwarded_host",
        skip_serializing_if = "Option::is_none"
    )]
    pub x_forwarded_host: Option<HeaderEnabled>,
    /// x-forwarded-port.
    #[serde(
        rename = "xForwardedPort",
        alias = "x_forwarded_port",
        skip_serializing_if = "Option::is_none"
    )]
    pub x_forwarded_port: Option<HeaderEnabled>,
}

/// Whether a header is off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderDisabled {
    /// Disabled.
    #[serde(rename = "disabled", skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Whether a header is on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderEnabled {
    /// Enabled.
    #[serde(rename = "enabled", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `server` header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerHeader {
    /// Disabled.
    #[serde(rename = "disabled", skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Value.
    #[serde(rename = "value")]
    pub value: String,
}

/// Metadata exchange headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataExchangeHeaders {
    /// Mode.
    #[serde(rename = "mode")]
    pub mode: MetadataExchangeMode,
}

/// `ProxyHeaders.MetadataExchangeMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetadataExchangeMode {
    /// Unset.
    #[default]
    #[serde(rename = "UNDEFINED")]
    Undefined,
    /// Only within the mesh.
    #[serde(rename = "IN_MESH")]
    InMesh,
}

/// XFCC fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetCurrentClientCertDetails {
    /// Subject.
    #[serde(rename = "subject", skip_serializing_if = "Option::is_none")]
    pub subject: Option<bool>,
    /// Certificate.
    #[serde(rename = "cert", skip_serializing_if = "Option::is_none")]
    pub cert: Option<bool>,
    /// Chain.
    #[serde(rename = "chain", skip_serializing_if = "Option::is_none")]
    pub chain: Option<bool>,
    /// DNS SANs.
    #[serde(rename = "dns", skip_serializing_if = "Option::is_none")]
    pub dns: Option<bool>,
    /// URI SANs.
    #[serde(rename = "uri", skip_serializing_if = "Option::is_none")]
    pub uri: Option<bool>,
}

/// Connection settings of the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    /// Profile.
    #[serde(rename = "profile")]
    pub profile: ConnectionProfile,
    /// Listener buffer limit.
    #[serde(
        rename = "listenerPerConnectionBufferLimitBytes",
        alias = "listener_per_connection_buffer_limit_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub listener_per_connection_buffer_limit_bytes: Option<i32>,
    /// Cluster buffer limit.
    #[serde(
        rename = "clusterPerConnectionBufferLimitBytes",
        alias = "cluster_per_connection_buffer_limit_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_per_connection_buffer_limit_bytes: Option<i32>,
    /// HTTP idle timeout.
    #[serde(
        rename = "httpIdleTimeout",
        alias = "http_idle_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_idle_timeout: Option<Duration>,
    /// HTTP connection lifetime.
    #[serde(
        rename = "httpMaxConnectionDuration",
        alias = "http_max_connection_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_max_connection_duration: Option<Duration>,
    /// HTTP drain timeout.
    #[serde(
        rename = "httpDrainTimeout",
        alias = "http_drain_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_drain_timeout: Option<Duration>,
    /// HTTP request timeout.
    #[serde(
        rename = "httpRequestTimeout",
        alias = "http_request_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_request_timeout: Option<Duration>,
    /// HTTP headers timeout.
    #[serde(
        rename = "httpRequestHeadersTimeout",
        alias = "http_request_headers_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_request_headers_timeout: Option<Duration>,
    /// HTTP stream idle timeout.
    #[serde(
        rename = "httpStreamIdleTimeout",
        alias = "http_stream_idle_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_stream_idle_timeout: Option<Duration>,
    /// HTTP stream lifetime.
    #[serde(
        rename = "httpMaxStreamDuration",
        alias = "http_max_stream_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_max_stream_duration: Option<Duration>,
    /// HTTP/2 concurrent streams.
    #[serde(
        rename = "httpMaxConcurrentStreams",
        alias = "http_max_concurrent_streams",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_max_concurrent_streams: Option<i32>,
    /// HTTP/2 stream window.
    #[serde(
        rename = "http2InitialStreamWindowSize",
        alias = "http2_initial_stream_window_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub http2_initial_stream_window_size: Option<i32>,
    /// HTTP/2 connection window.
    #[serde(
        rename = "http2InitialConnectionWindowSize",
        alias = "http2_initial_connection_window_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub http2_initial_connection_window_size: Option<i32>,
    /// Handling of headers with underscores.
    #[serde(
        rename = "httpHeadersWithUnderscoresAction",
        alias = "http_headers_with_underscores_action"
    )]
    pub http_headers_with_underscores_action: HeadersWithUnderscoresAction,
    /// Whether slashes are merged.
    #[serde(
        rename = "httpMergeSlashes",
        alias = "http_merge_slashes",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_merge_slashes: Option<bool>,
    /// Handling of escaped slashes.
    #[serde(
        rename = "httpPathWithEscapedSlashesAction",
        alias = "http_path_with_escaped_slashes_action"
    )]
    pub http_path_with_escaped_slashes_action: PathWithEscapedSlashesAction,
    /// Per-listener connection limit.
    #[serde(
        rename = "listenerConnectionLimit",
        alias = "listener_connection_limit",
        skip_serializing_if = "Option::is_none"
    )]
    pub listener_connection_limit: Option<i32>,
    /// Global connection limit.
    #[serde(
        rename = "globalDownstreamConnectionLimit",
        alias = "global_downstream_connection_limit",
        skip_serializing_if = "Option::is_none"
    )]
    pub global_downstream_connection_limit: Option<i32>,
}

/// `ConnectionSettings.Profile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionProfile {
    /// Sidecar defaults.
    #[default]
    #[serde(rename = "SIDECAR")]
    Sidecar,
    /// Edge proxy defaults.
    #[serde(rename = "EDGE")]
    Edge,
}

/// `ConnectionSettings.HeadersWithUnderscoresAction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HeadersWithUnderscoresAction {
    /// Unset.
    #[default]
    #[serde(rename = "HEADERS_WITH_UNDERSCORES_UNSPECIFIED")]
    Unspecified,
    /// Allow.
    #[serde(rename = "HEADERS_WITH_UNDERSCORES_ALLOW")]
    Allow,
    /// Reject.
    #[serde(rename = "HEADERS_WITH_UNDERSCORES_REJECT_REQUEST")]
    RejectRequest,
    /// Drop.
    #[serde(rename = "HEADERS_WITH_UNDERSCORES_DROP_HEADER")]
    DropHeader,
}

/// `ConnectionSettings.PathWithEscapedSlashesAction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PathWithEscapedSlashesAction {
    /// Unset.
    #[default]
    #[serde(rename = "PATH_WITH_ESCAPED_SLASHES_UNSPECIFIED")]
    Unspecified,
    /// Keep.
    #[serde(rename = "KEEP_UNCHANGED")]
    KeepUnchanged,
    /// Reject.
    #[serde(rename = "REJECT_REQUEST")]
    RejectRequest,
    /// Unescape and redirect.
    #[serde(rename = "UNESCAPE_AND_REDIRECT")]
    UnescapeAndRedirect,
    /// Unescape and forward.
    #[serde(rename = "UNESCAPE_AND_FORWARD")]
    UnescapeAndForward,
}

// ---- MeshNetworks ----

/// The networks of a multi-network mesh (`mesh/v1alpha1` `MeshNetworks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshNetworks {
    /// Networks by name.
    #[serde(rename = "networks")]
    pub networks: BTreeMap<String, Network>,
}

/// A network: which endpoints are in it and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// How endpoints are assigned to the network.
    #[serde(rename = "endpoints")]
    pub endpoints: Vec<NetworkEndpoints>,
    /// Gateways into the network.
    #[serde(rename = "gateways")]
    pub gateways: Vec<NetworkGateway>,
}

/// Endpoints of a network (a `oneof` of `fromCidr` and `fromRegistry`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkEndpoints {
    /// Endpoints in a CIDR range.
    #[serde(
        rename = "fromCidr",
        alias = "from_cidr",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_cidr: Option<String>,
    /// Endpoints of a registry (cluster).
    #[serde(
        rename = "fromRegistry",
        alias = "from_registry",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_registry: Option<String>,
}

/// A gateway into a network (address a `oneof` of `registryServiceName` and `address`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkGateway {
    /// Service of the gateway.
    #[serde(
        rename = "registryServiceName",
        alias = "registry_service_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub registry_service_name: Option<String>,
    /// Address of the gateway.
    #[serde(rename = "address", skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Locality.
    #[serde(rename = "locality")]
    pub locality: String,
}

// ---- Defaults, reading, merging ----

/// An error reading a mesh config or mesh networks document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct MeshConfigError {
    /// 1-based line of the field (or of the document).
    pub line: usize,
    /// Dotted path of the field (`defaultConfig.drainDuration`), empty for the document.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ProxyConfig {
    /// Istio's `DefaultProxyConfig`.
    pub fn default_istio() -> ProxyConfig {
        ProxyConfig {
            config_path: "./etc/istio/proxy".into(),
            binary_path: "/usr/local/bin/envoy".into(),
            service_cluster: Some("istio-proxy".into()),
            drain_duration: Some(Duration::from_secs(45)),
            termination_drain_duration: Some(Duration::from_secs(5)),
            proxy_admin_port: 15000,
            control_plane_auth_policy: AuthenticationPolicy::MutualTls,
            discovery_address: "istiod.istio-system.svc:15012".into(),
            stat_name_length: 189,
            status_port: 15020,
            ..ProxyConfig::default()
        }
    }
}

impl MeshConfig {
    /// Istio's `DefaultMeshConfig`: what istiod uses when no mesh config is given.
    pub fn default_istio() -> MeshConfig {
        let mut locality = NetworkingObject::new();
        locality.insert("enabled".into(), Value::Bool(true));
        let provider = |name: &str| ExtensionProvider {
            name: name.into(),
            ..ExtensionProvider::default()
        };
        MeshConfig {
            enable_tracing: true,
            access_log_encoding: AccessLogEncoding::Text,
            protocol_detection_timeout: Some(Duration::default()),
            ingress_service: "istio-ingressgateway".into(),
            ingress_controller_mode: IngressControllerMode::Strict,
            ingress_class: "istio".into(),
            trust_domain: "cluster.local".into(),
            enable_auto_mtls: Some(true),
            outbound_traffic_policy: Some(OutboundTrafficPolicy {
                mode: OutboundTrafficMode::AllowAny,
                tls: None,
            }),
            inbound_traffic_policy: Some(InboundTrafficPolicy {
                mode: InboundTrafficMode::Passthrough,
            }),
            locality_lb_setting: Some(locality),
            default_config: Some(ProxyConfig::default_istio()),
            root_namespace: "istio-system".into(),
            proxy_listen_port: 15001,
            proxy_inbound_listen_port: 15006,
            connect_timeout: Some(Duration::from_secs(10)),
            default_service_export_to: vec!["*".into()],
            default_virtual_service_export_to: vec!["*".into()],
            default_destination_rule_export_to: vec!["*".into()],
            dns_refresh_rate: Some(Duration::from_secs(60)),
            enable_prometheus_merge: Some(true),
            default_providers: Some(DefaultProviders::default()),
            extension_providers: vec![
                ExtensionProvider {
                    prometheus: Some(PrometheusMetricsProvider {}),
                    ..provider("prometheus")
                },
                ExtensionProvider {
                    stackdriver: Some(StackdriverProvider::default()),
                    ..provider("stackdriver")
                },
                ExtensionProvider {
                    envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                        path: "/dev/stdout".into(),
                        ..EnvoyFileAccessLogProvider::default()
                    }),
                    ..provider("envoy")
                },
            ],
            ..MeshConfig::default()
        }
    }

    /// Reads a mesh config document exactly as written (no defaults): unknown fields, values of
    /// the wrong type and unknown enum names are errors naming the line and field.
    pub fn from_yaml(text: &str) -> Result<MeshConfig, MeshConfigError> {
        parse_strict(text).map(|(v, _)| v)
    }

    /// Reads a mesh config file the way istiod does (`ApplyMeshConfigDefaults`): fields given
    /// replace Istio's defaults, except that `defaultConfig` is merged field by field (its
    /// `proxyMetadata` key by key), `extensionProviders` replace or extend the default providers
    /// by name, and `trustDomainAliases` are sorted and de-duplicated.
    pub fn from_yaml_with_defaults(text: &str) -> Result<MeshConfig, MeshConfigError> {
        let (_, given) = parse_strict::<MeshConfig>(text)?;
        let mut merged = MeshConfig::default_istio().to_value();
        let (Value::Object(base), Value::Object(given)) = (&mut merged, camel_keys(given)) else {
            return Ok(MeshConfig::default_istio());
        };
        for (key, value) in given {
            match key.as_str() {
                "defaultConfig" => merge_proxy_config(base, value),
                "extensionProviders" => merge_extension_providers(base, value),
                "trustDomainAliases" => {
                    let mut aliases: Vec<Value> = value.as_array().cloned().unwrap_or_default();
                    aliases.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    aliases.dedup();
                    base.insert(key, Value::Array(aliases));
                }
                _ => {
                    base.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).map_err(|e| MeshConfigError {
            line: 1,
            field: String::new(),
            message: e.to_string(),
        })
    }

    /// The config as JSON with protobuf JSON field names (unset optional fields left out).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Istio's `ValidateMeshConfig`, for the fields this model types (the embedded networking
    /// messages are not checked).
    pub fn validate(&self, out: &mut Findings) {
        if let Err(e) = validate_port(i64::from(self.proxy_listen_port)) {
            out.error("proxyListenPort", format!("invalid proxy listen port: {e}"));
        }
        match self.connect_timeout {
            None => out.error(
                "connectTimeout",
                "invalid connect timeout: duration must be greater than 1ms",
            ),
            Some(d) => {
                if let Err(e) = check_ms_duration(d) {
                    out.error("connectTimeout", format!("invalid connect timeout: {e}"));
                }
            }
        }
        if let Some(d) = self.protocol_detection_timeout
            && d.nanos != 0
            && d.nanos % Duration::MILLISECOND.nanos != 0
        {
            out.error(
                "protocolDetectionTimeout",
                "invalid protocol detection timeout: only durations to ms precision are supported",
            );
        }
        match &self.default_config {
            None => out.error("defaultConfig", "missing default config"),
            Some(pc) => pc.validate("defaultConfig", out),
        }
        if let Err(e) = validate_trust_domain(&self.trust_domain) {
            out.error("trustDomain", format!("trustDomain: {e}"));
        }
        for (i, alias) in self.trust_domain_aliases.iter().enumerate() {
            if let Err(e) = validate_trust_domain(alias) {
                out.error(
                    format!("trustDomainAliases[{i}]"),
                    format!("trustDomainAliases[{i}]: {e}"),
                );
            }
        }
        for (i, s) in self.service_settings.iter().enumerate() {
            for (j, h) in s.hosts.iter().enumerate() {
                if let Err(e) = crate::istio::common::validate_wildcard_domain(h) {
                    out.error(
                        format!("serviceSettings[{i}].hosts[{j}]"),
                        format!("serviceSettings[{i}], host `{h}`: {e}"),
                    );
                }
            }
        }
    }
}

impl ProxyConfig {
    /// Istio's `ValidateMeshConfigProxyConfig`; `at` is the path of this config.
    pub fn validate(&self, at: &str, out: &mut Findings) {
        if self.config_path.is_empty() {
            out.error(format!("{at}.configPath"), "config path must be set");
        }
        if self.binary_path.is_empty() {
            out.error(format!("{at}.binaryPath"), "binary path must be set");
        }
        match (&self.service_cluster, &self.tracing_service_name) {
            (Some(_), Some(_)) => out.error(
                format!("{at}.serviceCluster"),
                "only one of serviceCluster or tracingServiceName may be set",
            ),
            (Some(c), None) if c.is_empty() => {
                out.error(
                    format!("{at}.serviceCluster"),
                    "service cluster must be specified",
                );
            }
            (None, None) => out.error(
                format!("{at}.serviceCluster"),
                "oneof service cluster or tracing service name must be specified",
            ),
            _ => {}
        }
        match self.drain_duration {
            None => out.error(
                format!("{at}.drainDuration"),
                "invalid drain duration: duration must be greater than 1ms",
            ),
            Some(d) => {
                if let Err(e) = check_ms_duration(d) {
                    out.error(
                        format!("{at}.drainDuration"),
                        format!("invalid drain duration: {e}"),
                    );
                } else if d.nanos % 1_000_000_000 != 0 {
                    out.error(
                        format!("{at}.drainDuration"),
                        "drain time only supports durations to seconds precision",
                    );
                }
            }
        }
        if self.discovery_address.is_empty() {
            out.error(
                format!("{at}.discoveryAddress"),
                "discovery address must be set to the proxy discovery service",
            );
        } else if let Err(e) = validate_proxy_address(&self.discovery_address) {
            out.error(
                format!("{at}.discoveryAddress"),
                format!("invalid discovery address: {e}"),
            );
        }
        if let Some(t) = &self.tracing {
            t.validate(&format!("{at}.tracing"), out);
        }
        let addresses = [
            (
                "statsdUdpAddress",
                "invalid statsd udp address",
                self.statsd_udp_address.as_str(),
            ),
            (
                "envoyMetricsServiceAddress",
                "invalid envoy metrics service address",
                self.envoy_metrics_service_address.as_str(),
            ),
            (
                "envoyMetricsService.address",
                "invalid envoy metrics service address",
                self.envoy_metrics_service
                    .as_ref()
                    .map_or("", |s| s.address.as_str()),
            ),
            (
                "envoyAccessLogService.address",
                "invalid envoy access log service address",
                self.envoy_access_log_service
                    .as_ref()
                    .map_or("", |s| s.address.as_str()),
            ),
        ];
        for (field, what, addr) in addresses {
            if !addr.is_empty()
                && let Err(e) = validate_proxy_address(addr)
            {
                out.error(format!("{at}.{field}"), format!("{what} {addr:?}: {e}"));
            }
        }
        if self
            .proxy_metadata
            .contains_key("ISTIO_META_DNS_AUTO_ALLOCATE")
        {
            out.warning(
                format!("{at}.proxyMetadata"),
                "'ISTIO_META_DNS_AUTO_ALLOCATE' is deprecated; review https://istio.io/latest/docs/ops/configuration/traffic-management/dns-proxy/#dns-auto-allocation-v2 for information about replacement functionality",
            );
        }
        if let Err(e) = validate_port(i64::from(self.proxy_admin_port)) {
            out.error(
                format!("{at}.proxyAdminPort"),
                format!("invalid proxy admin port: {e}"),
            );
        }
        if self.control_plane_auth_policy == AuthenticationPolicy::Inherit {
            out.error(
                format!("{at}.controlPlaneAuthPolicy"),
                "invalid authentication policy: unrecognized control plane auth policy \"INHERIT\"",
            );
        }
        if let Err(e) = validate_port(i64::from(self.status_port)) {
            out.error(
                format!("{at}.statusPort"),
                format!("invalid status port: {e}"),
            );
        }
        if let Some(c) = self.concurrency
            && c < 0
        {
            out.error(
                format!("{at}.concurrency"),
                "concurrency must be greater than or equal to 0",
            );
        }
        if let Some(cs) = &self.connection_settings {
            cs.validate(&format!("{at}.connectionSettings"), out);
        }
    }
}

impl ProxyTracing {
    fn validate(&self, at: &str, out: &mut Findings) {
        let set = [
            self.zipkin.is_some(),
            self.lightstep.is_some(),
            self.datadog.is_some(),
            self.stackdriver.is_some(),
            self.open_census_agent.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            out.error(at, "only one tracer may be set");
        }
        if let Some(l) = &self.lightstep {
            if l.address.is_empty() {
                out.error(
                    format!("{at}.lightstep.address"),
                    "invalid lightstep config: address is required",
                );
            } else if let Err(e) = validate_proxy_address(&l.address) {
                out.error(
                    format!("{at}.lightstep.address"),
                    format!("invalid lightstep config: invalid lightstep address: {e}"),
                );
            }
            if l.access_token.is_empty() {
                out.error(
                    format!("{at}.lightstep.accessToken"),
                    "invalid lightstep config: access token is required",
                );
            }
        }
        if let Some(z) = &self.zipkin
            && let Err(e) =
                validate_proxy_address(&z.address.replacen("$(HOST_IP)", "127.0.0.1", 1))
        {
            out.error(
                format!("{at}.zipkin.address"),
                format!("invalid zipkin config: {e}"),
            );
        }
        if let Some(d) = &self.datadog
            && let Err(e) =
                validate_proxy_address(&d.address.replacen("$(HOST_IP)", "127.0.0.1", 1))
        {
            out.error(
                format!("{at}.datadog.address"),
                format!("invalid datadog config: {e}"),
            );
        }
    }
}

impl ConnectionSettings {
    fn validate(&self, at: &str, out: &mut Findings) {
        let non_negative_ints = [
            (
                "listenerPerConnectionBufferLimitBytes",
                "listener_per_connection_buffer_limit_bytes",
                self.listener_per_connection_buffer_limit_bytes,
            ),
            (
                "clusterPerConnectionBufferLimitBytes",
                "cluster_per_connection_buffer_limit_bytes",
                self.cluster_per_connection_buffer_limit_bytes,
            ),
        ];
        for (field, name, v) in non_negative_ints {
            if v.is_some_and(|v| v < 0) {
                out.error(
                    format!("{at}.{field}"),
                    format!("{name} must be non-negative"),
                );
            }
        }
        let durations = [
            (
                "httpIdleTimeout",
                "http_idle_timeout",
                self.http_idle_timeout,
            ),
            (
                "httpMaxConnectionDuration",
                "http_max_connection_duration",
                self.http_max_connection_duration,
            ),
            (
                "httpDrainTimeout",
                "http_drain_timeout",
                self.http_drain_timeout,
            ),
            (
                "httpRequestTimeout",
                "http_request_timeout",
                self.http_request_timeout,
            ),
            (
                "httpRequestHeadersTimeout",
                "http_request_headers_timeout",
                self.http_request_headers_timeout,
            ),
            (
                "httpStreamIdleTimeout",
                "http_stream_idle_timeout",
                self.http_stream_idle_timeout,
            ),
            (
                "httpMaxStreamDuration",
                "http_max_stream_duration",
                self.http_max_stream_duration,
            ),
        ];
        for (field, name, d) in durations {
            if d.is_some_and(|d| d.nanos < 0) {
                out.error(
                    format!("{at}.{field}"),
                    format!("{name} must be non-negative"),
                );
            }
        }
        let positive = [
            (
                "httpMaxConcurrentStreams",
                "http_max_concurrent_streams",
                self.http_max_concurrent_streams,
            ),
            (
                "listenerConnectionLimit",
                "listener_connection_limit",
                self.listener_connection_limit,
            ),
            (
                "globalDownstreamConnectionLimit",
                "global_downstream_connection_limit",
                self.global_downstream_connection_limit,
            ),
        ];
        for (field, name, v) in positive {
            if v.is_some_and(|v| v <= 0) {
                out.error(format!("{at}.{field}"), format!("{name} must be positive"));
            }
        }
        let windows = [
            (
                "http2InitialStreamWindowSize",
                "http2_initial_stream_window_size",
                self.http2_initial_stream_window_size,
            ),
            (
                "http2InitialConnectionWindowSize",
                "http2_initial_connection_window_size",
                self.http2_initial_connection_window_size,
            ),
        ];
        for (field, name, v) in windows {
            if v.is_some_and(|v| v < 65535) {
                out.error(
                    format!("{at}.{field}"),
                    format!("{name} must be at least 65535"),
                );
            }
        }
    }
}

impl MeshNetworks {
    /// Reads a mesh networks document strictly (errors name the line and field).
    pub fn from_yaml(text: &str) -> Result<MeshNetworks, MeshConfigError> {
        parse_strict(text).map(|(v, _)| v)
    }

    /// Istio's `ValidateMeshNetworks`.
    pub fn validate(&self, out: &mut Findings) {
        for (name, network) in &self.networks {
            let at = format!("networks.{name}");
            for (i, e) in network.endpoints.iter().enumerate() {
                let p = format!("{at}.endpoints[{i}]");
                if e.from_cidr.is_some() && e.from_registry.is_some() {
                    out.error(&p, "only one of fromCidr or fromRegistry may be set");
                }
                if let Some(c) = &e.from_cidr {
                    if let Err(err) = validate_ip_subnet(c) {
                        out.error(
                            format!("{p}.fromCidr"),
                            format!("invalid network {name}: {err}"),
                        );
                    }
                } else if let Some(r) = &e.from_registry
                    && !is_dns1123_label(r)
                {
                    out.error(
                        format!("{p}.fromRegistry"),
                        format!("invalid network {name}: invalid registry name: {r}"),
                    );
                }
            }
            for (i, g) in network.gateways.iter().enumerate() {
                let p = format!("{at}.gateways[{i}]");
                if g.registry_service_name.is_some() && g.address.is_some() {
                    out.error(&p, "only one of registryServiceName or address may be set");
                }
                if let Some(svc) = &g.registry_service_name {
                    if let Err(err) = validate_fqdn(svc) {
                        out.error(
                            format!("{p}.registryServiceName"),
                            format!("invalid network {name}: {err}"),
                        );
                    }
                } else if let Some(a) = &g.address
                    && !is_ip(a)
                {
                    out.error(
                            format!("{p}.address"),
                            format!("invalid network {name}: {a} is not a valid IP (hostname is allowed if RESOLVE_HOSTNAME_GATEWAYS is enabled)"),
                        );
                }
                if let Err(err) = validate_port(i64::from(g.port)) {
                    out.error(
                        format!("{p}.port"),
                        format!("invalid network {name}: {err}"),
                    );
                }
            }
        }
    }
}

/// Istio's `ValidateDuration`, as a result.
fn check_ms_duration(d: Duration) -> Result<(), String> {
    if d < Duration::MILLISECOND {
        Err("duration must be greater than 1ms".into())
    } else if d.nanos % Duration::MILLISECOND.nanos != 0 {
        Err("only durations to ms precision are supported".into())
    } else {
        Ok(())
    }
}

/// Istio's `ValidateProxyAddress`: `host:port` with a valid port and a hostname or IP.
pub fn validate_proxy_address(addr: &str) -> Result<(), String> {
    let (host, port) = split_host_port(addr)
        .ok_or_else(|| format!("unable to split {addr:?}: missing port in address"))?;
    let port: i64 = port
        .parse()
        .map_err(|_| format!("port ({port}) is not a number"))?;
    validate_port(port)?;
    if validate_fqdn(host).is_err() && !is_ip(host) {
        return Err(format!("{host:?} is not a valid hostname or an IP address"));
    }
    Ok(())
}

fn split_host_port(addr: &str) -> Option<(&str, &str)> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = addr.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

/// Istio's `ValidateTrustDomain`: DNS labels (with `_` allowed), or empty.
fn validate_trust_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    let parts: Vec<&str> = domain.split('.').collect();
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            break;
        }
        if !is_dns1123_label(&label.replace('_', "-")) {
            return Err(format!("trust domain name {domain:?} invalid"));
        }
    }
    Ok(())
}

/// Reads the first non-empty document of `text` strictly into `T`; returns it and the document
/// as JSON (with `null` members removed).
fn parse_strict<T: DeserializeOwned + Default>(text: &str) -> Result<(T, Value), MeshConfigError> {
    let docs = yaml::parse_stream(text).map_err(|e| MeshConfigError {
        line: e.line,
        field: String::new(),
        message: e.message,
    })?;
    let Some(doc) = docs.into_iter().find(|d| !d.value.is_null()) else {
        return Ok((T::default(), Value::Object(Map::new())));
    };
    if !doc.value.is_object() {
        return Err(MeshConfigError {
            line: doc.line,
            field: String::new(),
            message: "the document must be a mapping".into(),
        });
    }
    let mut value = doc.value;
    crate::istio::decode::strip_nulls(&mut value);
    match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(v) => Ok((v, value)),
        Err(e) => {
            let field = e.path().to_string();
            let line = doc.lines.line_of(&pointer(&field)).unwrap_or(doc.line);
            Err(MeshConfigError {
                line,
                field,
                message: e.into_inner().to_string(),
            })
        }
    }
}

/// Protobuf's JSON name of a field name (`default_config` → `defaultConfig`).
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the top-level keys of an object to their JSON names.
fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (json_name(&k), v)).collect()),
        other => other,
    }
}

fn merge_proxy_config(base: &mut Map<String, Value>, given: Value) {
    let Value::Object(given) = camel_keys(given) else {
        return;
    };
    let pc = base
        .entry("defaultConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(pc) = pc else { return };
    for (key, value) in given {
        match (key.as_str(), pc.get_mut(&key), value) {
            ("proxyMetadata", Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
            (_, _, value) => {
                pc.insert(key, value);
            }
        }
    }
}

fn merge_extension_providers(base: &mut Map<String, Value>, given: Value) {
    let mut list = base
        .get("extensionProviders")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in given.as_array().cloned().unwrap_or_default() {
        let name = p.get("name").cloned();
        match list.iter_mut().find(|e| e.get("name") == name.as_ref()) {
            Some(existing) => *existing = p,
            None => list.push(p),
        }
    }
    base.insert("extensionProviders".into(), Value::Array(list));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            Duration::parse("1m30s").map(|d| d.nanos),
            Ok(90_000_000_000)
        );
        assert!(Duration::parse("10").is_err());
        assert_eq!(Duration::from_secs(45).to_string(), "45s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(Duration::from_millis(-5).to_string(), "-0.005s");
    }

    #[test]
    fn istio_defaults() {
        let m = MeshConfig::default_istio();
        assert_eq!(m.trust_domain, "cluster.local");
        assert_eq!(m.root_namespace, "istio-system");
        assert_eq!(
            m.outbound_traffic_policy.as_ref().map(|p| p.mode),
            Some(OutboundTrafficMode::AllowAny)
        );
        assert_eq!(m.enable_auto_mtls, Some(true));
        assert_eq!(m.access_log_file, "");
        let pc = m.default_config.as_ref().unwrap();
        assert_eq!(pc.discovery_address, "istiod.istio-system.svc:15012");
        assert_eq!((pc.proxy_admin_port, pc.status_port), (15000, 15020));
        assert_eq!(pc.drain_duration, Some(Duration::from_secs(45)));
        assert_eq!(pc.termination_drain_duration, Some(Duration::from_secs(5)));
        let mut out = Findings::default();
        m.validate(&mut out);
        assert!(out.as_slice().is_empty(), "{:?}", out.as_slice());
        let v = m.to_value();
        assert_eq!(v["outboundTrafficPolicy"]["mode"], "ALLOW_ANY");
        assert_eq!(v["defaultConfig"]["drainDuration"], "45s");
        let back: MeshConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn strict_reading_names_line_and_field() {
        let text = "enableAutoMtls: true\ndefaultConfig:\n  drainDuration: 45s\n  bogus: 1\n";
        let e = MeshConfig::from_yaml(text).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (4, "defaultConfig.bogus"),
            "{e}"
        );
        let e = MeshConfig::from_yaml("outboundTrafficPolicy:\n  mode: SOMETIMES\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (2, "outboundTrafficPolicy.mode"),
            "{e}"
        );
        let e = MeshConfig::from_yaml("connectTimeout: 10\n").unwrap_err();
        assert_eq!(e.field, "connectTimeout", "{e}");
        let m = MeshConfig::from_yaml("default_config:\n  proxy_admin_port: 15001\nmesh_mTLS:\n  minProtocolVersion: TLSV1_3\n").unwrap();
        assert_eq!(m.default_config.unwrap().proxy_admin_port, 15001);
        assert_eq!(
            m.mesh_mtls.unwrap().min_protocol_version,
            TlsProtocol::Tlsv13
        );
        assert_eq!(MeshConfig::from_yaml("").unwrap(), MeshConfig::default());
    }

    #[test]
    fn merging_over_defaults() {
        let text = "accessLogFile: /dev/stdout\ndefaultConfig:\n  proxyMetadata:\n    A: b\n  concurrency: 2\nextensionProviders:\n- name: envoy\n  envoyFileAccessLog:\n    path: /tmp/log\n- name: zipkin\n  zipkin:\n    service: zipkin.istio-system.svc.cluster.local\n    port: 9411\n";
        let m = MeshConfig::from_yaml_with_defaults(text).unwrap();
        assert_eq!(m.access_log_file, "/dev/stdout");
        assert_eq!(m.trust_domain, "cluster.local");
        let pc = m.default_config.as_ref().unwrap();
        assert_eq!(pc.concurrency, Some(2));
        assert_eq!(pc.discovery_address, "istiod.istio-system.svc:15012");
        assert_eq!(pc.proxy_metadata.get("A").map(String::as_str), Some("b"));
        let names: Vec<&str> = m
            .extension_providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["prometheus", "stackdriver", "envoy", "zipkin"]);
        assert_eq!(
            m.extension_providers[2]
                .envoy_file_access_log
                .as_ref()
                .unwrap()
                .path,
            "/tmp/log"
        );
    }

    #[test]
    fn proxy_config_rules() {
        let cases: &[(&str, Option<&str>)] = &[
            ("discoveryAddress: istiod:15012", None),
            (
                "discoveryAddress: istiod",
                Some("invalid discovery address"),
            ),
            (
                "discoveryAddress: 'istiod:70000'",
                Some("must be in the range 1..65535"),
            ),
            ("drainDuration: 1.5s", Some("seconds precision")),
            ("proxyAdminPort: 0", Some("invalid proxy admin port")),
            ("tracing:\n  zipkin:\n    address: $(HOST_IP):9411", None),
            (
                "tracing:\n  lightstep:\n    address: ls:8080",
                Some("access token is required"),
            ),
            (
                "concurrency: -1",
                Some("concurrency must be greater than or equal to 0"),
            ),
            (
                "connectionSettings:\n  http2InitialStreamWindowSize: 100",
                Some("must be at least 65535"),
            ),
        ];
        for (yaml, want) in cases {
            let text = format!(
                "defaultConfig:\n{}",
                yaml.lines().map(|l| format!("  {l}\n")).collect::<String>()
            );
            let m = MeshConfig::from_yaml_with_defaults(&text).unwrap();
            let mut out = Findings::default();
            m.validate(&mut out);
            let errs: Vec<String> = out
                .into_vec()
                .into_iter()
                .filter(|f| f.severity == crate::validate::Severity::Error)
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            match want {
                None => assert!(errs.is_empty(), "{yaml}: {errs:?}"),
                Some(w) => assert!(
                    errs.iter().any(|e| e.contains(w)),
                    "{yaml}: want {w:?} in {errs:?}"
                ),
            }
        }
    }

    #[test]
    fn mesh_networks() {
        let text = "networks:\n  network1:\n    endpoints:\n    - fromRegistry: kubernetes\n    gateways:\n    - port: 443\n      registry_service_name: istio-ingressgateway.istio-system.svc.cluster.local\n  network2:\n    endpoints:\n    - fromCidr: 10.0.0.0/33\n    gateways:\n    - address: not-an-ip\n      port: 0\n";
        let n = MeshNetworks::from_yaml(text).unwrap();
        assert_eq!(n.networks.len(), 2);
        let mut out = Findings::default();
        n.validate(&mut out);
        let paths: Vec<&str> = out.as_slice().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "networks.network2.endpoints[0].fromCidr",
                "networks.network2.gateways[0].address",
                "networks.network2.gateways[0].port"
            ]
        );
        let e =
            MeshNetworks::from_yaml("networks:\n  n:\n    gateways:\n    - port: x\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
    }
}
