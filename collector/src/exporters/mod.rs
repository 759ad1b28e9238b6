//! Where the collected data goes: series to Prometheus (pull) and to remote_write endpoints
//! (push), log records to Elasticsearch, received traces (optionally) to a tracing backend.

pub mod elasticsearch;
pub mod prometheus;
pub mod remote_write;
pub mod traces_otlp;

use crate::config::elasticsearch::ClientTls;

/// Adds a client's TLS files to its builder: the CA bundle it then trusts instead of the
/// system's roots, and its own certificate and key (mutual TLS). `read` reads a file for a
/// configuration key; `tls_err` wraps what reqwest refused.
pub(crate) fn with_tls<E>(
    mut builder: reqwest::ClientBuilder,
    tls: &ClientTls,
    read: impl Fn(&'static str, &str) -> Result<Vec<u8>, E>,
    tls_err: impl Fn(reqwest::Error) -> E,
) -> Result<reqwest::ClientBuilder, E> {
    if !tls.ca_file.is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(&read("tls.ca_file", &tls.ca_file)?)
            .map_err(&tls_err)?;
        builder = builder.tls_certs_only(certs);
    }
    if !tls.cert_file.is_empty() {
        let mut pem = read("tls.cert_file", &tls.cert_file)?;
        pem.push(b'\n');
        pem.extend_from_slice(&read("tls.key_file", &tls.key_file)?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem).map_err(&tls_err)?);
    }
    Ok(builder)
}

/// An error with its causes ("error sending request: connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
