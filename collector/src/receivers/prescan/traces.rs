//! `ExportTraceServiceRequest` (collector/trace/v1, trace/v1), walked field by field. Spans
//! count as data points, span events and links as nothing of their own (their attributes
//! count); the estimate covers decoding, as for logs: turning spans into RED metrics borrows
//! from the decoded request.

use super::metrics::{resource, scope};
use super::values::Attributes;
use super::wire::{Field, Fields};
use super::{Over, Tally, pushed, string};
use dozor_metrics::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span};

/// The request: `resource_spans` (1).
pub(super) fn request(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    let mut n = 0;
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(rs)) = (number, field) {
            n += 1;
            resource_spans(rs, t)?;
        }
    }
    t.heap(pushed::<ResourceSpans>(n));
    Ok(())
}

/// `ResourceSpans`: resource (1), scope_spans (2), schema_url (3).
fn resource_spans(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.resource()?;
    let mut scopes = 0;
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(r)) => drop(resource(r, t)?),
            (2, Field::Bytes(ss)) => {
                scopes += 1;
                scope_spans(ss, t)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<ScopeSpans>(scopes));
    Ok(())
}

/// `ScopeSpans`: scope (1), spans (2), schema_url (3).
fn scope_spans(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.resource()?;
    let mut spans = 0;
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(s)) => scope(s, t)?,
            (2, Field::Bytes(s)) => {
                spans += 1;
                span(s, t)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<Span>(spans));
    Ok(())
}

/// `Span`: trace_id (1), span_id (2), trace_state (3), parent_span_id (4), name (5),
/// attributes (9), events (11), links (13), status (15).
fn span(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.data_point()?;
    let mut attrs = Attributes::default();
    let (mut events, mut links) = (0, 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1..=5, Field::Bytes(s)) => t.heap(string(s.len())),
            (9, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (11, Field::Bytes(e)) => {
                events += 1;
                nested(e, 3, &[2], t)?;
            }
            (13, Field::Bytes(l)) => {
                links += 1;
                nested(l, 4, &[1, 2, 3], t)?;
            }
            (15, Field::Bytes(s)) => nested(s, 0, &[2], t)?,
            _ => {}
        }
    }
    attrs.finish(t);
    t.heap(pushed::<span::Event>(events) + pushed::<span::Link>(links));
    Ok(())
}

/// An `Event`, a `Link` or a `Status`: its attributes in field `attributes` (none when 0)
/// and its strings or bytes in `strings`.
fn nested(bytes: &[u8], attributes: u32, strings: &[u32], t: &mut Tally) -> Result<(), Over> {
    let mut attrs = Attributes::default();
    for (number, field) in Fields::new(bytes) {
        match field {
            Field::Bytes(kv) if attributes != 0 && number == attributes => attrs.add(kv, t)?,
            Field::Bytes(s) if strings.contains(&number) => t.heap(string(s.len())),
            _ => {}
        }
    }
    attrs.finish(t);
    Ok(())
}
