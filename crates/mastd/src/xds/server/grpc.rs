//! The ADS gRPC service with its own response framing.
//!
//! tonic's generated server encodes each response into a per-stream buffer that it keeps
//! for the life of the stream, sized by the largest response sent (a megabyte or more per
//! proxy at a thousand services). This service frames responses itself: resources shared
//! between proxies are encoded once ([`NamedResource::encoded`]) and sent as shared `Bytes`
//! when large, copied into short-lived chunks of at most [`CHUNK`] bytes when small, one
//! chunk each time the HTTP/2 stream has room. Nothing is kept once sent. Requests are
//! decoded by tonic; responses end with gRPC trailers as tonic's would.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use http_body::Frame;
use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use tokio::sync::mpsc;
use tonic::Status;
use tonic::codec::{DecodeBuf, Decoder, Streaming};
use tonic::codegen::{BoxFuture, Service, StdError, http};
use tonic::server::NamedService;

use super::{Discovery, Prepared, PreparedDelta, RESPONSE_QUEUE};
use crate::xds::NamedResource;

/// Chunks of small resources are copied into buffers of this size.
const CHUNK: usize = 64 * 1024;
/// Resources at least this large are sent as their shared encoding, not copied.
const SHARED_MIN: usize = 16 * 1024;
/// Largest request accepted (as the generated server was configured).
const MAX_REQUEST: usize = 64 << 20;

const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const DELTA_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/// The ADS service (`envoy.service.discovery.v3.AggregatedDiscoveryService`).
#[derive(Clone)]
pub struct AdsServer(pub(super) Arc<Discovery>);

impl NamedService for AdsServer {
    const NAME: &'static str = "envoy.service.discovery.v3.AggregatedDiscoveryService";
}

/// Decodes requests with prost.
struct RequestDecoder<T>(PhantomData<T>);

impl<T: Message + Default> Decoder for RequestDecoder<T> {
    type Item = T;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        T::decode(buf)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl<B> Service<http::Request<B>> for AdsServer
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let discovery = self.0.clone();
        let path = req.uri().path().to_string();
        Box::pin(async move {
            let encoding = req.headers().get("grpc-encoding").cloned();
            if encoding.is_some_and(|e| e != "identity") {
                return Ok(
                    Status::unimplemented("compressed requests are not accepted").into_http(),
                );
            }
            if path != SOTW_PATH && path != DELTA_PATH {
                return Ok(Status::unimplemented("").into_http());
            }
            if let Err(status) = discovery.admit() {
                return Ok(status.into_http());
            }
            let (parts, body) = req.into_parts();
            let peer =
                tonic::Request::from_http(http::Request::from_parts(parts, ())).remote_addr();
            let body = match path.as_str() {
                SOTW_PATH => {
                    let inbound = Streaming::new_request(
                        RequestDecoder::<DiscoveryRequest>(PhantomData),
                        body,
                        None,
                        Some(MAX_REQUEST),
                    );
                    let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
                    tokio::spawn(discovery.run_sotw(inbound, peer, tx));
                    tonic::body::Body::new(AdsBody::new(rx))
                }
                DELTA_PATH => {
                    let inbound = Streaming::new_request(
                        RequestDecoder::<DeltaDiscoveryRequest>(PhantomData),
                        body,
                        None,
                        Some(MAX_REQUEST),
                    );
                    let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
                    tokio::spawn(discovery.run_delta(inbound, peer, tx));
                    tonic::body::Body::new(AdsBody::new(rx))
                }
                _ => return Ok(Status::unimplemented("").into_http()),
            };
            let mut resp = http::Response::new(body);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/grpc"),
            );
            Ok(resp)
        })
    }
}

/// A response the body can frame.
pub(super) trait Framed: Send + 'static {
    /// The writer of its gRPC message.
    fn writer(self) -> Writer;
}

impl Framed for Prepared {
    fn writer(self) -> Writer {
        let mut head = Vec::new();
        string_field(1, &self.version_info, &mut head);
        let mut tail = Vec::new();
        string_field(4, &self.type_url, &mut tail);
        string_field(5, &self.nonce, &mut tail);
        Writer::new(head, self.resources, tail)
    }
}

impl Framed for PreparedDelta {
    fn writer(self) -> Writer {
        // delta responses are small and per proxy: encoded whole, in one short-lived buffer
        let bytes = self.into_response().encode_to_vec();
        Writer::new(bytes, Vec::new(), Vec::new())
    }
}

fn string_field(tag: u32, s: &str, out: &mut Vec<u8>) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }
}

/// Writes one gRPC message: the 5-byte prefix and `head`, each resource as field 2, then
/// `tail`, a chunk at a time.
pub(super) struct Writer {
    prefix_and_head: Option<Vec<u8>>,
    resources: std::vec::IntoIter<Arc<NamedResource>>,
    tail: Option<Vec<u8>>,
    /// A large resource's encoding, sent after the chunk its key ends.
    shared: Option<Bytes>,
}

impl Writer {
    fn new(head: Vec<u8>, resources: Vec<Arc<NamedResource>>, tail: Vec<u8>) -> Writer {
        let body: usize = head.len()
            + tail.len()
            + resources
                .iter()
                .map(|r| {
                    let n = r.encoded().len();
                    key_len(2) + encoded_len_varint(n as u64) + n
                })
                .sum::<usize>();
        let mut first = Vec::with_capacity(5 + head.len());
        first.push(0);
        first.extend_from_slice(&u32::try_from(body).unwrap_or(u32::MAX).to_be_bytes());
        first.extend_from_slice(&head);
        Writer {
            prefix_and_head: Some(first),
            resources: resources.into_iter(),
            tail: Some(tail),
            shared: None,
        }
    }

    /// The next chunk, `None` when the message is written.
    fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(b) = self.shared.take() {
            return Some(b);
        }
        let mut buf = BytesMut::with_capacity(CHUNK);
        if let Some(first) = self.prefix_and_head.take() {
            buf.put_slice(&first);
        }
        for r in self.resources.by_ref() {
            let enc = r.encoded();
            encode_key(2, WireType::LengthDelimited, &mut buf);
            encode_varint(enc.len() as u64, &mut buf);
            if enc.len() >= SHARED_MIN {
                self.shared = Some(enc.clone());
                return Some(buf.freeze());
            }
            buf.put_slice(enc);
            if buf.len() >= CHUNK - SHARED_MIN {
                return Some(buf.freeze());
            }
        }
        if let Some(tail) = self.tail.take() {
            buf.put_slice(&tail);
        }
        (!buf.is_empty()).then(|| buf.freeze())
    }
}

/// A response stream's body: queued responses framed a chunk at a time, then the trailers.
pub(super) struct AdsBody<T> {
    rx: mpsc::Receiver<Result<T, Status>>,
    writing: Option<Writer>,
    done: bool,
}

impl<T> AdsBody<T> {
    fn new(rx: mpsc::Receiver<Result<T, Status>>) -> AdsBody<T> {
        AdsBody {
            rx,
            writing: None,
            done: false,
        }
    }
}

fn trailers(status: &Status) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if status.add_header(&mut h).is_err() {
        h.insert("grpc-status", http::HeaderValue::from_static("13"));
    }
    h
}

impl<T: Framed> http_body::Body for AdsBody<T> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        loop {
            if let Some(w) = this.writing.as_mut() {
                match w.next_chunk() {
                    Some(b) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                    None => this.writing = None,
                }
            }
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(this.rx.poll_recv(cx)) {
                Some(Ok(resp)) => this.writing = Some(resp.writer()),
                Some(Err(status)) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers(&status)))));
                }
                None => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers(&Status::ok(""))))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
    use envoy_types::pb::google::protobuf::Any;

    fn resource(name: &str, size: usize) -> Arc<NamedResource> {
        Arc::new(NamedResource::new(
            name.into(),
            Any {
                type_url: "type.googleapis.com/x".into(),
                value: vec![7; size],
            },
        ))
    }

    #[test]
    fn framing_matches_prost() {
        for sizes in [
            vec![],
            vec![10],
            vec![10, 20_000, 5, 70_000, 3],
            vec![1000; 300],
        ] {
            let resources: Vec<_> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| resource(&format!("r{i}"), *n))
                .collect();
            let p = Prepared {
                version_info: "v1".into(),
                resources: resources.clone(),
                type_url: "t".into(),
                nonce: "n".into(),
            };
            let want = DiscoveryResponse {
                version_info: "v1".into(),
                resources: resources.iter().map(|r| r.resource.clone()).collect(),
                type_url: "t".into(),
                nonce: "n".into(),
                ..Default::default()
            }
            .encode_to_vec();
            let mut w = p.writer();
            let mut got = Vec::new();
            while let Some(c) = w.next_chunk() {
                assert!(c.len() <= CHUNK.max(70_100), "{}", c.len());
                got.extend_from_slice(&c);
            }
            assert_eq!(got[0], 0);
            assert_eq!(
                u32::from_be_bytes(got[1..5].try_into().unwrap()) as usize,
                want.len()
            );
            assert_eq!(&got[5..], &want[..], "{sizes:?}");
        }
    }
}
