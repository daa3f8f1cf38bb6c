//! The workload key and CSR, made in process as Istio's agent makes them: ECDSA P-256, empty
//! subject but the trust domain as organization, one URI SAN, the proxy's SPIFFE id. The key
//! never leaves the process (except to a local Envoy over SDS).

use mast_xds::ca::SpiffeId;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, SanType,
};

/// A fresh key and its CSR.
pub struct KeyAndCsr {
    /// The key, PKCS#8 PEM.
    pub key_pem: String,
    /// The public key as in the certificate's SubjectPublicKeyInfo (the EC point).
    pub public_key: Vec<u8>,
    /// The CSR, PEM.
    pub csr_pem: String,
}

/// Makes a P-256 key and a CSR asking for `id`.
pub fn make(id: &SpiffeId) -> Result<KeyAndCsr, String> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, id.trust_domain.as_str());
    let uri = id.to_string();
    params.subject_alt_names = vec![SanType::URI(
        uri.clone().try_into().map_err(|e| format!("{uri}: {e}"))?,
    )];
    let csr_pem = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| e.to_string())?;
    Ok(KeyAndCsr {
        key_pem: key.serialize_pem(),
        public_key: key.public_key_raw().to_vec(),
        csr_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_carries_the_spiffe_id() {
        let id = SpiffeId::new("cluster.local", "shop", "cart");
        let k = make(&id).unwrap();
        assert!(k.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(k.key_pem.contains("PRIVATE KEY"));
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&k.csr_pem).unwrap();
        assert_eq!(
            parsed.params.subject_alt_names,
            vec![SanType::URI(id.to_string().try_into().unwrap())]
        );
        assert_eq!(k.public_key.len(), 65);
    }
}
