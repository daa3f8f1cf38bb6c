//! Mesh-wide configuration: `MeshConfig` (with its `defaultConfig` `ProxyConfig`) and
//! `MeshNetworks`, as istio/api `mesh/v1alpha1` defines them, with Istio's defaults, strict
//! reading from YAML (errors name the line and field), Istio's merge of a mesh config file over
//! the defaults, and Istio's validation of both.
//!
//! Field names are the protobuf JSON names (`defaultConfig`); the original protobuf names
//! (`default_config`) are accepted too, as Istio's reader accepts them. Messages of
//! `networking.istio.io` embedded here (TLS settings, load balancer settings, retries…) are kept
//! as JSON objects ([`NetworkingObject`]).

mod access_log_providers;
mod connection_settings;
mod defaults;
mod duration;
mod extension_provider;
mod mesh_config;
mod networks;
mod proxy_config;
mod proxy_headers;
mod proxy_tracing;
mod read;
mod services;
mod tls;
mod tracing_providers;
mod validate;

pub use access_log_providers::{
    EnvoyFileAccessLogProvider, EnvoyHttpGrpcV3LogProvider, EnvoyOpenTelemetryLogProvider,
    EnvoyTcpGrpcV3LogProvider, FileLogFormat, OtelLogFormat,
};
pub use connection_settings::{
    ConnectionProfile, ConnectionSettings, HeadersWithUnderscoresAction,
    PathWithEscapedSlashesAction,
};
pub use duration::Duration;
pub use extension_provider::{
    EnvoyExternalAuthorizationGrpcProvider, EnvoyExternalAuthorizationHttpProvider,
    EnvoyExternalAuthorizationRequestBody, ExtensionProvider, PrometheusMetricsProvider,
    SdsProvider,
};
pub use mesh_config::{
    AccessLogEncoding, ConfigResource, ConfigSource, DefaultProviders, DefaultTrafficPolicy,
    H2UpgradePolicy, InboundTrafficMode, InboundTrafficPolicy, IngressControllerMode, MeshConfig,
    NetworkingObject, NormalizationType, OutboundTrafficMode, OutboundTrafficPolicy,
    ProxyPathNormalization,
};
pub use networks::{MeshNetworks, Network, NetworkEndpoints, NetworkGateway};
pub use proxy_config::{
    AuthenticationPolicy, ForwardClientCertDetails, InboundInterceptionMode, PollingProvider,
    PrivateKeyProvider, ProxyConfig, ProxyStatsMatcher, RemoteService, Sds, Topology,
    TracingServiceName,
};
pub use proxy_headers::{
    HeaderDisabled, HeaderEnabled, MetadataExchangeHeaders, MetadataExchangeMode, ProxyHeaders,
    ServerHeader, SetCurrentClientCertDetails,
};
pub use proxy_tracing::{
    DatadogTracer, LightstepTracer, OpenCensusAgentTracer, ProxyCustomTag, ProxyTagLiteral,
    ProxyTagSource, ProxyTracing, StackdriverTracer, ZipkinTracer,
};
pub use read::MeshConfigError;
pub use services::{
    LabelSelector, LabelSelectorRequirement, ServiceEntryVisibility, ServiceScope,
    ServiceScopeConfigs, ServiceSettings, ServiceSettingsValues, Visibility, VisibilityMatchRule,
    VisibilityPolicy,
};
pub use tls::{CaConfig, Certificate, CertificateData, TlsConfig, TlsProtocol};
pub use tracing_providers::{
    DatadogTracingProvider, DynatraceApi, DynatraceSampler, EmptyObject, GrpcService, HttpHeader,
    HttpService, LightstepTracingProvider, OpenCensusAgentTracingProvider, OpenCensusTraceContext,
    OpenTelemetryTracingProvider, ResourceDetectors, ServiceAttributeEnrichment,
    SkyWalkingTracingProvider, StackdriverLogging, StackdriverProvider, TraceContextOption,
    ZipkinTracingProvider,
};
pub use validate::validate_proxy_address;
