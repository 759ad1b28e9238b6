//! `ExportLogsServiceRequest` (collector/logs/v1, logs/v1), walked field by field. Log records
//! count as data points; the estimate covers decoding.

use super::metrics::{resource, scope};
use super::values::{Attributes, any_value};
use super::wire::{Field, Fields};
use super::{Over, Tally, pushed, string};
use dozor_metrics::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

/// The request: `resource_logs` (1).
pub(super) fn request(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    let mut n = 0;
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(rl)) = (number, field) {
            n += 1;
            resource_logs(rl, t)?;
        }
    }
    t.heap(pushed::<ResourceLogs>(n));
    Ok(())
}

/// `ResourceLogs`: resource (1), scope_logs (2), schema_url (3).
fn resource_logs(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.resource()?;
    let mut scopes = 0;
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(r)) => drop(resource(r, t)?),
            (2, Field::Bytes(sl)) => {
                scopes += 1;
                scope_logs(sl, t)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<ScopeLogs>(scopes));
    Ok(())
}

/// `ScopeLogs`: scope (1), log_records (2), schema_url (3).
fn scope_logs(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.resource()?;
    let mut records = 0;
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(s)) => scope(s, t)?,
            (2, Field::Bytes(r)) => {
                records += 1;
                log_record(r, t)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<LogRecord>(records));
    Ok(())
}

/// `LogRecord`: severity_text (3), body (5), attributes (6), trace_id (9), span_id (10),
/// event_name (12).
fn log_record(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.data_point()?;
    let mut attrs = Attributes::default();
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (3 | 9 | 10 | 12, Field::Bytes(s)) => t.heap(string(s.len())),
            (5, Field::Bytes(body)) => drop(any_value(body, 1, t)?),
            (6, Field::Bytes(kv)) => attrs.add(kv, t)?,
            _ => {}
        }
    }
    attrs.finish(t);
    Ok(())
}
