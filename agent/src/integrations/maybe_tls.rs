//! A client connection in the clear or over TLS (rustls), read and written alike: the NATS
//! client's (which starts TLS after the server's `INFO`) and the HTTP probe's.

use rustls::{ClientConnection, StreamOwned};
use std::io::{Read, Write};

/// The connection over `S` (a `TcpStream`, or one with deadlines of its own).
pub enum MaybeTls<S: Read + Write> {
    /// In the clear.
    Plain(S),
    /// Over TLS.
    Tls(Box<StreamOwned<ClientConnection, S>>),
}

impl<S: Read + Write> Read for MaybeTls<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.read(buf),
            MaybeTls::Tls(s) => s.read(buf),
        }
    }
}

impl<S: Read + Write> Write for MaybeTls<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.write(buf),
            MaybeTls::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.flush(),
            MaybeTls::Tls(s) => s.flush(),
        }
    }
}
