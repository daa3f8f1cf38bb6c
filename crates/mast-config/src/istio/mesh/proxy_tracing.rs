//! `ProxyTracing`: the tracer settings of a proxy (`ProxyConfig.tracing`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{NetworkingObject, OpenCensusTraceContext};

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
