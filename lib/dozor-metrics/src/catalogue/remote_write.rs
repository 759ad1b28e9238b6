//! The collector's metrics about its Prometheus remote_write exporter, one series set per
//! configured endpoint (`endpoint` is the configured URL).

metrics! {
    section: "Collector remote_write exporter",
    emitter: "collector",
    metrics: {
        REMOTE_WRITE_PENDING_SAMPLES {
            name: "dozor.collector.remote_write.pending.samples",
            instrument: UpDownCounter,
            unit: "{sample}",
            attributes: ["endpoint"],
            source: "samples in the endpoint's outbox not yet settled (sent, or refused for good); too high by the settled part of the oldest outbox segment while it is partly settled",
            description: "Samples waiting in the collector's outbox for a remote_write endpoint.",
        },
        REMOTE_WRITE_OLDEST_PENDING_AGE {
            name: "dozor.collector.remote_write.oldest.pending.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["endpoint"],
            source: "now minus the time the oldest outbox record not yet settled was appended (when the collector accepted it); 0 when the outbox is empty",
            description: "How long the oldest sample waiting for a remote_write endpoint has waited.",
        },
        REMOTE_WRITE_SENT_SAMPLES {
            name: "dozor.collector.remote_write.sent.samples",
            instrument: Counter,
            unit: "{sample}",
            attributes: ["endpoint"],
            source: "samples in remote_write requests the endpoint answered with 2xx",
            description: "Samples a remote_write endpoint accepted.",
        },
        REMOTE_WRITE_FAILED_SAMPLES {
            name: "dozor.collector.remote_write.failed.samples",
            instrument: Counter,
            unit: "{sample}",
            attributes: ["endpoint", "reason"],
            source: "samples the endpoint refused for good, never retried: too_old (Prometheus 500 \"too old sample\", older than its out_of_order_time_window; or 400 \"out of bounds\", older than its head block), out_of_order (400 \"out of order sample\" or \"duplicate sample for timestamp\"), rejected (another 4xx but 429: bad request, authentication). A refused request is split by time to find the samples refused",
            description: "Samples a remote_write endpoint refused for good, by reason.",
        },
        REMOTE_WRITE_REQUESTS {
            name: "dozor.collector.remote_write.requests",
            instrument: Counter,
            unit: "{request}",
            attributes: ["endpoint", "status"],
            source: "remote_write requests by HTTP status code of the answer, or transport_error (no answer: refused, reset, TLS, timeout); transport errors, 429 and 5xx but \"too old sample\" are retried with backoff",
            description: "Requests sent to a remote_write endpoint, by status.",
        },
        REMOTE_WRITE_OUTBOX_SIZE {
            name: "dozor.collector.remote_write.outbox.size",
            instrument: UpDownCounter,
            unit: "By",
            attributes: ["endpoint"],
            source: "bytes of the endpoint's outbox segment files on disk (at most exporters.remote_write[].outbox.max_bytes)",
            description: "Bytes on disk of the collector's outbox for a remote_write endpoint.",
        },
        REMOTE_WRITE_DROPPED_SAMPLES {
            name: "dozor.collector.remote_write.dropped.samples",
            instrument: Counter,
            unit: "{sample}",
            attributes: ["endpoint", "reason"],
            source: "samples the collector lost before sending: outbox_full (the oldest dropped to make room), outbox_error (appending to the outbox failed: disk error), corrupt (outbox records found corrupt, at start or while reading), delta (delta-temporality points: the pull endpoint adds them up, remote_write needs cumulative points)",
            description: "Samples meant for a remote_write endpoint that the collector dropped, by reason.",
        },
    }
}
