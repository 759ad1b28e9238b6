//! `INFO clients memory`: client connections and memory, parsed from the `field:value` lines.

use dozor_metrics::catalogue::redis as m;
use dozor_metrics::sample::Recorder;

/// What is read from `INFO`.
#[derive(Debug, Default, PartialEq)]
pub struct Info {
    pub connected_clients: Option<f64>,
    pub blocked_clients: Option<f64>,
    pub used_memory: Option<f64>,
    pub maxmemory: Option<f64>,
}

/// The fields of an `INFO` reply; unknown and malformed lines are ignored.
pub fn parse(text: &str) -> Info {
    let mut info = Info::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim_end().split_once(':') else {
            continue;
        };
        let slot = match k {
            "connected_clients" => &mut info.connected_clients,
            "blocked_clients" => &mut info.blocked_clients,
            "used_memory" => &mut info.used_memory,
            "maxmemory" => &mut info.maxmemory,
            _ => continue,
        };
        *slot = v.parse().ok();
    }
    info
}

/// Records what `info` holds.
pub fn record(rec: &mut Recorder, instance: &str, info: &Info) {
    for (metric, v) in [
        (&m::CLIENTS_CONNECTED, info.connected_clients),
        (&m::CLIENTS_BLOCKED, info.blocked_clients),
        (&m::MEMORY_USED, info.used_memory),
        (&m::MAXMEMORY, info.maxmemory),
    ] {
        if let Some(v) = v {
            rec.record(metric, v, &[instance]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_captured_reply() {
        // Redis 7.0.15, `INFO clients memory` (trimmed).
        let text = "# Clients\r\nconnected_clients:3\r\ncluster_connections:0\r\nmaxclients:10000\r\nblocked_clients:1\r\ntracking_clients:0\r\n\r\n# Memory\r\nused_memory:1006680\r\nused_memory_human:983.09K\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n";
        assert_eq!(
            parse(text),
            Info {
                connected_clients: Some(3.0),
                blocked_clients: Some(1.0),
                used_memory: Some(1006680.0),
                maxmemory: Some(0.0),
            }
        );
        assert_eq!(parse("garbage\r\nused_memory:x\r\n"), Info::default());
    }
}
