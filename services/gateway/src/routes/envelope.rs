//! What every answer gets, whatever the route: an `x-request-id` (the
//! caller's, when it is a sensible one, else a new one) echoed back, and a
//! deadline — a request still unanswered when it passes is a 504 problem.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};
use std::time::Duration;

use crate::problem::Problem;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a caller.
const MAX_REQUEST_ID: usize = 128;

/// Gives the request its id (seen by every later layer and handler) and
/// puts the same id on the answer.
pub(super) async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| sensible(v))
        .cloned()
        .unwrap_or_else(new_request_id);
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// 1 to 128 visible ASCII characters: anything else is replaced, so logs
/// and headers never carry what a caller should not have sent.
fn sensible(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(|b| b.is_ascii_graphic())
}

fn new_request_id() -> HeaderValue {
    HeaderValue::from_str(&questline_kit::new_id()).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Ends a request that outlives `budget` with a 504 problem; the calls it
/// made are dropped with it, so the services stop working on it too.
pub(super) async fn deadline(
    State(budget): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer within {} ms; retry later", budget.as_millis()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_visible_ascii_of_sensible_length() {
        assert!(sensible(&HeaderValue::from_static("req-42_a.b:c")));
        assert!(!sensible(&HeaderValue::from_static("")));
        assert!(!sensible(&HeaderValue::from_static("two words")));
        let long = "x".repeat(MAX_REQUEST_ID + 1);
        assert!(!sensible(&HeaderValue::from_str(&long).unwrap()));
        assert!(sensible(&new_request_id()));
    }
}
