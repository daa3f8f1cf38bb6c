//! The HTTP connection manager: HTTP/1.1 and HTTP/2 (by preface or ALPN) on hyper, one
//! connection at a time, each request run through the filter chain and the router against
//! the current model.
//!
//! - [`body`]: the body type.
//! - [`filter`]: the filter trait, following the request's phases.
//! - [`router`]: route matching, upstream requests, retries.
//! - [`reply`]: local replies with Envoy's codes and flags.
//! - [`headers`]: hop-by-hop, `x-forwarded-*`, request ids, path normalization.

pub mod body;
pub mod filter;
pub mod headers;
pub mod reply;
pub mod retry;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::drain::Drain;
use crate::model::SharedModel;
use crate::model::listener::{Codec, ForwardClientCert, Hcm, RouteSource, ServerHeader};
use crate::model::route::{Action, RequestView};
use crate::telemetry::{access_log, trace};
use body::Body;
use filter::{RouteCtx, StreamInfo};
use headers::{PeerCert, X_FORWARDED_FOR, X_FORWARDED_PROTO, X_REQUEST_ID, XFCC};
use reply::{Flag, LocalReply};

/// Whether the request is gRPC.
pub fn is_grpc(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The request's authority: the URI's (HTTP/2) or the Host header.
pub fn authority(p: &Parts) -> &str {
    p.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| p.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("")
}

/// One downstream connection of an HTTP chain.
#[derive(Debug)]
pub struct Conn {
    /// Its connection manager.
    pub hcm: Arc<Hcm>,
    /// The model.
    pub model: SharedModel,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The peer's certificate (mTLS).
    pub peer: Option<Arc<PeerCert>>,
    /// The peer's SPIFFE ID (its certificate's first URI SAN).
    pub peer_identity: Option<Arc<str>>,
    /// Our own identity (the `By` of `x-forwarded-client-cert`).
    pub local_identity: Option<Arc<str>>,
    /// Our address on the connection.
    pub local: Option<SocketAddr>,
    /// The TLS SNI the peer sent.
    pub server_name: Option<Arc<str>>,
}

fn prepare(conn: &Conn, parts: &mut Parts) {
    let hcm = &conn.hcm;
    if (hcm.normalize_path || hcm.merge_slashes)
        && let Some(pq) = parts.uri.path_and_query()
        && let Some(p) = headers::normalize_path(pq.path(), hcm.merge_slashes)
    {
        let new = match pq.query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        let mut up = parts.uri.clone().into_parts();
        if let Ok(v) = new.parse() {
            up.path_and_query = Some(v);
            if let Ok(u) = http::Uri::from_parts(up) {
                parts.uri = u;
            }
        }
    }
    let h = &mut parts.headers;
    if !h.contains_key(X_FORWARDED_PROTO) {
        h.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if conn.tls { "https" } else { "http" }),
        );
    }
    if hcm.generate_request_id && !h.contains_key(X_REQUEST_ID) {
        h.insert(X_REQUEST_ID, headers::request_id());
    }
    if hcm.use_remote_address {
        let ip = conn.remote.ip().to_string();
        let v = match h.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev},{ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(X_FORWARDED_FOR, v);
        }
    }
    match (hcm.forward_client_cert, &conn.peer) {
        (ForwardClientCert::Sanitize, _) => {
            h.remove(XFCC);
        }
        (ForwardClientCert::AppendForward | ForwardClientCert::SanitizeSet, Some(peer)) => {
            let el = headers::xfcc_element(
                conn.local_identity.as_deref(),
                peer,
                hcm.client_cert_details,
            );
            let v = match (
                hcm.forward_client_cert,
                h.get(XFCC).and_then(|v| v.to_str().ok()),
            ) {
                (ForwardClientCert::AppendForward, Some(prev)) => format!("{prev},{el}"),
                _ => el,
            };
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(XFCC, v);
            }
        }
        (
            ForwardClientCert::AppendForward
            | ForwardClientCert::SanitizeSet
            | ForwardClientCert::ForwardOnly,
            None,
        ) if !conn.tls => {
            h.remove(XFCC);
        }
        _ => {}
    }
}

fn upgrade_type(h: &HeaderMap) -> Option<String> {
    let conn_upgrade = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    if !conn_upgrade {
        return None;
    }
    h.get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
}

/// Runs one request: the route is resolved (and a weighted cluster picked), the filters run
/// with it, then the route's action; the response goes back through the filters.
async fn route(
    conn: &Conn,
    mut req: Request<Incoming>,
    info: &mut StreamInfo,
    body_bytes: Option<&Arc<AtomicU64>>,
    entries: &mut Vec<access_log::Entry>,
    span: &mut Option<trace::Active>,
) -> Response<Body> {
    let hcm = &conn.hcm;
    let grpc = is_grpc(req.headers());
    let upgrade = upgrade_type(req.headers());
    let down_upgrade = match &upgrade {
        Some(t) if hcm.upgrades.iter().any(|u| u == t) => Some(hyper::upgrade::on(&mut req)),
        Some(_) => {
            let r = LocalReply::new(403, "upgrade not allowed", Flag::LocalReply);
            info.flags.push(r.flag);
            return r.into_response(grpc, &hcm.server_name);
        }
        None => None,
    };
    let (mut parts, body) = req.into_parts();
    let body = match body_bytes {
        Some(n) => body::Metered::wrap(Body::Incoming(body), n.clone()),
        None => Body::Incoming(body),
    };
    prepare(conn, &mut parts);
    if let Some(t) = &hcm.tracing {
        *span = trace::Active::start(
            t,
            &mut parts,
            if conn.tls { "https" } else { "http" },
            conn.remote,
        );
    }
    if !hcm.access_logs.is_empty() {
        // read after the request id is set, as Envoy's log sees the request
        let start = std::time::SystemTime::now();
        *entries = hcm
            .access_logs
            .iter()
            .map(|l| access_log::Entry {
                start,
                protocol: crate::telemetry::expr::protocol(parts.version),
                request: l.captures.capture(&parts, conn.tls),
                response: Vec::new(),
            })
            .collect();
    }
    let model = conn.model.load_full();
    let table = match &hcm.routes {
        RouteSource::Inline(t) => Some(t.clone()),
        RouteSource::Rds { slot, .. } => model.route(*slot).cloned(),
    };
    let scheme = if conn.tls { "https" } else { "http" };
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let found = table.as_deref().and_then(|t| {
        let view = RequestView {
            host: authority(&parts),
            path_and_query: &pq,
            method: &parts.method,
            scheme,
            headers: &parts.headers,
        };
        let (vh, r) = t.find(&view)?;
        let (cluster, weighted) = match &r.action {
            Action::Forward(f) => {
                let (c, w) = f.clusters.pick(|t| fastrand::u32(..t.max(1)));
                (Some(c), w)
            }
            _ => (None, None),
        };
        Some(RouteCtx {
            table: t,
            vhost: vh,
            route: r,
            cluster,
            weighted,
        })
    });
    if let Some(ctx) = &found {
        info.route_name = Some(ctx.route.name.clone());
        if let (Some(s), Some(op)) = (span.as_mut(), &ctx.route.decorator) {
            s.set_operation(op);
        }
    }
    let end_stream = http_body::Body::is_end_stream(&body);
    let answer =
        match filter::request_headers(&hcm.filters, info, &mut parts, found.as_ref(), end_stream)
            .await
        {
            Some(early) => early,
            None => match &found {
                None => Err(LocalReply::no_route()),
                Some(ctx) => {
                    act(
                        conn,
                        &model,
                        ctx,
                        parts,
                        body,
                        upgrade,
                        down_upgrade,
                        scheme,
                        &pq,
                        info,
                    )
                    .await
                }
            },
        };
    let resp = match answer {
        Ok(r) => r,
        Err(reply) => {
            info.flags.push(reply.flag);
            reply.into_response(grpc, &hcm.server_name)
        }
    };
    let (mut parts, body) = resp.into_parts();
    if let Some(early) = filter::response_headers(
        &hcm.filters,
        info,
        &mut parts,
        found.as_ref(),
        http_body::Body::is_end_stream(&body),
    ) {
        let r = match early {
            Ok(r) => r,
            Err(reply) => {
                info.flags.push(reply.flag);
                reply.into_response(grpc, &hcm.server_name)
            }
        };
        return r;
    }
    Response::from_parts(parts, body)
}

/// The route's action: a direct response, a redirect, or forwarding to its cluster.
#[allow(clippy::too_many_arguments)]
async fn act(
    conn: &Conn,
    model: &crate::model::Model,
    ctx: &RouteCtx<'_>,
    mut parts: Parts,
    body: Body,
    upgrade: Option<String>,
    down_upgrade: Option<hyper::upgrade::OnUpgrade>,
    scheme: &str,
    pq: &str,
    info: &mut StreamInfo,
) -> Result<Response<Body>, LocalReply> {
    let hcm = &conn.hcm;
    let (table, vh, r) = (ctx.table, ctx.vhost, ctx.route);
    match &r.action {
        Action::Direct(d) => {
            info.flags.push(Flag::LocalReply);
            Ok(router::direct(table, vh, r, d.status, d.body.clone()))
        }
        Action::Redirect(rd) => {
            let loc = router::redirect_location(rd, r, scheme, authority(&parts), pq);
            let mut resp = router::direct(table, vh, r, rd.status, bytes::Bytes::new());
            if let Ok(v) = HeaderValue::from_str(&loc) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Action::Forward(f) => {
            let cref = ctx.cluster.expect("forwarding routes pick a cluster");
            info.cluster = Some(cref.name.clone());
            let cluster = model
                .cluster(cref)
                .cloned()
                .ok_or_else(LocalReply::no_cluster)?;
            info.service = cluster.spec.service.clone();
            let mirrors: Vec<router::Shadow> = f
                .mirrors
                .iter()
                .filter(|m| m.fraction.sample())
                .filter_map(|m| {
                    Some(router::Shadow {
                        cluster: model.cluster(&m.cluster)?.clone(),
                        host_suffix: m.host_suffix,
                    })
                })
                .collect();
            let (hash, set_cookie) = if f.hash_policies.is_empty() {
                (None, None)
            } else {
                router::request_hash(&f.hash_policies, &parts, conn.remote)
            };
            headers::strip_hop_by_hop(&mut parts.headers);
            if let Some(t) = &upgrade {
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(
                    header::UPGRADE,
                    HeaderValue::from_str(t).expect("came from a header"),
                );
            }
            let mut resp = router::forward(
                hcm,
                table,
                vh,
                r,
                f,
                &cluster,
                ctx.weighted,
                mirrors,
                parts,
                body,
                info,
                hash,
            )
            .await?;
            if let Some(c) = set_cookie {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            if let Some(down) = down_upgrade
                && resp.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                let up = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    match tokio::try_join!(down, up) {
                        Ok((d, u)) => {
                            let (mut d, mut u) = (TokioIo::new(d), TokioIo::new(u));
                            let _ = tokio::io::copy_bidirectional(&mut d, &mut u).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                    }
                });
            }
            Ok(resp)
        }
    }
}

/// Handles one request. When the chain has a log phase (or access logs are on), it runs
/// when the response body has been sent, with the sizes and duration of the whole exchange.
pub async fn handle(conn: Arc<Conn>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    // the access log line is built only when it is enabled
    let logged = tracing::enabled!(target: "access", tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().path().to_string()));
    let log_phase = conn.hcm.log_phase || logged.is_some();
    let mut entries = Vec::new();
    let mut span = None;
    let mut info = StreamInfo {
        peer_identity: conn.peer_identity.clone(),
        local_identity: conn.local_identity.clone(),
        downstream_tls: conn.tls,
        downstream_local: conn.local,
        ..Default::default()
    };
    let body_bytes = log_phase.then(|| Arc::new(AtomicU64::new(0)));
    let mut resp = route(
        &conn,
        req,
        &mut info,
        body_bytes.as_ref(),
        &mut entries,
        &mut span,
    )
    .await;
    let hcm = &conn.hcm;
    match hcm.server_header {
        ServerHeader::Overwrite => {
            resp.headers_mut()
                .insert(header::SERVER, hcm.server_name.clone());
        }
        ServerHeader::AppendIfAbsent if !resp.headers().contains_key(header::SERVER) => {
            resp.headers_mut()
                .insert(header::SERVER, hcm.server_name.clone());
        }
        _ => {}
    }
    info.response_code = Some(resp.status().as_u16());
    if !log_phase {
        return Ok(resp);
    }
    for (e, l) in entries.iter_mut().zip(&conn.hcm.access_logs) {
        e.response = l.response_values(resp.headers());
    }
    let (parts, body) = resp.into_parts();
    let conn2 = conn.clone();
    let on_end: body::OnEnd = Box::new(move |end: body::End| {
        let mut info = info;
        info.duration = start.elapsed();
        info.response_body_bytes = end.bytes;
        info.request_body_bytes = body_bytes.map_or(0, |n| n.load(Ordering::Relaxed));
        if end.grpc_status.is_some() {
            info.grpc_status = end.grpc_status;
        }
        if !end.complete && !info.flags.contains(&Flag::DownstreamTermination) {
            info.flags.push(Flag::DownstreamTermination);
        }
        let hcm = &conn2.hcm;
        filter::log(&hcm.filters, &info);
        if let Some(s) = span {
            s.finish(&info);
        }
        if !entries.is_empty() {
            let down = access_log::Downstream {
                local: conn2.local,
                remote: Some(conn2.remote),
                server_name: conn2.server_name.as_deref(),
                peer_uri: conn2.peer_identity.as_deref(),
                local_uri: conn2.local_identity.as_deref(),
            };
            for (e, l) in entries.iter().zip(&hcm.access_logs) {
                l.write(e, &info, &down);
            }
        }
        if let Some((method, path)) = logged {
            let flags: Vec<&str> = info.flags.iter().map(|f| f.as_str()).collect();
            tracing::debug!(
                target: "access",
                "\"{method} {path}\" {} {} {} {} {} {} {}ms \"{}\"",
                info.response_code.unwrap_or(0),
                if flags.is_empty() { "-".to_string() } else { flags.join(",") },
                info.request_body_bytes,
                info.response_body_bytes,
                info.cluster.as_deref().unwrap_or("-"),
                info.upstream_host.as_deref().unwrap_or("-"),
                router::millis(info.duration),
                hcm.stat_prefix,
            );
        }
    });
    Ok(Response::from_parts(
        parts,
        body::Logged::wrap(body, on_end),
    ))
}

/// Serves HTTP on one downstream connection until it closes or the drain ends it.
pub async fn serve<I>(io: I, conn: Arc<Conn>, drain: Drain)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .preserve_header_case(false);
    builder.http2().timer(TokioTimer::new());
    let builder = match conn.hcm.codec {
        Codec::Auto => builder,
        Codec::Http1 => builder.http1_only(),
        Codec::Http2 => builder.http2_only(),
    };
    let svc = hyper::service::service_fn(move |req| handle(conn.clone(), req));
    let c = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::pin!(c);
    let mut draining = std::pin::pin!(drain.signaled());
    let mut drained = false;
    loop {
        tokio::select! {
            r = c.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "downstream HTTP connection ended");
                }
                return;
            }
            _ = &mut draining, if !drained => {
                drained = true;
                c.as_mut().graceful_shutdown();
            }
        }
    }
}
