//! Who is calling the CA. Each [`Authenticator`] looks at one kind of credential; the CA tries
//! them in order and takes the first identity found (Istio's CA does the same). The
//! certificate's SAN comes from that identity only.
//!
//! - [`ClientCertAuthenticator`]: a TLS client certificate issued by the mesh CA (renewal).
//!   Only the TLS port (15012) sees one; the handshake has already checked its chain against
//!   the trust bundle.
//! - [`TokenAuthenticator`]: `authorization: Bearer <JWT>` signed by mastd's key (`mastctl
//!   workload token`).
//! - Kubernetes: a service-account token checked by the TokenReview API is the seam left open:
//!   an implementation of [`Authenticator`] that, for a bearer token which is not one of
//!   mastd's own (its issuer is not `mastd`), posts a `TokenReview` with `spec.token` and
//!   `spec.audiences: ["istio-ca"]`, requires `status.authenticated` and the audience back in
//!   `status.audiences`, and returns the namespace and service account read from
//!   `status.user.username` (`system:serviceaccount:NS:SA`). Add it to the list given to
//!   [`super::CaService::with_authenticators`] after the token authenticator.

use std::sync::Arc;

use mast_xds::ca::SpiffeId;
use rustls_pki_types::CertificateDer;
use tonic::async_trait;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::mesh::MeshCa;

/// What a call carries that could prove who the caller is.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `authorization` metadata, if any.
    pub authorization: Option<String>,
    /// The TLS client certificate chain (leaf first), if the call came over TLS with one.
    pub peer_certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl Credentials {
    /// The token of an `authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<Result<&str, String>> {
        let h = self.authorization.as_deref()?.trim();
        Some(match h.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok(token.trim())
            }
            _ => Err("the authorization metadata is not \"Bearer <token>\"".into()),
        })
    }
}

/// A caller's identity: a Kubernetes-style namespace and service account in the mesh's trust
/// domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The SPIFFE id the certificate will carry.
    pub id: SpiffeId,
    /// Which authenticator said so.
    pub by: &'static str,
}

/// One way of authenticating a CA caller.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// A short name for logs and errors (`token`, `client certificate`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// `Ok(None)`: the call carries no credential of this kind. `Ok(Some)`: the caller is
    /// this identity. `Err`: a credential of this kind is present and not valid (why).
    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Caller>, String>;
}

/// Bearer tokens signed by mastd's key.
pub struct TokenAuthenticator {
    ca: Arc<MeshCa>,
}

impl TokenAuthenticator {
    /// Checks tokens with `ca`'s token key, in `ca`'s trust domain.
    pub fn new(ca: Arc<MeshCa>) -> TokenAuthenticator {
        TokenAuthenticator { ca }
    }
}

#[async_trait]
impl Authenticator for TokenAuthenticator {
    fn name(&self) -> &'static str {
        "token"
    }

    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Caller>, String> {
        let Some(token) = creds.bearer() else {
            return Ok(None);
        };
        let who = self.ca.token_key().verify(token?)?;
        Ok(Some(Caller {
            id: SpiffeId::new(self.ca.trust_domain(), &who.namespace, &who.service_account),
            by: self.name(),
        }))
    }
}

/// A client certificate with a SPIFFE URI SAN in the mesh's trust domain. The chain was
/// verified against the trust bundle in the TLS handshake.
pub struct ClientCertAuthenticator {
    trust_domain: String,
}

impl ClientCertAuthenticator {
    /// Accepts identities in `trust_domain`.
    pub fn new(trust_domain: &str) -> ClientCertAuthenticator {
        ClientCertAuthenticator {
            trust_domain: trust_domain.to_string(),
        }
    }
}

/// The SPIFFE ids in a certificate's URI SANs.
pub fn spiffe_ids(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| format!("client certificate SANs: {e}"))?;
    Ok(sans
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) if u.starts_with("spiffe://") => Some(u.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

#[async_trait]
impl Authenticator for ClientCertAuthenticator {
    fn name(&self) -> &'static str {
        "client certificate"
    }

    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Caller>, String> {
        let Some(leaf) = creds.peer_certs.as_ref().and_then(|c| c.first()) else {
            return Ok(None);
        };
        let ids = spiffe_ids(leaf)?;
        let [uri] = ids.as_slice() else {
            return Err(format!(
                "the client certificate has {} SPIFFE URI SANs; a workload certificate has one",
                ids.len()
            ));
        };
        let id = SpiffeId::parse(uri).map_err(|e| e.to_string())?;
        if id.trust_domain != self.trust_domain {
            return Err(format!(
                "the client certificate's identity {id} is not in the trust domain {}",
                self.trust_domain
            ));
        }
        Ok(Some(Caller {
            id,
            by: self.name(),
        }))
    }
}

/// Tries `authenticators` in order: the first identity wins; with none, the errors of those
/// that saw a credential, or a hint on what to send.
pub async fn authenticate(
    authenticators: &[Arc<dyn Authenticator>],
    creds: &Credentials,
) -> Result<Caller, String> {
    let mut errors = Vec::new();
    for a in authenticators {
        match a.authenticate(creds).await {
            Ok(Some(c)) => return Ok(c),
            Ok(None) => {}
            Err(e) => errors.push(format!("{}: {e}", a.name())),
        }
    }
    if errors.is_empty() {
        Err(
            "no credentials: send \"authorization: Bearer <token>\" metadata (mint a token \
             with `mastctl workload token --namespace NS --service-account SA`) or, on the TLS \
             port, a client certificate issued by the mesh CA"
                .into(),
        )
    } else {
        Err(format!("authentication failed: {}", errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header() {
        let c = |h: &str| Credentials {
            authorization: Some(h.into()),
            peer_certs: None,
        };
        assert_eq!(c("Bearer abc").bearer(), Some(Ok("abc")));
        assert_eq!(c("bearer  abc ").bearer(), Some(Ok("abc")));
        assert!(c("Basic abc").bearer().unwrap().is_err());
        assert!(c("Bearer").bearer().unwrap().is_err());
        assert!(Credentials::default().bearer().is_none());
    }
}
