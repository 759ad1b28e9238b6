//! The `flow` integration's metrics: order-flow reconciliation across systems.

/// Every flow metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[];
