//! `mast-bench control-plane`: many simulated sidecars on ADS against a real mastd with a large
//! registry; measures how long a config change takes to be acknowledged by every proxy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mast_xds::types;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::machine;

/// Flags of `mast-bench control-plane`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated sidecars (ADS streams).
    #[arg(long, default_value_t = 2000)]
    pub proxies: usize,
    /// Services (ServiceEntries with two WorkloadEntries each; a tenth with a VirtualService
    /// and DestinationRule).
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Config changes to time.
    #[arg(long, default_value_t = 5)]
    pub changes: usize,
    /// The mastd binary (default: target/release/mastd beside this benchmark).
    #[arg(long)]
    pub mastd: Option<PathBuf>,
}

fn write_config(dir: &Path, services: usize) -> Result<()> {
    let mut text = String::new();
    let mut file = 0;
    for i in 0..services {
        let (a, b) = (i / 250, i % 250);
        write!(
            text,
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: svc{i}\n  namespace: bench\nspec:\n  hosts: [svc{i}.bench.svc.cluster.local]\n  addresses: [240.{a}.{b}.1]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports:\n  - number: 8080\n    name: http\n    protocol: HTTP\n  workloadSelector:\n    labels:\n      app: svc{i}\n---\n"
        )?;
        for v in 1..=2 {
            write!(
                text,
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: svc{i}-v{v}\n  namespace: bench\nspec:\n  address: 10.{a}.{b}.{v}\n  labels:\n    app: svc{i}\n    version: v{v}\n    security.istio.io/tlsMode: istio\n  serviceAccount: svc{i}\n---\n"
            )?;
        }
        if i % 10 == 0 {
            write!(
                text,
                "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: svc{i}\n  namespace: bench\nspec:\n  host: svc{i}.bench.svc.cluster.local\n  subsets:\n  - name: v1\n    labels: {{version: v1}}\n  - name: v2\n    labels: {{version: v2}}\n---\n"
            )?;
        }
        if (i + 1) % 100 == 0 || i + 1 == services {
            std::fs::write(dir.join(format!("services-{file:03}.yaml")), &text)?;
            text.clear();
            file += 1;
        }
    }
    write_change(dir, 0)
}

/// The file each change rewrites: a VirtualService whose weights move.
fn write_change(dir: &Path, n: usize) -> Result<()> {
    let w = 10 + (n % 8) * 10;
    let text = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: svc0\n  namespace: bench\nspec:\n  hosts: [svc0.bench.svc.cluster.local]\n  http:\n  - route:\n    - destination:\n        host: svc0.bench.svc.cluster.local\n        subset: v1\n      weight: {}\n    - destination:\n        host: svc0.bench.svc.cluster.local\n        subset: v2\n      weight: {w}\n",
        100 - w
    );
    let tmp = dir.join(".change.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join("change.yaml"))?;
    Ok(())
}

struct Mastd {
    child: Child,
}

impl Drop for Mastd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// What one simulated proxy has acknowledged: the version of its last ACK of each type.
type Acks = BTreeMap<&'static str, String>;

fn node(k: usize) -> envoy_types::pb::envoy::config::core::v3::Node {
    let md = serde_json::json!({"NAMESPACE": "bench", "ISTIO_VERSION": "mast-bench", "LABELS": {"app": format!("client{k}")}});
    let ip = format!("10.254.{}.{}", k / 250, k % 250 + 1);
    mast_xds::Proxy::parse(
        &format!("sidecar~{ip}~client{k}.bench~bench.svc.cluster.local"),
        md.as_object().cloned().unwrap_or_default(),
    )
    .map(|p| p.to_node())
    .unwrap_or_default()
}

fn type_key(url: &str) -> &'static str {
    match url {
        types::CLUSTER => "cds",
        types::ENDPOINT => "eds",
        types::LISTENER => "lds",
        types::ROUTE => "rds",
        _ => "other",
    }
}

fn eds_names(resp: &DiscoveryResponse) -> Vec<String> {
    resp.resources
        .iter()
        .filter_map(|a| Cluster::decode(a.value.as_slice()).ok())
        .filter(|c| c.eds_cluster_config.is_some())
        .map(|c| c.name)
        .collect()
}

fn rds_names(resp: &DiscoveryResponse) -> Vec<String> {
    let mut names = Vec::new();
    for a in &resp.resources {
        let Ok(l) = Listener::decode(a.value.as_slice()) else {
            continue;
        };
        for fc in l.filter_chains {
            for f in fc.filters {
                use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
                if let Some(ConfigType::TypedConfig(any)) = f.config_type
                    && let Ok(hcm) = HttpConnectionManager::decode(any.value.as_slice())
                    && let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier
                    && !names.contains(&rds.route_config_name)
                {
                    names.push(rds.route_config_name);
                }
            }
        }
    }
    names
}

/// One simulated sidecar: subscribes to CDS and LDS, then EDS and RDS for the names they
/// carry, and ACKs everything, publishing its ACKed versions.
async fn client(
    k: usize,
    addr: String,
    acks: watch::Sender<Acks>,
    responses: Arc<AtomicU64>,
) -> Result<()> {
    let mut c = AggregatedDiscoveryServiceClient::connect(addr)
        .await?
        .max_decoding_message_size(512 << 20);
    let (tx, rx) = mpsc::channel(16);
    let mut stream = c
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let req = |t: &str, names: Vec<String>, nonce: String, version: String| DiscoveryRequest {
        node: Some(node(k)),
        type_url: t.to_string(),
        resource_names: names,
        response_nonce: nonce,
        version_info: version,
        ..Default::default()
    };
    tx.send(req(types::CLUSTER, vec![], String::new(), String::new()))
        .await?;
    tx.send(req(types::LISTENER, vec![], String::new(), String::new()))
        .await?;
    let mut subscribed: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    while let Some(resp) = stream.message().await? {
        responses.fetch_add(1, Ordering::Relaxed);
        let t = resp.type_url.clone();
        let follow = match t.as_str() {
            types::CLUSTER if !subscribed.contains_key("eds") => {
                Some((types::ENDPOINT, "eds", eds_names(&resp)))
            }
            types::LISTENER if !subscribed.contains_key("rds") => {
                Some((types::ROUTE, "rds", rds_names(&resp)))
            }
            _ => None,
        };
        let names = subscribed.get(type_key(&t)).cloned().unwrap_or_default();
        tx.send(req(
            &t,
            names,
            resp.nonce.clone(),
            resp.version_info.clone(),
        ))
        .await?;
        acks.send_modify(|a| {
            a.insert(type_key(&t), resp.version_info.clone());
        });
        if let Some((url, key, names)) = follow {
            subscribed.insert(key, names.clone());
            if !names.is_empty() {
                tx.send(req(url, names, String::new(), String::new()))
                    .await?;
            } else {
                acks.send_modify(|a| {
                    a.insert(key, "none".into());
                });
            }
        }
    }
    Ok(())
}

/// Whether every proxy has ACKed all four types at a version other than `old` (or has nothing
/// of that type).
fn all_past(watchers: &[watch::Receiver<Acks>], old: &BTreeMap<usize, Acks>) -> bool {
    watchers.iter().enumerate().all(|(i, w)| {
        let a = w.borrow();
        ["cds", "lds", "eds", "rds"].iter().all(|t| {
            match (a.get(t), old.get(&i).and_then(|o| o.get(t))) {
                (Some(v), _) if v == "none" => true,
                (Some(v), Some(o)) => v != o,
                (Some(_), None) => true,
                (None, _) => false,
            }
        })
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark and returns its Markdown section.
pub fn run(args: &Args) -> Result<String> {
    let mastd_bin = match &args.mastd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("mastd"),
    };
    if !mastd_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p mastd`",
            mastd_bin.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("mast-bench-cp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    write_config(&dir, args.services)?;
    let fds = machine::raise_fd_limit();
    if (fds as usize) < args.proxies * 2 + 256 {
        bail!(
            "{} proxies need about {} open files; the limit is {fds} (raise it with ulimit -n)",
            args.proxies,
            args.proxies * 2 + 256
        );
    }
    let (grpc, mon) = (free_port(), free_port());
    let child = Command::new(&mastd_bin)
        .arg("--configDir")
        .arg(&dir)
        .arg("--grpcAddr")
        .arg(format!("127.0.0.1:{grpc}"))
        .arg("--monitoringAddr")
        .arg(format!("127.0.0.1:{mon}"))
        .arg("--maxRequestsPerSecond")
        .arg("100000")
        .arg("--secureGrpcAddr")
        .arg("127.0.0.1:0")
        .arg("--stateDir")
        .arg(dir.join(".state"))
        .env("MAST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting mastd")?;
    let pid = child.id();
    let _mastd = Mastd { child };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let mon_addr: std::net::SocketAddr = format!("127.0.0.1:{mon}").parse()?;
        let ready = tokio::task::spawn_blocking(move || {
            (0..200).any(|_| {
                let ok = mast_xds::http::get(mon_addr, "/ready")
                    .map(|r| r.status == 200)
                    .unwrap_or(false);
                if !ok {
                    std::thread::sleep(Duration::from_millis(50));
                }
                ok
            })
        })
        .await?;
        if !ready {
            bail!("mastd did not become ready");
        }
        let idle = machine::proc_usage(pid)?;
        let responses = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut watchers = Vec::new();
        for k in 0..args.proxies {
            let (tx, rx) = watch::channel(Acks::new());
            watchers.push(rx);
            let responses = responses.clone();
            let addr = format!("http://127.0.0.1:{grpc}");
            tokio::spawn(async move {
                if let Err(e) = client(k, addr, tx, responses).await {
                    eprintln!("client {k}: {e}");
                }
            });
        }
        let none = BTreeMap::new();
        while !all_past(&watchers, &none) {
            if start.elapsed() > Duration::from_secs(600) {
                bail!("proxies did not all sync within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let initial = start.elapsed();
        let synced = machine::proc_usage(pid)?;
        let mut latencies = Vec::new();
        let mut push_rates = Vec::new();
        let before_changes = machine::proc_usage(pid)?;
        let changes_start = Instant::now();
        for n in 1..=args.changes {
            let old: BTreeMap<usize, Acks> = watchers
                .iter()
                .enumerate()
                .map(|(i, w)| (i, w.borrow().clone()))
                .collect();
            let r0 = responses.load(Ordering::Relaxed);
            let t0 = Instant::now();
            write_change(&dir, n)?;
            while !all_past(&watchers, &old) {
                if t0.elapsed() > Duration::from_secs(300) {
                    bail!("change {n} was not ACKed by every proxy within 5 minutes");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let took = t0.elapsed();
            latencies.push(took);
            push_rates.push((responses.load(Ordering::Relaxed) - r0) as f64 / took.as_secs_f64());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let changes_wall = changes_start.elapsed();
        let after = machine::proc_usage(pid)?;
        Ok::<_, anyhow::Error>((
            idle,
            initial,
            synced,
            latencies,
            push_rates,
            before_changes,
            after,
            changes_wall,
        ))
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    std::fs::remove_dir_all(&dir).ok();
    let (idle, initial, synced, mut latencies, push_rates, before, after, changes_wall) = result?;
    latencies.sort();
    let cpu_share =
        (after.cpu.saturating_sub(before.cpu)).as_secs_f64() / changes_wall.as_secs_f64();
    let mean_rate = push_rates.iter().sum::<f64>() / push_rates.len().max(1) as f64;
    let mut s = String::new();
    writeln!(
        s,
        "## Control plane: {} proxies over {} services\n",
        args.proxies, args.services
    )?;
    writeln!(s, "Machine: {}\n", machine::describe())?;
    writeln!(
        s,
        "Command: `cargo build --release -p mastd -p mast-bench && target/release/mast-bench control-plane --proxies {} --services {} --changes {} --write docs/benchmarks.md`\n",
        args.proxies, args.services, args.changes
    )?;
    writeln!(
        s,
        "Registry: {} ServiceEntries with two WorkloadEntries each, a DestinationRule with two subsets for every tenth. Each simulated sidecar (one tokio task of the benchmark, on the same 2 cores as mastd) subscribes to CDS and LDS, then to EDS and RDS for every name they carry, and ACKs everything. A change rewrites one VirtualService's weights; it is timed from the file write (so it includes mastd's 250 ms file debounce and 100 ms push debounce) to the moment every proxy has ACKed new CDS, EDS, LDS and RDS.\n",
        args.services
    )?;
    writeln!(s, "| metric | value |")?;
    writeln!(s, "|---|---|")?;
    writeln!(
        s,
        "| initial sync of all proxies | {:.1} s |",
        initial.as_secs_f64()
    )?;
    writeln!(
        s,
        "| change → all ACKed, p50 | {:.0} ms |",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0
    )?;
    writeln!(
        s,
        "| change → all ACKed, p99 (max of {}) | {:.0} ms |",
        latencies.len(),
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    )?;
    writeln!(
        s,
        "| xDS responses per second during a change | {mean_rate:.0} |"
    )?;
    writeln!(s, "| mastd CPU during changes | {:.2} cores |", cpu_share)?;
    writeln!(
        s,
        "| mastd RSS idle (before proxies) | {:.0} MiB |",
        idle.rss_kib as f64 / 1024.0
    )?;
    writeln!(
        s,
        "| mastd RSS with all proxies synced | {:.0} MiB |",
        synced.rss_kib as f64 / 1024.0
    )?;
    writeln!(
        s,
        "| mastd peak RSS | {:.0} MiB |",
        after.peak_rss_kib as f64 / 1024.0
    )?;
    writeln!(
        s,
        "\nIstio 1.5's Pilot used 1 vCPU and 1.5 GB at Istio's published load of 1,000 services and 2,000 sidecars."
    )?;
    Ok(s)
}
