//! Domain errors and the one table that says what each is over gRPC and over
//! HTTP. Bad input is always `INVALID_ARGUMENT` with `google.rpc.BadRequest`
//! field violations; storage and bus faults are logged here and leave as
//! `INTERNAL`/`UNAVAILABLE` without detail. A status from another service
//! comes back through `from_upstream`, so a service and the gateway read an
//! upstream's answer the same way.

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
    /// Too many requests from one caller; retry later.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The call's deadline passed before it was answered.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A dependency (database, bus, another service) cannot be reached now;
    /// the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// One row of the error table: a gRPC code and what it reads as over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub grpc: Code,
    pub http: http::StatusCode,
    /// Whether the docs promise that the same request may succeed later
    /// (the gateway then adds `Retry-After`).
    pub retryable: bool,
}

/// Seconds a client is told to wait before retrying a retryable failure.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The error table, for every gRPC code. 409 rather than 422 for failed
/// preconditions: the request is valid (bad input is already 400) but
/// conflicts with the resource's state — not enough points, no stock left.
pub fn class_of(code: Code) -> ErrorClass {
    use http::StatusCode as H;
    let (http, retryable) = match code {
        Code::Ok => (H::OK, false),
        Code::InvalidArgument | Code::OutOfRange => (H::BAD_REQUEST, false),
        Code::Unauthenticated => (H::UNAUTHORIZED, false),
        Code::PermissionDenied => (H::FORBIDDEN, false),
        Code::NotFound => (H::NOT_FOUND, false),
        Code::AlreadyExists | Code::FailedPrecondition => (H::CONFLICT, false),
        Code::Aborted => (H::CONFLICT, true),
        Code::ResourceExhausted => (H::TOO_MANY_REQUESTS, true),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            (H::SERVICE_UNAVAILABLE, true)
        }
        Code::Unimplemented | Code::Internal | Code::Unknown | Code::DataLoss => {
            (H::INTERNAL_SERVER_ERROR, false)
        }
    };
    ErrorClass {
        grpc: code,
        http,
        retryable,
    }
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

    /// This error's row of the error table.
    pub fn class(&self) -> ErrorClass {
        class_of(self.code())
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
            DomainError::ResourceExhausted(_) => Code::ResourceExhausted,
            DomainError::DeadlineExceeded(_) => Code::DeadlineExceeded,
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

/// Field violations sent with one status: the details travel in a header,
/// and HTTP/2 peers refuse header blocks much past 16 KiB.
pub const MAX_VIOLATIONS: usize = 20;

impl From<DomainError> for Status {
    fn from(err: DomainError) -> Status {
        let err = match err {
            DomainError::Invalid(mut violations) => {
                violations.truncate(MAX_VIOLATIONS);
                DomainError::Invalid(violations)
            }
            other => other,
        };
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

/// A status from another service, carried back to our caller unchanged in
/// kind. A call the transport cut off (the peer died, the connection was
/// reset) is UNAVAILABLE, as gRPC's status table says, not the UNKNOWN tonic
/// gives it: the same request may succeed once the peer is back.
pub fn from_upstream(status: Status) -> DomainError {
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => DomainError::Invalid(field_violations(&status)),
        Code::Unauthenticated => DomainError::Unauthenticated(message),
        Code::PermissionDenied => DomainError::PermissionDenied(message),
        Code::NotFound => DomainError::NotFound(message),
        Code::AlreadyExists => DomainError::AlreadyExists(message),
        Code::FailedPrecondition => failed_precondition(&status, message),
        Code::Aborted => DomainError::Aborted(message),
        Code::ResourceExhausted => DomainError::ResourceExhausted(message),
        Code::DeadlineExceeded => DomainError::DeadlineExceeded(message),
        // tonic's client ends a call past its timeout as CANCELLED.
        Code::Cancelled if caused_by::<tonic::TimeoutExpired>(&status) => {
            DomainError::DeadlineExceeded(message)
        }
        Code::Unavailable | Code::Cancelled => DomainError::Unavailable(message),
        _ if cut_off_by_transport(&status) => {
            tracing::warn!(%message, "upstream connection lost");
            DomainError::Unavailable("a service is unavailable, retry later".into())
        }
        code => DomainError::internal(format!("upstream {code:?}: {message}")),
    }
}

fn field_violations(status: &Status) -> Vec<Violation> {
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
        .unwrap_or_default()
}

fn failed_precondition(status: &Status, message: String) -> DomainError {
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

/// Whether tonic made `status` from a failure of the connection itself
/// (refused, reset, closed mid-call) rather than from the peer's answer.
fn cut_off_by_transport(status: &Status) -> bool {
    caused_by::<tonic::transport::Error>(status)
        || caused_by::<tonic::ConnectError>(status)
        || caused_by::<std::io::Error>(status)
}

/// Whether an `E` is among the causes tonic kept with `status`.
fn caused_by<E: std::error::Error + 'static>(status: &Status) -> bool {
    let mut cause = std::error::Error::source(status);
    while let Some(err) = cause {
        if err.is::<E>() {
            return true;
        }
        cause = err.source();
    }
    false
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
    "REVERSAL_TOO_LARGE",
    "RULE_STATUS",
    "RULE_ARCHIVED",
    "RULE_DOES_NOT_FIT",
];

/// The `'static` spelling of a known precondition kind, else `UPSTREAM`.
pub fn precondition_kind(kind: &str) -> &'static str {
    PRECONDITION_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("UPSTREAM")
}

/// A create that meets a stored definition under the same id: the same
/// definition again answers the stored one (creates are idempotent), another
/// is ALREADY_EXISTS — definitions get new ids, not silent edits.
pub fn same_or_exists<T>(stored: T, same: bool, what: &str, id: &str) -> Result<T, DomainError> {
    if same {
        Ok(stored)
    } else {
        Err(DomainError::AlreadyExists(format!(
            "{what} {id} already exists with another definition"
        )))
    }
}

/// Collects every field problem of a request before answering, so a caller
/// fixes them all in one round.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

/// A gRPC code as the protocol names it, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The gRPC code `code_name` gives `name`; UNKNOWN for any other name.
pub fn code_named(name: &str) -> Code {
    (0..=16)
        .map(Code::from_i32)
        .find(|code| code_name(*code) == name)
        .unwrap_or(Code::Unknown)
}

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

    /// A BCP 47 language tag such as `en`, `fr-FR` or `zh-Hant-TW`.
    pub fn locale(&mut self, field: &str, tag: &str) -> &mut Self {
        let mut parts = tag.split('-');
        let language = parts.next().unwrap_or_default();
        let ok = tag.len() <= 35
            && (2..=3).contains(&language.len())
            && language.chars().all(|c| c.is_ascii_alphabetic())
            && parts.all(|p| {
                (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
            });
        self.check(ok, field, "must be a BCP 47 language tag, e.g. en or fr-FR")
    }

    /// A batch's list of `len` items: at least one, at most `most`.
    pub fn batch(&mut self, field: &str, len: usize, most: usize) -> &mut Self {
        if len == 0 {
            self.add(field, "is required")
        } else if len > most {
            self.add(field, format!("must hold at most {most} {field}"))
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
mod tests;
