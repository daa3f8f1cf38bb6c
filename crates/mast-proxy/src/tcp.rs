//! The TCP proxy: one upstream connection per downstream connection, bytes copied both ways
//! with half-close (an end of stream on one side shuts the other side's write half), closed
//! after the idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::SharedModel;
use crate::model::listener::TcpProxy;
use crate::upstream::connect::{self, Use};

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

/// Counts reads, so that a watchdog can tell an idle connection.
struct Activity<S> {
    inner: S,
    seen: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if r.is_ready() {
            me.seen.fetch_add(1, Ordering::Relaxed);
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

/// Proxies `down` to the cluster of `tp`; returns bytes copied (down→up, up→down).
pub async fn proxy<S>(down: S, tp: &TcpProxy, model: &SharedModel) -> Result<(u64, u64), TcpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let cluster = model
        .load()
        .cluster(&tp.cluster)
        .cloned()
        .ok_or_else(|| TcpError::NoCluster(tp.cluster.name.to_string()))?;
    let host = cluster
        .pick(&[], 1)
        .ok_or_else(|| TcpError::NoHealthyUpstream(tp.cluster.name.to_string()))?;
    host.stats.cx_total.fetch_add(1, Ordering::Relaxed);
    let up = connect::connect(&host.addr, &cluster.spec, host.tls.as_ref(), Use::Raw)
        .await
        .inspect_err(|_| {
            host.stats.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
        })?;
    let seen = Arc::new(AtomicU64::new(0));
    let mut down = Activity {
        inner: down,
        seen: seen.clone(),
    };
    let mut up = Activity {
        inner: up,
        seen: seen.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut down, &mut up);
    match tp.idle_timeout {
        None => Ok(copy.await?),
        Some(idle) => tokio::select! {
            r = copy => Ok(r?),
            _ = idle_watch(seen, idle) => {
                tracing::debug!(cluster = %tp.cluster.name, "TCP proxy idle timeout");
                Ok((0, 0))
            }
        },
    }
}
