//! `mast-bench analyze`: the cost of `mastctl analyze` over a large generated configuration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::machine;

/// Flags of `mast-bench analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of objects to generate (per service: a Service, a Deployment, two Pods, a
    /// VirtualService, a DestinationRule and an AuthorizationPolicy).
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Runs to take the median of.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// The mastctl binary (default: target/release/mastctl beside this benchmark).
    #[arg(long)]
    pub mastctl: Option<PathBuf>,
}

/// Objects generated per service.
const PER_SERVICE: usize = 7;

/// Writes about `n` objects, in files of about 500, describing n/7 services, each with a
/// Deployment, two Pods (v1, v2), a VirtualService, a DestinationRule and an
/// AuthorizationPolicy, across 10 namespaces: a clean configuration.
fn generate(dir: &Path, n: usize) -> Result<()> {
    let services = n.div_ceil(PER_SERVICE);
    let mut text = String::new();
    let mut file = 0;
    let mut in_file = 0;
    for ns in 0..10 {
        writeln!(
            text,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns{ns}\n  labels:\n    istio-injection: enabled\n---"
        )?;
    }
    for i in 0..services {
        let ns = i % 10;
        let next = (i + 1) % services;
        let next_ns = next % 10;
        write!(
            text,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc{i}\n  namespace: ns{ns}\nspec:\n  selector:\n    app: svc{i}\n  ports:\n  - name: http\n    port: 8080\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}-v1\n  namespace: ns{ns}\nspec:\n  selector:\n    matchLabels:\n      app: svc{i}\n  template:\n    metadata:\n      labels:\n        app: svc{i}\n        version: v1\n    spec:\n      containers:\n      - name: app\n        image: example/app:1\n---\n\
apiVersion: v1\nkind: Pod\nmetadata:\n  name: svc{i}-v1-0\n  namespace: ns{ns}\n  labels:\n    app: svc{i}\n    version: v1\nspec:\n  containers:\n  - name: app\n    image: example/app:1\n  - name: istio-proxy\n    image: docker.io/istio/proxyv2:1.5.10\n---\n\
apiVersion: v1\nkind: Pod\nmetadata:\n  name: svc{i}-v2-0\n  namespace: ns{ns}\n  labels:\n    app: svc{i}\n    version: v2\nspec:\n  containers:\n  - name: app\n    image: example/app:2\n  - name: istio-proxy\n    image: docker.io/istio/proxyv2:1.5.10\n---\n\
apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: svc{i}\n  namespace: ns{ns}\nspec:\n  hosts:\n  - svc{i}\n  http:\n  - match:\n    - uri:\n        prefix: /next\n    route:\n    - destination:\n        host: svc{next}.ns{next_ns}.svc.cluster.local\n  - route:\n    - destination:\n        host: svc{i}\n        subset: v1\n      weight: 90\n    - destination:\n        host: svc{i}\n        subset: v2\n      weight: 10\n    timeout: 2s\n---\n\
apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: svc{i}\n  namespace: ns{ns}\nspec:\n  host: svc{i}\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n  - name: v2\n    labels:\n      version: v2\n---\n\
apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: svc{i}\n  namespace: ns{ns}\nspec:\n  selector:\n    matchLabels:\n      app: svc{i}\n  rules:\n  - from:\n    - source:\n        principals: [\"cluster.local/ns/ns{next_ns}/sa/default\"]\n---\n"
        )?;
        in_file += PER_SERVICE;
        if in_file >= 500 {
            std::fs::write(dir.join(format!("objects-{file:04}.yaml")), &text)?;
            text.clear();
            file += 1;
            in_file = 0;
        }
    }
    if !text.is_empty() {
        std::fs::write(dir.join(format!("objects-{file:04}.yaml")), &text)?;
    }
    Ok(())
}

/// Runs the benchmark and returns its Markdown section.
pub fn run(args: &Args) -> Result<String> {
    let mastctl = match &args.mastctl {
        Some(p) => p.clone(),
        None => {
            let exe = std::env::current_exe()?;
            exe.with_file_name("mastctl")
        }
    };
    if !mastctl.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p mastctl`",
            mastctl.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("mast-bench-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    generate(&dir, args.objects)?;
    let mut costs = Vec::new();
    let mut exit = None;
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..args.runs.max(1) {
        let (out, cost) = machine::measure(
            Command::new(&mastctl)
                .arg("analyze")
                .arg("-o")
                .arg("json")
                .arg(&dir),
        )
        .with_context(|| format!("running {}", mastctl.display()))?;
        exit = out.status.code();
        costs.push(cost);
        codes.clear();
        let msgs: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("mastctl printed no JSON")?;
        for m in msgs.as_array().into_iter().flatten() {
            *codes
                .entry(m["code"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    costs.sort_by_key(|c| c.wall);
    let median = costs[costs.len() / 2];
    let objects = args.objects.div_ceil(PER_SERVICE) * PER_SERVICE + 10;
    let mut s = String::new();
    writeln!(s, "## `mastctl analyze` over {objects} objects\n")?;
    writeln!(s, "Machine: {}\n", machine::describe())?;
    writeln!(
        s,
        "Command: `cargo build --release -p mastctl -p mast-bench && target/release/mast-bench analyze --objects {} --runs {} --write docs/benchmarks.md`\n",
        args.objects, args.runs
    )?;
    writeln!(
        s,
        "Input: {objects} objects in files of 500 (10 Namespaces with injection enabled; per service a Service, a Deployment, two Pods with sidecars, a VirtualService with two routes, a DestinationRule with two subsets, an AuthorizationPolicy), every analyzer enabled, `-o json`.\n"
    )?;
    writeln!(s, "| metric | median of {} runs |", costs.len())?;
    writeln!(s, "|---|---|")?;
    writeln!(
        s,
        "| wall time | {:.0} ms |",
        median.wall.as_secs_f64() * 1000.0
    )?;
    writeln!(
        s,
        "| CPU time (user + system) | {:.0} ms |",
        median.cpu.as_secs_f64() * 1000.0
    )?;
    writeln!(
        s,
        "| peak RSS | {:.1} MiB |",
        median.max_rss_kib as f64 / 1024.0
    )?;
    writeln!(
        s,
        "| exit code | {} |",
        exit.map_or("signal".to_string(), |c| c.to_string())
    )?;
    let found: Vec<String> = codes.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
    writeln!(
        s,
        "| messages | {} |",
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        }
    )?;
    Ok(s)
}
