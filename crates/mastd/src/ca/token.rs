//! mastd's token signing key and the workload tokens it signs: JWTs, ES256, claims
//! [`TokenClaims`] (`iss` mastd, `sub` `system:serviceaccount:NS:SA`, `aud` istio-ca, `exp`,
//! `iat`, `nbf`). The key lives in `<stateDir>/token/signing-key.pem` (PKCS#8, 0600), made on
//! first start; `mastctl workload token` signs with the same file.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mast_xds::ca::{TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_KEY_FILE, TokenClaims};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

use super::CaError;
use super::files::{self, KEY_MODE};

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The key that signs and checks workload tokens.
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    path: PathBuf,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The identity a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenKey {
    /// Reads `<state_dir>/token/signing-key.pem`, making it (ECDSA P-256, 0600) if absent.
    pub fn load_or_create(state_dir: &Path) -> Result<TokenKey, CaError> {
        let path = state_dir.join(TOKEN_KEY_FILE);
        if !path.exists() {
            let dir = path.parent().unwrap_or(state_dir);
            files::private_dir(dir).map_err(|e| CaError::file(dir, e))?;
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map_err(|e| CaError::Generate(e.to_string()))?;
            if files::create_file(&path, key.serialize_pem().as_bytes(), KEY_MODE)
                .map_err(|e| CaError::file(&path, e))?
            {
                tracing::info!(path = %path.display(), "created the token signing key");
            }
        }
        let pem = std::fs::read_to_string(&path).map_err(|e| CaError::file(&path, e))?;
        TokenKey::from_pem(&pem, path.clone()).map_err(|e| CaError::file(&path, e))
    }

    /// A key from PKCS#8 PEM (ECDSA P-256).
    pub fn from_pem(pem: &str, path: PathBuf) -> Result<TokenKey, String> {
        let kp =
            KeyPair::from_pem(pem).map_err(|e| format!("not a PKCS#8 ECDSA P-256 key: {e}"))?;
        if kp.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err("the token signing key must be ECDSA P-256 (ES256)".into());
        }
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        let decoding =
            DecodingKey::from_ec_pem(kp.public_key_pem().as_bytes()).map_err(|e| e.to_string())?;
        Ok(TokenKey {
            encoding,
            decoding,
            path,
        })
    }

    /// Where the key is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A token for `namespace`/`service_account`, valid `ttl_secs` from now.
    pub fn mint(&self, namespace: &str, service_account: &str, ttl_secs: u64) -> String {
        self.mint_claims(&TokenClaims::new(
            namespace,
            service_account,
            now_secs(),
            ttl_secs,
        ))
    }

    /// A token with exactly these claims.
    pub fn mint_claims(&self, claims: &TokenClaims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &self.encoding)
            .expect("ES256 signing with a valid key")
    }

    /// Checks a token: signature by this key, `aud` istio-ca, `iss` mastd, not expired, `sub`
    /// a service account. The error says which check failed.
    pub fn verify(&self, token: &str) -> Result<TokenIdentity, String> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[TOKEN_AUDIENCE]);
        v.set_issuer(&[TOKEN_ISSUER]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &v).map_err(|e| match e
                .kind()
            {
                ErrorKind::InvalidSignature => format!(
                    "token signature is invalid: it was not signed by this mastd's key ({}); \
                     mint one with `mastctl workload token` against mastd's state directory",
                    self.path.display()
                ),
                ErrorKind::ExpiredSignature => {
                    let exp = jsonwebtoken::dangerous::insecure_decode::<TokenClaims>(token)
                        .map(|d| d.claims.exp)
                        .unwrap_or(0);
                    format!(
                        "token expired {} s ago; mint a new one",
                        now_secs().saturating_sub(exp)
                    )
                }
                ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".into(),
                ErrorKind::InvalidAudience => {
                    format!("token audience is not {TOKEN_AUDIENCE:?}")
                }
                ErrorKind::InvalidIssuer => format!("token issuer is not {TOKEN_ISSUER:?}"),
                ErrorKind::InvalidAlgorithm => "token algorithm is not ES256".into(),
                ErrorKind::MissingRequiredClaim(c) => format!("token has no {c:?} claim"),
                _ => format!("malformed token: {e}"),
            })?;
        let (ns, sa) = data.claims.service_account().ok_or_else(|| {
            format!(
                "token subject {:?} is not system:serviceaccount:NAMESPACE:NAME",
                data.claims.sub
            )
        })?;
        Ok(TokenIdentity {
            namespace: ns.to_string(),
            service_account: sa.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path) -> TokenKey {
        TokenKey::load_or_create(dir).unwrap()
    }

    #[test]
    fn mint_and_verify() {
        let d = tempfile::tempdir().unwrap();
        let k = key(d.path());
        let t = k.mint("ns1", "sa1", 60);
        assert_eq!(
            k.verify(&t).unwrap(),
            TokenIdentity {
                namespace: "ns1".into(),
                service_account: "sa1".into()
            }
        );
        // the same file gives the same key
        let again = key(d.path());
        assert!(again.verify(&t).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join(TOKEN_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn refusals_say_why() {
        let d = tempfile::tempdir().unwrap();
        let k = key(d.path());
        let other = key(tempfile::tempdir().unwrap().path());
        let e = k.verify(&other.mint("a", "b", 60)).unwrap_err();
        assert!(e.contains("signature is invalid"), "{e}");

        let now = now_secs();
        let mut c = TokenClaims::new("a", "b", now - 7200, 3600);
        let e = k.verify(&k.mint_claims(&c)).unwrap_err();
        assert!(e.contains("expired"), "{e}");

        c = TokenClaims::new("a", "b", now, 3600);
        c.aud = "kubernetes".into();
        let e = k.verify(&k.mint_claims(&c)).unwrap_err();
        assert!(e.contains("audience"), "{e}");

        c = TokenClaims::new("a", "b", now, 3600);
        c.sub = "alice".into();
        let e = k.verify(&k.mint_claims(&c)).unwrap_err();
        assert!(e.contains("subject"), "{e}");

        let e = k.verify("not-a-token").unwrap_err();
        assert!(e.contains("malformed"), "{e}");
    }
}
