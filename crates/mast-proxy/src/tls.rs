//! mTLS with the workload certificate: where the certificate comes from ([`CertSource`], swapped
//! at runtime so that rotation needs no restart), the rustls client and server configurations
//! that xDS TLS contexts compile into, and SPIFFE identity checks ([`verify`]).
//!
//! Istio's SDS names map onto sources: `default` is the workload certificate, `ROOTCA` the
//! mesh root, `file-cert:CERT~KEY` and `file-root:CA` files read when the config is compiled.
//! The workload certificate is read from `--certDir` (`cert-chain.pem`, `key.pem`,
//! `root-cert.pem`) or fetched from mastd's CA and rotated by [`crate::identity`]; both feed the
//! same source.

pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

/// File names in `--certDir`, as Istio's agent writes them.
pub const CERT_CHAIN_FILE: &str = "cert-chain.pem";
/// The private key file.
pub const KEY_FILE: &str = "key.pem";
/// The root certificate file.
pub const ROOT_FILE: &str = "root-cert.pem";

/// Why TLS material could not be loaded or a configuration built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The material is unusable (no certificate, bad key, bad root).
    #[error("{0}")]
    Material(String),
    /// rustls refused the parameters.
    #[error("TLS parameters: {0}")]
    Params(String),
}

/// The ring provider, the only one Mast uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and key with the roots to check peers against, ready for handshakes.
#[derive(Debug)]
pub struct Identity {
    /// The certificate chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// Roots peers are checked against.
    pub roots: Arc<RootCertStore>,
    /// A client-certificate verifier over `roots` (built once per identity).
    pub client_verifier: Arc<dyn ClientCertVerifier>,
    /// The SPIFFE ID of the certificate (its first URI SAN), if any.
    pub spiffe_id: Option<String>,
}

impl Identity {
    /// Builds an identity from PEM text.
    pub fn from_pem(chain: &[u8], key: &[u8], roots: &[u8]) -> Result<Identity, TlsError> {
        let certs = parse_certs(chain)?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Material(format!("private key: {e}")))?;
        let signer = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Material(format!("private key: {e}")))?;
        let spiffe_id = verify::uri_sans(&certs[0]).into_iter().next();
        let roots = Arc::new(root_store(roots)?);
        Ok(Identity {
            key: Arc::new(CertifiedKey::new(certs, signer)),
            client_verifier: client_verifier(&roots)?,
            roots,
            spiffe_id,
        })
    }
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Material(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Material("no certificate in PEM".into()));
    }
    Ok(certs)
}

/// A root store from PEM certificates.
pub fn root_store(pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in parse_certs(pem)? {
        store
            .add(c)
            .map_err(|e| TlsError::Material(format!("root certificate: {e}")))?;
    }
    Ok(store)
}

fn client_verifier(roots: &Arc<RootCertStore>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(|e| TlsError::Material(format!("client verifier: {e}")))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads `cert-chain.pem`, `key.pem` and `root-cert.pem` from `dir`.
pub fn load_dir(dir: &Path) -> Result<Identity, TlsError> {
    Identity::from_pem(
        &read(&dir.join(CERT_CHAIN_FILE))?,
        &read(&dir.join(KEY_FILE))?,
        &read(&dir.join(ROOT_FILE))?,
    )
}

/// The workload identity, swapped atomically when the certificate rotates. Handshakes read it
/// through the resolvers and verifiers below, so configurations never need rebuilding.
#[derive(Debug, Default)]
pub struct CertSource {
    current: ArcSwapOption<Identity>,
}

impl CertSource {
    /// A source with no certificate yet.
    pub fn empty() -> Arc<CertSource> {
        Arc::new(CertSource::default())
    }

    /// Installs a new identity; later handshakes use it, established connections keep theirs.
    pub fn set(&self, id: Identity) {
        tracing::info!(spiffe_id = ?id.spiffe_id, "workload certificate installed");
        self.current.store(Some(Arc::new(id)));
    }

    /// The current identity.
    pub fn current(&self) -> Option<Arc<Identity>> {
        self.current.load_full()
    }
}

/// Where a context's own certificate comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The workload certificate (SDS `default`).
    Workload(Arc<CertSource>),
    /// A certificate loaded when the config was compiled (`file-cert:`).
    Static(Arc<CertifiedKey>),
}

impl KeySource {
    fn get(&self) -> Option<Arc<CertifiedKey>> {
        match self {
            KeySource::Workload(s) => s.current().map(|i| i.key.clone()),
            KeySource::Static(k) => Some(k.clone()),
        }
    }

    /// A static certificate from PEM text.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<KeySource, TlsError> {
        let certs = parse_certs(chain)?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Material(format!("private key: {e}")))?;
        let signer = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Material(format!("private key: {e}")))?;
        Ok(KeySource::Static(Arc::new(CertifiedKey::new(
            certs, signer,
        ))))
    }

    /// Loads `file-cert:CERT~KEY` material.
    pub fn from_files(cert: &Path, key: &Path) -> Result<KeySource, TlsError> {
        KeySource::from_pem(&read(cert)?, &read(key)?)
    }
}

/// Where the roots that check peers come from.
#[derive(Debug, Clone)]
pub enum RootSource {
    /// The mesh root of the workload identity (SDS `ROOTCA`).
    Workload(Arc<CertSource>),
    /// Roots loaded when the config was compiled (`file-root:`), with their client verifier.
    Static(Arc<RootCertStore>, Arc<dyn ClientCertVerifier>),
}

impl RootSource {
    /// Static roots from PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<RootSource, TlsError> {
        let roots = Arc::new(root_store(pem)?);
        let v = client_verifier(&roots)?;
        Ok(RootSource::Static(roots, v))
    }

    /// Loads `file-root:CA` material.
    pub fn from_file(path: &Path) -> Result<RootSource, TlsError> {
        RootSource::from_pem(&read(path)?)
    }

    fn roots(&self) -> Option<Arc<RootCertStore>> {
        match self {
            RootSource::Workload(s) => s.current().map(|i| i.roots.clone()),
            RootSource::Static(r, _) => Some(r.clone()),
        }
    }

    fn client_verifier(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        match self {
            RootSource::Workload(s) => s.current().map(|i| i.client_verifier.clone()),
            RootSource::Static(_, v) => Some(v.clone()),
        }
    }
}

#[derive(Debug)]
struct ServerResolver(KeySource);

impl ResolvesServerCert for ServerResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.get()
    }
}

#[derive(Debug)]
struct ClientResolver(KeySource);

impl rustls::client::ResolvesClientCert for ClientResolver {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.get()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// TLS versions and TLS 1.2 cipher suites allowed by a context (`tls_params`).
#[derive(Debug, Clone)]
pub struct Params {
    /// Allowed versions.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// OpenSSL names of allowed TLS 1.2 suites; empty for rustls' defaults.
    pub tls12_ciphers: Vec<String>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            tls12_ciphers: Vec::new(),
        }
    }
}

/// The OpenSSL name of a rustls TLS 1.2 suite.
fn openssl_name(s: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite::*;
    Some(match s {
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

impl Params {
    fn provider(&self) -> Result<Arc<CryptoProvider>, TlsError> {
        let mut p = rustls::crypto::ring::default_provider();
        if !self.tls12_ciphers.is_empty() {
            p.cipher_suites.retain(|s| match s {
                rustls::SupportedCipherSuite::Tls13(_) => true,
                rustls::SupportedCipherSuite::Tls12(_) => openssl_name(s.suite())
                    .is_some_and(|n| self.tls12_ciphers.iter().any(|c| c == n)),
            });
            let tls12_left = p
                .cipher_suites
                .iter()
                .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)));
            let only12 = self
                .versions
                .iter()
                .all(|v| v.version == rustls::ProtocolVersion::TLSv1_2);
            if only12 && !tls12_left {
                return Err(TlsError::Params(format!(
                    "none of the cipher suites {:?} is supported",
                    self.tls12_ciphers
                )));
            }
        }
        Ok(Arc::new(p))
    }
}

/// A server configuration: our certificate from `key`, client certificates checked against
/// `roots` (required when `require_client`), SANs in `sans` accepted (any when empty), and the
/// one ALPN protocol `alpn` selected (none when empty: the handshake then negotiates none).
pub fn server_config(
    key: &KeySource,
    roots: Option<&RootSource>,
    require_client: bool,
    sans: &[String],
    alpn: Option<&[u8]>,
    params: &Params,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(params.provider()?)
        .with_protocol_versions(&params.versions)
        .map_err(|e| TlsError::Params(e.to_string()))?;
    let builder = match roots {
        Some(r) => builder.with_client_cert_verifier(Arc::new(verify::ClientVerifier::new(
            r.clone(),
            require_client,
            sans.to_vec(),
        ))),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(ServerResolver(key.clone())));
    if let Some(a) = alpn {
        cfg.alpn_protocols = vec![a.to_vec()];
    }
    Ok(Arc::new(cfg))
}

/// A client configuration: our certificate from `key` (if any), the server checked against
/// `roots` (not checked at all without roots, as Envoy does without a validation context)
/// and, when `sans` is not empty, required to present one of them; `alpn` offered.
pub fn client_config(
    key: Option<&KeySource>,
    roots: Option<&RootSource>,
    sans: &[String],
    alpn: &[String],
    params: &Params,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(params.provider()?)
        .with_protocol_versions(&params.versions)
        .map_err(|e| TlsError::Params(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verify::ServerVerifier::new(
            roots.cloned(),
            sans.to_vec(),
        )));
    let mut cfg = match key {
        Some(k) => builder.with_client_cert_resolver(Arc::new(ClientResolver(k.clone()))),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Certificates for unit tests (the e2e test makes its own with rcgen).

    /// A self-signed P-256 CA and a leaf with `uri` as its SAN, as PEM (chain, key, root).
    pub fn identity_pem(uri: &str) -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), ca_cert.pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_pem_reads_spiffe_id() {
        let (c, k, r) = testing::identity_pem("spiffe://cluster.local/ns/default/sa/app");
        let id = Identity::from_pem(c.as_bytes(), k.as_bytes(), r.as_bytes()).unwrap();
        assert_eq!(
            id.spiffe_id.as_deref(),
            Some("spiffe://cluster.local/ns/default/sa/app")
        );
        let src = CertSource::empty();
        assert!(src.current().is_none());
        src.set(id);
        assert!(src.current().is_some());
        assert!(Identity::from_pem(b"", k.as_bytes(), r.as_bytes()).is_err());
    }

    #[test]
    fn cipher_filter_refuses_nothing_supported() {
        let p = Params {
            versions: vec![&rustls::version::TLS12],
            tls12_ciphers: vec!["AES256-GCM-SHA384".into()],
        };
        assert!(p.provider().is_err());
        let p = Params {
            versions: vec![&rustls::version::TLS12],
            tls12_ciphers: vec!["ECDHE-ECDSA-AES128-GCM-SHA256".into()],
        };
        assert_eq!(
            p.provider()
                .unwrap()
                .cipher_suites
                .iter()
                .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
                .count(),
            1
        );
    }
}
