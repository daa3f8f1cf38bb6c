//! The first vertical slice with the real control plane: mastd (in-process) reads a config
//! directory with a ServiceEntry and WorkloadEntry for `echo`, and Sidecars that give the
//! client an explicit outbound listener and the server an explicit inbound listener
//! (`captureMode: NONE`, proxies in interception mode NONE); two mast-proxies get their
//! config over ADS; a request goes client → proxy → mTLS → proxy → app.

mod common;

use std::time::Duration;

use common::{Ca, addr, spiffe};

fn config(net: [u8; 3], mode: &str) -> String {
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - number: 9080
    name: http
    protocol: HTTP
  resolution: STATIC
  workloadSelector:
    labels:
      app: echo
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: echo-1
  namespace: default
spec:
  address: {echo}
  labels:
    app: echo
  serviceAccount: echo
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {client}
    captureMode: NONE
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: echo
  namespace: default
spec:
  workloadSelector:
    labels:
      app: echo
  ingress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {echo}
    defaultEndpoint: 0.0.0.0:8080
    captureMode: NONE
  egress:
  - hosts: ["./*"]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: {mode}
"#,
        client = ip(1),
        echo = ip(2),
    )
}

fn mastd_args(dir: &std::path::Path) -> mastd::args::Args {
    use clap::Parser;
    let mut a = mastd::args::Args::try_parse_from(["mastd"]).unwrap();
    a.config_dir = Some(dir.to_path_buf());
    a.grpc_addr = "127.0.0.1:0".parse().unwrap();
    a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
    a.file_debounce = Duration::from_millis(50);
    a.debounce_after = Duration::from_millis(20);
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_through_two_proxies_configured_by_mastd() {
    common::init_tracing();
    let net = common::loopback_net();
    let cfg_dir = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config(net, "STRICT")).unwrap();
    let mastd = mastd::app::start(mastd_args(cfg_dir.path()))
        .await
        .expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    ca.issue(&certs.path().join("client"), &spiffe("client"));
    ca.issue(&certs.path().join("echo"), &spiffe("echo"));
    // `0.0.0.0:8080` is the workload's own IP (the proxy's instance IP)
    common::start_app(addr(net, 2, 8080), "echo").await;
    let start = |pod: &'static str, host: u8| {
        let c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[&format!("app={pod}")],
            Some(&certs.path().join(pod)),
        );
        common::start_proxy(c)
    };
    let client = start("client", 1).await;
    let server = start("echo", 2).await;
    let ready = async {
        while !(client.is_ready() && server.is_ready()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .is_err()
    {
        panic!(
            "proxies not ready: client NACKs {:?}, server NACKs {:?}",
            client.nacks(),
            server.nacks()
        );
    }
    let front = addr(net, 1, 9080);
    let mut last = None;
    for _ in 0..100 {
        match common::get(front, "echo.default.svc.cluster.local:9080", "/slice").await {
            Ok(g) if g.status == 200 => {
                let j = g.json();
                assert_eq!(j["app"], "echo");
                assert_eq!(j["path"], "/slice");
                let xfcc = j["xfcc"].as_str().unwrap();
                assert!(
                    xfcc.contains(&format!("URI={}", spiffe("client"))),
                    "mTLS with the client's identity: {xfcc}"
                );
                assert!(
                    client.nacks().is_empty() && server.nacks().is_empty(),
                    "{:?} {:?}",
                    client.nacks(),
                    server.nacks()
                );
                // a plaintext client is refused by the STRICT port
                assert!(
                    common::get(addr(net, 2, 9080), "echo", "/")
                        .await
                        .map(|g| g.status != 200)
                        .unwrap_or(true)
                );
                return;
            }
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dump = |h: &mast_proxy::Handle| {
        let a = h.admin_addr;
        std::thread::spawn(move || {
            mast_xds::http::get(a, "/config_dump")
                .map(|r| r.body)
                .unwrap_or_default()
        })
        .join()
        .unwrap()
    };
    panic!(
        "no 200 through the proxies: {last:?}\nclient NACKs {:?}\nserver NACKs {:?}\nclient listeners {:?}\nclient config {}\nserver config {}",
        client.nacks(),
        server.nacks(),
        client
            .model()
            .listeners
            .iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>(),
        dump(&client),
        dump(&server),
    );
}
