//! Istio's analyzer test cases, read in place from `../shared/conformance/analyze` (Istio 1.5.10)
//! and `../shared/conformance/analyze-head` (current Istio): every case runs its one analyzer
//! over its input files and must report exactly the expected `(code, resource)` multiset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mast_analyze::{Compat, Mesh, analyzers};
use mast_config::{Loaded, yaml};
use serde_json::Value;

/// Cases whose inputs need state a file cannot carry, with the reason printed when skipped.
const NEEDS_LIVE_CLUSTER: &[(&str, &str)] = &[];

fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    assert!(
        p.is_dir(),
        "conformance data not found at {} (shared/ must sit beside the checkout)",
        p.display()
    );
    p
}

#[derive(Debug)]
struct Case {
    name: String,
    analyzer: String,
    inputs: Vec<String>,
    mesh_config: Option<String>,
    mesh_networks: Option<String>,
    expected: Vec<(String, String)>,
}

fn read_cases(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("cases.yaml")).expect("cases.yaml");
    let docs = yaml::parse_stream(&text).expect("cases.yaml parses");
    let list = docs[0].value.as_array().expect("a list of cases").clone();
    list.iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            Case {
                name: s("name").unwrap_or_default(),
                analyzer: s("analyzer").unwrap_or_default(),
                inputs: c["input_files"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                mesh_config: s("mesh_config_file"),
                mesh_networks: s("mesh_networks_file"),
                expected: c["expected"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| {
                                (
                                    m["code"].as_str().unwrap_or_default().to_string(),
                                    m["resource"].as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn read_value(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml::parse_stream(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or(Value::Null)
}

fn default_ingress(mesh: &Mesh) -> Loaded {
    let ns = &mesh.istio_namespace;
    let svc = mesh.ingress_service();
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    istio: ingressgateway\n  name: {svc}-dummypod\n  namespace: {ns}\nspec:\n  containers:\n    - args:\n      name: istio-proxy\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {ns}\nspec:\n  ports:\n  - name: http2\n    nodePort: 31380\n    port: 80\n    protocol: TCP\n    targetPort: 80\n  - name: https\n    nodePort: 31390\n    port: 443\n    protocol: TCP\n    targetPort: 443\n  - name: tcp\n    nodePort: 31400\n    port: 31400\n    protocol: TCP\n    targetPort: 31400\n  - name: tls\n    nodePort: 31447\n    port: 15443\n    protocol: TCP\n    targetPort: 15443\n  selector:\n    istio: ingressgateway\n"
    );
    let mut l = Loaded::default();
    l.add_str("<default ingress>", &text);
    l
}

/// Runs one suite; returns the failures.
fn run_suite(dir: &Path, head: bool) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in read_cases(dir) {
        let label = format!("{} [{}]", case.name, case.analyzer);
        if let Some((_, why)) = NEEDS_LIVE_CLUSTER.iter().find(|(n, _)| *n == case.name) {
            println!("SKIP {label}: {why}");
            continue;
        }
        let Some(analyzer) = analyzers::by_name(&case.analyzer) else {
            failures.push(format!("{label}: analyzer not implemented"));
            continue;
        };
        let mut mesh = Mesh::new("istio-system");
        if !head {
            mesh.compat = Compat::Istio1_5;
        }
        if let Some(f) = &case.mesh_config {
            mesh.config = read_value(&dir.join(f));
        }
        if let Some(f) = &case.mesh_networks {
            mesh.networks = Some(read_value(&dir.join(f)));
        }
        let inputs: Vec<PathBuf> = case.inputs.iter().map(|f| dir.join(f)).collect();
        let loaded = Loaded::from_paths(&inputs);
        if let Some(e) = loaded.errors.iter().find(|e| e.is_parse_error()) {
            failures.push(format!("{label}: input does not load: {e}"));
            continue;
        }
        let defaults = if mesh.ingress_controller_mode() == "OFF" {
            Vec::new()
        } else {
            default_ingress(&mesh).resources
        };
        let resources = if head {
            loaded.resources.into_iter().chain(defaults).collect()
        } else {
            defaults.into_iter().chain(loaded.resources).collect()
        };
        let store = mast_analyze::analysis_store(resources);
        let msgs = mast_analyze::run(&[analyzer.as_ref()], &store, &mesh);
        let mut got: BTreeMap<(String, String), i32> = BTreeMap::new();
        for m in &msgs {
            let res = m
                .resource
                .as_ref()
                .map(|r| {
                    if head {
                        r.friendly_name()
                    } else {
                        r.friendly_name_1_5()
                    }
                })
                .unwrap_or_default();
            *got.entry((m.kind.code.to_string(), res)).or_default() += 1;
        }
        let mut want: BTreeMap<(String, String), i32> = BTreeMap::new();
        for e in &case.expected {
            *want.entry(e.clone()).or_default() += 1;
        }
        if got == want {
            passed += 1;
        } else {
            let mut diff = String::new();
            for (k, n) in &want {
                let g = got.get(k).copied().unwrap_or(0);
                if g < *n {
                    diff.push_str(&format!("\n    missing {}x {} {}", n - g, k.0, k.1));
                }
            }
            for (k, n) in &got {
                let w = want.get(k).copied().unwrap_or(0);
                if *n > w {
                    diff.push_str(&format!("\n    extra   {}x {} {}", n - w, k.0, k.1));
                }
            }
            failures.push(format!("{label}:{diff}"));
        }
    }
    (passed, failures)
}

fn check(suite: &str, head: bool) {
    let dir = shared().join(suite);
    let (passed, failures) = run_suite(&dir, head);
    println!("{suite}: {passed} passed, {} failed", failures.len());
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} {suite} case(s) failed (see output)",
        failures.len()
    );
}

#[test]
fn istio_1_5_analyzer_cases() {
    check("analyze", false);
}

#[test]
fn istio_head_analyzer_cases() {
    check("analyze-head", true);
}
