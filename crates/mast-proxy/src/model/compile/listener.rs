//! Listeners, filter chains, network filters and HTTP connection managers.
//!
//! Supported: explicit listeners on an IP and port, `bind_to_port: false` listeners (reached
//! by capture: a `use_original_dst` listener such as `virtualOutbound` hands a redirected
//! connection to the listener of its original destination); listener filters
//! `tls_inspector`, `http_inspector` and `original_dst` (the connection's destination is
//! read with `SO_ORIGINAL_DST`); filter chain matches on destination port and
//! IP, SNI, transport protocol and ALPN; the default chain; TLS termination; network filters
//! `tcp_proxy` and `http_connection_manager` (with no-op `rbac`, and Istio's
//! `metadata_exchange` before a `tcp_proxy`: the TCP peer metadata exchange); HTTP filters `router`, `fault` and `cors` (with their
//! per-route configs, see [`super::filters`]) and, as no-ops, `rbac` without rules and
//! `istio.alpn` (its override is built in). Optional unknown HTTP filters are skipped with a
//! log line.
//! Refused: TPROXY (`transparent`), Unix sockets, socket
//! options, the PROXY protocol, source matches, and every other filter.

use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address, transport_socket};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain as PbChain, FilterChainMatch, Listener as PbListener, filter,
    listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetRbac;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
    TcpProxy as PbTcp, tcp_proxy,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::google::protobuf::Any;

use super::hcm::hcm;
use super::{Compiler, FieldError, Result, timeout, unpack};
use crate::model::listener::{
    ChainKind, ChainMatch, Cidr, Direction, FilterChain, Listener, TcpProxy, TcpStats,
};
use crate::model::{ClusterRef, compile};

/// Envoy's default listener filter timeout.
pub const DEFAULT_INSPECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Envoy's default TCP proxy idle timeout.
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(3600);

fn refuse(set: bool, field: &str) -> Result<()> {
    if set {
        Err(FieldError::unsupported(field))
    } else {
        Ok(())
    }
}

/// Compiles a Listener; `fingerprint` is its encoded proto.
pub fn compile(c: &mut Compiler<'_>, l: PbListener, fingerprint: Vec<u8>) -> Result<Listener> {
    let direction = match l.traffic_direction {
        1 => Direction::Inbound,
        2 => Direction::Outbound,
        _ => Direction::Unspecified,
    };
    c.direction = direction;
    let use_original_dst = l.use_original_dst.as_ref().is_some_and(|b| b.value);
    refuse(
        l.transparent.as_ref().is_some_and(|b| b.value),
        "transparent (TPROXY interception is not supported by mast-proxy; use REDIRECT)",
    )?;
    refuse(!l.socket_options.is_empty(), "socket_options")?;
    refuse(l.udp_listener_config.is_some(), "udp_listener_config")?;
    refuse(l.api_listener.is_some(), "api_listener")?;
    refuse(l.filter_chain_matcher.is_some(), "filter_chain_matcher")?;
    refuse(l.fcds_config.is_some(), "fcds_config")?;
    refuse(!l.additional_addresses.is_empty(), "additional_addresses")?;
    refuse(l.enable_mptcp, "enable_mptcp")?;
    let address = match l.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => {
            let port = match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => {
                    u16::try_from(p).map_err(|_| {
                        FieldError::new("address.port_value", format!("{p} is not a port"))
                    })?
                }
                _ => return Err(FieldError::new("address.port_value", "is missing")),
            };
            let ip = sa.address.parse().map_err(|_| {
                FieldError::new(
                    "address.address",
                    format!("{:?} is not an IP address", sa.address),
                )
            })?;
            std::net::SocketAddr::new(ip, port)
        }
        Some(address::Address::Pipe(p)) => {
            return Err(FieldError::new(
                "address.pipe",
                format!(
                    "Unix socket listeners ({}) are not supported by mast-proxy",
                    p.path
                ),
            ));
        }
        _ => {
            return Err(FieldError::new(
                "address",
                "is missing or not a socket address",
            ));
        }
    };
    let mut inspect_tls = false;
    let mut inspect_http = false;
    let mut original_dst = use_original_dst;
    for (i, f) in l.listener_filters.iter().enumerate() {
        let ty = match &f.config_type {
            Some(listener_filter::ConfigType::TypedConfig(a)) => a
                .type_url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        match (f.name.as_str(), ty.as_str()) {
            (_, "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")
            | ("envoy.filters.listener.tls_inspector", _) => inspect_tls = true,
            (_, "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector")
            | ("envoy.filters.listener.http_inspector", _) => inspect_http = true,
            (_, "envoy.extensions.filters.listener.original_dst.v3.OriginalDst")
            | ("envoy.filters.listener.original_dst", _) => original_dst = true,
            (name, _) => {
                return Err(FieldError::new(
                    format!("listener_filters[{i}]"),
                    format!("listener filter {name:?} is not supported by mast-proxy"),
                ));
            }
        }
    }
    let chains = l
        .filter_chains
        .iter()
        .enumerate()
        .map(|(i, fc)| {
            chain(c, fc)
                .map(Arc::new)
                .map_err(|e| e.at(format!("filter_chains[{i}]")))
        })
        .collect::<Result<Vec<_>>>()?;
    let default_chain = match &l.default_filter_chain {
        Some(fc) => Some(Arc::new(
            chain(c, fc).map_err(|e| e.at("default_filter_chain"))?,
        )),
        None => None,
    };
    Ok(Listener {
        name: l.name.clone(),
        address,
        bind_to_port: l.bind_to_port.as_ref().is_none_or(|b| b.value),
        use_original_dst,
        original_dst,
        chains,
        default_chain,
        inspect_tls,
        inspect_http,
        inspect_timeout: timeout(
            l.listener_filters_timeout.as_ref(),
            Some(DEFAULT_INSPECT_TIMEOUT),
        ),
        continue_on_timeout: l.continue_on_listener_filters_timeout,
        direction,
        fingerprint,
    })
}

fn chain_match(m: &FilterChainMatch) -> Result<ChainMatch> {
    refuse(
        !m.direct_source_prefix_ranges.is_empty(),
        "direct_source_prefix_ranges",
    )?;
    refuse(m.source_type != 0, "source_type")?;
    refuse(!m.source_prefix_ranges.is_empty(), "source_prefix_ranges")?;
    refuse(!m.source_ports.is_empty(), "source_ports")?;
    refuse(
        !m.address_suffix.is_empty() || m.suffix_len.is_some(),
        "address_suffix",
    )?;
    let prefix_ranges = m
        .prefix_ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let addr = r.address_prefix.parse().map_err(|_| {
                FieldError::new(
                    format!("prefix_ranges[{i}]"),
                    format!("{:?} is not an IP", r.address_prefix),
                )
            })?;
            let max = if matches!(addr, std::net::IpAddr::V4(_)) {
                32
            } else {
                128
            };
            let len = r.prefix_len.as_ref().map(|l| l.value).unwrap_or(0).min(max) as u8;
            Ok(Cidr { addr, len })
        })
        .collect::<Result<_>>()?;
    Ok(ChainMatch {
        destination_port: match &m.destination_port {
            Some(p) => Some(u16::try_from(p.value).map_err(|_| {
                FieldError::new("destination_port", format!("{} is not a port", p.value))
            })?),
            None => None,
        },
        prefix_ranges,
        server_names: m
            .server_names
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        transport_protocol: (!m.transport_protocol.is_empty())
            .then(|| m.transport_protocol.clone()),
        application_protocols: m.application_protocols.clone(),
    })
}

fn typed(f: &Filter) -> Option<&Any> {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(a)) => Some(a),
        _ => None,
    }
}

fn chain(c: &mut Compiler<'_>, fc: &PbChain) -> Result<FilterChain> {
    #[allow(deprecated)]
    refuse(
        fc.use_proxy_proto.as_ref().is_some_and(|b| b.value),
        "use_proxy_proto",
    )?;
    let matcher = match &fc.filter_chain_match {
        Some(m) => chain_match(m).map_err(|e| e.at("filter_chain_match"))?,
        None => ChainMatch::default(),
    };
    let tls = match &fc.transport_socket {
        None => None,
        Some(ts) => match ts.name.as_str() {
            "envoy.transport_sockets.raw_buffer" | "raw_buffer" => None,
            "envoy.transport_sockets.tls" | "tls" => {
                let ctx: DownstreamTlsContext = match &ts.config_type {
                    Some(transport_socket::ConfigType::TypedConfig(a)) => {
                        unpack(a).map_err(|e| e.at("transport_socket.typed_config"))?
                    }
                    None => {
                        return Err(FieldError::new(
                            "transport_socket.typed_config",
                            "is missing",
                        ));
                    }
                };
                Some(Arc::new(
                    compile::tls::downstream(c, &ctx)
                        .map_err(|e| e.at("transport_socket.typed_config"))?,
                ))
            }
            other => {
                return Err(FieldError::new(
                    "transport_socket.name",
                    format!("{other:?} is not supported by mast-proxy"),
                ));
            }
        },
    };
    let mut kind = None;
    let mut stats = None;
    let mut exchange = None;
    for (i, f) in fc.filters.iter().enumerate() {
        let at = |e: FieldError| e.at(format!("filters[{i}]"));
        if kind.is_some() {
            return Err(at(FieldError::new(
                "name",
                format!("{:?} follows a terminal filter", f.name),
            )));
        }
        let ty = typed(f)
            .map(|a| a.type_url.rsplit('/').next().unwrap_or_default())
            .unwrap_or_default();
        match (f.name.as_str(), ty) {
            ("envoy.filters.network.tcp_proxy" | "envoy.tcp_proxy", _)
            | (_, "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy") => {
                let a =
                    typed(f).ok_or_else(|| at(FieldError::new("typed_config", "is missing")))?;
                let mut tp =
                    tcp(c, &unpack(a).map_err(at)?).map_err(|e| at(e.at("typed_config")))?;
                tp.stats = stats.take();
                tp.exchange = exchange.take();
                kind = Some(ChainKind::Tcp(tp));
            }
            (
                "envoy.filters.network.http_connection_manager" | "envoy.http_connection_manager",
                _,
            )
            | (
                _,
                "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            ) => {
                let a =
                    typed(f).ok_or_else(|| at(FieldError::new("typed_config", "is missing")))?;
                kind = Some(ChainKind::Http(Arc::new(
                    hcm(c, &unpack(a).map_err(at)?).map_err(|e| at(e.at("typed_config")))?,
                )));
            }
            ("envoy.filters.network.rbac", _)
            | (_, "envoy.extensions.filters.network.rbac.v3.RBAC") => {
                let r: NetRbac = typed(f)
                    .map(unpack)
                    .transpose()
                    .map_err(at)?
                    .unwrap_or_default();
                refuse(
                    r.rules.is_some() || r.matcher.is_some(),
                    "rules (network RBAC is not implemented yet)",
                )
                .map_err(|e| at(e.at("typed_config")))?;
            }
            ("istio.metadata_exchange" | "envoy.filters.network.metadata_exchange", _) => {
                exchange = Some(c.telemetry.local.clone());
            }
            ("istio.stats", _) => {
                stats = Some(tcp_stats(c, f).map_err(|e| at(e.at("typed_config")))?);
            }
            (name, _) => {
                return Err(at(FieldError::new(
                    "name",
                    format!("network filter {name:?} is not supported by mast-proxy"),
                )));
            }
        }
    }
    let kind =
        kind.ok_or_else(|| FieldError::new("filters", "no tcp_proxy or http_connection_manager"))?;
    Ok(FilterChain {
        name: fc.name.clone(),
        matcher,
        tls,
        kind,
    })
}

fn tcp(c: &mut Compiler<'_>, t: &PbTcp) -> Result<TcpProxy> {
    refuse(t.metadata_match.is_some(), "metadata_match")?;
    refuse(t.tunneling_config.is_some(), "tunneling_config")?;
    refuse(t.on_demand.is_some(), "on_demand")?;
    refuse(
        t.max_downstream_connection_duration.is_some(),
        "max_downstream_connection_duration",
    )?;
    let cluster = match &t.cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(n)) => ClusterRef {
            name: n.as_str().into(),
            slot: c.clusters.intern(n),
        },
        Some(tcp_proxy::ClusterSpecifier::WeightedClusters(_)) => {
            return Err(FieldError::unsupported("weighted_clusters"));
        }
        None => return Err(FieldError::new("cluster", "is missing")),
    };
    Ok(TcpProxy {
        stat_prefix: t.stat_prefix.clone(),
        cluster,
        idle_timeout: timeout(t.idle_timeout.as_ref(), Some(DEFAULT_TCP_IDLE)),
        stats: None,
        exchange: None,
        access_logs: t
            .access_log
            .iter()
            .enumerate()
            .map(|(i, l)| {
                super::hcm::access_log(c, l).map_err(|e| e.at(format!("access_log[{i}]")))
            })
            .collect::<Result<Vec<_>>>()?,
    })
}

/// The `istio.stats` network filter (`stats.PluginConfig` in a `TypedStruct`): TCP metrics
/// reported by the listener's direction.
fn tcp_stats(c: &Compiler<'_>, f: &Filter) -> Result<TcpStats> {
    use crate::telemetry::metrics::Reporter;
    use mast_xds::typed_struct::TypedStruct;
    let cfg = match typed(f).map(TypedStruct::from_any) {
        None => Default::default(),
        Some(Some(Ok(ts))) => ts.json(),
        Some(Some(Err(e))) => return Err(FieldError::new("", format!("bad TypedStruct: {e}"))),
        Some(None) => return Err(FieldError::new("@type", "is not a TypedStruct")),
    };
    for k in cfg.keys() {
        match k.as_str() {
            "disable_host_header_fallback" | "tcp_reporting_duration" | "stat_prefix" => {}
            "reporter" if cfg[k].as_str() == Some("UNSPECIFIED") => {}
            "metrics" if cfg[k].is_array() => {}
            other => return Err(FieldError::unsupported(other.to_string())),
        }
    }
    let overrides = crate::telemetry::overrides::Overrides::parse(
        cfg.get("metrics")
            .and_then(serde_json::Value::as_array)
            .map_or(&[][..], Vec::as_slice),
    )
    .map_err(|(field, reason)| FieldError::new(field, reason))?;
    Ok(TcpStats {
        reporter: match c.direction {
            Direction::Inbound => Reporter::Destination,
            _ => Reporter::Source,
        },
        telemetry: c.telemetry.clone(),
        overrides: Arc::new(overrides),
    })
}
