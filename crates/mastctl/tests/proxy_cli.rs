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

/// `mastctl proxy-config secret`: a real mast-proxy gets its certificate from mastd's CA with a
/// token minted by `mastctl workload token`, and the table shows it.
#[test]
fn secret_of_a_proxy_with_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ext.yaml"), CONFIG).unwrap();
    let state = dir.path().join("state");
    let (grpc, mon, secure) = (free_addr(), free_addr(), free_addr());
    let _mastd = Proc::spawn(
        "mastd-secret",
        &bin("mastd", "mastd"),
        &[
            "--configDir".into(),
            dir.path().display().to_string(),
            "--grpcAddr".into(),
            grpc.to_string(),
            "--monitoringAddr".into(),
            mon.to_string(),
            "--secureGrpcAddr".into(),
            secure.to_string(),
            "--stateDir".into(),
            state.display().to_string(),
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
    let sd = state.display().to_string();
    let (code, token, err) = mastctl(&[
        "workload",
        "token",
        "--stateDir",
        &sd,
        "--namespace",
        "default",
        "--service-account",
        "web",
    ]);
    assert_eq!(code, 0, "{err}");
    let admin = free_addr();
    let port = |_: ()| free_addr().to_string();
    let _proxy = Proc::spawn(
        "proxy-secret",
        &bin("mast-proxy", "mast-proxy"),
        &[
            "--podName=web-1".into(),
            "--podNamespace=default".into(),
            "--serviceAccount=web".into(),
            "--interceptionMode=NONE".into(),
            format!("--discoveryAddress={grpc}"),
            format!("--adminAddr={admin}"),
            format!("--statusAddr={}", port(())),
            format!("--readyAddr={}", port(())),
            format!("--prometheusAddr={}", port(())),
            format!("--caAddress={secure}"),
            format!("--caRootCert={}", state.join("ca/root-cert.pem").display()),
        ],
        &[("MAST_TOKEN", token.trim())],
    )
    .unwrap();
    let a = admin.to_string();
    let out = mast_test::wait_for(Duration::from_secs(20), || {
        let (code, out, _) = mastctl(&["proxy-config", "secret", "web-1.default", "--admin", &a]);
        (code == 0 && out.lines().count() >= 3).then_some(out)
    })
    .expect("the proxy shows its certificate");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("RESOURCE NAME")
            && lines[0].contains("SERIAL NUMBER")
            && lines[0].ends_with("NOT BEFORE"),
        "{out}"
    );
    let default: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &default[..5],
        ["default", "Cert", "Chain", "ACTIVE", "true"],
        "{out}"
    );
    assert!(
        lines[2].starts_with("ROOTCA") && lines[2].contains("true"),
        "{out}"
    );
    let (code, out, err) = mastctl(&[
        "proxy-config",
        "secret",
        "web-1.default",
        "--admin",
        &a,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["secrets"][0]["name"], "default");
    assert_eq!(
        v["certs"]["certificates"][0]["cert_chain"][0]["subject_alt_names"][0]["uri"],
        "spiffe://cluster.local/ns/default/sa/web"
    );
    // an unreachable admin port is a clear error
    let nobody = free_addr().to_string();
    let (code, _, err) = mastctl(&["proxy-config", "secret", "x.default", "--admin", &nobody]);
    assert_ne!(code, 0);
    assert!(err.contains("admin port"), "{err}");
}
