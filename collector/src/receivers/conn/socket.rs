//! The socket side of a connection: reads fail once the deadline of its phase has passed.

use super::{Conn, Phase};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A socket whose reads fail (`TimedOut`) once its connection's deadline passed; the close is
/// counted once.
#[derive(Debug)]
pub struct Tracked<IO> {
    io: IO,
    conn: Arc<Conn>,
    sleep: Pin<Box<Sleep>>,
}

impl<IO> Tracked<IO> {
    /// `io`, admitted as `conn`.
    pub fn new(io: IO, conn: Arc<Conn>) -> Self {
        Tracked {
            io,
            conn,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// The wrapped socket.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The connection's state.
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// `Ready(Err)` once the deadline passed; otherwise arms the timer and returns `Pending`.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            let mut s = self.conn.state.lock().unwrap();
            if s.closed {
                return Poll::Ready(io::ErrorKind::TimedOut.into());
            }
            let Some((at, reason)) = self.conn.deadline(&s) else {
                s.reader = Some(cx.waker().clone());
                return Poll::Pending;
            };
            if Instant::now() >= at {
                drop(s);
                self.conn.close(reason);
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, reason.as_str()));
            }
            s.reader = Some(cx.waker().clone());
            drop(s);
            if self.sleep.deadline() != at {
                self.sleep.as_mut().reset(at);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<IO> Tracked<IO> {
    /// An HTTP/1 response still being written is not idleness (its handler has returned, its
    /// body may be long). HTTP/2 writes include pings, so they do not count.
    fn wrote(&self, n: usize) {
        if n > 0 && self.conn.http1 {
            let mut s = self.conn.state.lock().unwrap();
            if let Phase::Idle(_) = s.phase {
                s.phase = Phase::Idle(Instant::now());
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(e) = this.poll_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() > before && this.conn.http1 {
            let mut s = this.conn.state.lock().unwrap();
            if let Phase::Idle(_) = s.phase {
                s.phase = Phase::Headers(Instant::now());
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.wrote(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        this.wrote(n);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Tracked<tokio::net::TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
