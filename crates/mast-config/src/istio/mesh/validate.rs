//! Istio's `ValidateMeshConfig` and `ValidateMeshConfigProxyConfig`, for the fields this model
//! types, and the address and trust domain checks they use.

use super::{
    AuthenticationPolicy, ConnectionSettings, Duration, MeshConfig, ProxyConfig, ProxyTracing,
};
use crate::istio::common::{is_dns1123_label, is_ip, validate_fqdn, validate_port};
use crate::validate::Findings;

impl MeshConfig {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            crate::validate::expect_errors(yaml, &out.error_lines(), *want);
        }
    }
}
