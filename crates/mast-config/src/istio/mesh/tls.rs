//! Certificates, certificate authorities and TLS settings of the mesh config.

use serde::{Deserialize, Serialize};

use super::{Duration, NetworkingObject};

/// `MeshConfig.CertificateData`: a root certificate (a `oneof` of `pem` and `spiffeBundleUrl`) and whom it applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificateData {
    /// PEM-encoded certificates.
    #[serde(rename = "pem", skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// URL of a SPIFFE bundle.
    #[serde(
        rename = "spiffeBundleUrl",
        alias = "spiffe_bundle_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub spiffe_bundle_url: Option<String>,
    /// Signers (`spec.signerName`) the certificates apply to.
    #[serde(rename = "certSigners", alias = "cert_signers")]
    pub cert_signers: Vec<String>,
    /// Trust domains the certificates apply to.
    #[serde(rename = "trustDomains", alias = "trust_domains")]
    pub trust_domains: Vec<String>,
}

/// `MeshConfig.CA`: an external certificate authority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Address of the CA.
    #[serde(rename = "address")]
    pub address: String,
    /// TLS towards the CA (`networking.v1alpha3` `ClientTLSSettings`).
    #[serde(
        rename = "tlsSettings",
        alias = "tls_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_settings: Option<NetworkingObject>,
    /// Timeout of CSR requests.
    #[serde(
        rename = "requestTimeout",
        alias = "request_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
    /// Whether istiod (rather than the agent) talks to the CA.
    #[serde(rename = "istiodSide", alias = "istiod_side")]
    pub istiod_side: bool,
}

/// `MeshConfig.TLSConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Lowest TLS version.
    #[serde(rename = "minProtocolVersion", alias = "min_protocol_version")]
    pub min_protocol_version: TlsProtocol,
    /// ECDH curves.
    #[serde(rename = "ecdhCurves", alias = "ecdh_curves")]
    pub ecdh_curves: Vec<String>,
    /// Cipher suites.
    #[serde(rename = "cipherSuites", alias = "cipher_suites")]
    pub cipher_suites: Vec<String>,
}

/// `MeshConfig.TLSConfig.TLSProtocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsProtocol {
    /// Envoy's default.
    #[default]
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    Tlsv12,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    Tlsv13,
}

/// Deprecated: a certificate for DNS names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Certificate {
    /// Secret name.
    #[serde(rename = "secretName", alias = "secret_name")]
    pub secret_name: String,
    /// DNS names.
    #[serde(rename = "dnsNames", alias = "dns_names")]
    pub dns_names: Vec<String>,
}
