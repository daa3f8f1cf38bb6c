//! `mastctl demo`: a bookinfo-like mesh on this machine, without Kubernetes and without root.
//!
//! It starts mastd on a copy of samples/demo, one mast-proxy a workload in interception mode
//! NONE (explicit listeners from each workload's Sidecar, on its own 127.A.B.x address, so
//! Istio's port numbers can be kept), the apps (in this process), and drives traffic to
//! productpage through the load generator's proxy; then it prints what it saw and checks it.
//!
//! With `--capture` (root), each workload gets its own network namespace on a bridge, with
//! Istio's iptables capture laid out by `mast-proxy istio-iptables` and its proxy running as
//! UID 1337 in interception mode REDIRECT; the apps (threads of this process inside those
//! namespaces) connect to the services' virtual IPs and never see a proxy address.

mod app;
mod identity;
pub use identity::Certs;
mod layout;
mod procs;
mod telemetry;
mod traffic;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{DemoArgs, Exit};
use layout::{Layout, Workload};
use procs::Proc;
use traffic::Stats;

/// Runs the demo.
pub fn run(args: &DemoArgs) -> anyhow::Result<Exit> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let work = std::env::temp_dir().join(format!("mast-demo-{}", std::process::id()));
    let result = rt.block_on(demo(args, &work));
    match &result {
        Ok(Exit::Ok) => {
            let _ = std::fs::remove_dir_all(&work);
        }
        _ => eprintln!(
            "logs of mastd and the proxies: {}",
            work.join("logs").display()
        ),
    }
    result
}

/// The `--capture` namespaces: the hub (mastd, and where the demo's own probes start) and one
/// per workload, each with a runtime whose thread is inside it; removed when dropped.
struct Namespaces {
    hub: mast_test::netns::Hub,
    hub_rt: tokio::runtime::Handle,
    /// In the order of the layout's workloads.
    pods: Vec<(mast_test::netns::Netns, tokio::runtime::Handle)>,
}

impl Namespaces {
    fn new(workloads: &[Workload]) -> anyhow::Result<Namespaces> {
        mast_test::netns::available().map_err(|why| {
            anyhow::anyhow!("--capture needs root with ip, iptables and setpriv: {why}")
        })?;
        let hub = mast_test::netns::Hub::new(&format!("md{}", std::process::id() % 100_000))?;
        let hub_rt = hub.ns.runtime()?;
        let mut pods = Vec::new();
        for (i, w) in workloads.iter().enumerate() {
            let ns = hub.attach(&w.pod, i as u8 + 2)?;
            let rt = ns.runtime()?;
            pods.push((ns, rt));
        }
        Ok(Namespaces { hub, hub_rt, pods })
    }

    /// Lays out the capture rules in every workload's namespace.
    fn capture(&self, proxy_bin: &Path) -> anyhow::Result<()> {
        for (ns, _) in &self.pods {
            let mut flags = vec!["istio-iptables"];
            flags.extend_from_slice(mast_test::netns::INJECTED_CAPTURE_FLAGS);
            ns.output(&proxy_bin.display().to_string(), &flags)
                .with_context(|| format!("capture rules in {}", ns.name()))?;
        }
        Ok(())
    }
}

/// Starts `program` in namespace `ns` (of `nets`; `None`: the hub), or here without `nets`.
fn spawn_in(
    nets: Option<&Namespaces>,
    ns: Option<usize>,
    name: &str,
    program: &Path,
    args: &[String],
    logs: &Path,
) -> anyhow::Result<Proc> {
    match nets {
        None => Proc::spawn(name, program, args, logs),
        Some(n) => {
            let (netns, as_proxy) = match ns {
                Some(i) => (&n.pods[i].0, true),
                None => (&n.hub.ns, false),
            };
            let (p, a) = netns.exec(program, args, as_proxy);
            Proc::spawn(name, &p, &a, logs)
        }
    }
}

/// Makes `path` (and, for a directory, what is in it) readable by the proxies' user.
fn readable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| path.display().to_string())?;
    if path.is_dir() {
        for e in std::fs::read_dir(path)?.flatten() {
            readable(&e.path())?;
        }
    }
    Ok(())
}

/// The processes the demo started; killed when dropped.
struct Procs(Vec<Proc>);

impl Procs {
    /// Why a process that should be running is not.
    fn dead(&mut self) -> Option<String> {
        self.0.iter_mut().find_map(|p| {
            p.exited()
                .map(|st| format!("{} exited ({st}); its log ends:\n{}", p.name, p.tail(15)))
        })
    }
}

fn spinner() -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner:.cyan} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

async fn demo(args: &DemoArgs, work: &Path) -> anyhow::Result<Exit> {
    let _ = std::fs::remove_dir_all(work);
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| logs.display().to_string())?;
    let pb = spinner();
    let (mastd_bin, proxy_bin, release) =
        procs::locate(args.mastd_bin.clone(), args.proxy_bin.clone())?;
    if !mastd_bin.exists() || !proxy_bin.exists() {
        pb.set_message(format!(
            "building mastd and mast-proxy (cargo build{} -p mastd -p mast-proxy)",
            if release { " --release" } else { "" }
        ));
        let log = logs.join("cargo-build.log");
        tokio::task::spawn_blocking(move || procs::build(release, &log)).await??;
    }
    let found = |b: PathBuf| -> anyhow::Result<PathBuf> {
        if b.exists() {
            return Ok(b);
        }
        let other = procs::built(&b, release);
        if other.exists() {
            return Ok(other);
        }
        bail!("{} is missing (and was not built)", b.display())
    };
    let (mastd_bin, proxy_bin) = (found(mastd_bin)?, found(proxy_bin)?);
    pb.set_message("writing the mesh's configuration and certificates");
    let (layout, nets) = if args.capture {
        pb.set_message("making a network namespace per workload");
        let hub_probe = Layout::capture(|h| std::net::Ipv4Addr::new(10, 0, 0, h));
        let nets = Namespaces::new(&hub_probe.workloads)?;
        let layout = Layout::capture(|h| nets.hub.ip(h));
        nets.capture(&proxy_bin)?;
        (layout, Some(nets))
    } else {
        (Layout::pick()?, None)
    };
    let nets = nets.as_ref();
    let config = work.join("config");
    layout.write_config(&config)?;
    let certs_mode = identity::resolve(args.certs, &proxy_bin);
    let certs = work.join("certs");
    if certs_mode == identity::Certs::Files {
        identity::mint_certs(&layout, &certs)?;
    }

    let state = work.join("state");
    let mut procs = Procs(Vec::new());
    pb.set_message("starting mastd");
    let monitoring = layout.mastd_monitoring;
    procs.0.push(spawn_in(
        nets,
        None,
        "mastd",
        &mastd_bin,
        &[
            format!("--configDir={}", config.display()),
            format!("--grpcAddr={}", layout.mastd_grpc),
            format!("--secureGrpcAddr={}", layout.mastd_secure),
            format!("--monitoringAddr={monitoring}"),
            format!("--stateDir={}", state.display()),
        ],
        &logs,
    )?);
    // where the demo's probes start: here, or the hub namespace
    let probe = match nets {
        Some(n) => app::Origin::Netns(n.hub_rt.clone(), app::client()),
        None => app::Origin::Here(app::client()),
    };
    wait(
        &pb,
        &mut procs,
        Duration::from_secs(30),
        "mastd to serve",
        || {
            let c = probe.clone();
            async move {
                c.get(monitoring, &monitoring.to_string(), "/ready")
                    .await
                    .is_ok_and(|a| a.status == 200)
            }
        },
    )
    .await?;

    if certs_mode == identity::Certs::Ca {
        identity::mint_tokens(&layout, &state, &work.join("tokens"))?;
    }
    if nets.is_some() {
        // the proxies run as UID 1337: they read their tokens and the root certificate
        let root = work.join("ca-root.pem");
        if certs_mode == identity::Certs::Ca {
            std::fs::copy(state.join("ca/root-cert.pem"), &root)
                .context("mastd's root certificate")?;
            readable(&root)?;
            readable(&work.join("tokens"))?;
        } else {
            readable(&work.join("certs"))?;
        }
    }
    pb.set_message("starting the apps and their proxies");
    for (i, w) in layout
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.has_app())
    {
        let started = match nets {
            Some(n) => n.pods[i].1.spawn(app::start(w.clone())).await?,
            None => app::start(w.clone()).await,
        };
        started.with_context(|| format!("{}'s app on {}", w.pod, w.app_addr()))?;
    }
    for (i, w) in layout.workloads.iter().enumerate() {
        procs.0.push(spawn_in(
            nets,
            Some(i),
            &format!("proxy-{}", w.pod),
            &proxy_bin,
            &proxy_args(&layout, w, certs_mode, work),
            &logs,
        )?);
    }
    let admins: Vec<_> = layout.workloads.iter().map(Workload::ready_addr).collect();
    let total = admins.len();
    let ready = Arc::new(Mutex::new(0usize));
    {
        let ready = ready.clone();
        let pb2 = pb.clone();
        let probe = probe.clone();
        wait(
            &pb,
            &mut procs,
            Duration::from_secs(90),
            "the proxies to be ready",
            move || {
                let c = probe.clone();
                let admins = admins.clone();
                let ready = ready.clone();
                let pb2 = pb2.clone();
                async move {
                    let mut n = 0;
                    for a in admins {
                        if c.get(a, &a.to_string(), "/healthz/ready")
                            .await
                            .is_ok_and(|a| a.status == 200)
                        {
                            n += 1;
                        }
                    }
                    *ready.lock().expect("lock") = n;
                    pb2.set_message(format!("waiting for the proxies to be ready ({n}/{total})"));
                    n == total
                }
            },
        )
        .await?;
    }

    // warm up: the first requests may race the last pushes
    pb.set_message("sending the first requests");
    let front = layout.loadgen().upstream("productpage");
    let host = app::host("productpage");
    // the load generator's requests start in its namespace (capture) or here
    let c = match nets {
        Some(n) => app::Origin::Netns(
            n.pods.last().expect("the load generator").1.clone(),
            app::client(),
        ),
        None => app::Origin::Here(app::client()),
    };
    let mut streak = 0;
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(45);
    while streak < 5 {
        if Instant::now() > deadline {
            pb.finish_and_clear();
            bail!("no answer from productpage through the mesh within 45s; last: {last}");
        }
        if let Some(d) = procs.dead() {
            pb.finish_and_clear();
            bail!("{d}");
        }
        match c.get(front, &host, "/productpage").await {
            Ok(a) if a.status == 200 => streak += 1,
            Ok(a) => {
                streak = 0;
                last = format!("HTTP {}: {}", a.status, a.body);
            }
            Err(e) => {
                streak = 0;
                last = e;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pb.finish_and_clear();

    print_intro(&layout, args, certs_mode, nets);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let end = args.duration.map(|d| started + Duration::from_secs(d));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rps.max(1))));
    let mut report = tokio::time::interval(Duration::from_secs(5));
    report.tick().await;
    let mut check = tokio::time::interval(Duration::from_millis(500));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let inflight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut problems = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (c, host, stats, inflight) = (c.clone(), host.clone(), stats.clone(), inflight.clone());
                inflight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let r = c.get(front, &host, "/productpage").await;
                    stats.lock().expect("lock").record(r);
                    inflight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            _ = report.tick() => {
                let s = stats.lock().expect("lock").clone();
                println!("{}", s.line(started.elapsed().as_secs_f64()));
            }
            _ = check.tick() => {
                if let Some(d) = procs.dead() {
                    problems.push(d);
                    break;
                }
                if end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
            }
            _ = &mut ctrl_c => { println!("\ninterrupted; stopping"); break; }
            _ = term.recv() => { println!("terminated; stopping"); break; }
            _ = hup.recv() => { break; }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    // let the requests in flight finish (each gives up after 5s)
    let drain = Instant::now() + Duration::from_secs(6);
    while inflight.load(std::sync::atomic::Ordering::SeqCst) > 0 && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut checks: Vec<(bool, String)> = problems.into_iter().map(|p| (false, p)).collect();
    checks.push(plaintext_refused(&layout, &probe).await);
    let s = stats.lock().expect("lock").clone();
    let (metrics, check) = telemetry::check(&layout, &probe, s.ok).await;
    checks.push(check);
    let (text, ok) = s.summary(secs, &metrics, &checks);
    println!("\n== Mast demo summary ==\n{text}");
    drop(procs);
    Ok(if ok { Exit::Ok } else { Exit::Failure })
}

/// PeerAuthentication STRICT: a plaintext request straight to a workload's inbound listener
/// gets no answer from its app.
async fn plaintext_refused(layout: &Layout, c: &app::Origin) -> (bool, String) {
    let mut answered = Vec::new();
    for w in layout.workloads.iter().filter(|w| w.has_app()) {
        let to = std::net::SocketAddr::from((w.ip, layout::SERVICE_PORT));
        if let Ok(a) = c.get(to, &app::host(w.app), "/").await
            && a.status == 200
        {
            answered.push(format!("{} ({to})", w.pod));
        }
    }
    if answered.is_empty() {
        (
            true,
            "PeerAuthentication STRICT: plaintext to every workload's inbound listener refused"
                .into(),
        )
    } else {
        (
            false,
            format!(
                "PeerAuthentication STRICT: plaintext answered by {}",
                answered.join(", ")
            ),
        )
    }
}

/// Polls `ready` every 200 ms until it holds, a process dies, or `limit` passes.
async fn wait<F, Fut>(
    pb: &ProgressBar,
    procs: &mut Procs,
    limit: Duration,
    what: &str,
    mut ready: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !pb.message().starts_with("waiting") {
        pb.set_message(format!("waiting for {what}"));
    }
    let deadline = Instant::now() + limit;
    loop {
        if let Some(d) = procs.dead() {
            pb.finish_and_clear();
            bail!("while waiting for {what}: {d}");
        }
        if ready().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            pb.finish_and_clear();
            let tails: Vec<String> = procs
                .0
                .iter()
                .map(|p| format!("--- {} ---\n{}", p.name, p.tail(5)))
                .collect();
            bail!(
                "timed out after {limit:?} waiting for {what}\n{}",
                tails.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn proxy_args(layout: &Layout, w: &Workload, certs: identity::Certs, work: &Path) -> Vec<String> {
    // captured: admin on the namespace's loopback, as Istio has it, the ports the capture
    // rules leave alone on every address
    let at = |port: u16| {
        if w.capture && port != 15000 {
            format!("0.0.0.0:{port}")
        } else if w.capture {
            format!("127.0.0.1:{port}")
        } else {
            format!("{}:{port}", w.ip)
        }
    };
    let mut args = vec![
        format!("--podName={}", w.pod),
        "--podNamespace=default".into(),
        format!("--instanceIp={}", w.ip),
        format!("--serviceAccount={}", w.service_account()),
        format!("--labels=app={},version={}", w.app, w.version),
        format!("--workloadName={}", w.pod),
        if w.capture {
            "--interceptionMode=REDIRECT".into()
        } else {
            "--interceptionMode=NONE".into()
        },
        format!("--discoveryAddress={}", layout.mastd_grpc),
        format!("--adminAddr={}", at(15000)),
        format!("--statusAddr={}", at(15020)),
        format!("--readyAddr={}", at(15021)),
        format!("--prometheusAddr={}", at(15090)),
        "--drainDuration=1s".into(),
        "--xdsRetryInitial=200ms".into(),
        "--xdsRetryMax=2s".into(),
    ];
    if certs == identity::Certs::Ca {
        args.extend([
            format!("--caAddress={}", layout.mastd_secure),
            format!(
                "--caRootCert={}",
                if w.capture {
                    work.join("ca-root.pem")
                } else {
                    work.join("state/ca/root-cert.pem")
                }
                .display()
            ),
            format!(
                "--tokenFile={}",
                identity::token_file(&work.join("tokens"), w).display()
            ),
        ]);
    } else {
        args.push(format!(
            "--certDir={}",
            work.join("certs").join(&w.pod).display()
        ));
    }
    args
}

fn print_intro(
    layout: &Layout,
    args: &DemoArgs,
    certs: identity::Certs,
    nets: Option<&Namespaces>,
) {
    let m = layout.mastd_monitoring;
    // in capture mode, every address below is inside a namespace
    let (hub_exec, pod_exec) = match nets {
        Some(n) => (format!("ip netns exec {} ", n.hub.ns.name()), true),
        None => (String::new(), false),
    };
    println!(
        "Mast demo mesh is up: mastd, {} proxies (interception mode {}, mTLS STRICT).",
        layout.workloads.len(),
        if layout.capture {
            "REDIRECT: iptables capture in a network namespace per workload"
        } else {
            "NONE"
        }
    );
    println!("  productpage → details; productpage → reviews v1/v2/v3 (50/30/20) → ratings");
    println!(
        "  sending {}/s to productpage {} {}{}",
        args.rps,
        if layout.capture {
            "from the load generator's namespace, captured by its proxy, at the service's virtual IP"
        } else {
            "through the load generator's proxy at"
        },
        layout.loadgen().upstream("productpage"),
        match args.duration {
            Some(d) => format!(" for {d}s"),
            None => "; Ctrl-C stops everything".into(),
        }
    );
    println!(
        "  certificates: {}",
        if certs == identity::Certs::Ca {
            "issued by mastd's CA (each proxy's own key and CSR, authenticated by a workload token)"
        } else {
            "from a demo CA minted by mastctl (--certDir)"
        }
    );
    println!("where to look next:");
    println!(
        "  mastd:        {hub_exec}curl http://{m}/debug/syncz  (also /debug/configz, /metrics)"
    );
    println!("  sync status:  {hub_exec}mastctl proxy-status --mastd {m}");
    println!(
        "  a proxy's config from mastd: {hub_exec}mastctl proxy-config cluster productpage-v1.default --mastd {m}"
    );
    println!("  proxies' admin (/config_dump, /clusters, /stats/prometheus):");
    for (i, w) in layout.workloads.iter().enumerate() {
        match nets.filter(|_| pod_exec) {
            Some(n) => println!(
                "    {:<15} ip netns exec {} curl http://{}/config_dump",
                w.pod,
                n.pods[i].0.name(),
                w.admin_addr()
            ),
            None => println!("    {:<15} http://{}/config_dump", w.pod, w.admin_addr()),
        }
    }
    if let Some(n) = nets {
        println!(
            "  capture rules: ip netns exec {} iptables-save -t nat",
            n.pods[0].0.name()
        );
    }
    println!("  authorization: not yet enforced by mast-proxy");
}
