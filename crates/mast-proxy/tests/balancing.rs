//! Load balancing end to end with the real mastd (in-process): a client proxy in
//! `region1/zone1` in front of three server proxies of one service, in `region1/zone1`,
//! `region1/zone2` and `region2/zone3`, over mTLS. The DestinationRule is rewritten between
//! phases (mastd watches the directory):
//!
//! 1. `consistentHash.httpHeaderName`: every request of a user goes to one endpoint, users
//!    spread over all three (RING_HASH).
//! 2. `consistentHash.httpCookie` with a TTL (MAGLEV table): the first answer sets the cookie,
//!    requests carrying it stick to one endpoint.
//! 3. Outlier detection, so locality failover applies: all traffic stays in the client's zone;
//!    when that endpoint fails and is ejected, traffic moves to the same region's other zone,
//!    not to the other region.
//! 4. `localityLbSetting.distribute` 20/80 between the client's zone and the other region:
//!    shares within tolerance, the unlisted zone gets nothing.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::addr;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const HOST: &str = "shop.default.svc.cluster.local:9080";

fn workload(name: &str, ip: &str, locality: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: shop-{name}
  namespace: default
spec:
  workloadSelector:
    labels: {{app: shop, instance: {name}}}
  ingress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {ip}, defaultEndpoint: "0.0.0.0:8080", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: {name}
  namespace: default
spec:
  address: {ip}
  locality: {locality}
  labels: {{app: shop, instance: {name}}}
  serviceAccount: shop
---
"#
    )
}

fn config(ip: impl Fn(u8) -> String) -> String {
    let mut out = format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: shop
  namespace: default
spec:
  hosts: [shop.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  resolution: STATIC
  workloadSelector:
    labels: {{app: shop}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: client
  namespace: default
spec:
  address: {client}
  locality: region1/zone1
  labels: {{app: client}}
  serviceAccount: client
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels: {{app: client}}
  egress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls: {{mode: STRICT}}
---
"#,
        client = ip(1)
    );
    out.push_str(&workload("a", &ip(2), "region1/zone1"));
    out.push_str(&workload("b", &ip(3), "region1/zone2"));
    out.push_str(&workload("c", &ip(4), "region2/zone3"));
    out
}

fn rule(traffic_policy: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: shop
  namespace: default
spec:
  host: shop.default.svc.cluster.local
  trafficPolicy:
{traffic_policy}"
    )
}

/// An app answering its name, or 503 while `failing`.
async fn named_app(at: SocketAddr, name: &'static str, failing: Arc<AtomicBool>) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = sock.accept().await {
            let failing = failing.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let failing = failing.load(Ordering::SeqCst);
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(if failing { 503 } else { 200 })
                                .body(Full::new(Bytes::from(name)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
}

/// Who answered `n` requests with `headers`, by body (`503` for failures).
async fn answers(front: SocketAddr, n: usize, headers: &[(&str, &str)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let g = common::request(front, HOST, "/", headers).await.unwrap();
        let who = if g.status == 200 {
            g.body.clone()
        } else {
            g.status.to_string()
        };
        *out.entry(who).or_insert(0) += 1;
    }
    out
}

/// Waits until `check` holds for a batch of answers (a new rule has reached the client).
async fn until(
    front: SocketAddr,
    what: &str,
    headers: &[(&str, &str)],
    check: impl Fn(&BTreeMap<String, usize>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = answers(front, 20, headers).await;
        if check(&got) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: last {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_and_locality_balancing() {
    common::init_tracing();
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config(ip)).unwrap();
    let rule_file = cfg_dir.path().join("rule.yaml");
    std::fs::write(
        &rule_file,
        rule("    loadBalancer:\n      consistentHash:\n        httpHeaderName: x-user\n"),
    )
    .unwrap();
    let mastd = mastd::app::start(common::mastd_args(cfg_dir.path(), state.path()))
        .await
        .expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = common::Ca::new();
    for sa in ["client", "shop"] {
        ca.issue(&certs.path().join(sa), &common::spiffe(sa));
    }
    let a_fails = Arc::new(AtomicBool::new(false));
    let start = |pod: &'static str, sa: &'static str, host: u8, labels: &[&str]| {
        let c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            sa,
            addr(net, host, 0).ip(),
            labels,
            Some(&certs.path().join(sa)),
        );
        common::start_proxy(c)
    };
    let mut servers = Vec::new();
    for (name, h) in [("a", 2u8), ("b", 3), ("c", 4)] {
        let failing = if name == "a" {
            a_fails.clone()
        } else {
            Arc::new(AtomicBool::new(false))
        };
        // each app on its own workload's loopback address
        named_app(addr(net, h, 8080), name, failing).await;
        let instance = format!("instance={name}");
        servers.push(start(name, "shop", h, &["app=shop", &instance]).await);
    }
    let client = start("client", "client", 1, &["app=client"]).await;
    let front = addr(net, 1, 9080);
    common::get_until(front, HOST, "/", 200).await;
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());
    for s in &servers {
        assert!(s.nacks().is_empty(), "{:?}", s.nacks());
    }

    // every endpoint known to the client before hashing over them
    let cluster = "outbound|9080||shop.default.svc.cluster.local";
    common::eventually("three shop endpoints at the client", || {
        let m = client.model();
        let c = m.cluster_named(cluster)?;
        (c.hosts().active().len() == 3).then_some(())
    })
    .await;

    // 1. header hashing: a user sticks to one endpoint, users spread
    let mut owners = BTreeMap::new();
    for u in 0..24 {
        let user = format!("user-{u}");
        let got = answers(front, 5, &[("x-user", &user)]).await;
        assert_eq!(got.len(), 1, "{user} went to {got:?}");
        *owners
            .entry(got.keys().next().unwrap().clone())
            .or_insert(0) += 1;
    }
    assert_eq!(owners.len(), 3, "users over endpoints: {owners:?}");

    // 2. cookie hashing on a Maglev table: the first answer sets the cookie
    std::fs::write(
        &rule_file,
        rule(
            "    loadBalancer:\n      consistentHash:\n        maglev: {tableSize: 65537}\n        httpCookie: {name: shop-session, ttl: 60s, path: /}\n",
        ),
    )
    .unwrap();
    let cookie = common::eventually_async(|| async {
        let g = common::request(front, HOST, "/", &[]).await.ok()?;
        let set = g.headers.get("set-cookie")?.to_str().ok()?.to_string();
        Some(set.split(';').next().unwrap_or_default().to_string())
    })
    .await;
    assert!(cookie.starts_with("shop-session=\""), "{cookie}");
    let got = answers(front, 10, &[("cookie", &cookie)]).await;
    assert_eq!(got.len(), 1, "the session went to {got:?}");
    let g = common::request(front, HOST, "/", &[("cookie", &cookie)])
        .await
        .unwrap();
    assert!(
        !g.headers.contains_key("set-cookie"),
        "a cookie sent is kept"
    );

    // 3. failover: outlier detection on, everything in the client's zone, then the zone next to it
    std::fs::write(
        &rule_file,
        rule(
            "    outlierDetection:\n      consecutive5xxErrors: 1\n      interval: 1s\n      baseEjectionTime: 30s\n      maxEjectionPercent: 100\n",
        ),
    )
    .unwrap();
    until(front, "all in region1/zone1", &[], |g| {
        g.get("a") == Some(&20)
    })
    .await;
    a_fails.store(true, Ordering::SeqCst);
    until(front, "failed over to region1/zone2", &[], |g| {
        g.get("b") == Some(&20)
    })
    .await;
    a_fails.store(false, Ordering::SeqCst);

    // 4. distribute: 20% to the client's zone, 80% to the other region, none elsewhere
    std::fs::write(
        &rule_file,
        rule(
            "    loadBalancer:\n      simple: ROUND_ROBIN\n      localityLbSetting:\n        distribute:\n        - from: region1/zone1/*\n          to: {\"region1/zone1/*\": 20, \"region2/zone3/*\": 80}\n",
        ),
    )
    .unwrap();
    until(front, "distribute applied", &[], |g| {
        !g.contains_key("b") && g.get("c").is_some_and(|c| *c >= 10)
    })
    .await;
    let got = answers(front, 400, &[]).await;
    let c = got.get("c").copied().unwrap_or(0);
    let a = got.get("a").copied().unwrap_or(0);
    assert!(!got.contains_key("b"), "{got:?}");
    // 80% of 400 = 320; σ = 8, so ±40 is five of them
    assert!((280..=360).contains(&c) && a + c == 400, "{got:?}");
}
