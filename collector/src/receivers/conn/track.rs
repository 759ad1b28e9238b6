//! The per-request side of a connection: [`Track`] moves it through its phases as requests
//! start, finish reading their bodies, and are answered.

use super::{Conn, Conns, Reading};
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// A request body whose end (or drop) ends the connection's body clock.
#[derive(Debug)]
pub struct TimedBody<B> {
    inner: B,
    reading: Option<Reading>,
}

impl<B: Body + Unpin> Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.reading = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where [`Track`] finds a request's connection.
#[derive(Clone, Debug)]
pub enum Source {
    /// It serves one connection (HTTP/1: one service per connection); requests also get the
    /// peer as `axum::extract::ConnectInfo<SocketAddr>`.
    One(Arc<Conn>),
    /// Looked up by the peer in the request's `TcpConnectInfo` (tonic owns the connections).
    Lookup(Arc<Conns>),
}

/// Moves a connection through its phases as requests start, finish reading and are answered.
#[derive(Debug)]
pub struct Track<S, B, B2> {
    inner: S,
    source: Source,
    wrap: fn(TimedBody<B>) -> B2,
}

impl<S: Clone, B, B2> Clone for Track<S, B, B2> {
    fn clone(&self) -> Self {
        Track {
            inner: self.inner.clone(),
            source: self.source.clone(),
            wrap: self.wrap,
        }
    }
}

impl<S, B, B2> Track<S, B, B2> {
    /// `inner`, with its bodies wrapped by `wrap` (the body type the inner service takes).
    pub fn new(inner: S, source: Source, wrap: fn(TimedBody<B>) -> B2) -> Self {
        Track {
            inner,
            source,
            wrap,
        }
    }
}

fn peer_of(ext: &http::Extensions) -> Option<SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    ext.get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|c| c.get_ref().remote_addr())
        })
}

impl<S, B, B2> tower::Service<http::Request<B>> for Track<S, B, B2>
where
    S: tower::Service<http::Request<B2>>,
    S::Future: Send + 'static,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let conn = match &self.source {
            Source::One(conn) => {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(conn.peer));
                Some(conn.clone())
            }
            Source::Lookup(conns) => peer_of(request.extensions()).and_then(|p| conns.find(p)),
        };
        let (requesting, reading) = match conn {
            Some(c) => {
                let (r, b) = c.start(!request.body().is_end_stream());
                (Some(r), b)
            }
            None => (None, None),
        };
        let wrap = self.wrap;
        let request = request.map(|inner| wrap(TimedBody { inner, reading }));
        let response = self.inner.call(request);
        Box::pin(async move {
            let r = response.await;
            drop(requesting);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Connections;
    use crate::telemetry::Telemetry;
    use tower::ServiceExt;

    // Handlers read the peer from the request (another receiver's per-address limits do).
    #[tokio::test]
    async fn requests_carry_their_peer_and_move_the_phase() {
        let conns = Conns::new(
            None,
            Arc::new(Telemetry::new()),
            (&Connections::default()).into(),
        );
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let conn = conns.admit(peer, true).unwrap();
        let inner = tower::service_fn(|r: http::Request<axum::body::Body>| async move {
            let info = r
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>();
            let p = info.unwrap().0;
            Ok::<_, std::convert::Infallible>(p)
        });
        let track = Track::new(inner, Source::One(conn.clone()), axum::body::Body::new);
        let body = http_body_util::Full::new(bytes::Bytes::from_static(b"x"));
        let seen = track.oneshot(http::Request::new(body)).await.unwrap();
        assert_eq!(seen, peer);
        assert!(matches!(
            conn.state.lock().unwrap().phase,
            super::super::Phase::Idle(_)
        ));
        drop(conn);
        assert!(conns.find(peer).is_none());
    }
}
