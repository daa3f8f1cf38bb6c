//! The TCP proxy: one upstream connection per downstream connection, bytes copied both ways
//! with half-close (an end of stream on one side shuts the other side's write half), closed
//! after the idle timeout. With `istio.stats` on the chain, Istio's TCP metrics are recorded
//! when the connection opens, every [`REPORT_INTERVAL`] and when it closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::filter::StreamInfo;
use crate::http::reply::Flag;
use crate::inspect::Prefixed;
use crate::model::SharedModel;
use crate::model::listener::{TcpProxy, TcpStats};
use crate::telemetry::metrics::{Labels, Protocol, TcpDelta};
use crate::telemetry::overrides::{Metric, TCP};
use crate::telemetry::peer::Peer;
use crate::telemetry::tcp_exchange;
use crate::upstream::connect::{self, Use};

/// How often open connections report their bytes (Istio's `tcp_reporting_duration`).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// What the TCP proxy knows of the downstream connection.
#[derive(Debug, Clone, Default)]
pub struct Downstream {
    /// Whether it is TLS.
    pub tls: bool,
    /// The peer's SPIFFE ID (mTLS).
    pub peer_identity: Option<Arc<str>>,
    /// This workload's SPIFFE ID.
    pub local_identity: Option<Arc<str>>,
    /// The connection's original destination (ORIGINAL_DST clusters connect there).
    pub original_dst: Option<std::net::SocketAddr>,
    /// The ALPN protocol its TLS handshake negotiated.
    pub alpn: Option<Vec<u8>>,
    /// The peer's address.
    pub remote: Option<std::net::SocketAddr>,
    /// The TLS SNI.
    pub server_name: Option<Arc<str>>,
}

/// Why a TCP connection was not proxied.
#[derive(Debug, thiserror::Error)]
pub enum TcpError {
    /// The cluster does not exist.
    #[error("cluster {0} not found")]
    NoCluster(String),
    /// The cluster has no healthy host.
    #[error("no healthy upstream in {0}")]
    NoHealthyUpstream(String),
    /// The upstream connection failed.
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    /// Copying failed.
    #[error("copy: {0}")]
    Io(#[from] io::Error),
}

/// Counts the bytes read, for the metrics and for a watchdog to tell an idle connection.
struct Activity<S> {
    inner: S,
    read: Arc<AtomicU64>,
    seen: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if r.is_ready() {
            me.seen.fetch_add(1, Ordering::Relaxed);
            let n = buf.filled().len().saturating_sub(before);
            me.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn idle_watch(seen: Arc<AtomicU64>, idle: Duration) {
    let mut last = seen.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(idle).await;
        let now = seen.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Istio's TCP metrics of one connection: the labels, and what was already reported.
struct Report<'a> {
    stats: &'a TcpStats,
    labels: Labels,
    /// The standard series' metrics, and the changed series (Telemetry API).
    mask: u8,
    changed: Vec<(Metric, String)>,
    sent: u64,
    received: u64,
}

impl<'a> Report<'a> {
    fn new(stats: &'a TcpStats, info: &StreamInfo) -> Report<'a> {
        let labels =
            crate::filters::stats::labels(stats.reporter, &stats.telemetry, info, Protocol::Tcp);
        let o = &stats.overrides;
        let changed = TCP
            .iter()
            .filter_map(|m| {
                let c = o.get(*m).filter(|c| !c.drop)?;
                Some((
                    *m,
                    crate::filters::stats::changed_labels(&labels, c, &[], info),
                ))
            })
            .collect();
        let r = Report {
            stats,
            mask: o.standard_mask(&TCP),
            changed,
            labels,
            sent: 0,
            received: 0,
        };
        r.record(TcpDelta {
            opened: true,
            ..Default::default()
        });
        r
    }

    fn record(&self, d: TcpDelta) {
        let metrics = &self.stats.telemetry.metrics;
        if self.mask != 0 {
            metrics.record_tcp_masked(&self.labels, d, self.mask);
        }
        for (m, labels) in &self.changed {
            let v = match m {
                Metric::TcpOpened => u64::from(d.opened),
                Metric::TcpClosed => u64::from(d.closed),
                Metric::TcpSent => d.sent,
                _ => d.received,
            };
            if v > 0 {
                metrics.record_custom(*m, labels.clone(), v);
            }
        }
    }

    /// Reports the bytes since the last report (`closed`: and the close).
    fn update(&mut self, sent: u64, received: u64, closed: bool) {
        let d = TcpDelta {
            opened: false,
            closed,
            sent: sent.saturating_sub(self.sent),
            received: received.saturating_sub(self.received),
        };
        (self.sent, self.received) = (sent, received);
        if closed || d.sent > 0 || d.received > 0 {
            self.record(d);
        }
    }
}

/// A connection that could not be proxied still counts as opened and closed, with its flag,
/// and is logged.
fn failed(tp: &TcpProxy, conn: &Downstream, start: Start, mut info: StreamInfo, flag: Flag) {
    info.flags.push(flag);
    if let Some(s) = tp.stats.as_ref() {
        Report::new(s, &info).update(0, 0, true);
    }
    log(tp, conn, start, &mut info);
}

/// When a connection started, for its duration and its log line.
#[derive(Debug, Clone, Copy)]
struct Start {
    at: std::time::SystemTime,
    clock: tokio::time::Instant,
}

/// Writes the connection's access log lines, at its close.
fn log(tp: &TcpProxy, conn: &Downstream, start: Start, info: &mut StreamInfo) {
    if tp.access_logs.is_empty() {
        return;
    }
    info.duration = start.clock.elapsed();
    let d = crate::telemetry::access_log::Downstream {
        local: conn.original_dst,
        remote: conn.remote,
        server_name: conn.server_name.as_deref(),
        peer_uri: conn.peer_identity.as_deref(),
        local_uri: conn.local_identity.as_deref(),
    };
    for l in &tp.access_logs {
        l.write(&l.tcp_entry(start.at), info, &d);
    }
}

/// Proxies `down` to the cluster of `tp`; returns bytes copied (down→up, up→down).
pub async fn proxy<S>(
    down: S,
    tp: &TcpProxy,
    model: &SharedModel,
    conn: &Downstream,
) -> Result<(u64, u64), TcpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stats = tp.stats.as_ref();
    let start = Start {
        at: std::time::SystemTime::now(),
        clock: tokio::time::Instant::now(),
    };
    let mut info = StreamInfo {
        downstream_tls: conn.tls,
        peer_identity: conn.peer_identity.clone(),
        local_identity: conn.local_identity.clone(),
        cluster: Some(tp.cluster.name.clone()),
        ..Default::default()
    };
    let Some(cluster) = model.load().cluster(&tp.cluster).cloned() else {
        failed(tp, conn, start, info, Flag::NoCluster);
        return Err(TcpError::NoCluster(tp.cluster.name.to_string()));
    };
    info.service = cluster.spec.service.clone();
    // the downstream peer's metadata first, when it negotiated the exchange
    let down = match &tp.exchange {
        Some(local) if conn.alpn.as_deref() == Some(tcp_exchange::ALPN) => {
            let (peer, down) = tcp_exchange::exchange(down, &local.tcp_frame).await?;
            info.downstream_peer = peer.map(|md| Arc::new(Peer::from_metadata(&md)));
            down
        }
        _ => Prefixed::new(down),
    };
    let Some(host) = cluster.select(conn.original_dst, None, &[], 1) else {
        failed(tp, conn, start, info, Flag::NoHealthyUpstream);
        return Err(TcpError::NoHealthyUpstream(tp.cluster.name.to_string()));
    };
    info.upstream_tls = host.tls.is_some();
    info.upstream_host = Some(host.name.clone());
    host.stats.cx_total.fetch_add(1, Ordering::Relaxed);
    let up = match connect::connect(&host.addr, &cluster.spec, host.tls.as_ref(), Use::Raw).await {
        Ok(up) => up,
        Err(e) => {
            host.stats.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
            failed(tp, conn, start, info, Flag::UpstreamConnectFailure);
            return Err(e.into());
        }
    };
    info.upstream_identity = up.peer_identity().map(Arc::from);
    let up = match &cluster.spec.exchange {
        Some(local) if up.alpn() == Some(tcp_exchange::ALPN) => {
            let (peer, up) = tcp_exchange::exchange(up, &local.tcp_frame).await?;
            info.upstream_peer = peer.map(|md| Arc::new(Peer::from_metadata(&md)));
            up
        }
        _ => Prefixed::new(up),
    };
    let mut report = stats.map(|s| Report::new(s, &info));
    let seen = Arc::new(AtomicU64::new(0));
    let (received, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut down = Activity {
        inner: down,
        read: received.clone(),
        seen: seen.clone(),
    };
    let mut up = Activity {
        inner: up,
        read: sent.clone(),
        seen: seen.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut down, &mut up);
    tokio::pin!(copy);
    let idle = async {
        match tp.idle_timeout {
            Some(d) => idle_watch(seen, d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(idle);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + REPORT_INTERVAL,
        REPORT_INTERVAL,
    );
    let result = loop {
        tokio::select! {
            r = &mut copy => break r.map_err(TcpError::from),
            _ = &mut idle => {
                tracing::debug!(cluster = %tp.cluster.name, "TCP proxy idle timeout");
                break Ok((0, 0));
            }
            _ = tick.tick(), if report.is_some() => {
                if let Some(r) = report.as_mut() {
                    r.update(sent.load(Ordering::Relaxed), received.load(Ordering::Relaxed), false);
                }
            }
        }
    };
    let (sent, received) = (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    if let Some(r) = report.as_mut() {
        r.update(sent, received, true);
    }
    info.request_body_bytes = received;
    info.response_body_bytes = sent;
    log(tp, conn, start, &mut info);
    result
}
