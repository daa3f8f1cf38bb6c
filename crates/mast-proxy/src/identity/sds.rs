//! An SDS server on a Unix socket, as Istio's agent serves one to Envoy: `default` is the
//! workload certificate and key (`tls_certificate`), `ROOTCA` the trust bundle
//! (`validation_context.trusted_ca`). Streams get the current secrets at once and a new
//! version at every rotation, so a stock Envoy pointed at the socket uses the proxy's identity.
//!
//! Versions are the [`Issued::version`] counter; the socket is made owner-only (0600) because
//! `default` carries the private key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::DataSource;
use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::{
    SecretDiscoveryService, SecretDiscoveryServiceServer,
};
use envoy_types::pb::google::protobuf::Any;
use mast_xds::types;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status, Streaming, async_trait};

use super::{Issued, Store};
use crate::drain::Drain;

/// The workload certificate's secret name.
pub const DEFAULT: &str = "default";
/// The trust bundle's secret name.
pub const ROOTCA: &str = "ROOTCA";

fn inline(pem: &str) -> Option<DataSource> {
    Some(DataSource {
        specifier: Some(Specifier::InlineBytes(pem.as_bytes().to_vec())),
        ..Default::default()
    })
}

/// The secret `name` from `issued`, if it is one of ours.
pub fn secret(name: &str, issued: &Issued) -> Option<Secret> {
    let t = match name {
        DEFAULT => secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline(&issued.chain_pem),
            private_key: inline(&issued.key_pem),
            ..Default::default()
        }),
        ROOTCA => secret::Type::ValidationContext(CertificateValidationContext {
            trusted_ca: inline(&issued.roots_pem),
            ..Default::default()
        }),
        _ => return None,
    };
    Some(Secret {
        name: name.to_string(),
        r#type: Some(t),
    })
}

/// Envoy's `SecretsConfigDump` for `/config_dump`: `default` and `ROOTCA` as SDS serves them,
/// the private key shown as `[redacted]` as Envoy does.
pub fn config_dump(issued: Option<&Issued>) -> serde_json::Value {
    let secrets: Vec<serde_json::Value> = issued
        .into_iter()
        .flat_map(|i| {
            [DEFAULT, ROOTCA].into_iter().filter_map(move |n| {
                let mut s = secret(n, i)?;
                if let Some(secret::Type::TlsCertificate(t)) = &mut s.r#type {
                    t.private_key = Some(DataSource {
                        specifier: Some(Specifier::InlineBytes(b"[redacted]".to_vec())),
                        ..Default::default()
                    });
                }
                let any = Any {
                    type_url: types::SECRET.to_string(),
                    value: s.encode_to_vec(),
                };
                Some(serde_json::json!({
                    "name": n,
                    "version_info": i.version.to_string(),
                    "last_updated": super::rfc3339(i.installed),
                    "secret": mast_xds::json::any_to_json(&any),
                }))
            })
        })
        .collect();
    serde_json::json!({
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "dynamic_active_secrets": secrets,
    })
}

fn response(names: &BTreeSet<String>, issued: &Issued, nonce: u64) -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: issued.version.to_string(),
        resources: names
            .iter()
            .filter_map(|n| secret(n, issued))
            .map(|s| Any {
                type_url: types::SECRET.to_string(),
                value: s.encode_to_vec(),
            })
            .collect(),
        type_url: types::SECRET.to_string(),
        nonce: nonce.to_string(),
        ..Default::default()
    }
}

/// The SDS service over the identity store.
#[derive(Debug, Clone)]
pub struct Sds {
    store: Arc<Store>,
}

impl Sds {
    /// A service over `store`.
    pub fn new(store: Arc<Store>) -> Sds {
        Sds { store }
    }
}

async fn current(rx: &mut watch::Receiver<Option<Arc<Issued>>>) -> Option<Arc<Issued>> {
    rx.wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|g| g.clone())
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[async_trait]
impl SecretDiscoveryService for Sds {
    type DeltaSecretsStream = BoxStream<DeltaDiscoveryResponse>;
    type StreamSecretsStream = BoxStream<DiscoveryResponse>;

    async fn delta_secrets(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Err(Status::unimplemented(
            "delta SDS is not served; use StreamSecrets (Envoy's default)",
        ))
    }

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        let mut input = request.into_inner();
        let mut rx = self.store.subscribe();
        let (tx, out) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut names: BTreeSet<String> = BTreeSet::new();
            let mut sent_version = 0u64;
            let mut nonce = 0u64;
            loop {
                tokio::select! {
                    req = input.message() => {
                        let req = match req {
                            Ok(Some(r)) => r,
                            _ => return,
                        };
                        if let Some(e) = &req.error_detail {
                            tracing::warn!(names = ?req.resource_names, error = %e.message, "SDS client rejected a secret");
                        }
                        let asked: BTreeSet<String> = req.resource_names.iter().cloned().collect();
                        let unknown: Vec<&String> = asked.iter().filter(|n| *n != DEFAULT && *n != ROOTCA).collect();
                        if !unknown.is_empty() {
                            let _ = tx.send(Err(Status::not_found(format!(
                                "unknown secret {unknown:?}: this SDS server serves \"default\" and \"ROOTCA\""
                            )))).await;
                            return;
                        }
                        // an ACK of what was sent, for the same names, needs no answer
                        if asked == names && !req.response_nonce.is_empty() {
                            continue;
                        }
                        names = asked;
                        if names.is_empty() {
                            continue;
                        }
                        let Some(i) = current(&mut rx).await else { return };
                        nonce += 1;
                        sent_version = i.version;
                        if tx.send(Ok(response(&names, &i, nonce))).await.is_err() {
                            return;
                        }
                    }
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let Some(i) = rx.borrow_and_update().clone() else { continue };
                        if names.is_empty() || i.version == sent_version {
                            continue;
                        }
                        nonce += 1;
                        sent_version = i.version;
                        if tx.send(Ok(response(&names, &i, nonce))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn fetch_secrets(
        &self,
        request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        let req = request.into_inner();
        if let Some(n) = req
            .resource_names
            .iter()
            .find(|n| *n != DEFAULT && *n != ROOTCA)
        {
            return Err(Status::not_found(format!(
                "unknown secret {n:?}: this SDS server serves \"default\" and \"ROOTCA\""
            )));
        }
        let i = self
            .store
            .current()
            .ok_or_else(|| Status::unavailable("no workload certificate yet"))?;
        let names = req.resource_names.into_iter().collect();
        Ok(Response::new(response(&names, &i, 0)))
    }
}

/// Why the SDS socket could not be served.
#[derive(Debug, thiserror::Error)]
#[error("SDS socket {path}: {source}")]
pub struct SdsError {
    /// The socket path.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Binds `path` (removing a stale socket, making the directory) and serves SDS on it until the
/// drain.
pub fn serve(path: &Path, store: Arc<Store>, drain: Drain) -> Result<(), SdsError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| SdsError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    let svc = SecretDiscoveryServiceServer::new(Sds::new(store));
    let p = path.to_path_buf();
    tokio::spawn(async move {
        let r = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), drain.signaled())
            .await;
        if let Err(e) = r {
            tracing::warn!(path = %p.display(), error = %e, "SDS server stopped");
        }
        let _ = std::fs::remove_file(&p);
    });
    tracing::info!(path = %path.display(), "SDS server listening");
    Ok(())
}
