//! `ConnectionSettings`: the connection settings of a proxy (`ProxyConfig.connectionSettings`).

use serde::{Deserialize, Serialize};

use super::Duration;

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
