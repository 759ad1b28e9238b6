//! The `access_log` integration's own metrics: how it reads each configured web-server access
//! log (see `agent/src/integrations/access_log` and docs/access-logs.md). The requests it reads
//! become the HTTP RED metrics of [`super::http`].
//!
//! Every series carries `access_log.instance`, the name the log has in the agent's
//! configuration. Counters count since the integration started (the agent's start): a line is
//! either parsed or rejected, once; rejection reasons and rotation kinds are fixed sets, all
//! exported from the first collection on, at 0 until they happen.

metrics! {
    section: "Access logs (`access_log` integration)",
    emitter: "access_log",
    metrics: {
        LINES_PARSED {
            name: "dozor.access_log.lines.parsed",
            instrument: Counter,
            unit: "{line}",
            attributes: ["access_log.instance"],
            source: "complete lines of the log that matched the format and became one request each",
            description: "Access-log lines read and turned into a request.",
        },
        LINES_REJECTED {
            name: "dozor.access_log.lines.rejected",
            instrument: Counter,
            unit: "{line}",
            attributes: ["access_log.instance", "reason"],
            source: "complete lines refused, by reason: format (does not match the format), json (not a JSON object), request (no method and path), status, duration, time, too_long (over max_line_bytes, skipped to its newline), truncated (an unfinished last line of a rotated file)",
            description: "Access-log lines read and refused, by reason; they are in no RED metric.",
        },
        ROTATIONS {
            name: "dozor.access_log.rotations",
            instrument: Counter,
            unit: "{rotation}",
            attributes: ["access_log.instance", "kind"],
            source: "kind rename (the path names another file: the old one was read to its end first), truncate (the file shrank or its first bytes changed: copytruncate; read again from 0), replaced (at start, the saved position belongs to another file: inode reused or rotated while the agent was down)",
            description: "Rotations of the access log seen by the agent, by kind.",
        },
        BYTES_READ {
            name: "dozor.access_log.read",
            instrument: Counter,
            unit: "By",
            attributes: ["access_log.instance"],
            source: "bytes of the log consumed (complete lines, parsed or not)",
            description: "Bytes of the access log read.",
        },
        BYTES_BEHIND {
            name: "dozor.access_log.behind",
            instrument: Gauge,
            unit: "By",
            attributes: ["access_log.instance"],
            source: "file size minus the read position after the collection (plus what is left of a rotated file still being read); above 0 when max_bytes_per_collect stopped the collection",
            description: "Bytes of the access log written but not read yet.",
        },
    }
}
