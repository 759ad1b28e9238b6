//! dozor-collector: receives OTLP metrics from dozor agents, keeps the latest state of every
//! series, and exposes it to Prometheus; receives OTLP logs and indexes them in Elasticsearch.
//!
//! ```text
//! receivers/otlp_grpc, receivers/otlp_http  ->  Pipeline (translate)  ->  store (+ fleet)
//!                  |                                                         |
//!                  |                          exporters/prometheus  <--------+
//!                  +-- logs -> outbox (disk) -> exporters/elasticsearch -> _bulk
//! ```
//!
//! [`serve`] binds every listener, starts them and returns the bound addresses, so that tests
//! and `main` run exactly the same server.

pub mod admin;
pub mod admission;
pub mod config;
pub mod delivery;
pub mod exporters;
pub mod loadgen;
pub mod receivers;
pub mod spans;
pub mod store;
pub mod telemetry;

use config::Config;
use delivery::Delivery;
use dozor_metrics::translate::Options;
use receivers::Pipeline;
use receivers::conn;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use store::fleet::Fleet;
use telemetry::events::SeriesExpired;
use telemetry::{Receiver, Telemetry};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

/// Why the collector could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An endpoint is not an `IP:port` (the configuration check reports this first).
    #[error("{component}: invalid address {endpoint:?}")]
    Address {
        /// The component whose endpoint it is.
        component: &'static str,
        /// The configured value.
        endpoint: String,
    },
    /// A listener could not be bound (port in use, no permission).
    #[error("{component}: cannot listen on {address}: {source}")]
    Bind {
        /// The component.
        component: &'static str,
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// `auth.tokens_file` could not be loaded.
    #[error("auth.tokens_file: {0}")]
    Tokens(#[from] admission::tokens::TokensError),
    /// A TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(String),
    /// The delivery ledger could not be read or written.
    #[error("delivery.ledger_path: {0}")]
    Ledger(#[from] delivery::ledger::LedgerError),
    /// The Elasticsearch exporter could not start (outbox, secrets, TLS).
    #[error("{0}")]
    Elasticsearch(#[from] exporters::elasticsearch::StartError),
    /// The remote_write exporter could not start (outbox, secrets, TLS).
    #[error("{0}")]
    RemoteWrite(#[from] exporters::remote_write::StartError),
    /// `spans.routes` could not be built (an OpenAPI file unreadable since it was checked).
    #[error("spans.routes: {0}")]
    Routes(String),
    /// The traces forwarder could not be built.
    #[error("{0}")]
    Forward(#[from] exporters::traces_otlp::ForwardError),
    /// `admin.token_file` could not be used.
    #[error("{0}")]
    Admin(#[from] admin::server::AdminError),
    /// A server failed while running.
    #[error("{component}: {message}")]
    Server {
        /// The component.
        component: &'static str,
        /// What failed.
        message: String,
    },
}

/// The addresses the collector actually listens on (port 0 in the configuration resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addrs {
    /// OTLP/gRPC receiver.
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP receiver.
    pub otlp_http: SocketAddr,
    /// Prometheus exporter.
    pub prometheus: SocketAddr,
    /// Admin endpoint (`None`: off, or its port was taken).
    pub admin: Option<SocketAddr>,
}

/// A running collector.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addrs: Addrs,
    /// The pipeline its receivers feed, for in-process inspection.
    pub pipeline: Pipeline,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), ServeError>>,
}

impl Running {
    /// Waits until a server fails; returns its error. Never returns while all are healthy.
    pub async fn failed(&mut self) -> ServeError {
        loop {
            match self.tasks.join_next().await {
                Some(Ok(Err(e))) => return e,
                Some(Ok(Ok(()))) => continue,
                Some(Err(e)) => {
                    return ServeError::Server {
                        component: "collector",
                        message: format!("task panicked: {e}"),
                    };
                }
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Reads `auth.tokens_file` again (SIGHUP). On error the tokens in use stay.
    pub fn reload_tokens(&self) -> Result<(), admission::tokens::TokensError> {
        self.pipeline.gate.reload_tokens()
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for every server.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        // Requests still arriving on open connections are told to go elsewhere or come back.
        self.pipeline.gate.drain();
        let _ = self.stop.send(true);
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                result = Err(e);
            }
        }
        // Every request has finished: the RED metrics of the last spans are stored once more.
        let p = self.pipeline.clone();
        let _ = tokio::task::spawn_blocking(move || p.spans.flush(&p)).await;
        if let Some(forwarder) = self.pipeline.spans.forwarder() {
            forwarder.drop_queued();
        }
        // The ledger holds every request; leave it compacted.
        self.pipeline.delivery.close();
        if let Some(outbox) = &self.pipeline.logs
            && let Err(e) = outbox.sync()
        {
            tracing::warn!(error = %e, "Syncing the logs outbox failed.");
        }
        if let Some(rw) = &self.pipeline.remote_write {
            rw.sync();
        }
        result
    }
}

async fn bind(component: &'static str, endpoint: &str) -> Result<TcpListener, ServeError> {
    let address: SocketAddr = endpoint.parse().map_err(|_| ServeError::Address {
        component,
        endpoint: endpoint.to_string(),
    })?;
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind {
            component,
            address,
            source,
        })
}

fn local_addr(component: &'static str, l: &TcpListener) -> Result<SocketAddr, ServeError> {
    l.local_addr().map_err(|e| ServeError::Server {
        component,
        message: e.to_string(),
    })
}

/// Binds every listener and starts the receivers, the exporter and the expiry sweeper.
pub async fn serve(config: &Config) -> Result<Running, ServeError> {
    let grpc = bind("otlp_grpc", &config.receivers.otlp_grpc.endpoint).await?;
    let http = bind("otlp_http", &config.receivers.otlp_http.endpoint).await?;
    let prom = bind("prometheus", &config.exporters.prometheus.endpoint).await?;
    let addrs = Addrs {
        otlp_grpc: local_addr("otlp_grpc", &grpc)?,
        otlp_http: local_addr("otlp_http", &http)?,
        prometheus: local_addr("prometheus", &prom)?,
        admin: None,
    };
    let admin_token = admin::server::token(&config.admin.token_file)?;
    let s = &config.store;
    let d = &config.delivery;
    let delivery = if d.ledger_path.is_empty() {
        Delivery::in_memory(s.agent_ttl.0)
    } else {
        Delivery::with_ledger(Path::new(&d.ledger_path), d.ledger_max_bytes, s.agent_ttl.0)?
    };
    let telemetry = Arc::new(Telemetry::new());
    let (logs, sender) = match &config.exporters.elasticsearch {
        Some(es) => {
            let (outbox, sender) = exporters::elasticsearch::start(es, &telemetry)?;
            (Some(outbox), Some(sender))
        }
        None => (None, None),
    };
    let (remote_write, rw_senders) =
        match exporters::remote_write::start(&config.exporters.remote_write, &telemetry)? {
            Some((exporter, senders)) => (Some(exporter), senders),
            None => (None, Vec::new()),
        };
    let forwarder = match &config.spans.forward {
        Some(f) => Some(Arc::new(exporters::traces_otlp::Forwarder::new(
            f,
            telemetry.clone(),
        )?)),
        None => None,
    };
    let pipeline = Pipeline {
        store: Arc::new(Store::new(
            s.max_series,
            s.series_ttl.0,
            Telemetry::reserved_names(),
        )),
        fleet: Arc::new(Fleet::new(s.agent_ttl.0)),
        telemetry: telemetry.clone(),
        options: Arc::new(Options {
            promote: s.resource_to_labels.clone(),
        }),
        delivery: Arc::new(delivery),
        gate: Arc::new(gate(config)?),
        budget: budget(config.limits.per_agent.max_series, s.series_ttl.0),
        unidentified_budget: budget(config.limits.unidentified.max_series, s.series_ttl.0),
        logs,
        bounds: (&config.limits.request).into(),
        point_bounds: (&config.limits.point).into(),
        spans: Arc::new(
            spans::Spans::new(&config.spans, forwarder, telemetry.clone())
                .map_err(|e| ServeError::Routes(e.to_string()))?,
        ),
        remote_write,
    };
    let (stop, stopped) = watch::channel(false);
    let signal = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = JoinSet::new();
    let limit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);

    let conns = |receiver| {
        receivers::conn::Conns::new(
            receiver,
            pipeline.telemetry.clone(),
            (&config.limits.connections).into(),
        )
    };

    let (p, sig) = (pipeline.clone(), signal());
    let grpc_limit = limit(config.receivers.otlp_grpc.max_request_bytes);
    let grpc_tls = &config.receivers.otlp_grpc.tls;
    let grpc_tls = if grpc_tls.enabled() {
        Some(receivers::otlp_grpc::tls_config(grpc_tls).map_err(ServeError::Tls)?)
    } else {
        None
    };
    let grpc_conns = conns(Some(Receiver::OtlpGrpc));
    tasks.spawn(async move {
        receivers::otlp_grpc::serve(grpc, grpc_conns, p, grpc_limit, grpc_tls, sig)
            .await
            .map_err(|e| server_error("otlp_grpc", e))
    });
    let router = receivers::otlp_http::router(
        pipeline.clone(),
        limit(config.receivers.otlp_http.max_request_bytes),
    );
    let (sig, http_conns) = (signal(), conns(Some(Receiver::OtlpHttp)));
    let http_tls = &config.receivers.otlp_http.tls;
    if http_tls.enabled() {
        let tls = receivers::tls::server_config(http_tls, "receivers.otlp_http", &[b"http/1.1"])
            .map_err(ServeError::Tls)?;
        let listener = receivers::tls::TlsListener::new(http, tls, http_conns);
        tasks.spawn(async move {
            conn::serve_http(listener, router, sig).await;
            Ok(())
        });
    } else {
        let listener = conn::Plain {
            listener: http,
            conns: http_conns,
        };
        tasks.spawn(async move {
            conn::serve_http(listener, router, sig).await;
            Ok(())
        });
    }
    let router = exporters::prometheus::router(
        pipeline.clone(),
        config.exporters.prometheus.created_samples,
    );
    // The exporter has no counters of its own: its connections are limited alike, uncounted.
    let (sig, listener) = (
        signal(),
        conn::Plain {
            listener: prom,
            conns: conns(None),
        },
    );
    tasks.spawn(async move {
        conn::serve_http(listener, router, sig).await;
        Ok(())
    });
    if let Some(sender) = sender {
        let sig = signal();
        tasks.spawn(async move {
            sender.run(sig).await;
            Ok(())
        });
    }
    for sender in rw_senders {
        let sig = signal();
        tasks.spawn(async move {
            sender.run(sig).await;
            Ok(())
        });
    }
    if let Some(forwarder) = pipeline.spans.forwarder() {
        let sig = signal();
        tasks.spawn(async move {
            forwarder.run(sig).await;
            Ok(())
        });
    }
    tasks.spawn({
        let (p, sig) = (pipeline.clone(), signal());
        let interval = config.spans.flush_interval.0;
        async move {
            spans::Spans::run(p, interval, sig).await;
            Ok(())
        }
    });
    tasks.spawn(sweep(
        pipeline.clone(),
        s.series_ttl.0,
        s.agent_ttl.0,
        signal(),
    ));

    let mut addrs = addrs;
    addrs.admin = start_admin(config, &pipeline, admin_token, &mut tasks, signal()).await;
    info!(address = %addrs.otlp_grpc, "OTLP/gRPC receiver listening.");
    info!(address = %addrs.otlp_http, "OTLP/HTTP receiver listening.");
    info!(address = %addrs.prometheus, "Prometheus exporter listening.");
    Ok(Running {
        addrs,
        pipeline,
        stop,
        tasks,
    })
}

/// Starts the admin endpoint. A port already taken is logged, not fatal: the endpoint is for
/// the CLI, and must never stop telemetry from flowing.
async fn start_admin(
    config: &Config,
    pipeline: &Pipeline,
    token: Option<Arc<[u8]>>,
    tasks: &mut JoinSet<Result<(), ServeError>>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<SocketAddr> {
    let address = config.admin.address()?.ok()?;
    let listener = match TcpListener::bind(address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%address, error = %e, "Admin endpoint cannot listen; `dozor-collector status` will not reach this collector (admin.listen).");
            return None;
        }
    };
    let bound = listener.local_addr().ok()?;
    let prometheus = config.exporters.prometheus.endpoint.parse().ok()?;
    let context = admin::snapshot::Context::new(config, prometheus);
    let router = admin::server::router(pipeline.clone(), context, token);
    let p = pipeline.clone();
    tasks.spawn(async move {
        admin::server::serve(listener, &p, router, stop).await;
        Ok(())
    });
    info!(address = %bound, "Admin endpoint listening.");
    Some(bound)
}

fn budget(max_series: u64, ttl: Duration) -> Option<Arc<store::budget::SeriesBudget>> {
    (max_series > 0).then(|| {
        Arc::new(store::budget::SeriesBudget::new(
            usize::try_from(max_series).unwrap_or(usize::MAX),
            ttl,
        ))
    })
}

fn gate(config: &Config) -> Result<admission::Gate, ServeError> {
    let tokens = &config.auth.tokens_file;
    let m = &config.limits.memory;
    let limit = match m.limit {
        0 => {
            let (limit, why) = admission::memory::automatic_limit();
            info!(
                limit,
                why, "Memory limit set automatically (limits.memory.limit)."
            );
            limit
        }
        n => n,
    };
    let memory = admission::memory::MemoryLimiter::new(limit, m.spike, m.reserved);
    Ok(admission::Gate::new(
        (!tokens.is_empty()).then(|| tokens.into()),
        Some(memory),
        config.limits.per_agent.points_per_second,
        config.limits.unidentified.points_per_second,
    )?)
}

fn server_error(component: &'static str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Server {
        component,
        message: e.to_string(),
    }
}

/// Expires series and agents in the background, about ten times per `series_ttl` (between
/// every 50 ms and every 10 s), so memory is released even when nobody scrapes.
async fn sweep(
    pipeline: Pipeline,
    ttl: Duration,
    agent_ttl: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let period = (ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(10));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = ticks.tick() => {}
        }
        let p = pipeline.clone();
        let expired = tokio::task::spawn_blocking(move || {
            p.fleet.expire();
            p.delivery.expire();
            p.gate.expire(agent_ttl);
            if let Some(b) = &p.budget {
                b.expire();
            }
            p.store.expire()
        })
        .await
        .unwrap_or(0);
        SeriesExpired { count: expired }.emit(&pipeline.telemetry);
    }
}
