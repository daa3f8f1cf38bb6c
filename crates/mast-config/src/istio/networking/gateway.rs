//! `Gateway`: a load balancer at the edge of the mesh (its ports, hosts and TLS), and
//! Istio's checks of it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Context;
use crate::istio::common::{
    Protocol, is_dns1123_label, proto_enum, report, report_all, validate_ip_address,
    validate_namespace_slash_wildcard_hostname, validate_port, validate_unix_address,
};
use crate::validate::Findings;

/// `Gateway`: servers exposed by the gateway workloads picked by `selector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    /// Listeners (required).
    pub servers: Vec<Server>,
    /// Labels of the gateway pods.
    pub selector: BTreeMap<String, String>,
}

/// `Server`: one listener: port, hosts and TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    /// Port to listen on (required).
    pub port: Option<Port>,
    /// Address (IP or `unix://path`) to bind to.
    pub bind: String,
    /// Hosts served (`[namespace/]host`, required).
    pub hosts: Vec<String>,
    /// TLS settings.
    pub tls: Option<ServerTlsSettings>,
    /// Loopback endpoint traffic is forwarded to (unused by gateways).
    pub default_endpoint: String,
    /// Name of the server.
    pub name: String,
}

/// `Port`: a port with its protocol and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// Port number (required).
    pub number: u32,
    /// Protocol: HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, TCP, TLS (required).
    pub protocol: String,
    /// Name (required, unique in the gateway).
    pub name: String,
    /// Deprecated; has no effect on gateways.
    pub target_port: u32,
}

proto_enum! {
    /// `ServerTLSSettings.TLSmode`.
    pub enum ServerTlsMode {
        /// Forward by SNI without terminating.
        Passthrough = "PASSTHROUGH",
        /// Terminate TLS.
        Simple = "SIMPLE",
        /// Terminate TLS and require client certificates.
        Mutual = "MUTUAL",
        /// SNI passthrough for Istio's generated SNI names.
        AutoPassthrough = "AUTO_PASSTHROUGH",
        /// Mutual TLS with Istio's certificates.
        IstioMutual = "ISTIO_MUTUAL",
        /// Terminate TLS; accept client certificates if presented.
        OptionalMutual = "OPTIONAL_MUTUAL",
    }
}

proto_enum! {
    /// `ServerTLSSettings.TLSProtocol`.
    pub enum TlsProtocol {
        /// Envoy's default.
        TlsAuto = "TLS_AUTO",
        /// TLS 1.0.
        TlsV1_0 = "TLSV1_0",
        /// TLS 1.1.
        TlsV1_1 = "TLSV1_1",
        /// TLS 1.2.
        TlsV1_2 = "TLSV1_2",
        /// TLS 1.3.
        TlsV1_3 = "TLSV1_3",
    }
}

/// `ServerTLSSettings`: TLS of a gateway server (or a sidecar ingress listener).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// Redirect plain HTTP to HTTPS.
    pub https_redirect: bool,
    /// TLS mode.
    pub mode: ServerTlsMode,
    /// Server certificate file.
    pub server_certificate: String,
    /// Private key file.
    pub private_key: String,
    /// CA bundle for client certificates.
    pub ca_certificates: String,
    /// Certificate revocation list file.
    pub ca_crl: String,
    /// Secret holding the key and certificates.
    pub credential_name: String,
    /// Up to two secrets (e.g. RSA and ECDSA).
    pub credential_names: Vec<String>,
    /// Secret holding the CA certificate only.
    pub ca_cert_credential_name: String,
    /// Up to two certificate/key pairs given as files.
    pub tls_certificates: Vec<TlsCertificate>,
    /// Names a client certificate must carry.
    pub subject_alt_names: Vec<String>,
    /// Accepted SPKI hashes of client certificates.
    pub verify_certificate_spki: Vec<String>,
    /// Accepted hashes of client certificates.
    pub verify_certificate_hash: Vec<String>,
    /// Minimum TLS version.
    pub min_protocol_version: TlsProtocol,
    /// Maximum TLS version.
    pub max_protocol_version: TlsProtocol,
    /// Cipher suites.
    pub cipher_suites: Vec<String>,
    /// ECDH curves.
    pub ecdh_curves: Vec<String>,
    /// Skip verification of client certificates.
    pub insecure_skip_verify: Option<bool>,
}

/// `ServerTLSSettings.TLSCertificate`: one certificate/key pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsCertificate {
    /// Certificate file.
    pub server_certificate: String,
    /// Private key file.
    pub private_key: String,
    /// CA bundle file.
    pub ca_certificates: String,
}

impl Gateway {
    /// Istio's `ValidateGateway`.
    pub fn validate(&self, ctx: &Context<'_>, out: &mut Findings) {
        if !ctx.name.is_empty() && !is_dns1123_label(ctx.name) {
            out.error(
                "metadata.name",
                format!("invalid gateway name: {:?}", ctx.name),
            );
        }
        if self.servers.is_empty() {
            out.error("spec.servers", "gateway must have at least one server");
        }
        for (i, s) in self.servers.iter().enumerate() {
            validate_server(s, out, &format!("spec.servers[{i}]"));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            let Some(port) = &s.port else { continue };
            let p = format!("spec.servers[{i}]");
            if names.contains(&port.name.as_str()) {
                out.error(
                    format!("{p}.port.name"),
                    format!(
                        "port names in servers must be unique: duplicate name {}",
                        port.name
                    ),
                );
            }
            names.push(&port.name);
            if !Protocol::parse(&port.protocol).is_http()
                && s.tls.as_ref().is_some_and(|t| t.https_redirect)
            {
                out.warning(
                    format!("{p}.tls.httpsRedirect"),
                    "tls.httpsRedirect should only be used with http servers",
                );
            }
        }
    }
}

const UNIX_PREFIX: &str = "unix://";

fn validate_server(s: &Server, out: &mut Findings, path: &str) {
    if s.hosts.is_empty() {
        out.error(path, "server config must contain at least one host");
    }
    for (i, h) in s.hosts.iter().enumerate() {
        report_all(
            out,
            &format!("{path}.hosts[{i}]"),
            validate_namespace_slash_wildcard_hostname(h, true),
        );
    }
    let port_ok = validate_server_port(s.port.as_ref(), &s.bind, out, &format!("{path}.port"));
    validate_server_bind(s.port.as_ref(), &s.bind, out, path);
    if let Some(tls) = &s.tls {
        validate_server_tls(tls, out, &format!("{path}.tls"));
    }
    let Some(port) = s.port.as_ref().filter(|_| port_ok) else {
        return;
    };
    let protocol = Protocol::parse(&port.protocol);
    match &s.tls {
        None if protocol.is_tls() => {
            out.error(
                path,
                "server must have TLS settings for HTTPS/TLS protocols",
            );
        }
        Some(tls) if !protocol.is_tls() => {
            let passthrough = matches!(
                tls.mode,
                ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
            );
            if !protocol.is_http() {
                out.error(
                    format!("{path}.tls"),
                    "server cannot have TLS settings for non HTTPS/TLS ports",
                );
            } else if !passthrough
                || !tls.ca_certificates.is_empty()
                || !tls.private_key.is_empty()
                || !tls.server_certificate.is_empty()
            {
                out.error(
                    format!("{path}.tls"),
                    "server cannot have TLS settings for plain text HTTP ports",
                );
            }
        }
        _ => {}
    }
}

/// Checks the port; returns whether it had no errors.
fn validate_server_port(port: Option<&Port>, bind: &str, out: &mut Findings, path: &str) -> bool {
    let Some(port) = port else {
        out.error(path, "port is required");
        return false;
    };
    let mut ok = true;
    let mut err = |field: &str, msg: String| {
        out.error(format!("{path}{field}"), msg);
        ok = false;
    };
    if Protocol::parse(&port.protocol) == Protocol::Unsupported {
        err(
            ".protocol",
            format!(
                "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                port.protocol
            ),
        );
    }
    if (port.number > 0 || !bind.starts_with(UNIX_PREFIX))
        && let Err(e) = validate_port(port.number.into())
    {
        err(".number", e);
    }
    if port.target_port > 0 {
        err(
            ".targetPort",
            "targetPort has no impact on Gateways".to_string(),
        );
    }
    if port.name.is_empty() {
        err(".name", "port name must be set".to_string());
    }
    ok
}

fn validate_server_bind(port: Option<&Port>, bind: &str, out: &mut Findings, path: &str) {
    let p = format!("{path}.bind");
    if let Some(addr) = bind.strip_prefix(UNIX_PREFIX) {
        report(out, &p, validate_unix_address(addr));
        if let Some(port) = port.filter(|p| p.number != 0) {
            out.error(
                &p,
                format!(
                    "port number must be 0 for unix domain socket: number:{}",
                    port.number
                ),
            );
        }
    } else if !bind.is_empty() {
        report(out, &p, validate_ip_address(bind));
    }
}

const CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

fn is_valid_cipher_suite(cs: &str) -> bool {
    match cs.chars().next() {
        None => true,
        _ if cs == "ALL" => true,
        // Operators such as `-` and `+` are passed through unchecked.
        Some(c) if !c.is_alphanumeric() => true,
        _ => CIPHER_SUITES.contains(&cs),
    }
}

fn check_cipher_suites(tls: &ServerTlsSettings, out: &mut Findings, path: &str) {
    let mut invalid = std::collections::BTreeSet::new();
    let mut valid = std::collections::BTreeSet::new();
    let mut dup = std::collections::BTreeSet::new();
    for cs in &tls.cipher_suites {
        if !is_valid_cipher_suite(cs) {
            invalid.insert(cs.as_str());
        } else if !valid.insert(cs.as_str()) {
            dup.insert(cs.as_str());
        }
    }
    let p = format!("{path}.cipherSuites");
    if !invalid.is_empty() {
        let l: Vec<&str> = invalid.into_iter().collect();
        out.warning(
            &p,
            format!("ignoring invalid cipher suites: [{}]", l.join(" ")),
        );
    }
    if !dup.is_empty() {
        let l: Vec<&str> = dup.into_iter().collect();
        out.warning(
            &p,
            format!("ignoring duplicate cipher suites: [{}]", l.join(" ")),
        );
    }
}

fn check_tls_oneofs(tls: &ServerTlsSettings, out: &mut Findings, path: &str) {
    let (name, names, certs) = (
        !tls.credential_name.is_empty(),
        !tls.credential_names.is_empty(),
        !tls.tls_certificates.is_empty(),
    );
    if name && names {
        out.error(
            path,
            "only one of credentialName or credentialNames can be set",
        );
    }
    if names && certs {
        out.error(
            path,
            "only one of credentialNames or tlsCertificates can be set",
        );
    }
    if tls.credential_names.len() > 2 {
        out.error(
            format!("{path}.credentialNames"),
            "credentialNames may have at most 2 items",
        );
    }
    if tls.tls_certificates.len() > 2 {
        out.error(
            format!("{path}.tlsCertificates"),
            "tlsCertificates may have at most 2 items",
        );
    }
}

/// Istio's `validateTLSOptions` for server TLS.
pub(crate) fn validate_server_tls(tls: &ServerTlsSettings, out: &mut Findings, path: &str) {
    check_tls_oneofs(tls, out, path);
    if matches!(
        tls.min_protocol_version,
        TlsProtocol::TlsV1_0 | TlsProtocol::TlsV1_1
    ) && tls.cipher_suites.is_empty()
    {
        out.warning(
            format!("{path}.minProtocolVersion"),
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
        );
    }
    check_cipher_suites(tls, out, path);
    if tls.mode == ServerTlsMode::IstioMutual {
        let forbidden = [
            (
                !tls.server_certificate.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated server certificate",
            ),
            (
                !tls.private_key.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated private key",
            ),
            (
                !tls.ca_certificates.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated CA bundle",
            ),
            (
                !tls.tls_certificates.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated tlsCertificates",
            ),
            (
                !tls.credential_name.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated credentialName",
            ),
            (
                !tls.credential_names.is_empty(),
                "ISTIO_MUTUAL TLS cannot have associated credentialNames",
            ),
        ];
        for (hit, msg) in forbidden {
            if hit {
                out.error(path, msg);
            }
        }
        return;
    }
    let has_certs = !tls.ca_crl.is_empty()
        || !tls.server_certificate.is_empty()
        || !tls.private_key.is_empty()
        || !tls.ca_certificates.is_empty()
        || !tls.tls_certificates.is_empty()
        || !tls.credential_name.is_empty()
        || !tls.credential_names.is_empty();
    if matches!(
        tls.mode,
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
    ) && has_certs
    {
        out.warning(
            path,
            format!(
                "{} mode does not use certificates, they will be ignored",
                tls.mode
            ),
        );
    }
    let sources = [
        !tls.server_certificate.is_empty() && !tls.private_key.is_empty(),
        !tls.credential_name.is_empty(),
        !tls.credential_names.is_empty(),
        !tls.tls_certificates.is_empty(),
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        out.error(
            path,
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
        );
    }
    check_terminating_certs(tls, out, path);
    if !tls.ca_crl.is_empty() {
        if !tls.credential_name.is_empty() {
            out.error(
                path,
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
            );
        }
        if tls.mode == ServerTlsMode::Simple {
            out.error(path, "CRL is not supported with SIMPLE TLS");
        }
    }
}

/// SIMPLE and MUTUAL need a certificate and key (unless credentials come from a secret), MUTUAL
/// a client CA bundle.
fn check_terminating_certs(tls: &ServerTlsSettings, out: &mut Findings, path: &str) {
    let terminating = matches!(
        tls.mode,
        ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
    );
    if !terminating || !tls.credential_name.is_empty() || !tls.credential_names.is_empty() {
        return;
    }
    let prefix = if tls.mode == ServerTlsMode::Simple {
        "SIMPLE TLS"
    } else {
        "MUTUAL TLS"
    };
    if tls.mode != ServerTlsMode::Simple && tls.ca_certificates.is_empty() {
        out.error(path, format!("{prefix} requires a client CA bundle"));
    }
    if tls.tls_certificates.len() > 2 {
        out.warning(
            path,
            format!("{prefix} can support up to 2 server certificates"),
        );
    }
    let pairs: Vec<(&str, &str)> = if tls.tls_certificates.is_empty() {
        vec![(&tls.server_certificate, &tls.private_key)]
    } else {
        tls.tls_certificates
            .iter()
            .map(|c| (c.server_certificate.as_str(), c.private_key.as_str()))
            .collect()
    };
    for (cert, key) in pairs {
        if cert.is_empty() {
            out.error(path, format!("{prefix} requires a server certificate"));
        }
        if key.is_empty() {
            out.error(path, format!("{prefix} requires a private key"));
        }
    }
}
