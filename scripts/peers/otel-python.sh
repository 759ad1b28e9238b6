# The official OpenTelemetry Python SDK, for the collector's spans test
# (collector/tests/otel_python.rs: spans sent over OTLP/HTTP and OTLP/gRPC). Sourced by
# scripts/test. Installs the PyPI wheels when missing.

otel_python_ok() {
  python3 -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc' \
    >/dev/null 2>&1
}
if ! otel_python_ok; then
  say "installing the OpenTelemetry Python SDK and OTLP exporters (PyPI)"
  pip install --quiet --break-system-packages opentelemetry-sdk \
    opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc || {
    echo "error: pip install --break-system-packages opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc failed" >&2
    exit 1
  }
  otel_python_ok || {
    echo "error: the OpenTelemetry Python SDK does not import after pip install" >&2; exit 1; }
fi
