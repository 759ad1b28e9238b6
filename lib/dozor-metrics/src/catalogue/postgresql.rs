//! The `postgresql` integration's metrics.

/// Every postgresql metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[];
