//! Transparent capture end to end: two workloads in their own network namespaces, joined by a
//! bridge in a third where mastd runs; in each, `mast-proxy istio-iptables` lays out Istio's
//! capture rules and a mast-proxy runs as UID 1337 in interception mode REDIRECT. The apps know
//! nothing of the mesh: they connect to the server's own address and the proxies take the
//! connections from `virtualOutbound` (15001) and `virtualInbound` (15006) by their original
//! destination (`SO_ORIGINAL_DST`).
//!
//! Checked: HTTP and TCP service ports go over mTLS with the peers' SPIFFE identities; a port
//! no service declares (PERMISSIVE at port level) passes through both proxies
//! (`PassthroughCluster`, then `InboundPassthroughCluster` from 127.0.0.6); a workload outside
//! the mesh is reached through `PassthroughCluster`; a plaintext client is refused by the
//! server's STRICT inbound capture; the rules in the kernel are the generated ones.
//!
//! Needs root, `ip`, `iptables-restore` and `setpriv` (CI installs iptables); elsewhere the
//! test says why and does nothing.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use mast_test::netns::{self, Hub, Netns};
use mast_test::process::Proc;
use mast_test::wait_for;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(server: Ipv4Addr, client: Ipv4Addr) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: server
  namespace: default
spec:
  hosts: [server.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  - {{number: 9000, name: tcp-echo, protocol: TCP}}
  - {{number: 9300, name: web}}
  - {{number: 9400, name: chat}}
  workloadSelector:
    labels: {{app: server}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: server
  namespace: default
spec:
  address: {server}
  labels: {{app: server, version: v1}}
  serviceAccount: server
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: client
  namespace: default
spec:
  address: {client}
  labels: {{app: client, version: v1}}
  serviceAccount: client
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {{mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: server
  namespace: default
spec:
  selector:
    matchLabels: {{app: server}}
  mtls: {{mode: STRICT}}
  portLevelMtls:
    7777: {{mode: PERMISSIVE}}
"
    )
}

/// A TCP server that first says who connected (`peer=IP`), then echoes a line.
async fn peer_echo(sock: std::net::TcpListener) {
    sock.set_nonblocking(true).unwrap();
    let sock = tokio::net::TcpListener::from_std(sock).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = sock.accept().await {
            tokio::spawn(async move {
                let _ = s
                    .write_all(format!("peer={}\n", peer.ip()).as_bytes())
                    .await;
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf).await {
                    let _ = s.write_all(&buf[..n]).await;
                }
            });
        }
    });
}

/// Connects from inside `ns` to `to`, sends `ping`, returns what came back.
fn tcp_round_trip(ns: &Netns, to: SocketAddr) -> std::io::Result<String> {
    let mut s = ns.connect(to)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"ping")?;
    let mut out = Vec::new();
    let mut buf = [0u8; 128];
    while !String::from_utf8_lossy(&out).ends_with("ping") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn readable(dir: &Path) {
    for e in walk(dir) {
        let mode = if e.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn proxy(
    ns: &Netns,
    bin: &Path,
    pod: &str,
    ip: Ipv4Addr,
    discovery: SocketAddr,
    certs: &Path,
) -> Proc {
    let args = vec![
        format!("--podName={pod}"),
        "--podNamespace=default".into(),
        format!("--instanceIp={ip}"),
        format!("--serviceAccount={pod}"),
        format!("--labels=app={pod},version=v1"),
        format!("--workloadName={pod}"),
        "--interceptionMode=REDIRECT".into(),
        format!("--discoveryAddress={discovery}"),
        format!("--certDir={}", certs.display()),
        "--readyAddr=0.0.0.0:15021".into(),
        "--prometheusAddr=0.0.0.0:15090".into(),
        "--drainDuration=1s".into(),
        "--xdsRetryInitial=200ms".into(),
        "--xdsRetryMax=2s".into(),
    ];
    let (program, args) = ns.exec(bin, &args, true);
    let log = std::env::var("MAST_TEST_LOG").unwrap_or_else(|_| "info".into());
    Proc::spawn(
        &format!("proxy-{pod}"),
        &program,
        &args,
        &[("RUST_LOG", &log)],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_traffic_flows_through_both_proxies() {
    if let Err(why) = netns::available() {
        eprintln!("capture test skipped: {why}");
        return;
    }
    let mastd_bin = mast_test::bins::bin("mastd", "mastd");
    let proxy_bin = mast_test::bins::bin("mast-proxy", "mast-proxy");
    let prefix = format!("mc{}", std::process::id() % 100_000);
    let hub = Hub::new(&prefix).unwrap();
    let client_ns = hub.attach("client", 2).unwrap();
    let server_ns = hub.attach("server", 3).unwrap();
    let outside_ns = hub.attach("outside", 4).unwrap();
    let (client_ip, server_ip) = (hub.ip(2), hub.ip(3));

    // mastd in the hub
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("mesh.yaml"), config(server_ip, client_ip)).unwrap();
    let discovery = SocketAddr::from((hub.ip(1), 15010));
    let monitoring = SocketAddr::from((hub.ip(1), 15014));
    let mastd_args = vec![
        format!("--configDir={}", conf.display()),
        format!("--grpcAddr={discovery}"),
        format!("--secureGrpcAddr={}", SocketAddr::from((hub.ip(1), 15012))),
        format!("--monitoringAddr={monitoring}"),
        format!("--stateDir={}", dir.path().join("state").display()),
    ];
    let (program, args) = hub.ns.exec(&mastd_bin, &mastd_args, false);
    let _mastd = Proc::spawn("mastd", &program, &args, &[("RUST_LOG", "info")]).unwrap();

    // certificates the proxies (UID 1337) can read
    let ca = common::Ca::new();
    for pod in ["client", "server"] {
        ca.issue(&dir.path().join("certs").join(pod), &common::spiffe(pod));
    }
    readable(dir.path());

    // the server's apps, on its namespace's sockets
    common::start_app_on(
        {
            let s = server_ns.bind("0.0.0.0:9080".parse().unwrap()).unwrap();
            s.set_nonblocking(true).unwrap();
            tokio::net::TcpListener::from_std(s).unwrap()
        },
        "server",
    );
    peer_echo(server_ns.bind("0.0.0.0:9000".parse().unwrap()).unwrap()).await;
    peer_echo(server_ns.bind("0.0.0.0:7777".parse().unwrap()).unwrap()).await;
    // ports without a protocol: sniffed (HTTP on one, raw TCP on the other)
    common::start_app_on(
        {
            let s = server_ns.bind("0.0.0.0:9300".parse().unwrap()).unwrap();
            s.set_nonblocking(true).unwrap();
            tokio::net::TcpListener::from_std(s).unwrap()
        },
        "sniffed",
    );
    peer_echo(server_ns.bind("0.0.0.0:9400".parse().unwrap()).unwrap()).await;
    peer_echo(outside_ns.bind("0.0.0.0:7777".parse().unwrap()).unwrap()).await;

    // capture rules, as the init container lays them out
    for ns in [&client_ns, &server_ns] {
        let mut flags = vec!["istio-iptables"];
        flags.extend_from_slice(netns::INJECTED_CAPTURE_FLAGS);
        let printed = ns.output(&proxy_bin.display().to_string(), &flags).unwrap();
        let saved = ns.output("iptables-save", &["-t", "nat"]).unwrap();
        for line in [
            "-A PREROUTING -p tcp -j ISTIO_INBOUND",
            "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
            "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
            "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
            "-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN",
            "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN",
            "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        ] {
            assert!(
                saved.contains(line),
                "{line:?} not in\n{saved}\nprinted:\n{printed}"
            );
        }
    }

    let client_proxy = proxy(
        &client_ns,
        &proxy_bin,
        "client",
        client_ip,
        discovery,
        &dir.path().join("certs/client"),
    );
    let server_proxy = proxy(
        &server_ns,
        &proxy_bin,
        "server",
        server_ip,
        discovery,
        &dir.path().join("certs/server"),
    );
    let procs = [&client_proxy, &server_proxy];
    for ip in [client_ip, server_ip] {
        let ready = wait_for(Duration::from_secs(60), || {
            let s = hub.ns.connect(SocketAddr::from((ip, 15021))).ok()?;
            let r = mast_test::http::get_over(s, "ready", "/healthz/ready").ok()?;
            (r.status == 200).then_some(())
        });
        assert!(
            ready.is_some(),
            "proxy on {ip} not ready\n{}",
            procs.map(|p| p.output()).join("\n")
        );
    }

    // HTTP to the service port: captured on both sides, mTLS between the proxies
    let host = "server.default.svc.cluster.local:9080";
    let got = wait_for(Duration::from_secs(20), || {
        let s = client_ns
            .connect(SocketAddr::from((server_ip, 9080)))
            .ok()?;
        let r = mast_test::http::get_over(s, host, "/hello").ok()?;
        (r.status == 200).then_some(r)
    })
    .unwrap_or_else(|| {
        panic!(
            "no 200 through the captured path\n{}",
            procs.map(|p| p.output()).join("\n")
        )
    });
    let body = got.json();
    assert_eq!(body["app"], "server");
    assert_eq!(body["path"], "/hello");
    let xfcc = body["xfcc"].as_str().unwrap();
    assert!(
        xfcc.contains(&format!("URI={}", common::spiffe("client")))
            && xfcc.contains(&format!("By={}", common::spiffe("server"))),
        "x-forwarded-client-cert: {xfcc}"
    );

    // TCP service port: the server app sees the inbound proxy (loopback), not the client
    let echoed = tcp_round_trip(&client_ns, SocketAddr::from((server_ip, 9000))).unwrap();
    assert_eq!(echoed, "peer=127.0.0.1\nping", "TCP service port");

    if std::env::var_os("MAST_CAPTURE_DUMP").is_some() {
        for ns in [&client_ns, &server_ns] {
            let s = ns.connect("127.0.0.1:15000".parse().unwrap()).unwrap();
            let r = mast_test::http::get_over(s, "a", "/config_dump").unwrap();
            std::fs::write(format!("/tmp/dump-{}.json", ns.name()), r.body).unwrap();
        }
    }
    // ports without a protocol: HTTP is detected (and gets the HTTP treatment: mTLS identity
    // in x-forwarded-client-cert), a client that speaks first in another protocol is TCP
    let got = wait_for(Duration::from_secs(10), || {
        let s = client_ns
            .connect(SocketAddr::from((server_ip, 9300)))
            .ok()?;
        let r = mast_test::http::get_over(s, "server.default.svc.cluster.local:9300", "/sniffed")
            .ok()?;
        (r.status == 200).then_some(r)
    })
    .expect("HTTP on a sniffed port");
    let body = got.json();
    assert_eq!(body["app"], "sniffed");
    assert!(
        body["xfcc"]
            .as_str()
            .is_some_and(|x| x.contains(&common::spiffe("client"))),
        "{body}"
    );
    let echoed = tcp_round_trip(&client_ns, SocketAddr::from((server_ip, 9400))).unwrap();
    assert_eq!(echoed, "peer=127.0.0.1\nping", "TCP on a sniffed port");

    // an undeclared port: PassthroughCluster, then InboundPassthroughCluster from 127.0.0.6
    let echoed = tcp_round_trip(&client_ns, SocketAddr::from((server_ip, 7777))).unwrap();
    assert_eq!(
        echoed, "peer=127.0.0.6\nping",
        "passthrough to a meshed workload"
    );
    let echoed = tcp_round_trip(&outside_ns, SocketAddr::from((server_ip, 7777))).unwrap();
    assert_eq!(
        echoed, "peer=127.0.0.6\nping",
        "plaintext to a PERMISSIVE port"
    );
    // outside the mesh: PassthroughCluster connects from the client's own address
    let echoed = tcp_round_trip(&client_ns, SocketAddr::from((hub.ip(4), 7777))).unwrap();
    assert_eq!(
        echoed,
        format!("peer={client_ip}\nping"),
        "passthrough out of the mesh"
    );

    // plaintext from outside the mesh: captured by the server, refused under STRICT
    let plain = hub
        .ns
        .connect(SocketAddr::from((server_ip, 9080)))
        .ok()
        .and_then(|s| mast_test::http::get_over(s, host, "/hello").ok());
    assert!(
        plain.as_ref().is_none_or(|r| r.status != 200),
        "plaintext got through: {plain:?}"
    );

    // the server proxy's metrics: mTLS with the client's identity, on both protocols
    let s = hub
        .ns
        .connect(SocketAddr::from((server_ip, 15090)))
        .unwrap();
    let metrics = mast_test::http::get_over(s, "metrics", "/stats/prometheus")
        .unwrap()
        .body;
    let requests = metrics
        .lines()
        .find(|l| l.starts_with("istio_requests_total{") && l.contains("reporter=\"destination\""))
        .unwrap_or_else(|| panic!("no inbound request series:\n{metrics}"));
    for label in [
        "connection_security_policy=\"mutual_tls\"",
        "source_principal=\"spiffe://cluster.local/ns/default/sa/client\"",
        "destination_service=\"server.default.svc.cluster.local\"",
        "response_code=\"200\"",
    ] {
        assert!(requests.contains(label), "{label} not in {requests}");
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("istio_tcp_connections_opened_total{")
                && l.contains("connection_security_policy=\"mutual_tls\"")),
        "no mTLS TCP series:\n{metrics}"
    );
    drop(client_proxy);
    drop(server_proxy);
}
