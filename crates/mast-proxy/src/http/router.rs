//! The router: matches the request on the compiled route table, picks the cluster (by weight)
//! and a host, forwards over the host's pooled connection, retries as the route says, and
//! answers failures with Envoy's codes and flags (NR 404, NC 503, UH 503, UF 503, UC 503,
//! UT 504, URX). Adds `x-envoy-upstream-service-time`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{Body, UpstreamBody};
use super::filter::StreamInfo;
use super::headers::{ATTEMPT_COUNT, GRPC_TIMEOUT, UPSTREAM_SERVICE_TIME, grpc_timeout};
use super::reply::{Flag, LocalReply};
use super::retry::{self, Outcome};
use crate::model::cluster::UpstreamProtocol;
use crate::model::listener::Hcm;
use crate::model::route::{
    Forward, HeaderOps, PathMatch, Redirect, Route, RouteTable, VirtualHost,
};
use crate::upstream::pool::{self, Checkout, SendError};
use crate::upstream::{ClusterRt, Host};

/// Request bodies up to this size are buffered so that they can be retried.
pub const RETRY_BUFFER_LIMIT: u64 = 64 * 1024;

/// What the router answers: a response, or a local reply to make.
pub type Answer = Result<Response<Body>, LocalReply>;

/// The request body, replayable or not.
enum Replay {
    Bytes(Bytes),
    Stream(Option<Body>),
}

impl Replay {
    fn take(&mut self) -> Option<Body> {
        match self {
            Replay::Bytes(b) => Some(Body::full(b.clone())),
            Replay::Stream(s) => s.take(),
        }
    }

    fn put_back(&mut self, b: Body) {
        if let Replay::Stream(s) = self {
            *s = Some(b);
        }
    }
}

/// The route's header changes in Envoy's order: most specific first, so that the least
/// specific (the route configuration's) wins when both set a header.
fn levels<'a>(
    table: &'a RouteTable,
    vh: &'a VirtualHost,
    route: &'a Route,
    wc: Option<&'a crate::model::route::WeightedCluster>,
) -> [Option<&'a HeaderOps>; 4] {
    [
        wc.map(|w| &w.headers),
        Some(&route.headers),
        Some(&vh.headers),
        Some(&table.headers),
    ]
}

fn apply(levels: [Option<&HeaderOps>; 4], headers: &mut http::HeaderMap, request: bool) {
    for ops in levels.into_iter().flatten().filter(|o| !o.is_empty()) {
        if request {
            ops.apply_request(headers);
        } else {
            ops.apply_response(headers);
        }
    }
}

fn rewrite_path(route: &Route, f: &Forward, pq: &str) -> Option<String> {
    let (path, query) = pq.split_once('?').map_or((pq, None), |(p, q)| (p, Some(q)));
    let new_path = if let Some(pre) = &f.prefix_rewrite {
        match &route.matcher.path {
            PathMatch::Prefix(p) | PathMatch::SeparatedPrefix(p) if path.len() >= p.len() => {
                format!("{pre}{}", &path[p.len()..])
            }
            _ => pre.clone(),
        }
    } else if let Some((re, sub)) = &f.regex_rewrite {
        re.replace_all(path, sub.as_str()).into_owned()
    } else {
        return None;
    };
    Some(match query {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    })
}

/// Location of a redirect.
pub fn redirect_location(
    r: &Redirect,
    route: &Route,
    scheme: &str,
    host: &str,
    pq: &str,
) -> String {
    let scheme = r.scheme.as_deref().unwrap_or(scheme);
    let (h, old_port) = host
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map_or((host, None), |(h, p)| (h, Some(p)));
    let h = r.host.as_deref().unwrap_or(h);
    let port = match (r.port, old_port) {
        (Some(p), _) => format!(":{p}"),
        (None, Some(p)) if r.host.is_none() && r.scheme.is_none() => format!(":{p}"),
        _ => String::new(),
    };
    let (path, query) = pq.split_once('?').map_or((pq, None), |(p, q)| (p, Some(q)));
    let path = match (&r.path, &r.prefix, &route.matcher.path) {
        (Some(p), _, _) => p.clone(),
        (None, Some(pre), PathMatch::Prefix(m)) if path.len() >= m.len() => {
            format!("{pre}{}", &path[m.len()..])
        }
        _ => path.to_string(),
    };
    match query.filter(|_| !r.strip_query) {
        Some(q) => format!("{scheme}://{h}{port}{path}?{q}"),
        None => format!("{scheme}://{h}{port}{path}"),
    }
}

/// A cluster that gets a copy of the request.
#[derive(Debug)]
pub struct Shadow {
    /// The cluster.
    pub cluster: Arc<ClusterRt>,
    /// Append `-shadow` to the host.
    pub host_suffix: bool,
}

/// The authority of a shadow request: `-shadow` appended to the host, before the port.
pub fn shadow_host(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => format!("{h}-shadow:{p}"),
        _ => format!("{authority}-shadow"),
    }
}

/// Sets the request up for the upstream's HTTP version: an absolute URI without `host` for
/// HTTP/2, an origin-form URI with `host` for HTTP/1.1.
fn target(
    parts: &mut Parts,
    h2: bool,
    host_rewrite: Option<&HeaderValue>,
) -> Result<(), LocalReply> {
    if h2 {
        let authority = match host_rewrite {
            Some(h) => h.to_str().unwrap_or_default(),
            None => super::authority(parts),
        };
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://{authority}{pq}").parse::<Uri>() else {
            return Err(LocalReply::new(400, "invalid authority", Flag::LocalReply));
        };
        parts.uri = uri;
        parts.headers.remove(header::HOST);
        parts.version = Version::HTTP_2;
    } else {
        if let Some(a) = parts.uri.authority()
            && !parts.headers.contains_key(header::HOST)
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            parts.headers.insert(header::HOST, v);
        }
        if parts.uri.authority().is_some() {
            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            parts.uri = pq.parse().unwrap_or_else(|_| Uri::from_static("/"));
        }
        parts.version = Version::HTTP_11;
    }
    Ok(())
}

fn wants_h2(cluster: &ClusterRt, downstream: Version) -> bool {
    match cluster.spec.protocol {
        UpstreamProtocol::Http1 => false,
        UpstreamProtocol::Http2 => true,
        UpstreamProtocol::Downstream => downstream == Version::HTTP_2,
    }
}

/// Sends a copy of the request to a shadow cluster in the background; its response is read
/// and dropped.
fn send_shadow(base: &Parts, body: Bytes, s: Shadow, timeout: Option<Duration>) {
    let mut parts = base.clone();
    let h2 = wants_h2(&s.cluster, base.version);
    if s.host_suffix {
        let host = shadow_host(super::authority(&parts));
        let Ok(v) = HeaderValue::from_str(&host) else {
            return;
        };
        parts.headers.insert(header::HOST, v.clone());
        if parts.uri.authority().is_some() {
            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            if let Ok(u) = format!("http://{host}{pq}").parse() {
                parts.uri = u;
            }
        }
    }
    if target(&mut parts, h2, None).is_err() {
        return;
    }
    tokio::spawn(async move {
        let Some(host) = s.cluster.pick(&[], 1) else {
            tracing::debug!(cluster = %s.cluster.spec.name, "mirror: no healthy upstream");
            return;
        };
        let req = Request::from_parts(parts, Body::full(body));
        let run = async {
            let sent = if h2 {
                pool::send_h2(&host, &s.cluster.spec, req).await
            } else {
                pool::send_h1(&host, &s.cluster.spec, req).await
            };
            match sent {
                Ok((resp, checkout)) => {
                    let _ = UpstreamBody::wrap(resp.into_body(), checkout)
                        .collect()
                        .await;
                }
                Err((e, _)) => tracing::debug!(error = %e, "mirror request failed"),
            }
        };
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, run).await;
            }
            None => run.await,
        }
    });
}

/// The request's hash for consistent-hash clusters, from the route's hash policies in order
/// (Envoy's `HashPolicyImpl::generateHash`), and the `set-cookie` value when a cookie policy
/// with a TTL made the cookie (the request had none).
pub fn request_hash(
    policies: &[crate::model::route::HashPolicy],
    parts: &Parts,
    remote: std::net::SocketAddr,
) -> (Option<u64>, Option<HeaderValue>) {
    use crate::model::route::HashKey;
    use crate::upstream::hash::{combine, xxh64};
    let mut acc = None;
    let mut set_cookie = None;
    for p in policies {
        let one = match &p.key {
            HashKey::Header(name) => parts.headers.get(name).map(|v| xxh64(v.as_bytes(), 0)),
            HashKey::Cookie { name, ttl, path } => match cookie(&parts.headers, name) {
                Some(v) => Some(xxh64(v.as_bytes(), 0)),
                None => ttl.map(|ttl| {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    let value = format!("{:016x}", xxh64(format!("{remote}{nanos}").as_bytes(), 0));
                    let mut c = format!("{name}=\"{value}\"");
                    if !ttl.is_zero() {
                        c.push_str(&format!("; Max-Age={}", ttl.as_secs()));
                    }
                    if !path.is_empty() {
                        c.push_str(&format!("; Path={path}"));
                    }
                    c.push_str("; HttpOnly");
                    set_cookie = HeaderValue::from_str(&c).ok();
                    xxh64(value.as_bytes(), 0)
                }),
            },
            HashKey::SourceIp => Some(xxh64(remote.ip().to_string().as_bytes(), 0)),
            HashKey::Query(name) => parts.uri.query().and_then(|q| {
                q.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == name).then(|| xxh64(v.as_bytes(), 0))
                })
            }),
        };
        if let Some(h) = one {
            acc = Some(combine(acc, h));
            if p.terminal {
                break;
            }
        }
    }
    (acc, set_cookie)
}

/// The value of cookie `name` in the request's `cookie` headers.
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"'))
        })
}

/// Forwards a request along the route (and copies it to the mirrors).
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    hcm: &Hcm,
    table: &RouteTable,
    vh: &VirtualHost,
    route: &Route,
    f: &Forward,
    cluster: &Arc<ClusterRt>,
    wc: Option<&crate::model::route::WeightedCluster>,
    mirrors: Vec<Shadow>,
    mut parts: Parts,
    body: Body,
    info: &mut StreamInfo,
    hash: Option<u64>,
) -> Answer {
    let grpc = super::is_grpc(&parts.headers);
    apply(levels(table, vh, route, wc), &mut parts.headers, true);
    if f.prefix_rewrite.is_some() || f.regex_rewrite.is_some() {
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        if let Some(new) = rewrite_path(route, f, pq)
            && let Ok(u) = new.parse::<Uri>()
        {
            parts.uri = u;
        }
    }
    let host_rewrite = wc
        .and_then(|w| w.host_rewrite.as_ref())
        .or(f.host_rewrite.as_ref());
    if let Some(h) = host_rewrite {
        parts.headers.insert(header::HOST, h.clone());
    }
    let mut timeout = f.timeout;
    if grpc && let Some(max) = f.grpc_timeout_max {
        let asked = parts.headers.get(GRPC_TIMEOUT).and_then(grpc_timeout);
        timeout = match (asked, max) {
            (Some(a), Some(m)) => Some(a.min(m)),
            (a, m) => a.or(m),
        };
    }
    let shadow_base = (!mirrors.is_empty()).then(|| parts.clone());
    let h2 = wants_h2(cluster, parts.version);
    target(&mut parts, h2, host_rewrite)?;
    let policy = f.retry.as_deref();
    let mut replay = if http_body::Body::is_end_stream(&body) {
        Replay::Bytes(Bytes::new())
    } else if (policy.is_some_and(|p| p.num_retries > 0) || !mirrors.is_empty())
        && http_body::Body::size_hint(&body)
            .upper()
            .is_some_and(|u| u <= RETRY_BUFFER_LIMIT)
    {
        match body.collect().await {
            Ok(b) => Replay::Bytes(b.to_bytes()),
            Err(_) => {
                return Err(LocalReply::new(
                    400,
                    "downstream body error",
                    Flag::DownstreamTermination,
                ));
            }
        }
    } else {
        Replay::Stream(Some(body))
    };
    if let Some(base) = shadow_base {
        match &replay {
            Replay::Bytes(b) => {
                for m in mirrors {
                    send_shadow(&base, b.clone(), m, timeout);
                }
            }
            Replay::Stream(_) => tracing::debug!(
                "request body larger than {RETRY_BUFFER_LIMIT} bytes or of unknown length: not mirrored"
            ),
        }
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let max_attempts = 1 + policy.map_or(0, |p| p.num_retries);
    let mut tried: Vec<Arc<Host>> = Vec::new();
    let mut attempt = 0u32;
    // the place a retry holds under `max_retries` while it runs
    let mut retry_slot = None;
    loop {
        attempt += 1;
        info.attempts = attempt;
        let avoid: &[Arc<Host>] = if policy.is_some_and(|p| p.other_hosts) {
            &tried
        } else {
            &[]
        };
        let Some(host) = cluster.select(
            info.downstream_local,
            hash,
            avoid,
            policy.map_or(1, |p| p.host_selection_attempts),
        ) else {
            return Err(LocalReply::no_healthy_upstream());
        };
        info.upstream_host = Some(host.name.clone());
        info.upstream_tls = host.tls.is_some();
        let traffic = &cluster.traffic;
        if traffic.rq_active.load(std::sync::atomic::Ordering::Relaxed)
            >= cluster.spec.limits.max_requests
        {
            traffic
                .overflow
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(LocalReply::overflow());
        }
        let Some(body) = replay.take() else {
            return Err(LocalReply::connection_termination());
        };
        let mut req = Request::from_parts(parts.clone(), body);
        if vh.attempt_count {
            req.headers_mut()
                .insert(ATTEMPT_COUNT, HeaderValue::from(attempt));
        }
        host.stats
            .rq_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let per_try = policy.and_then(|p| p.per_try_timeout);
        let now = Instant::now();
        let left = deadline.map(|d| d.saturating_duration_since(now));
        let limit = match (per_try, left) {
            (Some(p), Some(l)) => Some(p.min(l)),
            (a, b) => a.or(b),
        };
        let send = async {
            if h2 {
                pool::send_h2(&host, &cluster.spec, req).await
            } else {
                pool::send_h1(&host, &cluster.spec, req).await
            }
        };
        let result = match limit {
            Some(l) => tokio::time::timeout(l, send).await.ok(),
            None => Some(send.await),
        };
        let global_timeout = deadline.is_some_and(|d| Instant::now() >= d);
        let (outcome, answer): (Outcome, Answer) = match result {
            None if global_timeout || per_try.is_none() => {
                host.stats
                    .rq_error
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                observe(cluster, &host, Outcome::PerTryTimeout, grpc);
                return Err(LocalReply::timeout());
            }
            None => (Outcome::PerTryTimeout, Err(LocalReply::timeout())),
            Some(Ok((resp, checkout))) => {
                info.upstream_identity = host.peer_identity.get().cloned();
                let status = resp.status().as_u16();
                let grpc_status = resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                if status >= 500 {
                    host.stats
                        .rq_error
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (
                    Outcome::Response(status, grpc_status),
                    Ok(finish(hcm, table, vh, route, wc, resp, checkout, now, grpc)),
                )
            }
            Some(Err((e, back))) => {
                host.stats
                    .rq_error
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(back) = back {
                    replay.put_back(back.into_body());
                }
                match e {
                    SendError::Overflow => return Err(LocalReply::overflow()),
                    SendError::Connect(c) => (
                        Outcome::ConnectFailure,
                        Err(LocalReply::connect_failure(&c.to_string())),
                    ),
                    SendError::Reset {
                        sent,
                        refused,
                        source,
                    } => {
                        tracing::debug!(error = %source, "upstream reset");
                        (
                            Outcome::Reset { sent, refused },
                            Err(LocalReply::connection_termination()),
                        )
                    }
                }
            }
        };
        observe(cluster, &host, outcome, grpc);
        let more = attempt < max_attempts
            && policy.is_some_and(|p| retry::retriable(p, outcome))
            && !matches!(replay, Replay::Stream(None));
        if !more {
            if attempt > 1 && policy.is_some_and(|p| retry::retriable(p, outcome)) {
                info.flags.push(Flag::RetryLimitExceeded);
            }
            return answer;
        }
        drop(retry_slot.take());
        let Some(slot) = crate::upstream::take(
            &cluster.traffic.retries_active,
            cluster.spec.limits.max_retries,
        ) else {
            cluster
                .traffic
                .retry_overflow
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return answer;
        };
        retry_slot = Some(slot);
        drop(answer);
        tried.push(host);
        let pause = retry::backoff(policy.expect("retrying has a policy"), attempt);
        if deadline.is_some_and(|d| Instant::now() + pause >= d) {
            return Err(LocalReply::timeout());
        }
        tokio::time::sleep(pause).await;
    }
}

/// Tells outlier detection what an attempt on `host` came to. A gRPC response counts by its
/// `grpc-status` when the headers carry one; one whose status comes in trailers is not
/// counted.
fn observe(cluster: &ClusterRt, host: &Arc<Host>, outcome: Outcome, grpc: bool) {
    use crate::upstream::outlier::{self, Result as R};
    let Some(o) = &cluster.spec.outlier else {
        return;
    };
    let r = match outcome {
        Outcome::Response(_, Some(g)) if grpc => R::Status(outlier::grpc_to_http(g)),
        Outcome::Response(200, None) if grpc => return,
        Outcome::Response(s, _) => R::Status(s),
        Outcome::ConnectFailure | Outcome::Reset { .. } => R::LocalFailure,
        Outcome::PerTryTimeout => R::Timeout,
    };
    outlier::record(o, host, &cluster.hosts().all, r);
}

/// Turns the upstream response into the downstream one.
#[allow(clippy::too_many_arguments)]
fn finish(
    hcm: &Hcm,
    table: &RouteTable,
    vh: &VirtualHost,
    route: &Route,
    wc: Option<&crate::model::route::WeightedCluster>,
    resp: Response<Incoming>,
    checkout: Checkout,
    sent_at: Instant,
    _grpc: bool,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
        // the connection now belongs to the upgraded stream
        checkout.discard();
        return Response::from_parts(parts, Body::Empty);
    }
    super::headers::strip_hop_by_hop(&mut parts.headers);
    if !hcm.suppress_envoy_headers {
        let ms = sent_at.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        parts
            .headers
            .insert(UPSTREAM_SERVICE_TIME, HeaderValue::from(ms));
    }
    apply(levels(table, vh, route, wc), &mut parts.headers, false);
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, UpstreamBody::wrap(body, checkout))
}

/// The response of a direct-response route.
pub fn direct(
    table: &RouteTable,
    vh: &VirtualHost,
    route: &Route,
    status: u16,
    body: Bytes,
) -> Response<Body> {
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::full(body))
        .unwrap_or_else(|_| Response::new(Body::Empty));
    if !r.body().is_end_stream_hint() {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    apply(levels(table, vh, route, None), r.headers_mut(), false);
    r
}

impl Body {
    fn is_end_stream_hint(&self) -> bool {
        http_body::Body::is_end_stream(self)
    }
}

/// The time between two instants in whole milliseconds (for logs).
pub fn millis(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::route::{DirectResponse, RouteMatch};

    fn route(path: PathMatch, headers: HeaderOps) -> Route {
        Route {
            name: "r".into(),
            matcher: RouteMatch {
                path,
                case_sensitive: true,
                headers: vec![],
                query: vec![],
                grpc: false,
            },
            action: crate::model::route::Action::Direct(DirectResponse {
                status: 200,
                body: Bytes::new(),
            }),
            headers,
            per_filter: Default::default(),
            decorator: None,
        }
    }

    fn set(name: &'static str, v: &'static str) -> HeaderOps {
        HeaderOps {
            request_add: vec![(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(v),
                false,
            )],
            ..Default::default()
        }
    }

    #[test]
    fn the_route_configuration_level_wins_as_in_envoy() {
        let table = RouteTable {
            headers: set("x-level", "table"),
            ..Default::default()
        };
        let vh = VirtualHost {
            headers: set("x-level", "vhost"),
            ..Default::default()
        };
        let r = route(PathMatch::Prefix("/".into()), set("x-level", "route"));
        let mut h = http::HeaderMap::new();
        apply(levels(&table, &vh, &r, None), &mut h, true);
        assert_eq!(h["x-level"], "table");
        let only_route = route(PathMatch::Prefix("/".into()), set("x-route", "1"));
        let mut h = http::HeaderMap::new();
        apply(
            levels(
                &RouteTable::default(),
                &VirtualHost::default(),
                &only_route,
                None,
            ),
            &mut h,
            true,
        );
        assert_eq!(h["x-route"], "1");
    }

    #[test]
    fn shadow_hosts() {
        for (a, want) in [
            ("reviews:9080", "reviews-shadow:9080"),
            ("reviews", "reviews-shadow"),
            (
                "reviews.default.svc.cluster.local",
                "reviews.default.svc.cluster.local-shadow",
            ),
        ] {
            assert_eq!(shadow_host(a), want);
        }
    }

    #[test]
    fn rewrites_and_redirects() {
        let f = |prefix: Option<&str>| Forward {
            clusters: crate::model::route::ClusterChoice::Single(crate::model::ClusterRef {
                name: "c".into(),
                slot: 0,
            }),
            timeout: None,
            prefix_rewrite: prefix.map(str::to_string),
            regex_rewrite: None,
            host_rewrite: None,
            retry: None,
            grpc_timeout_max: None,
            mirrors: vec![],
            hash_policies: vec![],
        };
        let r = route(PathMatch::Prefix("/api/".into()), HeaderOps::default());
        assert_eq!(
            rewrite_path(&r, &f(Some("/v2/")), "/api/items?x=1").as_deref(),
            Some("/v2/items?x=1")
        );
        assert_eq!(rewrite_path(&r, &f(None), "/api/items"), None);
        let mut rd = Redirect {
            scheme: Some("https".into()),
            host: None,
            port: None,
            path: None,
            prefix: None,
            status: 301,
            strip_query: false,
        };
        assert_eq!(
            redirect_location(&rd, &r, "http", "shop:8080", "/api/a?b=1"),
            "https://shop/api/a?b=1"
        );
        rd.scheme = None;
        rd.prefix = Some("/new/".into());
        rd.strip_query = true;
        assert_eq!(
            redirect_location(&rd, &r, "http", "shop:8080", "/api/a?b=1"),
            "http://shop:8080/new/a"
        );
    }

    #[test]
    fn request_hashes_follow_the_policies() {
        use crate::model::route::{HashKey, HashPolicy};
        use crate::upstream::hash::xxh64;
        let remote: std::net::SocketAddr = "10.1.2.3:5555".parse().unwrap();
        let parts = |headers: &[(&str, &str)], uri: &str| {
            let mut b = Request::builder().uri(uri);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap().into_parts().0
        };
        let pol = |key: HashKey, terminal: bool| HashPolicy { key, terminal };
        let header = pol(HashKey::Header("x-user".parse().unwrap()), false);
        let query = pol(HashKey::Query("shard".into()), false);
        let user = parts(&[("x-user", "ana")], "/p?shard=7&x=1");
        let nobody = parts(&[], "/");
        let h_ana = xxh64(b"ana", 0);
        let cases: Vec<(&str, Vec<HashPolicy>, &Parts, Option<u64>)> = vec![
            ("header", vec![header.clone()], &user, Some(h_ana)),
            ("query", vec![query.clone()], &user, Some(xxh64(b"7", 0))),
            (
                "two combined",
                vec![header.clone(), query.clone()],
                &user,
                Some(h_ana.rotate_left(1) ^ xxh64(b"7", 0)),
            ),
            (
                "terminal stops",
                vec![pol(HashKey::Header("x-user".parse().unwrap()), true), query],
                &user,
                Some(h_ana),
            ),
            (
                "source ip",
                vec![pol(HashKey::SourceIp, false)],
                &user,
                Some(xxh64(b"10.1.2.3", 0)),
            ),
            ("absent header", vec![header], &nobody, None),
        ];
        for (name, policies, p, want) in cases {
            assert_eq!(request_hash(&policies, p, remote).0, want, "{name}");
        }
        // cookies: read when sent, made (and set) when a TTL allows
        let session = |ttl| {
            vec![pol(
                HashKey::Cookie {
                    name: "sid".into(),
                    ttl,
                    path: "/".into(),
                },
                false,
            )]
        };
        let with = parts(&[("cookie", "a=1; sid=\"abc\"")], "/");
        assert_eq!(
            request_hash(&session(None), &with, remote),
            (Some(xxh64(b"abc", 0)), None)
        );
        assert_eq!(
            request_hash(&session(None), &parts(&[], "/"), remote),
            (None, None)
        );
        let (h, set) = request_hash(
            &session(Some(Duration::from_secs(60))),
            &parts(&[], "/"),
            remote,
        );
        let set = set.expect("a cookie is made").to_str().unwrap().to_string();
        let value = set
            .strip_prefix("sid=\"")
            .and_then(|r| r.split_once('"'))
            .map(|(v, _)| v.to_string())
            .unwrap();
        assert!(set.ends_with("; Max-Age=60; Path=/; HttpOnly"), "{set}");
        assert_eq!(h, Some(xxh64(value.as_bytes(), 0)));
    }
}
