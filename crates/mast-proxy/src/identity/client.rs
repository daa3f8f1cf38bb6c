//! The CA client: `CreateCertificate` on mastd, as Istio's agent calls it.
//!
//! The first certificate is asked for with the bearer token (`--tokenFile` or `MAST_TOKEN`,
//! sent as `authorization: Bearer ...`). Renewals over TLS authenticate with the current mesh
//! certificate instead, so an expired token does not break rotation (istio/istio#26225); the
//! token is the fallback when that fails (e.g. the certificate already expired).

use std::path::PathBuf;
use std::time::Duration;

use mast_xds::ca::{IstioCertificateRequest, IstioCertificateServiceClient, SpiffeId};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::{Issued, csr};

/// Where the CA is and how to reach it.
#[derive(Debug, Clone)]
pub struct CaOptions {
    /// `host:port` of the CA.
    pub address: String,
    /// Plaintext (mastd's 15010) instead of TLS.
    pub insecure: bool,
    /// Roots trusted for the CA's TLS server certificate (PEM file).
    pub root_cert: Option<PathBuf>,
    /// The name checked on the CA's certificate when the address is an IP.
    pub server_name: String,
    /// The token file, read at every call so that it can be replaced.
    pub token_file: Option<PathBuf>,
    /// A token given directly (`MAST_TOKEN`).
    pub token: Option<String>,
    /// The identity asked for.
    pub id: SpiffeId,
    /// The lifetime asked for (0: the CA's default).
    pub ttl: Duration,
    /// How long one call may take.
    pub timeout: Duration,
}

/// Why a certificate could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CaClientError {
    /// Nothing to authenticate with.
    #[error(
        "no credential for the CA: give --tokenFile or MAST_TOKEN (mint one with `mastctl workload token`)"
    )]
    NoCredential,
    /// The token file could not be read.
    #[error("token file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The CA's root could not be read.
    #[error("--caRootCert {path}: {reason}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No connection to the CA.
    #[error("cannot reach the CA at {address}: {reason}")]
    Connect {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The CA refused.
    #[error("the CA at {address} refused ({how}): {status}")]
    Refused {
        /// The address.
        address: String,
        /// How the call authenticated.
        how: &'static str,
        /// The gRPC status.
        status: tonic::Status,
    },
    /// The answer is unusable.
    #[error("the CA's answer is unusable: {0}")]
    BadAnswer(String),
    /// Key or CSR.
    #[error("key or CSR: {0}")]
    Csr(String),
}

impl CaOptions {
    fn token(&self) -> Result<Option<String>, CaClientError> {
        if let Some(p) = &self.token_file {
            let t = std::fs::read_to_string(p).map_err(|e| CaClientError::TokenFile {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            let t = t.trim().to_string();
            if !t.is_empty() {
                return Ok(Some(t));
            }
        }
        Ok(self.token.clone().filter(|t| !t.is_empty()))
    }

    fn host(&self) -> &str {
        let a = self.address.as_str();
        match a.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => a,
        }
    }

    async fn channel(
        &self,
        current: Option<&Issued>,
        present_cert: bool,
    ) -> Result<tonic::transport::Channel, CaClientError> {
        let connect_err = |reason: String| CaClientError::Connect {
            address: self.address.clone(),
            reason,
        };
        let scheme = if self.insecure { "http" } else { "https" };
        let mut ep = Endpoint::from_shared(format!("{scheme}://{}", self.address))
            .map_err(|e| connect_err(e.to_string()))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        if !self.insecure {
            let mut roots = Vec::new();
            if let Some(p) = &self.root_cert {
                let pem = std::fs::read_to_string(p).map_err(|e| CaClientError::RootCert {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
                roots.push(Certificate::from_pem(pem));
            }
            if let Some(c) = current {
                roots.push(Certificate::from_pem(c.roots_pem.clone()));
            }
            let name = if self.host().parse::<std::net::IpAddr>().is_ok() {
                self.server_name.clone()
            } else {
                self.host().to_string()
            };
            let mut tls = ClientTlsConfig::new()
                .ca_certificates(roots)
                .domain_name(name);
            if let Some(c) = current.filter(|_| present_cert) {
                tls = tls.identity(Identity::from_pem(c.chain_pem.clone(), c.key_pem.clone()));
            }
            ep = ep.tls_config(tls).map_err(|e| connect_err(e.to_string()))?;
        }
        ep.connect()
            .await
            .map_err(|e| connect_err(format!("{e}: {}", source_chain(&e))))
    }

    /// Asks for a new certificate: with `current`'s certificate over TLS when it is still
    /// valid, else (or when that fails) with the token.
    pub async fn fetch(&self, current: Option<&Issued>) -> Result<Issued, CaClientError> {
        let renewable = current.filter(|c| c.valid_now() && !self.insecure);
        if let Some(c) = renewable {
            match self.call(Some(c), None).await {
                Ok(i) => return Ok(i),
                Err(e) => match self.token()? {
                    Some(t) => {
                        tracing::warn!(error = %e, "renewal with the mesh certificate failed; trying the token");
                        return self.call(current, Some(t)).await;
                    }
                    None => return Err(e),
                },
            }
        }
        let token = self.token()?.ok_or(CaClientError::NoCredential)?;
        self.call(current, Some(token)).await
    }

    async fn call(
        &self,
        current: Option<&Issued>,
        token: Option<String>,
    ) -> Result<Issued, CaClientError> {
        let how = if token.is_some() {
            "token"
        } else {
            "mesh certificate"
        };
        let kc = csr::make(&self.id).map_err(CaClientError::Csr)?;
        // the client certificate is presented only when renewing with it; the current bundle
        // is trusted for the CA's server certificate either way
        let channel = self.channel(current, token.is_none()).await?;
        let mut client = IstioCertificateServiceClient::new(channel);
        let mut req = tonic::Request::new(IstioCertificateRequest {
            csr: kc.csr_pem.clone(),
            validity_duration: self.ttl.as_secs() as i64,
            metadata: None,
        });
        if let Some(t) = &token {
            let v = format!("Bearer {t}")
                .parse()
                .map_err(|_| CaClientError::Csr("the token is not valid header text".into()))?;
            req.metadata_mut().insert("authorization", v);
        }
        let resp = client
            .create_certificate(req)
            .await
            .map_err(|status| CaClientError::Refused {
                address: self.address.clone(),
                how,
                status,
            })?
            .into_inner();
        self.read_answer(resp.cert_chain, kc)
    }

    fn read_answer(
        &self,
        mut chain: Vec<String>,
        kc: csr::KeyAndCsr,
    ) -> Result<Issued, CaClientError> {
        let bad = |m: String| CaClientError::BadAnswer(m);
        if chain.len() < 2 {
            return Err(bad(format!(
                "cert_chain has {} elements; want the leaf, any intermediates and the root",
                chain.len()
            )));
        }
        let roots = chain.pop().expect("two or more");
        let chain_pem: String = chain
            .iter()
            .map(|c| {
                let c = c.trim_end();
                format!("{c}\n")
            })
            .collect();
        let issued = Issued::from_pem(
            chain_pem,
            kc.key_pem,
            roots,
            format!("mastd CA at {}", self.address),
        )
        .map_err(|e| bad(e.to_string()))?;
        let want = self.id.to_string();
        if issued.leaf().uris != [want.clone()] {
            return Err(bad(format!(
                "the certificate names {:?}, not {want}",
                issued.leaf().uris
            )));
        }
        let leaf_der =
            rustls::pki_types::CertificateDer::from_pem_slice(issued.chain_pem.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
        let (_, leaf) = x509_parser::parse_x509_certificate(leaf_der.as_ref())
            .map_err(|e| bad(e.to_string()))?;
        if leaf.public_key().subject_public_key.data.as_ref() != kc.public_key.as_slice() {
            return Err(bad("the certificate is not for the key of the CSR".into()));
        }
        // the chain must verify against the bundle, as peers will check it
        let id = issued.tls_identity().map_err(|e| bad(e.to_string()))?;
        let certs = &id.key.cert;
        id.client_verifier
            .verify_client_cert(&certs[0], &certs[1..], rustls::pki_types::UnixTime::now())
            .map_err(|e| {
                bad(format!(
                    "the chain does not verify against the trust bundle: {e}"
                ))
            })?;
        Ok(issued)
    }
}

use rustls::pki_types::pem::PemObject;

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut s = e.source();
    while let Some(x) = s {
        out.push(x.to_string());
        s = x.source();
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
    };

    use super::*;

    struct Ca {
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::OrganizationName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = SystemTime::now();
        p.not_before = (now - Duration::from_secs(60)).into();
        p.not_after = (now + Duration::from_secs(3600)).into();
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf(issuer: &Ca, key_pem: &str, uri: &str) -> String {
        let key = KeyPair::from_pem(key_pem).unwrap();
        let mut p = CertificateParams::default();
        p.subject_alt_names = vec![SanType::URI(uri.to_string().try_into().unwrap())];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = SystemTime::now();
        p.not_before = (now - Duration::from_secs(60)).into();
        p.not_after = (now + Duration::from_secs(600)).into();
        p.signed_by(&key, &issuer.issuer).unwrap().pem()
    }

    fn options(id: &SpiffeId) -> CaOptions {
        CaOptions {
            address: "127.0.0.1:15012".into(),
            insecure: false,
            root_cert: None,
            server_name: "istiod.istio-system.svc".into(),
            token_file: None,
            token: None,
            id: id.clone(),
            ttl: Duration::ZERO,
            timeout: Duration::from_secs(5),
        }
    }

    /// Each answer a broken or malicious CA could give is refused with a clear reason.
    #[test]
    fn answers_are_checked() {
        let id = SpiffeId::new("cluster.local", "default", "web");
        let me = id.to_string();
        let mesh = ca("cluster.local");
        let other = ca("someone-else");
        let kc = || csr::make(&id).unwrap();
        type Case<'a> = (
            &'static str,
            Box<dyn Fn(&csr::KeyAndCsr) -> Vec<String> + 'a>,
            Option<&'static str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "a good chain",
                Box::new(|k| vec![leaf(&mesh, &k.key_pem, &me), mesh.pem.clone()]),
                None,
            ),
            (
                "a chain that does not verify against the bundle",
                Box::new(|k| vec![leaf(&other, &k.key_pem, &me), mesh.pem.clone()]),
                Some("does not verify against the trust bundle"),
            ),
            (
                "a certificate for another identity",
                Box::new(|k| {
                    vec![
                        leaf(
                            &mesh,
                            &k.key_pem,
                            "spiffe://cluster.local/ns/default/sa/admin",
                        ),
                        mesh.pem.clone(),
                    ]
                }),
                Some("not spiffe://cluster.local/ns/default/sa/web"),
            ),
            (
                "a certificate for another key",
                Box::new(|_| {
                    let stranger = csr::make(&id).unwrap();
                    vec![leaf(&mesh, &stranger.key_pem, &me), mesh.pem.clone()]
                }),
                Some("not for the key of the CSR"),
            ),
            (
                "a tampered certificate",
                Box::new(|k| {
                    let good = leaf(&mesh, &k.key_pem, &me);
                    // flip a character of the last base64 line: the end of the DER is the
                    // signature's value, so the structure still parses and only the
                    // signature no longer matches
                    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
                    let n = lines.len() - 2;
                    let len = lines[n].trim_end_matches('=').len();
                    let at = if len <= 8 { 0 } else { len / 2 };
                    let mut b = lines[n].clone().into_bytes();
                    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                    lines[n] = String::from_utf8(b).unwrap();
                    vec![lines.join("\n") + "\n", mesh.pem.clone()]
                }),
                Some("BadSignature"),
            ),
            (
                "no root",
                Box::new(|k| vec![leaf(&mesh, &k.key_pem, &me)]),
                Some("cert_chain has 1 elements"),
            ),
        ];
        for (name, chain, want) in cases {
            let k = kc();
            let chain = chain(&k);
            let got = options(&id).read_answer(chain, k);
            match (want, got) {
                (None, Ok(issued)) => {
                    assert_eq!(issued.leaf().uris, std::slice::from_ref(&me), "{name}")
                }
                (None, Err(e)) => panic!("{name}: refused: {e}"),
                (Some(w), Ok(_)) => panic!("{name}: accepted, want {w:?}"),
                (Some(w), Err(e)) => assert!(e.to_string().contains(w), "{name}: {e} (want {w:?})"),
            }
        }
    }
}
