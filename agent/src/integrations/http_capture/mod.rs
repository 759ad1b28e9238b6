//! The `http_capture` integration: HTTP/1.x RED (rate, errors, duration, in-flight requests)
//! of the traffic on the configured interfaces and server ports, from libpcap, without touching
//! the applications.
//!
//! A thread per interface reads packets ([`capture`]), decodes them down to TCP segments
//! ([`decode`]), reassembles the streams and pairs requests with responses ([`flows`]), and
//! turns the pairs into the catalogue's `http.*` series ([`red`], through `dozor_red::Red`). A
//! collection copies the series, the capture's own counters (`dozor.http_capture.*`) and
//! libpcap's drop counters. With `pcap_file`, the file is read whole at the first collection.
//! HTTPS is not decrypted: use access logs or spans there.

mod capture;
mod config;
mod decode;
mod flows;
#[cfg(test)]
mod fuzz;
mod http1;
mod red;
mod state;
mod tcp;
#[cfg(test)]
mod tests;

pub use config::Config;

use super::{Context, Integration, IntegrationError, Scheduled, Section};
use dozor_config::At;
use dozor_metrics::sample::Recorder;
use dozor_red::{Red, RedConfig, Routes};
use flows::Flows;
use state::{Failure, Shared, Source, State};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the first collection waits for the captures to open, so that a permission or a
/// missing interface is its error rather than a silent first run.
const FIRST_OPEN_WAIT: Duration = Duration::from_secs(5);

impl Section for Config {
    fn validate(&self, at: &mut At<'_>) {
        self.check(at);
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled {
            return Vec::new();
        }
        let (interval, timeout) = ctx.schedule(self.interval, self.timeout);
        match HttpCapture::start(self) {
            Ok(c) => vec![Scheduled {
                integration: Box::new(c),
                interval,
                timeout,
            }],
            Err(e) => {
                tracing::error!(integration = "http_capture", error = %e, "Cannot build.");
                Vec::new()
            }
        }
    }
}

/// The running integration: the shared state and, for a file, whether it was read.
pub struct HttpCapture {
    cfg: Config,
    shared: Arc<Shared>,
    file_read: bool,
}

impl HttpCapture {
    /// Starts a capture thread per interface (none for a file).
    pub fn start(cfg: &Config) -> Result<HttpCapture, IntegrationError> {
        let routes = Routes::new(&cfg.routes)
            .map_err(|e| IntegrationError::new("config", format!("routes: {e}")))?;
        let red = Red::new(
            routes,
            RedConfig {
                max_series: cfg.max_series,
                give_up: cfg.give_up.0,
                max_in_flight: cfg.max_in_flight,
            },
        );
        let mut to_red = red::ToRed::new(cfg.side, cfg.services.clone());
        to_red.set_local(local_addresses());
        let sources = match &cfg.pcap_file {
            Some(_) => vec![Source {
                name: "file".into(),
                attempted: true,
                ..Source::default()
            }],
            None => cfg
                .interfaces
                .iter()
                .map(|i| Source {
                    name: i.clone(),
                    ..Source::default()
                })
                .collect(),
        };
        let state = State::new(Flows::new(cfg.limits.limits()), red, to_red, sources);
        let shared = Arc::new(Shared::new(state));
        if cfg.pcap_file.is_none() {
            for index in 0..cfg.interfaces.len() {
                let (cfg, shared) = (cfg.clone(), Arc::clone(&shared));
                std::thread::Builder::new()
                    .name(format!("capture-{}", cfg.interfaces[index]))
                    .spawn(move || capture::run_live(index, cfg, shared))?;
            }
        }
        Ok(HttpCapture {
            cfg: cfg.clone(),
            shared,
            file_read: false,
        })
    }

    /// Records the series as of `now_ns` (the newest packet of a file).
    fn record(&self, rec: &mut Recorder) {
        let mut state = self.shared.lock();
        let now = if self.cfg.pcap_file.is_some() {
            state.clock()
        } else {
            capture::now_ns()
        };
        state.record(now, rec);
    }
}

#[cfg(test)]
impl HttpCapture {
    /// Every exchange observed so far (method, target, status, nanoseconds).
    pub fn seen(&self) -> Vec<(String, String, u16, u64)> {
        self.shared.lock().to_red.seen.clone()
    }
}

impl Drop for HttpCapture {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Integration for HttpCapture {
    fn name(&self) -> &str {
        "http_capture"
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        if self.cfg.pcap_file.is_some() {
            if !self.file_read {
                self.file_read = true;
                let mut state = self.shared.lock();
                if let Err(f) = capture::read_file(&self.cfg, &mut state) {
                    state.sources[0].failure = Some(f);
                }
            }
        } else {
            self.shared.wait_attempted(FIRST_OPEN_WAIT);
            let local = local_addresses();
            self.shared.lock().to_red.set_local(local);
        }
        self.record(rec);
        let state = self.shared.lock();
        let failures: Vec<&Failure> = state
            .sources
            .iter()
            .filter_map(|s| s.failure.as_ref())
            .collect();
        match failures.first() {
            None => Ok(()),
            Some(first) => Err(IntegrationError::new(
                first.kind,
                failures
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }
}

/// This host's addresses (every interface's), for `side: auto`; loopback is always local.
fn local_addresses() -> HashSet<IpAddr> {
    pcap::Device::list()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|d| d.addresses.into_iter().map(|a| a.addr))
        .collect()
}
