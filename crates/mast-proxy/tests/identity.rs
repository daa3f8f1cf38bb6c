//! Workload identity end to end with the real CA: mastd in-process (state in a temp dir, TLS
//! port on an ephemeral port), two proxies that get their certificates from mastd's CA with a
//! token (no `--certDir`), a request and a TCP stream between them over mTLS; certificates of a
//! few seconds rotate several times while the TCP stream stays open, new connections present
//! the new certificate; the SDS socket answers `default` and `ROOTCA` and pushes new versions;
//! `/certs` reports the chain.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{addr, spiffe};
use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{Secret, secret};
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_client::SecretDiscoveryServiceClient;
use mast_proxy::identity::CertInfo;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(net: [u8; 3]) -> String {
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: default
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - number: 9080
    name: http
    protocol: HTTP
  - number: 7000
    name: tcp
    protocol: TCP
  resolution: STATIC
  workloadSelector:
    labels:
      app: echo
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: echo-1
  namespace: default
spec:
  address: {echo}
  labels:
    app: echo
  serviceAccount: echo
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {client}
    captureMode: NONE
    hosts: ["./*"]
  - port:
      number: 7000
      protocol: TCP
      name: tcp
    bind: {client}
    captureMode: NONE
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: echo
  namespace: default
spec:
  workloadSelector:
    labels:
      app: echo
  ingress:
  - port:
      number: 9080
      protocol: HTTP
      name: http
    bind: {echo}
    defaultEndpoint: 0.0.0.0:8080
    captureMode: NONE
  - port:
      number: 7000
      protocol: TCP
      name: tcp
    bind: {echo}
    defaultEndpoint: 0.0.0.0:7001
    captureMode: NONE
  egress:
  - hosts: ["./*"]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
"#,
        client = ip(1),
        echo = ip(2),
    )
}

fn mastd_args(cfg: &Path, state: &Path) -> mastd::args::Args {
    use clap::Parser;
    let mut a = mastd::args::Args::try_parse_from(["mastd"]).unwrap();
    a.config_dir = Some(cfg.to_path_buf());
    a.state_dir = Some(state.to_path_buf());
    a.grpc_addr = "127.0.0.1:0".parse().unwrap();
    a.secure_grpc_addr = Some("127.0.0.1:0".parse().unwrap());
    a.monitoring_addr = "127.0.0.1:0".parse().unwrap();
    a.file_debounce = Duration::from_millis(50);
    a.debounce_after = Duration::from_millis(20);
    a
}

/// An echo that answers every read at once (a TCP stream with many round trips).
async fn start_line_echo(at: std::net::SocketAddr) {
    let sock = tokio::net::TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

fn certs(h: &mast_proxy::Handle) -> serde_json::Value {
    let a = h.admin_addr;
    std::thread::spawn(move || {
        mast_xds::http::get(a, "/certs")
            .unwrap()
            .try_json()
            .unwrap()
    })
    .join()
    .unwrap()
}

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn leaf_der(i: &mast_proxy::identity::Issued) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(i.chain_pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// The serial of the certificate `to` presents to a new TLS connection (client certificate
/// `me`, roots `me`'s bundle).
async fn presented_serial(to: std::net::SocketAddr, me: &mast_proxy::identity::Issued) -> String {
    use mast_proxy::tls::{KeySource, Params, RootSource, client_config};
    let key = KeySource::from_pem(me.chain_pem.as_bytes(), me.key_pem.as_bytes()).unwrap();
    let roots = RootSource::from_pem(me.roots_pem.as_bytes()).unwrap();
    let cfg = client_config(
        Some(&key),
        Some(&roots),
        &[],
        &["istio-http/1.1".into(), "istio".into(), "http/1.1".into()],
        &Params::default(),
    )
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(to).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect("echo.default".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the server proxy");
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    CertInfo::parse(&der).unwrap().serial
}

async fn sds_client(path: &Path) -> SecretDiscoveryServiceClient<tonic::transport::Channel> {
    let path = path.to_path_buf();
    let ch = tonic::transport::Endpoint::try_from("http://sds.local")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_| {
            let p = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(p).await?,
                ))
            }
        }))
        .await
        .expect("SDS socket connects");
    SecretDiscoveryServiceClient::new(ch)
}

fn pem_of(s: &Secret) -> String {
    let ds = match s.r#type.as_ref().unwrap() {
        secret::Type::TlsCertificate(t) => t.certificate_chain.as_ref().unwrap(),
        secret::Type::ValidationContext(v) => v.trusted_ca.as_ref().unwrap(),
        other => panic!("unexpected secret {other:?}"),
    };
    match ds.specifier.as_ref().unwrap() {
        Specifier::InlineBytes(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not inline: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_the_ca_rotate_under_open_connections() {
    common::init_tracing();
    let net = common::loopback_net();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config(net)).unwrap();
    let mastd = mastd::app::start(mastd_args(cfg_dir.path(), state.path()))
        .await
        .expect("mastd starts");
    let key = mastd.ca.mesh_ca.token_key();
    common::start_app(addr(net, 2, 8080), "echo").await;
    start_line_echo(addr(net, 2, 7001)).await;
    let sock_dir = tempfile::tempdir().unwrap();
    let sds_path = sock_dir.path().join("SDS");
    let start = |pod: &'static str, host: u8, sds: Option<std::path::PathBuf>| {
        let mut c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[&format!("app={pod}")],
            None,
        );
        c.ca_address = Some(mastd.ca.secure_grpc_addr.to_string());
        c.ca_root_cert = Some(state.path().join("ca/root-cert.pem"));
        // the token is only good for a few seconds: renewals must use the mesh certificate
        let tf = state.path().join(format!("{pod}.token"));
        std::fs::write(&tf, key.mint("default", pod, 4)).unwrap();
        c.token_file = Some(tf);
        c.secret_ttl = Duration::from_secs(4);
        c.ca_retry_initial = Duration::from_millis(100);
        c.ca_retry_max = Duration::from_millis(500);
        c.sds_socket = sds;
        common::start_proxy(c)
    };
    let client = start("client", 1, Some(sds_path.clone())).await;
    let server = start("echo", 2, None).await;
    let first_client = common::eventually("client certificate", || client.identity()).await;
    let first_server = common::eventually("server certificate", || server.identity()).await;
    assert_eq!(first_client.leaf().uris, vec![spiffe("client")]);
    assert_eq!(first_server.leaf().uris, vec![spiffe("echo")]);
    assert_eq!(first_client.lifetime(), Duration::from_secs(4));
    common::eventually("proxies ready", || {
        (client.is_ready() && server.is_ready()).then_some(())
    })
    .await;

    // from now on the tokens are useless: renewals must authenticate with the mesh certificate
    for pod in ["client", "echo"] {
        std::fs::write(state.path().join(format!("{pod}.token")), "not-a-token").unwrap();
    }

    // a request over mTLS with the CA's certificates
    let g = common::get_until(
        addr(net, 1, 9080),
        "echo.default.svc.cluster.local:9080",
        "/id",
        200,
    )
    .await;
    let xfcc = g.json()["xfcc"].as_str().unwrap().to_string();
    assert!(
        xfcc.contains(&format!("URI={}", spiffe("client"))),
        "{xfcc}"
    );

    // SDS: `default` and `ROOTCA`
    let mut sds = sds_client(&sds_path).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(DiscoveryRequest {
        resource_names: vec!["default".into()],
        type_url: mast_xds::types::SECRET.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut stream = sds
        .stream_secrets(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let r1 = stream.message().await.unwrap().unwrap();
    let s1 = Secret::decode(r1.resources[0].value.as_slice()).unwrap();
    assert_eq!(s1.name, "default");
    assert!(pem_of(&s1).contains("BEGIN CERTIFICATE"));
    let root = sds
        .fetch_secrets(DiscoveryRequest {
            resource_names: vec!["ROOTCA".into()],
            type_url: mast_xds::types::SECRET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rs = Secret::decode(root.resources[0].value.as_slice()).unwrap();
    assert_eq!(rs.name, "ROOTCA");
    assert_eq!(
        pem_of(&rs).trim(),
        std::fs::read_to_string(state.path().join("ca/root-cert.pem"))
            .unwrap()
            .trim()
    );
    // a name this server does not have is refused
    let st = sds
        .fetch_secrets(DiscoveryRequest {
            resource_names: vec!["file-cert:/x~/y".into()],
            type_url: mast_xds::types::SECRET.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound, "{st}");
    assert!(st.message().contains("ROOTCA"), "{st}");
    // ACK, then the next version is pushed at rotation
    tx.send(DiscoveryRequest {
        version_info: r1.version_info.clone(),
        resource_names: vec!["default".into()],
        type_url: mast_xds::types::SECRET.into(),
        response_nonce: r1.nonce.clone(),
        ..Default::default()
    })
    .await
    .unwrap();

    // a long-lived TCP stream through both proxies
    let mut tcp = tokio::net::TcpStream::connect(addr(net, 1, 7000))
        .await
        .unwrap();
    let echo = async |tcp: &mut tokio::net::TcpStream, n: u32| {
        let msg = format!("ping {n}\n");
        tcp.write_all(msg.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no echo for round {n}"))
            .unwrap_or_else(|e| panic!("stream broken at round {n}: {e}"));
        assert_eq!(String::from_utf8(buf).unwrap(), msg);
    };
    echo(&mut tcp, 0).await;

    let r2 = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("SDS pushes after rotation")
        .unwrap()
        .unwrap();
    assert_ne!(r2.version_info, r1.version_info);
    let s2 = Secret::decode(r2.resources[0].value.as_slice()).unwrap();
    assert_ne!(pem_of(&s2), pem_of(&s1), "a new certificate");

    // several rotations (4 s lifetime, renewed at ~2 s), the stream open throughout; the
    // token files hold garbage, so the renewals used the mesh certificate
    let mut client_hashes = vec![sha256_hex(&leaf_der(&first_client))];
    let mut server_serials = vec![first_server.leaf().serial.clone()];
    for n in 1..=10 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        echo(&mut tcp, n).await;
        if let Some(c) = client.identity() {
            let h = sha256_hex(&leaf_der(&c));
            if !client_hashes.contains(&h) {
                client_hashes.push(h);
            }
        }
        if let Some(s) = server.identity()
            && !server_serials.contains(&s.leaf().serial)
        {
            server_serials.push(s.leaf().serial.clone());
        }
    }
    assert!(
        client_hashes.len() >= 3,
        "client rotated {} times",
        client_hashes.len() - 1
    );
    assert!(
        server_serials.len() >= 3,
        "server rotated {} times",
        server_serials.len() - 1
    );
    assert!(client.identity().unwrap().version >= 3);

    // a new connection to the server proxy presents its current certificate
    let me = client.identity().unwrap();
    let now_serial = server.identity().unwrap().leaf().serial.clone();
    let presented = presented_serial(addr(net, 2, 9080), &me).await;
    assert!(
        presented == now_serial || server.identity().unwrap().leaf().serial != now_serial,
        "new connection got {presented}, current is {now_serial}"
    );
    assert_ne!(presented, first_server.leaf().serial);
    // requests keep flowing, with one of the client's mesh certificates
    let g = common::get_until(
        addr(net, 1, 9080),
        "echo.default.svc.cluster.local:9080",
        "/again",
        200,
    )
    .await;
    let xfcc = g.json()["xfcc"].as_str().unwrap().to_string();
    client_hashes.push(sha256_hex(&leaf_der(&client.identity().unwrap())));
    assert!(
        client_hashes
            .iter()
            .any(|h| xfcc.contains(&format!("Hash={h}"))),
        "{xfcc}"
    );

    // /certs: Envoy's shape
    let j = certs(&client);
    let chain = &j["certificates"][0]["cert_chain"][0];
    assert_eq!(chain["subject_alt_names"][0]["uri"], spiffe("client"));
    assert_eq!(
        chain["serial_number"],
        client.identity().unwrap().leaf().serial.as_str()
    );
    assert_eq!(chain["days_until_expiration"], "0");
    assert!(j["certificates"][0]["ca_cert"][0]["serial_number"].is_string());

    // /config_dump: Envoy's SecretsConfigDump, the key redacted
    let a = client.admin_addr;
    let dump = std::thread::spawn(move || {
        mast_xds::http::get(a, "/config_dump")
            .unwrap()
            .try_json()
            .unwrap()
    })
    .join()
    .unwrap();
    let secrets = dump["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["@type"] == "type.googleapis.com/envoy.admin.v3.SecretsConfigDump")
        .expect("a SecretsConfigDump");
    let d = &secrets["dynamic_active_secrets"];
    assert_eq!(d[0]["name"], "default");
    assert_eq!(d[1]["name"], "ROOTCA");
    let tls = &d[0]["secret"]["tlsCertificate"];
    assert!(tls["certificateChain"]["inlineBytes"].is_string(), "{d}");
    assert_eq!(tls["privateKey"]["inlineBytes"], "W3JlZGFjdGVkXQ==", "{d}");
}

/// Plaintext to the CA (`--caInsecure`, mastd's 15010) with a token file that is wrong at
/// first: the proxy retries with backoff and gets its certificate once the file is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_ca_with_retries_until_the_token_is_good() {
    common::init_tracing();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mastd = mastd::app::start(mastd_args(cfg_dir.path(), state.path()))
        .await
        .expect("mastd starts");
    let tf = state.path().join("web.token");
    std::fs::write(&tf, "garbage").unwrap();
    let mut c = common::proxy_config(
        mastd.grpc_addr,
        "web-1",
        "web",
        "127.0.0.1".parse().unwrap(),
        &[],
        None,
    );
    c.ca_insecure = true;
    // the default CA address: the discovery host on 15010 in plaintext
    assert_eq!(
        c.ca_options().map(|o| o.address),
        None,
        "no token, no --caAddress: no CA"
    );
    c.token_file = Some(tf.clone());
    assert_eq!(
        c.ca_options().unwrap().address,
        format!("{}:15010", mastd.grpc_addr.ip())
    );
    c.ca_address = Some(mastd.grpc_addr.to_string());
    c.ca_retry_initial = Duration::from_millis(100);
    c.ca_retry_max = Duration::from_millis(300);
    let proxy = common::start_proxy(c).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(proxy.identity().is_none(), "a bad token gets nothing");
    let token = mastd.ca.mesh_ca.token_key().mint("default", "web", 600);
    std::fs::write(&tf, format!("{token}\n")).unwrap();
    let got = common::eventually("a certificate after the token is fixed", || {
        proxy.identity()
    })
    .await;
    assert_eq!(got.leaf().uris, vec![spiffe("web")]);
    assert!(
        got.source.contains(&mastd.grpc_addr.to_string()),
        "{}",
        got.source
    );
    // 24 h asked for (the default --secretTTL)
    assert_eq!(got.lifetime(), Duration::from_secs(24 * 3600));
}
