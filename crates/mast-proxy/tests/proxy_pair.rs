//! Two proxies configured by a test ADS server with the protos istiod sends to sidecars in
//! interception mode NONE: client → proxy (explicit outbound listener) → mTLS → proxy
//! (explicit inbound listener, STRICT) → app. Covers HTTP and TCP with half-close, SPIFFE
//! identities, Envoy's failure codes, NACKs that keep the old config, serving while the
//! control plane is away, admin endpoints and drain.

mod common;

use std::time::Duration;

use common::ads::FakeAds;
use common::protos::{self, named};
use common::{Ca, addr, get, get_until, spiffe};
use mast_xds::types::{CLUSTER, ENDPOINT, LISTENER, ROUTE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OUT: &str = "outbound|9080||echo.default.svc.cluster.local";
const IN: &str = "inbound|9080||";

struct Pair {
    ads: FakeAds,
    net: [u8; 3],
    client: mast_proxy::Handle,
    server: mast_proxy::Handle,
    _dir: tempfile::TempDir,
}

/// Configures the client (`client` pod, explicit outbound 9080 to the echo service) and the
/// server (`echo` pod, explicit inbound 9080 under STRICT to the app) and starts them.
async fn pair() -> Pair {
    let net = common::loopback_net();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    ca.issue(&dir.path().join("client"), &spiffe("client"));
    ca.issue(&dir.path().join("echo"), &spiffe("echo"));
    common::start_app(addr(net, 3, 8080), "echo").await;
    let ads = FakeAds::default();
    let domains = [
        "echo.default.svc.cluster.local",
        "echo.default.svc.cluster.local:9080",
        "echo",
        "echo:9080",
    ];
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
            protos::route_config("9080", &domains, vec![protos::route_to(OUT)]),
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
    let cfg = |pod: &str, host: u8| {
        common::proxy_config(
            at,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[&format!("app={pod}")],
            Some(&dir.path().join(pod)),
        )
    };
    let client = common::start_proxy(cfg("client", 1)).await;
    let server = common::start_proxy(cfg("echo", 2)).await;
    Pair {
        ads,
        net,
        client,
        server,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_mtls_between_two_proxies() {
    let p = pair().await;
    let front = addr(p.net, 1, 9080);
    let got = get_until(front, "echo:9080", "/hello/./world?x=1", 200).await;
    let j = got.json();
    assert_eq!(j["app"], "echo");
    assert_eq!(
        j["path"], "/hello/world?x=1",
        "normalize_path on the outbound HCM"
    );
    assert_eq!(j["version"], "HTTP/1.1");
    let xfcc = j["xfcc"].as_str().unwrap();
    assert!(xfcc.contains(&format!("By={}", spiffe("echo"))), "{xfcc}");
    assert!(
        xfcc.contains(&format!("URI={}", spiffe("client"))),
        "the server proxy saw the client's identity: {xfcc}"
    );
    assert!(xfcc.contains("Hash="), "{xfcc}");
    assert_eq!(j["request_id"].as_str().unwrap().len(), 36);
    assert!(got.headers.contains_key("x-envoy-upstream-service-time"));
    assert_eq!(got.headers["server"], "envoy");

    // ACKs: every type the client got was accepted
    for t in [CLUSTER, ENDPOINT, LISTENER, ROUTE] {
        let replies = common::eventually(t, || {
            Some(p.ads.replies("client", t)).filter(|r| !r.is_empty())
        })
        .await;
        assert!(
            replies.iter().all(|r| r.error.is_none()),
            "{t}: {replies:?}"
        );
    }
    let eds = p.ads.replies("client", ENDPOINT);
    assert_eq!(
        eds.last().unwrap().names,
        vec![OUT.to_string()],
        "EDS subscribed by cluster name"
    );

    // Envoy's codes: no route → 404 NR; plaintext to a STRICT port is refused
    assert_eq!(
        get(front, "nope.example.com", "/").await.unwrap().status,
        404
    );
    assert!(
        get(addr(p.net, 2, 9080), "echo", "/").await.is_err(),
        "plaintext client refused by STRICT"
    );
    assert_eq!(get(front, "echo", "/status/503").await.unwrap().status, 503);

    // admin
    let admin = p.client.admin_addr;
    let dump = tokio::task::spawn_blocking(move || {
        mast_xds::http::get(admin, "/config_dump").unwrap().json()
    })
    .await
    .unwrap();
    let text = dump.to_string();
    assert!(
        text.contains(&format!("{}.{}.{}.1_9080", p.net[0], p.net[1], p.net[2]))
            && text.contains(OUT),
        "{text}"
    );
    let clusters =
        tokio::task::spawn_blocking(move || mast_xds::http::get(admin, "/clusters").unwrap().body)
            .await
            .unwrap();
    let ep = format!("{OUT}::{}::health_flags::healthy", addr(p.net, 2, 9080));
    assert!(clusters.contains(&ep), "{clusters}");
    let ready = p.server.ready_addr;
    let r =
        tokio::task::spawn_blocking(move || mast_xds::http::get(ready, "/healthz/ready").unwrap())
            .await
            .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "LIVE\n"));
    let prom = p.client.prometheus_addr;
    let m = tokio::task::spawn_blocking(move || {
        mast_xds::http::get(prom, "/stats/prometheus").unwrap().body
    })
    .await
    .unwrap();
    assert!(
        m.contains(&format!(
            "envoy_cluster_upstream_rq_total{{cluster_name=\"{OUT}\"}}"
        )),
        "{m}"
    );

    // drain: no new connections, the process would exit
    assert!(p.client.drain().await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        get(front, "echo", "/").await.is_err(),
        "drained proxy accepts no new connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_it_cannot_honour_is_nacked_and_the_old_one_keeps_serving() {
    let p = pair().await;
    let front = addr(p.net, 1, 9080);
    get_until(front, "echo", "/", 200).await;
    // a listener with a required filter mast-proxy does not have
    let mut bad = protos::outbound_http_listener(front, "9080");
    let wasm = envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter {
        name: "envoy.filters.http.wasm".into(),
        ..Default::default()
    };
    if let Some(envoy_types::pb::envoy::config::listener::v3::filter::ConfigType::TypedConfig(
        any,
    )) = &mut bad.filter_chains[0].filters[0].config_type
    {
        let mut h: envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager =
            prost::Message::decode(any.value.as_slice()).unwrap();
        h.http_filters.insert(0, wasm);
        *any = envoy_types::util::pack_any(h);
    }
    p.ads.set("client", LISTENER, vec![named("out", bad)]);
    p.ads.push();
    let nack = common::eventually("a NACK", || {
        p.ads
            .replies("client", LISTENER)
            .into_iter()
            .find(|r| r.error.is_some())
    })
    .await;
    let err = nack.error.unwrap();
    assert!(
        err.contains("envoy.filters.http.wasm") && err.contains("http_filters[0]"),
        "{err}"
    );
    assert_ne!(nack.version, "v1", "the NACK reports the previous version");
    assert_eq!(
        get(front, "echo", "/").await.unwrap().status,
        200,
        "old listener keeps serving"
    );
    assert!(p.client.nacks().contains_key("LDS"));

    // a cluster whose servers must be someone else: the handshake fails, 503 UF
    p.ads.set(
        "client",
        LISTENER,
        vec![named("out", protos::outbound_http_listener(front, "9080"))],
    );
    p.ads.set(
        "client",
        CLUSTER,
        vec![named(
            OUT,
            protos::eds_cluster(OUT, &[spiffe("someone-else")]),
        )],
    );
    p.ads.push();
    let got = get_until(front, "echo", "/", 503).await;
    assert!(
        got.body.contains("transport failure reason") && got.body.contains("someone-else"),
        "{}",
        got.body
    );

    // no endpoints: 503 UH
    p.ads.set(
        "client",
        CLUSTER,
        vec![named(OUT, protos::eds_cluster(OUT, &[spiffe("echo")]))],
    );
    p.ads.set(
        "client",
        ENDPOINT,
        vec![named(OUT, protos::assignment(OUT, &[]))],
    );
    p.ads.push();
    let mut body = String::new();
    for _ in 0..200 {
        body = get(front, "echo", "/").await.unwrap().body;
        if body == "no healthy upstream" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        body, "no healthy upstream",
        "503 UH once the endpoints are gone"
    );
    drop(p.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_serving_while_the_control_plane_is_away() {
    let p = pair().await;
    let front = addr(p.net, 1, 9080);
    get_until(front, "echo", "/", 200).await;
    let before = p.ads.log.lock().unwrap().len();
    p.ads.set_down(true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        get(front, "echo", "/").await.unwrap().status,
        200,
        "last config keeps serving"
    );
    p.ads.set_down(false);
    // the proxy comes back with the versions and names it has
    let resumed = common::eventually("a resumed stream", || {
        let log = p.ads.log.lock().unwrap();
        log[before..]
            .iter()
            .find(|s| s.pod == "client" && s.type_url == ENDPOINT && s.nonce.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(resumed.version, "v0");
    assert_eq!(resumed.names, vec![OUT.to_string()]);
    assert_eq!(get(front, "echo", "/").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_over_mtls_with_half_close() {
    let net = common::loopback_net();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    ca.issue(&dir.path().join("client"), &spiffe("client"));
    ca.issue(&dir.path().join("echo"), &spiffe("echo"));
    common::start_tcp_echo(addr(net, 3, 7000)).await;
    let (out, inb) = (
        "outbound|7070||echo.default.svc.cluster.local",
        "inbound|7070||",
    );
    let ads = FakeAds::default();
    ads.set(
        "client",
        LISTENER,
        vec![named(
            "out",
            protos::outbound_tcp_listener(addr(net, 1, 7070), out),
        )],
    );
    ads.set(
        "client",
        CLUSTER,
        vec![named(out, protos::eds_cluster(out, &[spiffe("echo")]))],
    );
    ads.set(
        "client",
        ENDPOINT,
        vec![named(
            out,
            protos::assignment(out, &[(addr(net, 2, 7070), true)]),
        )],
    );
    ads.set(
        "echo",
        LISTENER,
        vec![named(
            "in",
            protos::inbound_strict_listener(addr(net, 2, 7070), inb, true),
        )],
    );
    ads.set(
        "echo",
        CLUSTER,
        vec![named(inb, protos::static_cluster(inb, addr(net, 3, 7000)))],
    );
    let at = ads.start().await;
    let cfg = |pod: &str, host: u8| {
        common::proxy_config(
            at,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[],
            Some(&dir.path().join(pod)),
        )
    };
    let client = common::start_proxy(cfg("client", 1)).await;
    let server = common::start_proxy(cfg("echo", 2)).await;
    common::eventually("both proxies ready", || {
        (client.is_ready() && server.is_ready()).then_some(())
    })
    .await;
    let mut last = String::new();
    for _ in 0..100 {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr(net, 1, 7070)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        s.write_all(b"ping over mtls").await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut back)).await;
        last = String::from_utf8_lossy(&back).into_owned();
        if last == "ping over mtls" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("echo over two proxies returned {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_between_proxies_and_retries_to_another_host() {
    let p = pair().await;
    let front = addr(p.net, 1, 9080);
    get_until(front, "echo", "/", 200).await;
    // HTTP/2 on the mesh hop (ALPN istio-h2), the server proxy speaking the downstream's
    // version to the app; a second endpoint that refuses connections, retried elsewhere
    let dead = addr(p.net, 4, 9080);
    p.ads.set(
        "client",
        CLUSTER,
        vec![named(
            OUT,
            protos::with_protocol(protos::eds_cluster(OUT, &[spiffe("echo")]), true),
        )],
    );
    p.ads.set(
        "client",
        ENDPOINT,
        vec![named(
            OUT,
            protos::assignment(OUT, &[(addr(p.net, 2, 9080), true), (dead, true)]),
        )],
    );
    p.ads.set(
        "client",
        ROUTE,
        vec![named(
            "9080",
            protos::route_config("9080", &["echo"], vec![protos::route_with_retries(OUT)]),
        )],
    );
    p.ads.set(
        "echo",
        CLUSTER,
        vec![named(
            IN,
            protos::with_protocol(protos::static_cluster(IN, addr(p.net, 3, 8080)), false),
        )],
    );
    p.ads.push();
    common::eventually("HTTP/2 to the app", || {
        let h = tokio::runtime::Handle::current();
        std::thread::scope(|s| {
            s.spawn(|| h.block_on(get(front, "echo", "/v")))
                .join()
                .unwrap()
        })
        .ok()
        .filter(|g| g.json()["version"] == "HTTP/2.0")
    })
    .await;
    let mut retried = 0;
    for i in 0..20 {
        let g = get(front, "echo", &format!("/r{i}")).await.unwrap();
        assert_eq!(g.status, 200, "{}", g.body);
        assert_eq!(g.json()["version"], "HTTP/2.0");
        if g.json()["attempt"] == "2" {
            retried += 1;
        }
    }
    assert!(
        retried > 0,
        "round robin sent some first attempts to the dead host"
    );
    let admin = p.client.admin_addr;
    let clusters =
        tokio::task::spawn_blocking(move || mast_xds::http::get(admin, "/clusters").unwrap().body)
            .await
            .unwrap();
    let fails = format!("{OUT}::{dead}::cx_connect_fail::");
    let line = clusters
        .lines()
        .find(|l| l.starts_with(&fails))
        .unwrap_or_else(|| panic!("{clusters}"));
    assert_ne!(line, format!("{fails}0"), "{clusters}");
}
