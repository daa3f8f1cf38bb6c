//! VirtualService traffic policies end to end: mastd (in-process) translates a VirtualService
//! with fault injection, a CORS policy and a mirror; the client's mast-proxy applies them on
//! its outbound route, in front of a real server proxy over mTLS. A DestinationRule's
//! connection pool limits overflow as Envoy's circuit breakers do (503, UO), and its outlier
//! detection ejects a failing endpoint.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::addr;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A service with one workload at `ip`, its proxy's inbound listener on `ip:9080` and its
/// outbound one on `egress:9080`.
fn service(name: &str, ip: &str, egress: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: default
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - number: 9080
    name: http
    protocol: HTTP
  resolution: STATIC
  workloadSelector:
    labels:
      app: {name}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: {name}-1
  namespace: default
spec:
  address: {ip}
  labels:
    app: {name}
  serviceAccount: {name}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: {name}
  namespace: default
spec:
  workloadSelector:
    labels:
      app: {name}
  ingress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {ip}
    defaultEndpoint: 0.0.0.0:8080
    captureMode: NONE
  egress:
  - bind: {egress}
    captureMode: NONE
    hosts: ["./*"]
---
"#
    )
}

/// Service `pool` with two workloads, `good` and `bad`, at `ips` (workload address, egress
/// bind), and a DestinationRule ejecting after two 5xx in a row.
fn pool_service(ips: [(&str, &str); 2]) -> String {
    let mut out = String::from(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: pool
  namespace: default
spec:
  hosts: [pool.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - number: 9080
    name: http
    protocol: HTTP
  resolution: STATIC
  workloadSelector:
    labels:
      app: pool
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: pool
  namespace: default
spec:
  host: pool.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
---
"#,
    );
    for (name, (ip, egress)) in ["good", "bad"].into_iter().zip(ips) {
        out.push_str(&format!(
            r#"apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: pool-{name}
  namespace: default
spec:
  address: {ip}
  labels:
    app: pool
    instance: {name}
  serviceAccount: pool
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: pool-{name}
  namespace: default
spec:
  workloadSelector:
    labels:
      instance: {name}
  ingress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {ip}
    defaultEndpoint: 0.0.0.0:8080
    captureMode: NONE
  egress:
  - bind: {egress}
    captureMode: NONE
    hosts: ["./*"]
---
"#
        ));
    }
    out
}

fn config(net: [u8; 3]) -> String {
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let mut out = service("echo", &ip(2), &ip(102));
    out.push_str(&service("shadow", &ip(3), &ip(103)));
    out.push_str(&service("limited", &ip(4), &ip(104)));
    out.push_str(&pool_service([(&ip(5), &ip(105)), (&ip(6), &ip(106))]));
    out.push_str(&format!(
        r#"apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {client}
    captureMode: NONE
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: limited
  namespace: default
spec:
  host: limited.default.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
  - name: abort
    match:
    - headers:
        x-fault:
          exact: abort
    fault:
      abort:
        httpStatus: 418
        percentage:
          value: 100
    route:
    - destination:
        host: echo.default.svc.cluster.local
  - name: grpc-abort
    match:
    - headers:
        x-fault:
          exact: grpc
    fault:
      abort:
        grpcStatus: UNAVAILABLE
        percentage:
          value: 100
    route:
    - destination:
        host: echo.default.svc.cluster.local
  - name: delay
    match:
    - headers:
        x-fault:
          exact: delay
    fault:
      delay:
        fixedDelay: 300ms
        percentage:
          value: 100
    route:
    - destination:
        host: echo.default.svc.cluster.local
  - name: mirror
    match:
    - uri:
        prefix: /mirror
    mirror:
      host: shadow.default.svc.cluster.local
    mirrorPercentage:
      value: 100
    route:
    - destination:
        host: echo.default.svc.cluster.local
  - name: default
    corsPolicy:
      allowOrigins:
      - exact: https://shop.example
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-exposed]
      maxAge: 60s
      allowCredentials: true
    route:
    - destination:
        host: echo.default.svc.cluster.local
"#,
        client = ip(1),
    ));
    out
}

/// An app that records the host and path of every request it gets.
async fn recording_app(at: std::net::SocketAddr) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sock = TcpListener::bind(at).await.unwrap();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                            .or_else(|| req.uri().authority().map(|a| a.to_string()))
                            .unwrap_or_default();
                        log.lock()
                            .unwrap()
                            .push((host, req.uri().path().to_string()));
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            "shadow",
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    seen
}

/// An app that answers every request with `code`; how many it got.
async fn status_app(at: std::net::SocketAddr, code: u16) -> Arc<AtomicUsize> {
    let sock = TcpListener::bind(at).await.unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    count.fetch_add(1, Ordering::Relaxed);
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(code)
                                .body(Full::new(Bytes::from("failing")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_policies_of_virtual_services_and_destination_rules() {
    common::init_tracing();
    let net = common::loopback_net();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config(net)).unwrap();
    let mastd = mastd::app::start(common::mastd_args(cfg_dir.path(), state.path()))
        .await
        .expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = common::Ca::new();
    for sa in ["client", "echo", "shadow", "limited", "pool"] {
        ca.issue(&certs.path().join(sa), &common::spiffe(sa));
    }
    common::start_app(addr(net, 2, 8080), "echo").await;
    let shadow_seen = recording_app(addr(net, 3, 8080)).await;
    let start_as = |pod: &'static str, sa: &'static str, host: u8, labels: Vec<String>| {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            sa,
            addr(net, host, 0).ip(),
            &labels,
            Some(&certs.path().join(sa)),
        );
        common::start_proxy(c)
    };
    let start = |pod: &'static str, host: u8| start_as(pod, pod, host, vec![format!("app={pod}")]);
    let client = start("client", 1).await;
    let _echo = start("echo", 2).await;
    let _shadow = start("shadow", 3).await;
    common::start_app(addr(net, 4, 8080), "limited").await;
    let _limited = start("limited", 4).await;
    common::start_app(addr(net, 5, 8080), "pool-good").await;
    let bad_hits = status_app(addr(net, 6, 8080), 503).await;
    let pool_labels = |i: &str| vec!["app=pool".to_string(), format!("instance={i}")];
    let _good = start_as("pool-good", "pool", 5, pool_labels("good")).await;
    let _bad = start_as("pool-bad", "pool", 6, pool_labels("bad")).await;
    let front = addr(net, 1, 9080);
    let host = "echo.default.svc.cluster.local:9080";
    common::get_until(front, host, "/ready", 200).await;
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // abort: 418 with Envoy's body, the upstream never sees it
    let g = common::request(front, host, "/a", &[("x-fault", "abort")])
        .await
        .unwrap();
    assert_eq!(g.status, 418, "{g:?}");
    assert_eq!(g.body, "fault filter abort");

    // gRPC abort: a trailers-only gRPC status
    let g = common::request(
        front,
        host,
        "/pkg.Svc/Call",
        &[("x-fault", "grpc"), ("content-type", "application/grpc")],
    )
    .await
    .unwrap();
    assert_eq!(g.status, 200, "{g:?}");
    assert_eq!(g.headers["grpc-status"], "14");

    // delay: the request still reaches the app, at least 300 ms later
    let t = Instant::now();
    let g = common::request(front, host, "/d", &[("x-fault", "delay")])
        .await
        .unwrap();
    assert_eq!(g.status, 200, "{g:?}");
    assert_eq!(g.json()["path"], "/d");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "delayed {:?}",
        t.elapsed()
    );

    // CORS: an allowed preflight is answered by the proxy
    let pre = common::request_method(
        front,
        "OPTIONS",
        host,
        "/c",
        &[
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(pre.status, 200, "{pre:?}");
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_eq!(pre.headers["access-control-allow-methods"], "GET,POST");
    assert_eq!(pre.headers["access-control-allow-headers"], "x-custom");
    assert_eq!(pre.headers["access-control-max-age"], "60");
    assert_eq!(pre.headers["access-control-allow-credentials"], "true");
    assert!(pre.body.is_empty(), "answered by the proxy: {pre:?}");
    // an actual CORS request gets the allow-origin and expose headers from the proxy
    let g = common::request(front, host, "/c", &[("origin", "https://shop.example")])
        .await
        .unwrap();
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["app"], "echo");
    assert_eq!(
        g.headers["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_eq!(g.headers["access-control-expose-headers"], "x-exposed");
    // a foreign origin gets no CORS headers; its preflight goes upstream
    let g = common::request(front, host, "/c", &[("origin", "https://evil.example")])
        .await
        .unwrap();
    assert!(!g.headers.contains_key("access-control-allow-origin"));
    let pre = common::request_method(
        front,
        "OPTIONS",
        host,
        "/c",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(pre.json()["method"], "OPTIONS", "forwarded: {pre:?}");

    // mirror: the app answers, and the shadow gets a copy with `-shadow` on its host
    let g = common::get(front, host, "/mirror/1").await.unwrap();
    assert_eq!(g.json()["app"], "echo");
    let got = common::eventually("the mirrored request", || {
        shadow_seen.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(
        got,
        (
            "echo.default.svc.cluster.local-shadow:9080".to_string(),
            "/mirror/1".to_string()
        )
    );
    // only the mirror route is copied
    assert_eq!(shadow_seen.lock().unwrap().len(), 1);
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // circuit breakers: one connection and one pending request; of three slow requests at
    // once, one runs, one waits for the connection and the third overflows
    let limited = "limited.default.svc.cluster.local:9080";
    common::get_until(front, limited, "/ready", 200).await;
    let t = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(common::get(front, limited, "/slow")))
        .collect();
    let mut got = Vec::new();
    for c in calls {
        got.push(c.await.unwrap().unwrap());
    }
    let mut codes: Vec<u16> = got.iter().map(|g| g.status).collect();
    codes.sort();
    assert_eq!(codes, [200, 200, 503], "{got:?}");
    let over = got.iter().find(|g| g.status == 503).unwrap();
    assert_eq!(
        over.body,
        "upstream connect error or disconnect/reset before headers. reset reason: overflow"
    );
    // the pending one waited for the first to finish on the one connection
    assert!(
        t.elapsed() >= Duration::from_millis(1600),
        "{:?}",
        t.elapsed()
    );
    // the limits are per cluster: afterwards a request goes through again
    let g = common::get(front, limited, "/after").await.unwrap();
    assert_eq!(g.status, 200, "{g:?}");
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // outlier detection: the failing instance answers two 503s in a row and is ejected
    // (Istio's default retry policy does not retry a 503 response); from then on every
    // request goes to the good one
    let pool = "pool.default.svc.cluster.local:9080";
    let bad = addr(net, 6, 9080).to_string();
    common::eventually("both pool endpoints", || {
        let m = client.model();
        let c = m.cluster_named("outbound|9080||pool.default.svc.cluster.local")?;
        (c.hosts().active().len() == 2).then_some(())
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..20 {
        let g = common::get(front, pool, &format!("/o/{i}")).await.unwrap();
        match g.status {
            200 => assert_eq!(g.json()["app"], "pool-good"),
            _ => assert_eq!(g.body, "failing", "{g:?}"),
        }
        codes.push(g.status);
    }
    assert_eq!(codes.iter().filter(|c| **c == 503).count(), 2, "{codes:?}");
    assert!(codes[5..].iter().all(|c| *c == 200), "{codes:?}");
    assert_eq!(bad_hits.load(Ordering::Relaxed), 2);
    let admin = client.admin_addr;
    let text =
        tokio::task::spawn_blocking(move || mast_xds::http::get(admin, "/clusters").unwrap().body)
            .await
            .unwrap();
    let flag = format!(
        "outbound|9080||pool.default.svc.cluster.local::{bad}::health_flags::/failed_outlier_check"
    );
    assert!(text.contains(&flag), "{text}");
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());
}
