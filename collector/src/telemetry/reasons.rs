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
    /// The body is not a valid `ExportMetricsServiceRequest` protobuf.
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
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 6] = [
        Refusal::DecodeError,
        Refusal::TooLarge,
        Refusal::UnsupportedMediaType,
        Refusal::BadEncoding,
        Refusal::MethodNotAllowed,
        Refusal::NotFound,
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
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 4] = [
        DropReason::UnsupportedType,
        DropReason::Invalid,
        DropReason::SeriesLimit,
        DropReason::NameConflict,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnsupportedType => "unsupported_type",
            DropReason::Invalid => "invalid",
            DropReason::SeriesLimit => "series_limit",
            DropReason::NameConflict => "name_conflict",
        }
    }
}
