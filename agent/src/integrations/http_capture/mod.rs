//! HTTP/1.x RED from captured packets (placeholder: the integration wiring lands with branch capint).

#![allow(dead_code, unused_imports)] // until the integration (branch capint) uses it

mod flows;
#[cfg(test)]
mod fuzz;
mod http1;
mod tcp;

pub use flows::{Event, Flows, Limits, Segment};
