//! Accepting admitted connections, and serving HTTP/1 on them with hyper (the OTLP/HTTP
//! receiver and the exporter); [`Incoming`] is the same accept for tonic.

use super::{Conn, Conns, Source, Track, Tracked};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

/// A source of admitted connections.
pub trait Accept: Send + 'static {
    /// The socket (or TLS stream) of one connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next admitted connection; over-limit ones were closed and counted already.
    fn accept(&mut self) -> impl Future<Output = (Self::Io, Arc<Conn>)> + Send;
}

/// Plain TCP connections, admitted by `conns`.
#[derive(Debug)]
pub struct Plain {
    /// Where connections arrive.
    pub listener: TcpListener,
    /// The receiver's connections.
    pub conns: Arc<Conns>,
}

impl Accept for Plain {
    type Io = Tracked<TcpStream>;

    async fn accept(&mut self) -> (Self::Io, Arc<Conn>) {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, usually: wait instead of spinning.
                    debug!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Some(conn) = self.conns.admit(peer, true) {
                let _ = tcp.set_nodelay(true);
                return (Tracked::new(tcp, conn.clone()), conn);
            }
        }
    }
}

/// Serves `router` over HTTP/1 on the connections of `listener` until `shutdown` resolves;
/// then stops accepting, lets requests in progress finish, and returns once every connection
/// has closed. Each request carries its peer as `axum::extract::ConnectInfo<SocketAddr>`.
pub async fn serve_http<A: Accept>(
    mut listener: A,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        let (io, conn) = tokio::select! {
            c = listener.accept() => c,
            () = &mut shutdown => break,
        };
        let peer = conn.peer();
        let service = Track::new(router.clone(), Source::One(conn), axum::body::Body::new);
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(peer = %peer, error = %e, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The gRPC receiver's connections, admitted by `conns`, as tonic's incoming stream.
#[derive(Debug)]
pub struct Incoming {
    /// Where connections arrive.
    pub listener: TcpListener,
    /// The receiver's connections.
    pub conns: Arc<Conns>,
}

impl futures_core::Stream for Incoming {
    type Item = io::Result<Tracked<TcpStream>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let (tcp, peer) = match ready!(self.listener.poll_accept(cx)) {
                Ok(c) => c,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            if let Some(conn) = self.conns.admit(peer, false) {
                let _ = tcp.set_nodelay(true);
                return Poll::Ready(Some(Ok(Tracked::new(tcp, conn))));
            }
        }
    }
}
