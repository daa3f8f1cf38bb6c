//! Test helpers for mast-proxy's end-to-end tests: workload certificates (rcgen, P-256,
//! SPIFFE URI SANs), a tiny HTTP app, a TCP echo, an HTTP client, and loopback addresses.
//! (They belong in mast-test once other crates need them.)

#![allow(dead_code)]

pub mod ads;
pub mod protos;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A distinct loopback /24 for one test (`127.A.B.x`), so that fixed ports do not collide.
pub fn loopback_net() -> [u8; 3] {
    [127, fastrand::u8(20..250), fastrand::u8(1..250)]
}

/// `127.A.B.host:port`.
pub fn addr(net: [u8; 3], host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], host)),
        port,
    )
}

/// A mesh CA that signs workload certificates.
pub struct Ca {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
    pem: String,
}

impl Ca {
    /// A new self-signed P-256 root.
    pub fn new() -> Ca {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "cluster.local");
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { key, params, pem }
    }

    /// Writes `cert-chain.pem`, `key.pem` and `root-cert.pem` for `spiffe_id` into `dir`.
    pub fn issue(&self, dir: &Path, spiffe_id: &str) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names = vec![rcgen::SanType::URI(spiffe_id.try_into().unwrap())];
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("cert-chain.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("root-cert.pem"), &self.pem).unwrap();
    }
}

/// The SPIFFE ID of a service account in `default`.
pub fn spiffe(sa: &str) -> String {
    format!("spiffe://cluster.local/ns/default/sa/{sa}")
}

/// An HTTP/1.1 + HTTP/2 app answering `200` with a JSON echo of the request: method, path,
/// host and the headers a proxy adds.
pub async fn start_app(addr: SocketAddr, name: &'static str) -> tokio::task::JoinHandle<()> {
    let sock = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("app bind {addr}: {e}"));
    start_app_on(sock, name)
}

/// [`start_app`] on a socket already bound (in a network namespace, say).
pub fn start_app_on(sock: TcpListener, name: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let v = serde_json::json!({
                        "app": name,
                        "method": req.method().as_str(),
                        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                        "host": req.uri().authority().map(|a| a.to_string()).unwrap_or_else(|| h("host")),
                        "xfcc": h("x-forwarded-client-cert"),
                        "request_id": h("x-request-id"),
                        "forwarded_proto": h("x-forwarded-proto"),
                        "version": format!("{:?}", req.version()),
                        "attempt": h("x-envoy-attempt-count"),
                        "traceparent": h("traceparent"),
                        "b3": [h("x-b3-traceid"), h("x-b3-spanid"), h("x-b3-parentspanid"), h("x-b3-sampled")],
                    });
                    if req.uri().path() == "/slow" {
                        tokio::time::sleep(Duration::from_millis(800)).await;
                    }
                    let status = if req.uri().path() == "/status/503" {
                        503
                    } else {
                        200
                    };
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(v.to_string())))
                            .unwrap(),
                    )
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    })
}

/// A TCP echo that reads to end of stream, then writes back what it read and closes
/// (so it only answers when the client half-closes).
pub async fn start_tcp_echo(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let sock = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("echo bind {addr}: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if s.read_to_end(&mut buf).await.is_ok() {
                    let _ = s.write_all(&buf).await;
                    let _ = s.shutdown().await;
                }
            });
        }
    })
}

/// A response: status, headers, body.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: String,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `GET path` with `Host: host` over HTTP/1.1 to `to`.
pub async fn get(to: SocketAddr, host: &str, path: &str) -> std::io::Result<Got> {
    request(to, host, path, &[]).await
}

/// Sends a GET with extra headers.
pub async fn request(
    to: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Got> {
    request_method(to, "GET", host, path, headers).await
}

/// Sends a request with `method` and extra headers, without a body.
pub async fn request_method(
    to: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Got> {
    let io = |e: hyper::Error| std::io::Error::other(e.to_string());
    let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to))
        .await
        .map_err(|_| std::io::Error::other("connect timeout"))??;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .map_err(io)?;
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::new())).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), tx.send_request(req))
        .await
        .map_err(|_| std::io::Error::other("response timeout"))?
        .map_err(io)?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(io)?.to_bytes();
    Ok(Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Retries `get` until it answers `want` (10 s).
pub async fn get_until(to: SocketAddr, host: &str, path: &str, want: u16) -> Got {
    let mut last = None;
    for _ in 0..200 {
        match get(to, host, path).await {
            Ok(g) if g.status == want => return g,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{host}{path} via {to} never answered {want}: {last:?}");
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Polls the async `check` every 50 ms for up to 10 s.
pub async fn eventually_async<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out");
}

/// A proxy configuration for tests: loopback admin ports, NONE interception, `pod` in
/// `default` with service account `sa`, certificates in `cert_dir`.
pub fn proxy_config(
    discovery: SocketAddr,
    pod: &str,
    sa: &str,
    ip: IpAddr,
    labels: &[&str],
    cert_dir: Option<&Path>,
) -> mast_proxy::Config {
    let mut c = mast_proxy::Config::for_tests(discovery);
    c.pod_name = pod.into();
    c.service_account = sa.into();
    c.instance_ip = ip;
    c.labels = labels.iter().map(|s| s.to_string()).collect();
    c.cert_dir = cert_dir.map(Path::to_path_buf);
    c
}

/// Logs to the test's output (`RUST_LOG` filters; warnings by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Starts a proxy with an empty environment.
pub async fn start_proxy(c: mast_proxy::Config) -> mast_proxy::Handle {
    init_tracing();
    mast_proxy::run_with_env(c, &std::collections::BTreeMap::new())
        .await
        .expect("proxy starts")
}

/// mastd's flags for an in-process mastd on `dir` with its state in `state`: ephemeral
/// loopback ports, short debounces.
pub fn mastd_args(dir: &Path, state: &Path) -> mastd::args::Args {
    use clap::Parser;
    let mut a = mastd::args::Args::try_parse_from(["mastd"]).unwrap();
    a.config_dir = Some(dir.to_path_buf());
    a.state_dir = Some(state.to_path_buf());
    a.grpc_addr = "127.0.0.1:0".parse().unwrap();
    a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
    a.file_debounce = Duration::from_millis(50);
    a.debounce_after = Duration::from_millis(20);
    a
}

/// mastd (in-process) serving `config` (with MeshConfig `mesh`) and the pair of proxies the
/// telemetry tests use: `productpage-v1` at host 1 and `reviews-v2` at host 2 of `net`, with
/// workload certificates from a test CA.
pub struct Pair {
    /// The client proxy (productpage-v1).
    pub client: mast_proxy::Handle,
    /// The server proxy (reviews-v2).
    pub server: mast_proxy::Handle,
    /// mastd.
    pub mastd: mastd::app::Running,
    _dirs: Vec<tempfile::TempDir>,
}

/// Starts a [`Pair`]; `tweak` adjusts each proxy's config (given its service account).
pub async fn pair(
    net: [u8; 3],
    config: &str,
    mesh: Option<&str>,
    tweak: impl Fn(&str, &mut mast_proxy::Config),
) -> Pair {
    init_tracing();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config).unwrap();
    let mut args = mastd_args(cfg_dir.path(), state.path());
    if let Some(m) = mesh {
        let mesh_file = state.path().join("meshconfig.yaml");
        std::fs::write(&mesh_file, m).unwrap();
        args.mesh_config = Some(mesh_file);
    }
    let mastd = mastd::app::start(args).await.expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    for sa in ["productpage", "reviews"] {
        ca.issue(&certs.path().join(sa), &spiffe(sa));
    }
    let proxy = |pod: &str, sa: &str, host: u8, labels: &[&str]| {
        let mut c = proxy_config(
            mastd.grpc_addr,
            pod,
            sa,
            addr(net, host, 0).ip(),
            labels,
            Some(&certs.path().join(sa)),
        );
        c.workload_name = pod.into();
        tweak(sa, &mut c);
        start_proxy(c)
    };
    let client = proxy(
        "productpage-v1",
        "productpage",
        1,
        &["app=productpage", "version=v1"],
    )
    .await;
    let server = proxy("reviews-v2", "reviews", 2, &["app=reviews", "version=v2"]).await;
    Pair {
        client,
        server,
        mastd,
        _dirs: vec![cfg_dir, state, certs],
    }
}

/// `GET /stats/prometheus` on `at`.
pub async fn scrape(at: SocketAddr) -> String {
    let s = TcpStream::connect(at).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("/stats/prometheus")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(b.to_vec()).unwrap()
}
