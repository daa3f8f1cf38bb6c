//! Upstream transport sockets as istiod builds them: ISTIO_MUTUAL (the workload certificate
//! `default` and the root `ROOTCA`, both from the agent's SDS server on the `sds-grpc`
//! cluster), auto-mTLS (a transport socket match on the endpoint's `tlsMode: istio`
//! metadata, plaintext otherwise), and SIMPLE / MUTUAL origination with files (served by the
//! agent as `file-root:` / `file-cert:` SDS resources) or a `credentialName` (fetched over ADS
//! as `kubernetes://NAME`).

use envoy_types::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiConfigSource, ApiVersion, ConfigSource, GrpcService,
    TransportSocket, api_config_source, config_source, grpc_service, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SdsSecretConfig, TlsParameters,
    UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::{Duration, Struct};
use envoy_types::util::pack_any;
use mast_config::istio::networking::destination_rule::{ClientTlsMode, ClientTlsSettings};

/// The cluster of the agent's SDS server.
pub const SDS_CLUSTER: &str = "sds-grpc";
/// The SDS name of the workload certificate.
pub const SDS_DEFAULT: &str = "default";
/// The SDS name of the mesh root certificate.
pub const SDS_ROOT: &str = "ROOTCA";
/// Transport socket names.
pub const TLS_SOCKET: &str = "envoy.transport_sockets.tls";
/// The plaintext transport socket.
pub const RAW_BUFFER_SOCKET: &str = "envoy.transport_sockets.raw_buffer";
/// ALPN offered to in-mesh HTTP/1 and TCP upstreams (metadata exchange enabled).
pub const ALPN_IN_MESH: &[&str] = &["istio-peer-exchange", "istio"];
/// ALPN offered to in-mesh HTTP/2 upstreams.
pub const ALPN_IN_MESH_H2: &[&str] = &["istio-peer-exchange", "istio", "h2"];
/// ALPN offered to HTTP/2 upstreams outside the mesh.
pub const ALPN_H2: &[&str] = &["h2"];
/// The endpoint metadata namespace transport socket matches read.
pub const TRANSPORT_SOCKET_MATCH_KEY: &str = "envoy.transport_socket_match";

/// An SDS secret config fetched from the agent (`sds-grpc`). The built-in `default` and
/// `ROOTCA` wait for the secret without timeout, as istiod configures them.
pub fn sds_secret(name: &str) -> SdsSecretConfig {
    let builtin = name == SDS_DEFAULT || name == SDS_ROOT;
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ConfigSource {
            resource_api_version: ApiVersion::V3 as i32,
            initial_fetch_timeout: builtin.then_some(Duration {
                seconds: 0,
                nanos: 0,
            }),
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    transport_api_version: ApiVersion::V3 as i32,
                    set_node_on_first_message_only: true,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: SDS_CLUSTER.into(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
    }
}

/// An SDS secret config fetched from mastd over ADS (`credentialName` secrets).
pub fn ads_secret(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ConfigSource {
            resource_api_version: ApiVersion::V3 as i32,
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
                AggregatedConfigSource {},
            )),
            ..Default::default()
        }),
    }
}

/// The SDS resource name of a `credentialName` (`kubernetes://NAME` unless it has a scheme).
pub fn credential_resource(name: &str) -> String {
    if name.contains("://") {
        name.to_string()
    } else {
        format!("kubernetes://{name}")
    }
}

fn exact_matchers(sans: &[String]) -> Vec<StringMatcher> {
    sans.iter()
        .map(|s| StringMatcher {
            match_pattern: Some(MatchPattern::Exact(s.clone())),
            ..Default::default()
        })
        .collect()
}

fn common_context() -> CommonTlsContext {
    CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
            tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

// `match_subject_alt_names` is deprecated in Envoy but is what istiod sets
#[allow(deprecated)]
fn combined(sans: &[String], root: SdsSecretConfig) -> ValidationContextType {
    ValidationContextType::CombinedValidationContext(CombinedCertificateValidationContext {
        default_validation_context: Some(CertificateValidationContext {
            match_subject_alt_names: exact_matchers(sans),
            ..Default::default()
        }),
        validation_context_sds_secret_config: Some(root),
        ..Default::default()
    })
}

/// The ISTIO_MUTUAL context: the workload certificate, the mesh root, peer SANs, SNI, and
/// ALPN telling the peer's sidecar the connection is in-mesh.
pub fn istio_mutual(sans: &[String], sni: &str, http2: bool) -> UpstreamTlsContext {
    let mut common = common_context();
    common.tls_certificate_sds_secret_configs = vec![sds_secret(SDS_DEFAULT)];
    common.validation_context_type = Some(combined(sans, sds_secret(SDS_ROOT)));
    let alpn = if http2 { ALPN_IN_MESH_H2 } else { ALPN_IN_MESH };
    common.alpn_protocols = alpn.iter().map(|s| s.to_string()).collect();
    UpstreamTlsContext {
        common_tls_context: Some(common),
        sni: sni.to_string(),
        ..Default::default()
    }
}

/// Why a SIMPLE / MUTUAL context cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// MUTUAL without certificate files or a credential.
    #[error("cluster {0}: client certificate and private key must not be empty")]
    MissingClientCertificate(String),
}

/// A SIMPLE or MUTUAL origination context. `sans` replaces the settings' empty
/// `subjectAltNames` (a ServiceEntry's own); with `credentialName` the certificates come over
/// ADS, otherwise from files (the system roots when `caCertificates` is empty).
pub fn originate(
    cluster: &str,
    tls: &ClientTlsSettings,
    sans: &[String],
    http2: bool,
) -> Result<UpstreamTlsContext, TlsError> {
    let mutual = tls.mode == ClientTlsMode::Mutual;
    let mut common = common_context();
    let skip_verify = tls.insecure_skip_verify == Some(true);
    if !tls.credential_name.is_empty() {
        if mutual {
            common.tls_certificate_sds_secret_configs =
                vec![ads_secret(&credential_resource(&tls.credential_name))];
        }
        if !skip_verify {
            let root = ads_secret(&format!(
                "{}-cacert",
                credential_resource(&tls.credential_name)
            ));
            common.validation_context_type = Some(combined(sans, root));
        }
    } else {
        if mutual {
            if tls.client_certificate.is_empty() || tls.private_key.is_empty() {
                return Err(TlsError::MissingClientCertificate(cluster.to_string()));
            }
            let name = format!("file-cert:{}~{}", tls.client_certificate, tls.private_key);
            common.tls_certificate_sds_secret_configs = vec![sds_secret(&name)];
        }
        let ca = if tls.ca_certificates.is_empty() {
            "system"
        } else {
            tls.ca_certificates.as_str()
        };
        if skip_verify {
            common.validation_context_type =
                Some(ValidationContextType::ValidationContext(Default::default()));
        } else {
            let mut vc = combined(sans, sds_secret(&format!("file-root:{ca}")));
            if !tls.ca_crl.is_empty()
                && let ValidationContextType::CombinedValidationContext(c) = &mut vc
                && let Some(d) = c.default_validation_context.as_mut()
            {
                d.crl = Some(envoy_types::pb::envoy::config::core::v3::DataSource {
                    specifier: Some(
                        envoy_types::pb::envoy::config::core::v3::data_source::Specifier::Filename(
                            tls.ca_crl.clone(),
                        ),
                    ),
                    ..Default::default()
                });
            }
            common.validation_context_type = Some(vc);
        }
    }
    if http2 {
        common.alpn_protocols = ALPN_H2.iter().map(|s| s.to_string()).collect();
    }
    Ok(UpstreamTlsContext {
        common_tls_context: Some(common),
        sni: tls.sni.clone(),
        ..Default::default()
    })
}

/// The TLS transport socket carrying `ctx`.
pub fn tls_socket(ctx: UpstreamTlsContext) -> TransportSocket {
    TransportSocket {
        name: TLS_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

/// The plaintext transport socket.
pub fn raw_buffer_socket() -> TransportSocket {
    TransportSocket {
        name: RAW_BUFFER_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(
            RawBuffer {},
        ))),
    }
}

/// Auto-mTLS: `socket` for endpoints labelled `tlsMode: istio`, plaintext for the others.
pub fn auto_mtls_matches(socket: TransportSocket) -> Vec<TransportSocketMatch> {
    let istio = mast_xds::structs::json_to_struct(
        serde_json::json!({"tlsMode": "istio"})
            .as_object()
            .expect("object literal"),
    );
    vec![
        TransportSocketMatch {
            name: "tlsMode-istio".into(),
            r#match: Some(istio),
            transport_socket: Some(socket),
        },
        TransportSocketMatch {
            name: "tlsMode-disabled".into(),
            r#match: Some(Struct::default()),
            transport_socket: Some(raw_buffer_socket()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_xds::json::any_to_json;

    #[test]
    fn istio_mutual_context() {
        let sans = vec!["spiffe://cluster.local/ns/default/sa/reviews".to_string()];
        let j = any_to_json(&pack_any(istio_mutual(
            &sans,
            "outbound_.9080_._.reviews",
            false,
        )));
        let c = &j["commonTlsContext"];
        assert_eq!(j["sni"], "outbound_.9080_._.reviews");
        assert_eq!(
            c["alpnProtocols"],
            serde_json::json!(["istio-peer-exchange", "istio"])
        );
        assert_eq!(c["tlsCertificateSdsSecretConfigs"][0]["name"], "default");
        let sds = &c["tlsCertificateSdsSecretConfigs"][0]["sdsConfig"];
        assert_eq!(
            sds["apiConfigSource"]["grpcServices"][0]["envoyGrpc"]["clusterName"],
            "sds-grpc"
        );
        assert_eq!(sds["initialFetchTimeout"], "0s");
        let v = &c["combinedValidationContext"];
        assert_eq!(v["validationContextSdsSecretConfig"]["name"], "ROOTCA");
        assert_eq!(
            v["defaultValidationContext"]["matchSubjectAltNames"][0]["exact"],
            sans[0]
        );
        let h2 = istio_mutual(&sans, "x", true);
        assert_eq!(
            h2.common_tls_context.unwrap().alpn_protocols,
            vec!["istio-peer-exchange", "istio", "h2"]
        );
    }

    #[test]
    fn originate_simple_and_mutual() {
        let simple = ClientTlsSettings {
            mode: ClientTlsMode::Simple,
            ..Default::default()
        };
        let j = any_to_json(&pack_any(originate("c", &simple, &[], false).unwrap()));
        let root =
            &j["commonTlsContext"]["combinedValidationContext"]["validationContextSdsSecretConfig"];
        assert_eq!(root["name"], "file-root:system");
        assert!(root["sdsConfig"].get("initialFetchTimeout").is_none());

        let mutual = ClientTlsSettings {
            mode: ClientTlsMode::Mutual,
            ..Default::default()
        };
        assert_eq!(
            originate("c", &mutual, &[], false),
            Err(TlsError::MissingClientCertificate("c".into()))
        );
        let files = ClientTlsSettings {
            mode: ClientTlsMode::Mutual,
            client_certificate: "/c.pem".into(),
            private_key: "/k.pem".into(),
            ca_certificates: "/ca.pem".into(),
            ..Default::default()
        };
        let ctx = originate("c", &files, &[], true)
            .unwrap()
            .common_tls_context
            .unwrap();
        assert_eq!(
            ctx.tls_certificate_sds_secret_configs[0].name,
            "file-cert:/c.pem~/k.pem"
        );
        assert_eq!(ctx.alpn_protocols, vec!["h2"]);

        let cred = ClientTlsSettings {
            mode: ClientTlsMode::Mutual,
            credential_name: "egress".into(),
            ..Default::default()
        };
        let ctx = originate("c", &cred, &[], false)
            .unwrap()
            .common_tls_context
            .unwrap();
        assert_eq!(
            ctx.tls_certificate_sds_secret_configs[0].name,
            "kubernetes://egress"
        );
        let j = any_to_json(&pack_any(UpstreamTlsContext {
            common_tls_context: Some(ctx),
            ..Default::default()
        }));
        let root =
            &j["commonTlsContext"]["combinedValidationContext"]["validationContextSdsSecretConfig"];
        assert_eq!(root["name"], "kubernetes://egress-cacert");
        assert_eq!(root["sdsConfig"]["ads"], serde_json::json!({}));
    }

    #[test]
    fn auto_mtls_socket_matches() {
        let m = auto_mtls_matches(tls_socket(istio_mutual(&[], "s", false)));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "tlsMode-istio");
        assert_eq!(
            m[1].transport_socket.as_ref().unwrap().name,
            RAW_BUFFER_SOCKET
        );
    }
}
