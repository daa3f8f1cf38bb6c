//! Istio's TCP metadata exchange (the `istio.metadata_exchange` network filter): when mTLS
//! between two sidecars negotiated ALPN `istio-peer-exchange`, each side first sends a frame
//! — a magic number `0x3D230467` and a length, both 32-bit big-endian, then a
//! `google.protobuf.Any` of a `Struct` with `x-envoy-peer-metadata` (the node metadata keys
//! Istio exchanges) and `x-envoy-peer-metadata-id` (the node id) — and reads the peer's
//! before relaying bytes. The frame is built once per proxy; bytes that follow the peer's
//! frame, or that are not a frame at all, are relayed as data.

use std::io;
use std::time::Duration;

use envoy_types::pb::google::protobuf::{Any, Struct, Value as PbValue, value};
use serde_json::{Map, Value};

use crate::inspect::Prefixed;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The frame's magic number.
pub const MAGIC: u32 = 0x3D23_0467;
/// The ALPN protocol that announces the exchange.
pub const ALPN: &[u8] = b"istio-peer-exchange";
/// The key of the peer's metadata in the frame.
pub const METADATA_KEY: &str = "x-envoy-peer-metadata";
/// The key of the peer's node id in the frame.
pub const ID_KEY: &str = "x-envoy-peer-metadata-id";
/// The largest frame accepted.
const MAX_FRAME: usize = 64 * 1024;
/// How long the peer's frame may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// This proxy's frame: `metadata` are the exchanged node metadata keys.
pub fn frame(node_id: &str, metadata: &Map<String, Value>) -> Vec<u8> {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        METADATA_KEY.to_string(),
        PbValue {
            kind: Some(value::Kind::StructValue(mast_xds::structs::json_to_struct(
                metadata,
            ))),
        },
    );
    if !node_id.is_empty() {
        fields.insert(
            ID_KEY.to_string(),
            PbValue {
                kind: Some(value::Kind::StringValue(node_id.to_string())),
            },
        );
    }
    let any = Any {
        type_url: "type.googleapis.com/google.protobuf.Struct".into(),
        value: prost::Message::encode_to_vec(&Struct {
            fields: fields.into_iter().collect(),
        }),
    };
    let body = prost::Message::encode_to_vec(&any);
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// What the first bytes from the peer are.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Not enough bytes yet.
    NeedMore,
    /// Not an exchange frame (wrong magic, too large, or not a `Struct`): all bytes are data.
    NotFrame,
    /// A frame of `len` bytes, with the peer's metadata (empty when the frame had none) and
    /// node id.
    Frame {
        /// Bytes the frame took.
        len: usize,
        /// The peer's node metadata.
        metadata: Map<String, Value>,
        /// The peer's node id.
        id: Option<String>,
    },
}

/// Reads a frame from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.len() < 4 {
        return if MAGIC.to_be_bytes().starts_with(buf) {
            Parsed::NeedMore
        } else {
            Parsed::NotFrame
        };
    }
    if buf[..4] != MAGIC.to_be_bytes() {
        return Parsed::NotFrame;
    }
    if buf.len() < 8 {
        return Parsed::NeedMore;
    }
    let size = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
    if size > MAX_FRAME {
        return Parsed::NotFrame;
    }
    if buf.len() < 8 + size {
        return Parsed::NeedMore;
    }
    let Ok(any) = <Any as prost::Message>::decode(&buf[8..8 + size]) else {
        return Parsed::NotFrame;
    };
    let Ok(s) = <Struct as prost::Message>::decode(any.value.as_slice()) else {
        return Parsed::NotFrame;
    };
    let json = mast_xds::structs::struct_to_json(&s);
    Parsed::Frame {
        len: 8 + size,
        metadata: json
            .get(METADATA_KEY)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        id: json.get(ID_KEY).and_then(Value::as_str).map(str::to_string),
    }
}

/// Sends `ours` on `io`, then reads the peer's frame (up to [`EXCHANGE_TIMEOUT`]): the
/// peer's metadata if it sent a frame, and the stream with whatever else was read put back.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    ours: &[u8],
) -> io::Result<(Option<Map<String, Value>>, Prefixed<S>)> {
    io.write_all(ours).await?;
    io.flush().await?;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match parse(&buf) {
                Parsed::NeedMore => {}
                Parsed::NotFrame => return Ok::<_, io::Error>(None),
                Parsed::Frame { len, metadata, .. } => {
                    buf.drain(..len);
                    return Ok(Some(metadata));
                }
            }
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let peer = tokio::time::timeout(EXCHANGE_TIMEOUT, read)
        .await
        .unwrap_or(Ok(None))?;
    Ok((peer, Prefixed::with_head(buf, io)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn md() -> Map<String, Value> {
        json!({"NAME": "reviews-v2-abc", "NAMESPACE": "default", "WORKLOAD_NAME": "reviews-v2",
               "LABELS": {"app": "reviews", "version": "v2"}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn frames_round_trip_and_are_told_from_data() {
        let f = frame(
            "sidecar~10.0.0.2~reviews-v2-abc.default~default.svc.cluster.local",
            &md(),
        );
        assert_eq!(f[..4], [0x3D, 0x23, 0x04, 0x67]);
        assert_eq!(
            u32::from_be_bytes(f[4..8].try_into().unwrap()) as usize,
            f.len() - 8
        );
        let mut with_data = f.clone();
        with_data.extend_from_slice(b"GET / HTTP/1.1\r\n");
        match parse(&with_data) {
            Parsed::Frame { len, metadata, id } => {
                assert_eq!(len, f.len());
                assert_eq!(metadata, md());
                assert_eq!(
                    id.as_deref(),
                    Some("sidecar~10.0.0.2~reviews-v2-abc.default~default.svc.cluster.local")
                );
            }
            other => panic!("{other:?}"),
        }
        let cases: &[(&[u8], Parsed)] = &[
            (b"", Parsed::NeedMore),
            (&[0x3D, 0x23], Parsed::NeedMore),
            (&f[..6], Parsed::NeedMore),
            (&f[..f.len() - 1], Parsed::NeedMore),
            (b"ping", Parsed::NotFrame),
            (&[0x3D, 0x24], Parsed::NotFrame),
            (&[0x3D, 0x23, 0x04, 0x67, 0xFF, 0, 0, 0], Parsed::NotFrame),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse(bytes), *want, "{bytes:?}");
        }
    }

    #[tokio::test]
    async fn both_sides_exchange_and_data_follows() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let fa = frame("a", &md());
        let mut other = md();
        other.insert("NAME".into(), json!("client"));
        let fb = frame("b", &other);
        let side_b = tokio::spawn(async move {
            let (peer, mut io) = exchange(b, &fb).await.unwrap();
            let mut got = [0u8; 5];
            io.read_exact(&mut got).await.unwrap();
            (peer, got)
        });
        let (peer, mut io) = exchange(a, &fa).await.unwrap();
        io.write_all(b"hello").await.unwrap();
        assert_eq!(peer.unwrap()["NAME"], "client");
        let (peer_b, got) = side_b.await.unwrap();
        assert_eq!(peer_b.unwrap()["NAME"], "reviews-v2-abc");
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn a_peer_without_the_exchange_gets_its_bytes_relayed() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        b.write_all(b"plain bytes").await.unwrap();
        let (peer, mut io) = exchange(a, &frame("a", &md())).await.unwrap();
        assert!(peer.is_none());
        let mut got = [0u8; 11];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"plain bytes");
    }
}
