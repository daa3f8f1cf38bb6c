//! Access log providers of `ExtensionProvider`: a file, or an Envoy or OpenTelemetry access log
//! service.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
