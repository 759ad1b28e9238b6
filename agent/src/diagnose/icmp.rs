//! `icmp`: with ICMP probes configured, the agent may open an ICMP socket. The probe itself is
//! run once against 127.0.0.1, so the verdict and its fix are the probe's own permission check
//! (a datagram socket by `net.ipv4.ping_group_range`, else a raw one by CAP_NET_RAW).

use super::report::Outcome;
use super::{Check, Ctx};
use crate::integrations::probes::Probe;
use crate::integrations::probes::icmp::{Icmp, IcmpProbe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The check, when a probe target uses ICMP.
pub fn check(ctx: &Arc<Ctx>) -> Option<Check> {
    let probes = &ctx.config.integrations.probes;
    if !probes.enabled || !probes.instances.iter().any(|t| t.icmp.is_some()) {
        return None;
    }
    Some(Check::blocking("icmp", Duration::from_secs(3), |w| {
        w.on("an ICMP echo to 127.0.0.1");
        let mut probe = Icmp::new(&IcmpProbe {
            host: "127.0.0.1".into(),
            count: 1,
            ..IcmpProbe::default()
        });
        let mut rec = dozor_metrics::sample::Recorder::new();
        match probe.run(
            "diagnose",
            Instant::now() + Duration::from_secs(2),
            &mut rec,
        ) {
            Ok(rtt) => Outcome::pass(format!(
                "an ICMP socket opens; 127.0.0.1 answered in {:.2} ms",
                rtt.as_secs_f64() * 1000.0
            )),
            Err(f) if f.reason == "permission" || f.reason == "socket" => {
                Outcome::fail("the ICMP probes cannot open a socket", f.message)
            }
            Err(f) => Outcome::pass(format!(
                "an ICMP socket opens (the echo to 127.0.0.1: {})",
                f.message
            )),
        }
    }))
}
