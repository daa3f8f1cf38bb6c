//! Table tests of inbound chains per PeerAuthentication mode, and of the policy filters
//! (RBAC, JWT) of inbound chains.

use envoy_types::pb::envoy::config::core::v3::transport_socket;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::rbac::v3::{permission, principal, rbac::Action};
use envoy_types::pb::envoy::extensions::filters::http::jwt_authn::v3::JwtAuthentication;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use serde_json::{Value, json};

use super::mtls::{MtlsMode, peer_policy};
use super::sidecar_listeners;
use crate::model::Snapshot;
use crate::xds::rds::testutil::{SnapBuilder, proxy, unpack};

fn base() -> SnapBuilder {
    SnapBuilder::new()
        .service(
            "reviews",
            "default",
            &[("http", 9080), ("tcp-db", 3306)],
            "10.0.0.2",
        )
        .endpoint("reviews", "default", 9080, "10.1.0.2", 9080, &[])
        .endpoint("reviews", "default", 3306, "10.1.0.2", 3306, &[])
}

fn reviews() -> mast_xds::Proxy {
    proxy(
        "10.1.0.2",
        "reviews-v1",
        "default",
        &[("app", "reviews")],
        json!({}),
    )
}

fn virtual_inbound(snap: &Snapshot) -> Listener {
    sidecar_listeners(snap, &reviews())
        .into_iter()
        .find(|l| l.name == "virtualInbound")
        .expect("virtualInbound")
}

/// (name, destination port, transport, ALPNs, has TLS socket) of each chain.
fn shape(chains: &[FilterChain]) -> Shape {
    chains
        .iter()
        .map(|c| {
            let m = c.filter_chain_match.clone().unwrap_or_default();
            (
                c.name.clone(),
                m.destination_port.map(|p| p.value).unwrap_or(0),
                m.transport_protocol,
                m.application_protocols,
                c.transport_socket.is_some(),
            )
        })
        .collect()
}

fn port_chains(l: &Listener, port: u32) -> Shape {
    shape(&l.filter_chains)
        .into_iter()
        .filter(|c| c.1 == port)
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pa(spec: Value) -> Snapshot {
    base().peer_auth("pa", "default", spec).build()
}

type Shape = Vec<(String, u32, String, Vec<String>, bool)>;

#[test]
fn chains_per_peer_authentication_mode() {
    let http = "0.0.0.0_9080".to_string();
    let tcp = "0.0.0.0_3306".to_string();
    let cases: Vec<(&str, Snapshot, Shape, Shape)> = vec![
        (
            "default PERMISSIVE",
            base().build(),
            vec![
                (
                    http.clone(),
                    9080,
                    "tls".into(),
                    s(&[
                        "istio",
                        "istio-peer-exchange",
                        "istio-http/1.0",
                        "istio-http/1.1",
                        "istio-h2",
                    ]),
                    true,
                ),
                (http.clone(), 9080, "raw_buffer".into(), vec![], false),
            ],
            vec![
                (
                    tcp.clone(),
                    3306,
                    "tls".into(),
                    s(&[
                        "istio",
                        "istio-peer-exchange",
                        "istio-http/1.0",
                        "istio-http/1.1",
                        "istio-h2",
                    ]),
                    true,
                ),
                (tcp.clone(), 3306, "tls".into(), vec![], false),
                (tcp.clone(), 3306, "raw_buffer".into(), vec![], false),
            ],
        ),
        (
            "STRICT",
            pa(json!({"mtls": {"mode": "STRICT"}})),
            vec![(http.clone(), 9080, "tls".into(), vec![], true)],
            vec![(tcp.clone(), 3306, "tls".into(), vec![], true)],
        ),
        (
            "DISABLE",
            pa(json!({"mtls": {"mode": "DISABLE"}})),
            vec![(http.clone(), 9080, "raw_buffer".into(), vec![], false)],
            vec![(tcp.clone(), 3306, "raw_buffer".into(), vec![], false)],
        ),
        (
            "port-level override",
            pa(
                json!({"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"}, "portLevelMtls": {"3306": {"mode": "DISABLE"}}}),
            ),
            vec![(http.clone(), 9080, "tls".into(), vec![], true)],
            vec![(tcp.clone(), 3306, "raw_buffer".into(), vec![], false)],
        ),
    ];
    for (name, snap, want_http, want_tcp) in cases {
        let l = virtual_inbound(&snap);
        assert_eq!(port_chains(&l, 9080), want_http, "{name}: http port");
        assert_eq!(port_chains(&l, 3306), want_tcp, "{name}: tcp port");
    }
}

#[test]
fn policy_precedence() {
    let cases = [
        (
            "mesh only",
            vec![("istio-system", json!({"mtls": {"mode": "STRICT"}}))],
            MtlsMode::Strict,
        ),
        (
            "namespace over mesh",
            vec![
                ("istio-system", json!({"mtls": {"mode": "STRICT"}})),
                ("default", json!({"mtls": {"mode": "DISABLE"}})),
            ],
            MtlsMode::Disable,
        ),
        (
            "workload over namespace",
            vec![
                ("default", json!({"mtls": {"mode": "DISABLE"}})),
                (
                    "default",
                    json!({"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"}}),
                ),
            ],
            MtlsMode::Strict,
        ),
        (
            "UNSET inherits",
            vec![
                ("istio-system", json!({"mtls": {"mode": "STRICT"}})),
                ("default", json!({"mtls": {"mode": "UNSET"}})),
            ],
            MtlsMode::Strict,
        ),
        (
            "selector not matching",
            vec![(
                "default",
                json!({"selector": {"matchLabels": {"app": "other"}}, "mtls": {"mode": "STRICT"}}),
            )],
            MtlsMode::Permissive,
        ),
        (
            "other namespace ignored",
            vec![("other", json!({"mtls": {"mode": "STRICT"}}))],
            MtlsMode::Permissive,
        ),
    ];
    for (name, policies, want) in cases {
        let mut b = SnapBuilder::new();
        for (i, (ns, spec)) in policies.into_iter().enumerate() {
            b = b.peer_auth(&format!("p{i}"), ns, spec);
        }
        assert_eq!(peer_policy(&b.build(), &reviews()).mode, want, "{name}");
    }
}

#[test]
fn strict_tls_context() {
    let l = virtual_inbound(&pa(json!({"mtls": {"mode": "STRICT"}})));
    let chain = l
        .filter_chains
        .iter()
        .find(|c| c.name == "0.0.0.0_3306")
        .unwrap();
    let Some(transport_socket::ConfigType::TypedConfig(any)) =
        &chain.transport_socket.as_ref().unwrap().config_type
    else {
        panic!()
    };
    let ctx: DownstreamTlsContext = unpack(any);
    assert!(ctx.require_client_certificate.unwrap().value);
    let common = ctx.common_tls_context.unwrap();
    assert_eq!(
        common.alpn_protocols,
        ["istio-peer-exchange", "h2", "http/1.1"]
    );
    assert_eq!(common.tls_certificate_sds_secret_configs[0].name, "default");
    assert!(format!("{:?}", common.validation_context_type).contains("ROOTCA"));
}

#[test]
fn passthrough_and_listener_filters() {
    let l = virtual_inbound(&base().build());
    assert_eq!(l.filter_chains[0].name, "virtualInbound-blackhole");
    let pass: Vec<_> = shape(&l.filter_chains)
        .into_iter()
        .filter(|c| c.1 == 0)
        .map(|c| (c.0, c.2, c.4))
        .collect();
    assert_eq!(
        pass,
        [
            (
                "virtualInbound-catchall-http".to_string(),
                "tls".to_string(),
                true
            ),
            (
                "virtualInbound-catchall-http".to_string(),
                "raw_buffer".to_string(),
                false
            ),
            ("virtualInbound".to_string(), "tls".to_string(), true),
            (
                "virtualInbound".to_string(),
                "raw_buffer".to_string(),
                false
            ),
            ("virtualInbound".to_string(), "tls".to_string(), false),
        ]
    );
    let lf: Vec<&str> = l.listener_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        lf,
        [
            "envoy.filters.listener.original_dst",
            "envoy.filters.listener.tls_inspector",
            "envoy.filters.listener.http_inspector"
        ]
    );
    let http_inspector = format!("{:?}", l.listener_filters[2].filter_disabled);
    assert!(
        http_inspector.contains("start: 3306"),
        "HTTP inspector off for the TCP port: {http_inspector}"
    );
    let hcm = inbound_hcm(&l, "0.0.0.0_9080");
    assert_eq!(hcm.server_name, "istio-envoy");
    assert_eq!(hcm.forward_client_cert_details, 2, "APPEND_FORWARD");
}

fn inbound_hcm(l: &Listener, chain: &str) -> HttpConnectionManager {
    let c = l.filter_chains.iter().find(|c| c.name == chain).unwrap();
    let Some(filter::ConfigType::TypedConfig(any)) = &c.filters.last().unwrap().config_type else {
        panic!()
    };
    unpack(any)
}

fn filter_names(hcm: &HttpConnectionManager) -> Vec<&str> {
    hcm.http_filters.iter().map(|f| f.name.as_str()).collect()
}

/// The `i`th policy filter (after `istio.metadata_exchange`).
fn http_rbac(hcm: &HttpConnectionManager, i: usize) -> HttpRbac {
    let Some(http_filter::ConfigType::TypedConfig(any)) = &hcm.http_filters[i + 1].config_type
    else {
        panic!()
    };
    unpack(any)
}

#[test]
fn authorization_policies_become_rbac() {
    let snap = base()
        .authz("deny-admin", "default", json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"], "methods": ["POST"]}}]}]}))
        .authz("allow-pp", "default", json!({"selector": {"matchLabels": {"app": "reviews"}}, "rules": [{
            "from": [{"source": {"principals": ["cluster.local/ns/default/sa/productpage"], "namespaces": ["default"], "ipBlocks": ["10.0.0.0/8"]}}],
            "to": [{"operation": {"ports": ["9080"], "hosts": ["reviews*"]}}],
            "when": [{"key": "request.headers[x-token]", "values": ["abc"]}, {"key": "request.auth.claims[groups]", "values": ["admins"]}]}]}))
        .authz("audit", "istio-system", json!({"action": "AUDIT", "rules": [{}]}))
        .authz("other-app", "default", json!({"selector": {"matchLabels": {"app": "ratings"}}, "rules": [{}]}))
        .build();
    let l = virtual_inbound(&snap);
    let hcm = inbound_hcm(&l, "0.0.0.0_9080");
    assert_eq!(
        filter_names(&hcm),
        [
            "istio.metadata_exchange",
            "envoy.filters.http.rbac",
            "envoy.filters.http.rbac",
            "envoy.filters.http.rbac",
            "envoy.filters.http.fault",
            "envoy.filters.http.cors",
            "istio.stats",
            "envoy.filters.http.router"
        ]
    );
    let audit = http_rbac(&hcm, 0).rules.unwrap();
    assert_eq!(audit.action, Action::Log as i32);
    let deny = http_rbac(&hcm, 1).rules.unwrap();
    assert_eq!(deny.action, Action::Deny as i32);
    assert!(
        deny.policies
            .contains_key("ns[default]-policy[deny-admin]-rule[0]")
    );
    let allow = http_rbac(&hcm, 2).rules.unwrap();
    assert_eq!(allow.action, Action::Allow as i32);
    let p = allow
        .policies
        .get("ns[default]-policy[allow-pp]-rule[0]")
        .unwrap();
    let Some(principal::Identifier::AndIds(and)) = &p.principals[0].identifier else {
        panic!()
    };
    let kinds: Vec<String> = and
        .ids
        .iter()
        .map(|id| {
            format!("{:?}", id.identifier)
                .split('(')
                .nth(1)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds.len(),
        5,
        "principals, namespaces, ipBlocks, header, claims: {kinds:?}"
    );
    let Some(permission::Rule::AndRules(perm)) = &p.permissions[0].rule else {
        panic!()
    };
    assert_eq!(perm.rules.len(), 2, "hosts then ports");
    let dbg = format!("{p:?}");
    assert!(
        dbg.contains("spiffe://cluster.local/ns/default/sa/productpage"),
        "{dbg}"
    );
    assert!(dbg.contains(".*/ns/default/.*"));
    assert!(dbg.contains("DestinationPort(9080)"));

    let tcp_chain = l
        .filter_chains
        .iter()
        .find(|c| c.name == "0.0.0.0_3306")
        .unwrap();
    let names: Vec<&str> = tcp_chain.filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "istio.metadata_exchange",
            "envoy.filters.network.rbac",
            "envoy.filters.network.rbac",
            "envoy.filters.network.rbac",
            "istio.stats",
            "envoy.filters.network.tcp_proxy"
        ]
    );
    let Some(filter::ConfigType::TypedConfig(any)) = &tcp_chain.filters[3].config_type else {
        panic!()
    };
    let tcp_allow: NetworkRbac = unpack(any);
    assert_eq!(tcp_allow.stat_prefix, "tcp.");
    assert!(
        tcp_allow.rules.unwrap().policies.is_empty(),
        "HTTP-only conditions make the ALLOW rule fail on TCP"
    );
}

#[test]
fn allow_nothing_and_no_policy() {
    let l = virtual_inbound(&base().build());
    assert_eq!(
        filter_names(&inbound_hcm(&l, "0.0.0.0_9080")),
        [
            "istio.metadata_exchange",
            "envoy.filters.http.fault",
            "envoy.filters.http.cors",
            "istio.stats",
            "envoy.filters.http.router"
        ]
    );
    let l = virtual_inbound(&base().authz("nothing", "default", json!({})).build());
    let hcm = inbound_hcm(&l, "0.0.0.0_9080");
    let allow = http_rbac(&hcm, 0).rules.unwrap();
    assert_eq!(allow.action, Action::Allow as i32);
    assert!(
        format!(
            "{:?}",
            allow.policies["ns[default]-policy[nothing]-rule[0]"]
        )
        .contains("NotRule")
    );
}

#[test]
fn request_authentication_adds_jwt_filter_first() {
    let snap = base()
        .request_auth("jwt", "default", json!({"jwtRules": [{"issuer": "b.example.com", "jwks": "{\"keys\":[]}"}, {"issuer": "a.example.com", "jwksUri": "https://a.example.com/jwks"}]}))
        .authz("require", "default", json!({"rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]}))
        .build();
    let hcm = inbound_hcm(&virtual_inbound(&snap), "0.0.0.0_9080");
    assert_eq!(
        filter_names(&hcm)[..3],
        [
            "istio.metadata_exchange",
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.rbac"
        ]
    );
    let Some(http_filter::ConfigType::TypedConfig(any)) = &hcm.http_filters[1].config_type else {
        panic!()
    };
    let jwt: JwtAuthentication = unpack(any);
    assert_eq!(
        jwt.providers["origins-0"].issuer, "a.example.com",
        "rules sorted by issuer"
    );
    assert!(
        format!("{:?}", jwt.providers["origins-0"].jwks_source_specifier)
            .contains("outbound|443||a.example.com")
    );
    assert_eq!(jwt.providers["origins-1"].payload_in_metadata, "payload");
    assert!(jwt.bypass_cors_preflight);
    assert!(
        format!("{:?}", jwt.rules[0]).contains("RequiresAll"),
        "two providers: any of them, or all-or-missing"
    );
}
