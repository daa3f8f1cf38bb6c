//! `ProxyHeaders`: the headers a proxy adds or removes (`ProxyConfig.proxyHeaders`).

use serde::{Deserialize, Serialize};

use super::ForwardClientCertDetails;

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
