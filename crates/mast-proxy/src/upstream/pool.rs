//! Connection pools, one per host: idle HTTP/1.1 connections in a lock-free queue, one shared
//! multiplexed HTTP/2 connection. A request borrows an HTTP/1.1 connection until its response
//! body ends ([`Checkout`]); a pooled connection found closed before the request went out is
//! replaced transparently (the request is handed back by hyper, so nothing is replayed).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::Host;
use super::connect::{self, ConnectError, Use};
use crate::http::body::Body;
use crate::model::cluster::Cluster;

/// Idle HTTP/1.1 connections kept per host.
pub const MAX_IDLE: usize = 256;

#[derive(Debug)]
struct Idle {
    tx: http1::SendRequest<Body>,
    since: Instant,
    uses: u32,
}

/// The connections of one host.
#[derive(Debug)]
pub struct Pool {
    idle: ArrayQueue<Idle>,
    h2: ArcSwapOption<http2::SendRequest<Body>>,
    h2_connecting: tokio::sync::Mutex<()>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            idle: ArrayQueue::new(MAX_IDLE),
            h2: ArcSwapOption::empty(),
            h2_connecting: tokio::sync::Mutex::new(()),
        }
    }
}

impl Pool {
    /// Idle HTTP/1.1 connections.
    pub fn idle_count(&self) -> usize {
        self.idle.len()
    }

    /// Whether an HTTP/2 connection is open.
    pub fn has_h2(&self) -> bool {
        self.h2.load().as_ref().is_some_and(|c| !c.is_closed())
    }
}

/// A request in flight on a host: counts it as active, and holds its HTTP/1.1 connection
/// until the response ends.
#[derive(Debug)]
pub struct Checkout {
    host: Arc<Host>,
    conn: Option<(http1::SendRequest<Body>, u32)>,
    max_requests: Option<u32>,
}

impl Checkout {
    fn new(host: &Arc<Host>, max_requests: Option<u32>) -> Checkout {
        host.active.fetch_add(1, Ordering::Relaxed);
        host.traffic.rq_active.fetch_add(1, Ordering::Relaxed);
        Checkout {
            host: host.clone(),
            conn: None,
            max_requests,
        }
    }

    /// The response ended cleanly: the connection may serve another request.
    pub fn release(mut self) {
        if let Some((tx, uses)) = self.conn.take()
            && !tx.is_closed()
            && self.max_requests.is_none_or(|m| uses < m)
        {
            let _ = self.host.pool.idle.push(Idle {
                tx,
                since: Instant::now(),
                uses,
            });
            self.host.traffic.freed.notify_waiters();
        }
    }

    /// The response failed or was abandoned: the connection is closed.
    pub fn discard(mut self) {
        self.conn = None;
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        self.host.active.fetch_sub(1, Ordering::Relaxed);
        self.host.traffic.rq_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be opened (UF).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A circuit breaker limit was hit: too many requests waiting for a connection (UO).
    #[error("upstream overflow")]
    Overflow,
    /// The connection or stream failed before response headers (UC, or a refused stream).
    #[error("upstream reset: {source}")]
    Reset {
        /// hyper's error.
        source: hyper::Error,
        /// Whether the request was sent at all.
        sent: bool,
        /// HTTP/2 REFUSED_STREAM.
        refused: bool,
    },
}

impl SendError {
    fn reset(source: hyper::Error, sent: bool) -> SendError {
        let refused = std::error::Error::source(&source)
            .and_then(|s| s.downcast_ref::<h2::Error>())
            .is_some_and(|e| e.reason() == Some(h2::Reason::REFUSED_STREAM));
        SendError::Reset {
            source,
            sent,
            refused,
        }
    }
}

/// A failed send, with the request when it was not sent (so it may be retried as is).
pub type Failed = (SendError, Option<Request<Body>>);

fn take_idle(host: &Host, cluster: &Cluster) -> Option<Idle> {
    while let Some(i) = host.pool.idle.pop() {
        let expired = cluster.idle_timeout.is_some_and(|t| i.since.elapsed() >= t);
        if !expired && !i.tx.is_closed() && i.tx.is_ready() {
            return Some(i);
        }
    }
    None
}

async fn open(host: &Host, cluster: &Cluster, usage: Use) -> Result<connect::Io, ConnectError> {
    host.stats.cx_total.fetch_add(1, Ordering::Relaxed);
    let io = connect::connect(&host.addr, cluster, host.tls.as_ref(), usage)
        .await
        .inspect_err(|_| {
            host.stats.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
        })?;
    if host.peer_identity.get().is_none()
        && let Some(id) = io.peer_identity()
    {
        let _ = host.peer_identity.set(id.into());
    }
    Ok(io)
}

/// Counts a connection open under the cluster's `max_connections` for as long as it lives.
struct Open(Arc<super::Traffic>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.cx_active.fetch_sub(1, Ordering::Relaxed);
        self.0.freed.notify_waiters();
    }
}

/// An idle connection, or a new one when the cluster is under `max_connections`; else the
/// request waits for one as a pending request (UO beyond `max_pending_requests`).
async fn h1_connection(host: &Arc<Host>, cluster: &Cluster) -> Result<(Idle, bool), SendError> {
    let traffic = &host.traffic;
    let mut pending = None;
    loop {
        let freed = traffic.freed.notified();
        if let Some(i) = take_idle(host, cluster) {
            return Ok((i, true));
        }
        if super::try_add(&traffic.cx_active, cluster.limits.max_connections) {
            let open_guard = Open(traffic.clone());
            let io = open(host, cluster, Use::Http1).await?;
            let (tx, conn) = http1::Builder::new()
                .handshake(TokioIo::new(io))
                .await
                .map_err(|e| SendError::reset(e, false))?;
            tokio::spawn(async move {
                let _open = open_guard;
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "upstream HTTP/1.1 connection ended");
                }
            });
            let i = Idle {
                tx,
                since: Instant::now(),
                uses: 0,
            };
            return Ok((i, false));
        }
        if pending.is_none() {
            match super::take(&traffic.rq_pending, cluster.limits.max_pending_requests) {
                Some(p) => pending = Some(p),
                None => {
                    traffic.overflow.fetch_add(1, Ordering::Relaxed);
                    return Err(SendError::Overflow);
                }
            }
        }
        freed.await;
    }
}

/// Sends an HTTP/1.1 request to `host`.
pub async fn send_h1(
    host: &Arc<Host>,
    cluster: &Cluster,
    mut req: Request<Body>,
) -> Result<(Response<Incoming>, Checkout), Failed> {
    let mut checkout = Checkout::new(host, cluster.max_requests_per_connection);
    loop {
        let (mut tx, uses, reused) = match h1_connection(host, cluster).await {
            Ok((i, reused)) => (i.tx, i.uses, reused),
            Err(e) => return Err((e, Some(req))),
        };
        match tx.try_send_request(req).await {
            Ok(resp) => {
                checkout.conn = Some((tx, uses + 1));
                return Ok((resp, checkout));
            }
            Err(mut e) => match e.take_message() {
                Some(back) if reused => req = back,
                back => {
                    let sent = back.is_none();
                    return Err((SendError::reset(e.into_error(), sent), back));
                }
            },
        }
    }
}

async fn h2_sender(host: &Host, cluster: &Cluster) -> Result<http2::SendRequest<Body>, SendError> {
    if let Some(tx) = host.pool.h2.load().as_ref().filter(|c| !c.is_closed()) {
        return Ok((**tx).clone());
    }
    let _guard = host.pool.h2_connecting.lock().await;
    if let Some(tx) = host.pool.h2.load().as_ref().filter(|c| !c.is_closed()) {
        return Ok((**tx).clone());
    }
    host.traffic.cx_active.fetch_add(1, Ordering::Relaxed);
    let open_guard = Open(host.traffic.clone());
    let io = open(host, cluster, Use::Http2).await?;
    let (tx, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| SendError::reset(e, false))?;
    tokio::spawn(async move {
        let _open = open_guard;
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
        }
    });
    host.pool.h2.store(Some(Arc::new(tx.clone())));
    Ok(tx)
}

/// Sends an HTTP/2 request to `host` on its shared connection.
pub async fn send_h2(
    host: &Arc<Host>,
    cluster: &Cluster,
    req: Request<Body>,
) -> Result<(Response<Incoming>, Checkout), Failed> {
    let checkout = Checkout::new(host, None);
    let mut tx = match h2_sender(host, cluster).await {
        Ok(tx) => tx,
        Err(e) => return Err((e, Some(req))),
    };
    if let Err(e) = tx.ready().await {
        return Err((SendError::reset(e, false), Some(req)));
    }
    match tx.try_send_request(req).await {
        Ok(resp) => Ok((resp, checkout)),
        Err(mut e) => {
            let back = e.take_message();
            let sent = back.is_none();
            Err((SendError::reset(e.into_error(), sent), back))
        }
    }
}
