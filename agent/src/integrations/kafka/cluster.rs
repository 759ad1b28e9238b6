//! The connections of one collection's client: to the bootstrap servers, to each broker by node
//! id (from Metadata), and to each group's coordinator (FindCoordinator, cached across
//! collections until a broker says it moved).

use super::client::{ClientError, Conn, Counts};
use super::security::Security;
use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use std::collections::HashMap;
use std::time::Instant;

/// The node id under which the bootstrap connection is kept.
pub const BOOTSTRAP: i32 = -1;

/// Connections and what is known of the cluster, kept across collections.
pub struct Cluster {
    bootstrap: Vec<String>,
    client_id: String,
    /// TLS and SASL of every connection.
    security: Security,
    /// `host:port` of each broker, from the last Metadata.
    pub brokers: HashMap<i32, String>,
    conns: HashMap<i32, Conn>,
    /// Each group's coordinator's node id.
    coordinators: HashMap<String, i32>,
    /// Requests sent since the agent started, by API.
    pub counts: Counts,
    /// The current collection's deadline.
    pub deadline: Instant,
    /// Every request's API in the order sent (tests check that offsets are read in order).
    #[cfg(test)]
    pub order: Vec<&'static str>,
}

impl Cluster {
    pub fn new(bootstrap: Vec<String>, client_id: String, security: Security) -> Cluster {
        Cluster {
            bootstrap,
            client_id,
            security,
            brokers: HashMap::new(),
            conns: HashMap::new(),
            coordinators: HashMap::new(),
            counts: Counts::new(),
            deadline: Instant::now(),
            #[cfg(test)]
            order: Vec::new(),
        }
    }

    /// The address of `node`, for messages.
    pub fn addr(&self, node: i32) -> String {
        match self.conns.get(&node) {
            Some(c) => c.addr().to_string(),
            None => self
                .brokers
                .get(&node)
                .cloned()
                .unwrap_or_else(|| format!("broker {node}")),
        }
    }

    /// Sends `req` to `node` (or [`BOOTSTRAP`]), connecting first if needed. A failed call
    /// closes the connection, so that the next one starts clean.
    pub fn call<R: Request>(
        &mut self,
        node: i32,
        req: &R,
        lo: i16,
        hi: i16,
    ) -> Result<R::Response, ClientError> {
        // A request for any broker goes to an open connection; a broker reached through the
        // bootstrap connection keeps it (one connection, one ApiVersions, per broker).
        let node = match node {
            BOOTSTRAP => self.conns.keys().copied().min().unwrap_or(BOOTSTRAP),
            n => n,
        };
        // A connection whose SASL session is ending is opened (and authenticated) again.
        self.conns.retain(|_, c| !c.expired());
        if !self.conns.contains_key(&node) {
            let same = self.conns.get(&BOOTSTRAP).map(|c| c.addr())
                == self.brokers.get(&node).map(String::as_str);
            let conn = match self.conns.remove(&BOOTSTRAP) {
                Some(c) if same => c,
                other => {
                    if let Some(c) = other {
                        self.conns.insert(BOOTSTRAP, c);
                    }
                    self.open(node)?
                }
            };
            self.conns.insert(node, conn);
        }
        #[cfg(test)]
        self.order.push(super::client::api_name(R::KEY));
        let conn = self.conns.get_mut(&node).expect("inserted above");
        let result = conn.call(
            req,
            lo,
            hi,
            &self.client_id,
            self.deadline,
            &mut self.counts,
        );
        if result.is_err() {
            self.conns.remove(&node);
        }
        result
    }

    fn open(&mut self, node: i32) -> Result<Conn, ClientError> {
        if node != BOOTSTRAP {
            let addr = self
                .brokers
                .get(&node)
                .cloned()
                .ok_or(ClientError::Connect {
                    addr: format!("broker {node}"),
                    reason: "the cluster's metadata names no such broker".into(),
                })?;
            return Conn::open(
                &addr,
                &self.client_id,
                &self.security,
                self.deadline,
                &mut self.counts,
            );
        }
        let mut last = None;
        for addr in &self.bootstrap {
            match Conn::open(
                addr,
                &self.client_id,
                &self.security,
                self.deadline,
                &mut self.counts,
            ) {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ClientError::Connect {
            addr: "bootstrap_servers".into(),
            reason: "the list is empty".into(),
        }))
    }

    /// Drops every connection (after a collection that failed on a timeout).
    pub fn reset(&mut self) {
        self.conns.clear();
    }

    /// The coordinator of `group`, asked once and cached.
    pub fn coordinator(&mut self, group: &str) -> Result<i32, CoordinatorError> {
        if let Some(&node) = self.coordinators.get(group) {
            return Ok(node);
        }
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let resp: FindCoordinatorResponse = self.call(BOOTSTRAP, &req, 0, 3)?;
        if resp.error_code != 0 {
            return Err(CoordinatorError::Broker(resp.error_code));
        }
        let node = resp.node_id.0;
        self.brokers
            .entry(node)
            .or_insert_with(|| format!("{}:{}", resp.host.as_str(), resp.port));
        self.coordinators.insert(group.to_string(), node);
        Ok(node)
    }

    /// Forgets `group`'s coordinator (after NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE).
    pub fn forget_coordinator(&mut self, group: &str) {
        self.coordinators.remove(group);
    }
}

/// Why a group's coordinator is unknown.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("FindCoordinator answered error code {0}")]
    Broker(i16),
}
