//! Domain errors and their one mapping to gRPC statuses. Bad input is always
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` field violations; storage and
//! bus faults are logged here and leave as `INTERNAL`/`UNAVAILABLE` without detail.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid argument: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// An idempotency key came back with another request; `field` is the
    /// first that differs. ALREADY_EXISTS with a `google.rpc.ErrorInfo`.
    #[error("the idempotency key was already used for a request with another {field}")]
    KeyReused { field: String },
    /// The system is not in a state that allows the call; `kind` is machine-readable,
    /// e.g. `INSUFFICIENT_FUNDS`, and travels as a `google.rpc.PreconditionFailure`.
    #[error("{message}")]
    FailedPrecondition {
        kind: &'static str,
        subject: String,
        message: String,
    },
    /// A concurrent write won a race (e.g. the same idempotency key at once);
    /// the store retries these itself, callers may too.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl DomainError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        DomainError::Invalid(vec![Violation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn precondition(
        kind: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DomainError::FailedPrecondition {
            kind,
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// A storage or bus fault: logged with its cause, returned without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        DomainError::Internal("internal error".into())
    }

    pub fn code(&self) -> Code {
        match self {
            DomainError::Invalid(_) => Code::InvalidArgument,
            DomainError::Unauthenticated(_) => Code::Unauthenticated,
            DomainError::PermissionDenied(_) => Code::PermissionDenied,
            DomainError::NotFound(_) => Code::NotFound,
            DomainError::AlreadyExists(_) | DomainError::KeyReused { .. } => Code::AlreadyExists,
            DomainError::FailedPrecondition { .. } => Code::FailedPrecondition,
            DomainError::Aborted(_) => Code::Aborted,
            DomainError::Unavailable(_) => Code::Unavailable,
            DomainError::Internal(_) => Code::Internal,
        }
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(err: sea_orm::DbErr) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                DomainError::Aborted("a concurrent request wrote the same record".into())
            }
            _ => DomainError::internal(err),
        }
    }
}

impl From<sea_orm::TransactionError<DomainError>> for DomainError {
    fn from(err: sea_orm::TransactionError<DomainError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => DomainError::internal(db),
            sea_orm::TransactionError::Transaction(domain) => domain,
        }
    }
}

impl From<DomainError> for Status {
    fn from(err: DomainError) -> Status {
        let message = err.to_string();
        match err {
            DomainError::Invalid(violations) => {
                let fields = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>();
                Status::with_error_details(
                    Code::InvalidArgument,
                    message,
                    ErrorDetails::with_bad_request(fields),
                )
            }
            DomainError::FailedPrecondition { kind, subject, .. } => Status::with_error_details(
                Code::FailedPrecondition,
                message.clone(),
                ErrorDetails::with_precondition_failure_violation(kind, subject, message),
            ),
            DomainError::KeyReused { field } => Status::with_error_details(
                Code::AlreadyExists,
                message,
                ErrorDetails::with_error_info(
                    "IDEMPOTENCY_KEY_REUSED",
                    "questline.dev",
                    [("field".to_string(), field)],
                ),
            ),
            other => Status::new(other.code(), message),
        }
    }
}

/// A status from another service, carried back to our caller unchanged in kind.
pub fn from_upstream(status: Status) -> DomainError {
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument => DomainError::Invalid(
            status
                .get_details_bad_request()
                .map(|b| {
                    b.field_violations
                        .into_iter()
                        .map(|v| Violation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Code::Unauthenticated => DomainError::Unauthenticated(message),
        Code::PermissionDenied => DomainError::PermissionDenied(message),
        Code::NotFound => DomainError::NotFound(message),
        Code::AlreadyExists => DomainError::AlreadyExists(message),
        Code::FailedPrecondition => {
            let violation = status
                .get_details_precondition_failure()
                .and_then(|p| p.violations.into_iter().next());
            let kind = violation
                .as_ref()
                .map(|v| precondition_kind(&v.r#type))
                .unwrap_or("UPSTREAM");
            let subject = violation.map(|v| v.subject).unwrap_or_default();
            DomainError::FailedPrecondition {
                kind,
                subject,
                message,
            }
        }
        Code::Aborted => DomainError::Aborted(message),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            DomainError::Unavailable(message)
        }
        _ => DomainError::internal(format!("upstream {}: {message}", status.code())),
    }
}

/// Precondition kinds every service may raise; anything else is `UPSTREAM`.
pub const PRECONDITION_KINDS: &[&str] = &[
    "INSUFFICIENT_FUNDS",
    "OUT_OF_STOCK",
    "NO_VOUCHER_CODES",
    "HOLD_NOT_PENDING",
    "HOLD_EXPIRED",
    "REWARD_INACTIVE",
    "REDEMPTION_FAILED",
    "UNKNOWN_CURRENCY",
    "NOT_A_POOL_REWARD",
    "REDEMPTION_ABANDONED",
    "CLIENT_REVOKED",
    "ACCOUNT_CLOSED",
    "ACCOUNT_NOT_EMPTY",
    "POINTS_ALREADY_SPENT",
    "NOTHING_TO_REVERSE",
    "HOLD_AMOUNT_EXCEEDED",
];

/// The `'static` spelling of a known precondition kind, else `UPSTREAM`.
pub fn precondition_kind(kind: &str) -> &'static str {
    PRECONDITION_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("UPSTREAM")
}

/// Collects every field problem of a request before answering, so a caller
/// fixes them all in one round.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

/// Longest identifier or name accepted anywhere.
pub const MAX_TEXT: usize = 256;

/// `text` cut to `MAX_TEXT` characters, for texts built from longer parts.
pub fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, description: impl Into<String>) -> &mut Self {
        self.0.push(Violation {
            field: field.into(),
            description: description.into(),
        });
        self
    }

    pub fn check(&mut self, ok: bool, field: &str, description: &str) -> &mut Self {
        if !ok {
            self.add(field, description);
        }
        self
    }

    /// Present, at most `MAX_TEXT` characters, no control characters.
    pub fn text(&mut self, field: &str, value: &str) -> &mut Self {
        if value.trim().is_empty() {
            self.add(field, "is required")
        } else {
            self.optional_text(field, value)
        }
    }

    /// Like `text`, but may be empty.
    pub fn optional_text(&mut self, field: &str, value: &str) -> &mut Self {
        if value.chars().count() > MAX_TEXT {
            self.add(field, format!("must be at most {MAX_TEXT} characters"))
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters")
        } else {
            self
        }
    }

    /// An identifier: 1..=MAX_TEXT of ASCII letters, digits, '-', '_', '.', ':'.
    pub fn id(&mut self, field: &str, value: &str) -> &mut Self {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if value.is_empty() {
            self.add(field, "is required")
        } else if value.len() > MAX_TEXT || !value.chars().all(allowed) {
            self.add(
                field,
                format!("must be 1 to {MAX_TEXT} of letters, digits, '-', '_', '.', ':'"),
            )
        } else {
            self
        }
    }

    pub fn positive(&mut self, field: &str, value: i64) -> &mut Self {
        self.check(value > 0, field, "must be greater than zero")
    }

    pub fn finish(&mut self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(std::mem::take(&mut self.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_carries_every_field_violation() {
        let err = Violations::new()
            .id("tenant_id", "")
            .positive("amount", -5)
            .id("member_id", "ok-1")
            .finish()
            .unwrap_err();
        let status = Status::from(err);
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<_> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["tenant_id", "amount"]);
    }

    #[test]
    fn preconditions_survive_a_hop_between_services() {
        let err = DomainError::precondition("INSUFFICIENT_FUNDS", "member:m1", "not enough stars");
        let back = from_upstream(Status::from(err.clone()));
        assert_eq!(back, err);
    }

    #[test]
    fn text_refuses_control_characters_that_databases_reject() {
        assert!(
            Violations::new()
                .text("name", "Caf\u{e9} \u{2615}")
                .finish()
                .is_ok()
        );
        assert!(Violations::new().text("name", "a\u{0}b").finish().is_err());
        assert!(
            Violations::new()
                .optional_text("reason", "")
                .finish()
                .is_ok()
        );
        assert!(Violations::new().text("name", "  ").finish().is_err());
    }

    #[test]
    fn ids_reject_spaces_and_overlong_values() {
        assert!(Violations::new().id("x", "a b").finish().is_err());
        assert!(
            Violations::new()
                .id("x", &"a".repeat(257))
                .finish()
                .is_err()
        );
        assert!(
            Violations::new()
                .id("x", "rule:purchase-1")
                .finish()
                .is_ok()
        );
    }
}
