//! Table tests: virtual hosts, their domains, the catch-all host, VirtualService selection
//! and Sidecar scoping, and the proxyless gRPC flavour.

use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, route, route_action};
use serde_json::json;

use super::tests::{REVIEWS, action, cluster, config, path, routes_of, secs};
use super::testutil::{SnapBuilder, proxy, unpack};
use super::{egress, generate, route_config};
use crate::model::Snapshot;
use crate::registry::Resolution;
use envoy_types::pb::envoy::config::route::v3::route_match::PathSpecifier;

fn rc_for(snap: &Snapshot, ns: &str, name: &str, meta: serde_json::Value) -> RouteConfiguration {
    let p = proxy("10.1.0.1", "client-1", ns, &[("app", "client")], meta);
    let view = egress::view(snap, &p);
    route_config(snap, &p, &view, name)
}

fn vhost_names(rc: &RouteConfiguration) -> Vec<&str> {
    rc.virtual_hosts.iter().map(|v| v.name.as_str()).collect()
}

fn bookinfo() -> SnapBuilder {
    SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .service("ratings", "default", &[("http", 9080)], "10.0.0.3")
        .service("details", "other", &[("http", 9080)], "10.0.0.5")
        .service("mongodb", "default", &[("mongo", 27017)], "10.0.0.6")
}

#[test]
fn domains_of_services() {
    let rc = rc_for(&bookinfo().build(), "default", "9080", json!({}));
    assert_eq!(
        vhost_names(&rc),
        vec![
            "details.other.svc.cluster.local:9080",
            "ratings.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "allow_any"
        ]
    );
    let reviews = &rc.virtual_hosts[2];
    assert_eq!(
        reviews.domains,
        [
            "reviews.default.svc.cluster.local",
            "reviews.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local.",
            "reviews.default.svc.cluster.local.:9080",
            "reviews",
            "reviews:9080",
            "reviews.default.svc",
            "reviews.default.svc:9080",
            "reviews.default",
            "reviews.default:9080",
            "10.0.0.2",
            "10.0.0.2:9080",
        ]
    );
    let details = &rc.virtual_hosts[0];
    assert!(
        details.domains.contains(&"details.other".to_string()),
        "{:?}",
        details.domains
    );
    assert!(
        !details.domains.contains(&"details".to_string()),
        "short name only in its own namespace"
    );
    assert_eq!(
        rc.max_direct_response_body_size_bytes.unwrap().value,
        1024 * 1024
    );
    assert!(!rc.validate_clusters.unwrap().value);
    assert!(reviews.include_request_attempt_count);
}

#[test]
fn catch_all_follows_outbound_traffic_policy() {
    let rc = rc_for(&bookinfo().build(), "default", "9080", json!({}));
    let last = rc.virtual_hosts.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.domains.as_slice()),
        ("allow_any", &["*".to_string()][..])
    );
    let Some(route::Action::Route(a)) = &last.routes[0].action else {
        panic!()
    };
    assert_eq!(
        a.cluster_specifier,
        Some(route_action::ClusterSpecifier::Cluster(
            "PassthroughCluster".into()
        ))
    );

    let rc = rc_for(
        &bookinfo().registry_only().build(),
        "default",
        "9080",
        json!({}),
    );
    let last = rc.virtual_hosts.last().unwrap();
    assert_eq!(last.name, "block_all");
    let Some(route::Action::DirectResponse(d)) = &last.routes[0].action else {
        panic!()
    };
    assert_eq!(d.status, 502);

    let snap = bookinfo()
        .sidecar(
            "default",
            "default",
            json!({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}),
        )
        .build();
    assert_eq!(
        rc_for(&snap, "default", "9080", json!({}))
            .virtual_hosts
            .last()
            .unwrap()
            .name,
        "block_all"
    );
}

#[test]
fn tcp_ports_have_no_virtual_hosts() {
    let rc = rc_for(&bookinfo().build(), "default", "27017", json!({}));
    assert_eq!(vhost_names(&rc), vec!["allow_any"]);
}

#[test]
fn virtual_service_selection() {
    let cases = [
        (
            "gateway-only VS is ignored",
            json!({"hosts": ["reviews"], "gateways": ["bookinfo-gateway"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}),
            "default",
            false,
        ),
        (
            "mesh VS applies",
            json!({"hosts": ["reviews"], "gateways": ["mesh"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}),
            "default",
            true,
        ),
        (
            "VS exported only to its namespace",
            json!({"hosts": ["reviews.default.svc.cluster.local"], "exportTo": ["."], "http": [{"route": [{"destination": {"host": "reviews.default.svc.cluster.local", "subset": "v2"}}]}]}),
            "other",
            false,
        ),
        (
            "VS exported to the proxy's namespace",
            json!({"hosts": ["reviews.default.svc.cluster.local"], "exportTo": ["other"], "http": [{"route": [{"destination": {"host": "reviews.default.svc.cluster.local", "subset": "v2"}}]}]}),
            "other",
            true,
        ),
        (
            "wildcard VS host",
            json!({"hosts": ["*.default.svc.cluster.local"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}),
            "default",
            true,
        ),
    ];
    for (name, spec, ns, applies) in cases {
        let snap = bookinfo().vs("vs", "default", spec).build();
        let rc = rc_for(&snap, ns, "9080", json!({}));
        let vh = rc
            .virtual_hosts
            .iter()
            .find(|v| v.name == "reviews.default.svc.cluster.local:9080")
            .expect(name);
        let Some(route::Action::Route(a)) = &vh.routes[0].action else {
            panic!("{name}")
        };
        let subset_v2 = a.cluster_specifier
            == Some(route_action::ClusterSpecifier::Cluster(
                "outbound|9080|v2|reviews.default.svc.cluster.local".into(),
            ));
        assert_eq!(subset_v2, applies, "{name}");
    }
}

#[test]
fn virtual_service_for_a_host_outside_the_registry_on_port_80() {
    let snap = SnapBuilder::new()
        .service("web", "default", &[("http", 80)], "10.0.0.9")
        .vs("ext", "default", json!({"hosts": ["bookinfo.com"], "http": [{"route": [{"destination": {"host": "web"}}]}]}))
        .build();
    let rc = rc_for(&snap, "default", "80", json!({}));
    let vh = rc
        .virtual_hosts
        .iter()
        .find(|v| v.name == "bookinfo.com:80")
        .expect("vhost for the VS host");
    assert_eq!(vh.domains, ["bookinfo.com", "bookinfo.com:80"]);
}

#[test]
fn sidecar_egress_scopes_services() {
    let snap = bookinfo()
        .sidecar(
            "default",
            "default",
            json!({"egress": [{"hosts": ["./*"]}]}),
        )
        .build();
    let rc = rc_for(&snap, "default", "9080", json!({}));
    assert_eq!(
        vhost_names(&rc),
        vec![
            "ratings.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "allow_any"
        ]
    );

    let snap = bookinfo().sidecar("default", "default", json!({"egress": [{"hosts": ["other/*", "~/ratings.default.svc.cluster.local", "./reviews.default.svc.cluster.local"]}]})).build();
    let rc = rc_for(&snap, "default", "9080", json!({}));
    assert_eq!(
        vhost_names(&rc),
        vec![
            "details.other.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "allow_any"
        ]
    );
}

#[test]
fn sidecar_egress_port_listener() {
    let snap = bookinfo().sidecar("default", "default", json!({"egress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http"}, "hosts": ["./ratings.default.svc.cluster.local"]}, {"hosts": ["*/*"]}]})).build();
    let rc = rc_for(&snap, "default", "9080", json!({}));
    assert_eq!(
        vhost_names(&rc),
        vec!["ratings.default.svc.cluster.local:9080", "allow_any"]
    );
}

#[test]
fn sniffed_route_has_one_host_matching_everything() {
    let snap = SnapBuilder::new()
        .service("auto", "default", &[("web", 8000)], "10.0.0.7")
        .build();
    let rc = rc_for(
        &snap,
        "default",
        "auto.default.svc.cluster.local:8000",
        json!({}),
    );
    assert_eq!(
        vhost_names(&rc),
        vec!["auto.default.svc.cluster.local:8000"]
    );
    assert_eq!(rc.virtual_hosts[0].domains, ["*"]);
}

#[test]
fn unknown_route_name_is_empty() {
    let rc = rc_for(
        &bookinfo().build(),
        "default",
        "unix:///var/run/x.sock",
        json!({}),
    );
    assert!(rc.virtual_hosts.is_empty());
}

#[test]
fn grpc_route_configuration() {
    let snap = SnapBuilder::new()
        .external("echo.example.com", "default", &[("grpc", 7070)], Resolution::ClientSideLb)
        .service("reviews", "default", &[("grpc", 7070)], "10.0.0.2")
        .vs("echo", "default", json!({"hosts": ["echo.example.com"], "http": [{"route": [
            {"destination": {"host": "echo.example.com", "subset": "v1"}, "weight": 20},
            {"destination": {"host": "echo.example.com", "subset": "v2"}, "weight": 80}], "timeout": "2s"}]}))
        .build();
    let p = proxy(
        "10.1.0.1",
        "client-1",
        "default",
        &[],
        json!({"GENERATOR": "grpc"}),
    );
    let out = generate(&snap, &p, &["outbound|7070||echo.example.com".to_string()]);
    assert_eq!(out.len(), 1);
    let rc: RouteConfiguration = unpack(&out[0].resource);
    assert_eq!(rc.name, "outbound|7070||echo.example.com");
    assert_eq!(vhost_names(&rc), vec!["echo.example.com:7070"]);
    let Some(route::Action::Route(a)) = &rc.virtual_hosts[0].routes[0].action else {
        panic!()
    };
    assert_eq!(
        a.max_stream_duration
            .unwrap()
            .max_stream_duration
            .unwrap()
            .seconds,
        2
    );
    assert!(
        matches!(&a.cluster_specifier, Some(route_action::ClusterSpecifier::WeightedClusters(w)) if w.clusters.len() == 2)
    );
}

#[test]
fn route_metadata_names_the_virtual_service() {
    let r = routes_of(json!([{"route": [{"destination": {"host": "reviews"}}]}]));
    let md = r[0]
        .metadata
        .as_ref()
        .unwrap()
        .filter_metadata
        .get("istio")
        .unwrap();
    let v = mast_xds::structs::struct_to_json(md);
    assert_eq!(
        v["config"],
        "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"
    );
}

#[test]
fn delegate_virtual_services_are_merged() {
    let snap = SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .vs("root", "default", json!({"hosts": ["reviews"], "http": [{"name": "root", "match": [{"uri": {"prefix": "/api"}}], "timeout": "3s", "delegate": {"name": "leaf", "namespace": "team"}}]}))
        .vs("leaf", "team", json!({"http": [{"name": "leaf", "match": [{"uri": {"prefix": "/api/v1"}}], "route": [{"destination": {"host": "reviews.default.svc.cluster.local", "subset": "v1"}}]},
                                           {"match": [{"uri": {"prefix": "/other"}}], "route": [{"destination": {"host": "reviews.default.svc.cluster.local"}}]}]}))
        .build();
    let rc = config(&snap, "9080");
    let vh = rc
        .virtual_hosts
        .iter()
        .find(|v| v.name == format!("{REVIEWS}:9080"))
        .unwrap();
    assert_eq!(
        vh.routes.len(),
        1,
        "the conflicting /other route is dropped"
    );
    assert_eq!(vh.routes[0].name, "root-leaf");
    assert_eq!(path(&vh.routes[0]), PathSpecifier::Prefix("/api/v1".into()));
    assert_eq!(action(&vh.routes[0]).timeout, secs(3));
    assert_eq!(
        cluster(&vh.routes[0]),
        "outbound|9080|v1|reviews.default.svc.cluster.local"
    );
}

#[test]
fn consistent_hash_from_destination_rule() {
    let snap = SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .dr("reviews", "default", json!({"host": "reviews", "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}}))
        .build();
    let rc = config(&snap, "9080");
    let vh = rc
        .virtual_hosts
        .iter()
        .find(|v| v.name == format!("{REVIEWS}:9080"))
        .unwrap();
    let a = action(&vh.routes[0]);
    assert_eq!(vh.routes[0].name, "default");
    assert_eq!(a.hash_policy.len(), 1);
}

#[test]
fn exact_virtual_service_host_wins_over_wildcard() {
    let route_to =
        |subset: &str| json!([{"route": [{"destination": {"host": "reviews", "subset": subset}}]}]);
    let snap = bookinfo()
        .vs(
            "wild",
            "default",
            json!({"hosts": ["*.svc.cluster.local"], "http": route_to("wild")}),
        )
        .vs(
            "narrower",
            "default",
            json!({"hosts": ["*.default.svc.cluster.local"], "http": route_to("narrow")}),
        )
        .vs(
            "exact",
            "default",
            json!({"hosts": ["reviews"], "http": route_to("exact")}),
        )
        .build();
    let rc = rc_for(&snap, "default", "9080", json!({}));
    let subset_of = |host: &str| {
        let vh = rc
            .virtual_hosts
            .iter()
            .find(|v| v.name == format!("{host}:9080"))
            .unwrap();
        cluster(&vh.routes[0])
            .split('|')
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(subset_of("reviews.default.svc.cluster.local"), "exact");
    assert_eq!(subset_of("ratings.default.svc.cluster.local"), "narrow");
    assert_eq!(subset_of("details.other.svc.cluster.local"), "wild");
}
