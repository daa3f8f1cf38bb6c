//! Compiled listeners (LDS): address, filter chains and how a connection picks one, as
//! Envoy's `FilterChainMatch` does it — criteria in order (destination port, destination IP,
//! server name, transport protocol, application protocols), at each level the most specific
//! chains that match, chains that leave the criterion empty otherwise; the default chain if
//! none is left.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use super::route::RouteTable;
use super::{ClusterRef, Slot};
use crate::http::filter::HttpFilter;

/// Which way traffic flows through a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Not said.
    #[default]
    Unspecified,
    /// To the local workload.
    Inbound,
    /// From the local workload.
    Outbound,
}

/// A listener.
#[derive(Debug)]
pub struct Listener {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Whether it binds its own socket (`false`: reached only by capture).
    pub bind_to_port: bool,
    /// `use_original_dst`: a connection redirected here is handed to the listener of its
    /// original destination, if there is one.
    pub use_original_dst: bool,
    /// Whether the connection's local address is its original destination
    /// (`SO_ORIGINAL_DST`; `use_original_dst` or the `original_dst` listener filter).
    pub original_dst: bool,
    /// Filter chains.
    pub chains: Vec<Arc<FilterChain>>,
    /// The chain of connections no chain matches.
    pub default_chain: Option<Arc<FilterChain>>,
    /// Whether chain selection needs the TLS ClientHello (SNI, ALPN, transport `tls`).
    pub inspect_tls: bool,
    /// Whether chain selection needs the HTTP inspector (ALPN of plaintext).
    pub inspect_http: bool,
    /// How long inspection may wait for the first bytes (`None`: forever).
    pub inspect_timeout: Option<Duration>,
    /// Whether a connection whose inspection timed out still gets a chain.
    pub continue_on_timeout: bool,
    /// Traffic direction.
    pub direction: Direction,
    /// The encoded proto, to tell an unchanged listener from a changed one.
    pub fingerprint: Vec<u8>,
}

/// A filter chain.
#[derive(Debug)]
pub struct FilterChain {
    /// Its name.
    pub name: String,
    /// When it applies.
    pub matcher: ChainMatch,
    /// TLS termination, if the chain has a TLS transport socket.
    pub tls: Option<Arc<crate::model::compile::tls::DownstreamTls>>,
    /// What it does with connections.
    pub kind: ChainKind,
}

/// A chain's network filter.
#[derive(Debug)]
pub enum ChainKind {
    /// `envoy.filters.network.tcp_proxy`.
    Tcp(TcpProxy),
    /// `envoy.filters.network.http_connection_manager`.
    Http(Arc<Hcm>),
}

/// A TCP proxy.
#[derive(Debug)]
pub struct TcpProxy {
    /// Stat prefix.
    pub stat_prefix: String,
    /// The upstream cluster.
    pub cluster: ClusterRef,
    /// Idle timeout (`None`: disabled; Envoy's default is 1 h).
    pub idle_timeout: Option<Duration>,
    /// Istio's TCP metrics (`istio.stats` before the `tcp_proxy`).
    pub stats: Option<TcpStats>,
    /// Istio's TCP metadata exchange with the downstream peer (`istio.metadata_exchange`):
    /// this workload's frame.
    pub exchange: Option<Arc<crate::telemetry::peer::Local>>,
    /// Access logs, written when the connection closes.
    pub access_logs: Vec<Arc<crate::telemetry::access_log::AccessLog>>,
}

/// Istio's TCP metrics of a chain.
#[derive(Debug, Clone)]
pub struct TcpStats {
    /// Who reports.
    pub reporter: crate::telemetry::metrics::Reporter,
    /// Where they go.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// The Telemetry API's changes.
    pub overrides: Arc<crate::telemetry::overrides::Overrides>,
}

/// Where an HTTP connection manager's routes come from.
#[derive(Debug)]
pub enum RouteSource {
    /// RDS, by route slot.
    Rds {
        /// The route configuration name.
        name: String,
        /// Its slot in [`crate::model::Model::routes`].
        slot: Slot,
    },
    /// Inline in the listener.
    Inline(Arc<RouteTable>),
}

/// Which HTTP versions a connection manager accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// HTTP/1.1, or HTTP/2 by its preface.
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only.
    Http2,
}

/// `forward_client_cert_details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardClientCert {
    /// Remove `x-forwarded-client-cert`.
    Sanitize,
    /// Keep it as it came.
    ForwardOnly,
    /// Append the peer's details (mTLS only).
    AppendForward,
    /// Replace it with the peer's details (mTLS only).
    SanitizeSet,
    /// Keep it untouched, even in plaintext.
    AlwaysForwardOnly,
}

/// `server_header_transformation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerHeader {
    /// Always our `server_name`.
    Overwrite,
    /// Ours only when the upstream sent none.
    AppendIfAbsent,
    /// The upstream's, untouched.
    PassThrough,
}

/// `set_current_client_cert_details`: the peer's parts put in `x-forwarded-client-cert`
/// (`By` and `Hash` always are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCertDetails {
    /// `Subject="..."`.
    pub subject: bool,
    /// `URI=...`.
    pub uri: bool,
    /// `DNS=...`.
    pub dns: bool,
}

/// An HTTP connection manager.
#[derive(Debug)]
pub struct Hcm {
    /// Stat prefix.
    pub stat_prefix: String,
    /// Route table.
    pub routes: RouteSource,
    /// HTTP filters before the router, in order.
    pub filters: Vec<Arc<dyn HttpFilter>>,
    /// Whether a filter, an access log or a span reporter needs the log phase (the response
    /// is then watched to its end).
    pub log_phase: bool,
    /// Access logs, written at the log phase.
    pub access_logs: Vec<Arc<crate::telemetry::access_log::AccessLog>>,
    /// The `server` header value of responses.
    pub server_name: HeaderValue,
    /// What happens to the upstream's `server` header.
    pub server_header: ServerHeader,
    /// Accepted HTTP versions.
    pub codec: Codec,
    /// Generate `x-request-id` when absent.
    pub generate_request_id: bool,
    /// Client certificate forwarding.
    pub forward_client_cert: ForwardClientCert,
    /// What the proxy adds to `x-forwarded-client-cert` about the peer.
    pub client_cert_details: ClientCertDetails,
    /// Append the downstream address to `x-forwarded-for`.
    pub use_remote_address: bool,
    /// Normalize the path (RFC 3986 dot segments).
    pub normalize_path: bool,
    /// Merge adjacent slashes in the path.
    pub merge_slashes: bool,
    /// The router does not add `x-envoy-*` headers.
    pub suppress_envoy_headers: bool,
    /// Upgrade types allowed (`websocket`).
    pub upgrades: Vec<String>,
    /// Tracing, when configured.
    pub tracing: Option<Arc<crate::telemetry::trace::Tracing>>,
}

/// An IP prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.len.min(32)))
                };
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.len.min(128)))
                };
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// When a chain applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainMatch {
    /// Destination port.
    pub destination_port: Option<u16>,
    /// Destination IP prefixes.
    pub prefix_ranges: Vec<Cidr>,
    /// TLS SNI names (`*.example.com` wildcards allowed).
    pub server_names: Vec<String>,
    /// `tls` or `raw_buffer`.
    pub transport_protocol: Option<String>,
    /// ALPN protocols (from the ClientHello or the HTTP inspector).
    pub application_protocols: Vec<String>,
}

/// What chain selection knows about a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// Local (destination) address.
    pub local: Option<SocketAddr>,
    /// SNI.
    pub server_name: Option<String>,
    /// `tls` or `raw_buffer`.
    pub transport: &'static str,
    /// ALPN protocols offered (TLS) or detected (HTTP inspector).
    pub alpn: Vec<String>,
    /// The ALPN protocol the TLS handshake chose, once terminated.
    pub negotiated: Option<Vec<u8>>,
}

fn sni_specificity(pattern: &str, name: &str) -> Option<usize> {
    if pattern == name {
        return Some(usize::MAX);
    }
    let suffix = pattern.strip_prefix('*')?;
    (name.len() > suffix.len() && name.ends_with(suffix)).then_some(suffix.len())
}

/// Keeps the candidates with the best score (`Some`), or those that do not constrain this
/// criterion when nothing matches it.
fn narrow(
    cands: Vec<&Arc<FilterChain>>,
    unconstrained: impl Fn(&ChainMatch) -> bool,
    score: impl Fn(&ChainMatch) -> Option<usize>,
) -> Vec<&Arc<FilterChain>> {
    let best = cands
        .iter()
        .filter(|c| !unconstrained(&c.matcher))
        .filter_map(|c| score(&c.matcher))
        .max();
    match best {
        Some(b) => cands
            .into_iter()
            .filter(|c| !unconstrained(&c.matcher) && score(&c.matcher) == Some(b))
            .collect(),
        None => cands
            .into_iter()
            .filter(|c| unconstrained(&c.matcher))
            .collect(),
    }
}

impl Listener {
    /// The filter chain for a connection (`None`: close it).
    pub fn select(&self, c: &ConnInfo) -> Option<&Arc<FilterChain>> {
        let port = c.local.map(|a| a.port());
        let ip = c.local.map(|a| a.ip());
        let mut cands: Vec<&Arc<FilterChain>> = self.chains.iter().collect();
        cands = narrow(
            cands,
            |m| m.destination_port.is_none(),
            |m| (m.destination_port == port).then_some(1),
        );
        cands = narrow(
            cands,
            |m| m.prefix_ranges.is_empty(),
            |m| {
                let ip = ip?;
                m.prefix_ranges
                    .iter()
                    .filter(|r| r.contains(ip))
                    .map(|r| usize::from(r.len))
                    .max()
            },
        );
        cands = narrow(
            cands,
            |m| m.server_names.is_empty(),
            |m| {
                let sni = c.server_name.as_deref()?;
                m.server_names
                    .iter()
                    .filter_map(|p| sni_specificity(p, sni))
                    .max()
            },
        );
        cands = narrow(
            cands,
            |m| m.transport_protocol.is_none(),
            |m| (m.transport_protocol.as_deref() == Some(c.transport)).then_some(1),
        );
        cands = narrow(
            cands,
            |m| m.application_protocols.is_empty(),
            |m| {
                m.application_protocols
                    .iter()
                    .any(|a| c.alpn.contains(a))
                    .then_some(1)
            },
        );
        cands.into_iter().next().or(self.default_chain.as_ref())
    }
}
