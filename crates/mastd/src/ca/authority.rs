//! One signing CA: its certificate and key, the intermediates up to its root, and the roots it
//! is trusted under; how workload and server certificates are made.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mast_xds::ca::SpiffeId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::CaError;
use super::files::{self, CERT_MODE, KEY_MODE, split_certs};

/// `ca-cert.pem`: the certificate that signs workload certificates.
pub const CA_CERT_FILE: &str = "ca-cert.pem";
/// `ca-key.pem`: its key (PKCS#8 PEM).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// `root-cert.pem`: the root (the first certificate; more are also trusted).
pub const ROOT_CERT_FILE: &str = "root-cert.pem";
/// `cert-chain.pem`: the chain from `ca-cert.pem` towards the root (optional).
pub const CERT_CHAIN_FILE: &str = "cert-chain.pem";

/// The files of Istio's `cacerts` secret, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaFiles {
    /// `ca-cert.pem`.
    pub ca_cert: String,
    /// `ca-key.pem`.
    pub ca_key: String,
    /// `root-cert.pem`.
    pub root_cert: String,
    /// `cert-chain.pem` (empty when absent).
    pub cert_chain: String,
}

impl CaFiles {
    /// Reads `dir`. `cert-chain.pem` may be missing; the other three may not.
    pub fn read(dir: &Path) -> Result<CaFiles, CaError> {
        let read = |name: &str, required: bool| -> Result<String, CaError> {
            let p = dir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(s) => Ok(s),
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(String::new())
                }
                Err(e) => Err(CaError::file(&p, e)),
            }
        };
        Ok(CaFiles {
            ca_cert: read(CA_CERT_FILE, true)?,
            ca_key: read(CA_KEY_FILE, true)?,
            root_cert: read(ROOT_CERT_FILE, true)?,
            cert_chain: read(CERT_CHAIN_FILE, false)?,
        })
    }

    /// Writes the files into `dir` (created 0700): the key 0600, certificates 0644.
    pub fn write(&self, dir: &Path) -> Result<(), CaError> {
        files::private_dir(dir).map_err(|e| CaError::file(dir, e))?;
        for (name, text, mode) in [
            (CA_KEY_FILE, &self.ca_key, KEY_MODE),
            (CA_CERT_FILE, &self.ca_cert, CERT_MODE),
            (CERT_CHAIN_FILE, &self.cert_chain, CERT_MODE),
            (ROOT_CERT_FILE, &self.root_cert, CERT_MODE),
        ] {
            let p = dir.join(name);
            files::write_file(&p, text.as_bytes(), mode).map_err(|e| CaError::file(&p, e))?;
        }
        Ok(())
    }
}

/// A signing CA, checked: the key matches the certificate, the certificate is a CA, and it
/// chains through `cert-chain.pem` to a root of `root-cert.pem`.
pub struct SigningCa {
    chain_pem: Vec<String>,
    roots_pem: Vec<String>,
    root_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    not_after: SystemTime,
}

impl std::fmt::Debug for SigningCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCa")
            .field("chain", &self.chain_pem.len())
            .field("roots", &self.roots_pem.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A fresh certificate and key.
pub struct Issued {
    /// The certificate chain, leaf first, without the root.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// When the leaf expires.
    pub not_after: SystemTime,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("cannot parse certificate: {e}"))
}

fn subject(der: &[u8]) -> String {
    parse(der)
        .map(|c| c.subject().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// 128 random bits, positive.
pub fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .expect("system randomness");
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::from_slice(&b)
}

fn to_system_time(t: i64) -> SystemTime {
    if t >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
    } else {
        SystemTime::UNIX_EPOCH
    }
}

impl SigningCa {
    /// A new self-signed root (ECDSA P-256) as Istio's self-signed CA makes it: subject
    /// O=`trust_domain`, a CA, `lifetime` long (Istio: 10 years).
    pub fn generate_root(trust_domain: &str, lifetime: Duration) -> Result<CaFiles, CaError> {
        let gen_err = |e: rcgen::Error| CaError::Generate(e.to_string());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, trust_domain);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // a little backdated so that hosts with a slow clock accept a root made just now
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(300)).into();
        params.not_after = (now + lifetime).into();
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(gen_err)?;
        Ok(CaFiles {
            ca_cert: cert.pem(),
            ca_key: key.serialize_pem(),
            root_cert: cert.pem(),
            cert_chain: String::new(),
        })
    }

    /// Checks and loads CA files.
    pub fn from_files(f: &CaFiles) -> Result<SigningCa, String> {
        let key = KeyPair::from_pem(&f.ca_key).map_err(|e| {
            format!(
                "{CA_KEY_FILE}: {e} (a PKCS#8 \"PRIVATE KEY\" PEM is needed; convert with \
                 `openssl pkcs8 -topk8 -nocrypt -in ca-key.pem`)"
            )
        })?;
        let ca_pem = split_certs(&f.ca_cert)
            .into_iter()
            .next()
            .ok_or_else(|| format!("{CA_CERT_FILE}: no certificate"))?;
        let ca_der = files::cert_der(&ca_pem).map_err(|e| format!("{CA_CERT_FILE}: {e}"))?;
        let roots_pem = split_certs(&f.root_cert);
        if roots_pem.is_empty() {
            return Err(format!("{ROOT_CERT_FILE}: no certificate"));
        }
        let roots_der = roots_pem
            .iter()
            .map(|p| files::cert_der(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{ROOT_CERT_FILE}: {e}"))?;
        let mut inter_pem = Vec::new();
        let mut inter_der = Vec::new();
        for p in split_certs(&f.cert_chain) {
            let d = files::cert_der(&p).map_err(|e| format!("{CERT_CHAIN_FILE}: {e}"))?;
            if d != ca_der && !roots_der.contains(&d) {
                inter_pem.push(p);
                inter_der.push(d);
            }
        }

        let ca = parse(&ca_der).map_err(|e| format!("{CA_CERT_FILE}: {e}"))?;
        if !ca.is_ca() {
            return Err(format!(
                "{CA_CERT_FILE}: {} is not a CA certificate (basicConstraints CA:TRUE)",
                ca.subject()
            ));
        }
        if ca.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return Err(format!(
                "{CA_KEY_FILE} does not match the public key of {CA_CERT_FILE}"
            ));
        }
        if !ca.validity().is_valid() {
            return Err(format!(
                "{CA_CERT_FILE}: not valid now (valid {} to {})",
                ca.validity().not_before,
                ca.validity().not_after
            ));
        }
        // ca-cert → intermediates (in order) → a root
        let mut path: Vec<&CertificateDer<'static>> = vec![&ca_der];
        path.extend(inter_der.iter());
        for w in path.windows(2) {
            let (child, parent) = (parse(w[0])?, parse(w[1])?);
            child
                .verify_signature(Some(parent.public_key()))
                .map_err(|_| {
                    format!(
                        "{CERT_CHAIN_FILE}: {} is not signed by {} (list the chain from \
                         ca-cert.pem towards the root, in order)",
                        child.subject(),
                        parent.subject()
                    )
                })?;
        }
        let top = parse(path[path.len() - 1])?;
        let anchor = roots_der
            .iter()
            .position(|r| {
                r == path[path.len() - 1]
                    || parse(r)
                        .map(|root| top.verify_signature(Some(root.public_key())).is_ok())
                        .unwrap_or(false)
            })
            .ok_or_else(|| {
                format!(
                    "{} does not chain to any certificate of {ROOT_CERT_FILE} ({})",
                    top.subject(),
                    roots_der
                        .iter()
                        .map(|r| subject(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let mut roots_pem = roots_pem;
        let first = roots_pem.remove(anchor);
        roots_pem.insert(0, first);
        let root_der = roots_der[anchor].clone();

        let mut chain_pem = Vec::new();
        if ca_der != root_der {
            chain_pem.push(ca_pem);
        }
        chain_pem.extend(inter_pem);
        let not_after = to_system_time(ca.validity().not_after.timestamp());
        let issuer =
            Issuer::from_ca_cert_der(&ca_der, key).map_err(|e| format!("{CA_CERT_FILE}: {e}"))?;
        Ok(SigningCa {
            chain_pem,
            roots_pem,
            root_der,
            issuer,
            not_after,
        })
    }

    /// The root this CA chains to.
    pub fn root_pem(&self) -> &str {
        &self.roots_pem[0]
    }

    /// The root's DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// Every root of `root-cert.pem`, the one this CA chains to first.
    pub fn roots_pem(&self) -> &[String] {
        &self.roots_pem
    }

    /// The certificates between a leaf and the root: the CA certificate (unless it is the
    /// root) and the intermediates.
    pub fn chain_pem(&self) -> &[String] {
        &self.chain_pem
    }

    /// When the signing certificate expires (nothing it signs outlives it).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The validity of a certificate asked for `ttl` from `now`: never past the CA's own.
    fn window(&self, now: SystemTime, ttl: Duration) -> (SystemTime, SystemTime) {
        (now, (now + ttl).min(self.not_after))
    }

    /// Signs a workload certificate for `id` over `public_key`: no subject, the URI SAN
    /// (critical), digitalSignature + keyEncipherment, serverAuth + clientAuth, as Istio's CA.
    pub fn sign_workload(
        &self,
        public_key: &impl PublicKeyData,
        id: &SpiffeId,
        ttl: Duration,
    ) -> Result<(String, SystemTime), String> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let uri = id
            .to_string()
            .try_into()
            .map_err(|e| format!("SAN {id}: {e}"))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let (nb, na) = self.window(SystemTime::now(), ttl);
        params.not_before = nb.into();
        params.not_after = na.into();
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(|e| e.to_string())?;
        Ok((cert.pem(), na))
    }

    /// A server certificate with a new key for `hostnames` (DNS names; IP literals become IP
    /// SANs), serverAuth, valid `ttl`.
    pub fn issue_server(&self, hostnames: &[String], ttl: Duration) -> Result<Issued, String> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if let Some(h) = hostnames.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, h.as_str());
        }
        params.subject_alt_names = hostnames
            .iter()
            .map(|h| match h.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => h
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e| format!("host name {h:?}: {e}")),
            })
            .collect::<Result<_, _>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (nb, na) = self.window(SystemTime::now(), ttl);
        params.not_before = (nb - Duration::from_secs(60)).into();
        params.not_after = na.into();
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let mut chain = vec![cert.der().clone()];
        for p in &self.chain_pem {
            chain.push(files::cert_der(p)?);
        }
        Ok(Issued {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_after: na,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intermediate(root: &CaFiles, cn: &str) -> CaFiles {
        let root_key = KeyPair::from_pem(&root.ca_key).unwrap();
        let issuer = Issuer::from_ca_cert_pem(&root.ca_cert, root_key).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(60)).into();
        params.not_after = (now + Duration::from_secs(86400)).into();
        let cert = params.signed_by(&key, &issuer).unwrap();
        CaFiles {
            ca_cert: cert.pem(),
            ca_key: key.serialize_pem(),
            root_cert: root.root_cert.clone(),
            cert_chain: format!("{}{}", cert.pem(), root.root_cert),
        }
    }

    #[test]
    fn self_signed_root_loads() {
        let f = SigningCa::generate_root("cluster.local", Duration::from_secs(3600)).unwrap();
        let ca = SigningCa::from_files(&f).unwrap();
        assert!(
            ca.chain_pem().is_empty(),
            "the root signs: no intermediates"
        );
        assert_eq!(ca.root_pem(), f.root_cert);
        let der = files::cert_der(&f.root_cert).unwrap();
        let c = parse(&der).unwrap();
        assert_eq!(c.subject().to_string(), "O=cluster.local");
        assert!(c.is_ca());
    }

    #[test]
    fn intermediate_chain_and_mismatches() {
        let root = SigningCa::generate_root("td", Duration::from_secs(3600)).unwrap();
        let f = intermediate(&root, "intermediate");
        let ca = SigningCa::from_files(&f).unwrap();
        assert_eq!(
            ca.chain_pem().len(),
            1,
            "ca-cert only, root dropped from the chain"
        );
        assert_eq!(ca.root_pem(), root.root_cert);

        let other = SigningCa::generate_root("td", Duration::from_secs(3600)).unwrap();
        let wrong_key = CaFiles {
            ca_key: other.ca_key.clone(),
            ..f.clone()
        };
        let e = SigningCa::from_files(&wrong_key).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let wrong_root = CaFiles {
            root_cert: other.root_cert.clone(),
            cert_chain: f.ca_cert.clone(),
            ..f.clone()
        };
        let e = SigningCa::from_files(&wrong_root).unwrap_err();
        assert!(e.contains("does not chain"), "{e}");
        let not_pkcs8 = CaFiles {
            ca_key: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n".into(),
            ..f
        };
        let e = SigningCa::from_files(&not_pkcs8).unwrap_err();
        assert!(e.contains("PKCS#8"), "{e}");
    }

    #[test]
    fn workload_certificate_is_istios_shape() {
        let f = SigningCa::generate_root("td", Duration::from_secs(3600)).unwrap();
        let ca = SigningCa::from_files(&f).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let id = SpiffeId::new("td", "ns", "sa");
        let (pem, _) = ca
            .sign_workload(&key, &id, Duration::from_secs(7200))
            .unwrap();
        let der = files::cert_der(&pem).unwrap();
        let c = parse(&der).unwrap();
        assert!(c.subject().iter().next().is_none(), "empty subject");
        let san = c.subject_alternative_name().unwrap().unwrap();
        assert!(san.critical);
        assert_eq!(
            format!("{:?}", san.value.general_names),
            r#"[URI("spiffe://td/ns/ns/sa/sa")]"#
        );
        // capped by the CA's own lifetime (1 h) although 2 h were asked
        let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
        assert!(life <= 3600, "{life}");
        assert!(!c.is_ca());
        let root = parse(ca.root_der()).unwrap();
        c.verify_signature(Some(root.public_key())).unwrap();
    }
}
