//! Opening upstream connections: DNS when the endpoint is a name, the cluster's source
//! address, its connect timeout, and TLS with the ALPN the use calls for.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::model::cluster::{Cluster, EndpointAddr};
use crate::model::compile::tls::UpstreamTls;

/// Why a connection could not be opened (Envoy's UF, with its transport failure reason).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The name did not resolve.
    #[error("DNS resolution of {host} failed: {reason}")]
    Dns {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// The connect timeout passed.
    #[error("connect timeout to {0}")]
    Timeout(SocketAddr),
    /// The TCP connect failed.
    #[error("connection failure to {addr}: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS error: {0}")]
    Tls(String),
}

/// What the connection will carry, choosing the ALPN offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Opaque bytes (TCP proxy): the cluster's ALPN.
    Raw,
    /// HTTP/1.1 requests.
    Http1,
    /// HTTP/2 requests.
    Http2,
}

/// An upstream connection.
#[derive(Debug)]
pub enum Io {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Io {
    /// The SPIFFE ID (first URI SAN) of the peer's certificate, for TLS connections.
    pub fn peer_identity(&self) -> Option<String> {
        match self {
            Io::Plain(_) => None,
            Io::Tls(t) => {
                let cert = t.get_ref().1.peer_certificates()?.first()?;
                crate::tls::verify::uri_sans(cert).into_iter().next()
            }
        }
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Io::Plain(_) => None,
            Io::Tls(t) => t.get_ref().1.alpn_protocol(),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

async fn resolve(addr: &EndpointAddr) -> Result<SocketAddr, ConnectError> {
    match addr {
        EndpointAddr::Ip(a) => Ok(*a),
        EndpointAddr::Dns(host, port) => {
            let err = |reason: String| ConnectError::Dns {
                host: host.clone(),
                reason,
            };
            let mut it = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| err(e.to_string()))?;
            it.next().ok_or_else(|| err("no address".into()))
        }
    }
}

/// Opens a TCP connection to `addr` for `cluster`.
pub async fn tcp(addr: &EndpointAddr, cluster: &Cluster) -> Result<TcpStream, ConnectError> {
    let to = resolve(addr).await?;
    let io_err = |source| ConnectError::Io { addr: to, source };
    let sock = if to.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(io_err)?;
    if let Some(src) = cluster.bind_source.filter(|s| s.is_ipv4() == to.is_ipv4()) {
        sock.bind(SocketAddr::new(src, 0)).map_err(io_err)?;
    }
    let stream = tokio::time::timeout(cluster.connect_timeout, sock.connect(to))
        .await
        .map_err(|_| ConnectError::Timeout(to))?
        .map_err(io_err)?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Opens a connection to `addr`, with TLS when `tls` is set.
pub async fn connect(
    addr: &EndpointAddr,
    cluster: &Cluster,
    tls: Option<&Arc<UpstreamTls>>,
    usage: Use,
) -> Result<Io, ConnectError> {
    let stream = tcp(addr, cluster).await?;
    let Some(tls) = tls else {
        return Ok(Io::Plain(stream));
    };
    let config = match usage {
        Use::Raw => &tls.raw,
        Use::Http1 => &tls.http1,
        Use::Http2 => &tls.http2,
    };
    let name = match (&tls.sni, addr) {
        (Some(n), _) => n.clone(),
        (None, EndpointAddr::Ip(a)) => ServerName::IpAddress(a.ip().into()),
        (None, EndpointAddr::Dns(h, _)) => {
            ServerName::try_from(h.clone()).map_err(|e| ConnectError::Tls(e.to_string()))?
        }
    };
    let handshake = TlsConnector::from(config.clone()).connect(name, stream);
    let s = tokio::time::timeout(cluster.connect_timeout, handshake)
        .await
        .map_err(|_| ConnectError::Tls("handshake timeout".into()))?
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    Ok(Io::Tls(Box::new(s)))
}
