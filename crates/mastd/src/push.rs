//! The push engine: config events are debounced (quiet period, maximum delay) and merged into
//! one push; each push builds one immutable snapshot and queues it on every connection.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::xds::connection::PushRequest;

/// A change that needs a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Configuration or services changed.
    Full,
    /// Only the endpoints of these hostnames changed.
    Endpoints(BTreeSet<String>),
}

/// Debounce settings (istiod's `PILOT_DEBOUNCE_AFTER` and `PILOT_DEBOUNCE_MAX`).
#[derive(Debug, Clone, Copy)]
pub struct Debounce {
    /// Push after this long without a new event.
    pub quiet: Duration,
    /// Push at the latest this long after the first event.
    pub max: Duration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// Merges events into a push request.
fn fold(req: &mut PushRequest, ev: Event) {
    match ev {
        Event::Full => {
            req.full = true;
            req.eds_hosts.clear();
        }
        Event::Endpoints(hosts) => {
            if !req.full {
                req.eds_hosts.extend(hosts);
            }
        }
    }
}

/// Runs the debounce loop: collects events from `rx`, and for each settled batch calls
/// `push` with the merged request (its `start` set to the first event's arrival).
pub async fn run<F>(
    mut rx: mpsc::Receiver<Event>,
    debounce: Debounce,
    metrics: Arc<crate::metrics::Metrics>,
    mut push: F,
) where
    F: FnMut(PushRequest),
{
    while let Some(first) = rx.recv().await {
        let start = tokio::time::Instant::now();
        let mut req = PushRequest {
            start: Some(Instant::now()),
            ..Default::default()
        };
        fold(&mut req, first);
        let deadline = start + debounce.max;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let wait = debounce.quiet.min(deadline - now);
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(ev)) => fold(&mut req, ev),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        metrics.debounce.observe(start.elapsed().as_secs_f64());
        push(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn debounces_and_merges() {
        let (tx, rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(crate::metrics::Metrics::default());
        tokio::spawn(run(rx, Debounce::default(), metrics, move |r| {
            let _ = out_tx.send(r);
        }));
        tx.send(Event::Endpoints(["a".to_string()].into()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(Event::Endpoints(["b".to_string()].into()))
            .await
            .unwrap();
        let r = out_rx.recv().await.unwrap();
        assert!(!r.full);
        assert_eq!(r.eds_hosts.len(), 2, "two events 50 ms apart merge");
        tx.send(Event::Endpoints(["c".to_string()].into()))
            .await
            .unwrap();
        tx.send(Event::Full).await.unwrap();
        let r = out_rx.recv().await.unwrap();
        assert!(r.full && r.eds_hosts.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_still_pushes_at_max() {
        let (tx, rx) = mpsc::channel(1024);
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let debounce = Debounce {
            quiet: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        tokio::spawn(run(rx, debounce, metrics, move |r| {
            let _ = out_tx.send(r);
        }));
        let begun = tokio::time::Instant::now();
        for _ in 0..30 {
            tx.send(Event::Full).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(r) = out_rx.try_recv() {
                assert!(r.full);
                let waited = begun.elapsed();
                assert!(
                    waited >= Duration::from_secs(1) && waited < Duration::from_millis(1100),
                    "{waited:?}"
                );
                return;
            }
        }
        panic!("no push within 1.5 s of constant events");
    }
}
