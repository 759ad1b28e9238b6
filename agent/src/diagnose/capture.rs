//! `capture`: with `http_capture` on a live interface, the process holds CAP_NET_RAW and
//! CAP_NET_ADMIN (libpcap opens a packet socket and may set promiscuous mode), read from the
//! effective set in `/proc/self/status`.

use super::report::Outcome;
use super::{Check, Ctx};
use std::sync::Arc;
use std::time::Duration;

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// The check, when `http_capture` is on.
pub fn check(ctx: &Arc<Ctx>) -> Option<Check> {
    let c = &ctx.config.integrations.http_capture;
    if !c.enabled {
        return None;
    }
    let from_file = c.pcap_file.is_some();
    Some(Check::new(
        "capture",
        Duration::from_secs(1),
        move |_| async move {
            if from_file {
                return Outcome::skip("http_capture reads a pcap_file: no capability needed");
            }
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            examine(&status)
        },
    ))
}

/// The verdict from the text of `/proc/<pid>/status`.
fn examine(status: &str) -> Outcome {
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    else {
        return Outcome::warn(
            "cannot read the effective capabilities",
            "none: check that capture works with `dozor-agent check http_capture`",
        );
    };
    let has = |bit: u32| eff & (1 << bit) != 0;
    let missing: Vec<&str> = [
        (CAP_NET_RAW, "CAP_NET_RAW"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
    ]
    .into_iter()
    .filter(|(b, _)| !has(*b))
    .map(|(_, n)| n)
    .collect();
    if missing.is_empty() {
        return Outcome::pass("CAP_NET_RAW and CAP_NET_ADMIN are effective");
    }
    Outcome::fail(
        format!(
            "{} not effective: http_capture cannot open its interfaces",
            missing.join(" and ")
        ),
        "`setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/dozor-agent`, or under systemd a drop-in with `AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN` and `CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;

    #[test]
    fn reads_the_effective_set() {
        assert_eq!(
            examine("Name:\tx\nCapEff:\t000001ffffffffff\n").status,
            Status::Pass
        );
        let none = examine("CapEff:\t0000000000000000\n");
        assert_eq!(none.status, Status::Fail);
        assert!(
            none.detail.contains("CAP_NET_RAW and CAP_NET_ADMIN"),
            "{}",
            none.detail
        );
        let raw_only = examine("CapEff:\t0000000000002000\n");
        assert!(
            raw_only.detail.starts_with("CAP_NET_ADMIN not"),
            "{}",
            raw_only.detail
        );
    }
}
