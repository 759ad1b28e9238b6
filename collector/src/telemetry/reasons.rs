//! The label values of the collector's own metrics: receivers and the reasons for refusals and
//! drops. Each enum lists every value, so every series is exposed from the start (at zero).

/// The component that received a request, the `receiver` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// OTLP over gRPC (`receivers/otlp_grpc.rs`).
    OtlpGrpc,
    /// OTLP over HTTP (`receivers/otlp_http.rs`).
    OtlpHttp,
}

impl Receiver {
    /// Every receiver, in label order.
    pub const ALL: [Receiver; 2] = [Receiver::OtlpGrpc, Receiver::OtlpHttp];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Receiver::OtlpGrpc => "otlp_grpc",
            Receiver::OtlpHttp => "otlp_http",
        }
    }
}

/// Why a request was refused, the `reason` label of `dozor.collector.refused.requests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The body is not a valid `ExportMetricsServiceRequest` (or `ExportLogsServiceRequest`).
    DecodeError,
    /// The request, or its decompressed body, exceeds `max_request_bytes`.
    TooLarge,
    /// The `Content-Type` is not `application/x-protobuf`.
    UnsupportedMediaType,
    /// An unsupported `Content-Encoding`/`grpc-encoding`, or a body that does not decompress.
    BadEncoding,
    /// HTTP method other than POST on the export path.
    MethodNotAllowed,
    /// A path or gRPC method the receiver does not serve.
    NotFound,
    /// `dozor-stream`/`dozor-seq` present but a delivery header is missing or malformed.
    BadDeliveryHeader,
    /// No token, or one `auth.tokens_file` does not list.
    Unauthenticated,
    /// The agent sends faster than `limits.per_agent.points_per_second` (retry later).
    RateLimited,
    /// The collector's memory is near `limits.memory.limit` (retry later).
    MemoryLimit,
    /// The collector is shutting down (retry, against another collector or later).
    ShuttingDown,
    /// OTLP logs, but no `exporters.elasticsearch` is configured to take them.
    LogsDisabled,
    /// The Elasticsearch outbox is full (Elasticsearch slow or away): retry later.
    OutboxFull,
    /// The delivery ledger could not record the batch (its disk is full): retry later. A
    /// batch answered OK is always in the ledger.
    LedgerUnwritable,
    /// More data points (or log records) than `limits.request.max_data_points`.
    TooManyPoints,
    /// More attributes than `limits.request.max_attributes`.
    TooManyAttributes,
    /// More resource and scope entries than `limits.request.max_resources`.
    TooManyResources,
    /// A sender not in good standing (new, or over its series budget or rate within the last
    /// minute) while memory is within `limits.memory.reserved` of the limit (retry later).
    MemoryReserved,
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 18] = [
        Refusal::DecodeError,
        Refusal::TooLarge,
        Refusal::UnsupportedMediaType,
        Refusal::BadEncoding,
        Refusal::MethodNotAllowed,
        Refusal::NotFound,
        Refusal::BadDeliveryHeader,
        Refusal::Unauthenticated,
        Refusal::RateLimited,
        Refusal::MemoryLimit,
        Refusal::ShuttingDown,
        Refusal::LogsDisabled,
        Refusal::OutboxFull,
        Refusal::LedgerUnwritable,
        Refusal::TooManyPoints,
        Refusal::TooManyAttributes,
        Refusal::TooManyResources,
        Refusal::MemoryReserved,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::DecodeError => "decode_error",
            Refusal::TooLarge => "too_large",
            Refusal::UnsupportedMediaType => "unsupported_media_type",
            Refusal::BadEncoding => "bad_encoding",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::NotFound => "not_found",
            Refusal::BadDeliveryHeader => "bad_delivery_header",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::RateLimited => "rate_limited",
            Refusal::MemoryLimit => "memory_limit",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::LogsDisabled => "logs_disabled",
            Refusal::OutboxFull => "outbox_full",
            Refusal::LedgerUnwritable => "ledger_unwritable",
            Refusal::TooManyPoints => "too_many_points",
            Refusal::TooManyAttributes => "too_many_attributes",
            Refusal::TooManyResources => "too_many_resources",
            Refusal::MemoryReserved => "memory_reserved",
        }
    }
}

/// Why accepted points were not stored, the `reason` label of `dozor.collector.dropped.points`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Exponential histograms and summaries (no lossless Prometheus form).
    UnsupportedType,
    /// A point without a value, a metric without a name, a malformed histogram.
    Invalid,
    /// A new series while the store already holds `max_series`.
    SeriesLimit,
    /// The family name already exists with another type, or is one of the collector's own.
    NameConflict,
    /// Older (by timestamp) than the point held for its series, so it did not replace it. The
    /// request was accepted: this is no error to the sender and not in its partial success.
    OutOfOrder,
    /// A new series over the agent's `limits.per_agent.max_series`: stored in its family's
    /// overflow series (`otel_metric_overflow="true"`) instead of as itself.
    SeriesBudget,
    /// Stamped more than `limits.point.max_future_skew` ahead of the collector's clock.
    FutureTimestamp,
    /// A metric name longer than `limits.point.max_name_length`.
    NameTooLong,
    /// More labels than `limits.point.max_labels`.
    TooManyLabels,
    /// A label name longer than `limits.point.max_label_name_length`.
    LabelNameTooLong,
    /// A label value longer than `limits.point.max_label_value_length`.
    LabelValueTooLong,
    /// More exemplars than `limits.point.max_exemplars`.
    TooManyExemplars,
    /// More histogram buckets than `limits.point.max_buckets`.
    TooManyBuckets,
    /// A resource whose `service.instance.id` is not one the request's token may speak for.
    ForeignIdentity,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 14] = [
        DropReason::UnsupportedType,
        DropReason::Invalid,
        DropReason::SeriesLimit,
        DropReason::NameConflict,
        DropReason::OutOfOrder,
        DropReason::SeriesBudget,
        DropReason::FutureTimestamp,
        DropReason::NameTooLong,
        DropReason::TooManyLabels,
        DropReason::LabelNameTooLong,
        DropReason::LabelValueTooLong,
        DropReason::TooManyExemplars,
        DropReason::TooManyBuckets,
        DropReason::ForeignIdentity,
    ];

    /// The reasons `limits.point.on_over: truncate` may cut a point for instead of dropping it.
    pub const TRUNCATABLE: [DropReason; 4] = [
        DropReason::NameTooLong,
        DropReason::LabelNameTooLong,
        DropReason::LabelValueTooLong,
        DropReason::TooManyExemplars,
    ];

    /// True when the points were lost (ERROR, and reported to the sender as partial success);
    /// false when they were accepted in another form (WARN only).
    pub fn is_loss(self) -> bool {
        !matches!(self, DropReason::OutOfOrder | DropReason::SeriesBudget)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnsupportedType => "unsupported_type",
            DropReason::Invalid => "invalid",
            DropReason::SeriesLimit => "series_limit",
            DropReason::NameConflict => "name_conflict",
            DropReason::OutOfOrder => "out_of_order",
            DropReason::SeriesBudget => "series_budget",
            DropReason::FutureTimestamp => "future_timestamp",
            DropReason::NameTooLong => "name_too_long",
            DropReason::TooManyLabels => "too_many_labels",
            DropReason::LabelNameTooLong => "label_name_too_long",
            DropReason::LabelValueTooLong => "label_value_too_long",
            DropReason::TooManyExemplars => "too_many_exemplars",
            DropReason::TooManyBuckets => "too_many_buckets",
            DropReason::ForeignIdentity => "foreign_identity",
        }
    }
}

/// Why a receiver closed a connection, the `reason` label of
/// `dozor.collector.closed.connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// `limits.connections.max` connections were open already.
    MaxConnections,
    /// `limits.connections.max_per_address` connections from that address were open already.
    MaxPerAddress,
    /// The request headers did not arrive within `header_read_timeout`.
    HeaderTimeout,
    /// The request body did not arrive within `body_read_timeout`.
    BodyTimeout,
    /// No request for `idle_timeout`.
    IdleTimeout,
}

impl CloseReason {
    /// Every reason, in label order.
    pub const ALL: [CloseReason; 5] = [
        CloseReason::MaxConnections,
        CloseReason::MaxPerAddress,
        CloseReason::HeaderTimeout,
        CloseReason::BodyTimeout,
        CloseReason::IdleTimeout,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::MaxConnections => "max_connections",
            CloseReason::MaxPerAddress => "max_per_address",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::BodyTimeout => "body_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
        }
    }
}
