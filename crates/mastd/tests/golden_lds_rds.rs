//! Golden LDS and RDS for the productpage and reviews sidecars of Istio's bookinfo sample: the
//! sample's Services, DestinationRules and the `reviews-v3` and `ratings-test-delay`
//! VirtualServices, read in place from the shared conformance data, plus injected pods and a
//! STRICT PeerAuthentication with an AuthorizationPolicy from `testdata/lds/`. Refresh with
//! `UPDATE_GOLDEN=1 cargo test -p mastd --test golden_lds_rds`.

use std::path::PathBuf;

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
        bookinfo.join("networking/virtual-service-reviews-v3.yaml"),
        bookinfo.join("networking/virtual-service-ratings-test-delay.yaml"),
        manifest().join("tests/testdata/lds/pods.yaml"),
        manifest().join("tests/testdata/lds/policies.yaml"),
    ];
    for p in &paths {
        assert!(p.exists(), "missing {}", p.display());
    }
    let mut store = ConfigStore::default();
    store.reconcile(mast_config::Loaded::from_paths(&paths), "default");
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

fn sidecar(pod: &str, ip: &str, app: &str, version: &str, sa: &str) -> mast_xds::Proxy {
    let md = json!({
        "NAMESPACE": "default",
        "SERVICE_ACCOUNT": sa,
        "LABELS": {"app": app, "version": version, "security.istio.io/tlsMode": "istio"},
        "WORKLOAD_NAME": format!("{app}-{version}"),
        "INTERCEPTION_MODE": "REDIRECT",
    });
    mast_xds::Proxy::parse(
        &format!("sidecar~{ip}~{pod}.default~default.svc.cluster.local"),
        md.as_object().cloned().unwrap_or_default(),
    )
    .expect("node id")
}

/// JSON with object keys sorted (proto maps serialize in hash order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = o.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
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
        let at = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(text.lines().count()));
        let context: Vec<&str> = text.lines().skip(at.saturating_sub(3)).take(8).collect();
        panic!(
            "{name} differs from the generated output at line {} (UPDATE_GOLDEN=1 to refresh):\n{}",
            at + 1,
            context.join("\n")
        );
    }
}

fn dump(snap: &Snapshot, proxy: &mast_xds::Proxy, type_url: &str, names: &[String]) -> Value {
    let out = mastd::xds::generate(snap, proxy, type_url, names).expect("generate");
    Value::Array(
        out.iter()
            .map(|r| mast_xds::json::any_to_json(&r.resource))
            .collect(),
    )
}

fn golden(prefix: &str, proxy: mast_xds::Proxy) {
    let snap = snapshot();
    let lds = dump(&snap, &proxy, types::LISTENER, &[]);
    let routes = mastd::xds::lds::route_names(&snap, &proxy);
    assert_eq!(routes, ["9080"], "bookinfo services all serve HTTP on 9080");
    let rds = dump(&snap, &proxy, types::ROUTE, &routes);
    check(&format!("{prefix}_lds.json"), lds);
    check(&format!("{prefix}_rds.json"), rds);
}

#[test]
fn productpage_lds_rds() {
    golden(
        "productpage",
        sidecar(
            "productpage-v1-7d6cfb7dfd-x4qlm",
            "10.244.1.10",
            "productpage",
            "v1",
            "bookinfo-productpage",
        ),
    );
}

#[test]
fn reviews_lds_rds() {
    golden(
        "reviews",
        sidecar(
            "reviews-v3-7d99fd7978-4xmgp",
            "10.244.1.15",
            "reviews",
            "v3",
            "bookinfo-reviews",
        ),
    );
}

#[test]
fn route_content_follows_the_virtual_services() {
    let snap = snapshot();
    let proxy = sidecar(
        "productpage-v1-7d6cfb7dfd-x4qlm",
        "10.244.1.10",
        "productpage",
        "v1",
        "bookinfo-productpage",
    );
    let rds = dump(&snap, &proxy, types::ROUTE, &["9080".to_string()]);
    let hosts = rds[0]["virtualHosts"].as_array().expect("virtual hosts");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "details.default.svc.cluster.local:9080",
            "productpage.default.svc.cluster.local:9080",
            "ratings.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "allow_any"
        ]
    );
    let reviews = &hosts[3]["routes"][0]["route"];
    assert_eq!(
        reviews["cluster"],
        "outbound|9080|v3|reviews.default.svc.cluster.local"
    );
    let ratings = &hosts[2]["routes"];
    assert_eq!(ratings[0]["match"]["headers"][0]["name"], "end-user");
    assert!(
        ratings[0]["typedPerFilterConfig"]["envoy.filters.http.fault"]["delay"]["fixedDelay"]
            == "7s"
    );
    assert_eq!(
        ratings[1]["route"]["cluster"],
        "outbound|9080|v1|ratings.default.svc.cluster.local"
    );
    assert_eq!(hosts[0]["routes"][0]["name"], "default");
}
