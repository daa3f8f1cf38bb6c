//! `mastctl proxy-status` and `proxy-config` against a real mastd with a connected proxy.

use std::process::Command;
use std::time::Duration;

use mast_test::bins::bin;
use mast_test::ports::free_addr;
use mast_test::process::Proc;

const CONFIG: &str = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
  namespace: default
spec:
  hosts: [ext.example.com]
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: DNS
";

fn mastctl(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mastctl"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn status_and_config_of_a_connected_proxy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ext.yaml"), CONFIG).unwrap();
    let (grpc, mon) = (free_addr(), free_addr());
    let mut mastd = Proc::spawn(
        "mastd",
        &bin("mastd", "mastd"),
        &[
            "--configDir".into(),
            dir.path().display().to_string(),
            "--grpcAddr".into(),
            grpc.to_string(),
            "--monitoringAddr".into(),
            mon.to_string(),
            "--secureGrpcAddr".into(),
            "127.0.0.1:0".into(),
            "--stateDir".into(),
            dir.path().join("state").display().to_string(),
        ],
        &[],
    )
    .unwrap();
    mast_test::wait_for(Duration::from_secs(20), || {
        mast_test::http::get(mon, "/ready")
            .ok()
            .filter(|r| r.status == 200)
    })
    .expect("mastd ready");
    assert!(mastd.running());

    // no proxies yet: a header only
    let m = mon.to_string();
    let (code, out, err) = mastctl(&["proxy-status", "--mastd", &m]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("NAME"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");

    // a proxy connects with a small ADS client of its own (a Python-free, dependency-free
    // check of the CLI; the real proxies are tested elsewhere)
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _client = rt.block_on(async {
        use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
        use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
        let md = serde_json::json!({"NAMESPACE": "default", "ISTIO_VERSION": "1.5.10"});
        let node = mast_xds::Proxy::parse("sidecar~10.0.0.9~web-1.default~default.svc.cluster.local", md.as_object().unwrap().clone())
            .unwrap()
            .to_node();
        let mut c = AggregatedDiscoveryServiceClient::connect(format!("http://{grpc}")).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let mut stream = c.stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
        tx.send(DiscoveryRequest { node: Some(node.clone()), type_url: mast_xds::types::CLUSTER.into(), ..Default::default() })
            .await
            .unwrap();
        let r = stream.message().await.unwrap().unwrap();
        tx.send(DiscoveryRequest {
            node: Some(node),
            type_url: r.type_url.clone(),
            response_nonce: r.nonce.clone(),
            version_info: r.version_info.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        (tx, stream)
    });
    let row = mast_test::wait_for(Duration::from_secs(10), || {
        let (_, out, _) = mastctl(&["proxy-status", "--mastd", &m]);
        out.lines()
            .find(|l| l.starts_with("web-1.default") && l.contains("SYNCED"))
            .map(str::to_string)
    })
    .expect("the proxy shows as SYNCED");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], "web-1.default");
    assert_eq!(cells[1], "Kubernetes");
    assert_eq!(cells[2], "SYNCED", "CDS: {row}");
    assert_eq!(cells[3], "NOT", "LDS not sent: {row}");
    assert!(row.ends_with("1.5.10"), "{row}");

    let (code, out, err) = mastctl(&["proxy-status", "--mastd", &m, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["proxy"], "web-1.default");

    let (code, out, err) = mastctl(&["proxy-config", "cluster", "web-1.default", "--mastd", &m]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("SERVICE FQDN"), "{out}");
    let (code, _, err) = mastctl(&["proxy-config", "cluster", "nobody.default", "--mastd", &m]);
    assert_ne!(code, 0);
    assert!(err.contains("not connected"), "{err}");
}

#[test]
fn an_unreachable_mastd_is_a_clear_error() {
    let addr = free_addr().to_string();
    let (code, _, err) = mastctl(&["proxy-status", "--mastd", &addr]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach mastd"), "{err}");
}
