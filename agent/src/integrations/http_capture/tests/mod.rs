//! Tests of the `http_capture` integration.

mod config;
