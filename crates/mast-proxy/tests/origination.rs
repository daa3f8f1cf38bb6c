//! DestinationRule TLS modes toward a server outside the mesh, with the real mastd: the app
//! sends plain HTTP to its proxy, which originates TLS (`SIMPLE`: the server verified against
//! `caCertificates` and the `sni`; `MUTUAL`: with the client certificate of `clientCertificate`
//! / `privateKey`, which the server requires) or sends plaintext (`DISABLE`). The rule is
//! rewritten between phases; a server certificate from another CA is refused (503 UF).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HOST: &str = "api.example.com:8443";

fn config(client: &str, server: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
  namespace: default
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  ports:
  - {{number: 8443, name: http, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - address: {server}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: client
  namespace: default
spec:
  address: {client}
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
  - {{port: {{number: 8443, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
---
"#
    )
}

fn rule(tls: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api
  namespace: default
spec:
  host: api.example.com
  trafficPolicy:
    tls:
{tls}"
    )
}

/// A CA that signs server and client certificates into files.
struct Pki {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Pki { key, params }
    }

    fn root_pem(&self) -> String {
        self.params.clone().self_signed(&self.key).unwrap().pem()
    }

    /// A leaf for DNS name `dns` (and CN `dns`): (cert PEM, key PEM).
    fn leaf(&self, dns: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(vec![dns.to_string()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, dns);
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

fn pem_certs(pem: &str) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

/// An HTTPS server (HTTP/1.1 over TLS, answering one request a connection) with `cert`;
/// requiring a client certificate from `client_ca` when given. Its answer says whether the
/// client presented a certificate.
async fn https_server(at: SocketAddr, cert: (String, String), client_ca: Option<String>) {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in pem_certs(&ca) {
                roots.add(c).unwrap();
            }
            builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap(),
            )
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(
            pem_certs(&cert.0),
            PrivateKeyDer::from_pem_slice(cert.1.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = sock.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("").to_string();
                let client_cert = tls.get_ref().1.peer_certificates().is_some();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("tls sni={sni} client_cert={client_cert}");
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
}

/// A plain HTTP/1.1 server answering `plain`.
async fn http_server(at: SocketAddr) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nplain",
                    )
                    .await;
            });
        }
    });
}

/// Polls until the answer through the proxy satisfies `want` (a rule change has arrived).
async fn until(front: SocketAddr, what: &str, want: impl Fn(u16, &str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = common::request(front, HOST, "/", &[]).await;
        if let Ok(g) = &got
            && want(g.status, &g.body)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: last {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_rule_tls_modes_originate_tls() {
    common::init_tracing();
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let pki = Pki::new("Example CA");
    let other = Pki::new("Some other CA");
    std::fs::write(files.join("ca.pem"), pki.root_pem()).unwrap();
    std::fs::write(files.join("other-ca.pem"), other.root_pem()).unwrap();
    let (cert, key) = pki.leaf("client.example.com");
    std::fs::write(files.join("client.pem"), cert).unwrap();
    std::fs::write(files.join("client-key.pem"), key).unwrap();
    let f = |n: &str| files.join(n).display().to_string();

    // the server: TLS on .2 (client certificate required on .3), plaintext on .4
    let server_cert = pki.leaf("api.example.com");
    https_server(addr(net, 2, 8443), server_cert.clone(), None).await;
    https_server(addr(net, 3, 8443), server_cert, Some(pki.root_pem())).await;
    http_server(addr(net, 4, 8443)).await;

    std::fs::write(cfg.join("mesh.yaml"), config(&ip(1), &ip(2))).unwrap();
    let rule_file = cfg.join("rule.yaml");
    std::fs::write(
        &rule_file,
        rule(&format!(
            "      mode: SIMPLE\n      caCertificates: {}\n      sni: api.example.com\n",
            f("ca.pem")
        )),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mastd = mastd::app::start(common::mastd_args(&cfg, state.path()))
        .await
        .expect("mastd starts");
    let c = common::proxy_config(
        mastd.grpc_addr,
        "client",
        "client",
        addr(net, 1, 0).ip(),
        &["app=client"],
        None,
    );
    let client = common::start_proxy(c).await;
    let front = addr(net, 1, 8443);

    // SIMPLE: TLS with the SNI, the server verified, no client certificate
    until(front, "SIMPLE", |s, b| {
        s == 200 && b == "tls sni=api.example.com client_cert=false"
    })
    .await;
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // SIMPLE against roots that did not sign the server: refused, 503
    std::fs::write(
        &rule_file,
        rule(&format!(
            "      mode: SIMPLE\n      caCertificates: {}\n      sni: api.example.com\n",
            f("other-ca.pem")
        )),
    )
    .unwrap();
    until(front, "SIMPLE with other roots", |s, _| s == 503).await;

    // MUTUAL: the server on .3 requires the client certificate
    std::fs::write(cfg.join("mesh.yaml"), config(&ip(1), &ip(3))).unwrap();
    std::fs::write(
        &rule_file,
        rule(&format!(
            "      mode: MUTUAL\n      clientCertificate: {}\n      privateKey: {}\n      caCertificates: {}\n      sni: api.example.com\n",
            f("client.pem"),
            f("client-key.pem"),
            f("ca.pem")
        )),
    )
    .unwrap();
    until(front, "MUTUAL", |s, b| {
        s == 200 && b == "tls sni=api.example.com client_cert=true"
    })
    .await;

    // DISABLE: plaintext to the plain server on .4
    std::fs::write(cfg.join("mesh.yaml"), config(&ip(1), &ip(4))).unwrap();
    std::fs::write(&rule_file, rule("      mode: DISABLE\n")).unwrap();
    until(front, "DISABLE", |s, b| s == 200 && b == "plain").await;
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());
}
