//! The one body type the proxy moves around: streamed from hyper, buffered, empty, an
//! upstream response that hands its connection back to the pool when it ends, a request body
//! whose bytes are counted, or a downstream response that runs the log phase when it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use crate::upstream::pool::Checkout;

/// A request or response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A buffered body (local replies, replayable requests).
    Full(Option<Bytes>),
    /// A body streamed from a peer.
    Incoming(Incoming),
    /// An upstream response body; its connection returns to the pool at the end.
    Upstream(UpstreamBody),
    /// A body whose data bytes are counted as they pass.
    Metered(Box<Metered>),
    /// A downstream response: when it ends, fails or is dropped, its end is reported.
    Logged(Box<Logged>),
}

/// A body whose bytes are counted into a shared counter.
#[derive(Debug)]
pub struct Metered {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl Metered {
    /// Counts the data bytes of `inner` into `bytes`.
    pub fn wrap(inner: Body, bytes: Arc<AtomicU64>) -> Body {
        Body::Metered(Box::new(Metered { inner, bytes }))
    }
}

/// How a logged response ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct End {
    /// Data bytes sent.
    pub bytes: u64,
    /// The `grpc-status` of the trailers, if any.
    pub grpc_status: Option<u32>,
    /// Whether the body was sent whole (not abandoned by the downstream or failed upstream).
    pub complete: bool,
}

/// What runs when a logged response ends.
pub type OnEnd = Box<dyn FnOnce(End) + Send>;

/// A downstream response that reports its end once.
pub struct Logged {
    inner: Body,
    end: End,
    on_end: Option<OnEnd>,
}

impl std::fmt::Debug for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logged")
            .field("inner", &self.inner)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl Logged {
    /// Wraps `inner`; `on_end` runs when it ends, fails or is dropped.
    pub fn wrap(inner: Body, on_end: OnEnd) -> Body {
        Body::Logged(Box::new(Logged {
            inner,
            end: End::default(),
            on_end: Some(on_end),
        }))
    }

    fn finish(&mut self, complete: bool) {
        if let Some(f) = self.on_end.take() {
            self.end.complete = complete;
            f(self.end);
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let complete = HttpBody::is_end_stream(&self.inner);
        self.finish(complete);
    }
}

impl Body {
    /// A buffered body.
    pub fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        if b.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(b))
        }
    }
}

/// An upstream response body with its pool checkout.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    checkout: Option<Checkout>,
}

impl UpstreamBody {
    /// Wraps `inner`; `checkout` is released when the body ends cleanly (at once when it is
    /// already over).
    pub fn wrap(inner: Incoming, checkout: Checkout) -> Body {
        if inner.is_end_stream() {
            checkout.release();
            return Body::Incoming(inner);
        }
        Body::Upstream(UpstreamBody {
            inner,
            checkout: Some(checkout),
        })
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Incoming(i) => Pin::new(i).poll_frame(cx),
            Body::Upstream(u) => {
                let r = Pin::new(&mut u.inner).poll_frame(cx);
                match &r {
                    Poll::Ready(None) => {
                        if let Some(c) = u.checkout.take() {
                            c.release();
                        }
                    }
                    Poll::Ready(Some(Err(_))) => {
                        if let Some(c) = u.checkout.take() {
                            c.discard();
                        }
                    }
                    Poll::Ready(Some(Ok(f))) if f.is_trailers() || u.inner.is_end_stream() => {
                        if let Some(c) = u.checkout.take() {
                            c.release();
                        }
                    }
                    _ => {}
                }
                r
            }
            Body::Metered(m) => {
                let r = Pin::new(&mut m.inner).poll_frame(cx);
                if let Poll::Ready(Some(Ok(f))) = &r
                    && let Some(d) = f.data_ref()
                {
                    m.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
                }
                r
            }
            Body::Logged(l) => {
                let r = Pin::new(&mut l.inner).poll_frame(cx);
                match &r {
                    Poll::Ready(None) => l.finish(true),
                    Poll::Ready(Some(Err(_))) => l.finish(false),
                    Poll::Ready(Some(Ok(f))) => {
                        if let Some(d) = f.data_ref() {
                            l.end.bytes += d.len() as u64;
                        } else if let Some(t) = f.trailers_ref() {
                            l.end.grpc_status = t
                                .get("grpc-status")
                                .and_then(|v| v.to_str().ok()?.parse().ok());
                        }
                        if HttpBody::is_end_stream(&l.inner) {
                            l.finish(true);
                        }
                    }
                    Poll::Pending => {}
                }
                r
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Incoming(i) => i.is_end_stream(),
            Body::Upstream(u) => u.inner.is_end_stream(),
            Body::Metered(m) => m.inner.is_end_stream(),
            Body::Logged(l) => l.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(i) => i.size_hint(),
            Body::Upstream(u) => u.inner.size_hint(),
            Body::Metered(m) => m.inner.size_hint(),
            Body::Logged(l) => l.inner.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::Mutex;

    #[tokio::test]
    async fn metered_and_logged_bodies_report() {
        let n = Arc::new(AtomicU64::new(0));
        let b = Metered::wrap(Body::full("hello"), n.clone());
        assert_eq!(b.collect().await.unwrap().to_bytes(), "hello");
        assert_eq!(n.load(Ordering::Relaxed), 5);

        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let b = Logged::wrap(
            Body::full("abc"),
            Box::new(move |e| s.lock().unwrap().push(e)),
        );
        let _ = b.collect().await.unwrap();
        let s = seen.clone();
        let dropped = Logged::wrap(
            Body::full("never sent"),
            Box::new(move |e| s.lock().unwrap().push(e)),
        );
        drop(dropped);
        let got = seen.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                End {
                    bytes: 3,
                    grpc_status: None,
                    complete: true
                },
                End {
                    bytes: 0,
                    grpc_status: None,
                    complete: false
                },
            ]
        );
    }
}
