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
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 14] = [
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
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 6] = [
        DropReason::UnsupportedType,
        DropReason::Invalid,
        DropReason::SeriesLimit,
        DropReason::NameConflict,
        DropReason::OutOfOrder,
        DropReason::SeriesBudget,
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
        }
    }
}
