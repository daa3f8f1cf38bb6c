//! The ADS server: state-of-the-world and delta streams over one gRPC service, fed by pushes.
//! [`grpc`] frames the responses on the wire.

pub mod grpc;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, Resource,
};
use futures::Stream;
use mast_xds::Proxy;
use mast_xds::ack::Request;
use mast_xds::types::{self, PUSH_ORDER};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::connection::{Connection, PushRequest};
use super::{Resources, generate};
use crate::metrics::{Metrics, VersionLabel, type_label};
use crate::model::Snapshot;

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Pushes generated and sent at once across all connections.
    pub concurrent_pushes: usize,
    /// New streams accepted per second (token bucket, burst of the same size).
    pub new_streams_per_second: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        // istiod's PILOT_PUSH_THROTTLE and PILOT_MAX_REQUESTS_PER_SECOND defaults
        ServerLimits {
            concurrent_pushes: 100,
            new_streams_per_second: 25,
        }
    }
}

/// The discovery service: the current snapshot, the connected proxies, and pushes to them.
pub struct Discovery {
    snapshot: ArcSwap<Snapshot>,
    connections: Mutex<BTreeMap<String, Arc<Connection>>>,
    counter: AtomicU64,
    nonce: AtomicU64,
    push_slots: Semaphore,
    stream_limiter: Mutex<TokenBucket>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.rate.max(1.0));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl Discovery {
    /// A server over `snapshot`.
    pub fn new(
        snapshot: Arc<Snapshot>,
        limits: ServerLimits,
        metrics: Arc<Metrics>,
    ) -> Arc<Discovery> {
        let rate = f64::from(limits.new_streams_per_second.max(1));
        Arc::new(Discovery {
            snapshot: ArcSwap::new(snapshot),
            connections: Mutex::new(BTreeMap::new()),
            counter: AtomicU64::new(0),
            nonce: AtomicU64::new(0),
            push_slots: Semaphore::new(limits.concurrent_pushes.max(1)),
            stream_limiter: Mutex::new(TokenBucket {
                rate,
                tokens: rate,
                last: Instant::now(),
            }),
            metrics,
        })
    }

    /// The gRPC service (see [`grpc`]).
    pub fn service(self: &Arc<Self>) -> grpc::AdsServer {
        grpc::AdsServer(self.clone())
    }

    /// The same service as tonic generates it, encoding responses in per-stream buffers it
    /// keeps (for comparison).
    pub fn tonic_service(self: &Arc<Self>) -> AggregatedDiscoveryServiceServer<AdsService> {
        AggregatedDiscoveryServiceServer::new(AdsService(self.clone()))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Swaps in a new snapshot and queues `req` on every connection.
    pub fn push(&self, snapshot: Arc<Snapshot>, req: PushRequest) {
        self.snapshot.store(snapshot);
        for c in self.connections() {
            c.enqueue(req.clone());
        }
    }

    /// The connected proxies.
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.connections
            .lock()
            .expect("connections lock")
            .values()
            .cloned()
            .collect()
    }

    fn next_nonce(&self) -> String {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n}", std::process::id())
    }

    fn register(&self, proxy: Proxy, peer: Option<SocketAddr>, delta: bool) -> Arc<Connection> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = Arc::new(Connection::new(
            format!("{}-{n}", proxy.id),
            proxy,
            peer,
            delta,
        ));
        self.metrics
            .xds_clients
            .get_or_create(&VersionLabel {
                version: version_of(&conn.proxy),
            })
            .inc();
        self.connections
            .lock()
            .expect("connections lock")
            .insert(conn.conn_id.clone(), conn.clone());
        tracing::info!(conn = %conn.conn_id, peer = ?peer, delta, "ADS: new connection");
        conn
    }

    fn unregister(&self, conn: &Connection) {
        self.connections
            .lock()
            .expect("connections lock")
            .remove(&conn.conn_id);
        self.metrics
            .xds_clients
            .get_or_create(&VersionLabel {
                version: version_of(&conn.proxy),
            })
            .dec();
        tracing::info!(conn = %conn.conn_id, "ADS: connection closed");
    }

    fn admit(&self) -> Result<(), Status> {
        if self.stream_limiter.lock().expect("limiter lock").take() {
            Ok(())
        } else {
            Err(Status::resource_exhausted(
                "too many new ADS streams, retry later",
            ))
        }
    }

    fn build(
        &self,
        snap: &Snapshot,
        proxy: &Proxy,
        type_url: &str,
        names: &[String],
    ) -> Option<Resources> {
        let start = Instant::now();
        match generate(snap, proxy, type_url, names) {
            Ok(r) => {
                self.metrics
                    .push_time
                    .get_or_create(&type_label(type_url))
                    .observe(start.elapsed().as_secs_f64());
                Some(r)
            }
            Err(e) => {
                self.metrics.internal_errors.inc();
                tracing::error!(proxy = %proxy.id, type_url, error = %e, "generating config failed");
                None
            }
        }
    }

    fn sotw_response(&self, conn: &Connection, type_url: &str) -> Option<Prepared> {
        let snap = self.snapshot();
        let names = conn
            .ledger
            .lock()
            .expect("ledger lock")
            .get(type_url)
            .map(|t| t.subscribed.clone())
            .unwrap_or_default();
        let resources = self.build(&snap, &conn.proxy, type_url, &names)?;
        let nonce = self.next_nonce();
        conn.ledger
            .lock()
            .expect("ledger lock")
            .sent(type_url, &snap.version, &nonce);
        self.metrics
            .pushes
            .get_or_create(&type_label(type_url))
            .inc();
        Some(Prepared {
            version_info: snap.version.clone(),
            resources,
            type_url: type_url.to_string(),
            nonce,
        })
    }

    /// Reads a stream's first request and registers its proxy; a bad node is refused with
    /// `InvalidArgument` on the stream.
    async fn open<Req, Resp>(
        &self,
        inbound: &mut Streaming<Req>,
        node: impl Fn(&Req) -> Option<&envoy_types::pb::envoy::config::core::v3::Node>,
        peer: Option<SocketAddr>,
        delta: bool,
        tx: &mpsc::Sender<Result<Resp, Status>>,
    ) -> Option<(Req, Arc<Connection>)> {
        let first = inbound.message().await.ok().flatten()?;
        match Proxy::from_node(node(&first)) {
            Ok(proxy) => Some((first, self.register(proxy, peer, delta))),
            Err(e) => {
                let _ = tx.send(Err(Status::invalid_argument(e.to_string()))).await;
                None
            }
        }
    }

    async fn run_sotw(
        self: Arc<Self>,
        mut inbound: Streaming<DiscoveryRequest>,
        peer: Option<SocketAddr>,
        tx: mpsc::Sender<Result<Prepared, Status>>,
    ) {
        let Some((first, conn)) = self
            .open(&mut inbound, |r| r.node.as_ref(), peer, false, &tx)
            .await
        else {
            return;
        };
        let mut next = Some(first);
        let mut awaiting: HashMap<String, Instant> = HashMap::new();
        loop {
            if let Some(req) = next.take() {
                if !self.on_sotw_request(&conn, req, &tx, &mut awaiting).await {
                    break;
                }
                continue;
            }
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(r)) => next = Some(r),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(conn = %conn.conn_id, error = %e, "ADS stream error");
                        break;
                    }
                },
                push = conn.next_push() => {
                    if !self.sotw_push(&conn, push, &tx, &mut awaiting).await {
                        break;
                    }
                }
            }
        }
        self.unregister(&conn);
    }

    async fn on_sotw_request(
        &self,
        conn: &Connection,
        req: DiscoveryRequest,
        tx: &mpsc::Sender<Result<Prepared, Status>>,
        awaiting: &mut HashMap<String, Instant>,
    ) -> bool {
        let error = req.error_detail.as_ref().map(|s| s.message.clone());
        let kind = conn.ledger.lock().expect("ledger lock").received(
            &req.type_url,
            &req.response_nonce,
            &req.version_info,
            &req.resource_names,
            error.as_deref(),
        );
        match kind {
            Request::Initial | Request::Resubscribe => {
                let mut slot = Slot::acquire(&self.push_slots).await;
                let Some(resp) = self.sotw_response(conn, &req.type_url) else {
                    return true;
                };
                slot.send(tx, Ok(resp)).await && slot.drained(tx).await
            }
            Request::Ack => {
                if let Some(start) = awaiting.remove(&req.type_url)
                    && awaiting.is_empty()
                {
                    self.metrics
                        .convergence
                        .observe(start.elapsed().as_secs_f64());
                }
                true
            }
            Request::Nack(e) => {
                awaiting.remove(&req.type_url);
                self.metrics
                    .rejects
                    .get_or_create(&type_label(&req.type_url))
                    .inc();
                tracing::warn!(conn = %conn.conn_id, type_url = %req.type_url, error = %e, "ADS: NACK");
                true
            }
            Request::Stale => true,
        }
    }

    async fn sotw_push(
        &self,
        conn: &Connection,
        push: PushRequest,
        tx: &mpsc::Sender<Result<Prepared, Status>>,
        awaiting: &mut HashMap<String, Instant>,
    ) -> bool {
        let mut slot = Slot::acquire(&self.push_slots).await;
        let watched: Vec<String> = conn
            .ledger
            .lock()
            .expect("ledger lock")
            .iter()
            .map(|(t, _)| t.clone())
            .collect();
        for type_url in PUSH_ORDER {
            if !watched.iter().any(|t| t == type_url) {
                continue;
            }
            if !push.full && type_url != types::ENDPOINT {
                continue;
            }
            let Some(resp) = self.sotw_response(conn, type_url) else {
                continue;
            };
            if let Some(start) = push.start {
                awaiting.entry(type_url.to_string()).or_insert(start);
            }
            if !slot.send(tx, Ok(resp)).await {
                return false;
            }
        }
        slot.drained(tx).await
    }

    async fn run_delta(
        self: Arc<Self>,
        mut inbound: Streaming<DeltaDiscoveryRequest>,
        peer: Option<SocketAddr>,
        tx: mpsc::Sender<Result<PreparedDelta, Status>>,
    ) {
        let Some((first, conn)) = self
            .open(&mut inbound, |r| r.node.as_ref(), peer, true, &tx)
            .await
        else {
            return;
        };
        let mut state = DeltaState::default();
        let mut next = Some(first);
        loop {
            if let Some(req) = next.take() {
                if !self.on_delta_request(&conn, &mut state, req, &tx).await {
                    break;
                }
                continue;
            }
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(r)) => next = Some(r),
                    _ => break,
                },
                push = conn.next_push() => {
                    let mut slot = Slot::acquire(&self.push_slots).await;
                    let types: Vec<String> = state.types.keys().cloned().collect();
                    for t in PUSH_ORDER.iter().filter(|t| types.iter().any(|x| x == *t)) {
                        if !push.full && *t != types::ENDPOINT {
                            continue;
                        }
                        if let Some(resp) = self.delta_response(&conn, &mut state, t)
                            && !slot.send(&tx, Ok(resp)).await
                        {
                            break;
                        }
                    }
                    slot.drained(&tx).await;
                }
            }
        }
        self.unregister(&conn);
    }

    async fn on_delta_request(
        &self,
        conn: &Connection,
        state: &mut DeltaState,
        req: DeltaDiscoveryRequest,
        tx: &mpsc::Sender<Result<PreparedDelta, Status>>,
    ) -> bool {
        let t = state.types.entry(req.type_url.clone()).or_default();
        if !req.response_nonce.is_empty() {
            let mut ledger = conn.ledger.lock().expect("ledger lock");
            let error = req.error_detail.as_ref().map(|s| s.message.clone());
            let names: Vec<String> = t.subscribed.iter().cloned().collect();
            if let Request::Nack(e) = ledger.received(
                &req.type_url,
                &req.response_nonce,
                "",
                &names,
                error.as_deref(),
            ) {
                self.metrics
                    .rejects
                    .get_or_create(&type_label(&req.type_url))
                    .inc();
                tracing::warn!(conn = %conn.conn_id, type_url = %req.type_url, error = %e, "delta ADS: NACK");
            }
        } else {
            // a new subscription: remember what the proxy already has
            t.sent = req.initial_resource_versions.clone().into_iter().collect();
            conn.ledger
                .lock()
                .expect("ledger lock")
                .received(&req.type_url, "", "", &[], None);
        }
        for n in &req.resource_names_subscribe {
            if n != "*" {
                t.subscribed.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            t.subscribed.remove(n);
            t.sent.remove(n);
        }
        let changed_subscription =
            !req.resource_names_subscribe.is_empty() || !req.resource_names_unsubscribe.is_empty();
        if req.response_nonce.is_empty() || changed_subscription {
            let mut slot = Slot::acquire(&self.push_slots).await;
            if let Some(resp) = self.delta_response(conn, state, &req.type_url) {
                return slot.send(tx, Ok(resp)).await && slot.drained(tx).await;
            }
        }
        true
    }

    fn delta_response(
        &self,
        conn: &Connection,
        state: &mut DeltaState,
        type_url: &str,
    ) -> Option<PreparedDelta> {
        let snap = self.snapshot();
        let t = state.types.entry(type_url.to_string()).or_default();
        let names: Vec<String> = if types::is_named(type_url) {
            t.subscribed.iter().cloned().collect()
        } else {
            Vec::new()
        };
        if types::is_named(type_url) && names.is_empty() {
            return None;
        }
        let generated = self.build(&snap, &conn.proxy, type_url, &names)?;
        let mut resources = Vec::new();
        let mut now: BTreeMap<String, String> = BTreeMap::new();
        for r in generated {
            let version = r.version();
            if t.sent.get(&r.name).map(String::as_str) != Some(version) {
                resources.push(r.clone());
            }
            now.insert(r.name.clone(), version.to_string());
        }
        let removed: Vec<String> = t
            .sent
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        t.sent = now;
        if resources.is_empty() && removed.is_empty() && t.responded {
            return None;
        }
        t.responded = true;
        let nonce = self.next_nonce();
        conn.ledger
            .lock()
            .expect("ledger lock")
            .sent(type_url, &snap.version, &nonce);
        self.metrics
            .pushes
            .get_or_create(&type_label(type_url))
            .inc();
        Some(PreparedDelta {
            system_version_info: snap.version.clone(),
            resources,
            type_url: type_url.to_string(),
            removed_resources: removed,
            nonce,
        })
    }
}

#[derive(Default)]
struct DeltaState {
    types: BTreeMap<String, DeltaType>,
}

#[derive(Default)]
struct DeltaType {
    subscribed: std::collections::BTreeSet<String>,
    sent: BTreeMap<String, String>,
    responded: bool,
}

/// Responses queued on a stream before it takes them.
///
/// One: a push waits for the stream to take each response (and holds its push slot until
/// the last was taken), so a connection holds at most one response being encoded or sent
/// besides the one queued, and at most `concurrent_pushes` connections encode at once.
const RESPONSE_QUEUE: usize = 1;

/// How long a push may hold its slot waiting for a slow stream to take its responses; then
/// it gives the slot up and waits without it, so stalled proxies do not stall others.
const SLOT_HOLD: std::time::Duration = std::time::Duration::from_secs(5);

/// A push slot (`concurrent_pushes`), held while a connection's responses are generated and
/// until its stream has taken them for encoding.
struct Slot<'a> {
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
    deadline: tokio::time::Instant,
}

impl<'a> Slot<'a> {
    async fn acquire(slots: &'a Semaphore) -> Slot<'a> {
        let permit = slots.acquire().await.ok();
        Slot {
            permit,
            deadline: tokio::time::Instant::now() + SLOT_HOLD,
        }
    }

    /// Queues `item`; false when the stream is gone.
    async fn send<T>(&mut self, tx: &mpsc::Sender<T>, item: T) -> bool {
        if self.permit.is_some() {
            match tokio::time::timeout_at(self.deadline, tx.reserve()).await {
                Ok(Ok(queue)) => {
                    queue.send(item);
                    return true;
                }
                Ok(Err(_)) => return false,
                Err(_) => {
                    tracing::debug!("ADS stream slow to take responses; push slot released");
                    self.permit = None;
                }
            }
        }
        tx.send(item).await.is_ok()
    }

    /// Waits (while holding the slot, at most until its deadline) for the stream to take
    /// what was queued; false when the stream is gone.
    async fn drained<T>(self, tx: &mpsc::Sender<T>) -> bool {
        if self.permit.is_none() {
            return !tx.is_closed();
        }
        match tokio::time::timeout_at(self.deadline, tx.reserve()).await {
            Ok(r) => r.is_ok(),
            Err(_) => !tx.is_closed(),
        }
    }
}

/// A state-of-the-world response holding its resources shared, made into the proto only
/// when the stream takes it for encoding: queued responses cost no copy of resources.
#[derive(Debug)]
pub struct Prepared {
    version_info: String,
    resources: Resources,
    type_url: String,
    nonce: String,
}

impl Prepared {
    fn into_response(self) -> DiscoveryResponse {
        DiscoveryResponse {
            version_info: self.version_info,
            resources: self.resources.iter().map(|r| r.resource.clone()).collect(),
            type_url: self.type_url,
            nonce: self.nonce,
            ..Default::default()
        }
    }
}

/// A delta response holding its resources shared, as [`Prepared`].
#[derive(Debug)]
pub struct PreparedDelta {
    system_version_info: String,
    resources: Resources,
    type_url: String,
    removed_resources: Vec<String>,
    nonce: String,
}

impl PreparedDelta {
    fn into_response(self) -> DeltaDiscoveryResponse {
        DeltaDiscoveryResponse {
            system_version_info: self.system_version_info,
            resources: self
                .resources
                .iter()
                .map(|r| Resource {
                    name: r.name.clone(),
                    version: r.version().to_string(),
                    resource: Some(r.resource.clone()),
                    ..Default::default()
                })
                .collect(),
            type_url: self.type_url,
            removed_resources: self.removed_resources,
            nonce: self.nonce,
            ..Default::default()
        }
    }
}

fn version_of(p: &Proxy) -> String {
    if p.istio_version.is_empty() {
        "unknown".to_string()
    } else {
        p.istio_version.clone()
    }
}

/// The tonic face of [`Discovery`].
pub struct AdsService(Arc<Discovery>);

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream = ResponseStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: tonic::Request<Streaming<DiscoveryRequest>>,
    ) -> Result<tonic::Response<Self::StreamAggregatedResourcesStream>, Status> {
        self.0.admit()?;
        let peer = request.remote_addr();
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        tokio::spawn(self.0.clone().run_sotw(request.into_inner(), peer, tx));
        let stream = ReceiverStream::new(rx).map(|r| r.map(Prepared::into_response));
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    async fn delta_aggregated_resources(
        &self,
        request: tonic::Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<tonic::Response<Self::DeltaAggregatedResourcesStream>, Status> {
        self.0.admit()?;
        let peer = request.remote_addr();
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        tokio::spawn(self.0.clone().run_delta(request.into_inner(), peer, tx));
        let stream = ReceiverStream::new(rx).map(|r| r.map(PreparedDelta::into_response));
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_streams_are_rate_limited() {
        let mut b = TokenBucket {
            rate: 3.0,
            tokens: 3.0,
            last: Instant::now(),
        };
        assert!(
            b.take() && b.take() && b.take(),
            "a burst of the rate is admitted"
        );
        assert!(
            !b.take(),
            "the fourth stream in the same instant is refused"
        );
        b.last -= std::time::Duration::from_millis(400);
        assert!(b.take(), "tokens refill with time");
        assert!(!b.take());
    }

    #[test]
    fn content_versions_are_stable_and_distinct() {
        use crate::xds::content_version;
        assert_eq!(content_version(b"abc"), content_version(b"abc"));
        assert_ne!(content_version(b"abc"), content_version(b"abd"));
    }
}
