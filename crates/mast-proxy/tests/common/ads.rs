//! A tiny ADS server for tests: state of the world, resources per pod name and type, a log of
//! every request (ACKs and NACKs with their errors), and pushes on demand.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::Any;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The pod (from the node id).
    pub pod: String,
    /// Type URL.
    pub type_url: String,
    /// Version the proxy reports.
    pub version: String,
    /// Nonce answered.
    pub nonce: String,
    /// Names subscribed.
    pub names: Vec<String>,
    /// NACK message.
    pub error: Option<String>,
}

type Resources = HashMap<String, HashMap<String, Vec<(String, Any)>>>;

/// The server's state.
#[derive(Clone, Default)]
pub struct FakeAds {
    resources: Arc<Mutex<Resources>>,
    version: Arc<Mutex<u64>>,
    push: Arc<Mutex<Option<watch::Sender<u64>>>>,
    down: Arc<Mutex<Option<watch::Sender<bool>>>>,
    /// Every request received.
    pub log: Arc<Mutex<Vec<Seen>>>,
}

impl FakeAds {
    /// Sets the resources of `type_url` for `pod` (not pushed until [`FakeAds::push`]).
    pub fn set(&self, pod: &str, type_url: &str, resources: Vec<(String, Any)>) {
        self.resources
            .lock()
            .unwrap()
            .entry(pod.into())
            .or_default()
            .insert(type_url.into(), resources);
    }

    /// Sends every subscribed type again, with a new version.
    pub fn push(&self) {
        let mut v = self.version.lock().unwrap();
        *v += 1;
        if let Some(tx) = self.push.lock().unwrap().as_ref() {
            tx.send_replace(*v);
        }
    }

    /// Simulates the control plane going away (`true`: open streams end, new ones are
    /// refused) and coming back (`false`).
    pub fn set_down(&self, down: bool) {
        if let Some(tx) = self.down.lock().unwrap().as_ref() {
            tx.send_replace(down);
        }
    }

    /// Requests from `pod` for `type_url` answering a response (ACKs and NACKs).
    pub fn replies(&self, pod: &str, type_url: &str) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.pod == pod && s.type_url == type_url && !s.nonce.is_empty())
            .cloned()
            .collect()
    }

    /// Starts serving on a loopback port.
    pub async fn start(&self) -> SocketAddr {
        let sock = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let (tx, _) = watch::channel(*self.version.lock().unwrap());
        *self.push.lock().unwrap() = Some(tx);
        *self.down.lock().unwrap() = Some(watch::channel(false).0);
        let svc = AggregatedDiscoveryServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(sock))
                .await
                .unwrap();
        });
        addr
    }

    fn response(
        &self,
        pod: &str,
        type_url: &str,
        names: &[String],
        nonce: u64,
    ) -> DiscoveryResponse {
        let all = self
            .resources
            .lock()
            .unwrap()
            .get(pod)
            .and_then(|t| t.get(type_url))
            .cloned()
            .unwrap_or_default();
        let named = mast_xds::types::is_named(type_url);
        DiscoveryResponse {
            version_info: format!("v{}", self.version.lock().unwrap()),
            type_url: type_url.into(),
            nonce: format!("n{nonce}"),
            resources: all
                .into_iter()
                .filter(|(n, _)| !named || names.contains(n))
                .map(|(_, a)| a)
                .collect(),
            ..Default::default()
        }
    }
}

type RespStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for FakeAds {
    type StreamAggregatedResourcesStream = RespStream;
    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn stream_aggregated_resources(
        &self,
        req: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<RespStream>, Status> {
        let mut down = self
            .down
            .lock()
            .unwrap()
            .as_ref()
            .expect("started")
            .subscribe();
        if *down.borrow_and_update() {
            return Err(Status::unavailable("control plane is down"));
        }
        let mut input = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let me = self.clone();
        let mut pushes = self
            .push
            .lock()
            .unwrap()
            .as_ref()
            .expect("started")
            .subscribe();
        tokio::spawn(async move {
            let mut pod = String::new();
            let mut subscribed: HashMap<String, Vec<String>> = HashMap::new();
            let mut nonce = 0u64;
            loop {
                tokio::select! {
                    msg = input.next() => {
                        let Some(Ok(r)) = msg else { return };
                        if let Some(n) = &r.node {
                            pod = n.id.split('~').nth(2).unwrap_or_default().split('.').next().unwrap_or_default().to_string();
                        }
                        me.log.lock().unwrap().push(Seen {
                            pod: pod.clone(),
                            type_url: r.type_url.clone(),
                            version: r.version_info.clone(),
                            nonce: r.response_nonce.clone(),
                            names: r.resource_names.clone(),
                            error: r.error_detail.as_ref().map(|e| e.message.clone()),
                        });
                        let changed = subscribed.get(&r.type_url) != Some(&r.resource_names);
                        if r.response_nonce.is_empty() || (changed && r.error_detail.is_none()) {
                            subscribed.insert(r.type_url.clone(), r.resource_names.clone());
                            nonce += 1;
                            if tx.send(Ok(me.response(&pod, &r.type_url, &r.resource_names, nonce))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(()) = down.changed() => {
                        if *down.borrow_and_update() {
                            return;
                        }
                    }
                    Ok(()) = pushes.changed() => {
                        for t in mast_xds::types::PUSH_ORDER {
                            if let Some(names) = subscribed.get(t) {
                                nonce += 1;
                                if tx.send(Ok(me.response(&pod, t, names, nonce))).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _req: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<DeltaStream>, Status> {
        Err(Status::unimplemented("delta xDS"))
    }
}
