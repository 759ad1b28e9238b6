//! The probes against responders of the tests' own in network namespaces, with delays and
//! losses the tests inject themselves.

mod icmp;
mod tcp;
