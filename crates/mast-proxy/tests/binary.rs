//! The `mast-proxy` binary as a child process: flags, readiness, and graceful drain on
//! SIGTERM (no new connections, the in-flight request finishes, exit 0).

mod common;

use std::time::Duration;

use common::ads::FakeAds;
use common::protos::{self, named};
use common::{Ca, addr, get, get_until, spiffe};
use mast_test::ports::free_addr;
use mast_test::process::Proc;
use mast_xds::types::{CLUSTER, ENDPOINT, LISTENER, ROUTE};

const OUT: &str = "outbound|9080||echo.default.svc.cluster.local";
const IN: &str = "inbound|9080||";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let net = common::loopback_net();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    ca.issue(&dir.path().join("client"), &spiffe("client"));
    ca.issue(&dir.path().join("echo"), &spiffe("echo"));
    common::start_app(addr(net, 3, 8080), "echo").await;
    let ads = FakeAds::default();
    ads.set(
        "client",
        LISTENER,
        vec![named(
            "out",
            protos::outbound_http_listener(addr(net, 1, 9080), "9080"),
        )],
    );
    ads.set(
        "client",
        ROUTE,
        vec![named(
            "9080",
            protos::route_config("9080", &["echo"], vec![protos::route_to(OUT)]),
        )],
    );
    ads.set(
        "client",
        CLUSTER,
        vec![named(OUT, protos::eds_cluster(OUT, &[spiffe("echo")]))],
    );
    ads.set(
        "client",
        ENDPOINT,
        vec![named(
            OUT,
            protos::assignment(OUT, &[(addr(net, 2, 9080), true)]),
        )],
    );
    ads.set(
        "echo",
        LISTENER,
        vec![named(
            "in",
            protos::inbound_strict_listener(addr(net, 2, 9080), IN, false),
        )],
    );
    ads.set(
        "echo",
        CLUSTER,
        vec![named(IN, protos::static_cluster(IN, addr(net, 3, 8080)))],
    );
    let at = ads.start().await;
    let server = common::start_proxy(common::proxy_config(
        at,
        "echo",
        "echo",
        addr(net, 2, 0).ip(),
        &[],
        Some(&dir.path().join("echo")),
    ))
    .await;

    let (admin, ready) = (free_addr(), free_addr());
    let args: Vec<String> = [
        "--podName=client".to_string(),
        "--podNamespace=default".into(),
        format!("--instanceIp={}", addr(net, 1, 0).ip()),
        "--serviceAccount=client".into(),
        "--labels=app=client".into(),
        "--interceptionMode=NONE".into(),
        format!("--discoveryAddress={at}"),
        format!("--adminAddr={admin}"),
        format!("--statusAddr={}", free_addr()),
        format!("--readyAddr={ready}"),
        format!("--prometheusAddr={}", free_addr()),
        format!("--certDir={}", dir.path().join("client").display()),
        "--drainDuration=5s".into(),
    ]
    .into();
    let mut proc = Proc::spawn(
        "mast-proxy",
        std::path::Path::new(env!("CARGO_BIN_EXE_mast-proxy")),
        &args,
        &[("RUST_LOG", "info")],
    )
    .unwrap();
    let front = addr(net, 1, 9080);
    get_until(front, "echo", "/", 200).await;
    let r =
        tokio::task::spawn_blocking(move || mast_xds::http::get(ready, "/healthz/ready").unwrap())
            .await
            .unwrap();
    assert_eq!(r.status, 200);

    let in_flight = tokio::spawn(async move { get(front, "echo", "/slow").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = proc.id();
    let stopper = tokio::task::spawn_blocking(move || {
        let status = proc.terminate();
        (status, proc.output())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        get(front, "echo", "/").await.is_err(),
        "no new connections while draining"
    );
    let slow = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(slow.status, 200);
    let (status, output) = stopper.await.unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "pid {pid} exited with {status:?}:\n{output}"
    );
    assert!(
        output.contains("SIGTERM") && output.contains("drained"),
        "{output}"
    );
    drop(server);
}
