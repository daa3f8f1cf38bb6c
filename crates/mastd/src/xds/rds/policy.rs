//! Per-route policies of a VirtualService HTTP route translated as istiod does: retries,
//! fault injection, CORS, mirroring and header operations (redirects, direct responses and
//! hash policies are in [`super::actions`]).

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent,
    header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    RetryPolicy, retry_policy, route_action::RequestMirrorPolicy,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{FaultDelay, fault_delay};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as EnvoyCors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort,
};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig;
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::util::pack_any;
use mast_config::istio::networking::virtual_service::{
    CorsPolicy, HttpFaultInjection, HttpRetry, HttpRoute, Percent, UnmatchedPreflights,
};

use super::util::{bool_value, exact, parse_duration, string_match, u32_value, warn_once};

const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
const DEFAULT_INBOUND_RETRY_ON: &str = "reset-before-request";

fn previous_hosts() -> retry_policy::RetryHostPredicate {
    retry_policy::RetryHostPredicate {
        name: "envoy.retry_host_predicates.previous_hosts".into(),
        config_type: Some(retry_policy::retry_host_predicate::ConfigType::TypedConfig(
            pack_any(PreviousHostsPredicate::default()),
        )),
    }
}

/// istiod's outbound retry policy: its default when `retries` is absent (2 attempts on
/// connection failures, another host each time unless consistent hashing is used), none when
/// `attempts` is 0, else the translated policy.
pub fn retry_policy(retries: Option<&HttpRetry>, consistent_hash: bool) -> Option<RetryPolicy> {
    let mut out = RetryPolicy {
        num_retries: u32_value(2),
        retry_on: DEFAULT_RETRY_ON.into(),
        host_selection_retry_max_attempts: 5,
        retry_host_predicate: if consistent_hash {
            vec![]
        } else {
            vec![previous_hosts()]
        },
        ..Default::default()
    };
    let Some(r) = retries else { return Some(out) };
    if r.attempts <= 0 {
        return None;
    }
    out.num_retries = u32_value(r.attempts as u32);
    if !r.retry_on.is_empty() {
        (out.retry_on, out.retriable_status_codes) = parse_retry_on(&r.retry_on);
    }
    out.per_try_timeout = r
        .per_try_timeout
        .as_deref()
        .and_then(|t| parse_duration(t, "retries.perTryTimeout"));
    if let Some(ignore) = r.retry_ignore_previous_hosts {
        out.retry_host_predicate = if ignore {
            vec![previous_hosts()]
        } else {
            vec![]
        };
    }
    if r.retry_remote_localities == Some(true) {
        out.retry_priority = Some(retry_policy::RetryPriority {
            name: "envoy.retry_priorities.previous_priorities".into(),
            config_type: Some(retry_policy::retry_priority::ConfigType::TypedConfig(
                pack_any(PreviousPrioritiesConfig {
                    update_frequency: 2,
                }),
            )),
        });
    }
    if let Some(b) = r
        .backoff
        .as_deref()
        .and_then(|b| parse_duration(b, "retries.backoff"))
    {
        out.retry_back_off = Some(retry_policy::RetryBackOff {
            base_interval: Some(b),
            ..Default::default()
        });
    }
    Some(out)
}

/// istiod's inbound retry policy: 2 retries of requests reset before reaching the application.
pub fn inbound_retry_policy() -> RetryPolicy {
    RetryPolicy {
        num_retries: u32_value(2),
        retry_on: DEFAULT_INBOUND_RETRY_ON.into(),
        ..Default::default()
    }
}

/// HTTP status codes Go's `http.StatusText` knows: those in `retryOn` become retriable codes.
fn known_status(code: u32) -> bool {
    matches!(code, 100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429 | 431 | 451 | 500..=508 | 510 | 511)
}

/// Splits `retryOn` into Envoy conditions and status codes, adding `retriable-status-codes`
/// when codes are listed.
pub fn parse_retry_on(s: &str) -> (String, Vec<u32>) {
    let mut codes = Vec::new();
    let mut conds = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(c) if known_status(c) => codes.push(c),
            _ => conds.push(part),
        }
    }
    let mut on = conds.join(",");
    if !codes.is_empty() && !on.contains("retriable-status-codes") {
        if !on.is_empty() {
            on.push(',');
        }
        on.push_str("retriable-status-codes");
    }
    (on, codes)
}

/// A percentage in [0, 100] as a fraction of a million.
pub fn percent(p: &Percent) -> FractionalPercent {
    FractionalPercent {
        numerator: (p.value * 10_000.0) as u32,
        denominator: DenominatorType::Million as i32,
    }
}

/// An integer percentage as a fraction of a hundred.
pub fn int_percent(p: u32) -> FractionalPercent {
    FractionalPercent {
        numerator: p,
        denominator: DenominatorType::Hundred as i32,
    }
}

const GRPC_CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Fault injection as the per-route config of `envoy.filters.http.fault`; `None` when
/// nothing can be injected.
pub fn fault(f: &HttpFaultInjection) -> Option<HttpFault> {
    let delay = f.delay.as_ref().and_then(|d| {
        let Some(fixed) = d.fixed_delay.as_deref() else {
            warn_once(
                "fault.delay.exponentialDelay",
                "fault.delay: exponentialDelay is not supported; the delay is ignored",
            );
            return None;
        };
        let percentage = match &d.percentage {
            Some(p) => percent(p),
            None => int_percent(d.percent.max(0) as u32),
        };
        Some(FaultDelay {
            percentage: Some(percentage),
            fault_delay_secifier: parse_duration(fixed, "fault.delay.fixedDelay")
                .map(fault_delay::FaultDelaySecifier::FixedDelay),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let error_type = if let Some(s) = a.http_status {
            fault_abort::ErrorType::HttpStatus(s as u32)
        } else if let Some(g) = a.grpc_status.as_deref() {
            let code = GRPC_CODES.iter().position(|c| *c == g).unwrap_or(2);
            fault_abort::ErrorType::GrpcStatus(code as u32)
        } else {
            warn_once("fault.abort.http2Error", "fault.abort: only httpStatus and grpcStatus aborts are supported; the abort is ignored");
            return None;
        };
        Some(FaultAbort { percentage: a.percentage.as_ref().map(percent), error_type: Some(error_type), ..Default::default() })
    });
    (delay.is_some() || abort.is_some()).then(|| HttpFault {
        delay,
        abort,
        ..Default::default()
    })
}

/// A CORS policy as the per-route config of `envoy.filters.http.cors`.
pub fn cors(c: &CorsPolicy) -> EnvoyCors {
    let origins = if !c.allow_origins.is_empty() {
        c.allow_origins.iter().filter_map(string_match).collect()
    } else {
        c.allow_origin.iter().map(|o| exact(o)).collect()
    };
    EnvoyCors {
        allow_origin_string_match: origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c
            .max_age
            .as_deref()
            .and_then(|m| parse_duration(m, "corsPolicy.maxAge"))
            .map(|d| d.seconds.to_string())
            .unwrap_or_default(),
        allow_credentials: c.allow_credentials.and_then(bool_value),
        filter_enabled: Some(RuntimeFractionalPercent {
            default_value: Some(int_percent(100)),
            runtime_key: String::new(),
        }),
        forward_not_matching_preflights: bool_value(
            c.unmatched_preflights != UnmatchedPreflights::Ignore,
        ),
        ..Default::default()
    }
}

/// The fraction of the deprecated `mirror` field (`mirrorPercentage`, `mirrorPercent`, else 100%);
/// `None` when mirroring is switched off with 0.
pub fn mirror_fraction(r: &HttpRoute) -> Option<RuntimeFractionalPercent> {
    let p = match (&r.mirror_percentage, r.mirror_percent) {
        (Some(p), _) if p.value > 0.0 => percent(p),
        (Some(_), _) => return None,
        (None, Some(n)) if n > 0 => int_percent(n),
        (None, Some(_)) => return None,
        (None, None) => int_percent(100),
    };
    Some(RuntimeFractionalPercent {
        default_value: Some(p),
        runtime_key: String::new(),
    })
}

/// The fraction of one `mirrors` entry.
pub fn mirror_policy_fraction(p: Option<&Percent>) -> Option<RuntimeFractionalPercent> {
    let p = match p {
        Some(p) if p.value > 0.0 => percent(p),
        Some(_) => return None,
        None => int_percent(100),
    };
    Some(RuntimeFractionalPercent {
        default_value: Some(p),
        runtime_key: String::new(),
    })
}

/// A request mirror policy to `cluster`.
pub fn mirror(cluster: String, fraction: RuntimeFractionalPercent) -> RequestMirrorPolicy {
    RequestMirrorPolicy {
        cluster,
        runtime_fraction: Some(fraction),
        trace_sampled: bool_value(false),
        ..Default::default()
    }
}

/// Header operations of a route or destination (`TranslateHeadersOperations`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HeaderOps {
    /// Request headers to set or add.
    pub request_add: Vec<HeaderValueOption>,
    /// Request headers to remove.
    pub request_remove: Vec<String>,
    /// Response headers to set or add.
    pub response_add: Vec<HeaderValueOption>,
    /// Response headers to remove.
    pub response_remove: Vec<String>,
    /// The authority to rewrite to (`:authority`/`host` in `set` or `add`).
    pub authority: String,
}

fn is_authority(k: &str) -> bool {
    k.eq_ignore_ascii_case(":authority") || k.eq_ignore_ascii_case("host")
}

fn is_internal(k: &str) -> bool {
    k.starts_with(':') || k.eq_ignore_ascii_case("host")
}

fn header_values(
    map: &std::collections::BTreeMap<String, String>,
    append: bool,
) -> (Vec<HeaderValueOption>, String) {
    let mut authority = String::new();
    let mut out = Vec::new();
    for (k, v) in map {
        if is_authority(k) {
            authority = v.clone();
        }
        if is_internal(k) {
            continue;
        }
        let action = if append {
            HeaderAppendAction::AppendIfExistsOrAdd
        } else {
            HeaderAppendAction::OverwriteIfExistsOrAdd
        };
        out.push(HeaderValueOption {
            header: Some(HeaderValue {
                key: k.clone(),
                value: v.clone(),
                ..Default::default()
            }),
            append_action: action as i32,
            ..Default::default()
        });
    }
    (out, authority)
}

/// Translates `headers` of a route or destination.
pub fn header_ops(h: &mast_config::istio::networking::virtual_service::Headers) -> HeaderOps {
    let mut out = HeaderOps::default();
    if let Some(req) = &h.request {
        let (mut set, set_auth) = header_values(&req.set, false);
        let (add, add_auth) = header_values(&req.add, true);
        set.extend(add);
        out.request_add = set;
        out.authority = if set_auth.is_empty() {
            add_auth
        } else {
            set_auth
        };
        out.request_remove = req
            .remove
            .iter()
            .filter(|k| !is_internal(k))
            .cloned()
            .collect();
    }
    if let Some(resp) = &h.response {
        let (mut set, _) = header_values(&resp.set, false);
        set.extend(header_values(&resp.add, true).0);
        out.response_add = set;
        out.response_remove = resp
            .remove
            .iter()
            .filter(|k| !is_internal(k))
            .cloned()
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_on() {
        assert_eq!(
            parse_retry_on("5xx,503,gateway-error"),
            ("5xx,gateway-error,retriable-status-codes".into(), vec![503])
        );
        assert_eq!(
            parse_retry_on("connect-failure"),
            ("connect-failure".into(), vec![])
        );
        assert_eq!(parse_retry_on("999"), ("999".into(), vec![]));
    }
}
