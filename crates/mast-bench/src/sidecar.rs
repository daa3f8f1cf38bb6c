//! `mast-bench sidecar`: what a pair of sidecars adds to a request. An open-loop load at a
//! fixed rate goes client → proxy → mTLS → proxy → server, for a pair of mast-proxy (with
//! Istio's telemetry, again with it off through the Telemetry API, and with every request
//! traced to an OpenTelemetry collector) and a pair of HAProxy
//! doing the same mTLS hop, against the direct path in the same run. Reported: latency
//! percentiles and what the pair adds to them, CPU seconds per 1,000 requests and RSS of each
//! proxy (from /proc).
//!
//! Each request is due at `start + n / rate` and its latency counts from that moment, not
//! from when a connection was free to send it, so a stall is charged to every request it
//! delays (the coordinated-omission correction wrk2 makes).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::machine;

/// Flags of `mast-bench sidecar`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Connections from the load generator.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Request and response body size, bytes.
    #[arg(long, default_value_t = 1024)]
    pub body: usize,
    /// Measured seconds per target (after a warm-up of a fifth of it).
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// The directory of mastd and mast-proxy (default: beside this benchmark).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const APP: &str = "127.0.77.2:18080";
const MAST_CLIENT: &str = "127.0.77.1";
const MAST_SERVER: &str = "127.0.77.2";
const HAPROXY_CLIENT: &str = "127.0.78.1:8080";
const HAPROXY_SERVER: &str = "127.0.78.2:8443";
const HOST: &str = "echo.bench.svc.cluster.local:8080";
/// The OTLP/gRPC collector of the traced run.
const COLLECTOR: &str = "127.0.77.9:4317";

/// Which Mast pair is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telemetry {
    /// Istio's metrics (the default install).
    On,
    /// Every metric disabled through a mesh-wide Telemetry.
    Off,
    /// Metrics, and every request traced (100%) to an OpenTelemetry collector.
    Traced,
}

impl Telemetry {
    fn tag(self) -> &'static str {
        match self {
            Telemetry::On => "on",
            Telemetry::Off => "off",
            Telemetry::Traced => "on, 100% traced",
        }
    }
}

/// A minimal OTLP/gRPC collector: accepts every `Export` (HTTP/2, `grpc-status: 0`) and
/// counts the bytes it received.
async fn collector(received: Arc<AtomicU64>) -> Result<()> {
    let sock = TcpListener::bind(COLLECTOR)
        .await
        .context("collector bind")?;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let received = received.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let received = received.clone();
                    async move {
                        let n = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().len())
                            .unwrap_or(0);
                        received.fetch_add(n as u64, Ordering::Relaxed);
                        let mut trailers = hyper::HeaderMap::new();
                        trailers
                            .insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
                        let frames: Vec<
                            Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
                        > = vec![
                            Ok(hyper::body::Frame::data(Bytes::from_static(&[
                                0, 0, 0, 0, 0,
                            ]))),
                            Ok(hyper::body::Frame::trailers(trailers)),
                        ];
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header("content-type", "application/grpc")
                                .body(http_body_util::StreamBody::new(tokio_stream::iter(frames)))
                                .expect("a response"),
                        )
                    }
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
            });
        }
    });
    Ok(())
}

/// MeshConfig of the traced run: the collector as an OpenTelemetry provider.
const TRACED_MESH: &str = "extensionProviders:\n- name: otel\n  opentelemetry:\n    service: otel-collector.observability.svc.cluster.local\n    port: 4317\n";

/// The upstream: answers every request with `size` bytes after reading its body.
async fn app(size: usize) -> Result<()> {
    let sock = TcpListener::bind(APP).await.context("app bind")?;
    let body = Bytes::from(vec![b'x'; size]);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Ok(())
}

/// One measured run against `to`.
struct Load {
    hist: Histogram<u64>,
    sent: u64,
    errors: u64,
}

async fn load(to: SocketAddr, rate: u64, conns: usize, body: usize, secs: f64) -> Result<Load> {
    let total = (rate as f64 * secs) as u64;
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let payload = Bytes::from(vec![b'y'; body]);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, payload) = (next.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut errors = 0u64;
            let mut sender = None;
            let mut free_at = Instant::now();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let due = start + period * n as u32;
                tokio::time::sleep_until(due.into()).await;
                // a request held up by the previous one on its connection counts from its due
                // time; otherwise from when it is sent (the timer's own lateness is the
                // generator's, not the path's)
                let from = if free_at > due { due } else { Instant::now() };
                if sender.is_none() {
                    let Ok(s) = TcpStream::connect(to).await else {
                        errors += 1;
                        continue;
                    };
                    let _ = s.set_nodelay(true);
                    match hyper::client::conn::http1::handshake(TokioIo::new(s)).await {
                        Ok((tx, c)) => {
                            tokio::spawn(c);
                            sender = Some(tx);
                        }
                        Err(_) => {
                            errors += 1;
                            continue;
                        }
                    }
                }
                let tx = sender.as_mut().expect("connected");
                let req = Request::post("/echo")
                    .header("host", HOST)
                    .body(Full::new(payload.clone()))
                    .expect("request");
                let ok = match tx.send_request(req).await {
                    Ok(r) => {
                        let good = r.status() == 200;
                        r.into_body().collect().await.is_ok() && good
                    }
                    Err(_) => false,
                };
                free_at = Instant::now();
                if ok {
                    let us = from.elapsed().as_micros().max(1) as u64;
                    let _ = hist.record(us.min(60_000_000));
                } else {
                    errors += 1;
                    sender = None;
                }
            }
            (hist, errors)
        }));
    }
    let mut out = Load {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        sent: total,
        errors: 0,
    };
    for t in tasks {
        let (h, e) = t.await?;
        out.hist.add(&h)?;
        out.errors += e;
    }
    Ok(out)
}

/// A target's result.
struct Row {
    name: String,
    load: Load,
    /// CPU seconds and peak RSS (MiB) of the client's and the server's proxy.
    proxies: Vec<(f64, f64)>,
    note: String,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn measure(
    name: &str,
    to: SocketAddr,
    pids: &[u32],
    args: &Args,
    note: String,
) -> Result<Row> {
    let secs = args.duration as f64;
    // warm-up: connections, pools, caches
    load(to, args.rate, args.connections, args.body, secs / 5.0).await?;
    let before: Vec<machine::ProcUsage> = pids
        .iter()
        .map(|p| machine::proc_usage(*p))
        .collect::<std::io::Result<_>>()?;
    let l = load(to, args.rate, args.connections, args.body, secs).await?;
    let mut proxies = Vec::new();
    for (pid, b) in pids.iter().zip(before) {
        let a = machine::proc_usage(*pid)?;
        proxies.push((
            (a.cpu - b.cpu).as_secs_f64(),
            a.peak_rss_kib as f64 / 1024.0,
        ));
    }
    Ok(Row {
        name: name.into(),
        load: l,
        proxies,
        note,
    })
}

/// A CA and two workload certificates (P-256, SPIFFE URI SANs): mast-proxy's `--certDir`
/// layout, and HAProxy's PEM bundles (certificate then key).
fn certs(dir: &Path) -> Result<()> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "mast-bench CA");
    let root = ca.self_signed(&ca_key)?.pem();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    std::fs::write(dir.join("root.pem"), &root)?;
    for sa in ["client", "echo"] {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new())?;
        let id = format!("spiffe://cluster.local/ns/bench/sa/{sa}");
        leaf.subject_alt_names = vec![rcgen::SanType::URI(id.as_str().try_into()?)];
        leaf.distinguished_name.push(rcgen::DnType::CommonName, sa);
        let cert = leaf.signed_by(&key, &issuer)?;
        let d = dir.join(sa);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("cert-chain.pem"), cert.pem())?;
        std::fs::write(d.join("key.pem"), key.serialize_pem())?;
        std::fs::write(d.join("root-cert.pem"), &root)?;
        std::fs::write(
            dir.join(format!("{sa}.pem")),
            format!("{}{}", cert.pem(), key.serialize_pem()),
        )?;
    }
    Ok(())
}

fn mesh_config(telemetry: Telemetry) -> String {
    let mut s = format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: bench}}
spec:
  hosts: [echo.bench.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: echo}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: echo, namespace: bench}}
spec:
  address: {MAST_SERVER}
  labels: {{app: echo, version: v1}}
  serviceAccount: echo
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: echo, namespace: bench}}
spec:
  workloadSelector: {{labels: {{app: echo}}}}
  ingress:
  - {{port: {{number: 8080, protocol: HTTP, name: http}}, bind: {MAST_SERVER}, defaultEndpoint: "0.0.0.0:18080", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
  - {{bind: {MAST_SERVER}, captureMode: NONE, hosts: ["observability/*"], port: {{number: 4317, protocol: GRPC, name: grpc}}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client, namespace: bench}}
spec:
  workloadSelector: {{labels: {{app: client}}}}
  egress:
  - {{port: {{number: 8080, protocol: HTTP, name: http}}, bind: {MAST_CLIENT}, captureMode: NONE, hosts: ["./*"]}}
  - {{port: {{number: 4317, protocol: GRPC, name: grpc}}, bind: {MAST_CLIENT}, captureMode: NONE, hosts: ["observability/*"]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: bench}}
spec:
  mtls: {{mode: STRICT}}
"#
    );
    if telemetry == Telemetry::Traced {
        let ip = COLLECTOR.split(':').next().unwrap_or_default();
        s.push_str(&format!(
            r#"---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: collector, namespace: observability}}
spec:
  hosts: [otel-collector.observability.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 4317, name: grpc-otlp, protocol: GRPC}}]
  endpoints: [{{address: {ip}}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
  tracing:
  - providers: [{{name: otel}}]
    randomSamplingPercentage: 100
"#
        ));
    }
    if telemetry == Telemetry::Off {
        s.push_str(
            "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: mesh-default, namespace: istio-system}\nspec:\n  metrics:\n  - overrides:\n    - match: {metric: ALL_METRICS}\n      disabled: true\n",
        );
    }
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Waits until a request through `to` is answered 200.
async fn until_ready(to: SocketAddr, what: &str, procs: &mut Kill) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l = load(to, 50, 1, 16, 0.1).await?;
        if l.errors == 0 && !l.hist.is_empty() {
            return Ok(());
        }
        for c in &mut procs.0 {
            if let Ok(Some(st)) = c.try_wait() {
                bail!("{what}: a process exited ({st}) before it was ready");
            }
        }
        if Instant::now() > deadline {
            bail!("{what} not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn mast_pair(bin: &Path, dir: &Path, telemetry: Telemetry, args: &Args) -> Result<Row> {
    let tag = telemetry.tag();
    let key = format!("{telemetry:?}").to_lowercase();
    let cfg = dir.join(format!("config-{key}"));
    std::fs::create_dir_all(&cfg)?;
    std::fs::write(cfg.join("mesh.yaml"), mesh_config(telemetry))?;
    let meshcfg = dir.join(format!("meshconfig-{key}.yaml"));
    std::fs::write(
        &meshcfg,
        if telemetry == Telemetry::Traced {
            TRACED_MESH
        } else {
            "{}\n"
        },
    )?;
    let (grpc, mon) = (free_port(), free_port());
    let mut procs = Kill(Vec::new());
    procs.0.push(
        Command::new(bin.join("mastd"))
            .arg(format!("--configDir={}", cfg.display()))
            .arg(format!("--meshConfig={}", meshcfg.display()))
            .arg(format!("--grpcAddr=127.0.0.1:{grpc}"))
            .arg(format!("--monitoringAddr=127.0.0.1:{mon}"))
            .arg("--secureGrpcAddr=127.0.0.1:0")
            .arg(format!(
                "--stateDir={}",
                dir.join(format!("state-{key}")).display()
            ))
            .env("MAST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mastd")?,
    );
    for (pod, sa, ip, app) in [
        ("client-1", "client", MAST_CLIENT, "client"),
        ("echo-1", "echo", MAST_SERVER, "echo"),
    ] {
        let at = |p: u16| format!("{ip}:{p}");
        procs.0.push(
            Command::new(bin.join("mast-proxy"))
                .args([
                    format!("--podName={pod}"),
                    "--podNamespace=bench".into(),
                    format!("--instanceIp={ip}"),
                    format!("--serviceAccount={sa}"),
                    format!("--labels=app={app},version=v1"),
                    format!("--workloadName={pod}"),
                    "--interceptionMode=NONE".into(),
                    format!("--discoveryAddress=127.0.0.1:{grpc}"),
                    format!("--adminAddr={}", at(15000)),
                    format!("--statusAddr={}", at(15020)),
                    format!("--readyAddr={}", at(15021)),
                    format!("--prometheusAddr={}", at(15090)),
                    format!("--certDir={}", dir.join("certs").join(sa).display()),
                ])
                .env("MAST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting mast-proxy")?,
        );
    }
    let to: SocketAddr = format!("{MAST_CLIENT}:8080").parse()?;
    until_ready(to, "the Mast pair", &mut procs).await?;
    let pids = [procs.0[1].id(), procs.0[2].id()];
    measure(
        &format!("Mast pair, telemetry {tag}"),
        to,
        &pids,
        args,
        String::new(),
    )
    .await
}

async fn haproxy_pair(dir: &Path, args: &Args) -> Result<Row> {
    let Ok(version) = Command::new("haproxy").arg("-v").output() else {
        bail!("haproxy is not installed (apt-get install -y haproxy)");
    };
    let version = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map_or("HAProxy".to_string(), |v| format!("HAProxy {v}"));
    let c = dir.join("certs");
    let defaults = "defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  http-reuse always\n";
    let global = "global\n  nbthread 1\n  maxconn 4096\n";
    let client = format!(
        "{global}{defaults}frontend f\n  bind {HAPROXY_CLIENT}\n  default_backend b\nbackend b\n  server s {HAPROXY_SERVER} ssl crt {} ca-file {} verify required\n",
        c.join("client.pem").display(),
        c.join("root.pem").display()
    );
    let server = format!(
        "{global}{defaults}frontend f\n  bind {HAPROXY_SERVER} ssl crt {} ca-file {} verify required\n  default_backend b\nbackend b\n  server app {APP}\n",
        c.join("echo.pem").display(),
        c.join("root.pem").display()
    );
    let mut procs = Kill(Vec::new());
    for (name, text) in [
        ("haproxy-server.cfg", server),
        ("haproxy-client.cfg", client),
    ] {
        let f = dir.join(name);
        std::fs::write(&f, text)?;
        procs.0.push(
            Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&f)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting haproxy")?,
        );
    }
    let to: SocketAddr = HAPROXY_CLIENT.parse()?;
    until_ready(to, "the HAProxy pair", &mut procs).await?;
    let pids = [procs.0[1].id(), procs.0[0].id()];
    measure("HAProxy pair", to, &pids, args, version).await
}

pub fn run(args: &Args) -> Result<String> {
    let bin = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("benchmark directory")?
            .to_path_buf(),
    };
    for b in ["mastd", "mast-proxy"] {
        if !bin.join(b).exists() {
            bail!(
                "{} not found: build with `cargo build --release -p mastd -p mast-proxy -p mast-bench`",
                bin.join(b).display()
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("mast-bench-sidecar-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("certs"))?;
    certs(&dir.join("certs"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let rows = rt.block_on(async {
        app(args.body).await?;
        let direct: SocketAddr = APP.parse()?;
        let mut rows = vec![measure("direct", direct, &[], args, String::new()).await?];
        let received = Arc::new(AtomicU64::new(0));
        collector(received.clone()).await?;
        rows.push(mast_pair(&bin, &dir, Telemetry::On, args).await?);
        rows.push(mast_pair(&bin, &dir, Telemetry::Off, args).await?);
        let mut traced = mast_pair(&bin, &dir, Telemetry::Traced, args).await?;
        let kb = received.load(Ordering::Relaxed) as f64 / 1024.0;
        if kb == 0.0 {
            bail!("the traced run reported no spans to the collector");
        }
        traced.note = format!("{kb:.0} KiB of OTLP sent to the collector");
        rows.push(traced);
        match haproxy_pair(&dir, args).await {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("HAProxy pair skipped: {e:#}"),
        }
        anyhow::Ok(rows)
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report(args, &rows))
}

fn report(args: &Args, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Sidecar: client → proxy → mTLS → proxy → server\n");
    let _ = writeln!(s, "Machine: {}\n", machine::describe());
    let _ = writeln!(
        s,
        "Command: `cargo build --release -p mastd -p mast-proxy -p mast-bench && target/release/mast-bench sidecar --rate {} --connections {} --body {} --duration {} --write docs/benchmarks.md`\n",
        args.rate, args.connections, args.body, args.duration
    );
    let _ = writeln!(
        s,
        "Open-loop load at {} requests per second over {} HTTP/1.1 connections, POST with a {} B body answered with {} B, {} s measured after a {} s warm-up; latency counts from each request's due time (a request delayed by the one before it on its connection counts from its due time: coordinated omission corrected). The load generator and the upstream share one tokio thread in the benchmark's process; every proxy and the upstream are on loopback addresses of the same 2 cores. Mast: two mast-proxy processes in explicit mode (Sidecar `captureMode: NONE`), configured by mastd, mTLS STRICT with SPIFFE certificates; \"telemetry off\" disables every metric through a mesh-wide Telemetry; \"100% traced\" adds a mesh-wide Telemetry tracing every request to an OpenTelemetry provider (a collector in the benchmark's process, OTLP/gRPC, batches of 5 spans). HAProxy: two processes, one thread each, TLS with client certificates verified against the same CA.\n",
        args.rate,
        args.connections,
        args.body,
        args.body,
        args.duration,
        args.duration / 5
    );
    let direct = rows.first().map(|r| &r.load.hist);
    let _ = writeln!(
        s,
        "| path | p50 ms | p90 ms | p99 ms | added p50 | added p90 | added p99 | CPU s / 1000 req (client, server proxy) | peak RSS MiB (client, server proxy) | errors |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let h = &r.load.hist;
        let q = |p: f64| h.value_at_quantile(p);
        let added = |p: f64| match direct {
            Some(d) if !r.proxies.is_empty() => {
                format!("{:.3}", ms(q(p)) - ms(d.value_at_quantile(p)))
            }
            _ => "—".into(),
        };
        let per_k = r.load.hist.len().max(1) as f64 / 1000.0;
        let (cpu, rss) = if r.proxies.is_empty() {
            ("—".to_string(), "—".to_string())
        } else {
            (
                r.proxies
                    .iter()
                    .map(|(c, _)| format!("{:.3}", c / per_k))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.proxies
                    .iter()
                    .map(|(_, m)| format!("{m:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        let _ = writeln!(
            s,
            "| {}{} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} of {} |",
            r.name,
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            },
            ms(q(0.5)),
            ms(q(0.9)),
            ms(q(0.99)),
            added(0.5),
            added(0.9),
            added(0.99),
            cpu,
            rss,
            r.load.errors,
            r.load.sent
        );
    }
    s
}
