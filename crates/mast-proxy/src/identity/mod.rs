//! The workload identity, as Istio's node agent keeps it: a P-256 key and CSR made in process
//! ([`csr`]), the certificate from mastd's CA ([`client`]), rotation at half the lifetime with
//! jitter and retries ([`rotate`]), and an SDS server on a Unix socket so a stock Envoy can use
//! the same identity ([`sds`]).
//!
//! The current material is an [`Issued`] in a [`Store`]: rotation puts a new one there and into
//! the [`CertSource`](crate::tls::CertSource) that handshakes read, so new connections use the
//! new certificate and open ones keep theirs; `/certs` and SDS read the store.

pub mod client;
pub mod csr;
pub mod rotate;
pub mod sds;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::tls::{self, TlsError};

/// One certificate of a chain, as `/certs` and `mastctl proxy-config secret` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The serial number, lower-case hex without separators (as Envoy prints it).
    pub serial: String,
    /// URI SANs.
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// Not before, seconds since the epoch.
    pub not_before: i64,
    /// Not after, seconds since the epoch.
    pub not_after: i64,
    /// The subject, RFC 4514.
    pub subject: String,
}

impl CertInfo {
    /// Reads a DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertInfo, TlsError> {
        use x509_parser::extensions::GeneralName;
        let (_, c) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| TlsError::Material(format!("certificate: {e}")))?;
        let mut uris = Vec::new();
        let mut dns = Vec::new();
        if let Ok(Some(ext)) = c.subject_alternative_name() {
            for n in &ext.value.general_names {
                match n {
                    GeneralName::URI(u) => uris.push(u.to_string()),
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    _ => {}
                }
            }
        }
        Ok(CertInfo {
            serial: c
                .raw_serial()
                .iter()
                .skip_while(|b| **b == 0)
                .map(|b| format!("{b:02x}"))
                .collect(),
            uris,
            dns,
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            subject: c.subject().to_string(),
        })
    }

    /// Envoy's `/certs` entry.
    pub fn to_json(&self, path: &str, now: i64) -> Value {
        let mut sans: Vec<Value> = self.uris.iter().map(|u| json!({"uri": u})).collect();
        sans.extend(self.dns.iter().map(|d| json!({"dns": d})));
        json!({
            "path": path,
            "serial_number": self.serial,
            "subject_alt_names": sans,
            "days_until_expiration": ((self.not_after - now).max(0) / 86400).to_string(),
            "valid_from": rfc3339(self.not_before),
            "expiration_time": rfc3339(self.not_after),
        })
    }
}

pub use mast_xds::date::rfc3339;

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A workload certificate with its key and trust bundle, as PEM, and what it says.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf and intermediates, PEM (SDS `default` certificate_chain).
    pub chain_pem: String,
    /// The private key, PKCS#8 PEM (SDS `default` private_key).
    pub key_pem: String,
    /// The trust bundle, one or more PEM roots (SDS `ROOTCA`).
    pub roots_pem: String,
    /// The chain, leaf first.
    pub chain: Vec<CertInfo>,
    /// The roots.
    pub roots: Vec<CertInfo>,
    /// Where it came from (`mastd CA at ADDR`, `--certDir DIR`).
    pub source: String,
    /// Counts installs: 1 for the first certificate, then one more each rotation. SDS versions.
    pub version: u64,
    /// When it was installed, seconds since the epoch.
    pub installed: i64,
}

fn infos(pem: &str) -> Result<Vec<CertInfo>, TlsError> {
    let ders: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Material(format!("certificate: {e}")))?;
    if ders.is_empty() {
        return Err(TlsError::Material("no certificate in PEM".into()));
    }
    ders.iter().map(|d| CertInfo::parse(d)).collect()
}

impl Issued {
    /// Reads PEM material.
    pub fn from_pem(
        chain_pem: String,
        key_pem: String,
        roots_pem: String,
        source: String,
    ) -> Result<Issued, TlsError> {
        Ok(Issued {
            chain: infos(&chain_pem)?,
            roots: infos(&roots_pem)?,
            chain_pem,
            key_pem,
            roots_pem,
            source,
            version: 0,
            installed: now_secs(),
        })
    }

    /// The leaf.
    pub fn leaf(&self) -> &CertInfo {
        &self.chain[0]
    }

    /// The leaf's lifetime.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs((self.leaf().not_after - self.leaf().not_before).max(0) as u64)
    }

    /// Whether the leaf is valid now (with a second of slack).
    pub fn valid_now(&self) -> bool {
        let now = now_secs();
        self.leaf().not_before <= now + 1 && now + 1 < self.leaf().not_after
    }

    /// The rustls identity for handshakes.
    pub fn tls_identity(&self) -> Result<tls::Identity, TlsError> {
        tls::Identity::from_pem(
            self.chain_pem.as_bytes(),
            self.key_pem.as_bytes(),
            self.roots_pem.as_bytes(),
        )
    }
}

/// The current workload certificate, watched by SDS streams and read by `/certs`.
#[derive(Debug)]
pub struct Store {
    tx: watch::Sender<Option<Arc<Issued>>>,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            tx: watch::channel(None).0,
        }
    }
}

impl Store {
    /// Installs `issued` into `certs` (new handshakes use it at once) and here, numbering it.
    pub fn install(&self, certs: &tls::CertSource, mut issued: Issued) -> Result<(), TlsError> {
        let id = issued.tls_identity()?;
        issued.version = self.current().map_or(1, |c| c.version + 1);
        issued.installed = now_secs();
        tracing::info!(
            serial = %issued.leaf().serial,
            not_after = %rfc3339(issued.leaf().not_after),
            version = issued.version,
            source = %issued.source,
            "workload certificate"
        );
        certs.set(id);
        self.tx.send_replace(Some(Arc::new(issued)));
        Ok(())
    }

    /// The current certificate.
    pub fn current(&self) -> Option<Arc<Issued>> {
        self.tx.borrow().clone()
    }

    /// A receiver that sees every install.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Issued>>> {
        self.tx.subscribe()
    }
}

/// Envoy's `/certs` for the workload certificate: one entry with `ca_cert` (the trust bundle)
/// and `cert_chain`.
pub fn certs_json(issued: Option<&Issued>) -> Value {
    let now = now_secs();
    let Some(i) = issued else {
        return json!({"certificates": []});
    };
    let ca: Vec<Value> = i.roots.iter().map(|c| c.to_json("ROOTCA", now)).collect();
    let chain: Vec<Value> = i.chain.iter().map(|c| c.to_json("default", now)).collect();
    json!({"certificates": [{"ca_cert": ca, "cert_chain": chain}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_079_200), "2025-11-25T14:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn issued_reads_chain_and_roots() {
        let (c, k, r) = tls::testing::identity_pem("spiffe://cluster.local/ns/a/sa/b");
        let i = Issued::from_pem(c, k, r, "test".into()).unwrap();
        assert_eq!(i.leaf().uris, vec!["spiffe://cluster.local/ns/a/sa/b"]);
        assert!(!i.leaf().serial.is_empty());
        assert_eq!(i.roots.len(), 1);
        let store = Store::default();
        let src = tls::CertSource::empty();
        store.install(&src, i.clone()).unwrap();
        store.install(&src, i).unwrap();
        assert_eq!(store.current().unwrap().version, 2);
        let j = certs_json(store.current().as_deref());
        assert_eq!(
            j["certificates"][0]["cert_chain"][0]["subject_alt_names"][0]["uri"],
            "spiffe://cluster.local/ns/a/sa/b"
        );
    }
}
