//! Route actions other than forwarding: retry policies, redirects, direct responses, and
//! regex rewrite substitutions.

use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, RetryPolicy as PbRetry, redirect_action,
};

use super::{FieldError, Result, duration, timeout};
use crate::model::route::{DirectResponse, Redirect, RetryOn, RetryPolicy};

fn refuse(set: bool, field: &str) -> Result<()> {
    if set {
        Err(FieldError::unsupported(field))
    } else {
        Ok(())
    }
}

/// RE2's `\1` substitutions in Rust's `${1}` syntax.
pub(super) fn substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

/// Compiles a retry policy.
pub fn retry_policy(r: &PbRetry) -> Result<RetryPolicy> {
    refuse(r.retry_priority.is_some(), "retry_priority")?;
    refuse(
        !r.retry_options_predicates.is_empty(),
        "retry_options_predicates",
    )?;
    refuse(
        r.rate_limited_retry_back_off.is_some(),
        "rate_limited_retry_back_off",
    )?;
    refuse(!r.retriable_headers.is_empty(), "retriable_headers")?;
    refuse(
        !r.retriable_request_headers.is_empty(),
        "retriable_request_headers",
    )?;
    refuse(r.per_try_idle_timeout.is_some(), "per_try_idle_timeout")?;
    let mut on = RetryOn::default();
    for cond in r
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match cond {
            "5xx" => on.status_5xx = true,
            "gateway-error" => on.gateway_error = true,
            "reset" => on.reset = true,
            "reset-before-request" => on.reset_before_request = true,
            "connect-failure" => on.connect_failure = true,
            "retriable-4xx" => on.retriable_4xx = true,
            "refused-stream" => on.refused_stream = true,
            "retriable-status-codes" => on.status_codes = true,
            "cancelled" => on.grpc[0] = true,
            "deadline-exceeded" => on.grpc[1] = true,
            "resource-exhausted" => on.grpc[2] = true,
            "internal" => on.grpc[3] = true,
            "unavailable" => on.grpc[4] = true,
            other => {
                return Err(FieldError::new(
                    "retry_on",
                    format!("condition {other:?} is not supported by mast-proxy"),
                ));
            }
        }
    }
    let mut other_hosts = false;
    for (i, p) in r.retry_host_predicate.iter().enumerate() {
        if p.name != "envoy.retry_host_predicates.previous_hosts" {
            return Err(FieldError::new(
                format!("retry_host_predicate[{i}]"),
                format!("{:?} is not supported by mast-proxy", p.name),
            ));
        }
        other_hosts = true;
    }
    let base = r
        .retry_back_off
        .as_ref()
        .and_then(|b| duration(b.base_interval.as_ref()))
        .unwrap_or(Duration::from_millis(25));
    let max = r
        .retry_back_off
        .as_ref()
        .and_then(|b| duration(b.max_interval.as_ref()))
        .unwrap_or(base * 10);
    Ok(RetryPolicy {
        on,
        num_retries: r.num_retries.as_ref().map(|n| n.value).unwrap_or(1),
        per_try_timeout: timeout(r.per_try_timeout.as_ref(), None),
        status_codes: r
            .retriable_status_codes
            .iter()
            .filter_map(|c| u16::try_from(*c).ok())
            .collect(),
        other_hosts,
        host_selection_attempts: r.host_selection_retry_max_attempts.max(1) as u32,
        backoff_base: base,
        backoff_max: max,
    })
}

pub(super) fn redirect(r: &RedirectAction) -> Result<Redirect> {
    let scheme = match &r.scheme_rewrite_specifier {
        Some(redirect_action::SchemeRewriteSpecifier::HttpsRedirect(true)) => {
            Some("https".to_string())
        }
        Some(redirect_action::SchemeRewriteSpecifier::SchemeRedirect(s)) => Some(s.clone()),
        _ => None,
    };
    let (path, prefix) = match &r.path_rewrite_specifier {
        Some(redirect_action::PathRewriteSpecifier::PathRedirect(p)) => (Some(p.clone()), None),
        Some(redirect_action::PathRewriteSpecifier::PrefixRewrite(p)) => (None, Some(p.clone())),
        Some(_) => return Err(FieldError::unsupported("regex_rewrite")),
        None => (None, None),
    };
    let status = match r.response_code {
        0 => 301,
        1 => 302,
        2 => 303,
        3 => 307,
        4 => 308,
        other => {
            return Err(FieldError::new(
                "response_code",
                format!("unknown code {other}"),
            ));
        }
    };
    Ok(Redirect {
        scheme,
        host: (!r.host_redirect.is_empty()).then(|| r.host_redirect.clone()),
        port: (r.port_redirect != 0).then_some(r.port_redirect as u16),
        path,
        prefix,
        status,
        strip_query: r.strip_query,
    })
}

pub(super) fn direct(d: &DirectResponseAction) -> Result<DirectResponse> {
    refuse(d.body_format.is_some(), "body_format")?;
    use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
    let body = match d.body.as_ref().and_then(|b| b.specifier.as_ref()) {
        None => bytes::Bytes::new(),
        Some(Specifier::InlineString(s)) => bytes::Bytes::from(s.clone()),
        Some(Specifier::InlineBytes(b)) => bytes::Bytes::from(b.clone()),
        Some(Specifier::Filename(f)) => std::fs::read(f)
            .map(bytes::Bytes::from)
            .map_err(|e| FieldError::new("body.filename", format!("{f}: {e}")))?,
        Some(Specifier::EnvironmentVariable(_)) => {
            return Err(FieldError::unsupported("body.environment_variable"));
        }
    };
    if !(100..=599).contains(&d.status) {
        return Err(FieldError::new(
            "status",
            format!("{} is not an HTTP status", d.status),
        ));
    }
    Ok(DirectResponse {
        status: d.status as u16,
        body,
    })
}
