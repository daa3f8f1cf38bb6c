//! Tracing providers of `ExtensionProvider` (Zipkin, Lightstep, Datadog, SkyWalking,
//! Stackdriver, OpenCensus, OpenTelemetry) and the export settings they use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Duration;

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
