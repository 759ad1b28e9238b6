//! The `probes` integration's metrics: active probes from the agent's host (an operator's
//! workstation, a server) to each configured target, by TCP connect, ICMP echo, HTTP(S) and DNS
//! (see `agent/src/integrations/probes`). Pushed with the agent's other metrics, so probes from
//! behind NAT need no inbound access.
//!
//! Every series carries `probe.target`, the target's name in the configuration; the agent's
//! `site`, `role` and `desk` resource attributes say where the probe ran from. A probe that
//! failed records `dozor.probe.success` 0, counts the failure by reason in
//! `dozor.probe.failures` (`error.type`: `resolve`, `refused`, `timeout`, `unreachable`,
//! `connect`, `tls`, `certificate_expired`, `certificate_untrusted`, `certificate_name`,
//! `status`, `too_many_redirects`, `body_mismatch`, `header_mismatch`, `protocol`,
//! `permission`, `socket`, `config`, `loss`, `nxdomain`, `servfail`, `rcode`, `mismatch`), and
//! records no duration and no phase it did not complete: a failed probe never exports 0 for
//! something that did not happen.

metrics! {
    section: "Network probes (`probes` integration)",
    emitter: "probes",
    metrics: {
        SUCCESS {
            name: "dozor.probe.success",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["probe.target", "probe.kind"],
            source: "1 when the last run of the probe succeeded (connected, answered, matched), 0 otherwise",
            description: "Whether the last probe of the target succeeded (1) or failed (0).",
        },
        DURATION {
            name: "dozor.probe.duration",
            instrument: Gauge,
            unit: "s",
            attributes: ["probe.target", "probe.kind"],
            source: "tcp: connect time; icmp: mean round trip of the round's answered echoes; http: total time, DNS to last body byte; dns: resolution time",
            description: "How long the last successful probe of the target took; not recorded when it failed.",
        },
        RUNS {
            name: "dozor.probe.runs",
            instrument: Counter,
            unit: "{probe}",
            attributes: ["probe.target", "probe.kind"],
            source: "counted by the agent, one per run of the probe",
            description: "Probes run, since the agent started.",
        },
        FAILURES {
            name: "dozor.probe.failures",
            instrument: Counter,
            unit: "{probe}",
            attributes: ["probe.target", "probe.kind", "error.type"],
            source: "counted by the agent, one per failed run, by the first reason it failed",
            description: "Probes that failed, by reason, since the agent started.",
        },
        HTTP_PHASE {
            name: "dozor.probe.http.phase.duration",
            instrument: Gauge,
            unit: "s",
            attributes: ["probe.target", "probe.phase"],
            source: "probe.phase: resolve (DNS), connect (TCP handshake), tls (TLS handshake), first_byte (request written to first response byte), transfer (first response byte to last body byte); summed over redirects followed; a phase that did not run or did not complete is not recorded",
            description: "Time of each phase of the last HTTP probe of the target.",
        },
        HTTP_STATUS {
            name: "dozor.probe.http.status_code",
            instrument: Gauge,
            unit: "{code}",
            attributes: ["probe.target"],
            source: "the status of the last response (after redirects, when followed); not recorded when no response came",
            description: "HTTP status code of the last HTTP probe of the target.",
        },
        HTTP_BODY_SIZE {
            name: "dozor.probe.http.response.body.size",
            instrument: Gauge,
            unit: "By",
            attributes: ["probe.target"],
            source: "body bytes received (after dechunking, before any decompression) of the last response, at most `max_body` (the body is cut there)",
            description: "Size of the response body of the last HTTP probe of the target.",
        },
        HTTP_REDIRECTS {
            name: "dozor.probe.http.redirects",
            instrument: Gauge,
            unit: "{redirect}",
            attributes: ["probe.target"],
            source: "redirects followed by the last HTTP probe (0 when redirects are not followed)",
            description: "Redirects the last HTTP probe of the target followed.",
        },
        TLS_CERT_EXPIRY {
            name: "dozor.probe.tls.cert.expiry",
            instrument: Gauge,
            unit: "s",
            attributes: ["probe.target"],
            source: "the earliest notAfter of the certificates the server presented in the probe's last TLS handshake (after redirects, the last https hop's), as Unix seconds; recorded when the handshake got that far, also when the chain was refused",
            description: "When the earliest-expiring certificate of the target's chain expires (Unix time).",
        },
        TLS_CHAIN_VALID {
            name: "dozor.probe.tls.chain.valid",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["probe.target"],
            source: "1 when the chain of the probe's last TLS handshake (after redirects, the last https hop's) verifies for the host name against the configured or system roots at the time of the probe, 0 otherwise",
            description: "Whether the target's certificate chain is valid (1) or not (0).",
        },
        ICMP_RTT {
            name: "dozor.probe.icmp.rtt",
            instrument: Gauge,
            unit: "s",
            attributes: ["probe.target", "probe.stat"],
            source: "probe.stat: min, avg, max, stddev (population) of the round trips of the echoes answered in the last round; not recorded when none was answered",
            description: "Round-trip time of the last round of ICMP echoes to the target.",
        },
        ICMP_ROUND_TRIP {
            name: "dozor.probe.icmp.round_trip",
            instrument: Histogram,
            unit: "s",
            attributes: ["probe.target"],
            source: "every answered echo since the agent started",
            description: "Distribution of ICMP echo round trips to the target.",
        },
        ICMP_SENT {
            name: "dozor.probe.icmp.packets.sent",
            instrument: Counter,
            unit: "{packet}",
            attributes: ["probe.target"],
            source: "echo requests sent, counted by the agent",
            description: "ICMP echo requests sent to the target since the agent started.",
        },
        ICMP_RECEIVED {
            name: "dozor.probe.icmp.packets.received",
            instrument: Counter,
            unit: "{packet}",
            attributes: ["probe.target"],
            source: "matching echo replies received before their round ended, counted by the agent",
            description: "ICMP echo replies received from the target since the agent started.",
        },
        ICMP_LOSS {
            name: "dozor.probe.icmp.loss.ratio",
            instrument: Gauge,
            unit: "1",
            attributes: ["probe.target"],
            source: "1 - replies / requests of the last round",
            description: "Share of the last round's ICMP echoes that got no reply.",
        },
        DNS_ANSWERS {
            name: "dozor.probe.dns.answers",
            instrument: Gauge,
            unit: "{record}",
            attributes: ["probe.target"],
            source: "records of the asked type in the answer section of the last response; recorded whenever a reply came, also a failing one",
            description: "Records the last DNS probe of the target got.",
        },
    }
}
