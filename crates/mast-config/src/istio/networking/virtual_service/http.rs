//! Istio's checks of an HTTP route (`validateHTTPRoute` and what it calls).

use super::{
    CorsPolicy, FaultAbort, FaultDelay, Headers, HttpDirectResponse, HttpMatchRequest,
    HttpMirrorPolicy, HttpRedirect, HttpRetry, HttpRewrite, HttpRoute, HttpRouteDestination,
    Percent, validate_destination, validate_gateway_names,
};
use crate::istio::common::{
    check_oneof, is_authority_header, is_dns1123_label, report, validate_cors_header_name,
    validate_duration, validate_header_name_or_jwt_claim, validate_header_operation_name,
    validate_header_value, validate_header_with_authority_name, validate_labels, validate_port,
    validate_regex, validate_string_match, validate_string_match_regex,
};
use crate::validate::Findings;

/// How an HTTP route relates to delegation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RouteType {
    /// An ordinary route.
    Independent,
    /// A route of a root VirtualService that delegates.
    Root,
    /// A route of a delegate VirtualService.
    Delegate,
}

/// Checks one HTTP route; `delegate` says whether the VirtualService is a delegate.
pub(super) fn validate_http_route(r: &HttpRoute, delegate: bool, out: &mut Findings, path: &str) {
    let route_type = if delegate {
        RouteType::Delegate
    } else if r.delegate.is_some() {
        RouteType::Root
    } else {
        RouteType::Independent
    };
    check_conflicts(r, route_type, out, path);
    for (i, m) in r.matches.iter().enumerate() {
        validate_match(m, out, &format!("{path}.match[{i}]"));
    }
    if let Some(h) = &r.headers {
        validate_headers(h, out, &format!("{path}.headers"));
    }
    if let Some(c) = &r.cors_policy {
        validate_cors(c, out, &format!("{path}.corsPolicy"));
    }
    if let Some(f) = &r.fault {
        let p = format!("{path}.fault");
        if f.abort.is_none() && f.delay.is_none() {
            out.error(&p, "HTTP fault injection must have an abort and/or a delay");
        }
        if let Some(a) = &f.abort {
            validate_abort(a, out, &format!("{p}.abort"));
        }
        if let Some(d) = &f.delay {
            validate_delay(d, out, &format!("{p}.delay"));
        }
    }
    validate_mirror_percent(r, out, path);
    if let Some(m) = &r.mirror {
        validate_destination(m, out, &format!("{path}.mirror"));
    }
    validate_mirrors(&r.mirrors, out, &format!("{path}.mirrors"));
    if let Some(red) = &r.redirect {
        report(
            out,
            &format!("{path}.redirect"),
            validate_redirect(red, &r.matches),
        );
        check_oneof(
            out,
            &format!("{path}.redirect"),
            &[
                ("port", red.port.is_some()),
                ("derivePort", red.derive_port.is_some()),
            ],
        );
    }
    if let Some(d) = &r.direct_response {
        validate_direct_response(d, out, &format!("{path}.directResponse"));
    }
    if let Some(rt) = &r.retries {
        validate_retry(rt, out, &format!("{path}.retries"));
    }
    if let Some(rw) = &r.rewrite {
        report(out, &format!("{path}.rewrite"), validate_rewrite(rw));
    }
    report(out, path, validate_authority_rewrite(r));
    validate_route_destinations(&r.route, out, &format!("{path}.route"));
    validate_duration(out, &format!("{path}.timeout"), r.timeout.as_deref());
}

fn check_conflicts(r: &HttpRoute, route_type: RouteType, out: &mut Findings, path: &str) {
    if route_type == RouteType::Root {
        if r.redirect.is_some() {
            out.error(
                path,
                format!("root HTTP route {} must not specify redirect", r.name),
            );
        }
        if !r.route.is_empty() {
            out.error(
                path,
                format!("root HTTP route {} must not specify route", r.name),
            );
        }
        return;
    }
    if route_type == RouteType::Delegate && r.delegate.is_some() {
        out.error(
            format!("{path}.delegate"),
            "delegate HTTP route cannot contain delegate",
        );
    }
    if r.redirect.is_some() {
        let conflicts = [
            (
                !r.route.is_empty(),
                "HTTP route cannot contain both route and redirect",
            ),
            (
                r.fault.is_some(),
                "HTTP route cannot contain both fault and redirect",
            ),
            (
                r.rewrite.is_some(),
                "HTTP route rule cannot contain both rewrite and redirect",
            ),
            (
                r.direct_response.is_some(),
                "HTTP route rule cannot contain both direct_response and redirect",
            ),
        ];
        report_conflicts(&conflicts, out, path);
    } else if r.direct_response.is_some() {
        let conflicts = [
            (
                !r.route.is_empty(),
                "HTTP route cannot contain both route and direct_response",
            ),
            (
                r.fault.is_some(),
                "HTTP route cannot contain both fault and direct_response",
            ),
            (
                r.rewrite.is_some(),
                "HTTP route rule cannot contain both rewrite and direct_response",
            ),
        ];
        report_conflicts(&conflicts, out, path);
    } else if r.route.is_empty() {
        out.error(path, "HTTP route, redirect or direct_response is required");
    }
    if r.mirror.is_some() && !r.mirrors.is_empty() {
        out.error(path, "HTTP route cannot contain both mirror and mirrors");
    }
}

fn report_conflicts(conflicts: &[(bool, &str)], out: &mut Findings, path: &str) {
    for (hit, msg) in conflicts {
        if *hit {
            out.error(path, *msg);
        }
    }
}

fn validate_match(m: &HttpMatchRequest, out: &mut Findings, path: &str) {
    for (name, sm) in &m.headers {
        let p = format!("{path}.headers[{name:?}]");
        report(out, &p, validate_header_name_or_jwt_claim(name));
        report(out, &p, validate_string_match(Some(sm), "headers"));
        sm.check_oneof(out, &p);
    }
    for (name, sm) in &m.without_headers {
        let p = format!("{path}.withoutHeaders[{name:?}]");
        report(out, &p, validate_header_name_or_jwt_claim(name));
        // `regex: "*"` means "present", not a regular expression.
        if sm.regex.as_deref() != Some("*") {
            report(out, &p, validate_string_match(Some(sm), "withoutHeaders"));
        }
        sm.check_oneof(out, &p);
    }
    let simple = [
        ("uri", &m.uri),
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ];
    for (field, sm) in simple {
        let p = format!("{path}.{field}");
        // An empty URI prefix is allowed (it matches everything); not so for the others.
        let r = if field == "uri" {
            validate_string_match_regex(sm.as_ref(), field)
        } else {
            validate_string_match(sm.as_ref(), field)
        };
        report(out, &p, r);
        if let Some(sm) = sm {
            sm.check_oneof(out, &p);
        }
    }
    for (name, sm) in &m.query_params {
        let p = format!("{path}.queryParams[{name:?}]");
        report(out, &p, validate_string_match(Some(sm), "queryParams"));
        sm.check_oneof(out, &p);
    }
    if m.port != 0 {
        report(out, &format!("{path}.port"), validate_port(m.port.into()));
    }
    for e in validate_labels(&m.source_labels) {
        out.error(format!("{path}.sourceLabels"), e);
    }
    validate_gateway_names(&m.gateways, out, &format!("{path}.gateways"));
    if !m.source_namespace.is_empty() && !is_dns1123_label(&m.source_namespace) {
        out.error(
            format!("{path}.sourceNamespace"),
            format!("sourceNamespace match {} is invalid", m.source_namespace),
        );
    }
}

fn validate_headers(h: &Headers, out: &mut Findings, path: &str) {
    if let Some(req) = &h.request {
        let p = format!("{path}.request");
        for (name, val) in req.add.iter().chain(req.set.iter()) {
            report(out, &p, validate_header_with_authority_name(name));
            report(out, &p, validate_header_value(val));
        }
        for name in &req.remove {
            report(out, &p, validate_header_operation_name(name));
        }
    }
    if let Some(resp) = &h.response {
        let p = format!("{path}.response");
        for (name, val) in resp.add.iter().chain(resp.set.iter()) {
            report(out, &p, validate_header_operation_name(name));
            report(out, &p, validate_header_value(val));
        }
        for name in &resp.remove {
            report(out, &p, validate_header_operation_name(name));
        }
    }
}

const CORS_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

fn validate_cors(c: &CorsPolicy, out: &mut Findings, path: &str) {
    for (i, o) in c.allow_origins.iter().enumerate() {
        let p = format!("{path}.allowOrigins[{i}]");
        o.check_oneof(out, &p);
        let m = o
            .exact
            .as_deref()
            .or(o.prefix.as_deref())
            .or(o.regex.as_deref());
        match m {
            None | Some("") => out.error(
                &p,
                format!(
                    "'{}' is not a valid match type for CORS allow origins",
                    m.unwrap_or_default()
                ),
            ),
            Some(_) => report(
                out,
                &p,
                validate_string_match_regex(Some(o), "corsPolicy.allowOrigins"),
            ),
        }
    }
    for (i, m) in c.allow_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&m.as_str()) {
            out.error(
                format!("{path}.allowMethods[{i}]"),
                format!("{m:?} is not a supported HTTP method"),
            );
        }
    }
    for (i, h) in c.allow_headers.iter().enumerate() {
        report(
            out,
            &format!("{path}.allowHeaders[{i}]"),
            validate_cors_header_name(h),
        );
    }
    for (i, h) in c.expose_headers.iter().enumerate() {
        report(
            out,
            &format!("{path}.exposeHeaders[{i}]"),
            validate_cors_header_name(h),
        );
    }
    let p = format!("{path}.maxAge");
    if let Some(n) = validate_duration(out, &p, c.max_age.as_deref())
        && n % 1_000_000_000 != 0
    {
        out.error(p, "max_age duration is accurate only to seconds precision");
    }
}

/// `percentage` of a fault: 0, or in [0.0001, 100].
fn validate_percentage(p: Option<&Percent>, out: &mut Findings, path: &str) {
    let Some(p) = p else { return };
    let v = p.value;
    if !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        out.error(
            format!("{path}.percentage"),
            format!("percentage {v} is neither 0.0, nor in range [0.0001, 100.0]"),
        );
    }
}

const GRPC_STATUSES: &[&str] = &[
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

fn validate_http_status(status: i64) -> Result<(), String> {
    if !(200..=600).contains(&status) {
        return Err(format!("HTTP status {status} is not in range 200-599"));
    }
    Ok(())
}

fn validate_abort(a: &FaultAbort, out: &mut Findings, path: &str) {
    validate_percentage(a.percentage.as_ref(), out, path);
    check_oneof(
        out,
        path,
        &[
            ("httpStatus", a.http_status.is_some()),
            ("grpcStatus", a.grpc_status.is_some()),
            ("http2Error", a.http2_error.is_some()),
        ],
    );
    if let Some(s) = &a.grpc_status {
        if !GRPC_STATUSES.contains(&s.as_str()) {
            out.error(
                format!("{path}.grpcStatus"),
                format!(
                    "gRPC status {s:?} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"
                ),
            );
        }
    } else if a.http2_error.is_some() {
        out.error(
            format!("{path}.http2Error"),
            "HTTP/2 abort fault injection not supported yet",
        );
    } else if let Some(s) = a.http_status {
        report(
            out,
            &format!("{path}.httpStatus"),
            validate_http_status(s.into()),
        );
    } else {
        out.warning(path, "abort configured, but error type not set");
    }
}

fn validate_delay(d: &FaultDelay, out: &mut Findings, path: &str) {
    validate_percentage(d.percentage.as_ref(), out, path);
    check_oneof(
        out,
        path,
        &[
            ("fixedDelay", d.fixed_delay.is_some()),
            ("exponentialDelay", d.exponential_delay.is_some()),
        ],
    );
    if d.fixed_delay.is_some() {
        validate_duration(out, &format!("{path}.fixedDelay"), d.fixed_delay.as_deref());
    } else if d.exponential_delay.is_some() {
        let p = format!("{path}.exponentialDelay");
        validate_duration(out, &p, d.exponential_delay.as_deref());
        out.error(p, "exponentialDelay not supported yet");
    }
}

fn validate_mirror_percent(r: &HttpRoute, out: &mut Findings, path: &str) {
    if let Some(v) = r.mirror_percent {
        let p = format!("{path}.mirrorPercent");
        if v > 100 {
            out.error(
                &p,
                format!("mirror_percent must have a max value of 100 (it has {v})"),
            );
        }
        out.warning(
            p,
            "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead",
        );
    }
    if let Some(pc) = &r.mirror_percentage {
        let p = format!("{path}.mirrorPercentage");
        if pc.value > 100.0 {
            out.error(
                &p,
                format!(
                    "mirror_percentage must have a max value of 100 (it has {:.6})",
                    pc.value
                ),
            );
        }
        if pc.value < 0.0 {
            out.error(
                &p,
                format!(
                    "mirror_percentage must have a min value of 0 (it has {:.6})",
                    pc.value
                ),
            );
        }
    }
}

fn validate_mirrors(mirrors: &[HttpMirrorPolicy], out: &mut Findings, path: &str) {
    for (i, m) in mirrors.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(d) = &m.destination else {
            out.error(&p, "destination is required for mirrors");
            continue;
        };
        validate_destination(d, out, &format!("{p}.destination"));
        if let Some(pc) = &m.percentage {
            let pp = format!("{p}.percentage");
            if pc.value > 100.0 {
                out.error(
                    &pp,
                    format!(
                        "mirror percentage must have a max value of 100 (it has {:.6})",
                        pc.value
                    ),
                );
            }
            if pc.value < 0.0 {
                out.error(
                    &pp,
                    format!(
                        "mirror percentage must have a min value of 0 (it has {:.6})",
                        pc.value
                    ),
                );
            }
        }
    }
}

fn validate_redirect(r: &HttpRedirect, matches: &[HttpMatchRequest]) -> Result<(), String> {
    if !r.uri.is_empty() && !r.prefix_rewrite.is_empty() {
        return Err("redirect may only specify one of uri or prefix_rewrite".into());
    }
    if !r.prefix_rewrite.is_empty()
        && matches
            .iter()
            .any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()))
    {
        return Err(
            "redirect prefix_rewrite requires all URI matches to use prefix match type".into(),
        );
    }
    if r.uri.is_empty()
        && r.prefix_rewrite.is_empty()
        && r.authority.is_empty()
        && r.port.is_none()
        && r.derive_port.is_none()
        && r.scheme.is_empty()
    {
        return Err("redirect must specify URI, authority, scheme, or port".into());
    }
    if r.redirect_code != 0 && !(300..=399).contains(&r.redirect_code) {
        return Err(format!(
            "{} is not a valid redirect code, must be 3xx",
            r.redirect_code
        ));
    }
    if !r.scheme.is_empty() && r.scheme != "http" && r.scheme != "https" {
        return Err("invalid redirect scheme, must be \"http\" or \"https\"".into());
    }
    match r.port {
        Some(p) if p > 0 => validate_port(p.into()),
        _ => Ok(()),
    }
}

/// Decoded length of a base64 string, or `None` if it is not base64.
fn base64_len(s: &str) -> Option<usize> {
    let body = s.trim_end_matches('=');
    let ok = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'));
    (ok && s.len() - body.len() <= 2).then_some(body.len() * 3 / 4)
}

fn validate_direct_response(d: &HttpDirectResponse, out: &mut Findings, path: &str) {
    if let Some(body) = &d.body {
        let p = format!("{path}.body");
        check_oneof(
            out,
            &p,
            &[
                ("string", body.string.is_some()),
                ("bytes", body.bytes.is_some()),
            ],
        );
        let size = match (&body.string, &body.bytes) {
            (Some(s), _) => s.len(),
            (None, Some(b)) => base64_len(b).unwrap_or_else(|| {
                out.error(format!("{p}.bytes"), "bytes must be base64-encoded");
                0
            }),
            (None, None) => 0,
        };
        if size > 1024 * 1024 {
            out.error(
                &p,
                "large direct_responses may impact control plane performance, must be less than 1MB",
            );
        } else if size > 100 * 1024 {
            out.warning(
                &p,
                "large direct_responses may impact control plane performance",
            );
        }
    }
    report(
        out,
        &format!("{path}.status"),
        validate_http_status(d.status.into()),
    );
}

const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Status codes Go's `net/http.StatusText` knows.
fn is_known_status(code: i64) -> bool {
    matches!(
        code,
        100..=103
            | 200..=208
            | 226
            | 300..=305
            | 307
            | 308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 451
            | 500..=508
            | 510
            | 511
    )
}

fn validate_retry(r: &HttpRetry, out: &mut Findings, path: &str) {
    if r.attempts < 0 {
        out.error(format!("{path}.attempts"), "attempts cannot be negative");
    }
    if r.attempts == 0
        && (r.per_try_timeout.is_some()
            || !r.retry_on.is_empty()
            || r.retry_remote_localities.is_some())
    {
        out.error(
            path,
            "http retry policy configured when attempts are set to 0 (disabled)",
        );
    }
    validate_duration(
        out,
        &format!("{path}.perTryTimeout"),
        r.per_try_timeout.as_deref(),
    );
    if !r.retry_on.is_empty() {
        for policy in r.retry_on.split(',') {
            let status = policy.parse::<i64>().ok().filter(|c| is_known_status(*c));
            if status.is_none() && !RETRY_ON.contains(&policy) {
                out.error(
                    format!("{path}.retryOn"),
                    format!("{policy:?} is not a valid retryOn policy"),
                );
            }
        }
    }
    validate_duration(out, &format!("{path}.backoff"), r.backoff.as_deref());
}

fn validate_rewrite(r: &HttpRewrite) -> Result<(), String> {
    if !r.uri.is_empty() && r.uri_regex_rewrite.is_some() {
        return Err("rewrite may only contain one of URI or UriRegexRewrite".into());
    }
    if r.uri.is_empty() && r.uri_regex_rewrite.is_none() && r.authority.is_empty() {
        return Err("rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified".into());
    }
    if let Some(rr) = &r.uri_regex_rewrite {
        let e = if rr.pattern.is_empty() || rr.rewrite.is_empty() {
            Err(
                "UriRegexRewrite requires both Rewrite and Match fields to be specified"
                    .to_string(),
            )
        } else {
            validate_regex(&rr.pattern, "HTTPRewrite.UriRegexRewrite.Match")
        };
        return e.map_err(|e| format!("UriRegexRewrite has errors: {e}"));
    }
    Ok(())
}

/// The authority may be rewritten in one place only: `rewrite.authority` or one
/// `:authority`/`host` header set or added on the request.
fn validate_authority_rewrite(r: &HttpRoute) -> Result<(), String> {
    let mut current = r
        .rewrite
        .as_ref()
        .map(|rw| rw.authority.clone())
        .unwrap_or_default();
    let Some(req) = r.headers.as_ref().and_then(|h| h.request.as_ref()) else {
        return Ok(());
    };
    for (k, v) in req.set.iter().chain(req.add.iter()) {
        if !is_authority_header(k) {
            continue;
        }
        if !current.is_empty() {
            return Err(format!(
                "authority header cannot be set multiple times: have {current:?}, attempting to set {v:?}"
            ));
        }
        current = v.clone();
    }
    Ok(())
}

fn validate_route_destinations(routes: &[HttpRouteDestination], out: &mut Findings, path: &str) {
    let mut total: i64 = 0;
    for (i, r) in routes.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &r.destination {
            None => out.error(&p, "destination is required"),
            Some(d) => validate_destination(d, out, &format!("{p}.destination")),
        }
        if let Some(h) = &r.headers {
            validate_headers(h, out, &format!("{p}.headers"));
        }
        if r.weight < 0 {
            out.error(format!("{p}.weight"), format!("weight {} < 0", r.weight));
        }
        total += i64::from(r.weight);
    }
    if routes.len() > 1 && total == 0 {
        out.error(path, "total destination weight = 0");
    }
}
