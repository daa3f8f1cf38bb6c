//! The ADS client: subscribes to CDS and LDS (wildcard), then to EDS for the EDS clusters and
//! RDS for the connection managers' route names; ACKs what compiles and NACKs the rest with
//! the reason (the previous config stays); reconnects with jittered exponential backoff,
//! resuming with the versions and names it has, while the last config keeps serving.
//!
//! State of the world by default; with `--deltaXds` (`ISTIO_DELTA_XDS`) incremental xDS,
//! where each response carries only the changed and removed resources: they are applied to
//! the accepted set, which is then compiled and installed as a state-of-the-world update
//! would be, and subscriptions change by names added and removed. A mastd without delta
//! support (UNIMPLEMENTED) gets state of the world instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status;
use mast_xds::types;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::XdsError;
use super::state::XdsState;
use crate::app::Shared;

/// gRPC's INVALID_ARGUMENT, the code of NACKs.
const INVALID_ARGUMENT: i32 = 3;

/// Per-type stream bookkeeping: the last nonce received.
#[derive(Debug, Default)]
struct Nonces(HashMap<String, String>);

fn request(
    node: &Node,
    type_url: &str,
    version: String,
    nonce: String,
    names: Vec<String>,
    error: Option<String>,
) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(node.clone()),
        type_url: type_url.to_string(),
        version_info: version,
        response_nonce: nonce,
        resource_names: names,
        error_detail: error.map(|message| Status {
            code: INVALID_ARGUMENT,
            message,
            details: vec![],
        }),
        ..Default::default()
    }
}

/// The delay before reconnect attempt `n` (0-based): `initial·2^n` capped at `max`, with
/// full jitter over its upper half.
pub fn backoff(initial: Duration, max: Duration, n: u32) -> Duration {
    let ceiling = initial.saturating_mul(1u32 << n.min(16)).min(max);
    let half = ceiling / 2;
    half + Duration::from_nanos(fastrand::u64(
        ..=half.as_nanos().min(u128::from(u64::MAX)) as u64,
    ))
}

/// Runs the ADS client until draining starts.
pub async fn run(shared: Arc<Shared>, node: Node) {
    let mut state = XdsState::default();
    let mut failures = 0u32;
    let mut delta = shared.config.delta_xds;
    loop {
        if shared.drain.is_draining() {
            return;
        }
        let session = session(&shared, &node, &mut state, &mut failures, delta);
        let r = tokio::select! {
            r = session => r,
            _ = shared.drain.signaled() => return,
        };
        if let Err(XdsError::DeltaUnsupported(why)) = &r {
            tracing::warn!(%why, "mastd does not serve delta xDS; using state of the world");
            delta = false;
            continue;
        }
        if let Err(e) = r {
            let wait = backoff(
                shared.config.xds_retry_initial,
                shared.config.xds_retry_max,
                failures,
            );
            tracing::warn!(error = %e, retry_in = ?wait, "xDS stream to mastd ended; serving the last config");
            failures = failures.saturating_add(1);
            tokio::time::sleep(wait).await;
        }
    }
}

async fn session(
    shared: &Shared,
    node: &Node,
    state: &mut XdsState,
    failures: &mut u32,
    delta: bool,
) -> Result<(), XdsError> {
    let addr = &shared.config.discovery_address;
    let uri = if addr.contains("://") {
        addr.clone()
    } else {
        format!("http://{addr}")
    };
    let endpoint = tonic::transport::Endpoint::from_shared(uri.clone())
        .map_err(|e| XdsError::Address(uri.clone(), e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| XdsError::Connect(uri.clone(), e.to_string()))?;
    let mut client =
        AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    if delta {
        return delta_session(shared, node, state, failures, &mut client, &uri).await;
    }
    let (tx, rx) = mpsc::channel(32);
    let send = |r: DiscoveryRequest| {
        let tx = tx.clone();
        async move { tx.send(r).await.map_err(|_| XdsError::Closed) }
    };
    send(request(
        node,
        types::CLUSTER,
        state.version(types::CLUSTER),
        String::new(),
        vec![],
        None,
    ))
    .await?;
    send(request(
        node,
        types::LISTENER,
        state.version(types::LISTENER),
        String::new(),
        vec![],
        None,
    ))
    .await?;
    if !state.eds_names().is_empty() {
        send(request(
            node,
            types::ENDPOINT,
            state.version(types::ENDPOINT),
            String::new(),
            state.eds_names().to_vec(),
            None,
        ))
        .await?;
    }
    if !state.rds_names().is_empty() {
        send(request(
            node,
            types::ROUTE,
            state.version(types::ROUTE),
            String::new(),
            state.rds_names().to_vec(),
            None,
        ))
        .await?;
    }
    let mut stream = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .map_err(|e| XdsError::Stream(e.to_string()))?
        .into_inner();
    tracing::info!(mastd = %uri, "xDS stream open");
    let mut nonces = Nonces::default();
    loop {
        let resp: DiscoveryResponse = match stream.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(XdsError::Stream("mastd closed the stream".into())),
            Err(e) => return Err(XdsError::Stream(e.to_string())),
        };
        *failures = 0;
        let t = resp.type_url.clone();
        nonces.0.insert(t.clone(), resp.nonce.clone());
        let names = |s: &XdsState| match t.as_str() {
            types::ENDPOINT => s.eds_names().to_vec(),
            types::ROUTE => s.rds_names().to_vec(),
            _ => vec![],
        };
        match state
            .apply(shared, &t, &resp.version_info, &resp.resources)
            .await
        {
            Ok(subs) => {
                tracing::info!(r#type = types::short_name(&t), version = %resp.version_info, resources = resp.resources.len(), "xDS update accepted");
                shared.dump.store(Arc::new(state.dump.clone()));
                shared.mark_accepted(&t);
                for (sub_type, list) in [
                    (types::ENDPOINT, subs.endpoints),
                    (types::ROUTE, subs.routes),
                ] {
                    if let Some(list) = list {
                        let nonce = nonces.0.get(sub_type).cloned().unwrap_or_default();
                        send(request(
                            node,
                            sub_type,
                            state.version(sub_type),
                            nonce,
                            list,
                            None,
                        ))
                        .await?;
                    }
                }
                send(request(
                    node,
                    &t,
                    resp.version_info.clone(),
                    resp.nonce.clone(),
                    names(state),
                    None,
                ))
                .await?;
            }
            Err(reason) => {
                tracing::warn!(r#type = types::short_name(&t), version = %resp.version_info, %reason, "xDS update rejected (NACK); keeping the previous config");
                shared.record_nack(&t, &reason);
                send(request(
                    node,
                    &t,
                    state.version(&t),
                    resp.nonce.clone(),
                    names(state),
                    Some(reason),
                ))
                .await?;
            }
        }
    }
}

fn delta_request(
    node: Option<&Node>,
    type_url: &str,
    subscribe: Vec<String>,
    unsubscribe: Vec<String>,
    nonce: String,
    error: Option<String>,
) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest {
        node: node.cloned(),
        type_url: type_url.to_string(),
        resource_names_subscribe: subscribe,
        resource_names_unsubscribe: unsubscribe,
        response_nonce: nonce,
        error_detail: error.map(|message| Status {
            code: INVALID_ARGUMENT,
            message,
            details: vec![],
        }),
        ..Default::default()
    }
}

/// Names in `new` and not in `old`, and in `old` and not in `new`.
fn diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let added = new.iter().filter(|n| !old.contains(n)).cloned().collect();
    let removed = old.iter().filter(|o| !new.contains(o)).cloned().collect();
    (added, removed)
}

/// One incremental (delta) ADS session.
async fn delta_session(
    shared: &Shared,
    node: &Node,
    state: &mut XdsState,
    failures: &mut u32,
    client: &mut AggregatedDiscoveryServiceClient<tonic::transport::Channel>,
    uri: &str,
) -> Result<(), XdsError> {
    let (tx, rx) = mpsc::channel(32);
    let send = |r: DeltaDiscoveryRequest| {
        let tx = tx.clone();
        async move { tx.send(r).await.map_err(|_| XdsError::Closed) }
    };
    // the node on the first request only; wildcard CDS and LDS, then the names we have
    send(delta_request(
        Some(node),
        types::CLUSTER,
        vec![],
        vec![],
        String::new(),
        None,
    ))
    .await?;
    send(delta_request(
        None,
        types::LISTENER,
        vec![],
        vec![],
        String::new(),
        None,
    ))
    .await?;
    for (t, names) in [
        (types::ENDPOINT, state.eds_names().to_vec()),
        (types::ROUTE, state.rds_names().to_vec()),
    ] {
        if !names.is_empty() {
            send(delta_request(None, t, names, vec![], String::new(), None)).await?;
        }
    }
    let mut stream = match client
        .delta_aggregated_resources(ReceiverStream::new(rx))
        .await
    {
        Ok(s) => s.into_inner(),
        Err(e) if e.code() == tonic::Code::Unimplemented => {
            return Err(XdsError::DeltaUnsupported(e.message().to_string()));
        }
        Err(e) => return Err(XdsError::Stream(e.to_string())),
    };
    tracing::info!(mastd = %uri, "delta xDS stream open");
    loop {
        let resp: DeltaDiscoveryResponse = match stream.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(XdsError::Stream("mastd closed the stream".into())),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                return Err(XdsError::DeltaUnsupported(e.message().to_string()));
            }
            Err(e) => return Err(XdsError::Stream(e.to_string())),
        };
        *failures = 0;
        let t = resp.type_url.clone();
        let version = resp.system_version_info.clone();
        let changed: Vec<(String, envoy_types::pb::google::protobuf::Any)> = resp
            .resources
            .iter()
            .filter_map(|r| r.resource.clone().map(|a| (r.name.clone(), a)))
            .collect();
        let (old_eds, old_rds) = (state.eds_names().to_vec(), state.rds_names().to_vec());
        // wildcard types are installed whole: the accepted set with this change applied
        let resources: Vec<envoy_types::pb::google::protobuf::Any> =
            if t == types::CLUSTER || t == types::LISTENER {
                let mut all: std::collections::BTreeMap<String, _> =
                    state.accepted(&t).into_iter().collect();
                for n in &resp.removed_resources {
                    all.remove(n);
                }
                all.extend(changed);
                all.into_values().collect()
            } else {
                changed.into_iter().map(|(_, a)| a).collect()
            };
        match state.apply(shared, &t, &version, &resources).await {
            Ok(_) => {
                state.remove(shared, &t, &resp.removed_resources);
                tracing::info!(r#type = types::short_name(&t), version = %version, changed = resp.resources.len(), removed = resp.removed_resources.len(), "delta xDS update accepted");
                shared.dump.store(Arc::new(state.dump.clone()));
                shared.mark_accepted(&t);
                send(delta_request(
                    None,
                    &t,
                    vec![],
                    vec![],
                    resp.nonce.clone(),
                    None,
                ))
                .await?;
                for (sub_type, old, new) in [
                    (types::ENDPOINT, old_eds, state.eds_names().to_vec()),
                    (types::ROUTE, old_rds, state.rds_names().to_vec()),
                ] {
                    let (add, drop) = diff(&old, &new);
                    if !add.is_empty() || !drop.is_empty() {
                        send(delta_request(
                            None,
                            sub_type,
                            add,
                            drop,
                            String::new(),
                            None,
                        ))
                        .await?;
                    }
                }
            }
            Err(reason) => {
                tracing::warn!(r#type = types::short_name(&t), version = %version, %reason, "delta xDS update rejected (NACK); keeping the previous config");
                shared.record_nack(&t, &reason);
                send(delta_request(
                    None,
                    &t,
                    vec![],
                    vec![],
                    resp.nonce.clone(),
                    Some(reason),
                ))
                .await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_diffs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            diff(&s(&["a", "b"]), &s(&["b", "c"])),
            (s(&["c"]), s(&["a"]))
        );
        assert_eq!(diff(&s(&["a"]), &s(&["a"])), (vec![], vec![]));
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let (i, m) = (Duration::from_millis(500), Duration::from_secs(30));
        for n in 0..20 {
            let b = backoff(i, m, n);
            let ceiling = i.saturating_mul(1 << n.min(16)).min(m);
            assert!(b >= ceiling / 2 && b <= ceiling, "{n}: {b:?}");
        }
    }
}
