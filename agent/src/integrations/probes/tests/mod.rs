//! The probes against responders of the tests' own in network namespaces, with delays and
//! losses the tests inject themselves.

mod dns;
mod http;
mod icmp;
mod tcp;

use super::Config;
use crate::integrations::{Context, Integration, Scheduled, Section};
use dozor_metrics::sample::{Recorder, Sample};
use dozor_testkit::netns::Netns;
use std::time::Duration;

/// The integrations of a `probes` section (YAML under `integrations.probes`).
pub fn build(section: &str) -> Vec<Scheduled> {
    let text = format!("integrations:\n  probes:\n{}", indent(section, 4));
    let config: Config = crate::integrations::testing::load(&text).unwrap();
    config.build(&Context::for_tests(
        Duration::from_secs(10),
        Duration::from_secs(5),
    ))
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

/// One run of `probe`, inside `ns`: what it recorded and how long the run took.
pub fn run_in(ns: &Netns, probe: &mut dyn Integration) -> (Vec<Sample>, Duration) {
    ns.run(|| {
        let mut rec = Recorder::new();
        let start = std::time::Instant::now();
        probe.collect(&mut rec).unwrap();
        (rec.take(), start.elapsed())
    })
}

/// `iptables` (or `ip6tables`) with `args`, inside `ns`: the tests' drops, rejects and
/// NFQUEUE holds (this kernel has the xtables targets, not nftables' `queue` and `reject`).
pub fn iptables(ns: &Netns, v6: bool, args: &str) {
    let mut argv = vec![if v6 { "ip6tables" } else { "iptables" }];
    argv.extend(args.split_whitespace());
    ns.sh(&argv);
}
