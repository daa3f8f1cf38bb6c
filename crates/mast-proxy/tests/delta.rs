//! Incremental (delta) xDS between the real mastd (in-process) and two proxies started with
//! `--deltaXds`: mastd's `/debug/adsz` shows delta streams; a request crosses both proxies
//! over mTLS; a VirtualService added later reaches the client (an abort for one header);
//! a ServiceEntry removed later disappears from the client (its cluster and endpoints), with
//! the other service untouched.

mod common;

use std::time::{Duration, Instant};

use common::addr;

fn service(name: &str, ip: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: default
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  resolution: STATIC
  workloadSelector:
    labels: {{app: {name}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: {name}
  namespace: default
spec:
  address: {ip}
  labels: {{app: {name}}}
  serviceAccount: {name}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: {name}
  namespace: default
spec:
  workloadSelector:
    labels: {{app: {name}}}
  ingress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {ip}, defaultEndpoint: "0.0.0.0:8080", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
---
"#
    )
}

fn client_sidecar(client: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels: {{app: client}}
  egress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
"#
    )
}

fn clusters_of(dump: &serde_json::Value) -> Vec<String> {
    dump["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c["dynamic_active_clusters"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|c| c["cluster"]["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_xds_adds_changes_and_removes() {
    common::init_tracing();
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let cfg = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg.path().join("echo.yaml"), service("echo", &ip(2))).unwrap();
    std::fs::write(cfg.path().join("other.yaml"), service("other", &ip(3))).unwrap();
    std::fs::write(cfg.path().join("client.yaml"), client_sidecar(&ip(1))).unwrap();
    let mastd = mastd::app::start(common::mastd_args(cfg.path(), state.path()))
        .await
        .expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = common::Ca::new();
    for sa in ["client", "echo"] {
        ca.issue(&certs.path().join(sa), &common::spiffe(sa));
    }
    common::start_app(addr(net, 2, 8080), "echo").await;
    let start = |pod: &'static str, host: u8| {
        let mut c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[&format!("app={pod}")],
            Some(&certs.path().join(pod)),
        );
        c.delta_xds = true;
        common::start_proxy(c)
    };
    let client = start("client", 1).await;
    let _echo = start("echo", 2).await;
    let front = addr(net, 1, 9080);
    let host = "echo.default.svc.cluster.local:9080";
    let g = common::get_until(front, host, "/hello", 200).await;
    assert_eq!(g.json()["app"], "echo");
    assert!(
        g.json()["xfcc"]
            .as_str()
            .is_some_and(|x| x.contains(&common::spiffe("client"))),
        "{:?}",
        g.body
    );
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // mastd sees delta streams
    let adsz = mast_test::http::get(mastd.monitoring_addr, "/debug/adsz")
        .unwrap()
        .json();
    let clients = adsz["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{adsz}");
    assert!(clients.iter().all(|c| c["delta"] == true), "{adsz}");

    // a VirtualService added: the changed route arrives
    std::fs::write(
        cfg.path().join("vs.yaml"),
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
  - match:
    - headers:
        x-teapot: {exact: \"yes\"}
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}
    route:
    - destination: {host: echo.default.svc.cluster.local}
  - route:
    - destination: {host: echo.default.svc.cluster.local}
",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let g = common::request(front, host, "/", &[("x-teapot", "yes")])
            .await
            .unwrap();
        if g.status == 418 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the VirtualService never arrived: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(common::get(front, host, "/").await.unwrap().status, 200);

    // a ServiceEntry removed: its cluster goes, echo's stays
    let other = "outbound|9080||other.default.svc.cluster.local";
    let echo = "outbound|9080||echo.default.svc.cluster.local";
    let dump = mast_test::http::get(client.admin_addr, "/config_dump")
        .unwrap()
        .json();
    assert!(
        clusters_of(&dump).iter().any(|c| c == other),
        "{:?}",
        clusters_of(&dump)
    );
    std::fs::remove_file(cfg.path().join("other.yaml")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let dump = mast_test::http::get(client.admin_addr, "/config_dump")
            .unwrap()
            .json();
        let names = clusters_of(&dump);
        if !names.iter().any(|c| c == other) {
            assert!(names.iter().any(|c| c == echo), "{names:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{other} never removed: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client.model().cluster_named(other).is_none());
    assert_eq!(common::get(front, host, "/").await.unwrap().status, 200);
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());
}
