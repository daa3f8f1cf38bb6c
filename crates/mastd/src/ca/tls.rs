//! The TLS gRPC server (15012): ADS and the CA behind a server certificate for
//! `istiod.<ns>.svc` (and `--caHostnames`) issued by the mesh CA, re-issued at half its life
//! and whenever the CA changes. Client certificates are asked for but optional; one that is
//! presented must chain to the current trust bundle (checked again at each handshake, so a
//! root change is seen at once).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use mast_xds::ca::IstioCertificateServiceServer;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::service::CaService;
use super::{CaError, MeshCa};

/// Lifetime of the server certificate (re-issued at half of it).
pub const SERVER_CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The crypto provider mastd uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client certificates checked against the CA's current trust bundle.
#[derive(Debug)]
pub struct MeshClientVerifier {
    ca: Arc<MeshCa>,
    provider: Arc<CryptoProvider>,
    cached: Mutex<(Vec<CertificateDer<'static>>, Arc<dyn ClientCertVerifier>)>,
}

impl MeshClientVerifier {
    /// A verifier over `ca`'s bundle.
    pub fn new(ca: Arc<MeshCa>) -> Result<MeshClientVerifier, String> {
        let provider = provider();
        let bundle = ca.trust_bundle_der();
        let v = Self::build(&bundle, &provider)?;
        Ok(MeshClientVerifier {
            ca,
            provider,
            cached: Mutex::new((bundle, v)),
        })
    }

    fn build(
        bundle: &[CertificateDer<'static>],
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ClientCertVerifier>, String> {
        let mut roots = RootCertStore::empty();
        for c in bundle {
            roots
                .add(c.clone())
                .map_err(|e| format!("trust bundle: {e}"))?;
        }
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client verifier: {e}"))
    }

    fn current(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let bundle = self.ca.trust_bundle_der();
        let mut c = self.cached.lock().expect("verifier cache");
        if c.0 != bundle {
            let v = Self::build(&bundle, &self.provider).map_err(rustls::Error::General)?;
            *c = (bundle, v);
        }
        Ok(c.1.clone())
    }
}

impl ClientCertVerifier for MeshClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()?
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server certificate, swapped when re-issued.
#[derive(Debug)]
pub struct ServerCert {
    current: ArcSwap<CertifiedKey>,
    not_after: Mutex<SystemTime>,
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn issue(
    ca: &MeshCa,
    hostnames: &[String],
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, SystemTime), String> {
    let issued = ca.issue_server(hostnames, SERVER_CERT_TTL)?;
    let key = provider
        .key_provider
        .load_private_key(issued.key)
        .map_err(|e| format!("server key: {e}"))?;
    Ok((CertifiedKey::new(issued.chain, key), issued.not_after))
}

impl ServerCert {
    /// Issues the first certificate and keeps it fresh: again at half its life and when the
    /// CA changes.
    pub fn start(ca: Arc<MeshCa>, hostnames: Vec<String>) -> Result<Arc<ServerCert>, CaError> {
        let provider = provider();
        let (ck, not_after) =
            issue(&ca, &hostnames, &provider).map_err(|message| CaError::Invalid {
                source_desc: ca.describe(),
                message: format!("cannot issue the server certificate: {message}"),
            })?;
        let sc = Arc::new(ServerCert {
            current: ArcSwap::from_pointee(ck),
            not_after: Mutex::new(not_after),
        });
        let weak = Arc::downgrade(&sc);
        let mut changes = ca.subscribe();
        tokio::spawn(async move {
            loop {
                let wait = {
                    let Some(sc) = weak.upgrade() else { return };
                    let na = *sc.not_after.lock().expect("not_after");
                    na.duration_since(SystemTime::now())
                        .unwrap_or_default()
                        .checked_div(2)
                        .unwrap_or_default()
                        .max(Duration::from_secs(1))
                };
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(wait) => {}
                }
                let Some(sc) = weak.upgrade() else { return };
                match issue(&ca, &hostnames, &provider) {
                    Ok((ck, na)) => {
                        sc.current.store(Arc::new(ck));
                        *sc.not_after.lock().expect("not_after") = na;
                        tracing::info!(hosts = ?hostnames, "re-issued the TLS server certificate");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot re-issue the TLS server certificate");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            }
        });
        Ok(sc)
    }
}

/// The rustls server configuration of the secure port.
pub fn server_config(
    ca: Arc<MeshCa>,
    hostnames: Vec<String>,
) -> Result<rustls::ServerConfig, CaError> {
    let invalid = |message: String| CaError::Invalid {
        source_desc: ca.describe(),
        message,
    };
    let verifier = MeshClientVerifier::new(ca.clone()).map_err(invalid)?;
    let cert = ServerCert::start(ca.clone(), hostnames)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Serves ADS and the CA over TLS on `listener`; returns its address.
pub fn serve(
    listener: TcpListener,
    ca: Arc<MeshCa>,
    hostnames: Vec<String>,
    ads: crate::xds::server::grpc::AdsServer,
    ca_svc: IstioCertificateServiceServer<CaService>,
) -> Result<SocketAddr, CaError> {
    let cfg = server_config(ca, hostnames)?;
    let local = listener.local_addr().map_err(|source| CaError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let (tx, rx) = mpsc::channel::<Result<_, std::io::Error>>(64);
    tokio::spawn(async move {
        loop {
            let (sock, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "secure gRPC accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(ads)
            .add_service(ca_svc)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!(error = %e, "secure gRPC server stopped");
        }
    });
    Ok(local)
}
