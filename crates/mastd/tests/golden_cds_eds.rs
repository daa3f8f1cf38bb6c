//! Golden CDS and EDS for the productpage sidecar of Istio's bookinfo sample: the sample's
//! Services and DestinationRules and its googleapis egress rule, read in place from the
//! shared conformance data, plus injected pods from `testdata/`. Refresh with
//! `UPDATE_GOLDEN=1 cargo test -p mastd --test golden_cds_eds`.

use std::path::{Path, PathBuf};

use mast_xds::types;
use mastd::model::{MeshSettings, Snapshot};
use mastd::source::store::ConfigStore;
use serde_json::{Map, Value, json};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot() -> Snapshot {
    let bookinfo = manifest().join("../../../shared/conformance/samples/bookinfo");
    let paths = [
        bookinfo.join("platform/kube/bookinfo.yaml"),
        bookinfo.join("networking/destination-rule-all.yaml"),
        bookinfo.join("networking/egress-rule-google-apis.yaml"),
        manifest().join("tests/testdata/bookinfo-pods.yaml"),
    ];
    for p in &paths {
        assert!(p.exists(), "missing {}", p.display());
    }
    let loaded = mast_config::Loaded::from_paths(&paths);
    let mut store = ConfigStore::default();
    store.reconcile(loaded, "default");
    // Deployments are not served kinds; everything else must be valid
    for p in store.problems() {
        assert!(
            p.message.contains("Deployment"),
            "unexpected problem: {p:?}"
        );
    }
    Snapshot::build(
        1,
        MeshSettings::default(),
        store.objects().cloned().collect(),
    )
}

fn productpage() -> mast_xds::Proxy {
    let md = json!({
        "NAMESPACE": "default",
        "SERVICE_ACCOUNT": "bookinfo-productpage",
        "LABELS": {"app": "productpage", "version": "v1", "security.istio.io/tlsMode": "istio"},
        "WORKLOAD_NAME": "productpage-v1",
    });
    mast_xds::Proxy::parse(
        "sidecar~10.244.0.10~productpage-v1-6b746f74dc-9stvs.default~default.svc.cluster.local",
        md.as_object().cloned().unwrap_or_default(),
    )
    .expect("node id")
}

/// JSON with object keys sorted (proto maps serialize in hash order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<(String, Value)> = o.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                keys.into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}

fn check(name: &str, got: Value) {
    let path = manifest().join("tests/golden").join(name);
    let text = serde_json::to_string_pretty(&sorted(got)).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if want != text {
        let diff_at = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let context: Vec<&str> = text
            .lines()
            .skip(diff_at.saturating_sub(3))
            .take(8)
            .collect();
        panic!(
            "{} differs from the generated output at line {} (UPDATE_GOLDEN=1 to refresh):\n{}",
            Path::new(name).display(),
            diff_at + 1,
            context.join("\n")
        );
    }
}

fn generate(type_url: &str) -> Value {
    let snap = snapshot();
    let resources = mastd::xds::generate(&snap, &productpage(), type_url, &[]).expect("generate");
    Value::Array(
        resources
            .iter()
            .map(|r| mast_xds::json::any_to_json(&r.resource))
            .collect(),
    )
}

#[test]
fn productpage_clusters() {
    check("productpage_cds.json", generate(types::CLUSTER));
}

#[test]
fn productpage_endpoints() {
    check("productpage_eds.json", generate(types::ENDPOINT));
}
