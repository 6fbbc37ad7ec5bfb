//! The span and the duration metric of every API request.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::SERVICE;

/// A server span per request, joined to the caller's trace; the services'
/// spans become its children through the `traceparent` every call carries.
/// Also times the request for `http_server_request_duration_seconds`.
pub(super) async fn traced(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        questline.service = SERVICE,
    );
    questline_kit::telemetry::adopt_headers(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    metrics::histogram!(
        questline_kit::meter::HTTP_DURATION,
        "http_request_method" => method_label(&method),
        "http_route" => route,
        "http_response_status_code" => response.status().as_u16().to_string(),
        "questline_service" => SERVICE,
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// A method as a bounded label: anything unusual is `_OTHER`, as
/// OpenTelemetry's HTTP conventions say.
fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}
