//! HTTP RED (rate, errors, duration) without application changes: the metrics that the
//! `http_capture` and `access_log` integrations of the agent and the collector's spans-to-RED
//! all produce, under the OpenTelemetry semantic-convention names, so one dashboard serves them
//! all (`lib/dozor-red` holds the aggregation they share).
//!
//! `service.name` is a point attribute here (the service the traffic belongs to, from the
//! configuration or the span's resource), not the agent's identity. `http.route` is a configured
//! pattern, an OpenAPI path, or the path with numeric, UUID and hex segments templated; over the
//! series budget it is `_other`, counted in `dozor.http.overflow.series`. Methods outside the
//! standard set are `_OTHER`. A request without a final response never gets a status: it is in
//! flight, then abandoned.

metrics! {
    section: "HTTP RED (`http_capture`, `access_log`, spans)",
    emitter: "http",
    metrics: {
        SERVER_DURATION {
            name: "http.server.request.duration",
            instrument: Histogram,
            unit: "s",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: first request byte to last response byte on the wire; access_log: the logged request time; spans: end minus start",
            description: "Duration of HTTP requests served by this host, by route and final status (1xx excluded).",
        },
        SERVER_REQUEST_SIZE {
            name: "http.server.request.body.size",
            instrument: Histogram,
            unit: "By",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: request body bytes (Content-Length or chunk data); access_log: $request_length when logged; spans: http.request.body.size",
            description: "Size of the request bodies of HTTP requests served by this host.",
        },
        SERVER_RESPONSE_SIZE {
            name: "http.server.response.body.size",
            instrument: Histogram,
            unit: "By",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: response body bytes; access_log: $body_bytes_sent / %B; spans: http.response.body.size",
            description: "Size of the response bodies of HTTP requests served by this host.",
        },
        SERVER_ACTIVE {
            name: "http.server.active_requests",
            instrument: UpDownCounter,
            unit: "{request}",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: requests whose request was seen and whose final response has not ended yet",
            description: "HTTP requests served by this host in flight now: a long request is visible while it runs.",
        },
        SERVER_OLDEST_ACTIVE_AGE {
            name: "dozor.http.server.oldest_active.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: now minus the start of the oldest request still in flight on the route; absent when none is",
            description: "Age of the oldest HTTP request served by this host still in flight, per route.",
        },
        SERVER_ABANDONED {
            name: "dozor.http.server.abandoned",
            instrument: Counter,
            unit: "{request}",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: requests still without a response after give_up (default 2 h), then dropped from in-flight; never given a status",
            description: "HTTP requests served by this host given up on without a response.",
        },
        CLIENT_DURATION {
            name: "http.client.request.duration",
            instrument: Histogram,
            unit: "s",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: first request byte to last response byte on the wire; access_log: the logged request time; spans: end minus start",
            description: "Duration of HTTP requests made by this host, by route and final status (1xx excluded).",
        },
        CLIENT_REQUEST_SIZE {
            name: "http.client.request.body.size",
            instrument: Histogram,
            unit: "By",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: request body bytes (Content-Length or chunk data); access_log: $request_length when logged; spans: http.request.body.size",
            description: "Size of the request bodies of HTTP requests made by this host.",
        },
        CLIENT_RESPONSE_SIZE {
            name: "http.client.response.body.size",
            instrument: Histogram,
            unit: "By",
            attributes: ["service.name", "http.request.method", "http.route", "http.response.status_code", "server.address", "server.port"],
            source: "http_capture: response body bytes; access_log: $body_bytes_sent / %B; spans: http.response.body.size",
            description: "Size of the response bodies of HTTP requests made by this host.",
        },
        CLIENT_ACTIVE {
            name: "http.client.active_requests",
            instrument: UpDownCounter,
            unit: "{request}",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: requests whose request was seen and whose final response has not ended yet",
            description: "HTTP requests made by this host in flight now: a long request is visible while it runs.",
        },
        CLIENT_OLDEST_ACTIVE_AGE {
            name: "dozor.http.client.oldest_active.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: now minus the start of the oldest request still in flight on the route; absent when none is",
            description: "Age of the oldest HTTP request made by this host still in flight, per route.",
        },
        CLIENT_ABANDONED {
            name: "dozor.http.client.abandoned",
            instrument: Counter,
            unit: "{request}",
            attributes: ["service.name", "http.request.method", "http.route", "server.address", "server.port"],
            source: "http_capture: requests still without a response after give_up (default 2 h), then dropped from in-flight; never given a status",
            description: "HTTP requests made by this host given up on without a response.",
        },
        OVERFLOW_SERIES {
            name: "dozor.http.overflow.series",
            instrument: Counter,
            unit: "{request}",
            attributes: ["service.name"],
            source: "requests whose (method, route, status, server) were over the max_series budget, recorded under http.route=_other",
            description: "HTTP requests folded into the overflow route _other by the series budget.",
        },
        ROUTE_LIMIT {
            name: "dozor.http.route.limit",
            instrument: Gauge,
            unit: "s",
            attributes: ["service.name", "http.route"],
            source: "routes.limits in the configuration",
            description: "The longest a request on the route is expected to run: alerts fire when one in flight is older.",
        },
    }
}
