//! Streams end to end through two proxies over mTLS, with the real mastd (in-process): a gRPC
//! bidirectional streaming call whose messages cross one at a time (each echo comes back before
//! the next message is sent, so nothing is buffered to the end of the stream), its trailers
//! (`grpc-status`, `grpc-message`, a custom one) delivered; and a websocket upgrade (HTTP/1.1
//! `101 Switching Protocols`) after which bytes flow both ways.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::addr;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn config(client: &str, server: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: chat
  namespace: default
spec:
  hosts: [chat.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  - {{number: 9090, name: grpc, protocol: GRPC}}
  resolution: STATIC
  workloadSelector:
    labels:
      app: chat
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: chat-1
  namespace: default
spec:
  address: {server}
  labels:
    app: chat
  serviceAccount: chat
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: chat
  namespace: default
spec:
  workloadSelector:
    labels:
      app: chat
  ingress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {server}, defaultEndpoint: "0.0.0.0:8080", captureMode: NONE}}
  - {{port: {{number: 9090, protocol: GRPC, name: grpc}}, bind: {server}, defaultEndpoint: "0.0.0.0:8090", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: default
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
  - {{port: {{number: 9090, protocol: GRPC, name: grpc}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
"#
    )
}

/// A gRPC message: not compressed, 4-byte big-endian length, payload.
fn grpc_frame(payload: &[u8]) -> Bytes {
    let mut v = vec![0u8];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    Bytes::from(v)
}

/// A gRPC server (HTTP/2 prior knowledge) that echoes each request message as it arrives
/// (`echo:` before it) and ends with `grpc-status: 0` and a trailer counting the messages.
async fn grpc_echo(at: SocketAddr) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(4);
                    let mut body = req.into_body();
                    tokio::spawn(async move {
                        let mut n = 0;
                        while let Some(Ok(frame)) = body.frame().await {
                            // (an end of stream may come as an empty DATA frame)
                            let Some(data) = frame.into_data().ok().filter(|d| !d.is_empty())
                            else {
                                continue;
                            };
                            n += 1;
                            let mut echo = b"echo:".to_vec();
                            echo.extend_from_slice(&data[5.min(data.len())..]);
                            if tx.send(Ok(Frame::data(grpc_frame(&echo)))).await.is_err() {
                                return;
                            }
                        }
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        trailers.insert("grpc-message", "done".parse().unwrap());
                        trailers.insert("x-messages", n.to_string().parse().unwrap());
                        let _ = tx.send(Ok(Frame::trailers(trailers))).await;
                    });
                    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
}

/// A websocket server: answers the upgrade with 101 (the key's accept value is not checked by
/// the proxies, so a fixed one does), then echoes bytes upper-cased until the peer closes.
async fn ws_echo(at: SocketAddr) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if !head.contains("upgrade: websocket") {
                    let _ = s
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                    )
                    .await;
                let mut buf = [0u8; 256];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let up = buf[..n].to_ascii_uppercase();
                    if s.write_all(&up).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bidi_streaming_and_websockets_cross_two_proxies() {
    common::init_tracing();
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let cfg_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(cfg_dir.path().join("mesh.yaml"), config(&ip(1), &ip(2))).unwrap();
    let mastd = mastd::app::start(common::mastd_args(cfg_dir.path(), state.path()))
        .await
        .expect("mastd starts");
    let certs = tempfile::tempdir().unwrap();
    let ca = common::Ca::new();
    for sa in ["client", "chat"] {
        ca.issue(&certs.path().join(sa), &common::spiffe(sa));
    }
    grpc_echo(addr(net, 2, 8090)).await;
    ws_echo(addr(net, 2, 8080)).await;
    let start = |pod: &'static str, host: u8| {
        let c = common::proxy_config(
            mastd.grpc_addr,
            pod,
            pod,
            addr(net, host, 0).ip(),
            &[&format!("app={pod}")],
            Some(&certs.path().join(pod)),
        );
        common::start_proxy(c)
    };
    let client = start("client", 1).await;
    let _server = start("chat", 2).await;
    let http_front = addr(net, 1, 9080);
    let grpc_front = addr(net, 1, 9090);
    // ready when the route reaches the app (it answers a plain GET with 400)
    common::get_until(http_front, "chat.default.svc.cluster.local:9080", "/", 400).await;
    assert!(client.nacks().is_empty(), "{:?}", client.nacks());

    // gRPC: three messages, each echoed before the next is sent
    let s = TcpStream::connect(grpc_front).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let (body_tx, body_rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
    let req = Request::builder()
        .method("POST")
        .uri("http://chat.default.svc.cluster.local:9090/chat.Chat/Talk")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(body_rx),
        ))
        .unwrap();
    let resp = tx.send_request(req);
    body_tx
        .send(Ok(Frame::data(grpc_frame(b"one"))))
        .await
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), resp)
        .await
        .expect("response headers before the request ends")
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut next = async || -> Frame<Bytes> {
        tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .expect("no error")
    };
    assert_eq!(next().await.into_data().unwrap(), grpc_frame(b"echo:one"));
    for m in [&b"two"[..], b"three"] {
        body_tx.send(Ok(Frame::data(grpc_frame(m)))).await.unwrap();
        let mut want = b"echo:".to_vec();
        want.extend_from_slice(m);
        assert_eq!(next().await.into_data().unwrap(), grpc_frame(&want));
    }
    drop(body_tx);
    let trailers = next().await.into_trailers().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "done");
    assert_eq!(trailers["x-messages"], "3");

    // websocket: 101 through both proxies, then bytes both ways on the same connection
    let mut s = TcpStream::connect(http_front).await.unwrap();
    s.write_all(
        b"GET /chat HTTP/1.1\r\nhost: chat.default.svc.cluster.local:9080\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("upgrade answered")
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    for msg in [&b"hello"[..], b"again"] {
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(back, msg.to_ascii_uppercase());
    }
}
