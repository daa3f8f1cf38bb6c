//! Workload certificates for the demo's proxies: from mastd's CA (each proxy makes its key and
//! CSR and authenticates with a token minted here with mastd's signing key, as
//! `mastctl workload token` does), or, with a mast-proxy that cannot ask a CA, from a demo CA
//! minted here (`--certDir`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mast_xds::ca::{TOKEN_KEY_FILE, TokenClaims};

use super::layout::{Layout, TRUST_DOMAIN, Workload};

/// Where the proxies get their certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Certs {
    /// mastd's CA when mast-proxy supports it, else a demo CA.
    Auto,
    /// mastd's CA, with tokens.
    Ca,
    /// Files from a demo CA minted by mastctl (`--certDir`).
    Files,
}

/// What `Auto` means for this mast-proxy.
pub fn resolve(c: Certs, proxy_bin: &Path) -> Certs {
    if c != Certs::Auto {
        return c;
    }
    let help = Command::new(proxy_bin)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if help.contains("--tokenFile") && help.contains("--caAddress") {
        Certs::Ca
    } else {
        Certs::Files
    }
}

/// A demo CA and a certificate a workload (P-256, its SPIFFE ID as URI SAN), in mast-proxy's
/// `--certDir` layout under `dir/<pod>`.
pub fn mint_certs(layout: &Layout, dir: &Path) -> anyhow::Result<()> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::OrganizationName, TRUST_DOMAIN);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Mast demo CA");
    let root = ca.self_signed(&ca_key)?.pem();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    for w in &layout.workloads {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new())?;
        leaf.subject_alt_names = vec![rcgen::SanType::URI(w.spiffe().as_str().try_into()?)];
        let cert = leaf.signed_by(&key, &issuer)?;
        let d = dir.join(&w.pod);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("cert-chain.pem"), cert.pem())?;
        std::fs::write(d.join("key.pem"), key.serialize_pem())?;
        std::fs::write(d.join("root-cert.pem"), &root)?;
    }
    Ok(())
}

/// Writes a token for each workload (24 h) into `dir/<pod>.jwt`, signed with the key mastd
/// keeps in `state`.
pub fn mint_tokens(layout: &Layout, state: &Path, dir: &Path) -> anyhow::Result<()> {
    let path = state.join(TOKEN_KEY_FILE);
    let pem =
        std::fs::read(&path).with_context(|| format!("mastd's token key {}", path.display()))?;
    let key = EncodingKey::from_ec_pem(&pem).with_context(|| path.display().to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    std::fs::create_dir_all(dir)?;
    for w in &layout.workloads {
        let claims = TokenClaims::new("default", &w.service_account(), now, 24 * 3600);
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key)?;
        std::fs::write(token_file(dir, w), token)?;
    }
    Ok(())
}

/// The token file of `w`.
pub fn token_file(dir: &Path, w: &Workload) -> PathBuf {
    dir.join(format!("{}.jwt", w.pod))
}
