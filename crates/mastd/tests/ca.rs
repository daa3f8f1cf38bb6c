//! The CA over real sockets: `CreateCertificate` on the plaintext port with tokens, on the TLS
//! port with mesh client certificates; the refusals; the self-signed root across a restart; a
//! plugged-in CA replaced on disk; a token minted by `mastctl workload token`.

use std::path::Path;
use std::time::Duration;

use mast_xds::ca::{IstioCertificateRequest, IstioCertificateServiceClient, SpiffeId, TokenClaims};
use mastd::args::Args;
use mastd::ca::token::{TokenKey, now_secs};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

const TD: &str = "cluster.local";
const SERVER_NAME: &str = "istiod.istio-system.svc";

fn args(state: &Path) -> Args {
    use clap::Parser;
    let mut a = Args::try_parse_from(["mastd"]).unwrap();
    a.grpc_addr = "127.0.0.1:0".parse().unwrap();
    a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
    a.state_dir = Some(state.to_path_buf());
    a
}

/// A P-256 key and a CSR for it asking for `sans` (URIs; `dns:` prefix for DNS names).
fn csr(sans: &[&str]) -> (KeyPair, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, TD);
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.strip_prefix("dns:") {
            Some(d) => SanType::DnsName(d.to_string().try_into().unwrap()),
            None => SanType::URI(s.to_string().try_into().unwrap()),
        })
        .collect();
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, pem)
}

fn id(ns: &str, sa: &str) -> String {
    SpiffeId::new(TD, ns, sa).to_string()
}

fn request(csr: &str, ttl: i64, token: Option<&str>) -> tonic::Request<IstioCertificateRequest> {
    let mut r = tonic::Request::new(IstioCertificateRequest {
        csr: csr.to_string(),
        validity_duration: ttl,
        metadata: None,
    });
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

async fn plain(addr: std::net::SocketAddr) -> IstioCertificateServiceClient<Channel> {
    IstioCertificateServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    root_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut cfg = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(root_pem))
        .domain_name(SERVER_NAME);
    if let Some((chain, key)) = identity {
        cfg = cfg.identity(Identity::from_pem(chain, key));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(cfg)?
        .connect()
        .await
}

struct Parsed {
    der: Vec<u8>,
}

impl Parsed {
    fn new(pem: &str) -> Parsed {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        Parsed {
            der: CertificateDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .to_vec(),
        }
    }
    fn cert(&self) -> X509Certificate<'_> {
        X509Certificate::from_der(&self.der).unwrap().1
    }
    fn uris(&self) -> Vec<String> {
        self.cert()
            .subject_alternative_name()
            .unwrap()
            .map(|s| {
                s.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::URI(u) => Some(u.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn lifetime(&self) -> i64 {
        let c = self.cert();
        c.validity().not_after.timestamp() - c.validity().not_before.timestamp()
    }
    fn signed_by(&self, issuer: &Parsed) -> bool {
        self.cert()
            .verify_signature(Some(issuer.cert().public_key()))
            .is_ok()
    }
}

fn pem_count(s: &str) -> usize {
    s.matches("-----BEGIN CERTIFICATE-----").count()
}

fn refused(r: Result<tonic::Response<mast_xds::ca::IstioCertificateResponse>, Status>) -> Status {
    match r {
        Ok(_) => panic!("expected a refusal, got a certificate"),
        Err(s) => s,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_caller_gets_its_identity_with_the_ttl_asked_and_capped() {
    let state = tempfile::tempdir().unwrap();
    let running = mastd::app::start(args(state.path())).await.unwrap();
    let ca = running.ca.mesh_ca.clone();
    let token = ca.token_key().mint("shop", "cart", 600);
    let mut client = plain(running.grpc_addr).await;

    // the SAN the CSR asks for is the caller's own
    let (_k, pem) = csr(&[&id("shop", "cart")]);
    let resp = client
        .create_certificate(request(&pem, 3600, Some(&token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.cert_chain.len(),
        2,
        "leaf and root: {:?}",
        resp.cert_chain
    );
    assert!(resp.cert_chain.iter().all(|c| pem_count(c) == 1));
    let (leaf, root) = (
        Parsed::new(&resp.cert_chain[0]),
        Parsed::new(&resp.cert_chain[1]),
    );
    assert_eq!(resp.cert_chain[1], ca.root_pem(), "root last");
    assert_eq!(leaf.uris(), vec![id("shop", "cart")]);
    assert!(leaf.signed_by(&root));
    assert!(root.cert().is_ca());
    assert_eq!(root.cert().subject().to_string(), format!("O={TD}"));
    assert_eq!(leaf.lifetime(), 3600, "TTL honoured");

    // a CSR without SANs: the identity still comes from the token
    let (_k, pem) = csr(&[]);
    let resp = client
        .create_certificate(request(&pem, 0, Some(&token)))
        .await
        .unwrap()
        .into_inner();
    let leaf = Parsed::new(&resp.cert_chain[0]);
    assert_eq!(leaf.uris(), vec![id("shop", "cart")]);
    assert_eq!(leaf.lifetime(), 24 * 3600, "default TTL 24 h");

    // a year is cut to 90 days
    let resp = client
        .create_certificate(request(&pem, 365 * 86400, Some(&token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Parsed::new(&resp.cert_chain[0]).lifetime(), 90 * 86400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_each_say_why() {
    let state = tempfile::tempdir().unwrap();
    let running = mastd::app::start(args(state.path())).await.unwrap();
    let key = running.ca.mesh_ca.token_key();
    let mut client = plain(running.grpc_addr).await;
    let (_k, own) = csr(&[&id("shop", "cart")]);

    // no token
    let s = refused(client.create_certificate(request(&own, 0, None)).await);
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    assert!(s.message().contains("no credentials"), "{}", s.message());
    assert!(
        s.message().contains("mastctl workload token"),
        "{}",
        s.message()
    );

    // not a bearer token
    let mut r = request(&own, 0, None);
    r.metadata_mut()
        .insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
    let s = refused(client.create_certificate(r).await);
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(s.message().contains("Bearer"), "{}", s.message());

    // a bad signature: a token from another key
    let other_dir = tempfile::tempdir().unwrap();
    let other = TokenKey::load_or_create(other_dir.path()).unwrap();
    let s = refused(
        client
            .create_certificate(request(&own, 0, Some(&other.mint("shop", "cart", 600))))
            .await,
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(
        s.message().contains("signature is invalid"),
        "{}",
        s.message()
    );

    // a tampered token: the payload changed after signing
    let good = key.mint("shop", "cart", 600);
    let forged_claims = TokenClaims::new("kube-system", "admin", now_secs(), 600);
    let forged_payload = {
        let json = serde_json::to_vec(&forged_claims).unwrap();
        base64url(&json)
    };
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let s = refused(
        client
            .create_certificate(request(&own, 0, Some(&tampered)))
            .await,
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(
        s.message().contains("signature is invalid"),
        "{}",
        s.message()
    );

    // an expired token
    let expired = key.mint_claims(&TokenClaims::new("shop", "cart", now_secs() - 7200, 3600));
    let s = refused(
        client
            .create_certificate(request(&own, 0, Some(&expired)))
            .await,
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(s.message().contains("expired"), "{}", s.message());

    // a token for another audience
    let mut c = TokenClaims::new("shop", "cart", now_secs(), 600);
    c.aud = "kubernetes.default.svc".into();
    let s = refused(
        client
            .create_certificate(request(&own, 0, Some(&key.mint_claims(&c))))
            .await,
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(s.message().contains("audience"), "{}", s.message());

    // a token for another identity: the token says shop/cart, the CSR asks for pay/ledger
    let token = key.mint("shop", "cart", 600);
    let (_k, theirs) = csr(&[&id("pay", "ledger")]);
    let s = refused(
        client
            .create_certificate(request(&theirs, 0, Some(&token)))
            .await,
    );
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert!(
        s.message().contains(&id("pay", "ledger")),
        "{}",
        s.message()
    );
    assert!(s.message().contains(&id("shop", "cart")), "{}", s.message());

    // a CSR with a foreign SAN next to the caller's own
    let (_k, extra) = csr(&[&id("shop", "cart"), "dns:payments.example.com"]);
    let s = refused(
        client
            .create_certificate(request(&extra, 0, Some(&token)))
            .await,
    );
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(
        s.message().contains("DNS SAN payments.example.com"),
        "{}",
        s.message()
    );

    // a CSR in another trust domain
    let (_k, td) = csr(&["spiffe://evil.example/ns/shop/sa/cart"]);
    let s = refused(
        client
            .create_certificate(request(&td, 0, Some(&token)))
            .await,
    );
    assert_eq!(s.code(), Code::PermissionDenied);

    // not a CSR; a CSR whose signature does not match its key
    let s = refused(
        client
            .create_certificate(request("hello", 0, Some(&token)))
            .await,
    );
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("invalid CSR"), "{}", s.message());
    let broken = tamper_csr(&own);
    let s = refused(
        client
            .create_certificate(request(&broken, 0, Some(&token)))
            .await,
    );
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
}

fn base64url(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, &x| (acc << 8) | x as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The CSR with one byte of its subject changed, so its signature no longer verifies.
fn tamper_csr(pem: &str) -> String {
    use rustls_pki_types::CertificateSigningRequestDer;
    use rustls_pki_types::pem::PemObject;
    let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).unwrap();
    let mut bytes = der.as_ref().to_vec();
    // the organization name "cluster.local" sits in the signed part
    let at = bytes
        .windows(TD.len())
        .position(|w| w == TD.as_bytes())
        .unwrap();
    bytes[at] ^= 0x01;
    let b64 = {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |acc, &x| (acc << 8) | x as u32) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    let mut s = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE REQUEST-----\n");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_over_tls_with_a_mesh_certificate() {
    let state = tempfile::tempdir().unwrap();
    let running = mastd::app::start(args(state.path())).await.unwrap();
    let ca = running.ca.mesh_ca.clone();
    let root = ca.root_pem();
    let token = ca.token_key().mint("shop", "cart", 600);

    // first certificate with a token, on the plaintext port
    let (key, pem) = csr(&[&id("shop", "cart")]);
    let chain = plain(running.grpc_addr)
        .await
        .create_certificate(request(&pem, 3600, Some(&token)))
        .await
        .unwrap()
        .into_inner()
        .cert_chain;
    let leaf_pem = chain[0].clone();
    let key_pem = key.serialize_pem();

    // renew over TLS with it, no token
    let ch = tls_channel(
        running.ca.secure_grpc_addr,
        &root,
        Some((&leaf_pem, &key_pem)),
    )
    .await
    .expect("mTLS to the secure port");
    let mut client = IstioCertificateServiceClient::new(ch.clone());
    let (_k2, pem2) = csr(&[&id("shop", "cart")]);
    let renewed = client
        .create_certificate(request(&pem2, 1800, None))
        .await
        .expect("renewal with a mesh certificate")
        .into_inner()
        .cert_chain;
    let leaf2 = Parsed::new(&renewed[0]);
    assert_eq!(leaf2.uris(), vec![id("shop", "cart")]);
    assert_eq!(leaf2.lifetime(), 1800);
    assert_eq!(renewed.last().unwrap(), &root);

    // the certificate is no ticket to another identity
    let (_k3, theirs) = csr(&[&id("pay", "ledger")]);
    let s = refused(client.create_certificate(request(&theirs, 0, None)).await);
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");

    // ADS is on the same TLS server
    {
        use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
        use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
        let mut ads = AggregatedDiscoveryServiceClient::new(ch);
        let node = mast_xds::Proxy::parse(
            "sidecar~10.1.1.1~cart-1.shop~shop.svc.cluster.local",
            serde_json::json!({"NAMESPACE": "shop"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap()
        .to_node();
        let req = DiscoveryRequest {
            node: Some(node),
            type_url: mast_xds::types::CLUSTER.to_string(),
            ..Default::default()
        };
        let mut stream = ads
            .stream_aggregated_resources(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a CDS response in time")
            .unwrap()
            .unwrap();
        assert_eq!(first.type_url, mast_xds::types::CLUSTER);
    }

    // TLS without a client certificate and without a token
    let ch = tls_channel(running.ca.secure_grpc_addr, &root, None)
        .await
        .unwrap();
    let s = refused(
        IstioCertificateServiceClient::new(ch.clone())
            .create_certificate(request(&pem2, 0, None))
            .await,
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    // ... but a token works there too
    IstioCertificateServiceClient::new(ch)
        .create_certificate(request(&pem2, 0, Some(&token)))
        .await
        .expect("token over TLS");

    // a client certificate from another CA does not get through the handshake
    let foreign = tempfile::tempdir().unwrap();
    let files =
        mastd::ca::authority::SigningCa::generate_root(TD, Duration::from_secs(3600)).unwrap();
    files.write(foreign.path()).unwrap();
    let other = mastd::ca::authority::SigningCa::from_files(&files).unwrap();
    let k = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let (fake, _) = other
        .sign_workload(
            &k,
            &SpiffeId::new(TD, "shop", "cart"),
            Duration::from_secs(600),
        )
        .unwrap();
    let r = match tls_channel(
        running.ca.secure_grpc_addr,
        &root,
        Some((&fake, &k.serialize_pem())),
    )
    .await
    {
        Err(e) => Err(e.to_string()),
        Ok(ch) => IstioCertificateServiceClient::new(ch)
            .create_certificate(request(&pem2, 0, None))
            .await
            .map(|_| ())
            .map_err(|s| s.to_string()),
    };
    assert!(r.is_err(), "a foreign client certificate was accepted");

    // the server certificate names istiod.<ns>.svc and chains to the mesh root
    let issued = ca
        .issue_server(&[SERVER_NAME.to_string()], Duration::from_secs(60))
        .unwrap();
    let server_leaf = X509Certificate::from_der(&issued.chain[0]).unwrap().1;
    assert!(
        format!(
            "{:?}",
            server_leaf
                .subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
        )
        .contains(SERVER_NAME)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_root_and_token_key_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let first = mastd::app::start(args(state.path())).await.unwrap();
    let root = first.ca.mesh_ca.root_pem();
    let token = first.ca.mesh_ca.token_key().mint("shop", "cart", 600);
    drop(first);

    for (f, mode) in [
        ("ca/ca-key.pem", 0o600),
        ("token/signing-key.pem", 0o600),
        ("ca/root-cert.pem", 0o644),
        ("ca", 0o700),
        ("token", 0o700),
    ] {
        let m = std::fs::metadata(state.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, mode, "{f}");
    }

    let second = mastd::app::start(args(state.path())).await.unwrap();
    assert_eq!(
        second.ca.mesh_ca.root_pem(),
        root,
        "same root after a restart"
    );
    let (_k, pem) = csr(&[]);
    let chain = plain(second.grpc_addr)
        .await
        .create_certificate(request(&pem, 0, Some(&token)))
        .await
        .expect("a token of the first run is still good")
        .into_inner()
        .cert_chain;
    assert_eq!(chain.last().unwrap(), &root);
}

/// A root (O=`org`) and an intermediate signed by it, as a cacerts directory's files.
fn plugged_files(org: &str) -> mastd::ca::authority::CaFiles {
    let root = mastd::ca::authority::SigningCa::generate_root(org, Duration::from_secs(86400 * 30))
        .unwrap();
    let root_key = KeyPair::from_pem(&root.ca_key).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&root.ca_cert, root_key).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, org);
    params
        .distinguished_name
        .push(DnType::CommonName, "Intermediate CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = std::time::SystemTime::now();
    params.not_before = (now - Duration::from_secs(60)).into();
    params.not_after = (now + Duration::from_secs(86400 * 7)).into();
    let cert = params.signed_by(&key, &issuer).unwrap();
    mastd::ca::authority::CaFiles {
        ca_cert: cert.pem(),
        ca_key: key.serialize_pem(),
        root_cert: root.root_cert.clone(),
        cert_chain: format!("{}{}", cert.pem(), root.root_cert),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugged_in_ca_is_reloaded_and_both_roots_are_trusted() {
    let state = tempfile::tempdir().unwrap();
    let cacerts = tempfile::tempdir().unwrap();
    let a = plugged_files("root-a");
    a.write(cacerts.path()).unwrap();
    let mut args = args(state.path());
    args.ca_cert_dir = Some(cacerts.path().to_path_buf());
    let running = mastd::app::start(args).await.unwrap();
    let ca = running.ca.mesh_ca.clone();
    let token = ca.token_key().mint("shop", "cart", 600);
    let mut client = plain(running.grpc_addr).await;
    let (_k, pem) = csr(&[&id("shop", "cart")]);

    let chain = client
        .create_certificate(request(&pem, 0, Some(&token)))
        .await
        .unwrap()
        .into_inner()
        .cert_chain;
    assert_eq!(chain.len(), 3, "leaf, intermediate, root");
    assert_eq!(chain[1], a.ca_cert);
    assert_eq!(chain[2], a.root_cert);
    assert!(Parsed::new(&chain[0]).signed_by(&Parsed::new(&chain[1])));
    assert!(
        !state.path().join("ca").exists(),
        "no self-signed root when plugged in"
    );

    // broken files (a key that is not the certificate's) are not taken
    let b = plugged_files("root-b");
    std::fs::write(cacerts.path().join("ca-key.pem"), &b.ca_key).unwrap();
    let e = ca.reload().unwrap_err();
    assert!(e.contains("does not match"), "{e}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let chain = client
        .create_certificate(request(&pem, 0, Some(&token)))
        .await
        .expect("still signing with the old CA")
        .into_inner()
        .cert_chain;
    assert_eq!(chain[1], a.ca_cert);

    // the whole new CA (root B) is copied in: picked up without a restart
    b.write(cacerts.path()).unwrap();
    let mut chain = Vec::new();
    for _ in 0..100 {
        chain = client
            .create_certificate(request(&pem, 0, Some(&token)))
            .await
            .unwrap()
            .into_inner()
            .cert_chain;
        if chain[1] == b.ca_cert {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chain[1], b.ca_cert, "the new CA signs");
    assert!(Parsed::new(&chain[0]).signed_by(&Parsed::new(&b.ca_cert)));
    let bundle = chain.last().unwrap();
    assert_eq!(pem_count(bundle), 2, "both roots trusted: {bundle}");
    assert!(bundle.starts_with(&b.root_cert), "the new root first");
    assert!(bundle.contains(&a.root_cert), "the old root still trusted");
    assert_eq!(
        ca.trust_bundle(),
        vec![b.root_cert.clone(), a.root_cert.clone()]
    );

    // the TLS port now presents a certificate from the new CA (verified with root B alone),
    // and a client certificate issued under the old root A is still accepted
    let old_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let old_signer = mastd::ca::authority::SigningCa::from_files(&a).unwrap();
    let (old_leaf, _) = old_signer
        .sign_workload(
            &old_key,
            &SpiffeId::new(TD, "shop", "cart"),
            Duration::from_secs(600),
        )
        .unwrap();
    let old_chain = format!("{old_leaf}{}", a.ca_cert);
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(ch) = tls_channel(
            running.ca.secure_grpc_addr,
            &b.root_cert,
            Some((&old_chain, &old_key.serialize_pem())),
        )
        .await
        {
            let r = IstioCertificateServiceClient::new(ch)
                .create_certificate(request(&pem, 0, None))
                .await;
            let chain = r
                .expect("renewal with a certificate under the old root")
                .into_inner()
                .cert_chain;
            assert_eq!(chain[1], b.ca_cert);
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the TLS port did not move to the new CA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastctl_token_on_defaults_is_accepted() {
    // mastd and mastctl agree on the default state directory ($HOME/.mast/state): mastd is
    // given that path, mastctl only HOME
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join(".mast/state");
    let running = mastd::app::start(args(&state)).await.unwrap();
    let mastctl = mast_test::bins::bin("mastctl", "mastctl");
    let out = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || {
            std::process::Command::new(mastctl)
                .args([
                    "workload",
                    "token",
                    "--namespace",
                    "shop",
                    "--service-account",
                    "cart",
                    "--ttl",
                    "10m",
                ])
                .env("HOME", &home)
                .env_remove("MAST_STATE_DIR")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (_k, pem) = csr(&[]);
    let chain = plain(running.grpc_addr)
        .await
        .create_certificate(request(&pem, 0, Some(&token)))
        .await
        .expect("mastctl's token is accepted")
        .into_inner()
        .cert_chain;
    assert_eq!(Parsed::new(&chain[0]).uris(), vec![id("shop", "cart")]);

    // without mastd's key, mastctl says where it looked
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(mast_test::bins::bin("mastctl", "mastctl"))
        .args(["workload", "token", "-n", "shop", "-s", "cart"])
        .env("HOME", empty.path())
        .env_remove("MAST_STATE_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token signing key") && err.contains(".mast/state"),
        "{err}"
    );
}
