//! TCP connect probes: the time of the three-way handshake to `host:port`, and why it failed:
//! `refused` (a reset: nothing listens), `timeout` (no answer: a filter drops, or the host is
//! down), `unreachable` (an ICMP error or no route), `resolve`.

use super::config::ProbeConfig;
use super::resolve::{Family, resolve, split_host_port};
use super::{Failure, Probe, remaining};
use crate::integrations::Context;
use dozor_config::At;
use dozor_metrics::sample::Recorder;
use serde::Deserialize;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// `tcp`: connect to an address.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct TcpProbe {
    /// `host:port`, e.g. `mes-db.plant:5432` or `[fd00::5]:5432`.
    pub address: String,
    /// Address family: `auto`, `ipv4` or `ipv6`.
    pub family: Family,
}

impl ProbeConfig for TcpProbe {
    fn validate(&self, at: &mut At<'_>) {
        if let Err(e) = split_host_port(&self.address) {
            at.error("address", e);
        }
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        let (host, port) = split_host_port(&self.address)?;
        Ok(Box::new(Tcp {
            host: host.to_string(),
            port,
            family: self.family,
        }))
    }
}

/// A configured TCP probe.
#[derive(Debug)]
pub struct Tcp {
    host: String,
    port: u16,
    family: Family,
}

impl Probe for Tcp {
    fn kind(&self) -> &'static str {
        "tcp"
    }

    fn run(&mut self, _: &str, deadline: Instant, _: &mut Recorder) -> Result<Duration, Failure> {
        let (ip, _) = resolve(&self.host, self.family, deadline)?;
        let addr = SocketAddr::new(ip, self.port);
        let left = remaining(deadline, "connect")?;
        let start = Instant::now();
        let stream =
            TcpStream::connect_timeout(&addr, left).map_err(|e| connect_failure(&addr, &e))?;
        let took = start.elapsed();
        drop(stream);
        Ok(took)
    }
}

/// The reason and detail of a failed connect; shared with the HTTP probe.
pub fn connect_failure(addr: &SocketAddr, e: &std::io::Error) -> Failure {
    let reason = match e.kind() {
        ErrorKind::ConnectionRefused => "refused",
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
        ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::AddrNotAvailable => "unreachable",
        _ => "connect",
    };
    Failure::new(reason, format!("connect {addr}: {e}"))
}
