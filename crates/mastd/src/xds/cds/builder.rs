//! The parts every cluster is built from, as istiod's `buildCluster`: type and alternate stat
//! name, DNS settings, static load assignments, the upstream HTTP protocol from the port's
//! protocol, Istio's `istio` filter metadata, EDS over ADS, and the TCP metadata exchange filter.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, Filter,
    cluster::{
        ClusterDiscoveryType, CommonLbConfig, DiscoveryType, DnsLookupFamily, EdsClusterConfig,
    },
};
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, Http1ProtocolOptions, Http2ProtocolOptions,
    Metadata, TypedExtensionConfig, config_source,
};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, LocalityLbEndpoints};
use envoy_types::pb::envoy::extensions::network::dns_resolver::cares::v3::CaresDnsResolverConfig;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{
        ExplicitHttpConfig, UpstreamProtocolOptions, UseDownstreamHttpConfig,
        explicit_http_config::ProtocolConfig,
    },
};
use envoy_types::pb::google::protobuf::{Duration, Struct, UInt32Value};
use envoy_types::util::pack_any;
use mast_config::istio::common::parse_duration;
use mast_xds::typed_struct::TypedStruct;
use serde_json::{Value, json};

use crate::registry::{Protocol, Service};

/// Key of Istio's cluster and endpoint metadata.
pub const ISTIO_METADATA: &str = "istio";
/// Key of the upstream HTTP protocol options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/// Mesh default `connectTimeout`.
pub const CONNECT_TIMEOUT: Duration = Duration {
    seconds: 10,
    nanos: 0,
};
/// Mesh default `dnsRefreshRate`.
pub const DNS_REFRESH_RATE: Duration = Duration {
    seconds: 60,
    nanos: 0,
};
/// The metadata exchange filter's name and config type.
pub const MX_FILTER: &str = "istio.metadata_exchange";
const MX_TYPE_URL: &str = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange";

/// A duration from nanoseconds.
pub fn duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// A duration from a validated Go duration string (`1.5s`); `None` when absent.
pub fn parse_dur(s: Option<&String>) -> Option<Duration> {
    s.and_then(|s| parse_duration(s).ok()).map(duration)
}

/// A `UInt32Value`.
pub fn u32v(value: u32) -> Option<UInt32Value> {
    Some(UInt32Value { value })
}

/// A `Struct` from a JSON object.
pub fn to_struct(v: Value) -> Struct {
    match v {
        Value::Object(o) => mast_xds::structs::json_to_struct(&o),
        _ => Struct::default(),
    }
}

/// A cluster under construction with its upstream HTTP protocol options (packed when built),
/// as istiod's `clusterWrapper`.
#[derive(Debug, Clone)]
pub struct Wrapper {
    /// The cluster.
    pub cluster: Cluster,
    /// Pending `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`.
    pub http: Option<HttpProtocolOptions>,
    /// The Istio metadata, written into the cluster when built.
    pub istio: serde_json::Map<String, Value>,
}

impl Wrapper {
    /// The cluster's discovery type.
    pub fn kind(&self) -> DiscoveryType {
        match self.cluster.cluster_discovery_type {
            Some(ClusterDiscoveryType::Type(t)) => {
                DiscoveryType::try_from(t).unwrap_or(DiscoveryType::Static)
            }
            _ => DiscoveryType::Static,
        }
    }

    /// Whether the upstream protocol is explicitly HTTP/2.
    pub fn is_http2(&self) -> bool {
        matches!(
            self.http
                .as_ref()
                .and_then(|h| h.upstream_protocol_options.as_ref()),
            Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                ExplicitHttpConfig {
                    protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(_))
                }
            ))
        )
    }

    /// The HTTP protocol options, created when absent.
    pub fn http_mut(&mut self) -> &mut HttpProtocolOptions {
        self.http.get_or_insert_with(Default::default)
    }

    /// Makes the upstream HTTP/2 unless a protocol is already chosen.
    pub fn set_h2(&mut self) {
        let h = self.http_mut();
        if h.upstream_protocol_options.is_none() {
            h.upstream_protocol_options = Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                ExplicitHttpConfig {
                    protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                        Http2ProtocolOptions::default(),
                    )),
                },
            ));
        }
    }

    /// Uses the downstream connection's protocol upstream.
    pub fn set_use_downstream_protocol(&mut self) {
        let h = self.http_mut();
        let http1 = match &h.upstream_protocol_options {
            Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
                protocol_config: Some(ProtocolConfig::HttpProtocolOptions(o)),
            })) => o.clone(),
            _ => Http1ProtocolOptions::default(),
        };
        h.upstream_protocol_options = Some(UpstreamProtocolOptions::UseDownstreamProtocolConfig(
            UseDownstreamHttpConfig {
                http_protocol_options: Some(http1),
                http2_protocol_options: Some(Http2ProtocolOptions::default()),
                ..Default::default()
            },
        ));
    }

    /// The finished cluster.
    pub fn build(mut self) -> Cluster {
        if let Some(mut h) = self.http.take() {
            if h.upstream_protocol_options.is_none() {
                h.upstream_protocol_options = Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                    ExplicitHttpConfig {
                        protocol_config: Some(ProtocolConfig::HttpProtocolOptions(
                            Http1ProtocolOptions::default(),
                        )),
                    },
                ));
            }
            self.cluster.typed_extension_protocol_options =
                HashMap::from([(HTTP_PROTOCOL_OPTIONS.to_string(), pack_any(h))]);
        }
        if !self.istio.is_empty() {
            let md = self.cluster.metadata.get_or_insert_with(Metadata::default);
            md.filter_metadata
                .insert(ISTIO_METADATA.into(), to_struct(Value::Object(self.istio)));
        }
        self.cluster
    }
}

/// Istio's service entry in cluster metadata: FQDN, short name and namespace.
pub fn service_metadata(s: &Service) -> Value {
    // Kubernetes services are named by their object; ServiceEntry services by their host
    let name = match s.origin.strip_prefix("Service ") {
        Some(_) => s.hostname.split('.').next().unwrap_or_default(),
        None => s.hostname.as_str(),
    };
    json!({"host": s.hostname, "name": name, "namespace": s.namespace})
}

/// The TCP metadata exchange filter istiod puts on outbound clusters: with mTLS that
/// negotiated ALPN `istio-peer-exchange`, the proxies exchange their node metadata before
/// the first bytes (HTTP carries it in headers instead).
pub fn metadata_exchange_filter() -> Filter {
    let ts = TypedStruct::new(
        MX_TYPE_URL,
        json!({"protocol": "istio-peer-exchange", "enable_discovery": true}),
    );
    Filter {
        name: MX_FILTER.into(),
        typed_config: Some(ts.to_any()),
        ..Default::default()
    }
}

/// EDS over ADS for EDS clusters (`maybeApplyEdsConfig`).
pub fn apply_eds_config(c: &mut Cluster) {
    if c.cluster_discovery_type != Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)) {
        return;
    }
    c.eds_cluster_config = Some(EdsClusterConfig {
        service_name: c.name.clone(),
        eds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
                AggregatedConfigSource {},
            )),
            initial_fetch_timeout: Some(Duration::default()),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    });
}

/// What `base` needs to know about the proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyFacts {
    /// Whether the proxy has an IPv4 address (or none at all).
    pub ipv4: bool,
    /// Whether the proxy has an IPv6 address.
    pub ipv6: bool,
}

/// A cluster as `buildCluster` starts it: `None` for DNS and static clusters without
/// endpoints, which istiod leaves out. `services` are those reported in the metadata.
pub fn base(
    name: &str,
    kind: DiscoveryType,
    endpoints: Vec<LocalityLbEndpoints>,
    protocol: Protocol,
    services: &[&Service],
    facts: ProxyFacts,
) -> Option<Wrapper> {
    let mut c = Cluster {
        name: name.to_string(),
        alt_stat_name: format!("{name};"),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(kind as i32)),
        common_lb_config: Some(CommonLbConfig::default()),
        ..Default::default()
    };
    if matches!(kind, DiscoveryType::StrictDns | DiscoveryType::LogicalDns) {
        c.dns_lookup_family = if facts.ipv6 && !facts.ipv4 {
            DnsLookupFamily::V6Only
        } else {
            DnsLookupFamily::V4Only
        } as i32;
        c.typed_dns_resolver_config = Some(TypedExtensionConfig {
            name: "envoy.network.dns_resolver.cares".into(),
            typed_config: Some(pack_any(CaresDnsResolverConfig {
                udp_max_queries: u32v(100),
                ..Default::default()
            })),
        });
        // deprecated in Envoy in favour of the resolver's config, still what istiod sets
        #[allow(deprecated)]
        {
            c.dns_jitter = Some(duration(100_000_000));
            c.dns_refresh_rate = Some(DNS_REFRESH_RATE);
            c.respect_dns_ttl = true;
        }
    }
    if matches!(
        kind,
        DiscoveryType::StrictDns | DiscoveryType::LogicalDns | DiscoveryType::Static
    ) {
        if endpoints.is_empty() {
            tracing::debug!(
                cluster = name,
                "DNS/static cluster without endpoints left out"
            );
            return None;
        }
        c.load_assignment = Some(ClusterLoadAssignment {
            cluster_name: name.to_string(),
            endpoints,
            ..Default::default()
        });
    }
    let mut w = Wrapper {
        cluster: c,
        http: None,
        istio: serde_json::Map::new(),
    };
    if protocol.is_http2() {
        w.set_h2();
    } else if protocol == Protocol::Unsupported {
        w.set_use_downstream_protocol();
    }
    if !services.is_empty() {
        w.istio.insert(
            "services".into(),
            Value::Array(services.iter().map(|s| service_metadata(s)).collect()),
        );
    }
    Some(w)
}
