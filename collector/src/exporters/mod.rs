//! Where the collected series go. Prometheus pull today; remote_write and Elasticsearch are
//! planned as further modules here.

pub mod prometheus;
