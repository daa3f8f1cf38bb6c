//! The admin endpoints, Envoy's and pilot-agent's: on the admin address (keep it on loopback)
//! `/config_dump`, `/certs`, `/clusters`, `/ready`, `/quitquitquit`, `/stats/prometheus`; on the status
//! address `/healthz/ready` and `/stats/prometheus` merged with the application's metrics
//! (`--appMetrics`); on the readiness address `/healthz/ready`; on the Prometheus address
//! `/stats/prometheus`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::Shared;
use crate::http::body::Body;
use mast_xds::json::any_to_json;
use mast_xds::types;

/// Which endpoints a server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Envoy's admin (15000).
    Admin,
    /// pilot-agent's status (15020).
    Status,
    /// Readiness (15021).
    Ready,
    /// Prometheus (15090).
    Prometheus,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Body::full(body.into()))
        .expect("valid response")
}

fn json_response(v: &Value) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::full(
            serde_json::to_string_pretty(v).unwrap_or_default(),
        ))
        .expect("valid response")
}

/// Envoy's `/config_dump`: the accepted xDS resources by type, as JSON.
pub fn config_dump(shared: &Shared) -> Value {
    let dump = shared.dump.load();
    let version = |t: &str| {
        dump.versions
            .iter()
            .find(|(k, _)| **k == t)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let items = |t: &str| {
        dump.types
            .iter()
            .find(|(k, _)| **k == t)
            .map(|(_, m)| m.iter().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let nacks = shared.nacks();
    let clusters: Vec<Value> = items(types::CLUSTER)
        .into_iter()
        .map(|(_, a)| json!({"version_info": a.version, "cluster": any_to_json(&a.resource)}))
        .collect();
    let listeners: Vec<Value> = items(types::LISTENER)
        .into_iter()
        .map(|(n, a)| json!({"name": n, "active_state": {"version_info": a.version, "listener": any_to_json(&a.resource)}}))
        .collect();
    let routes: Vec<Value> = items(types::ROUTE)
        .into_iter()
        .map(|(_, a)| json!({"version_info": a.version, "route_config": any_to_json(&a.resource)}))
        .collect();
    let endpoints: Vec<Value> =
        items(types::ENDPOINT).into_iter().map(|(_, a)| json!({"version_info": a.version, "endpoint_config": any_to_json(&a.resource)})).collect();
    json!({"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": {"id": shared.node.id, "cluster": shared.node.cluster,
            "metadata": shared.node.metadata.as_ref().map(|m| Value::Object(mast_xds::structs::struct_to_json(m)))}}},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "version_info": version(types::CLUSTER), "dynamic_active_clusters": clusters},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "version_info": version(types::LISTENER), "dynamic_listeners": listeners},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs": routes},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": endpoints},
        crate::identity::sds::config_dump(shared.identity.current().as_deref()),
    ], "last_rejected": nacks})
}

/// Envoy's `/clusters` in its text form (`cluster::host::stat::value`).
pub fn clusters_text(shared: &Shared) -> String {
    let model = shared.model.load();
    let mut out = String::new();
    let now = crate::upstream::outlier::now_ms();
    for c in model.clusters.iter().flatten() {
        let hosts = c.hosts();
        for h in &hosts.all {
            let p = format!("{}::{}", c.spec.name, h.addr);
            let s = &h.stats;
            let _ = writeln!(out, "{p}::cx_total::{}", s.cx_total.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "{p}::cx_connect_fail::{}",
                s.cx_connect_fail.load(Ordering::Relaxed)
            );
            let _ = writeln!(out, "{p}::rq_active::{}", h.active.load(Ordering::Relaxed));
            let _ = writeln!(out, "{p}::rq_total::{}", s.rq_total.load(Ordering::Relaxed));
            let _ = writeln!(out, "{p}::rq_error::{}", s.rq_error.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "{p}::health_flags::{}",
                match (h.healthy, h.health.ejected_at(now)) {
                    (true, false) => "healthy",
                    (false, false) => "/failed_eds_health",
                    (true, true) => "/failed_outlier_check",
                    (false, true) => "/failed_outlier_check/failed_eds_health",
                }
            );
            let _ = writeln!(out, "{p}::outlier_ejections::{}", h.health.ejections());
            let _ = writeln!(out, "{p}::weight::{}", h.weight);
            let _ = writeln!(out, "{p}::priority::{}", h.priority);
            let _ = writeln!(out, "{p}::locality::{}", h.locality);
        }
    }
    out
}

/// `/stats/prometheus`: Istio's standard metrics, then server state and per-cluster upstream
/// counters with Envoy's names.
pub fn prometheus(shared: &Shared) -> String {
    let model = shared.model.load();
    let mut out = String::new();
    shared.telemetry.metrics.render(&mut out);
    shared.telemetry.tracers.render(&mut out);
    let _ = writeln!(
        out,
        "# TYPE envoy_server_live gauge\nenvoy_server_live {}",
        u8::from(!shared.drain.is_draining())
    );
    let _ = writeln!(
        out,
        "# TYPE envoy_server_total_connections gauge\nenvoy_server_total_connections {}",
        shared.drain.open()
    );
    let _ = writeln!(
        out,
        "# TYPE envoy_cluster_manager_active_clusters gauge\nenvoy_cluster_manager_active_clusters {}",
        model.clusters.iter().flatten().count()
    );
    let _ = writeln!(
        out,
        "# TYPE envoy_listener_manager_total_listeners_active gauge\nenvoy_listener_manager_total_listeners_active {}",
        model.listeners.len()
    );
    // xDS: the types whose last update was rejected (NACKed), with mastd's view in its
    // /debug/syncz
    let nacks = shared.nacks();
    let _ = writeln!(out, "# TYPE mast_xds_rejected gauge");
    for t in ["CDS", "EDS", "LDS", "RDS"] {
        let _ = writeln!(
            out,
            "mast_xds_rejected{{type=\"{t}\"}} {}",
            u8::from(nacks.contains_key(t))
        );
    }
    if let Some(issued) = shared.identity.current() {
        let left = issued.leaf().not_after - crate::identity::now_secs();
        let _ = writeln!(
            out,
            "# TYPE envoy_server_days_until_first_cert_expiring gauge\nenvoy_server_days_until_first_cert_expiring {}",
            left.max(0) / 86_400
        );
        let _ = writeln!(
            out,
            "# TYPE istio_agent_cert_expiry_seconds gauge\nistio_agent_cert_expiry_seconds{{resource_name=\"default\"}} {}",
            left.max(0)
        );
    }
    for (metric, pick) in [
        ("envoy_cluster_upstream_rq_total", 0usize),
        ("envoy_cluster_upstream_cx_total", 1),
        ("envoy_cluster_upstream_cx_connect_fail", 2),
    ] {
        let _ = writeln!(out, "# TYPE {metric} counter");
        for c in model.clusters.iter().flatten() {
            let sum: u64 = c
                .hosts()
                .all
                .iter()
                .map(|h| match pick {
                    0 => h.stats.rq_total.load(Ordering::Relaxed),
                    1 => h.stats.cx_total.load(Ordering::Relaxed),
                    _ => h.stats.cx_connect_fail.load(Ordering::Relaxed),
                })
                .sum();
            let _ = writeln!(
                out,
                "{metric}{{cluster_name=\"{}\"}} {sum}",
                c.spec.name.replace('"', "\\\"")
            );
        }
    }
    out
}

fn route(shared: &Arc<Shared>, role: Role, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let ready = || {
        if shared.drain.is_draining() {
            text(StatusCode::SERVICE_UNAVAILABLE, "DRAINING\n")
        } else if shared.is_ready() {
            text(StatusCode::OK, "LIVE\n")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "PRE_INITIALIZING\n")
        }
    };
    match (role, req.method(), path) {
        (Role::Admin, _, "/config_dump") => json_response(&config_dump(shared)),
        (Role::Admin, _, "/certs") => json_response(&crate::identity::certs_json(
            shared.identity.current().as_deref(),
        )),
        (Role::Admin, _, "/clusters") => {
            if req.uri().query().is_some_and(|q| q.contains("format=json")) {
                let lines: Vec<String> =
                    clusters_text(shared).lines().map(str::to_string).collect();
                json_response(&json!({"lines": lines}))
            } else {
                text(StatusCode::OK, clusters_text(shared))
            }
        }
        (Role::Admin, _, "/ready") => ready(),
        (Role::Admin, &Method::POST, "/quitquitquit") => {
            shared.request_quit();
            text(StatusCode::OK, "OK\n")
        }
        (Role::Status | Role::Ready, _, "/healthz/ready") => ready(),
        (Role::Admin | Role::Status | Role::Prometheus, _, "/stats/prometheus") => {
            text(StatusCode::OK, prometheus(shared))
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The application's metrics for the merged scrape (`None`, logged, when it does not answer).
async fn app_metrics(shared: &Shared) -> Option<String> {
    use http_body_util::BodyExt;
    let scrape = shared.app_scrape.as_ref()?;
    let ip = shared.config.instance_ip;
    let addr = std::net::SocketAddr::new(
        if ip.is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            ip
        },
        scrape.port,
    );
    let fetch = async {
        let s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .ok()?;
        tokio::spawn(conn);
        let req = Request::builder()
            .uri(scrape.path.as_str())
            .header(header::HOST, addr.to_string())
            .header(header::ACCEPT, "text/plain")
            .body(Body::Empty)
            .ok()?;
        let resp = tx.send_request(req).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten();
    if got.is_none() {
        tracing::debug!(%addr, path = %scrape.path, "application metrics not scraped");
    }
    got
}

/// The status port's `/stats/prometheus`: the proxy's metrics, then the application's (as
/// Istio's agent merges them).
pub async fn merged_prometheus(shared: &Shared) -> String {
    let mut out = prometheus(shared);
    if let Some(app) = app_metrics(shared).await {
        out.push_str(&app);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Serves `role` on `sock` until the process ends.
pub async fn serve(sock: TcpListener, shared: Arc<Shared>, role: Role) {
    loop {
        let Ok((stream, _)) = sock.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    let r = if role == Role::Status && req.uri().path() == "/stats/prometheus" {
                        text(StatusCode::OK, merged_prometheus(&shared).await)
                    } else {
                        route(&shared, role, &req)
                    };
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
