//! Bound listeners, reconciled with the model's: new addresses are bound before an LDS update
//! is accepted (a bind failure NACKs it), listeners that stay keep their socket and get the
//! new config for new connections, removed ones stop accepting while their connections run
//! to completion. Each accepted connection is inspected if its listener asks, matched to a
//! filter chain, TLS-terminated if the chain says, then handed to the TCP proxy or the HTTP
//! connection manager.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::drain::Drain;
use crate::http::headers::PeerCert;
use crate::inspect::{Prefixed, Sniffed};
use crate::model::SharedModel;
use crate::model::listener::{ChainKind, ConnInfo, FilterChain, Listener};
use crate::tls::CertSource;

/// How long a downstream TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("listener {name:?}: cannot bind {addr}: {source}")]
pub struct BindError {
    /// The listener.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

#[derive(Debug)]
struct Bound {
    name: String,
    local: SocketAddr,
    config: Arc<ArcSwap<Listener>>,
    stop: watch::Sender<bool>,
}

/// What connections need besides their listener.
#[derive(Debug, Clone)]
pub struct Env {
    /// The model.
    pub model: SharedModel,
    /// The workload identity (our SPIFFE ID for `x-forwarded-client-cert`).
    pub certs: Arc<CertSource>,
    /// The drain signal.
    pub drain: Drain,
}

/// Listeners bound so far, by address (a listener renamed or reconfigured on the same
/// address keeps its socket). Only the xDS task changes it.
#[derive(Debug)]
pub struct Listeners {
    env: Env,
    bound: Mutex<HashMap<SocketAddr, Bound>>,
}

/// Sockets bound for an update, not yet serving.
#[derive(Debug, Default)]
pub struct Prepared {
    fresh: Vec<(Arc<Listener>, TcpListener)>,
}

impl Listeners {
    /// No listener yet.
    pub fn new(env: Env) -> Listeners {
        Listeners {
            env,
            bound: Mutex::new(HashMap::new()),
        }
    }

    /// The local address of a bound listener.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound
            .lock()
            .expect("listeners lock")
            .values()
            .find(|b| b.name == name)
            .map(|b| b.local)
    }

    /// Binds the sockets that `wanted` needs and are not bound yet; two listeners on one
    /// address are refused, as Envoy does.
    pub async fn prepare(&self, wanted: &[Arc<Listener>]) -> Result<Prepared, BindError> {
        let mut out = Prepared::default();
        let current: Vec<SocketAddr> = self
            .bound
            .lock()
            .expect("listeners lock")
            .keys()
            .copied()
            .collect();
        let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
        for l in wanted.iter().filter(|l| l.bind_to_port) {
            let err = |source| BindError {
                name: l.name.clone(),
                addr: l.address,
                source,
            };
            if let Some(other) = seen.insert(l.address, &l.name) {
                let msg = format!("address already used by listener {other:?}");
                return Err(err(std::io::Error::new(std::io::ErrorKind::AddrInUse, msg)));
            }
            if current.contains(&l.address) {
                continue;
            }
            out.fresh
                .push((l.clone(), bind(l.address).await.map_err(err)?));
        }
        Ok(out)
    }

    /// Serves `wanted`: starts the prepared sockets, updates the others, stops the rest.
    pub fn commit(&self, wanted: &[Arc<Listener>], prepared: Prepared) {
        let mut bound = self.bound.lock().expect("listeners lock");
        let keep: HashMap<SocketAddr, &Arc<Listener>> = wanted
            .iter()
            .filter(|l| l.bind_to_port)
            .map(|l| (l.address, l))
            .collect();
        bound.retain(|addr, b| match keep.get(addr) {
            Some(l) => {
                b.config.store((*l).clone());
                b.name = l.name.clone();
                true
            }
            None => {
                tracing::info!(listener = %b.name, %addr, "listener removed; existing connections continue");
                b.stop.send_replace(true);
                false
            }
        });
        for (l, sock) in prepared.fresh {
            let local = sock.local_addr().unwrap_or(l.address);
            let config = Arc::new(ArcSwap::new(l.clone()));
            let (stop, stop_rx) = watch::channel(false);
            tracing::info!(listener = %l.name, %local, chains = l.chains.len(), "listening");
            tokio::spawn(accept_loop(sock, config.clone(), self.env.clone(), stop_rx));
            bound.insert(
                l.address,
                Bound {
                    name: l.name.clone(),
                    local,
                    config,
                    stop,
                },
            );
        }
    }

    /// Stops every accept loop (drain).
    pub fn stop_all(&self) {
        for b in self.bound.lock().expect("listeners lock").values() {
            b.stop.send_replace(true);
        }
    }
}

async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

async fn accept_loop(
    sock: TcpListener,
    config: Arc<ArcSwap<Listener>>,
    env: Env,
    stop: watch::Receiver<bool>,
) {
    let mut draining = std::pin::pin!(env.drain.signaled());
    let mut stopped = std::pin::pin!(crate::drain::wait_true(stop));
    loop {
        tokio::select! {
            r = sock.accept() => match r {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let l = config.load_full();
                    let env = env.clone();
                    tokio::spawn(async move {
                        let _open = env.drain.track();
                        handle(stream, remote, l, env).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = &mut stopped => return,
            _ = &mut draining => return,
        }
    }
}

/// Inspects the connection as the listener asks and returns what chain selection needs.
async fn inspect(io: &mut Prefixed, l: &Listener, info: &mut ConnInfo) -> Result<(), ()> {
    let run = io.inspect(l.inspect_tls, l.inspect_http);
    let sniffed = match l.inspect_timeout {
        Some(t) => match tokio::time::timeout(t, run).await {
            Ok(r) => r.map_err(|_| ())?,
            Err(_) if l.continue_on_timeout => return Ok(()),
            Err(_) => return Err(()),
        },
        None => run.await.map_err(|_| ())?,
    };
    match sniffed {
        Sniffed::Tls { server_name, alpn } => {
            info.transport = "tls";
            info.server_name = server_name;
            info.alpn = alpn;
        }
        Sniffed::Http(p) => info.alpn = vec![p.to_string()],
        Sniffed::NeedMore | Sniffed::Other => {}
    }
    Ok(())
}

/// The destination a connection had before a `REDIRECT` rule sent it here
/// (`SO_ORIGINAL_DST`); its local address when it was not redirected.
pub fn original_dst(stream: &TcpStream) -> Option<SocketAddr> {
    let sock = socket2::SockRef::from(stream);
    let local = stream.local_addr().ok()?;
    let orig = if local.is_ipv4() {
        sock.original_dst_v4()
    } else {
        sock.original_dst_v6()
    };
    match orig.ok().and_then(|a| a.as_socket()) {
        Some(a) => Some(a),
        None => Some(local),
    }
}

/// The listener that serves a connection accepted by `l` for `dst`: with `use_original_dst`,
/// the listener of `dst` if there is one and it is not `l` itself, else `l`.
fn hand_off(l: Arc<Listener>, dst: SocketAddr, env: &Env) -> Arc<Listener> {
    if !l.use_original_dst {
        return l;
    }
    match env.model.load().listener_for(dst) {
        Some(to) if to.address != l.address => to.clone(),
        _ => l,
    }
}

async fn handle(stream: TcpStream, remote: SocketAddr, l: Arc<Listener>, env: Env) {
    let mut local = stream.local_addr().ok();
    let mut l = l;
    if l.original_dst
        && let Some(dst) = original_dst(&stream)
    {
        local = Some(dst);
        l = hand_off(l, dst, &env);
    }
    let mut io = Prefixed::new(stream);
    let mut info = ConnInfo {
        local,
        transport: "raw_buffer",
        ..Default::default()
    };
    if (l.inspect_tls || l.inspect_http) && inspect(&mut io, &l, &mut info).await.is_err() {
        return;
    }
    let Some(chain) = l.select(&info).cloned() else {
        tracing::debug!(listener = %l.name, ?info, "no filter chain matches; connection closed");
        return;
    };
    let Some(tls) = chain.tls.clone() else {
        serve(io, &chain, remote, false, None, &info, &env).await;
        return;
    };
    if info.transport != "tls" {
        // the chain terminates TLS without a tls_inspector: read the ClientHello for its ALPN
        match io.inspect(true, false).await {
            Ok(Sniffed::Tls { alpn, .. }) => info.alpn = alpn,
            _ => return,
        }
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config_for(&info.alpn).clone());
    let s = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(s)) => s,
        Err(_) => {
            tracing::debug!(listener = %l.name, %remote, "TLS handshake timed out");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(listener = %l.name, %remote, error = %e, "TLS handshake failed");
            return;
        }
    };
    let peer = s
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| Arc::new(PeerCert::from_der(c.as_ref())));
    info.negotiated = s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    serve(s, &chain, remote, true, peer, &info, &env).await;
}

async fn serve<S>(
    io: S,
    chain: &FilterChain,
    remote: SocketAddr,
    tls: bool,
    peer: Option<Arc<PeerCert>>,
    info: &ConnInfo,
    env: &Env,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let local_identity = || {
        env.certs
            .current()
            .and_then(|i| i.spiffe_id.clone())
            .map(Arc::from)
    };
    match &chain.kind {
        ChainKind::Tcp(tp) => {
            let down = crate::tcp::Downstream {
                tls,
                peer_identity: peer
                    .as_ref()
                    .and_then(|p| p.uris.first())
                    .map(|u| Arc::from(u.as_str())),
                local_identity: local_identity(),
                original_dst: info.local,
                alpn: info.negotiated.clone(),
                remote: Some(remote),
                server_name: info.server_name.as_deref().map(Arc::from),
            };
            if let Err(e) = crate::tcp::proxy(io, tp, &env.model, &down).await {
                tracing::debug!(chain = %chain.name, error = %e, "TCP proxy ended");
            }
        }
        ChainKind::Http(hcm) => {
            let conn = crate::http::Conn {
                hcm: hcm.clone(),
                model: env.model.clone(),
                remote,
                tls,
                peer_identity: peer
                    .as_ref()
                    .and_then(|p| p.uris.first())
                    .map(|u| Arc::from(u.as_str())),
                peer,
                local_identity: local_identity(),
                local: info.local,
                server_name: info.server_name.as_deref().map(Arc::from),
            };
            crate::http::serve(io, Arc::new(conn), env.drain.clone()).await;
        }
    }
}
