//! `mastctl analyze` and `mastctl validate` as a user runs them: exit codes, output formats,
//! thresholds, suppressions, stdin.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mastctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mastctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mastctl runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A VirtualService routing to a host nobody defines: IST0101 (Error).
const DANGLING_VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  hosts:\n  - reviews\n  http:\n  - route:\n    - destination:\n        host: nowhere\n";

const SERVICE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels:\n    istio-injection: enabled\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  selector:\n    app: reviews\n  ports:\n  - name: http\n    port: 9080\n";

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn clean_config_exits_0_with_the_check_mark() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "svc.yaml", SERVICE);
    let o = mastctl(&["analyze", &f], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("\u{2714} No validation issues found when analyzing namespace: default."),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn errors_exit_79_and_log_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "vs.yaml", DANGLING_VS);
    let o = mastctl(&["analyze", &f], None);
    assert_eq!(code(&o), 79, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Error [IST0101] (VirtualService default/reviews "),
        "{out}"
    );
    assert!(
        out.contains(&format!("{f}:")),
        "reference names the file: {out}"
    );
    assert!(
        out.contains("Referenced host not found: \"nowhere\""),
        "{out}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );
}

#[test]
fn failure_threshold_is_counted_before_output_filtering() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "vs.yaml", DANGLING_VS);
    // the error is hidden from output but still fails the run
    let o = mastctl(
        &[
            "analyze",
            "--output-threshold",
            "Error",
            "--failure-threshold",
            "Warning",
            &f,
        ],
        None,
    );
    assert_eq!(code(&o), 79);
    // raising the failure threshold above the error is impossible; suppressing it makes the run clean
    let o = mastctl(
        &[
            "analyze",
            "-S",
            "IST0101=VirtualService reviews.default",
            &f,
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = mastctl(
        &["analyze", "--suppress", "IST01*=VirtualService *", &f],
        None,
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = mastctl(&["analyze", "--suppress", "IST0101=Pod *", &f], None);
    assert_eq!(code(&o), 79);
}

#[test]
fn json_and_yaml_use_istioctls_keys() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "vs.yaml", DANGLING_VS);
    let o = mastctl(&["analyze", "-o", "json", &f], None);
    assert_eq!(code(&o), 79);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    let m = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "IST0101")
        .expect("IST0101");
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "code",
            "documentationUrl",
            "level",
            "message",
            "origin",
            "reference"
        ]
    );
    assert_eq!(m["level"], "Error");
    assert_eq!(m["origin"], "VirtualService default/reviews");
    assert_eq!(
        m["documentationUrl"],
        "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
    );
    let o = mastctl(&["analyze", "-o", "yaml", &f], None);
    let y = stdout(&o);
    assert!(y.contains("- code: IST0101\n  documentationUrl: "), "{y}");
    assert!(y.contains("  level: Error\n"), "{y}");
}

#[test]
fn stdin_and_directories() {
    let o = mastctl(&["analyze", "-"], Some(DANGLING_VS));
    assert_eq!(code(&o), 79);
    assert!(
        stdout(&o).contains("(VirtualService default/reviews -:"),
        "{}",
        stdout(&o)
    );
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    write(&d.path().join("sub"), "vs.yml", DANGLING_VS);
    write(
        d.path(),
        "svc.json",
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nowhere", "namespace": "default"}, "spec": {"ports": [{"name": "http", "port": 80}]}}"#,
    );
    write(d.path(), "notes.txt", "not yaml: [");
    let o = mastctl(
        &[
            "analyze",
            "--analyzer",
            "virtualservice.DestinationHostAnalyzer",
            &d.path().display().to_string(),
        ],
        None,
    );
    assert_eq!(
        code(&o),
        0,
        "the JSON Service defines the host: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn unparsable_files_exit_65_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n",
    );
    let o = mastctl(&["analyze", &f], None);
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains(&format!("{f}:")), "{}", stderr(&o));
}

#[test]
fn unknown_kinds_are_fatal_unless_ignored() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "x.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let o = mastctl(&["analyze", &f], None);
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("unknown kind Widget"), "{}", stderr(&o));
    let o = mastctl(&["analyze", "--ignore-unknown", &f], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn bad_usage_exits_64() {
    for args in [
        &["analyze", "--bogus-flag", "x"][..],
        &["analyze", "-o", "xml", "x"][..],
        &["analyze", "--failure-threshold", "Fatal", "x"][..],
        &["analyze", "--suppress", "nonsense", "x"][..],
        &["analyze", "--analyzer", "no.SuchAnalyzer", "x"][..],
    ] {
        let o = mastctl(args, None);
        assert_eq!(code(&o), 64, "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn list_analyzers_uses_istios_names() {
    let o = mastctl(&["analyze", "-L"], None);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for name in [
        "virtualservice.DestinationHostAnalyzer",
        "gateway.IngressGatewayPortAnalyzer",
        "schema.ValidationAnalyzer.VirtualService",
        "auth.AuthorizationPoliciesAnalyzer",
    ] {
        assert!(
            out.contains(&format!("* {name}:")),
            "{name} missing from:\n{out}"
        );
    }
}

#[test]
fn mesh_config_file_is_read() {
    let d = tempfile::tempdir().unwrap();
    let mesh = write(d.path(), "mesh.yaml", "rootNamespace: [broken\n");
    let f = write(d.path(), "svc.yaml", SERVICE);
    let o = mastctl(&["analyze", "--meshConfigFile", &mesh, &f], None);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains(&mesh), "{}", stderr(&o));
}

#[test]
fn validate_reports_field_and_line_and_exits_1() {
    let d = tempfile::tempdir().unwrap();
    let good = write(d.path(), "good.yaml", SERVICE);
    let o = mastctl(&["validate", "-f", &good], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("is valid"), "{}", stdout(&o));
    let bad = write(
        d.path(),
        "bad.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n  namespace: default\nspec:\n  hosts:\n  - r\n  http:\n  - route:\n    - destination:\n        host: r\n      weight: 30\n      colour: blue\n",
    );
    let o = mastctl(&["validate", "-f", &bad], None);
    assert_eq!(code(&o), 1);
    let e = stderr(&o);
    assert!(e.contains(&format!("{bad}:")), "{e}");
    assert!(e.contains("colour"), "names the unknown field: {e}");
}
