//! Fixtures at the benchmark's load (`mast-bench control-plane`): the same registry and
//! simulated proxies, for the cache's tests. Timing is `mast-bench`'s job.

use std::fmt::Write as _;

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
