//! TLS transport sockets: `DownstreamTlsContext` on filter chains, `UpstreamTlsContext` on
//! clusters, compiled into rustls configurations once per update.
//!
//! Supported: certificates from SDS `default` (the workload certificate), `file-cert:CERT~KEY`,
//! or inline / file `tls_certificates`; roots from SDS `ROOTCA`, `file-root:CA`, or
//! `trusted_ca`; exact `match_subject_alt_names`; ALPN; TLS 1.2–1.3 and TLS 1.2 cipher
//! suites. No validation context on an upstream means the peer is not verified (Envoy's
//! semantics). Refused: other SDS secrets (`kubernetes://`, SDS over ADS), `system` roots,
//! SPKI / hash pinning, CRLs, certificate providers, `require_sni`, `auto_host_sni`.
//!
//! In-mesh upstreams (ALPN containing `istio`) get Istio's `istio.alpn` override built in:
//! HTTP/1.1 requests offer `istio-http/1.1, istio` and HTTP/2 requests `istio-h2, istio, h2`,
//! so that the server sidecar's filter chain match sees HTTP.

use std::path::Path;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    UpstreamTlsContext, common_tls_context::ValidationContextType, tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use super::{Compiler, FieldError, Result};
use crate::tls::{self, KeySource, Params, RootSource};

/// The SDS name of the workload certificate.
pub const SDS_DEFAULT: &str = "default";
/// The SDS name of the mesh root.
pub const SDS_ROOT: &str = "ROOTCA";

/// TLS termination of a filter chain. The server's ALPN choice is made from the client's
/// offer before the handshake (the listener reads the ClientHello anyway), picking one of the
/// configurations built here; no offer in common means no ALPN, as with BoringSSL.
#[derive(Debug)]
pub struct DownstreamTls {
    /// Whether clients must present a certificate.
    pub require_client: bool,
    /// The server's ALPN protocols in preference order, each with its configuration.
    pub by_alpn: Vec<(String, Arc<ServerConfig>)>,
    /// The configuration negotiating no ALPN.
    pub no_alpn: Arc<ServerConfig>,
}

impl DownstreamTls {
    /// The configuration for a client offering `offered`.
    pub fn config_for(&self, offered: &[String]) -> &Arc<ServerConfig> {
        self.by_alpn
            .iter()
            .find(|(p, _)| offered.contains(p))
            .map(|(_, c)| c)
            .unwrap_or(&self.no_alpn)
    }
}

/// TLS origination of a cluster.
#[derive(Debug)]
pub struct UpstreamTls {
    /// SNI (`None`: none sent).
    pub sni: Option<ServerName<'static>>,
    /// The cluster's own ALPN (TCP proxying).
    pub raw: Arc<ClientConfig>,
    /// ALPN for HTTP/1.1 requests.
    pub http1: Arc<ClientConfig>,
    /// ALPN for HTTP/2 requests.
    pub http2: Arc<ClientConfig>,
    /// The identities the server must present (empty: any the roots accept).
    pub sans: Vec<String>,
    /// Whether this is Istio mTLS (ALPN with `istio`).
    pub in_mesh: bool,
}

fn data(ds: Option<&DataSource>, field: &str) -> Result<Vec<u8>> {
    match ds.and_then(|d| d.specifier.as_ref()) {
        Some(Specifier::Filename(f)) => {
            std::fs::read(f).map_err(|e| FieldError::new(field, format!("{f}: {e}")))
        }
        Some(Specifier::InlineBytes(b)) => Ok(b.clone()),
        Some(Specifier::InlineString(s)) => Ok(s.clone().into_bytes()),
        Some(Specifier::EnvironmentVariable(_)) => Err(FieldError::unsupported(format!(
            "{field}.environment_variable"
        ))),
        None => Err(FieldError::new(field, "is empty")),
    }
}

fn tls_err(field: &str) -> impl Fn(tls::TlsError) -> FieldError + '_ {
    move |e| FieldError::new(field, e.to_string())
}

#[allow(deprecated)]
fn key_source(c: &Compiler<'_>, ctx: &CommonTlsContext) -> Result<Option<KeySource>> {
    if ctx.tls_certificate_provider_instance.is_some()
        || ctx.tls_certificate_certificate_provider_instance.is_some()
    {
        return Err(FieldError::unsupported("tls_certificate_provider_instance"));
    }
    match (
        ctx.tls_certificates.as_slice(),
        ctx.tls_certificate_sds_secret_configs.as_slice(),
    ) {
        ([], []) => Ok(None),
        ([cert], []) => {
            let chain = data(
                cert.certificate_chain.as_ref(),
                "tls_certificates[0].certificate_chain",
            )?;
            let key = data(cert.private_key.as_ref(), "tls_certificates[0].private_key")?;
            KeySource::from_pem(&chain, &key)
                .map(Some)
                .map_err(tls_err("tls_certificates[0]"))
        }
        ([], [sds]) => {
            let field = "tls_certificate_sds_secret_configs[0].name";
            if sds.name == SDS_DEFAULT {
                return Ok(Some(KeySource::Workload(c.certs.clone())));
            }
            let files = sds
                .name
                .strip_prefix("file-cert:")
                .and_then(|f| f.split_once('~'));
            match files {
                Some((cert, key)) => KeySource::from_files(Path::new(cert), Path::new(key))
                    .map(Some)
                    .map_err(tls_err(field)),
                None => Err(FieldError::new(
                    field,
                    format!(
                        "SDS secret {:?} is not served (mast-proxy serves default and file-cert:)",
                        sds.name
                    ),
                )),
            }
        }
        _ => Err(FieldError::new(
            "tls_certificates",
            "more than one certificate is not supported by mast-proxy",
        )),
    }
}

fn sds_roots(c: &Compiler<'_>, sds: &SdsSecretConfig, field: &str) -> Result<RootSource> {
    if sds.name == SDS_ROOT {
        return Ok(RootSource::Workload(c.certs.clone()));
    }
    match sds.name.strip_prefix("file-root:") {
        Some("system") => Err(FieldError::new(
            field,
            "the system root store is not available to mast-proxy",
        )),
        Some(path) => RootSource::from_file(Path::new(path)).map_err(tls_err(field)),
        None => Err(FieldError::new(
            field,
            format!(
                "SDS secret {:?} is not served (mast-proxy serves ROOTCA and file-root:)",
                sds.name
            ),
        )),
    }
}

#[allow(deprecated)]
fn static_validation(
    v: &CertificateValidationContext,
) -> Result<(Option<RootSource>, Vec<String>)> {
    let refuse = |set: bool, f: &str| {
        if set {
            Err(FieldError::unsupported(f))
        } else {
            Ok(())
        }
    };
    refuse(
        !v.verify_certificate_spki.is_empty(),
        "verify_certificate_spki",
    )?;
    refuse(
        !v.verify_certificate_hash.is_empty(),
        "verify_certificate_hash",
    )?;
    refuse(v.crl.is_some(), "crl")?;
    refuse(v.allow_expired_certificate, "allow_expired_certificate")?;
    refuse(v.trust_chain_verification != 0, "trust_chain_verification")?;
    refuse(v.system_root_certs.is_some(), "system_root_certs")?;
    refuse(
        v.custom_validator_config.is_some(),
        "custom_validator_config",
    )?;
    refuse(
        v.ca_certificate_provider_instance.is_some(),
        "ca_certificate_provider_instance",
    )?;
    let mut sans = Vec::new();
    for (i, m) in v.match_subject_alt_names.iter().enumerate() {
        match &m.match_pattern {
            Some(MatchPattern::Exact(s)) if !m.ignore_case => sans.push(s.clone()),
            _ => {
                return Err(FieldError::new(
                    format!("match_subject_alt_names[{i}]"),
                    "only exact, case-sensitive matches are supported by mast-proxy",
                ));
            }
        }
    }
    for (i, m) in v.match_typed_subject_alt_names.iter().enumerate() {
        match m.matcher.as_ref().and_then(|m| m.match_pattern.as_ref()) {
            Some(MatchPattern::Exact(s)) => sans.push(s.clone()),
            _ => {
                return Err(FieldError::new(
                    format!("match_typed_subject_alt_names[{i}]"),
                    "only exact matches are supported by mast-proxy",
                ));
            }
        }
    }
    let roots = match &v.trusted_ca {
        Some(ds) => {
            let pem = data(Some(ds), "trusted_ca")?;
            Some(RootSource::from_pem(&pem).map_err(tls_err("trusted_ca"))?)
        }
        None => None,
    };
    Ok((roots, sans))
}

#[allow(deprecated)]
fn validation(
    c: &Compiler<'_>,
    ctx: &CommonTlsContext,
) -> Result<(Option<RootSource>, Vec<String>)> {
    let (roots, sans) = match &ctx.validation_context_type {
        None => (None, Vec::new()),
        Some(ValidationContextType::ValidationContext(v)) => {
            static_validation(v).map_err(|e| e.at("validation_context"))?
        }
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => (
            Some(sds_roots(
                c,
                s,
                "validation_context_sds_secret_config.name",
            )?),
            Vec::new(),
        ),
        Some(ValidationContextType::CombinedValidationContext(cv)) => {
            let f = "combined_validation_context";
            let (own, sans) = match &cv.default_validation_context {
                Some(v) => static_validation(v)
                    .map_err(|e| e.at(format!("{f}.default_validation_context")))?,
                None => (None, Vec::new()),
            };
            let sds = match &cv.validation_context_sds_secret_config {
                Some(s) => Some(sds_roots(
                    c,
                    s,
                    &format!("{f}.validation_context_sds_secret_config.name"),
                )?),
                None => None,
            };
            if cv
                .validation_context_certificate_provider_instance
                .is_some()
            {
                return Err(FieldError::unsupported(format!(
                    "{f}.validation_context_certificate_provider_instance"
                )));
            }
            (sds.or(own), sans)
        }
        Some(_) => {
            return Err(FieldError::unsupported(
                "validation_context_certificate_provider",
            ));
        }
    };
    if roots.is_none() && !sans.is_empty() {
        return Err(FieldError::new(
            "validation_context",
            "subject alt names are matched only with a trusted CA",
        ));
    }
    Ok((roots, sans))
}

fn params(ctx: &CommonTlsContext) -> Result<Params> {
    let Some(p) = &ctx.tls_params else {
        return Ok(Params::default());
    };
    let v = |x: i32| TlsProtocol::try_from(x).unwrap_or(TlsProtocol::TlsAuto);
    let (min, max) = (
        v(p.tls_minimum_protocol_version),
        v(p.tls_maximum_protocol_version),
    );
    let rank = |t: TlsProtocol| match t {
        TlsProtocol::TlsAuto => 0,
        TlsProtocol::TlSv10 => 10,
        TlsProtocol::TlSv11 => 11,
        TlsProtocol::TlSv12 => 12,
        TlsProtocol::TlSv13 => 13,
    };
    let lo = if min == TlsProtocol::TlsAuto {
        12
    } else {
        rank(min)
    };
    let hi = if max == TlsProtocol::TlsAuto {
        13
    } else {
        rank(max)
    };
    let mut versions = Vec::new();
    if hi >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    if lo <= 12 && hi >= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(FieldError::new(
            "tls_params",
            "TLS below 1.2 is not supported by mast-proxy",
        ));
    }
    Ok(Params {
        versions,
        tls12_ciphers: p.cipher_suites.clone(),
    })
}

/// Compiles a filter chain's `DownstreamTlsContext`.
pub fn downstream(c: &Compiler<'_>, d: &DownstreamTlsContext) -> Result<DownstreamTls> {
    if d.require_sni.is_some_and(|b| b.value) {
        return Err(FieldError::unsupported("require_sni"));
    }
    let ctx = d
        .common_tls_context
        .as_ref()
        .ok_or_else(|| FieldError::new("common_tls_context", "is missing"))?;
    let at = |e: FieldError| e.at("common_tls_context");
    let key = key_source(c, ctx).map_err(at)?.ok_or_else(|| {
        at(FieldError::new(
            "tls_certificates",
            "a server needs a certificate",
        ))
    })?;
    let (roots, sans) = validation(c, ctx).map_err(at)?;
    let require_client = d.require_client_certificate.is_some_and(|b| b.value);
    if require_client && roots.is_none() {
        return Err(FieldError::new(
            "require_client_certificate",
            "needs a validation context",
        ));
    }
    let params = params(ctx).map_err(at)?;
    let build = |alpn: Option<&[u8]>| {
        tls::server_config(&key, roots.as_ref(), require_client, &sans, alpn, &params)
            .map_err(|e| at(FieldError::new("", e.to_string())))
    };
    let by_alpn = ctx
        .alpn_protocols
        .iter()
        .map(|p| Ok((p.clone(), build(Some(p.as_bytes()))?)))
        .collect::<Result<_>>()?;
    Ok(DownstreamTls {
        require_client,
        by_alpn,
        no_alpn: build(None)?,
    })
}

/// Compiles a cluster's `UpstreamTlsContext`.
pub fn upstream(c: &Compiler<'_>, u: &UpstreamTlsContext) -> Result<UpstreamTls> {
    if u.auto_host_sni || u.auto_sni_san_validation {
        return Err(FieldError::unsupported("auto_host_sni"));
    }
    let default_ctx = CommonTlsContext::default();
    let ctx = u.common_tls_context.as_ref().unwrap_or(&default_ctx);
    let at = |e: FieldError| e.at("common_tls_context");
    let key = key_source(c, ctx).map_err(at)?;
    let (roots, sans) = validation(c, ctx).map_err(at)?;
    let params = params(ctx).map_err(at)?;
    let sni = match u.sni.as_str() {
        "" => None,
        s => Some(
            ServerName::try_from(s.to_string())
                .map_err(|e| FieldError::new("sni", format!("{s:?}: {e}")))?,
        ),
    };
    let alpn = ctx.alpn_protocols.clone();
    let in_mesh = alpn
        .iter()
        .any(|a| a == "istio" || a == "istio-peer-exchange");
    let strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (h1, h2) = if in_mesh {
        (
            strings(&["istio-http/1.1", "istio"]),
            strings(&["istio-h2", "istio", "h2"]),
        )
    } else {
        let h1: Vec<String> = alpn.iter().filter(|a| *a != "h2").cloned().collect();
        let mut h2 = alpn.clone();
        if !h2.is_empty() && !h2.iter().any(|a| a == "h2") {
            h2.insert(0, "h2".into());
        }
        (h1, h2)
    };
    let build = |alpn: &[String]| {
        tls::client_config(key.as_ref(), roots.as_ref(), &sans, alpn, &params)
            .map_err(|e| at(FieldError::new("", e.to_string())))
    };
    Ok(UpstreamTls {
        sni,
        raw: build(&alpn)?,
        http1: build(&h1)?,
        http2: build(&h2)?,
        sans,
        in_mesh,
    })
}
