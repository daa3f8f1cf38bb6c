//! Istio's checks of a traffic policy (`validateTrafficPolicy` and what it calls), shared with
//! the connection pools of a Sidecar.

mod locality;

use super::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, H2UpgradePolicy,
    LoadBalancerSettings, OutlierDetection, PortTrafficPolicy, TrafficPolicy, TunnelSettings,
};
use crate::istio::common::{
    check_duration, check_oneof, validate_duration, validate_fqdn, validate_ip_address,
    validate_port,
};
use crate::istio::networking::Context;
use crate::validate::Findings;

/// Checks a traffic policy (of the rule or of a subset) at `path`.
pub(crate) fn validate_traffic_policy(
    tp: &TrafficPolicy,
    ctx: &Context<'_>,
    out: &mut Findings,
    path: &str,
) {
    if tp.outlier_detection.is_none()
        && tp.connection_pool.is_none()
        && tp.load_balancer.is_none()
        && tp.tls.is_none()
        && tp.port_level_settings.is_empty()
        && tp.tunnel.is_none()
        && tp.proxy_protocol.is_none()
        && tp.retry_budget.is_none()
    {
        out.error(path, "traffic policy must have at least one field");
        return;
    }
    if tp.tunnel.is_some() && tp.proxy_protocol.is_some() {
        out.error(path, "tunnel and proxyProtocol must not be set together");
        return;
    }
    check_parts(
        Parts {
            outlier: tp.outlier_detection.as_ref(),
            pool: tp.connection_pool.as_ref(),
            lb: tp.load_balancer.as_ref(),
            tls: tp.tls.as_ref(),
        },
        ctx,
        out,
        path,
    );
    for (i, p) in tp.port_level_settings.iter().enumerate() {
        validate_port_policy(p, ctx, out, &format!("{path}.portLevelSettings[{i}]"));
    }
    if let Some(t) = &tp.tunnel {
        validate_tunnel(t, out, &format!("{path}.tunnel"));
    }
    if let Some(rb) = &tp.retry_budget {
        let p = format!("{path}.retryBudget");
        check_duration(
            out,
            &format!("{p}.budgetInterval"),
            rb.budget_interval.as_deref(),
        );
        if rb.percent.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
            out.error(format!("{p}.percent"), "percent must be between 0 and 100");
        }
    }
}

/// The parts a rule-level and a port-level policy have in common.
struct Parts<'a> {
    outlier: Option<&'a OutlierDetection>,
    pool: Option<&'a ConnectionPoolSettings>,
    lb: Option<&'a LoadBalancerSettings>,
    tls: Option<&'a ClientTlsSettings>,
}

fn check_parts(parts: Parts<'_>, ctx: &Context<'_>, out: &mut Findings, path: &str) {
    if let Some(o) = parts.outlier {
        validate_outlier_detection(o, out, &format!("{path}.outlierDetection"));
    }
    if let Some(c) = parts.pool {
        validate_connection_pool(c, out, &format!("{path}.connectionPool"));
    }
    if let Some(lb) = parts.lb {
        validate_load_balancer(lb, parts.outlier, out, &format!("{path}.loadBalancer"));
    }
    if let Some(t) = parts.tls {
        validate_client_tls(t, ctx, out, &format!("{path}.tls"));
    }
}

fn validate_port_policy(p: &PortTrafficPolicy, ctx: &Context<'_>, out: &mut Findings, path: &str) {
    if p.port.is_none() {
        out.error(path, "portTrafficPolicy must have valid port");
    }
    if p.outlier_detection.is_none()
        && p.connection_pool.is_none()
        && p.load_balancer.is_none()
        && p.tls.is_none()
    {
        out.error(path, "port traffic policy must have at least one field");
        return;
    }
    check_parts(
        Parts {
            outlier: p.outlier_detection.as_ref(),
            pool: p.connection_pool.as_ref(),
            lb: p.load_balancer.as_ref(),
            tls: p.tls.as_ref(),
        },
        ctx,
        out,
        path,
    );
}

fn validate_tunnel(t: &TunnelSettings, out: &mut Findings, path: &str) {
    if !t.protocol.is_empty() && t.protocol != "CONNECT" && t.protocol != "POST" {
        out.error(
            format!("{path}.protocol"),
            "tunnel protocol must be \"CONNECT\" or \"POST\"",
        );
    }
    if let (Err(fqdn), Err(ip)) = (
        validate_fqdn(&t.target_host),
        validate_ip_address(&t.target_host),
    ) {
        out.error(
            format!("{path}.targetHost"),
            format!("tunnel target host must be valid FQDN or IP address: {fqdn}; {ip}"),
        );
    }
    if let Err(e) = validate_port(t.target_port.into()) {
        out.error(
            format!("{path}.targetPort"),
            format!("tunnel target port is invalid: {e}"),
        );
    }
}

fn validate_percent(v: i32) -> Result<(), String> {
    if (0..=100).contains(&v) {
        Ok(())
    } else {
        Err(format!("percentage {v} is not in range 0..100"))
    }
}

fn validate_outlier_detection(o: &OutlierDetection, out: &mut Findings, path: &str) {
    validate_duration(
        out,
        &format!("{path}.baseEjectionTime"),
        o.base_ejection_time.as_deref(),
    );
    if o.consecutive_errors != 0 {
        out.warning(
            format!("{path}.consecutiveErrors"),
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
        );
    }
    if !o.split_external_local_origin_errors && o.consecutive_local_origin_failures.unwrap_or(0) > 0
    {
        out.error(
            format!("{path}.consecutiveLocalOriginFailures"),
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        );
    }
    validate_duration(out, &format!("{path}.interval"), o.interval.as_deref());
    if let Err(e) = validate_percent(o.max_ejection_percent) {
        out.error(format!("{path}.maxEjectionPercent"), e);
    }
    if let Err(e) = validate_percent(o.min_health_percent) {
        out.error(format!("{path}.minHealthPercent"), e);
    }
}

/// Istio's `validateConnectionPool`: something must be set, counts are not negative, durations
/// are whole milliseconds of at least 1ms.
pub(crate) fn validate_connection_pool(c: &ConnectionPoolSettings, out: &mut Findings, path: &str) {
    if c.http.is_none() && c.tcp.is_none() {
        out.error(path, "connection pool must have at least one field");
        return;
    }
    if let Some(h) = &c.http {
        let p = format!("{path}.http");
        let counts = [
            (
                h.http1_max_pending_requests,
                "http1MaxPendingRequests",
                "http1 max pending requests",
            ),
            (
                h.http2_max_requests,
                "http2MaxRequests",
                "http2 max requests",
            ),
            (
                h.max_requests_per_connection,
                "maxRequestsPerConnection",
                "max requests per connection",
            ),
            (h.max_retries, "maxRetries", "max retries"),
            (
                h.max_concurrent_streams,
                "maxConcurrentStreams",
                "max concurrent streams",
            ),
        ];
        for (v, field, what) in counts {
            if v < 0 {
                out.error(
                    format!("{p}.{field}"),
                    format!("{what} must be non-negative"),
                );
            }
        }
        validate_duration(out, &format!("{p}.idleTimeout"), h.idle_timeout.as_deref());
        if h.h2_upgrade_policy == H2UpgradePolicy::Upgrade && h.use_client_protocol {
            out.error(
                &p,
                "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
            );
        }
        if let Some(k) = &h.http2_keep_alive {
            let kp = format!("{p}.http2KeepAlive");
            for (field, v) in [("interval", &k.interval), ("timeout", &k.timeout)] {
                if v.is_none() {
                    out.error(&kp, format!("http2 keepalive {field} is required"));
                }
                validate_duration(out, &format!("{kp}.{field}"), v.as_deref());
            }
        }
    }
    if let Some(t) = &c.tcp {
        let p = format!("{path}.tcp");
        if t.max_connections < 0 {
            out.error(
                format!("{p}.maxConnections"),
                "max connections must be non-negative",
            );
        }
        validate_duration(
            out,
            &format!("{p}.connectTimeout"),
            t.connect_timeout.as_deref(),
        );
        let mcd = format!("{p}.maxConnectionDuration");
        validate_duration(out, &mcd, t.max_connection_duration.as_deref());
        let idle = format!("{p}.idleTimeout");
        // `0s` turns the idle timeout off.
        if check_duration(out, &idle, t.idle_timeout.as_deref()).is_some_and(|n| n / 1_000_000 != 0)
        {
            validate_duration(out, &idle, t.idle_timeout.as_deref());
        }
        if let Some(ka) = &t.tcp_keepalive {
            let kp = format!("{p}.tcpKeepalive");
            validate_duration(out, &format!("{kp}.time"), ka.time.as_deref());
            validate_duration(out, &format!("{kp}.interval"), ka.interval.as_deref());
        }
    }
}

/// Envoy's primality test for Maglev table sizes.
fn is_prime(x: u64) -> bool {
    if x != 0 && x < 4 {
        return true;
    }
    if x & 1 == 0 {
        return false;
    }
    let limit = (x as f64).sqrt() as u64;
    (3..=limit).step_by(2).all(|f| !x.is_multiple_of(f))
}

fn validate_load_balancer(
    lb: &LoadBalancerSettings,
    outlier: Option<&OutlierDetection>,
    out: &mut Findings,
    path: &str,
) {
    check_oneof(
        out,
        path,
        &[
            ("simple", lb.simple.is_some()),
            ("consistentHash", lb.consistent_hash.is_some()),
            ("backendUtilization", lb.backend_utilization.is_some()),
        ],
    );
    if let Some(ch) = &lb.consistent_hash {
        validate_consistent_hash(ch, out, &format!("{path}.consistentHash"));
    }
    if let Some(bu) = &lb.backend_utilization {
        let p = format!("{path}.backendUtilization");
        check_duration(
            out,
            &format!("{p}.weightExpirationPeriod"),
            bu.weight_expiration_period.as_deref(),
        );
        check_duration(
            out,
            &format!("{p}.weightUpdatePeriod"),
            bu.weight_update_period.as_deref(),
        );
        check_duration(
            out,
            &format!("{p}.weightStabilizationPeriod"),
            bu.weight_stabilization_period.as_deref(),
        );
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        out.error(
            path,
            "only one of localityLbSetting and zoneAwareLbSetting can be set",
        );
    }
    if let Some(l) = &lb.locality_lb_setting {
        locality::validate_locality_lb(l, outlier, out, &format!("{path}.localityLbSetting"));
    }
    if let Some(z) = &lb.zone_aware_lb_setting {
        locality::validate_zone_aware_lb(z, outlier, out, &format!("{path}.zoneAwareLbSetting"));
    }
    if lb.warmup_duration_secs.is_some() && lb.warmup.is_some() {
        out.error(path, "only one of warmupDurationSecs or warmup can be set");
    }
    check_duration(
        out,
        &format!("{path}.warmupDurationSecs"),
        lb.warmup_duration_secs.as_deref(),
    );
    if let Some(w) = &lb.warmup {
        let p = format!("{path}.warmup");
        if w.duration.is_none() {
            out.error(&p, "duration is required");
        }
        validate_duration(out, &format!("{p}.duration"), w.duration.as_deref());
        if w.minimum_percent.unwrap_or(0.0) > 100.0 {
            out.error(
                format!("{p}.minimumPercent"),
                "minimumPercent value should be less than or equal to 100",
            );
        }
        if w.aggression.is_some_and(|a| a <= 0.0) {
            out.error(
                format!("{p}.aggression"),
                "aggression should be greater than 0",
            );
        }
    }
}

fn validate_consistent_hash(ch: &super::ConsistentHashLb, out: &mut Findings, path: &str) {
    check_oneof(
        out,
        path,
        &[
            ("httpHeaderName", ch.http_header_name.is_some()),
            ("httpCookie", ch.http_cookie.is_some()),
            ("useSourceIp", ch.use_source_ip.is_some()),
            (
                "httpQueryParameterName",
                ch.http_query_parameter_name.is_some(),
            ),
        ],
    );
    check_oneof(
        out,
        path,
        &[
            ("ringHash", ch.ring_hash.is_some()),
            ("maglev", ch.maglev.is_some()),
        ],
    );
    if let Some(c) = &ch.http_cookie {
        let p = format!("{path}.httpCookie");
        if c.name.is_empty() {
            out.error(&p, "name required for HttpCookie");
        }
        check_duration(out, &format!("{p}.ttl"), c.ttl.as_deref());
        let mut seen: Vec<&str> = Vec::new();
        for (i, a) in c.attributes.iter().enumerate() {
            let ap = format!("{p}.attributes[{i}]");
            if a.name.is_empty() {
                out.error(ap, "cookie attribute name cannot be empty");
                continue;
            }
            if seen.contains(&a.name.as_str()) {
                out.error(ap, format!("duplicate cookie attribute name: {}", a.name));
            } else {
                seen.push(&a.name);
            }
        }
    }
    if ch.minimum_ring_size != 0 {
        out.warning(
            format!("{path}.minimumRingSize"),
            "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
        );
        if ch.ring_hash.is_some() || ch.maglev.is_some() {
            out.error(
                path,
                "only one of MinimumRingSize or Maglev/Ringhash can be specified",
            );
        }
    }
    if let Some(m) = &ch.maglev {
        let p = format!("{path}.maglev.tableSize");
        if m.table_size == 0 {
            out.error(&p, "tableSize must be set for maglev");
        }
        if m.table_size >= 5_000_011 {
            out.error(&p, "tableSize must be less than 5000011 for maglev");
        }
        if !is_prime(m.table_size) {
            out.error(&p, "tableSize must be a prime number for maglev");
        }
    }
}

/// Istio's `ValidateTLS` for client TLS settings.
fn validate_client_tls(t: &ClientTlsSettings, ctx: &Context<'_>, out: &mut Findings, path: &str) {
    check_configmap_credential(t, ctx, out, path);
    if t.insecure_skip_verify == Some(true) {
        if t.mode == ClientTlsMode::Simple
            && (!t.ca_certificates.is_empty()
                || !t.credential_name.is_empty()
                || !t.subject_alt_names.is_empty())
        {
            out.error(
                path,
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            );
        }
        if t.mode == ClientTlsMode::Mutual
            && (!t.ca_certificates.is_empty() || !t.subject_alt_names.is_empty())
        {
            out.error(
                path,
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
            );
        }
    }
    let simple_or_mutual = matches!(t.mode, ClientTlsMode::Simple | ClientTlsMode::Mutual);
    if simple_or_mutual && !t.credential_name.is_empty() {
        if !t.client_certificate.is_empty()
            || !t.ca_certificates.is_empty()
            || !t.private_key.is_empty()
            || !t.ca_crl.is_empty()
        {
            out.error(
                path,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
            );
        }
        return;
    }
    if t.mode == ClientTlsMode::Mutual {
        if t.client_certificate.is_empty() {
            out.error(path, "client certificate required for mutual tls");
        }
        if t.private_key.is_empty() {
            out.error(path, "private key required for mutual tls");
        }
    }
}

/// A `configmap://namespace/name` credential must be in the rule's own namespace (checked
/// only when that namespace is known).
fn check_configmap_credential(
    t: &ClientTlsSettings,
    ctx: &Context<'_>,
    out: &mut Findings,
    path: &str,
) {
    let Some(rest) = t.credential_name.strip_prefix("configmap://") else {
        return;
    };
    let p = format!("{path}.credentialName");
    let parts: Vec<&str> = rest.split('/').collect();
    let problem = match parts.as_slice() {
        [_] => Some("Expected namespace and name"),
        ["", ..] => Some("Expected namespace"),
        [_, "", ..] => Some("Expected name"),
        _ => None,
    };
    if let Some(problem) = problem {
        out.error(
            p,
            format!(
                "invalid configmap:// credentialName: invalid resource name {:?}. {problem}",
                t.credential_name
            ),
        );
    } else if !ctx.namespace.is_empty() && parts[0] != ctx.namespace {
        out.error(
            p,
            format!(
                "invalid configmap:// credentialName: namespace must match the configuration namespace {:?}",
                ctx.namespace
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        assert!(is_prime(65537));
        assert!(!is_prime(65536));
        assert!(is_prime(3));
    }
}
