//! Istio's validation data set, read in place from `../shared/conformance/validate`: every file
//! of a group under test must be rejected (an error on some object) exactly when the case says
//! `expect: reject`. Also: the Bookinfo samples validate cleanly.
//!
//! The data set models `kubectl apply` against a cluster with Istio's CRDs: the API server
//! prunes fields a CRD schema does not have, so an unknown field alone does not reject a file
//! there (it does reject it in `mastctl validate`, which is strict like istioctl).

use std::path::{Path, PathBuf};

use mast_config::{Family, Loaded, Options, Severity, validate, validate_with, yaml};
use serde_json::Value;

/// API groups under test: every Istio group Mast validates.
const GROUPS_UNDER_TEST: &[&str] = &[
    "networking.istio.io",
    "security.istio.io",
    "extensions.istio.io",
    "telemetry.istio.io",
    "authentication.istio.io",
    "rbac.istio.io",
];

fn conformance() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    assert!(p.is_dir(), "conformance data not found at {}", p.display());
    p
}

fn read_yaml_list(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    let docs = yaml::parse_stream(&text).expect("parses");
    docs[0].value.as_array().expect("a list").clone()
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `group/version/Kind` → group.
fn group_of(resource: &str) -> &str {
    let mut parts: Vec<&str> = resource.rsplitn(3, '/').collect();
    parts.reverse();
    if parts.len() == 3 { parts[0] } else { "" }
}

/// Loads and validates a file; returns whether it is rejected and a printable report.
fn check_file(path: &Path) -> (bool, String) {
    let loaded = Loaded::from_paths(&[path]);
    let mut report = String::new();
    let mut rejected = false;
    for e in &loaded.errors {
        rejected = true;
        report.push_str(&format!("    load error: {e}\n"));
    }
    // the data set is Istio 1.5's webhook, which had no VirtualService delegates
    let istio_1_5 = Options {
        virtual_service_delegate: false,
    };
    for r in &loaded.resources {
        for f in validate_with(r, &istio_1_5) {
            // the API server prunes unknown fields of CRD objects instead of refusing them
            rejected |= f.finding.severity == Severity::Error && !f.finding.unknown_field;
            report.push_str(&format!("    {f}\n"));
        }
    }
    (rejected, report)
}

#[test]
fn validation_dataset() {
    let dir = conformance().join("validate");
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for case in read_yaml_list(&dir.join("cases.yaml")) {
        let file = case["file"].as_str().expect("file").to_string();
        let resources = str_list(&case["resources"]);
        if !resources
            .iter()
            .all(|r| GROUPS_UNDER_TEST.contains(&group_of(r)))
        {
            skipped.push(file);
            continue;
        }
        let want_reject = case["expect"].as_str() == Some("reject");
        let (rejected, report) = check_file(&dir.join(&file));
        let verdict = if rejected { "rejected" } else { "accepted" };
        println!(
            "{file}: {verdict} (expected {})\n{report}",
            if want_reject { "reject" } else { "accept" }
        );
        if rejected != want_reject {
            failures.push(format!("{file}: {verdict}"));
        }
    }
    println!("skipped (groups not under test): {skipped:?}");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// Every object of the Bookinfo samples in a group under test (or a Kubernetes kind) has no
/// error.
#[test]
fn bookinfo_samples_are_valid() {
    let dir = conformance().join("samples/bookinfo");
    let loaded = Loaded::from_paths(&[&dir]);
    assert!(loaded.errors.is_empty(), "load errors: {:?}", loaded.errors);
    let mut failures = Vec::new();
    let mut checked = 0;
    for r in &loaded.resources {
        let kubernetes = r
            .kind_info()
            .is_some_and(|k| k.family == Family::Kubernetes);
        if !kubernetes && !GROUPS_UNDER_TEST.contains(&r.gvk.group.as_str()) {
            continue;
        }
        checked += 1;
        for f in validate(r) {
            println!("{f}");
            if f.finding.severity == Severity::Error {
                failures.push(f.to_string());
            }
        }
    }
    assert!(checked > 30, "only {checked} objects checked");
    assert!(failures.is_empty(), "errors:\n{}", failures.join("\n"));
}
