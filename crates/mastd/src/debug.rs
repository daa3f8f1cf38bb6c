//! The monitoring server (15014): `/metrics` and istiod's `/debug/*` pages.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mast_xds::types;
use serde_json::{Value, json};

use crate::model::rfc3339;
use crate::source::store::ConfigStore;
use crate::xds::server::Discovery;

/// What the debug pages read.
#[derive(Clone)]
pub struct DebugState {
    /// The discovery server.
    pub discovery: Arc<Discovery>,
    /// The config store.
    pub store: Arc<Mutex<ConfigStore>>,
}

/// The router of the monitoring port.
pub fn router(state: DebugState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(|| async { "ok" }))
        .route("/debug/syncz", get(syncz))
        .route("/debug/adsz", get(adsz))
        .route("/debug/configz", get(configz))
        .route("/debug/push_status", get(push_status))
        .route("/debug/config_dump", get(config_dump))
        .with_state(state)
}

async fn metrics(State(s): State<DebugState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.discovery.metrics.encode(),
    )
        .into_response()
}

/// istiod's `/debug/syncz`: per proxy, the version sent and acknowledged for each type.
async fn syncz(State(s): State<DebugState>) -> Json<Value> {
    let mut out = Vec::new();
    for c in s.discovery.connections() {
        let ledger = c.ledger.lock().expect("ledger lock").clone();
        let mut o = serde_json::Map::new();
        o.insert("cluster_id".into(), c.proxy.cluster_id.clone().into());
        o.insert("proxy".into(), c.proxy.id.clone().into());
        o.insert("proxy_type".into(), c.proxy.node_type.as_str().into());
        o.insert("istio_version".into(), c.proxy.istio_version.clone().into());
        for (name, t) in [
            ("cluster", types::CLUSTER),
            ("listener", types::LISTENER),
            ("route", types::ROUTE),
            ("endpoint", types::ENDPOINT),
        ] {
            let st = ledger.get(t);
            o.insert(
                format!("{name}_sent"),
                st.map(|x| x.sent_nonce.clone()).unwrap_or_default().into(),
            );
            o.insert(
                format!("{name}_acked"),
                st.map(|x| x.acked_nonce.clone()).unwrap_or_default().into(),
            );
            o.insert(
                format!("{name}_version"),
                st.map(|x| x.acked_version.clone())
                    .unwrap_or_default()
                    .into(),
            );
            if let Some(e) = st.and_then(|x| x.last_error.clone()) {
                o.insert(format!("{name}_error"), e.into());
            }
        }
        out.push(Value::Object(o));
    }
    Json(Value::Array(out))
}

/// istiod's `/debug/adsz`: the connections with their metadata and per-type state.
async fn adsz(State(s): State<DebugState>) -> Json<Value> {
    let snap = s.discovery.snapshot();
    let clients: Vec<Value> = s
        .discovery
        .connections()
        .iter()
        .map(|c| {
            let ledger = c.ledger.lock().expect("ledger lock").clone();
            let watches: serde_json::Map<String, Value> = ledger
                .iter()
                .map(|(t, st)| {
                    (
                        t.clone(),
                        json!({
                            "sent_version": st.sent_version, "sent_nonce": st.sent_nonce,
                            "acked_version": st.acked_version, "acked_nonce": st.acked_nonce,
                            "last_error": st.last_error, "resource_names": st.subscribed, "nacks": st.nacks,
                        }),
                    )
                })
                .collect();
            json!({
                "connectionId": c.conn_id,
                "connectedAt": rfc3339(c.connected_at),
                "address": c.peer.map(|p| p.to_string()).unwrap_or_default(),
                "delta": c.delta,
                "labels": c.proxy.labels,
                "metadata": c.proxy.metadata,
                "watches": watches,
                "synced": ledger.converged(),
            })
        })
        .collect();
    Json(json!({"totalClients": clients.len(), "version": snap.version, "clients": clients}))
}

/// `/debug/configz`: the served objects, and what the last reload could not take.
async fn configz(State(s): State<DebugState>) -> Json<Value> {
    let store = s.store.lock().expect("store lock");
    let objects: Vec<Value> = store
        .objects()
        .map(|r| {
            json!({
                "kind": r.gvk.kind, "apiVersion": r.gvk.api_version(),
                "name": r.meta.name, "namespace": r.meta.namespace,
                "origin": r.origin.to_string(), "spec": r.spec(),
            })
        })
        .collect();
    Json(json!({
        "lastReload": store.last_reload.map(rfc3339),
        "objects": objects,
        "invalid": store.problems(),
    }))
}

/// `/debug/push_status`: the snapshot version and how many proxies have acknowledged it.
async fn push_status(State(s): State<DebugState>) -> Json<Value> {
    let snap = s.discovery.snapshot();
    let conns = s.discovery.connections();
    let synced: Vec<String> = conns
        .iter()
        .filter(|c| {
            let l = c.ledger.lock().expect("ledger lock");
            l.converged()
                && l.iter()
                    .all(|(_, t)| t.acked_version == snap.version || t.sent_nonce.is_empty())
        })
        .map(|c| c.proxy.id.clone())
        .collect();
    let pending: Vec<String> = conns
        .iter()
        .map(|c| c.proxy.id.clone())
        .filter(|id| !synced.contains(id))
        .collect();
    Json(json!({
        "version": snap.version,
        "start": snap.created.map(rfc3339),
        "proxies": conns.len(),
        "synced": synced,
        "pending": pending,
    }))
}

#[derive(serde::Deserialize)]
struct DumpQuery {
    #[serde(rename = "proxyID")]
    proxy_id: Option<String>,
}

/// `/debug/config_dump?proxyID=POD.NS`: the resources mastd would send that proxy, by type.
async fn config_dump(State(s): State<DebugState>, Query(q): Query<DumpQuery>) -> Response {
    let Some(id) = q.proxy_id else {
        return (StatusCode::BAD_REQUEST, "proxyID is required\n").into_response();
    };
    let conns = s.discovery.connections();
    let Some(conn) = conns.iter().find(|c| c.proxy.id == id || c.conn_id == id) else {
        return (
            StatusCode::NOT_FOUND,
            format!("proxy {id:?} is not connected\n"),
        )
            .into_response();
    };
    let snap = s.discovery.snapshot();
    let mut out = serde_json::Map::new();
    for t in [
        types::CLUSTER,
        types::ENDPOINT,
        types::LISTENER,
        types::ROUTE,
    ] {
        let names = conn
            .ledger
            .lock()
            .expect("ledger lock")
            .get(t)
            .map(|x| x.subscribed.clone())
            .unwrap_or_default();
        match crate::xds::generate(&snap, &conn.proxy, t, &names) {
            Ok(rs) => {
                let list: Vec<Value> = rs
                    .iter()
                    .map(|r| mast_xds::json::any_to_json(&r.resource))
                    .collect();
                out.insert(t.to_string(), Value::Array(list));
            }
            Err(e) => {
                out.insert(t.to_string(), json!({"error": e.to_string()}));
            }
        }
    }
    Json(json!({"version": snap.version, "proxy": id, "resources": out})).into_response()
}
