//! `IstioCertificateService/CreateCertificate`: authenticate the caller, check the CSR, sign.
//!
//! Status codes: `UNAUTHENTICATED` when no authenticator accepts the caller, `INVALID_ARGUMENT`
//! for a CSR that cannot be read or is not signed by its key, `PERMISSION_DENIED` for a CSR
//! asking for an identity other than the caller's, `INTERNAL` when signing fails.

use std::sync::Arc;

use mast_xds::ca::{
    IstioCertificateRequest, IstioCertificateResponse, IstioCertificateService,
    IstioCertificateServiceServer,
};
use tonic::{Request, Response, Status, async_trait};

use super::auth::{self, Authenticator, ClientCertAuthenticator, Credentials, TokenAuthenticator};
use super::mesh::{MeshCa, SignError};

/// The CA's gRPC service.
pub struct CaService {
    ca: Arc<MeshCa>,
    authenticators: Vec<Arc<dyn Authenticator>>,
}

impl CaService {
    /// The service with mastd's authenticators: client certificate, then bearer token.
    pub fn new(ca: Arc<MeshCa>) -> CaService {
        let authenticators: Vec<Arc<dyn Authenticator>> = vec![
            Arc::new(ClientCertAuthenticator::new(ca.trust_domain())),
            Arc::new(TokenAuthenticator::new(ca.clone())),
        ];
        CaService::with_authenticators(ca, authenticators)
    }

    /// The service with these authenticators, tried in order (e.g. with a Kubernetes
    /// TokenReview one added).
    pub fn with_authenticators(
        ca: Arc<MeshCa>,
        authenticators: Vec<Arc<dyn Authenticator>>,
    ) -> CaService {
        CaService { ca, authenticators }
    }

    /// As a tonic service.
    pub fn into_server(self) -> IstioCertificateServiceServer<CaService> {
        IstioCertificateServiceServer::new(self)
    }
}

#[async_trait]
impl IstioCertificateService for CaService {
    async fn create_certificate(
        &self,
        request: Request<IstioCertificateRequest>,
    ) -> Result<Response<IstioCertificateResponse>, Status> {
        let creds = Credentials {
            authorization: request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            peer_certs: request.peer_certs(),
        };
        let remote = request.remote_addr();
        let caller = match auth::authenticate(&self.authenticators, &creds).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(?remote, error = %e, "CreateCertificate refused");
                return Err(Status::unauthenticated(e));
            }
        };
        let req = request.into_inner();
        let ca = self.ca.clone();
        let id = caller.id.clone();
        let signed =
            tokio::task::spawn_blocking(move || ca.sign_csr(&req.csr, &id, req.validity_duration))
                .await
                .map_err(|e| Status::internal(format!("signing task: {e}")))?;
        match signed {
            Ok(s) => {
                tracing::debug!(identity = %caller.id, by = caller.by, ?remote, "certificate issued");
                Ok(Response::new(IstioCertificateResponse {
                    cert_chain: s.cert_chain,
                }))
            }
            Err(e) => {
                tracing::warn!(identity = %caller.id, by = caller.by, ?remote, error = %e, "CreateCertificate refused");
                Err(match e {
                    SignError::BadCsr(_) => Status::invalid_argument(e.to_string()),
                    SignError::ForeignSan { .. } => Status::permission_denied(e.to_string()),
                    SignError::Sign(_) => Status::internal(e.to_string()),
                })
            }
        }
    }
}
