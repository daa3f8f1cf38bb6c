//! Table tests of outbound listeners, `virtualOutbound`, explicit listeners of proxies in
//! `NONE` interception mode, and the proxyless gRPC flavour.

use envoy_types::pb::envoy::config::core::v3::address;
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use serde_json::json;

use super::{generate, grpc, sidecar_listeners};
use crate::model::Snapshot;
use crate::xds::rds::testutil::{SnapBuilder, proxy, unpack};

fn names(ls: &[Listener]) -> Vec<&str> {
    ls.iter().map(|l| l.name.as_str()).collect()
}

fn find<'a>(ls: &'a [Listener], name: &str) -> &'a Listener {
    ls.iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no listener {name} in {:?}", names(ls)))
}

fn typed<T: prost::Message + Default>(f: &Filter) -> T {
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        panic!("untyped filter {}", f.name)
    };
    unpack(any)
}

fn tcp_cluster(f: &Filter) -> String {
    let t: TcpProxy = typed(f);
    match t.cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => c,
        other => panic!("{other:?}"),
    }
}

fn socket(l: &Listener) -> (String, u32) {
    let Some(address::Address::SocketAddress(s)) =
        l.address.as_ref().and_then(|a| a.address.clone())
    else {
        panic!()
    };
    let Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(p)) =
        s.port_specifier
    else {
        panic!()
    };
    (s.address, p)
}

fn mesh() -> Snapshot {
    SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .service("ratings", "default", &[("http", 9080)], "10.0.0.3")
        .service("mongodb", "default", &[("tcp-mongo", 27017)], "10.0.0.6")
        .service("web", "default", &[("web", 8000)], "10.0.0.7")
        .endpoint(
            "reviews",
            "default",
            9080,
            "10.1.0.2",
            9080,
            &[("app", "reviews")],
        )
        .build()
}

#[test]
fn outbound_http_listener_per_port() {
    let ls = sidecar_listeners(
        &mesh(),
        &proxy(
            "10.1.0.1",
            "productpage-1",
            "default",
            &[("app", "productpage")],
            json!({}),
        ),
    );
    let l = find(&ls, "0.0.0.0_9080");
    assert_eq!(socket(l), ("0.0.0.0".into(), 9080));
    assert!(!l.bind_to_port.unwrap().value);
    assert_eq!(
        l.listener_filters
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        vec!["envoy.filters.listener.http_inspector"]
    );
    assert_eq!(l.filter_chains.len(), 1);
    let m = l.filter_chains[0].filter_chain_match.clone().unwrap();
    assert_eq!(m.application_protocols, ["http/1.1", "h2c"]);
    assert_eq!(m.transport_protocol, "raw_buffer");
    let hcm: HttpConnectionManager = typed(&l.filter_chains[0].filters[0]);
    assert_eq!(hcm.stat_prefix, "outbound_0.0.0.0_9080");
    let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier else {
        panic!()
    };
    assert_eq!(rds.route_config_name, "9080");
    let filters: Vec<&str> = hcm.http_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        filters,
        [
            "istio.metadata_exchange",
            "envoy.filters.http.fault",
            "envoy.filters.http.cors",
            "istio.stats",
            "envoy.filters.http.router"
        ]
    );
    assert!(!hcm.use_remote_address.unwrap().value);
    assert!(hcm.normalize_path.unwrap().value);
    assert_eq!(hcm.upgrade_configs[0].upgrade_type, "websocket");
    assert_eq!(hcm.stream_idle_timeout.unwrap().seconds, 0);
    let d = l.default_filter_chain.clone().unwrap();
    assert_eq!(d.name, "PassthroughFilterChain");
    assert_eq!(tcp_cluster(d.filters.last().unwrap()), "PassthroughCluster");
}

#[test]
fn outbound_tcp_and_sniffed_listeners() {
    let ls = sidecar_listeners(
        &mesh(),
        &proxy("10.1.0.1", "productpage-1", "default", &[], json!({})),
    );
    let tcp = find(&ls, "10.0.0.6_27017");
    assert_eq!(tcp.filter_chains.len(), 1);
    assert!(tcp.default_filter_chain.is_none());
    assert!(tcp.listener_filters.is_empty());
    assert_eq!(
        tcp_cluster(tcp.filter_chains[0].filters.last().unwrap()),
        "outbound|27017||mongodb.default.svc.cluster.local"
    );

    let sniffed = find(&ls, "10.0.0.7_8000");
    assert_eq!(
        sniffed.filter_chains.len(),
        1,
        "the HTTP chain, the TCP one is the default"
    );
    let hcm: HttpConnectionManager = typed(&sniffed.filter_chains[0].filters[0]);
    let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier else {
        panic!()
    };
    assert_eq!(rds.route_config_name, "web.default.svc.cluster.local:8000");
    let d = sniffed.default_filter_chain.clone().unwrap();
    let names: Vec<&str> = d.filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["istio.stats", "envoy.filters.network.tcp_proxy"]);
    assert_eq!(
        tcp_cluster(d.filters.last().unwrap()),
        "outbound|8000||web.default.svc.cluster.local"
    );
    assert_eq!(
        super::route_names(&mesh(), &proxy("10.1.0.1", "p", "default", &[], json!({}))),
        ["9080", "web.default.svc.cluster.local:8000"]
    );
}

#[test]
fn listener_order_and_virtual_outbound() {
    let ls = sidecar_listeners(
        &mesh(),
        &proxy("10.1.0.1", "productpage-1", "default", &[], json!({})),
    );
    assert_eq!(
        names(&ls),
        [
            "0.0.0.0_9080",
            "10.0.0.6_27017",
            "10.0.0.7_8000",
            "virtualOutbound",
            "virtualInbound"
        ]
    );
    let vo = find(&ls, "virtualOutbound");
    assert_eq!(socket(vo), ("0.0.0.0".into(), 15001));
    assert!(vo.use_original_dst.unwrap().value);
    assert_eq!(vo.filter_chains[0].name, "virtualOutbound-blackhole");
    assert_eq!(
        vo.filter_chains[0]
            .filter_chain_match
            .clone()
            .unwrap()
            .destination_port
            .unwrap()
            .value,
        15001
    );
    assert_eq!(
        tcp_cluster(vo.filter_chains[1].filters.last().unwrap()),
        "PassthroughCluster"
    );

    let ls = sidecar_listeners(
        &SnapBuilder::new().registry_only().build(),
        &proxy("10.1.0.1", "p", "default", &[], json!({})),
    );
    assert_eq!(
        tcp_cluster(
            find(&ls, "virtualOutbound").filter_chains[1]
                .filters
                .last()
                .unwrap()
        ),
        "BlackHoleCluster"
    );
}

#[test]
fn tcp_routes_from_virtual_services() {
    let snap = SnapBuilder::new()
        .service("mongodb", "default", &[("tcp", 27017)], "10.0.0.6")
        .service("tls", "default", &[("tls", 443)], "")
        .vs("mongo", "default", json!({"hosts": ["mongodb"], "tcp": [{"route": [{"destination": {"host": "mongodb", "subset": "v1"}, "weight": 80}, {"destination": {"host": "mongodb", "subset": "v2"}, "weight": 20}]}]}))
        .vs("sni", "default", json!({"hosts": ["tls"], "tls": [{"match": [{"sniHosts": ["a.example.com"]}], "route": [{"destination": {"host": "tls", "subset": "a"}}]}]}))
        .build();
    let ls = sidecar_listeners(&snap, &proxy("10.1.0.1", "c", "default", &[], json!({})));
    let t: TcpProxy = typed(
        find(&ls, "10.0.0.6_27017").filter_chains[0]
            .filters
            .last()
            .unwrap(),
    );
    assert_eq!(t.stat_prefix, "mongo.default");
    let Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) = t.cluster_specifier else {
        panic!()
    };
    assert_eq!(
        w.clusters
            .iter()
            .map(|c| (c.name.as_str(), c.weight))
            .collect::<Vec<_>>(),
        [
            ("outbound|27017|v1|mongodb.default.svc.cluster.local", 80),
            ("outbound|27017|v2|mongodb.default.svc.cluster.local", 20)
        ]
    );
    let sni = find(&ls, "0.0.0.0_443");
    assert_eq!(
        sni.listener_filters[0].name,
        "envoy.filters.listener.tls_inspector"
    );
    assert_eq!(
        sni.filter_chains[0]
            .filter_chain_match
            .clone()
            .unwrap()
            .server_names,
        ["a.example.com"]
    );
    assert_eq!(
        tcp_cluster(sni.filter_chains[0].filters.last().unwrap()),
        "outbound|443|a|tls.default.svc.cluster.local"
    );
}

#[test]
fn none_interception_uses_explicit_listeners() {
    let snap = SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .service("db", "default", &[("tcp", 5432)], "10.0.0.8")
        .endpoint("reviews", "default", 9080, "10.1.0.2", 9080, &[])
        .sidecar("reviews", "default", json!({
            "workloadSelector": {"labels": {"app": "reviews"}},
            "ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http"}, "defaultEndpoint": "127.0.0.1:8080", "captureMode": "NONE"}],
            "egress": [{"port": {"number": 5432, "protocol": "TCP", "name": "tcp"}, "bind": "127.0.0.2", "captureMode": "NONE", "hosts": ["./db.default.svc.cluster.local"]},
                       {"hosts": ["./reviews.default.svc.cluster.local"]}]
        }))
        .build();
    let p = proxy(
        "10.1.0.2",
        "reviews-1",
        "default",
        &[("app", "reviews")],
        json!({"INTERCEPTION_MODE": "NONE"}),
    );
    let ls = sidecar_listeners(&snap, &p);
    assert_eq!(
        names(&ls),
        ["127.0.0.1_9080", "127.0.0.2_5432", "10.1.0.2_9080"]
    );
    let egress = find(&ls, "127.0.0.2_5432");
    assert!(egress.bind_to_port.is_none(), "bound to its port");
    assert_eq!(
        tcp_cluster(egress.filter_chains[0].filters.last().unwrap()),
        "outbound|5432||db.default.svc.cluster.local"
    );
    let http = find(&ls, "127.0.0.1_9080");
    assert!(http.bind_to_port.is_none());
    let ingress = find(&ls, "10.1.0.2_9080");
    assert_eq!(socket(ingress), ("10.1.0.2".into(), 9080));
    assert!(
        ingress
            .listener_filters
            .iter()
            .all(|f| f.name != "envoy.filters.listener.original_dst")
    );
    let hcm: HttpConnectionManager = typed(
        ingress
            .filter_chains
            .last()
            .unwrap()
            .filters
            .last()
            .unwrap(),
    );
    let Some(RouteSpecifier::RouteConfig(rc)) = &hcm.route_specifier else {
        panic!()
    };
    assert_eq!(rc.name, "inbound|9080||");
}

#[test]
fn none_interception_without_sidecar_has_no_inbound() {
    let p = proxy(
        "10.1.0.2",
        "reviews-1",
        "default",
        &[],
        json!({"INTERCEPTION_MODE": "NONE"}),
    );
    let ls = sidecar_listeners(&mesh(), &p);
    assert!(
        names(&ls).iter().all(|n| n.starts_with("127.0.0.1_")),
        "{:?}",
        names(&ls)
    );
}

#[test]
fn sidecar_ingress_with_iptables_capture_joins_virtual_inbound() {
    let snap = SnapBuilder::new()
        .sidecar("s", "default", json!({"ingress": [{"port": {"number": 7000, "protocol": "TCP", "name": "tcp"}, "defaultEndpoint": "127.0.0.1:7001"}]}))
        .build();
    let ls = sidecar_listeners(&snap, &proxy("10.1.0.2", "x", "default", &[], json!({})));
    let vi = find(&ls, "virtualInbound");
    assert!(
        vi.filter_chains.iter().any(|c| c.name == "10.1.0.2_7000"),
        "{:?}",
        vi.filter_chains.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
}

#[test]
fn grpc_listeners() {
    let snap = SnapBuilder::new()
        .service(
            "echo",
            "default",
            &[("grpc", 7070), ("http", 8080)],
            "10.0.0.9",
        )
        .endpoint("echo", "default", 7070, "10.1.0.5", 17070, &[])
        .build();
    let p = proxy(
        "10.1.0.1",
        "client-1",
        "default",
        &[],
        json!({"GENERATOR": "grpc"}),
    );
    let out = generate(
        &snap,
        &p,
        &[
            "echo:7070".to_string(),
            "echo.default.svc.cluster.local:7070".to_string(),
        ],
    );
    let names: Vec<&str> = out.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["echo:7070", "echo.default.svc.cluster.local:7070"]);
    let l: Listener = unpack(&out[0].resource);
    assert!(l.filter_chains.is_empty() && l.listener_filters.is_empty());
    let hcm: HttpConnectionManager = unpack(l.api_listener.unwrap().api_listener.as_ref().unwrap());
    let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier else {
        panic!()
    };
    assert_eq!(
        rds.route_config_name,
        "outbound|7070||echo.default.svc.cluster.local"
    );
    assert_eq!(
        hcm.http_filters
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["envoy.filters.http.fault", "envoy.filters.http.router"]
    );
    assert_eq!(
        grpc::route_names(&snap, &p),
        [
            "outbound|7070||echo.default.svc.cluster.local",
            "outbound|8080||echo.default.svc.cluster.local"
        ]
    );

    let server = proxy(
        "10.1.0.5",
        "echo-1",
        "default",
        &[],
        json!({"GENERATOR": "grpc"}),
    );
    let out = generate(
        &snap,
        &server,
        &["xds.istio.io/grpc/lds/inbound/0.0.0.0:17070".to_string()],
    );
    let l: Listener = unpack(&out[0].resource);
    assert_eq!(
        l.filter_chains[0].name, "inbound-plaintext",
        "PERMISSIVE is plaintext for gRPC servers"
    );
}
