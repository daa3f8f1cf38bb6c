//! The bookinfo-like apps: small HTTP servers that call their upstreams through their proxy's
//! outbound listener and answer JSON naming themselves, their version, the
//! `x-forwarded-client-cert` their proxy gave them and what their upstreams answered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::layout::{SERVICE_PORT, Workload};

/// A pooled HTTP/1.1 client.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http()
}

/// An answer: status and body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
}

/// `GET http://{to}{path}` with `Host: {host}`, within 5 s.
pub async fn get(c: &HttpClient, to: SocketAddr, host: &str, path: &str) -> Result<Answer, String> {
    let req = Request::builder()
        .uri(format!("http://{to}{path}"))
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let fut = async {
        let resp = c.request(req).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "timed out after 5s".to_string())?
}

/// Where the demo's own requests start: this process's network namespace, or (capture) one
/// of the mesh's, through a runtime whose thread is inside it.
#[derive(Clone)]
pub enum Origin {
    /// Here.
    Here(HttpClient),
    /// In a namespace (the client is only used by futures run on that runtime).
    Netns(tokio::runtime::Handle, HttpClient),
}

impl Origin {
    /// [`get`] from this origin.
    pub async fn get(&self, to: SocketAddr, host: &str, path: &str) -> Result<Answer, String> {
        match self {
            Origin::Here(c) => get(c, to, host, path).await,
            Origin::Netns(rt, c) => {
                let (c, host, path) = (c.clone(), host.to_string(), path.to_string());
                rt.spawn(async move { get(&c, to, &host, &path).await })
                    .await
                    .map_err(|e| e.to_string())?
            }
        }
    }
}

/// The host name of a demo service, as apps address it.
pub fn host(service: &str) -> String {
    format!("{service}.default.svc.cluster.local:{SERVICE_PORT}")
}

/// Starts `w`'s app on its address.
pub async fn start(w: Workload) -> anyhow::Result<()> {
    let sock = TcpListener::bind(w.app_addr()).await?;
    let c = client();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let w = w.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let w = w.clone();
                    let c = c.clone();
                    async move { Ok::<_, Infallible>(answer(&w, &c, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Ok(())
}

async fn answer(w: &Workload, c: &HttpClient, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let xfcc = req
        .headers()
        .get("x-forwarded-client-cert")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut ok = true;
    let mut upstreams = serde_json::Map::new();
    for svc in w.calls {
        let v = match get(c, w.upstream(svc), &host(svc), &format!("/{svc}")).await {
            Ok(a) => {
                ok &= a.status == 200;
                match serde_json::from_str::<Value>(&a.body) {
                    Ok(v) if a.status == 200 => v,
                    Ok(v) => json!({"status": a.status, "error": v}),
                    Err(_) => json!({"status": a.status, "error": a.body}),
                }
            }
            Err(e) => {
                ok = false;
                json!({"error": e})
            }
        };
        upstreams.insert((*svc).to_string(), v);
    }
    let body = json!({
        "app": w.app,
        "version": w.version,
        "pod": w.pod,
        "xfcc": xfcc,
        "upstreams": upstreams,
    });
    Response::builder()
        .status(if ok { 200 } else { 502 })
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}
