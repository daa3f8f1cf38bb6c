//! One connected proxy: who it is, what it was sent, and its queue of pending pushes.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use mast_xds::Proxy;
use mast_xds::ack::Ledger;
use tokio::sync::Notify;

/// What a push asks a connection to resend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushRequest {
    /// Everything changed (config, services): resend every type.
    pub full: bool,
    /// Only the endpoints of these hostnames changed: resend EDS alone.
    pub eds_hosts: BTreeSet<String>,
    /// When the change that caused the push was first seen (for convergence time).
    pub start: Option<Instant>,
}

impl PushRequest {
    /// Merges a later request into this one: a full push absorbs an EDS-only one; the
    /// earliest start is kept.
    pub fn merge(&mut self, other: PushRequest) {
        self.full |= other.full;
        if self.full {
            self.eds_hosts.clear();
        } else {
            self.eds_hosts.extend(other.eds_hosts);
        }
        self.start = match (self.start, other.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// One ADS stream.
pub struct Connection {
    /// `POD.NAMESPACE-N`, as istiod names connections.
    pub conn_id: String,
    /// The proxy.
    pub proxy: Proxy,
    /// Its address.
    pub peer: Option<SocketAddr>,
    /// When it connected.
    pub connected_at: SystemTime,
    /// Whether it speaks delta xDS.
    pub delta: bool,
    /// Per-type ACK/NACK state.
    pub ledger: Mutex<Ledger>,
    pending: Mutex<Option<PushRequest>>,
    wake: Notify,
}

impl Connection {
    /// A new connection.
    pub fn new(conn_id: String, proxy: Proxy, peer: Option<SocketAddr>, delta: bool) -> Connection {
        Connection {
            conn_id,
            proxy,
            peer,
            connected_at: SystemTime::now(),
            delta,
            ledger: Mutex::new(Ledger::default()),
            pending: Mutex::new(None),
            wake: Notify::new(),
        }
    }

    /// Queues a push, merging it with one not yet taken, and wakes the stream's task.
    pub fn enqueue(&self, req: PushRequest) {
        {
            let mut p = self.pending.lock().expect("push queue lock");
            match p.as_mut() {
                Some(existing) => existing.merge(req),
                None => *p = Some(req),
            }
        }
        self.wake.notify_one();
    }

    /// Waits for a queued push and takes it.
    pub async fn next_push(&self) -> PushRequest {
        loop {
            if let Some(r) = self.pending.lock().expect("push queue lock").take() {
                return r;
            }
            self.wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging() {
        let eds = |h: &str| PushRequest {
            full: false,
            eds_hosts: [h.to_string()].into(),
            start: None,
        };
        let mut a = eds("a");
        a.merge(eds("b"));
        assert_eq!(a.eds_hosts.len(), 2);
        assert!(!a.full);
        a.merge(PushRequest {
            full: true,
            ..Default::default()
        });
        assert!(a.full);
        assert!(a.eds_hosts.is_empty());
        a.merge(eds("c"));
        assert!(a.full && a.eds_hosts.is_empty());
    }
}
