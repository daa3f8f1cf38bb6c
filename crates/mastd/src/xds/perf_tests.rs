//! A rough timing of generation at the benchmark's load (`mast-bench control-plane`), run by
//! hand: `cargo test --release -p mastd --lib perf -- --ignored --nocapture`.

use std::fmt::Write as _;
use std::time::Instant;

use mast_xds::types;

use crate::model::{MeshSettings, Snapshot};
use crate::source::store::ConfigStore;

/// The benchmark's registry: `services` ServiceEntries with two WorkloadEntries each, a
/// DestinationRule for every tenth, and one VirtualService.
pub(crate) fn bench_snapshot(services: usize) -> Snapshot {
    let mut text = String::new();
    for i in 0..services {
        let (a, b) = (i / 250, i % 250);
        write!(
            text,
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: svc{i}\n  namespace: bench\nspec:\n  hosts: [svc{i}.bench.svc.cluster.local]\n  addresses: [240.{a}.{b}.1]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports:\n  - number: 8080\n    name: http\n    protocol: HTTP\n  workloadSelector:\n    labels:\n      app: svc{i}\n---\n"
        )
        .unwrap();
        for v in 1..=2 {
            write!(
                text,
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: svc{i}-v{v}\n  namespace: bench\nspec:\n  address: 10.{a}.{b}.{v}\n  labels:\n    app: svc{i}\n    version: v{v}\n    security.istio.io/tlsMode: istio\n  serviceAccount: svc{i}\n---\n"
            )
            .unwrap();
        }
        if i % 10 == 0 {
            write!(
                text,
                "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: svc{i}\n  namespace: bench\nspec:\n  host: svc{i}.bench.svc.cluster.local\n  subsets:\n  - name: v1\n    labels: {{version: v1}}\n  - name: v2\n    labels: {{version: v2}}\n---\n"
            )
            .unwrap();
        }
    }
    text.push_str("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: svc0\n  namespace: bench\nspec:\n  hosts: [svc0.bench.svc.cluster.local]\n  http:\n  - route:\n    - destination:\n        host: svc0.bench.svc.cluster.local\n        subset: v1\n      weight: 70\n    - destination:\n        host: svc0.bench.svc.cluster.local\n        subset: v2\n      weight: 30\n");
    let mut loaded = mast_config::Loaded::default();
    loaded.add_str("bench.yaml", &text);
    let mut store = ConfigStore::default();
    store.reconcile(loaded, "default");
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    Snapshot::build(
        1,
        MeshSettings::default(),
        store.objects().cloned().collect(),
    )
}

/// The benchmark's sidecar number `k`.
pub(crate) fn bench_proxy(k: usize) -> mast_xds::Proxy {
    let md = serde_json::json!({"NAMESPACE": "bench", "ISTIO_VERSION": "mast-bench", "LABELS": {"app": format!("client{k}")}});
    let ip = format!("10.254.{}.{}", k / 250, k % 250 + 1);
    mast_xds::Proxy::parse(
        &format!("sidecar~{ip}~client{k}.bench~bench.svc.cluster.local"),
        md.as_object().cloned().unwrap_or_default(),
    )
    .expect("node")
}

#[test]
#[ignore = "timing, run by hand with --release"]
fn perf_generation() {
    let t = Instant::now();
    let snap = bench_snapshot(1000);
    eprintln!("snapshot: {:?}", t.elapsed());
    for k in 0..3 {
        let proxy = bench_proxy(k);
        let eds = crate::xds::cds::eds_cluster_names(&snap, &proxy);
        let rds = crate::xds::lds::route_names(&snap, &proxy);
        for ty in [
            types::CLUSTER,
            types::LISTENER,
            types::ENDPOINT,
            types::ROUTE,
        ] {
            let names = match ty {
                types::ENDPOINT => eds.clone(),
                types::ROUTE => rds.clone(),
                _ => Vec::new(),
            };
            let t = Instant::now();
            let r = super::generate(&snap, &proxy, ty, &names).unwrap();
            let bytes: usize = r.iter().map(|r| r.resource.value.len()).sum();
            eprintln!(
                "proxy {k} {ty}: {} resources, {bytes} bytes, {:?}",
                r.len(),
                t.elapsed()
            );
        }
    }
}

#[test]
#[ignore = "timing, run by hand with --release"]
fn perf_cached() {
    let snap = bench_snapshot(1000);
    let proxies: Vec<_> = (0..200).map(bench_proxy).collect();
    let first = Instant::now();
    let eds = crate::xds::cds::eds_cluster_names(&snap, &proxies[0]);
    let rds = crate::xds::lds::route_names(&snap, &proxies[0]);
    eprintln!("names: {:?}", first.elapsed());
    for ty in [
        types::CLUSTER,
        types::LISTENER,
        types::ENDPOINT,
        types::ROUTE,
    ] {
        let names = match ty {
            types::ENDPOINT => eds.clone(),
            types::ROUTE => rds.clone(),
            _ => Vec::new(),
        };
        let t = Instant::now();
        super::generate(&snap, &proxies[0], ty, &names).unwrap();
        let first = t.elapsed();
        let t = Instant::now();
        for p in &proxies[1..] {
            super::generate(&snap, p, ty, &names).unwrap();
        }
        eprintln!(
            "{ty}: first {first:?}, then {:?} per proxy",
            t.elapsed() / (proxies.len() as u32 - 1)
        );
    }
    eprintln!("{:?}", snap.cache);
}
