//! Graceful drain: one signal that stops accept loops and asks HTTP connections to finish
//! (HTTP/1.1 closes after the in-flight response, HTTP/2 sends GOAWAY), and a count of open
//! connections to wait on, up to the drain duration.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// The drain signal and the open-connection count.
#[derive(Debug, Clone)]
pub struct Drain {
    tx: Arc<watch::Sender<bool>>,
    open: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain {
            tx: Arc::new(watch::channel(false).0),
            open: Arc::default(),
            idle: Arc::default(),
        }
    }
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct Tracked(Drain);

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Resolves when the watched flag is `true` (or its sender is gone).
pub async fn wait_true(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Drain {
    /// Starts draining.
    pub fn start(&self) {
        self.tx.send_replace(true);
    }

    /// Whether draining started.
    pub fn is_draining(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves when draining starts.
    pub async fn signaled(&self) {
        wait_true(self.tx.subscribe()).await;
    }

    /// Counts a connection as open.
    pub fn track(&self) -> Tracked {
        self.open.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Waits until no connection is open or `limit` passes; `true` when all closed.
    pub async fn wait_closed(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.open() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_connections_up_to_the_limit() {
        let d = Drain::default();
        let t = d.track();
        assert!(!d.wait_closed(Duration::from_millis(20)).await);
        let d2 = d.clone();
        let waiter = tokio::spawn(async move { d2.wait_closed(Duration::from_secs(5)).await });
        d.start();
        d.signaled().await;
        drop(t);
        assert!(waiter.await.unwrap());
        assert!(d.is_draining());
    }
}
