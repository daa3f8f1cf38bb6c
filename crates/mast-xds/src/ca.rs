//! Istio's CA service, `istio.v1.auth.IstioCertificateService`, written by hand (prost derive
//! and a tonic client and server shaped like tonic's generated code), plus what mastd, the
//! proxy and mastctl share about workload identity: SPIFFE ids, the token claims `mastctl
//! workload token` mints, and where mastd keeps its state.
//!
//! Wire-compatible with Istio's `security/proto/istioca.proto`:
//!
//! ```proto
//! message IstioCertificateRequest {
//!   string csr = 1;
//!   int64 validity_duration = 3;          // seconds
//!   google.protobuf.Struct metadata = 4;
//! }
//! message IstioCertificateResponse {
//!   repeated string cert_chain = 1;       // PEM: leaf first, root last
//! }
//! service IstioCertificateService {
//!   rpc CreateCertificate(IstioCertificateRequest) returns (IstioCertificateResponse);
//! }
//! ```
//!
//! As in Istio, the last element of `cert_chain` is the trust bundle: normally one root, but
//! while a root changes it holds several PEM certificates (the root that signed the chain
//! first, then the roots still trusted from before). Every other element is one certificate.

use std::fmt;
use std::path::PathBuf;

use envoy_types::pb::google::protobuf::Struct;
use serde::{Deserialize, Serialize};

/// The gRPC service name.
pub const SERVICE_NAME: &str = "istio.v1.auth.IstioCertificateService";
/// The full path of `CreateCertificate`.
pub const CREATE_CERTIFICATE_PATH: &str =
    "/istio.v1.auth.IstioCertificateService/CreateCertificate";
/// The audience a workload token must carry (Istio's `istio-ca`).
pub const TOKEN_AUDIENCE: &str = "istio-ca";
/// The issuer of tokens minted with mastd's key.
pub const TOKEN_ISSUER: &str = "mastd";
/// Istio's default workload certificate lifetime (24 h).
pub const DEFAULT_WORKLOAD_CERT_TTL_SECS: i64 = 24 * 3600;
/// Istio's `MAX_WORKLOAD_CERT_TTL` (90 days).
pub const MAX_WORKLOAD_CERT_TTL_SECS: i64 = 90 * 24 * 3600;
/// The file under the state directory holding mastd's token signing key (PKCS#8 PEM, ECDSA
/// P-256, mode 0600). `mastctl workload token` reads it.
pub const TOKEN_KEY_FILE: &str = "token/signing-key.pem";
/// The directory under the state directory holding the self-signed CA (Istio's cacerts
/// layout: `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem`).
pub const CA_DIR: &str = "ca";

/// mastd's state directory when neither `--stateDir` nor `MAST_STATE_DIR` says: `$HOME/.mast/state`,
/// or `./.mast/state` without a home directory. mastd and `mastctl workload token` agree on it,
/// so on one host neither needs a flag.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MAST_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".mast").join("state"),
        None => PathBuf::from(".mast").join("state"),
    }
}

/// `istio.v1.auth.IstioCertificateRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct IstioCertificateRequest {
    /// The PEM-encoded certificate signing request.
    #[prost(string, tag = "1")]
    pub csr: ::prost::alloc::string::String,
    /// The requested lifetime, in seconds (0: the CA's default).
    #[prost(int64, tag = "3")]
    pub validity_duration: i64,
    /// Optional metadata (Istio uses it for impersonation by a trusted node agent).
    #[prost(message, optional, tag = "4")]
    pub metadata: ::core::option::Option<Struct>,
}

/// `istio.v1.auth.IstioCertificateResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct IstioCertificateResponse {
    /// PEM certificates: the leaf first, the trust bundle (root) last.
    #[prost(string, repeated, tag = "1")]
    pub cert_chain: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
}

/// A workload identity: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    /// The trust domain (e.g. `cluster.local`).
    pub trust_domain: String,
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
}

/// Why a string is not a workload SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a workload SPIFFE id (spiffe://<trust domain>/ns/<namespace>/sa/<service account>)"
)]
pub struct SpiffeIdError(pub String);

impl SpiffeId {
    /// Builds an id.
    pub fn new(trust_domain: &str, namespace: &str, service_account: &str) -> SpiffeId {
        SpiffeId {
            trust_domain: trust_domain.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        }
    }

    /// Parses `spiffe://TD/ns/NS/sa/SA`.
    pub fn parse(s: &str) -> Result<SpiffeId, SpiffeIdError> {
        let err = || SpiffeIdError(s.to_string());
        let rest = s.strip_prefix("spiffe://").ok_or_else(err)?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [td, "ns", ns, "sa", sa] if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
                Ok(SpiffeId::new(td, ns, sa))
            }
            _ => Err(err()),
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spiffe://{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

/// The claims of a workload token (`mastctl workload token`), a JWT signed ES256 with mastd's
/// key. `sub` is Kubernetes' spelling of a service account, `system:serviceaccount:NS:SA`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Issuer: [`TOKEN_ISSUER`].
    pub iss: String,
    /// `system:serviceaccount:NS:SA`.
    pub sub: String,
    /// Audience: [`TOKEN_AUDIENCE`].
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
}

impl TokenClaims {
    /// Claims for `namespace`/`service_account`, valid from `now` for `ttl_secs`.
    pub fn new(namespace: &str, service_account: &str, now: u64, ttl_secs: u64) -> TokenClaims {
        TokenClaims {
            iss: TOKEN_ISSUER.to_string(),
            sub: service_account_subject(namespace, service_account),
            aud: TOKEN_AUDIENCE.to_string(),
            exp: now + ttl_secs,
            iat: now,
            nbf: now,
        }
    }

    /// The namespace and service account named by `sub`.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        parse_service_account_subject(&self.sub)
    }
}

/// `system:serviceaccount:NS:SA`.
pub fn service_account_subject(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

/// Reads `system:serviceaccount:NS:SA`.
pub fn parse_service_account_subject(sub: &str) -> Option<(&str, &str)> {
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

/// Client of `IstioCertificateService`.
pub mod istio_certificate_service_client {
    #![allow(clippy::wildcard_imports)]
    use tonic::codegen::http::Uri;
    use tonic::codegen::*;

    /// A client of Istio's CA service.
    #[derive(Debug, Clone)]
    pub struct IstioCertificateServiceClient<T> {
        inner: tonic::client::Grpc<T>,
    }

    impl IstioCertificateServiceClient<tonic::transport::Channel> {
        /// Connects to `dst` (e.g. `http://127.0.0.1:15010`).
        pub async fn connect<D>(dst: D) -> Result<Self, tonic::transport::Error>
        where
            D: TryInto<tonic::transport::Endpoint>,
            D::Error: Into<StdError>,
        {
            let conn = tonic::transport::Endpoint::new(dst)?.connect().await?;
            Ok(Self::new(conn))
        }
    }

    impl<T> IstioCertificateServiceClient<T>
    where
        T: tonic::client::GrpcService<tonic::body::Body>,
        T::Error: Into<StdError>,
        T::ResponseBody: Body<Data = Bytes> + std::marker::Send + 'static,
        <T::ResponseBody as Body>::Error: Into<StdError> + std::marker::Send,
    {
        /// A client over `inner`.
        pub fn new(inner: T) -> Self {
            let inner = tonic::client::Grpc::new(inner);
            Self { inner }
        }

        /// A client over `inner`, sending requests to `origin`.
        pub fn with_origin(inner: T, origin: Uri) -> Self {
            let inner = tonic::client::Grpc::with_origin(inner, origin);
            Self { inner }
        }

        /// A client whose requests pass through `interceptor` (e.g. to add a bearer token).
        pub fn with_interceptor<F>(
            inner: T,
            interceptor: F,
        ) -> IstioCertificateServiceClient<InterceptedService<T, F>>
        where
            F: tonic::service::Interceptor,
            T::ResponseBody: Default,
            T: tonic::codegen::Service<
                    http::Request<tonic::body::Body>,
                    Response = http::Response<
                        <T as tonic::client::GrpcService<tonic::body::Body>>::ResponseBody,
                    >,
                >,
            <T as tonic::codegen::Service<http::Request<tonic::body::Body>>>::Error:
                Into<StdError> + std::marker::Send + std::marker::Sync,
        {
            IstioCertificateServiceClient::new(InterceptedService::new(inner, interceptor))
        }

        /// Limits the size of a decoded response.
        #[must_use]
        pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
            self.inner = self.inner.max_decoding_message_size(limit);
            self
        }

        /// Signs a CSR.
        pub async fn create_certificate(
            &mut self,
            request: impl tonic::IntoRequest<super::IstioCertificateRequest>,
        ) -> std::result::Result<tonic::Response<super::IstioCertificateResponse>, tonic::Status>
        {
            self.inner.ready().await.map_err(|e| {
                tonic::Status::unknown(format!("Service was not ready: {}", e.into()))
            })?;
            let codec = tonic_prost::ProstCodec::default();
            let path = http::uri::PathAndQuery::from_static(super::CREATE_CERTIFICATE_PATH);
            let mut req = request.into_request();
            req.extensions_mut()
                .insert(GrpcMethod::new(super::SERVICE_NAME, "CreateCertificate"));
            self.inner.unary(req, path, codec).await
        }
    }
}

/// Server of `IstioCertificateService`.
pub mod istio_certificate_service_server {
    #![allow(clippy::wildcard_imports)]
    use tonic::codegen::*;

    /// What a CA implements.
    #[async_trait]
    pub trait IstioCertificateService: std::marker::Send + std::marker::Sync + 'static {
        /// Signs the CSR for the authenticated caller.
        async fn create_certificate(
            &self,
            request: tonic::Request<super::IstioCertificateRequest>,
        ) -> std::result::Result<tonic::Response<super::IstioCertificateResponse>, tonic::Status>;
    }

    /// The tower service routing `CreateCertificate` to an [`IstioCertificateService`].
    #[derive(Debug)]
    pub struct IstioCertificateServiceServer<T> {
        inner: Arc<T>,
        accept_compression_encodings: EnabledCompressionEncodings,
        send_compression_encodings: EnabledCompressionEncodings,
        max_decoding_message_size: Option<usize>,
        max_encoding_message_size: Option<usize>,
    }

    impl<T> IstioCertificateServiceServer<T> {
        /// Serves `inner`.
        pub fn new(inner: T) -> Self {
            Self::from_arc(Arc::new(inner))
        }

        /// Serves a shared `inner`.
        pub fn from_arc(inner: Arc<T>) -> Self {
            Self {
                inner,
                accept_compression_encodings: Default::default(),
                send_compression_encodings: Default::default(),
                max_decoding_message_size: None,
                max_encoding_message_size: None,
            }
        }

        /// Wraps the service in an interceptor.
        pub fn with_interceptor<F>(inner: T, interceptor: F) -> InterceptedService<Self, F>
        where
            F: tonic::service::Interceptor,
        {
            InterceptedService::new(Self::new(inner), interceptor)
        }

        /// Limits the size of a decoded request (default 4 MB).
        #[must_use]
        pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
            self.max_decoding_message_size = Some(limit);
            self
        }

        /// Limits the size of an encoded response.
        #[must_use]
        pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
            self.max_encoding_message_size = Some(limit);
            self
        }
    }

    impl<T, B> tonic::codegen::Service<http::Request<B>> for IstioCertificateServiceServer<T>
    where
        T: IstioCertificateService,
        B: Body + std::marker::Send + 'static,
        B::Error: Into<StdError> + std::marker::Send + 'static,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(
            &mut self,
            _cx: &mut Context<'_>,
        ) -> Poll<std::result::Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            match req.uri().path() {
                super::CREATE_CERTIFICATE_PATH => {
                    struct CreateCertificateSvc<T: IstioCertificateService>(pub Arc<T>);
                    impl<T: IstioCertificateService>
                        tonic::server::UnaryService<super::IstioCertificateRequest>
                        for CreateCertificateSvc<T>
                    {
                        type Response = super::IstioCertificateResponse;
                        type Future = BoxFuture<tonic::Response<Self::Response>, tonic::Status>;
                        fn call(
                            &mut self,
                            request: tonic::Request<super::IstioCertificateRequest>,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as IstioCertificateService>::create_certificate(&inner, request)
                                    .await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = CreateCertificateSvc(inner);
                        let codec = tonic_prost::ProstCodec::default();
                        let mut grpc = tonic::server::Grpc::new(codec)
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.unary(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                _ => Box::pin(async move {
                    let mut response = http::Response::new(tonic::body::Body::default());
                    let headers = response.headers_mut();
                    headers.insert(
                        tonic::Status::GRPC_STATUS,
                        (tonic::Code::Unimplemented as i32).into(),
                    );
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        tonic::metadata::GRPC_CONTENT_TYPE,
                    );
                    Ok(response)
                }),
            }
        }
    }

    impl<T> Clone for IstioCertificateServiceServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: self.inner.clone(),
                accept_compression_encodings: self.accept_compression_encodings,
                send_compression_encodings: self.send_compression_encodings,
                max_decoding_message_size: self.max_decoding_message_size,
                max_encoding_message_size: self.max_encoding_message_size,
            }
        }
    }

    impl<T> tonic::server::NamedService for IstioCertificateServiceServer<T> {
        const NAME: &'static str = super::SERVICE_NAME;
    }
}

pub use istio_certificate_service_client::IstioCertificateServiceClient;
pub use istio_certificate_service_server::{
    IstioCertificateService, IstioCertificateServiceServer,
};

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn spiffe_ids() {
        let id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/bookinfo").unwrap();
        assert_eq!(id, SpiffeId::new("cluster.local", "default", "bookinfo"));
        assert_eq!(
            id.to_string(),
            "spiffe://cluster.local/ns/default/sa/bookinfo"
        );
        for bad in [
            "spiffe://cluster.local/ns/default",
            "spiffe://cluster.local/ns//sa/x",
            "http://cluster.local/ns/a/sa/b",
            "spiffe://td/ns/a/sa/b/c",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects() {
        assert_eq!(
            parse_service_account_subject(&service_account_subject("ns", "sa")),
            Some(("ns", "sa"))
        );
        assert_eq!(
            parse_service_account_subject("system:serviceaccount:ns"),
            None
        );
        assert_eq!(
            parse_service_account_subject("system:serviceaccount:a:b:c"),
            None
        );
        assert_eq!(parse_service_account_subject("user:a:b"), None);
    }

    /// The field numbers are Istio's: bytes written by hand per the proto decode as ours.
    #[test]
    fn wire_format_is_istios() {
        // csr = 1 "x", validity_duration = 3 (varint 60), metadata = 4 (empty Struct)
        let bytes = [0x0a, 0x01, b'x', 0x18, 60, 0x22, 0x00];
        let req = IstioCertificateRequest::decode(&bytes[..]).unwrap();
        assert_eq!(req.csr, "x");
        assert_eq!(req.validity_duration, 60);
        assert_eq!(req.metadata, Some(Struct::default()));
        assert_eq!(req.encode_to_vec(), bytes);
        let resp = IstioCertificateResponse {
            cert_chain: vec!["a".into(), "b".into()],
        };
        assert_eq!(resp.encode_to_vec(), [0x0a, 1, b'a', 0x0a, 1, b'b']);
    }
}
