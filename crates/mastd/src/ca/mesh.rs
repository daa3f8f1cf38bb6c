//! The CA mastd runs.
//!
//! - Self-signed (the default): the root lives in `<stateDir>/ca/` in Istio's `cacerts` layout;
//!   it is made on first start (ECDSA P-256, 10 years, O=<trust domain>) and read on every
//!   later start, so a restart keeps the mesh's trust.
//! - Plugged in (`--caCertDir`): `ca-cert.pem`, `ca-key.pem`, `root-cert.pem` and
//!   `cert-chain.pem` are read at start and whenever the directory changes (and every few
//!   seconds, in case an event is missed). A set of files that does not check out (key not
//!   matching, chain broken: e.g. half-way through a copy) is logged and ignored; the last good
//!   CA keeps signing.
//!
//! The trust bundle is the current root plus, after a root change, the previous roots for an
//! overlap window: `--caRootOverlap` from the change, or longer if certificates issued under
//! the old root live longer, but never past the old root's own expiry.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use mast_xds::ca::{CA_DIR, SpiffeId};
use notify::Watcher;
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;

use super::CaError;
use super::authority::{CaFiles, Issued, SigningCa};
use super::files;
use super::token::TokenKey;

/// Istio's self-signed root lifetime (10 years).
pub const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How the CA is set up.
#[derive(Debug, Clone)]
pub struct CaOptions {
    /// The trust domain of SPIFFE ids (MeshConfig `trustDomain`).
    pub trust_domain: String,
    /// mastd's state directory: the self-signed CA and the token signing key.
    pub state_dir: PathBuf,
    /// A plugged-in CA directory, watched.
    pub plugged_dir: Option<PathBuf>,
    /// Lifetime of a certificate when the request names none.
    pub default_ttl: Duration,
    /// The longest lifetime given; longer requests are cut to it.
    pub max_ttl: Duration,
    /// How long a previous root stays trusted after a root change (at least).
    pub root_overlap: Duration,
    /// How often a plugged-in CA's files are re-read besides change events.
    pub reload_poll: Duration,
}

/// A root trusted from before a root change.
#[derive(Debug, Clone)]
struct PreviousRoot {
    pem: String,
    der: CertificateDer<'static>,
    until: SystemTime,
}

struct Current {
    signer: SigningCa,
    files: CaFiles,
    /// Latest expiry (epoch seconds) of a certificate signed under this root.
    issued_until: AtomicU64,
}

/// Why a CSR was not signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The CSR is not a valid PEM certificate signing request.
    #[error("invalid CSR: {0}")]
    BadCsr(String),
    /// The CSR asks for a name other than the caller's identity.
    #[error(
        "CSR asks for {asked} but the caller is authenticated as {caller}: a certificate carries \
         only the caller's own identity"
    )]
    ForeignSan {
        /// What the CSR asks for.
        asked: String,
        /// Who the caller is.
        caller: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A signed certificate.
#[derive(Debug, Clone)]
pub struct Signed {
    /// PEM: the leaf, the chain up to the root, and last the trust bundle (one string, the
    /// signing root first).
    pub cert_chain: Vec<String>,
    /// The lifetime given.
    pub ttl: Duration,
}

/// The mesh CA.
pub struct MeshCa {
    opts: CaOptions,
    current: ArcSwap<Current>,
    previous: Mutex<Vec<PreviousRoot>>,
    token: TokenKey,
    generation: watch::Sender<u64>,
    reload_lock: Mutex<()>,
}

impl std::fmt::Debug for MeshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshCa")
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn from_epoch(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn root_not_after(der: &[u8]) -> SystemTime {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(der)
        .map(|(_, c)| from_epoch(c.validity().not_after.timestamp().max(0) as u64))
        .unwrap_or(UNIX_EPOCH)
}

impl MeshCa {
    /// Opens the CA: the plugged-in one, or the self-signed one under the state directory
    /// (made now if absent); and the token signing key.
    pub fn open(opts: CaOptions) -> Result<Arc<MeshCa>, CaError> {
        files::private_dir(&opts.state_dir).map_err(|e| CaError::file(&opts.state_dir, e))?;
        let token = TokenKey::load_or_create(&opts.state_dir)?;
        let (files, signer) = match &opts.plugged_dir {
            Some(dir) => {
                let f = CaFiles::read(dir)?;
                let s = SigningCa::from_files(&f).map_err(|message| CaError::Invalid {
                    source_desc: format!("plugged in from {}", dir.display()),
                    message,
                })?;
                (f, s)
            }
            None => Self::self_signed(&opts)?,
        };
        let (generation, _) = watch::channel(0);
        Ok(Arc::new(MeshCa {
            current: ArcSwap::from_pointee(Current {
                signer,
                files,
                issued_until: AtomicU64::new(0),
            }),
            previous: Mutex::new(Vec::new()),
            token,
            generation,
            reload_lock: Mutex::new(()),
            opts,
        }))
    }

    fn self_signed(opts: &CaOptions) -> Result<(CaFiles, SigningCa), CaError> {
        let dir = opts.state_dir.join(CA_DIR);
        if !dir.exists() {
            // made aside then renamed into place: two mastd starting at once on one state
            // directory end up with the same root
            let f = SigningCa::generate_root(&opts.trust_domain, ROOT_LIFETIME)?;
            let tmp = opts.state_dir.join(format!(
                ".ca.tmp.{}.{}",
                std::process::id(),
                hex(&super::authority::random_serial().to_bytes())
            ));
            f.write(&tmp)?;
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => tracing::info!(
                    dir = %dir.display(),
                    trust_domain = %opts.trust_domain,
                    "created the self-signed root CA"
                ),
                Err(_) if dir.exists() => {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
                Err(e) => return Err(CaError::file(&dir, e)),
            }
        }
        let f = CaFiles::read(&dir)?;
        let s = SigningCa::from_files(&f).map_err(|message| CaError::Invalid {
            source_desc: format!(
                "self-signed in {} (remove the directory to make a new root, which every \
                 workload must then trust)",
                dir.display()
            ),
            message,
        })?;
        Ok((f, s))
    }

    /// Where the CA comes from, for logs.
    pub fn describe(&self) -> String {
        match &self.opts.plugged_dir {
            Some(d) => format!("plugged in from {}", d.display()),
            None => format!(
                "self-signed in {}",
                self.opts.state_dir.join(CA_DIR).display()
            ),
        }
    }

    /// The options.
    pub fn options(&self) -> &CaOptions {
        &self.opts
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.opts.trust_domain
    }

    /// The token signing key.
    pub fn token_key(&self) -> &TokenKey {
        &self.token
    }

    /// The current root (PEM).
    pub fn root_pem(&self) -> String {
        self.current.load().signer.root_pem().to_string()
    }

    /// Changes of the CA (a new signing certificate or root): the value counts them.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The trust bundle: the current root (and the other roots of `root-cert.pem`), then the
    /// previous roots still in their overlap window. PEM, one certificate each.
    pub fn trust_bundle(&self) -> Vec<String> {
        let cur = self.current.load();
        let mut out: Vec<String> = cur.signer.roots_pem().to_vec();
        let now = SystemTime::now();
        let mut prev = self.previous.lock().expect("previous roots");
        prev.retain(|p| p.until > now);
        for p in prev.iter() {
            if !out.contains(&p.pem) {
                out.push(p.pem.clone());
            }
        }
        out
    }

    /// The trust bundle as DER.
    pub fn trust_bundle_der(&self) -> Vec<CertificateDer<'static>> {
        self.trust_bundle()
            .iter()
            .filter_map(|p| files::cert_der(p).ok())
            .collect()
    }

    /// The lifetime to give when `requested_secs` are asked for: the default for 0 or less,
    /// at most the maximum.
    pub fn ttl_for(&self, requested_secs: i64) -> Duration {
        if requested_secs <= 0 {
            self.opts.default_ttl
        } else {
            Duration::from_secs(requested_secs as u64).min(self.opts.max_ttl)
        }
    }

    /// Signs `csr_pem` for `id`, who has been authenticated. The CSR's signature must be
    /// valid; its subject is ignored; any SAN in it must be `id` itself.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        id: &SpiffeId,
        requested_secs: i64,
    ) -> Result<Signed, SignError> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            SignError::BadCsr(match e {
                rcgen::Error::CouldNotParseCertificationRequest => {
                    "not a PEM certificate signing request".into()
                }
                rcgen::Error::InvalidCertificationRequestSignature => {
                    "its signature does not verify".into()
                }
                rcgen::Error::UnsupportedExtension => {
                    "it requests an extension the CA does not accept (only subjectAltName, \
                     keyUsage, extendedKeyUsage, basicConstraints)"
                        .into()
                }
                e => e.to_string(),
            })
        })?;
        let want = id.to_string();
        for san in &csr.params.subject_alt_names {
            let asked = match san {
                rcgen::SanType::URI(u) if u.as_str() == want => continue,
                rcgen::SanType::URI(u) => format!("URI SAN {}", u.as_str()),
                rcgen::SanType::DnsName(d) => format!("DNS SAN {}", d.as_str()),
                rcgen::SanType::IpAddress(ip) => format!("IP SAN {ip}"),
                rcgen::SanType::Rfc822Name(m) => format!("email SAN {}", m.as_str()),
                other => format!("SAN {other:?}"),
            };
            return Err(SignError::ForeignSan {
                asked,
                caller: want,
            });
        }
        if matches!(csr.params.is_ca, rcgen::IsCa::Ca(_)) {
            return Err(SignError::BadCsr(
                "it asks for a CA certificate; workloads get leaf certificates only".into(),
            ));
        }
        let ttl = self.ttl_for(requested_secs);
        let cur = self.current.load_full();
        let (leaf, not_after) = cur
            .signer
            .sign_workload(&csr.public_key, id, ttl)
            .map_err(SignError::Sign)?;
        cur.issued_until
            .fetch_max(epoch(not_after), Ordering::Relaxed);
        let mut cert_chain = vec![leaf];
        cert_chain.extend(cur.signer.chain_pem().iter().cloned());
        cert_chain.push(self.trust_bundle().concat());
        // the lifetime given: the asked one, or less when the CA itself expires sooner
        let given = not_after
            .duration_since(SystemTime::now())
            .map(|d| Duration::from_secs(d.as_secs_f64().round() as u64))
            .unwrap_or_default()
            .min(ttl);
        tracing::info!(
            identity = %id,
            ttl_secs = given.as_secs(),
            requested_secs,
            key = ?csr.public_key.algorithm(),
            "signed a workload certificate"
        );
        Ok(Signed {
            cert_chain,
            ttl: given,
        })
    }

    /// A server certificate for `hostnames` from the current CA.
    pub fn issue_server(&self, hostnames: &[String], ttl: Duration) -> Result<Issued, String> {
        let cur = self.current.load_full();
        let issued = cur.signer.issue_server(hostnames, ttl)?;
        cur.issued_until
            .fetch_max(epoch(issued.not_after), Ordering::Relaxed);
        Ok(issued)
    }

    /// Re-reads a plugged-in CA. `Ok(true)` when it changed and was taken, `Ok(false)` when
    /// the files are as before (or the CA is self-signed); `Err` when the new files do not
    /// check out (the old CA stays).
    pub fn reload(&self) -> Result<bool, String> {
        let Some(dir) = &self.opts.plugged_dir else {
            return Ok(false);
        };
        let _g = self.reload_lock.lock().expect("reload lock");
        let f = CaFiles::read(dir).map_err(|e| e.to_string())?;
        let cur = self.current.load_full();
        if f == cur.files {
            return Ok(false);
        }
        let signer = SigningCa::from_files(&f)?;
        let root_changed = signer.root_der() != cur.signer.root_der();
        if root_changed {
            let now = SystemTime::now();
            let old_der = cur.signer.root_der().clone();
            let until = (now + self.opts.root_overlap)
                .max(from_epoch(cur.issued_until.load(Ordering::Relaxed)))
                .min(root_not_after(&old_der));
            let mut prev = self.previous.lock().expect("previous roots");
            prev.retain(|p| p.der != *signer.root_der());
            for (i, pem) in cur.signer.roots_pem().iter().enumerate() {
                let der = if i == 0 {
                    old_der.clone()
                } else {
                    match files::cert_der(pem) {
                        Ok(d) => d,
                        Err(_) => continue,
                    }
                };
                if signer.roots_pem().contains(pem) {
                    continue;
                }
                prev.retain(|p| p.der != der);
                prev.push(PreviousRoot {
                    pem: pem.clone(),
                    der,
                    until,
                });
            }
            tracing::warn!(
                dir = %dir.display(),
                old_root_trusted_until = ?until,
                "plugged-in CA root changed: old and new roots are both trusted until then"
            );
        } else {
            tracing::info!(dir = %dir.display(), "plugged-in CA reloaded (same root)");
        }
        self.current.store(Arc::new(Current {
            signer,
            files: f,
            issued_until: AtomicU64::new(0),
        }));
        self.generation.send_modify(|g| *g += 1);
        Ok(true)
    }

    /// Watches a plugged-in CA's directory and reloads on change (and every
    /// `reload_poll`). Returns the watcher to keep; `None` for a self-signed CA.
    pub fn watch(self: &Arc<Self>) -> Result<Option<notify::RecommendedWatcher>, CaError> {
        let Some(dir) = self.opts.plugged_dir.clone() else {
            return Ok(None);
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(4);
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok() {
                let _ = tx.try_send(());
            }
        })
        .map_err(|source| CaError::Watch {
            path: dir.display().to_string(),
            source,
        })?;
        w.watch(&dir, notify::RecursiveMode::NonRecursive)
            .map_err(|source| CaError::Watch {
                path: dir.display().to_string(),
                source,
            })?;
        let weak: Weak<MeshCa> = Arc::downgrade(self);
        let poll = self.opts.reload_poll;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    e = rx.recv() => e.is_some(),
                    _ = tokio::time::sleep(poll) => true,
                };
                if !event {
                    return;
                }
                // let a copy of several files settle
                tokio::time::sleep(Duration::from_millis(100)).await;
                while rx.try_recv().is_ok() {}
                let Some(ca) = weak.upgrade() else { return };
                let r = tokio::task::spawn_blocking(move || ca.reload()).await;
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(
                        error = %e,
                        "plugged-in CA files do not check out; still signing with the previous CA"
                    ),
                    Err(e) => tracing::error!(error = %e, "CA reload panicked"),
                }
            }
        });
        Ok(Some(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(state: &std::path::Path) -> CaOptions {
        CaOptions {
            trust_domain: "cluster.local".into(),
            state_dir: state.to_path_buf(),
            plugged_dir: None,
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(7200),
            root_overlap: Duration::from_secs(60),
            reload_poll: Duration::from_secs(10),
        }
    }

    /// Several mastd starting at once on a new state directory agree on one root and key.
    #[test]
    fn concurrent_first_starts_agree() {
        let d = tempfile::tempdir().unwrap();
        let roots: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| MeshCa::open(opts(d.path())).unwrap()))
                .collect();
            hs.into_iter()
                .map(|h| {
                    let ca = h.join().unwrap();
                    let t = ca.token_key().mint("a", "b", 60);
                    assert!(
                        MeshCa::open(opts(d.path()))
                            .unwrap()
                            .token_key()
                            .verify(&t)
                            .is_ok()
                    );
                    ca.root_pem()
                })
                .collect()
        });
        assert!(roots.windows(2).all(|w| w[0] == w[1]));
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "temporaries left: {left:?}");
    }

    #[test]
    fn ttl_defaults_and_cap() {
        let d = tempfile::tempdir().unwrap();
        let ca = MeshCa::open(opts(d.path())).unwrap();
        assert_eq!(ca.ttl_for(0), Duration::from_secs(3600));
        assert_eq!(ca.ttl_for(-5), Duration::from_secs(3600));
        assert_eq!(ca.ttl_for(60), Duration::from_secs(60));
        assert_eq!(ca.ttl_for(10_000), Duration::from_secs(7200));
    }
}
