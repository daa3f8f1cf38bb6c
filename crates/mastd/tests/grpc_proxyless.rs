//! A client nobody here wrote: Python's `grpcio`, with its own xDS client configured by a
//! GRPC_XDS_BOOTSTRAP file pointing at mastd, resolves `xds:///echo.default.svc.cluster.local:7070`
//! (a ServiceEntry with two WorkloadEntries) and calls two real gRPC servers, with the traffic
//! split 80/20 by a VirtualService.
//!
//! Needs `python3` with `grpcio` (CI installs it in `.ci/run`). Outside CI the test is skipped
//! with a printed reason when grpcio is missing; in CI (`CI` set) that is a failure.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mast_test::ports::free_addr;
use mast_test::process::Proc;
use mastd::args::Args;

fn grpcio_available() -> bool {
    Command::new("python3")
        .args(["-c", "import grpc"])
        .status()
        .is_ok_and(|s| s.success())
}

fn config(p1: u16, p2: u16) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: 7070
    name: grpc
    protocol: GRPC
  workloadSelector:
    labels:
      app: echo
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: echo-v1
  namespace: default
spec:
  address: 127.0.0.1
  ports:
    grpc: {p1}
  labels:
    app: echo
    version: v1
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: echo-v2
  namespace: default
spec:
  address: 127.0.0.1
  ports:
    grpc: {p2}
  labels:
    app: echo
    version: v2
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
  namespace: default
spec:
  host: echo.default.svc.cluster.local
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
  - route:
    - destination:
        host: echo.default.svc.cluster.local
        subset: v1
      weight: 80
    - destination:
        host: echo.default.svc.cluster.local
        subset: v2
      weight: 20
"
    )
}

fn bootstrap(xds: std::net::SocketAddr) -> String {
    serde_json::json!({
        "xds_servers": [{
            "server_uri": xds.to_string(),
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {
            "id": "sidecar~127.0.0.1~grpc-client.default~default.svc.cluster.local",
            "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default", "ISTIO_VERSION": "grpcio"},
        },
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_resolves_and_splits_through_mastd() {
    if !grpcio_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with grpcio is required in CI (.ci/run installs it)"
        );
        println!("SKIP: python3 with grpcio is not installed (pip install grpcio)");
        return;
    }
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc");
    let (a1, a2) = (free_addr(), free_addr());
    let py = Path::new("python3");
    let server = |name: &str, port: u16| {
        Proc::spawn(
            &format!("grpc-{name}"),
            py,
            &[
                scripts.join("server.py").display().to_string(),
                name.into(),
                port.to_string(),
            ],
            &[],
        )
        .unwrap()
    };
    let _s1 = server("v1", a1.port());
    let _s2 = server("v2", a2.port());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.yaml"), config(a1.port(), a2.port())).unwrap();
    let args = {
        use clap::Parser;
        let mut a = Args::try_parse_from(["mastd"]).unwrap();
        a.config_dir = Some(dir.path().to_path_buf());
        a.grpc_addr = "127.0.0.1:0".parse().unwrap();
        a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
        a.secure_grpc_addr = Some("127.0.0.1:0".parse().unwrap());
        a.state_dir = Some(dir.path().join("state"));
        a
    };
    let running = mastd::app::start(args).await.unwrap();
    let boot = dir.path().join("bootstrap.json");
    std::fs::write(&boot, bootstrap(running.grpc_addr)).unwrap();

    let client = scripts.join("client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(client)
            .arg("echo.default.svc.cluster.local:7070")
            .arg("200")
            .env("GRPC_XDS_BOOTSTRAP", &boot)
            .output()
            .unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("client finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    let counts: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let v1 = counts["v1"].as_u64().unwrap_or(0);
    let v2 = counts["v2"].as_u64().unwrap_or(0);
    assert_eq!(v1 + v2, 200, "{counts}");
    // 80/20 of 200: mean 160, standard deviation about 5.7; allow five of them
    assert!((132..=188).contains(&v1), "weights not honoured: {counts}");
}
