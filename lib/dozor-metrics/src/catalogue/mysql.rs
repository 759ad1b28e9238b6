//! The `mysql` integration's metrics.

/// Every mysql metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[];
