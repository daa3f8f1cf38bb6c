//! A test ADS client against a real mastd: versions, ACKs and a NACK's error show in
//! /debug/syncz and /metrics; a config change is pushed; delta xDS answers too.

use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status;
use mast_test::http;
use mast_xds::types;
use mastd::args::Args;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const SE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ext\n  namespace: default\nspec:\n  hosts: [ext.example.com]\n  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n  resolution: DNS\n";

fn args(dir: &std::path::Path) -> Args {
    use clap::Parser;
    let mut a = Args::try_parse_from(["mastd"]).unwrap();
    a.config_dir = Some(dir.to_path_buf());
    a.grpc_addr = "127.0.0.1:0".parse().unwrap();
    a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
    a.secure_grpc_addr = Some("127.0.0.1:0".parse().unwrap());
    a.state_dir = Some(dir.join("state"));
    a.file_debounce = Duration::from_millis(50);
    a.debounce_after = Duration::from_millis(20);
    a
}

fn node() -> envoy_types::pb::envoy::config::core::v3::Node {
    let md = serde_json::json!({"NAMESPACE": "default", "ISTIO_VERSION": "1.5.10", "LABELS": {"app": "test"}});
    mast_xds::Proxy::parse(
        "sidecar~10.1.1.1~test-1.default~default.svc.cluster.local",
        md.as_object().unwrap().clone(),
    )
    .unwrap()
    .to_node()
}

fn request(type_url: &str, nonce: &str, version: &str, error: Option<&str>) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(node()),
        type_url: type_url.to_string(),
        response_nonce: nonce.to_string(),
        version_info: version.to_string(),
        error_detail: error.map(|m| Status {
            code: 3,
            message: m.to_string(),
            details: vec![],
        }),
        ..Default::default()
    }
}

async fn next(stream: &mut tonic::Streaming<DiscoveryResponse>) -> DiscoveryResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a response in time")
        .unwrap()
        .unwrap()
}

/// GETs `path` until `pick` finds what it wants in the JSON (5 s at most).
async fn poll_json<T>(
    addr: std::net::SocketAddr,
    path: &'static str,
    pick: impl Fn(&serde_json::Value) -> Option<T>,
) -> Option<T> {
    for _ in 0..100 {
        let v = tokio::task::spawn_blocking(move || http::get(addr, path).ok().map(|r| r.json()))
            .await
            .unwrap();
        if let Some(t) = v.as_ref().and_then(&pick) {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_nacks_and_pushes_are_tracked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("se.yaml"), SE).unwrap();
    let running = mastd::app::start(args(dir.path())).await.unwrap();
    let mut client =
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", running.grpc_addr))
            .await
            .unwrap();
    let (tx, rx) = mpsc::channel(16);
    let mut stream = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();

    tx.send(request(types::CLUSTER, "", "", None))
        .await
        .unwrap();
    let cds = next(&mut stream).await;
    assert_eq!(cds.type_url, types::CLUSTER);
    assert!(!cds.nonce.is_empty() && !cds.version_info.is_empty());
    tx.send(request(types::CLUSTER, &cds.nonce, &cds.version_info, None))
        .await
        .unwrap();

    tx.send(request(types::LISTENER, "", "", None))
        .await
        .unwrap();
    let lds = next(&mut stream).await;
    tx.send(request(
        types::LISTENER,
        &lds.nonce,
        "",
        Some("listener 0.0.0.0_80: bad filter"),
    ))
    .await
    .unwrap();

    let mon = running.monitoring_addr;
    let want_nonce = cds.nonce.clone();
    let row = poll_json(mon, "/debug/syncz", |v| {
        let row = v.as_array()?.first()?.clone();
        (row["cluster_acked"] == want_nonce.as_str() && row["listener_error"].is_string())
            .then_some(row)
    })
    .await
    .expect("syncz shows the ACK and the NACK");
    assert_eq!(row["proxy"], "test-1.default");
    assert_eq!(row["istio_version"], "1.5.10");
    assert_eq!(row["cluster_version"], cds.version_info.as_str());
    assert_eq!(row["listener_sent"], lds.nonce.as_str());
    assert_eq!(row["listener_error"], "listener 0.0.0.0_80: bad filter");

    let metrics = tokio::task::spawn_blocking(move || http::get(mon, "/metrics").unwrap().body)
        .await
        .unwrap();
    assert!(
        metrics.contains("pilot_xds{version=\"1.5.10\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pilot_total_xds_rejects_total{type=\"lds\"} 1"),
        "{metrics}"
    );

    // a config change reaches the stream as a new CDS version
    std::fs::write(
        dir.path().join("se.yaml"),
        SE.replace("ext.example.com", "other.example.com"),
    )
    .unwrap();
    let pushed = loop {
        let r = next(&mut stream).await;
        if r.type_url == types::CLUSTER {
            break r;
        }
    };
    assert_ne!(pushed.version_info, cds.version_info);

    // an invalid change is refused and shows in configz; nothing is pushed
    std::fs::write(
        dir.path().join("se.yaml"),
        SE.replace("number: 80", "number: 0"),
    )
    .unwrap();
    let configz = poll_json(mon, "/debug/configz", |v| {
        (!v["invalid"].as_array()?.is_empty()).then(|| v.clone())
    })
    .await
    .expect("configz lists the invalid object");
    let invalid = &configz["invalid"][0];
    assert!(
        invalid["origin"].as_str().unwrap().contains("se.yaml:"),
        "{invalid}"
    );
    assert_eq!(invalid["serving_previous"], true);
    let metrics = tokio::task::spawn_blocking(move || http::get(mon, "/metrics").unwrap().body)
        .await
        .unwrap();
    assert!(
        metrics.contains("mast_config_invalid_objects 1"),
        "{metrics}"
    );
    assert_eq!(
        configz["objects"].as_array().unwrap().len(),
        1,
        "the last valid version keeps serving"
    );
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_streams_answer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("se.yaml"), SE).unwrap();
    let running = mastd::app::start(args(dir.path())).await.unwrap();
    let mut client =
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", running.grpc_addr))
            .await
            .unwrap();
    let (tx, rx) = mpsc::channel(16);
    let mut stream = client
        .delta_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(DeltaDiscoveryRequest {
        node: Some(node()),
        type_url: types::CLUSTER.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(r.type_url, types::CLUSTER);
    assert!(!r.nonce.is_empty());
    let v = tokio::task::spawn_blocking(move || {
        http::get(running.monitoring_addr, "/debug/adsz")
            .unwrap()
            .json()
    })
    .await
    .unwrap();
    assert_eq!(v["totalClients"], 1);
    assert_eq!(v["clients"][0]["delta"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_node_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = mastd::app::start(args(dir.path())).await.unwrap();
    let mut client =
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", running.grpc_addr))
            .await
            .unwrap();
    let (tx, rx) = mpsc::channel(4);
    let mut stream = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut bad = request(types::CLUSTER, "", "", None);
    bad.node.as_mut().unwrap().id = "not-a-node-id".into();
    tx.send(bad).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("not-a-node-id"), "{}", err.message());
}

const SE_WE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: app\n  namespace: default\nspec:\n  hosts: [app.default.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n  workloadSelector:\n    labels:\n      app: app\n";

const WE: &str = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: app-1\n  namespace: default\nspec:\n  address: 10.9.0.1\n  labels:\n    app: app\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_only_changes_push_eds_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("se.yaml"), SE_WE).unwrap();
    std::fs::write(dir.path().join("we.yaml"), WE).unwrap();
    let running = mastd::app::start(args(dir.path())).await.unwrap();
    let mut client =
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", running.grpc_addr))
            .await
            .unwrap();
    let (tx, rx) = mpsc::channel(16);
    let mut stream = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(request(types::CLUSTER, "", "", None))
        .await
        .unwrap();
    let cds = next(&mut stream).await;
    tx.send(request(types::CLUSTER, &cds.nonce, &cds.version_info, None))
        .await
        .unwrap();
    let mut eds_req = request(types::ENDPOINT, "", "", None);
    eds_req.resource_names = vec!["outbound|80||app.default.svc.cluster.local".into()];
    tx.send(eds_req.clone()).await.unwrap();
    let eds = next(&mut stream).await;
    assert_eq!(eds.type_url, types::ENDPOINT);
    let mut ack = eds_req.clone();
    ack.response_nonce = eds.nonce.clone();
    ack.version_info = eds.version_info.clone();
    tx.send(ack).await.unwrap();

    // the workload moves: only EDS is pushed, with the new address
    std::fs::write(
        dir.path().join("we.yaml"),
        WE.replace("10.9.0.1", "10.9.0.2"),
    )
    .unwrap();
    let pushed = next(&mut stream).await;
    assert_eq!(
        pushed.type_url,
        types::ENDPOINT,
        "an endpoint-only change pushes EDS first and alone"
    );
    let body = String::from_utf8_lossy(&pushed.resources[0].value).into_owned();
    assert!(body.contains("10.9.0.2"), "new address in the assignment");
    let quiet = tokio::time::timeout(Duration::from_millis(600), stream.message()).await;
    assert!(
        quiet.is_err(),
        "no CDS/LDS follows an endpoint-only change: {quiet:?}"
    );

    // a change to the service itself is a full push
    std::fs::write(
        dir.path().join("se.yaml"),
        SE_WE.replace("number: 80", "number: 81"),
    )
    .unwrap();
    let pushed = next(&mut stream).await;
    assert_eq!(pushed.type_url, types::CLUSTER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_config_sources_add_directories() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("se.yaml"), SE).unwrap();
    let mesh = dir.path().join("mesh.yaml");
    std::fs::write(
        &mesh,
        format!(
            "trustDomain: example.org\nconfigSources:\n- address: fs://{}\n",
            conf.display()
        ),
    )
    .unwrap();
    let mut a = args(&dir.path().join("empty"));
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    a.mesh_config = Some(mesh);
    let running = mastd::app::start(a).await.unwrap();
    let objects = poll_json(running.monitoring_addr, "/debug/configz", |v| {
        let o = v["objects"].as_array()?;
        (!o.is_empty()).then(|| o.clone())
    })
    .await
    .expect("the configSources directory is read");
    assert_eq!(objects[0]["name"], "ext");
}
