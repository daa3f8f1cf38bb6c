//! Peer verification for mesh mTLS: the chain is checked against the current roots (read at
//! each handshake, so a root rotation applies at once) and the peer's SANs against the
//! expected identities (Envoy's `match_subject_alt_names`, exact). Workload certificates carry
//! SPIFFE URI SANs and no DNS name, so the server name is not checked as a DNS name.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};

use super::RootSource;

/// The URI SANs of a DER certificate (empty when it does not parse).
pub fn uri_sans(der: &CertificateDer<'_>) -> Vec<String> {
    sans(der)
        .into_iter()
        .filter(|(uri, _)| *uri)
        .map(|(_, s)| s)
        .collect()
}

/// Every URI and DNS SAN of a certificate, flagged `true` for URIs.
fn sans(der: &CertificateDer<'_>) -> Vec<(bool, String)> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some((true, u.to_string())),
            GeneralName::DNSName(d) => Some((false, d.to_string())),
            _ => None,
        })
        .collect()
}

/// The peer presented none of the expected identities.
#[derive(Debug, thiserror::Error)]
#[error("peer identity {got:?} is not one of {want:?}")]
pub struct SanMismatch {
    /// The peer's SANs.
    pub got: Vec<String>,
    /// The identities expected.
    pub want: Vec<String>,
}

fn check_sans(end_entity: &CertificateDer<'_>, want: &[String]) -> Result<(), Error> {
    if want.is_empty() {
        return Ok(());
    }
    let got: Vec<String> = sans(end_entity).into_iter().map(|(_, s)| s).collect();
    if got.iter().any(|g| want.contains(g)) {
        return Ok(());
    }
    Err(Error::InvalidCertificate(CertificateError::Other(
        OtherError(Arc::new(SanMismatch {
            got,
            want: want.to_vec(),
        })),
    )))
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// Checks a server (the upstream proxy) against the mesh roots and the cluster's SANs.
#[derive(Debug)]
pub struct ServerVerifier {
    roots: Option<RootSource>,
    sans: Vec<String>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerVerifier {
    /// A verifier with `roots` (none: the certificate is not verified) and expected `sans`.
    pub fn new(roots: Option<RootSource>, sans: Vec<String>) -> ServerVerifier {
        ServerVerifier {
            roots,
            sans,
            algs: algorithms(),
        }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(source) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let roots = source
            .roots()
            .ok_or_else(|| Error::General("no root certificate to verify the peer".into()))?;
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        check_sans(end_entity, &self.sans)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Checks a client (the downstream proxy) against the roots and, when set, SANs.
#[derive(Debug)]
pub struct ClientVerifier {
    roots: RootSource,
    mandatory: bool,
    sans: Vec<String>,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientVerifier {
    /// A verifier over `roots`; `mandatory` refuses clients without a certificate.
    pub fn new(roots: RootSource, mandatory: bool, sans: Vec<String>) -> ClientVerifier {
        ClientVerifier {
            roots,
            mandatory,
            sans,
            algs: algorithms(),
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let v = self
            .roots
            .client_verifier()
            .ok_or_else(|| Error::General("no root certificate to verify the peer".into()))?;
        v.verify_client_cert(end_entity, intermediates, now)?;
        check_sans(end_entity, &self.sans)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
