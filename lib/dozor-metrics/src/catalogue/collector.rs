//! The collector's metrics about itself and about the fleet of agents sending to it.

use crate::metric;

metric!(
    RECEIVED_POINTS {
        name: "dozor.collector.received.points",
        instrument: Counter,
        unit: "{point}",
        attributes: ["receiver"],
        source: "data points in accepted OTLP requests (receiver=otlp_grpc or otlp_http)",
        description: "Data points accepted by the collector's receivers.",
    },
    "collector"
);

metric!(
    REQUESTS {
        name: "dozor.collector.requests",
        instrument: Counter,
        unit: "{request}",
        attributes: ["receiver", "outcome"],
        source: "OTLP export requests (metrics and logs), outcome=accepted or refused",
        description: "OTLP export requests received, by outcome.",
    },
    "collector"
);

metric!(
    REFUSED_REQUESTS {
        name: "dozor.collector.refused.requests",
        instrument: Counter,
        unit: "{request}",
        attributes: ["receiver", "reason"],
        source: "refused OTLP requests (metrics and logs) by reason: decode_error, too_large, unsupported_media_type, bad_encoding, method_not_allowed, not_found, bad_delivery_header, unauthenticated, rate_limited, memory_limit, shutting_down, logs_disabled (OTLP logs without exporters.elasticsearch), outbox_full (the Elasticsearch outbox is full: retry later)",
        description: "OTLP export requests the collector refused, by reason.",
    },
    "collector"
);

metric!(
    DROPPED_POINTS {
        name: "dozor.collector.dropped.points",
        instrument: Counter,
        unit: "{point}",
        attributes: ["reason"],
        source: "data points in accepted requests that could not be stored: unsupported_type (exponential histograms, summaries), invalid (no value, malformed histogram), series_limit (store.max_series reached), name_conflict (a family name already held with another type), out_of_order (older than the point held for its series: accepted, not an error to the sender), series_budget (a new series over limits.per_agent.max_series, folded into the overflow series otel_metric_overflow=\"true\" instead)",
        description: "Data points accepted but not stored, by reason.",
    },
    "collector"
);

metric!(
    SERIES {
        name: "dozor.collector.series",
        instrument: UpDownCounter,
        unit: "{series}",
        attributes: [],
        source: "the series store",
        description: "Series currently held by the series store.",
    },
    "collector"
);

metric!(
    SERIES_EXPIRED {
        name: "dozor.collector.series.expired",
        instrument: Counter,
        unit: "{series}",
        attributes: [],
        source: "series removed because no point arrived within series_ttl",
        description: "Series that went stale and were removed.",
    },
    "collector"
);

metric!(
    AGENT_LAST_SEEN {
        name: "dozor.collector.agent.last_seen_timestamp",
        instrument: Gauge,
        unit: "s",
        attributes: ["agent", "host.name", "site", "role"],
        source: "wall clock when the last accepted request from that agent (resource service.instance.id) arrived",
        description: "Unix time the collector last accepted data from each agent.",
    },
    "collector"
);

metric!(
    AGENTS {
        name: "dozor.collector.agents",
        instrument: UpDownCounter,
        unit: "{agent}",
        attributes: [],
        source: "the fleet view",
        description: "Agents the collector has heard from within agent_ttl.",
    },
    "collector"
);

metric!(
    DELIVERY_ACCEPTED_BATCHES {
        name: "dozor.collector.delivery.accepted.batches",
        instrument: Counter,
        unit: "{batch}",
        attributes: ["agent"],
        source: "requests with dozor-stream/dozor-seq headers stored for the first time, per agent",
        description: "Sequenced batches from each agent stored by the collector.",
    },
    "collector"
);

metric!(
    DELIVERY_DUPLICATE_BATCHES {
        name: "dozor.collector.delivery.duplicate.batches",
        instrument: Counter,
        unit: "{batch}",
        attributes: ["agent"],
        source: "sequenced batches received again (seq below the floor or already received): answered OK, not stored",
        description: "Batches each agent delivered more than once.",
    },
    "collector"
);

metric!(
    DELIVERY_DUPLICATE_POINTS {
        name: "dozor.collector.delivery.duplicate.points",
        instrument: Counter,
        unit: "{point}",
        attributes: ["agent"],
        source: "data points in duplicate batches, not stored (log records, for a logs stream)",
        description: "Data points in batches each agent delivered more than once.",
    },
    "collector"
);

metric!(
    DELIVERY_MISSING_BATCHES {
        name: "dozor.collector.delivery.missing.batches",
        instrument: Counter,
        unit: "{batch}",
        attributes: ["agent"],
        source: "sequence numbers below the agent's dozor-oldest that never arrived (gaps), per agent",
        description: "Batches each agent will never deliver: gaps in its sequence numbers.",
    },
    "collector"
);

metric!(
    DELIVERY_LEDGER_ERRORS {
        name: "dozor.collector.delivery.ledger.errors",
        instrument: Counter,
        unit: "{error}",
        attributes: [],
        source: "ledger lines that could not be parsed at start, and ledger writes or compactions that failed",
        description: "Errors reading or writing the delivery ledger file.",
    },
    "collector"
);

metric!(
    RECEIVED_LOG_RECORDS {
        name: "dozor.collector.received.log_records",
        instrument: Counter,
        unit: "{log_record}",
        attributes: ["receiver"],
        source: "log records in accepted OTLP logs requests, appended to the Elasticsearch outbox (duplicate batches excluded)",
        description: "Log records accepted by the collector's receivers.",
    },
    "collector"
);

metric!(
    REFUSED_LOG_RECORDS {
        name: "dozor.collector.refused.log_records",
        instrument: Counter,
        unit: "{log_record}",
        attributes: ["receiver", "reason"],
        source: "log records in decoded OTLP logs requests that were refused (rate_limited, outbox_full, bad_delivery_header, logs_disabled); requests refused before decoding are only in dozor.collector.refused.requests",
        description: "Log records in OTLP logs requests the collector refused, by reason.",
    },
    "collector"
);

metric!(
    ELASTICSEARCH_DOCUMENTS {
        name: "dozor.collector.elasticsearch.documents",
        instrument: Counter,
        unit: "{document}",
        attributes: ["outcome"],
        source: "bulk item results: indexed (2xx), duplicate (409 under create: already indexed, a redelivery), rejected (other 4xx, e.g. a mapping error: dropped, never retried)",
        description: "Log documents settled in Elasticsearch, by outcome.",
    },
    "collector"
);

metric!(
    ELASTICSEARCH_REJECTED_DOCUMENTS {
        name: "dozor.collector.elasticsearch.rejected.documents",
        instrument: Counter,
        unit: "{document}",
        attributes: ["reason"],
        source: "bulk items Elasticsearch refused for good, by its error.type: mapper_parsing_exception, document_parsing_exception, strict_dynamic_mapping_exception, illegal_argument_exception, index_not_found_exception, security_exception, invalid_index_name_exception, other",
        description: "Log documents Elasticsearch rejected and the collector dropped, by reason.",
    },
    "collector"
);

metric!(
    ELASTICSEARCH_RETRIED_DOCUMENTS {
        name: "dozor.collector.elasticsearch.retried.documents",
        instrument: Counter,
        unit: "{document}",
        attributes: [],
        source: "documents sent again because their bulk item failed with 429 or 5xx, or their whole bulk request failed",
        description: "Log documents sent to Elasticsearch again after a retryable failure.",
    },
    "collector"
);

metric!(
    ELASTICSEARCH_BULK_REQUESTS {
        name: "dozor.collector.elasticsearch.bulk.requests",
        instrument: Counter,
        unit: "{request}",
        attributes: ["outcome"],
        source: "_bulk requests: ok (every item indexed or duplicate), item_errors (some items rejected or retried), http_error (another status for the whole request), transport_error (no answer: refused, reset, TLS, timeout)",
        description: "Bulk requests sent to Elasticsearch, by outcome.",
    },
    "collector"
);

metric!(
    OUTBOX_BATCHES {
        name: "dozor.collector.outbox.batches",
        instrument: UpDownCounter,
        unit: "{batch}",
        attributes: [],
        source: "accepted OTLP logs requests in the Elasticsearch outbox whose documents are not all settled yet",
        description: "Logs batches waiting in the collector's Elasticsearch outbox.",
    },
    "collector"
);

metric!(
    OUTBOX_SIZE {
        name: "dozor.collector.outbox.size",
        instrument: UpDownCounter,
        unit: "By",
        attributes: [],
        source: "bytes of the outbox segment files on disk (at most exporters.elasticsearch.outbox.max_bytes)",
        description: "Bytes on disk of the collector's Elasticsearch outbox.",
    },
    "collector"
);

metric!(
    OUTBOX_DROPPED_BATCHES {
        name: "dozor.collector.outbox.dropped.batches",
        instrument: Counter,
        unit: "{batch}",
        attributes: [],
        source: "outbox records found corrupt at start or while reading, and lost (a full outbox refuses new logs instead of dropping)",
        description: "Accepted logs batches lost from the collector's Elasticsearch outbox.",
    },
    "collector"
);

/// Every collector self-metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[
    &RECEIVED_POINTS,
    &REQUESTS,
    &REFUSED_REQUESTS,
    &DROPPED_POINTS,
    &SERIES,
    &SERIES_EXPIRED,
    &AGENT_LAST_SEEN,
    &AGENTS,
    &DELIVERY_ACCEPTED_BATCHES,
    &DELIVERY_DUPLICATE_BATCHES,
    &DELIVERY_DUPLICATE_POINTS,
    &DELIVERY_MISSING_BATCHES,
    &DELIVERY_LEDGER_ERRORS,
    &RECEIVED_LOG_RECORDS,
    &REFUSED_LOG_RECORDS,
    &ELASTICSEARCH_DOCUMENTS,
    &ELASTICSEARCH_REJECTED_DOCUMENTS,
    &ELASTICSEARCH_RETRIED_DOCUMENTS,
    &ELASTICSEARCH_BULK_REQUESTS,
    &OUTBOX_BATCHES,
    &OUTBOX_SIZE,
    &OUTBOX_DROPPED_BATCHES,
];
