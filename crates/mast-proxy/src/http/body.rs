//! The one body type the proxy moves around: streamed from hyper, buffered, empty, or an
//! upstream response that hands its connection back to the pool when it ends.

use std::pin::Pin;
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Incoming(i) => i.is_end_stream(),
            Body::Upstream(u) => u.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(i) => i.size_hint(),
            Body::Upstream(u) => u.inner.size_hint(),
        }
    }
}
