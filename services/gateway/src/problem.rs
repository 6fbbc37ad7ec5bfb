//! RFC 9457 problem details: every error the gateway answers is
//! `application/problem+json`, whether it comes from a service's gRPC status or
//! from the request itself. Internal faults leave without their cause.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use questline_kit::DomainError;
use questline_kit::error::{RETRY_AFTER_SECONDS, from_upstream};
use serde::Serialize;
use tonic::Status;

pub const CONTENT_TYPE_PROBLEM: &str = "application/problem+json";

/// An error, as RFC 9457 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Bad Request", "status": 400,
    "detail": "invalid argument: member_id: is required",
    "errors": [{"field": "member_id", "description": "is required"}]
}))]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    #[serde(serialize_with = "status_number")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The machine-readable precondition that failed, e.g. `INSUFFICIENT_FUNDS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every invalid field of the request, so a client fixes them in one round.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request, named as the request names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

fn status_number<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: Some(detail.into()),
            reason: None,
            errors: Vec::new(),
        }
    }

    /// A 400 naming one bad field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Problem {
        Problem {
            errors: vec![FieldError {
                field: field.into(),
                description: description.into(),
            }],
            ..Problem::new(StatusCode::BAD_REQUEST, "the request has invalid fields")
        }
    }

    /// A 500 that says nothing of its cause; the caller logs the cause.
    pub fn internal() -> Problem {
        Problem {
            detail: None,
            ..Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }

    /// Speaks the request's JSON names where a service named its protobuf fields.
    pub fn renamed(mut self, names: &[(&str, &str)]) -> Problem {
        for error in &mut self.errors {
            if let Some((_, json)) = names.iter().find(|(proto, _)| *proto == error.field) {
                error.field = (*json).to_string();
            }
        }
        self
    }

    /// A rejection of the request by axum; its text only when it is the client's fault.
    fn rejected(status: StatusCode, text: String) -> Problem {
        if status.is_server_error() {
            tracing::error!(%status, %text, "request extraction failed");
            Problem::internal()
        } else {
            Problem::new(status, text)
        }
    }
}

impl From<Status> for Problem {
    /// A service's answer, read as every service reads an upstream's.
    fn from(status: Status) -> Problem {
        Problem::from(from_upstream(status))
    }
}

impl From<DomainError> for Problem {
    /// The HTTP status comes from the kit's one error table; faults on our
    /// side leave without their cause.
    fn from(err: DomainError) -> Problem {
        let status = err.class().http;
        let detail = err.to_string();
        match err {
            DomainError::Invalid(violations) => Problem {
                errors: violations
                    .into_iter()
                    .map(|v| FieldError {
                        field: v.field,
                        description: v.description,
                    })
                    .collect(),
                ..Problem::new(status, detail)
            },
            DomainError::FailedPrecondition { kind, message, .. } => Problem {
                reason: Some(kind.to_string()),
                ..Problem::new(status, message)
            },
            DomainError::Unavailable(_) | DomainError::DeadlineExceeded(_) => {
                Problem::new(status, "the service is unavailable, retry later")
            }
            DomainError::Internal(_) => Problem::internal(),
            _ => Problem::new(status, detail),
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Problem {
        // Wrong types are as much the client's bad request as broken syntax
        // (axum would say 422); a missing content type stays 415, too large 413.
        let status = match &rejection {
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                StatusCode::BAD_REQUEST
            }
            other => other.status(),
        };
        Problem::rejected(status, rejection.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Problem {
        Problem::rejected(rejection.status(), rejection.body_text())
    }
}

impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Problem {
        Problem::rejected(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Problem {
        Problem::rejected(rejection.status(), rejection.body_text())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_PROBLEM));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 asks every 401 to name the scheme to use.
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"questline\""),
            );
        }
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            // RFC 9110: when to try again.
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_grpc_code_has_its_http_status() {
        let cases = [
            (Code::InvalidArgument, StatusCode::BAD_REQUEST),
            (Code::Unauthenticated, StatusCode::UNAUTHORIZED),
            (Code::PermissionDenied, StatusCode::FORBIDDEN),
            (Code::NotFound, StatusCode::NOT_FOUND),
            (Code::AlreadyExists, StatusCode::CONFLICT),
            (Code::FailedPrecondition, StatusCode::CONFLICT),
            (Code::Aborted, StatusCode::CONFLICT),
            (Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS),
            (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            (Code::DeadlineExceeded, StatusCode::SERVICE_UNAVAILABLE),
            (Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
            (Code::Unknown, StatusCode::INTERNAL_SERVER_ERROR),
            (Code::DataLoss, StatusCode::INTERNAL_SERVER_ERROR),
            (Code::Unimplemented, StatusCode::INTERNAL_SERVER_ERROR),
            (Code::Cancelled, StatusCode::SERVICE_UNAVAILABLE),
            (Code::OutOfRange, StatusCode::BAD_REQUEST),
        ];
        for (code, http) in cases {
            let problem = Problem::from(Status::new(code, "why"));
            assert_eq!(problem.status, http, "{code:?}");
            assert_eq!(problem.title, http.canonical_reason().unwrap());
        }
    }

    #[test]
    fn invalid_argument_lists_every_field() {
        let status = Status::from(
            questline_kit::Violations::new()
                .id("member_id", "")
                .id("event_type", "a b")
                .finish()
                .unwrap_err(),
        );
        let problem = Problem::from(status).renamed(&[("event_type", "type")]);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["member_id", "type"]);
        assert_eq!(problem.errors[0].description, "is required");
    }

    #[test]
    fn a_failed_precondition_names_its_reason() {
        let status = Status::from(DomainError::precondition(
            "INSUFFICIENT_FUNDS",
            "member:m1",
            "not enough stars available",
        ));
        let problem = Problem::from(status);
        assert_eq!(problem.status, StatusCode::CONFLICT);
        assert_eq!(problem.reason.as_deref(), Some("INSUFFICIENT_FUNDS"));
        assert_eq!(
            problem.detail.as_deref(),
            Some("not enough stars available")
        );
    }

    #[test]
    fn internal_and_unavailable_faults_hide_their_cause() {
        let internal = Problem::from(Status::internal("db at 10.0.0.7 refused"));
        assert_eq!(internal.detail, None);
        let down = Problem::from(Status::unavailable("tcp connect error 10.0.0.8:50052"));
        assert!(!down.detail.unwrap_or_default().contains("10.0.0.8"));
    }

    #[tokio::test]
    async fn answers_problem_json() {
        let response = Problem::from(Status::unauthenticated("unknown API key")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_PROBLEM);
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
                "detail": "unknown API key",
            })
        );
    }
}
