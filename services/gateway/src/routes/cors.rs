//! CORS per tenant, for member apps that run in a browser. A tenant names
//! its origins in settings (`gateway.cors_origins`). A preflight carries no
//! credentials, so it passes when any tenant allows the origin; the request
//! itself gets `Access-Control-Allow-Origin` only when its own tenant does,
//! so a page of one brand can never read another brand's answers.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use std::collections::BTreeMap;

use super::Gateway;
use crate::problem::Problem;

const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const HEADERS: &str = "authorization, content-type, idempotency-key, last-event-id, x-api-key, x-request-id, x-tenant-id";
const EXPOSED: &str =
    "idempotent-replayed, location, ratelimit, ratelimit-policy, retry-after, x-request-id";

/// Allowed origins by tenant.
#[derive(Debug, Default)]
pub struct Origins {
    by_tenant: BTreeMap<String, Vec<String>>,
}

impl Origins {
    /// From settings: tenant → comma-separated origins.
    pub fn new(settings: &BTreeMap<String, String>) -> Origins {
        let by_tenant = settings
            .iter()
            .map(|(tenant, list)| {
                let origins = list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect();
                (tenant.clone(), origins)
            })
            .collect();
        Origins { by_tenant }
    }

    fn anyone_allows(&self, origin: &str) -> bool {
        self.by_tenant.values().flatten().any(|o| o == origin)
    }

    fn allows(&self, tenant_id: &str, origin: &str) -> bool {
        self.by_tenant
            .get(tenant_id)
            .is_some_and(|origins| origins.iter().any(|o| o == origin))
    }
}

pub(super) async fn cors(State(gateway): State<Gateway>, request: Request, next: Next) -> Response {
    let Some(origin) = origin_of(request.headers()) else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return answer_preflight(&gateway.origins, &origin);
    }
    let headers = request.headers().clone();
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("origin"));
    // Only an allowed origin costs the credential lookup (cached by then).
    if gateway.origins.anyone_allows(&origin) {
        let tenant = gateway
            .tokens
            .resolve(&headers)
            .await
            .ok()
            .map(|c| c.tenant_id);
        if tenant.is_some_and(|t| gateway.origins.allows(&t, &origin)) {
            allow(response.headers_mut(), &origin);
            response.headers_mut().insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
    }
    response
}

fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.trim_end_matches('/').to_string())
}

fn answer_preflight(origins: &Origins, origin: &str) -> Response {
    if !origins.anyone_allows(origin) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "this origin is not allowed to call the API (gateway.cors_origins)",
        )
        .into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow(headers, origin);
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    headers.insert(VARY, HeaderValue::from_static("origin"));
    response
}

fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}
