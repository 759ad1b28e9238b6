//! The metric catalogue: every metric dozor emits is declared here exactly once.
//!
//! A declaration carries what OpenTelemetry's mdatagen `metadata.yaml` carries: name, instrument,
//! unit (UCUM), attributes, description and the source the value is read from. The Prometheus name
//! is derived from it by [`crate::naming`], never typed by hand.
//!
//! Each file below is one section of the reference, written as one [`metrics!`] invocation that
//! declares every metric of the section once and makes its `ALL` list and its [`Section`] from
//! the same text; [`SECTIONS`] lists the files once. `docs/metrics.md` is generated from
//! [`SECTIONS`] (`UPDATE_GOLDEN=1 cargo test -p dozor-metrics --test generated`), and the tests in
//! `tests/content.rs` check that dashboards and alerts only query names this catalogue can
//! produce.
//!
//! A metric is a [`Metric<N>`], `N` being its number of attributes: recording it takes exactly
//! `N` attribute values ([`crate::sample::Recorder::record`]), so a call with a missing or an extra
//! attribute does not build, and only this crate can make one.

/// Declares one section of the catalogue: a `pub static` [`Metric`] per entry (every field named
/// at the declaration), the section's `ALL` in declaration order, and its `SECTION`.
macro_rules! metrics {
    (
        section: $title:literal,
        emitter: $emitter:literal,
        metrics: { $(
            $ident:ident {
                name: $name:literal,
                instrument: $inst:ident,
                unit: $unit:literal,
                attributes: [$($attr:literal),* $(,)?],
                source: $source:literal,
                description: $desc:literal $(,)?
            }
        ),* $(,)? }
    ) => {
        $(
            #[doc = $desc]
            pub static $ident: $crate::catalogue::Metric<{ <[&str]>::len(&[$($attr),*]) }> =
                $crate::catalogue::Metric($crate::catalogue::MetricDef {
                    name: $name,
                    description: $desc,
                    unit: $unit,
                    instrument: $crate::catalogue::Instrument::$inst,
                    attributes: &[$($attr),*],
                    source: $source,
                    emitter: $emitter,
                });
        )*

        /// Every metric of this section, in documentation order.
        pub static ALL: &[&$crate::catalogue::MetricDef] = &[$(&$ident.0),*];

        /// This section of the reference.
        pub static SECTION: $crate::catalogue::Section = $crate::catalogue::Section {
            title: $title,
            metrics: ALL,
        };
    };
}

pub mod access_log;
pub mod agent;
pub mod collector;
pub mod container;
pub mod demo;
pub mod flow;
pub mod host;
pub mod http;
pub mod http_capture;
pub mod kafka;
pub mod mysql;
pub mod nats;
pub mod postgresql;
pub mod probes;
pub mod rabbitmq;
pub mod redis;
pub mod reference;
pub mod remote_write;
pub mod sql;
pub mod tcp_info;

/// The sections of the reference, in its order; together they hold every metric once. One line
/// per catalogue file.
pub static SECTIONS: &[&Section] = &[
    &host::SECTION,
    &container::SECTION,
    &postgresql::SECTION,
    &mysql::SECTION,
    &rabbitmq::SECTION,
    &kafka::SECTION,
    &nats::SECTION,
    &redis::SECTION,
    &tcp_info::SECTION,
    &http::SECTION,
    &http_capture::SECTION,
    &access_log::SECTION,
    &probes::SECTION,
    &flow::SECTION,
    &sql::SECTION,
    &demo::SECTION,
    &agent::SECTION,
    &collector::SECTION,
    &remote_write::SECTION,
];

/// One section of the reference: the metrics of one integration or component.
#[derive(Debug)]
pub struct Section {
    /// Heading in `docs/metrics.md`.
    pub title: &'static str,
    /// Its metrics, in documentation order.
    pub metrics: &'static [&'static MetricDef],
}

/// A catalogue metric with `N` attributes; only [`metrics!`] makes one. Dereferences to its
/// [`MetricDef`].
#[derive(Debug, PartialEq)]
pub struct Metric<const N: usize>(pub(crate) MetricDef);

impl<const N: usize> std::ops::Deref for Metric<N> {
    type Target = MetricDef;

    fn deref(&self) -> &MetricDef {
        &self.0
    }
}

impl<const N: usize> Metric<N> {
    /// The declaration.
    pub const fn def(&'static self) -> &'static MetricDef {
        &self.0
    }
}

/// The kind of OpenTelemetry instrument a metric is recorded with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrument {
    /// Monotonic cumulative sum: Prometheus `counter`, name ends in `_total`.
    Counter,
    /// Non-monotonic cumulative sum (a level that can go down): Prometheus `gauge`.
    UpDownCounter,
    /// Last observed value: Prometheus `gauge`.
    Gauge,
    /// Distribution with explicit bucket bounds: Prometheus `histogram`.
    Histogram,
}

impl Instrument {
    /// The name used in the generated reference.
    pub fn as_str(self) -> &'static str {
        match self {
            Instrument::Counter => "counter",
            Instrument::UpDownCounter => "updowncounter",
            Instrument::Gauge => "gauge",
            Instrument::Histogram => "histogram",
        }
    }
}

/// One declared metric.
#[derive(Debug, PartialEq)]
pub struct MetricDef {
    /// OpenTelemetry name, e.g. `system.cpu.time`.
    pub name: &'static str,
    /// One sentence, shown as the Prometheus `# HELP`.
    pub description: &'static str,
    /// UCUM unit: `s`, `By`, `1`, `{packet}`.
    pub unit: &'static str,
    /// The instrument kind.
    pub instrument: Instrument,
    /// Attribute keys every data point carries, in this order.
    pub attributes: &'static [&'static str],
    /// Where the value comes from (file, field, query), for the reference.
    pub source: &'static str,
    /// The integration or component that emits it (`host`, `agent`, `collector`).
    pub emitter: &'static str,
}

impl MetricDef {
    /// The Prometheus metric family name the collector exposes for this metric.
    pub fn prometheus_name(&self) -> String {
        crate::naming::metric_name(self.name, self.unit, self.prometheus_kind())
    }

    /// The Prometheus metric type this metric is exposed as.
    pub fn prometheus_kind(&self) -> crate::exposition::Kind {
        use crate::exposition::Kind;
        match self.instrument {
            Instrument::Counter => Kind::Counter,
            Instrument::UpDownCounter | Instrument::Gauge => Kind::Gauge,
            Instrument::Histogram => Kind::Histogram,
        }
    }

    /// Every Prometheus series name this metric can produce (histograms add suffixes).
    pub fn prometheus_series_names(&self) -> Vec<String> {
        let base = self.prometheus_name();
        match self.instrument {
            Instrument::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{base}{s}"))
                .collect(),
            _ => vec![base],
        }
    }

    /// The Prometheus label names of this metric's attributes.
    pub fn prometheus_labels(&self) -> Vec<String> {
        self.attributes
            .iter()
            .map(|a| crate::naming::label_name(a))
            .collect()
    }
}

/// Every metric in the catalogue, in documentation order.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    SECTIONS.iter().flat_map(|s| s.metrics.iter().copied())
}

/// Looks a metric up by its OpenTelemetry name.
pub fn by_name(name: &str) -> Option<&'static MetricDef> {
    all().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_in_both_namings() {
        let mut otel = HashSet::new();
        let mut prom = HashSet::new();
        for m in all() {
            assert!(otel.insert(m.name), "{} declared twice", m.name);
            assert!(
                prom.insert(m.prometheus_name()),
                "{} collides in Prometheus as {}",
                m.name,
                m.prometheus_name()
            );
        }
    }

    #[test]
    fn declarations_are_complete() {
        for m in all() {
            assert!(!m.description.is_empty(), "{}: no description", m.name);
            assert!(
                m.description.ends_with('.'),
                "{}: description must be a sentence",
                m.name
            );
            assert!(!m.unit.is_empty(), "{}: no unit", m.name);
            assert!(!m.source.is_empty(), "{}: no source", m.name);
            let keys: HashSet<_> = m.attributes.iter().collect();
            assert_eq!(
                keys.len(),
                m.attributes.len(),
                "{}: repeated attribute",
                m.name
            );
        }
    }
}
