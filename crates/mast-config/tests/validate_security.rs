//! Istio's validation conformance for the security, telemetry, extensions and legacy (1.5)
//! groups, and mesh config reading, against the shared conformance data (read in place).
//!
//! - The policies of `authz/cases.yaml`: every object validates without errors.
//!   (`validate_dataset.rs` covers the accept/reject data set and Bookinfo for every group.)
//! - The mesh config and mesh networks files of the analyzer test data parse strictly and
//!   validate.

use std::path::{Path, PathBuf};

use mast_config::istio::mesh::{MeshConfig, MeshNetworks};
use mast_config::validate::Findings;
use mast_config::{Loaded, Resource, Severity, ValidationError, validate};
use serde_json::Value;

const GROUPS: &[&str] = &[
    "security.istio.io",
    "telemetry.istio.io",
    "extensions.istio.io",
    "authentication.istio.io",
    "rbac.istio.io",
];

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    mast_config::yaml::parse_stream(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn errors_of(r: &Resource) -> Vec<ValidationError> {
    validate(r)
        .into_iter()
        .filter(|e| e.finding.severity == Severity::Error)
        .collect()
}

fn in_groups(r: &Resource) -> bool {
    GROUPS.contains(&r.gvk.group.as_str())
}

fn assert_all_valid(what: &str, loaded: &Loaded) -> usize {
    let mut n = 0;
    let mut bad = Vec::new();
    for r in loaded.resources.iter().filter(|r| in_groups(r)) {
        n += 1;
        let errs = errors_of(r);
        for e in &errs {
            println!("{what}: {e}");
        }
        if !errs.is_empty() {
            bad.push(format!("{} {}", r.gvk.kind, r.namespaced_name()));
        }
    }
    assert!(bad.is_empty(), "{what}: objects with errors: {bad:?}");
    n
}

#[test]
fn authz_case_policies_are_valid() {
    let cases = yaml_docs(&shared().join("authz/cases.yaml"));
    let cases = cases
        .first()
        .and_then(Value::as_array)
        .expect("authz cases are a list");
    let mut loaded = Loaded::default();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        if let Some(text) = case["policies"].as_str().filter(|t| !t.trim().is_empty()) {
            loaded.add_str(&format!("authz/cases.yaml#{name}"), text);
        }
    }
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let n = assert_all_valid("authz", &loaded);
    println!("authz/cases.yaml: {n} policies, all valid");
    assert!(n > 100);
}

/// The mesh config and mesh networks files the analyzer cases name, plus `mesh-*.yaml`.
fn mesh_files() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut configs, mut networks) = (Vec::new(), Vec::new());
    for dir in ["analyze", "analyze-head"] {
        let base = shared().join(dir);
        for case in yaml_docs(&base.join("cases.yaml"))
            .first()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(f) = case["mesh_config_file"].as_str() {
                configs.push(base.join(f));
            }
            if let Some(f) = case["mesh_networks_file"].as_str() {
                networks.push(base.join(f));
            }
        }
        let testdata = base.join("testdata");
        for entry in std::fs::read_dir(&testdata).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("mesh-") && name.ends_with(".yaml") {
                configs.push(entry.path());
            }
        }
        let common = testdata.join("common/meshconfig.yaml");
        if common.exists() {
            configs.push(common);
        }
    }
    for list in [&mut configs, &mut networks] {
        list.sort();
        list.dedup();
    }
    (configs, networks)
}

#[test]
fn mesh_config_files_parse() {
    let (configs, networks) = mesh_files();
    assert!(!configs.is_empty() && !networks.is_empty());
    let mut failures = Vec::new();
    for path in &configs {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path
            .strip_prefix(shared())
            .unwrap_or(path)
            .display()
            .to_string();
        if let Err(e) = MeshConfig::from_yaml(&text) {
            println!("{name}: {e}");
            failures.push(name);
            continue;
        }
        let mesh = MeshConfig::from_yaml_with_defaults(&text).expect("merges over the defaults");
        let mut out = Findings::default();
        mesh.validate(&mut out);
        for f in out.as_slice() {
            println!("{name}: {:?} {}: {}", f.severity, f.path, f.message);
        }
        if out.has_errors() {
            failures.push(name.clone());
        }
        println!("{name}: ok");
    }
    for path in &networks {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path
            .strip_prefix(shared())
            .unwrap_or(path)
            .display()
            .to_string();
        match MeshNetworks::from_yaml(&text) {
            Err(e) => {
                println!("{name}: {e}");
                failures.push(name);
            }
            Ok(n) => {
                let mut out = Findings::default();
                n.validate(&mut out);
                for f in out.as_slice() {
                    println!("{name}: {:?} {}: {}", f.severity, f.path, f.message);
                }
                println!("{name}: ok ({} networks)", n.networks.len());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "mesh files that do not read or validate: {failures:?}"
    );
}
