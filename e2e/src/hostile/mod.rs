//! Hostile OTLP metrics requests for the collector's memory tests (issue #10): bodies built to
//! decode to as much memory as possible per byte on the wire, and floods of new series.
//!
//! The protobuf is written by hand, inside out, so that an 8 MiB body takes milliseconds to
//! build. Field numbers are those of opentelemetry-proto's `metrics/v1/metrics.proto` and
//! `common/v1/common.proto`; the tests below decode every body with prost to check them.
//! Sending them is in [`send`], measuring the collector's memory in [`rss`].

pub mod rss;
pub mod send;

use std::io::Write;

/// A body close to the receivers' default `max_request_bytes` (8 MiB), with room for the
/// wrapping messages, so that it is not refused as too large on the wire.
pub const BODY_BYTES: usize = 8_300_000;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends field `field` (wire type 2, length-delimited) holding `payload`.
fn bytes_field(out: &mut Vec<u8>, field: u64, payload: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Appends field `field` as a 64-bit fixed value (wire type 1).
fn fixed64_field(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3 | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `KeyValue` with a string value.
fn string_kv(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    bytes_field(&mut any, 1, value.as_bytes()); // AnyValue.string_value
    let mut kv = Vec::new();
    bytes_field(&mut kv, 1, key.as_bytes()); // KeyValue.key
    bytes_field(&mut kv, 2, &any); // KeyValue.value
    kv
}

/// An `ExportMetricsServiceRequest` of one resource (string attributes `resource`), one scope
/// and one metric `name` whose `data` (field `data_field` of `Metric`: 5 gauge, 9 histogram)
/// is `data`.
fn request(resource: &[(&str, &str)], name: &str, data_field: u64, data: &[u8]) -> Vec<u8> {
    let mut metric = Vec::with_capacity(data.len() + 64);
    bytes_field(&mut metric, 1, name.as_bytes()); // Metric.name
    bytes_field(&mut metric, data_field, data);
    let mut scope = Vec::with_capacity(metric.len() + 8);
    bytes_field(&mut scope, 2, &metric); // ScopeMetrics.metrics
    let mut res = Vec::new();
    for (k, v) in resource {
        bytes_field(&mut res, 1, &string_kv(k, v)); // Resource.attributes
    }
    let mut rm = Vec::with_capacity(scope.len() + res.len() + 16);
    bytes_field(&mut rm, 1, &res); // ResourceMetrics.resource
    bytes_field(&mut rm, 2, &scope); // ResourceMetrics.scope_metrics
    let mut out = Vec::with_capacity(rm.len() + 8);
    bytes_field(&mut out, 1, &rm); // ExportMetricsServiceRequest.resource_metrics
    out
}

/// (a) One gauge of `points` empty `NumberDataPoint`s, two bytes each on the wire
/// (`Gauge.data_points`, field 1, length 0) and about a hundred once decoded.
/// [`empty_points_body`] fills 8 MiB with them.
pub fn empty_points(resource: &[(&str, &str)], points: usize) -> Vec<u8> {
    let data = [0x0a, 0x00].repeat(points);
    request(resource, "hostile_empty_points", 5, &data)
}

/// (a) at [`BODY_BYTES`]: about 4.15 million empty points.
pub fn empty_points_body(resource: &[(&str, &str)]) -> Vec<u8> {
    empty_points(resource, BODY_BYTES / 2)
}

/// (b) One gauge point carrying `attributes` empty `KeyValue`s, two bytes each
/// (`NumberDataPoint.attributes`, field 7, length 0). [`tiny_attributes_body`] fills 8 MiB.
pub fn tiny_attributes(resource: &[(&str, &str)], points: usize, attributes: usize) -> Vec<u8> {
    let mut point = [0x3a, 0x00].repeat(attributes);
    fixed64_field(&mut point, 3, now_nanos()); // NumberDataPoint.time_unix_nano
    let mut data = Vec::with_capacity((point.len() + 4) * points);
    for _ in 0..points {
        bytes_field(&mut data, 1, &point); // Gauge.data_points
    }
    request(resource, "hostile_tiny_attributes", 5, &data)
}

/// (b) at [`BODY_BYTES`]: one point with about 4 million empty attributes.
pub fn tiny_attributes_body(resource: &[(&str, &str)]) -> Vec<u8> {
    tiny_attributes(resource, 1, BODY_BYTES / 2 - 8)
}

/// (b) within the default `limits.request` bounds (100,000 points, 1,000,000 attributes):
/// 99,000 points of 10 empty attributes each, about 2.4 MB. What is left to an attacker once
/// the bounds are enforced.
pub fn bounded_attributes_body(resource: &[(&str, &str)]) -> Vec<u8> {
    tiny_attributes(resource, 99_000, 10)
}

/// (c) A cumulative histogram of `points` points, each a series of its own (attribute
/// `p=<i>`), with `buckets` bucket counts and `buckets - 1` explicit bounds (packed fixed64 and
/// double, `HistogramDataPoint` fields 6 and 7). [`deep_histograms_body`] fills 8 MiB.
pub fn deep_histograms(resource: &[(&str, &str)], points: usize, buckets: usize) -> Vec<u8> {
    let now = now_nanos();
    let counts: Vec<u8> = (0..buckets as u64).flat_map(|i| i.to_le_bytes()).collect();
    let bounds: Vec<u8> = (1..buckets)
        .flat_map(|i| (i as f64).to_le_bytes())
        .collect();
    let total = (buckets as u64) * (buckets as u64 - 1) / 2;
    let mut data = Vec::with_capacity((counts.len() + bounds.len() + 64) * points + 8);
    for p in 0..points {
        let mut point = Vec::with_capacity(counts.len() + bounds.len() + 64);
        bytes_field(&mut point, 9, &string_kv("p", &p.to_string())); // attributes
        fixed64_field(&mut point, 2, now - 60_000_000_000); // start_time_unix_nano
        fixed64_field(&mut point, 3, now); // time_unix_nano
        fixed64_field(&mut point, 4, total); // count
        bytes_field(&mut point, 6, &counts); // bucket_counts
        bytes_field(&mut point, 7, &bounds); // explicit_bounds
        bytes_field(&mut data, 1, &point); // Histogram.data_points
    }
    data.extend_from_slice(&[0x10, 0x02]); // Histogram.aggregation_temporality = CUMULATIVE
    request(resource, "hostile_deep_histograms", 9, &data)
}

/// (c) at [`BODY_BYTES`]: 2,000 histograms of 256 buckets (within `limits.point.max_buckets`,
/// 512 by default), so each is stored as a series of 257 samples.
pub fn deep_histograms_body(resource: &[(&str, &str)]) -> Vec<u8> {
    deep_histograms(resource, 2_000, 256)
}

/// (d) A flood request: one gauge of `series` points, each with attribute `series` set to
/// `<tag>-<round>-<i>`, so every request creates `series` new series. 50,000 series make
/// about 2.3 MB.
pub fn flood(resource: &[(&str, &str)], tag: &str, round: u64, series: usize) -> Vec<u8> {
    let now = now_nanos();
    let mut data = Vec::with_capacity(series * 48);
    let mut point = Vec::with_capacity(64);
    for i in 0..series {
        point.clear();
        bytes_field(
            &mut point,
            7,
            &string_kv("series", &format!("{tag}-{round}-{i}")),
        );
        fixed64_field(&mut point, 3, now); // time_unix_nano
        fixed64_field(&mut point, 4, (i as f64).to_bits()); // as_double
        bytes_field(&mut data, 1, &point); // Gauge.data_points
    }
    request(resource, "hostile_flood", 5, &data)
}

/// The gzip of `body`, for `content-encoding: gzip` / `grpc-encoding: gzip`.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(body).expect("gzip into memory");
    e.finish().expect("gzip into memory")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use prost::Message;

    const RES: &[(&str, &str)] = &[("service.instance.id", "hostile")];

    fn decode(body: &[u8]) -> Data {
        let req = ExportMetricsServiceRequest::decode(body).expect("a valid request");
        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(attrs[0].key, "service.instance.id");
        rm.scope_metrics[0].metrics[0].data.clone().unwrap()
    }

    #[test]
    fn empty_points_decode_to_that_many_default_points() {
        let Data::Gauge(g) = decode(&empty_points(RES, 1000)) else {
            panic!("not a gauge")
        };
        assert_eq!(g.data_points.len(), 1000);
        assert_eq!(g.data_points[7], Default::default());
        let body = empty_points_body(RES);
        assert!(
            body.len() < 8 * 1024 * 1024 && body.len() > 8_000_000,
            "{}",
            body.len()
        );
    }

    #[test]
    fn tiny_attributes_decode_to_empty_key_values() {
        let Data::Gauge(g) = decode(&tiny_attributes(RES, 3, 500)) else {
            panic!("not a gauge")
        };
        assert_eq!(g.data_points.len(), 3);
        assert_eq!(g.data_points[2].attributes.len(), 500);
        assert!(g.data_points[2].time_unix_nano > 0);
        assert!(tiny_attributes_body(RES).len() < 8 * 1024 * 1024);
        assert!(bounded_attributes_body(RES).len() < 8 * 1024 * 1024);
    }

    #[test]
    fn deep_histograms_decode_with_their_buckets() {
        let Data::Histogram(h) = decode(&deep_histograms(RES, 4, 100)) else {
            panic!("not a histogram")
        };
        assert_eq!(h.aggregation_temporality, 2);
        let p = &h.data_points[3];
        assert_eq!((p.bucket_counts.len(), p.explicit_bounds.len()), (100, 99));
        assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
        assert_eq!(p.attributes[0].key, "p");
        assert!(deep_histograms_body(RES).len() < 8 * 1024 * 1024);
    }

    #[test]
    fn a_flood_request_holds_fifty_thousand_new_series_in_about_two_megabytes() {
        let body = flood(RES, "f", 7, 50_000);
        assert!(
            (2_000_000..2_600_000).contains(&body.len()),
            "{}",
            body.len()
        );
        let Data::Gauge(g) = decode(&body) else {
            panic!("not a gauge")
        };
        assert_eq!(g.data_points.len(), 50_000);
        let p = &g.data_points[49_999];
        assert_eq!(p.attributes[0].key, "series");
        assert_eq!(format!("{:?}", p.value), "Some(AsDouble(49999.0))");
        assert_eq!(
            format!("{:?}", p.attributes[0].value.as_ref().unwrap().value),
            "Some(StringValue(\"f-7-49999\"))"
        );
    }
}
