//! Listener inspection: the TLS ClientHello (SNI and ALPN, Envoy's `tls_inspector`) and the
//! first line of plaintext HTTP (`http_inspector`), read into a buffer that is then replayed
//! to whatever handles the connection ([`Prefixed`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Most bytes inspection reads (a ClientHello fits in one 16 KiB record).
pub const MAX_INSPECT: usize = 16 * 1024 + 5;

/// What the first bytes of a connection say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// More bytes are needed to decide.
    NeedMore,
    /// A TLS ClientHello.
    Tls {
        /// SNI.
        server_name: Option<String>,
        /// ALPN offered.
        alpn: Vec<String>,
    },
    /// Plaintext HTTP: `http/1.0`, `http/1.1` or `h2c`.
    Http(&'static str),
    /// Something else.
    Other,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn client_hello(body: &[u8]) -> Option<(Option<String>, Vec<String>)> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression
    let mut sni = None;
    let mut alpn = Vec::new();
    let Some(exts) = r.vec16() else {
        return Some((sni, alpn));
    };
    let mut e = Reader(exts);
    while let (Some(kind), Some(data)) = (e.u16(), e.vec16()) {
        let mut d = Reader(data);
        match kind {
            0 => {
                let mut list = Reader(d.vec16()?);
                while let (Some(t), Some(name)) = (list.u8(), list.vec16()) {
                    if t == 0 {
                        sni = Some(String::from_utf8_lossy(name).to_ascii_lowercase());
                    }
                }
            }
            16 => {
                let mut list = Reader(d.vec16()?);
                while let Some(p) = list.vec8() {
                    alpn.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            _ => {}
        }
    }
    Some((sni, alpn))
}

/// Request methods the HTTP inspector recognises (llhttp's).
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "MKACTIVITY",
    "CHECKOUT",
    "MERGE",
    "M-SEARCH",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PURGE",
    "MKCALENDAR",
    "LINK",
    "UNLINK",
    "SOURCE",
    "BIND",
    "REBIND",
    "UNBIND",
    "ACL",
];

/// Reads what the bytes so far say (`tls` and `http` choose which inspectors run).
pub fn sniff(buf: &[u8], tls: bool, http: bool) -> Sniffed {
    if buf.is_empty() {
        return Sniffed::NeedMore;
    }
    if buf[0] == 0x16 {
        if !tls {
            return Sniffed::Other;
        }
        if buf.len() < 9 {
            return Sniffed::NeedMore;
        }
        let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
        if buf[5] != 1 {
            return Sniffed::Other;
        }
        let hs_len = (usize::from(buf[6]) << 16) | (usize::from(buf[7]) << 8) | usize::from(buf[8]);
        if hs_len + 4 > len {
            // a ClientHello over several records: take the transport as TLS, without SNI/ALPN
            return Sniffed::Tls {
                server_name: None,
                alpn: Vec::new(),
            };
        }
        if buf.len() < 5 + len {
            return Sniffed::NeedMore;
        }
        return match client_hello(&buf[9..9 + hs_len]) {
            Some((server_name, alpn)) => Sniffed::Tls { server_name, alpn },
            None => Sniffed::Tls {
                server_name: None,
                alpn: Vec::new(),
            },
        };
    }
    if !http {
        return Sniffed::Other;
    }
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let n = buf.len().min(PREFACE.len());
    if buf[..n] == PREFACE[..n] {
        return if n == PREFACE.len() {
            Sniffed::Http("h2c")
        } else {
            Sniffed::NeedMore
        };
    }
    // the request line starts with a method, as the HTTP inspector's parser wants it
    let token = buf.split(|b| *b == b' ').next().unwrap_or_default();
    let complete = token.len() < buf.len();
    let known = if complete {
        METHODS.iter().any(|m| m.as_bytes() == token)
    } else {
        METHODS.iter().any(|m| m.as_bytes().starts_with(token))
    };
    if !known {
        return Sniffed::Other;
    }
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = &buf[..end];
            if line.ends_with(b" HTTP/1.1") {
                Sniffed::Http("http/1.1")
            } else if line.ends_with(b" HTTP/1.0") {
                Sniffed::Http("http/1.0")
            } else {
                Sniffed::Other
            }
        }
        None if buf.len() < 8192 && buf.iter().all(|b| b.is_ascii() && !b.is_ascii_control()) => {
            Sniffed::NeedMore
        }
        None => Sniffed::Other,
    }
}

/// A stream (a TCP connection by default) whose first bytes were read — for inspection, or
/// during the TCP metadata exchange — and are replayed before the rest.
#[derive(Debug)]
pub struct Prefixed<S = TcpStream> {
    buf: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Wraps a fresh connection.
    pub fn new(inner: S) -> Prefixed<S> {
        Prefixed::with_head(Vec::new(), inner)
    }

    /// `inner`, with `head` (already read from it) replayed first.
    pub fn with_head(head: Vec<u8>, inner: S) -> Prefixed<S> {
        Prefixed {
            buf: head,
            pos: 0,
            inner,
        }
    }

    /// The bytes read so far.
    pub fn peeked(&self) -> &[u8] {
        &self.buf
    }
}

impl<S: AsyncRead + Unpin> Prefixed<S> {
    /// Reads more bytes into the replay buffer; `0` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.len() >= MAX_INSPECT {
            return Ok(0);
        }
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(MAX_INSPECT - self.buf.len());
        let n = self.inner.read(&mut chunk[..want]).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads until `sniff` decides (or the stream ends).
    pub async fn inspect(&mut self, tls: bool, http: bool) -> io::Result<Sniffed> {
        loop {
            match sniff(&self.buf, tls, http) {
                Sniffed::NeedMore => {
                    if self.fill().await? == 0 {
                        return Ok(Sniffed::Other);
                    }
                }
                s => return Ok(s),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.pos < me.buf.len() {
            let n = (me.buf.len() - me.pos).min(out.remaining());
            out.put_slice(&me.buf[me.pos..me.pos + n]);
            me.pos += n;
            if me.pos == me.buf.len() {
                me.buf = Vec::new();
                me.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_http() {
        let cases: [(&[u8], Sniffed); 10] = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n", Sniffed::Http("http/1.1")),
            (b"ping", Sniffed::Other),
            (b"GE", Sniffed::NeedMore),
            (b"GETS / HTTP/1.1\r\n", Sniffed::Other),
            (b"M-SEARCH * HTTP/1.1\r\n", Sniffed::Http("http/1.1")),
            (b"GET / HTTP/1.0\r\n", Sniffed::Http("http/1.0")),
            (b"GET / HT", Sniffed::NeedMore),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Sniffed::Http("h2c")),
            (b"PRI * HTTP/2", Sniffed::NeedMore),
            (b"\x00\x01binary", Sniffed::Other),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                sniff(bytes, true, true),
                want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n", true, false), Sniffed::Other);
    }

    #[test]
    fn sniffs_a_rustls_client_hello() {
        use std::sync::Arc;
        let roots = rustls::RootCertStore::empty();
        let mut cfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"istio-peer-exchange".to_vec(), b"istio".to_vec()];
        let name = rustls::pki_types::ServerName::try_from(
            "outbound_.9080_._.reviews.default.svc.cluster.local",
        )
        .unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        assert_eq!(sniff(&out[..20], true, true), Sniffed::NeedMore);
        let Sniffed::Tls { server_name, alpn } = sniff(&out, true, true) else {
            panic!("not TLS")
        };
        assert_eq!(
            server_name.as_deref(),
            Some("outbound_.9080_._.reviews.default.svc.cluster.local")
        );
        assert_eq!(alpn, vec!["istio-peer-exchange", "istio"]);
    }
}
