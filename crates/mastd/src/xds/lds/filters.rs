//! Building blocks of listeners: addresses, listener filters (original destination, TLS and
//! HTTP inspectors), the TCP proxy network filter, and typed filter wrappers.

use envoy_types::pb::envoy::config::core::v3::{
    Address, CidrRange, Pipe, SocketAddress, TransportSocket, address, socket_address,
    transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use prost::Name;

use crate::xds::rds::util::u32_value;

/// `envoy.filters.network.tcp_proxy`.
pub const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";
/// `envoy.filters.network.http_connection_manager`.
pub const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";
/// `envoy.filters.network.rbac`.
pub const NETWORK_RBAC: &str = "envoy.filters.network.rbac";
/// `envoy.filters.listener.tls_inspector`.
pub const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
/// `envoy.filters.listener.http_inspector`.
pub const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
/// `envoy.filters.listener.original_dst`.
pub const ORIGINAL_DST: &str = "envoy.filters.listener.original_dst";
/// `envoy.transport_sockets.tls`.
pub const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";

/// Transport protocol set by the TLS inspector for TLS connections.
pub const TLS: &str = "tls";
/// Transport protocol of plaintext connections.
pub const RAW_BUFFER: &str = "raw_buffer";

/// ALPNs the HTTP inspector reports for plaintext HTTP.
pub const PLAINTEXT_HTTP_ALPNS: &[&str] = &["http/1.1", "h2c"];
/// ALPNs a client sidecar offers for HTTP over mTLS.
pub const MTLS_HTTP_ALPNS: &[&str] = &["istio-http/1.0", "istio-http/1.1", "istio-h2"];
/// Every ALPN a client sidecar offers over mTLS.
pub const ALL_ISTIO_MTLS_ALPNS: &[&str] = &[
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];
/// ALPNs a client sidecar offers for opaque TCP over mTLS.
pub const MTLS_TCP_ALPNS: &[&str] = &["istio-peer-exchange", "istio"];

/// Owned strings from a list of ALPNs.
pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `bind:port`, or a pipe for `unix://` binds (`util.BuildAddress`).
pub fn address(bind: &str, port: u32) -> Address {
    if let Some(path) = bind.strip_prefix("unix://") {
        return Address {
            address: Some(address::Address::Pipe(Pipe {
                path: path.to_string(),
                mode: 0,
            })),
        };
    }
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: bind.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// A CIDR range from `ip` or `ip/len`; `None` for bad input.
pub fn cidr(s: &str) -> Option<CidrRange> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, l)) => (ip, Some(l.parse::<u32>().ok()?)),
        None => (s, None),
    };
    let parsed: std::net::IpAddr = ip.parse().ok()?;
    let len = len.unwrap_or(if parsed.is_ipv4() { 32 } else { 128 });
    Some(CidrRange {
        address_prefix: ip.to_string(),
        prefix_len: u32_value(len),
    })
}

/// A listener filter with an empty typed config.
fn listener_filter<T: Name + prost::Message>(name: &str, config: T) -> ListenerFilter {
    ListenerFilter {
        name: name.into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(pack_any(config))),
        filter_disabled: None,
    }
}

/// The original-destination listener filter.
pub fn original_dst() -> ListenerFilter {
    listener_filter(ORIGINAL_DST, OriginalDst::default())
}

/// The TLS inspector (reading at most 512 bytes, as istiod configures it).
pub fn tls_inspector() -> ListenerFilter {
    listener_filter(
        TLS_INSPECTOR,
        TlsInspector {
            initial_read_buffer_size: u32_value(512),
            ..Default::default()
        },
    )
}

/// The HTTP inspector.
pub fn http_inspector() -> ListenerFilter {
    listener_filter(HTTP_INSPECTOR, HttpInspector::default())
}

/// A network filter with a typed config.
pub fn network_filter(name: &str, config: Any) -> Filter {
    Filter {
        name: name.into(),
        config_type: Some(filter::ConfigType::TypedConfig(config)),
    }
}

/// A TCP proxy to one cluster.
pub fn tcp_proxy(stat_prefix: &str, cluster: &str) -> TcpProxy {
    TcpProxy {
        stat_prefix: stat_prefix.into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.into())),
        ..Default::default()
    }
}

/// The inbound TCP metadata exchange network filter (`istio.metadata_exchange`), before the
/// policy and `tcp_proxy` filters of mTLS TCP chains, as istiod puts it.
pub fn tcp_metadata_exchange() -> Filter {
    let ts = mast_xds::typed_struct::TypedStruct::new(
        "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
        serde_json::json!({"protocol": "istio-peer-exchange"}),
    );
    network_filter(super::hcm::METADATA_EXCHANGE, ts.to_any())
}

/// The TCP proxy network filter.
pub fn tcp_proxy_filter(p: TcpProxy) -> Filter {
    network_filter(TCP_PROXY, pack_any(p))
}

/// Puts Istio's TCP metrics filter (`istio.stats`, reporting by the listener's direction)
/// before the `tcp_proxy` of every TCP chain of listeners with a direction, as istiod does,
/// unless the Telemetry API turned that side's metrics off.
pub fn add_tcp_stats(
    listeners: &mut [envoy_types::pb::envoy::config::listener::v3::Listener],
    telemetry: &super::telemetry::TelemetryPolicy,
) {
    use super::hcm::{STATS, STATS_TYPE};
    use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
    for l in listeners {
        let (side, inbound) = match l.traffic_direction {
            d if d == TrafficDirection::Inbound as i32 => (&telemetry.server, true),
            d if d == TrafficDirection::Outbound as i32 => (&telemetry.client, false),
            _ => continue,
        };
        if side.metrics_off() {
            continue;
        }
        let config =
            mast_xds::typed_struct::TypedStruct::new(STATS_TYPE, side.stats_config(inbound))
                .to_any();
        for chain in l
            .filter_chains
            .iter_mut()
            .chain(l.default_filter_chain.iter_mut())
        {
            let n = chain.filters.len();
            if n > 0
                && chain.filters[n - 1].name == TCP_PROXY
                && !chain.filters.iter().any(|f| f.name == STATS)
            {
                chain
                    .filters
                    .insert(n - 1, network_filter(STATS, config.clone()));
            }
        }
    }
}

/// Puts the side's access log (Telemetry API, MeshConfig `accessLogFile`) on every
/// `tcp_proxy` of `listeners`, as istiod logs TCP connections too.
pub fn add_tcp_access_logs(
    listeners: &mut [envoy_types::pb::envoy::config::listener::v3::Listener],
    telemetry: &super::telemetry::TelemetryPolicy,
) {
    use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
    for l in listeners {
        let side = match l.traffic_direction {
            d if d == TrafficDirection::Inbound as i32 => &telemetry.server,
            d if d == TrafficDirection::Outbound as i32 => &telemetry.client,
            _ => continue,
        };
        let Some(log) = &side.access_log else {
            continue;
        };
        let pb = super::hcm::access_log(log);
        for chain in l
            .filter_chains
            .iter_mut()
            .chain(l.default_filter_chain.iter_mut())
        {
            for f in chain.filters.iter_mut().filter(|f| f.name == TCP_PROXY) {
                let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
                    continue;
                };
                let Ok(mut tp) = <TcpProxy as prost::Message>::decode(any.value.as_slice()) else {
                    continue;
                };
                if tp.access_log.is_empty() {
                    tp.access_log.push(pb.clone());
                    f.config_type = Some(filter::ConfigType::TypedConfig(pack_any(tp)));
                }
            }
        }
    }
}

/// A TLS transport socket terminating with `ctx`.
pub fn downstream_tls_socket(ctx: DownstreamTlsContext) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

/// Whether `ip` is a global unicast address (Go's `IsGlobalUnicast`: not loopback,
/// link-local, multicast or unspecified).
pub fn is_global_unicast(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v) => {
            !(v.is_loopback()
                || v.is_link_local()
                || v.is_multicast()
                || v.is_unspecified()
                || v.is_broadcast())
        }
        std::net::IpAddr::V6(v) => {
            !(v.is_loopback()
                || v.is_multicast()
                || v.is_unspecified()
                || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}
