//! The mesh CA (Citadel's part of istiod): signs workload certificates over Istio's
//! `IstioCertificateService/CreateCertificate`, on the plaintext gRPC port (15010) and on the
//! TLS one (15012) next to ADS.
//!
//! - [`authority`]: one signing CA (its certificate, key, chain and root) and how a
//!   certificate is made.
//! - [`mesh`]: the CA mastd runs: self-signed and persisted under the state directory, or
//!   plugged in from a directory that is watched; the trust bundle across root changes.
//! - [`token`]: mastd's token signing key; minting and checking workload tokens.
//! - [`auth`]: who is calling: bearer token, mesh client certificate, and the seam for
//!   Kubernetes TokenReview.
//! - [`service`]: `CreateCertificate` itself.
//! - [`tls`]: the 15012 server: a certificate for `istiod.<ns>.svc` issued by the mesh CA and
//!   optional client certificates checked against the trust bundle.
//! - [`files`]: PEM and key files (keys written 0600).
//!
//! docs/security.md is the user's side of this.

pub mod auth;
pub mod authority;
pub mod files;
pub mod mesh;
pub mod service;
pub mod tls;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use mast_xds::ca::IstioCertificateServiceServer;

use crate::args::Args;

pub use mesh::{CaOptions, MeshCa};
pub use service::CaService;

/// Why the CA could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file of the state directory or of the plugged-in CA could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The CA material is unusable (e.g. the key does not match the certificate).
    #[error("CA {source_desc}: {message}")]
    Invalid {
        /// Where the CA came from.
        source_desc: String,
        /// What is wrong.
        message: String,
    },
    /// The secure gRPC port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The plugged-in CA directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: String,
        /// The watcher's error.
        source: notify::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(String),
}

impl CaError {
    pub(crate) fn file(path: &std::path::Path, e: impl std::fmt::Display) -> CaError {
        CaError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl CaOptions {
    /// The options `args` ask for, in `trust_domain` (MeshConfig `trustDomain`).
    pub fn from_args(args: &Args, trust_domain: &str) -> CaOptions {
        CaOptions {
            trust_domain: trust_domain.to_string(),
            state_dir: args
                .state_dir
                .clone()
                .unwrap_or_else(mast_xds::ca::default_state_dir),
            plugged_dir: args.ca_cert_dir.clone(),
            default_ttl: args.workload_cert_ttl,
            max_ttl: args.max_workload_cert_ttl,
            root_overlap: args.ca_root_overlap,
            reload_poll: Duration::from_secs(10),
        }
    }
}

/// The CA as mastd serves it.
pub struct Serving {
    /// The CA.
    pub mesh_ca: Arc<MeshCa>,
    /// The gRPC service, for the plaintext server.
    pub service: IstioCertificateServiceServer<CaService>,
    /// The bound TLS address (ADS + CA).
    pub secure_grpc_addr: SocketAddr,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// `--secureGrpcAddr`, or its default: 127.0.0.1:15012, or an ephemeral port on the plaintext
/// address's IP when `--grpcAddr` asks for an ephemeral port (tests start many mastd).
pub fn secure_addr(args: &Args) -> SocketAddr {
    args.secure_grpc_addr.unwrap_or_else(|| {
        if args.grpc_addr.port() == 0 {
            SocketAddr::new(args.grpc_addr.ip(), 0)
        } else {
            SocketAddr::from(([127, 0, 0, 1], 15012))
        }
    })
}

/// Binds the secure port. When `--secureGrpcAddr` was not given and 15012 is taken (another
/// mastd on the host, tests), an ephemeral port is used with a warning; an address that was
/// given must be free.
async fn bind_secure(args: &Args) -> Result<TcpListener, CaError> {
    let addr = secure_addr(args);
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if args.secure_grpc_addr.is_none() && e.kind() == std::io::ErrorKind::AddrInUse => {
            let fallback = SocketAddr::new(addr.ip(), 0);
            let l = TcpListener::bind(fallback)
                .await
                .map_err(|source| CaError::Bind {
                    addr: fallback,
                    source,
                })?;
            tracing::warn!(
                default = %addr,
                using = ?l.local_addr().ok(),
                "the default secure gRPC port is in use; serving TLS on an ephemeral port \
                 (set --secureGrpcAddr to choose)"
            );
            Ok(l)
        }
        Err(source) => Err(CaError::Bind { addr, source }),
    }
}

/// Opens the CA (creating the self-signed root on first start), starts watching a plugged-in
/// CA, and serves ADS and the CA over TLS on `--secureGrpcAddr`.
pub async fn start(
    args: &Args,
    trust_domain: &str,
    ads: crate::xds::server::grpc::AdsServer,
) -> Result<Serving, CaError> {
    let ca = MeshCa::open(CaOptions::from_args(args, trust_domain))?;
    let watcher = ca.watch()?;
    let service = CaService::new(ca.clone()).into_server();
    let mut hostnames = vec![format!("istiod.{}.svc", args.istio_namespace)];
    hostnames.extend(args.ca_hostnames.iter().filter(|h| !h.is_empty()).cloned());
    let listener = bind_secure(args).await?;
    let secure_grpc_addr = tls::serve(listener, ca.clone(), hostnames, ads, service.clone())?;
    tracing::info!(
        %secure_grpc_addr,
        ca = %ca.describe(),
        trust_domain,
        "CA started"
    );
    Ok(Serving {
        mesh_ca: ca,
        service,
        secure_grpc_addr,
        _watcher: watcher,
    })
}
