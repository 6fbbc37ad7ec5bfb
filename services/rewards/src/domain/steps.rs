//! A redemption's steps as a state machine: from the step a redemption
//! recorded last, what to do next; from an error, whether the redemption
//! fails (and what to undo) or waits, pending, for a replay to resume it.
//!
//! ```text
//! (new) --reserve stock--> stock_reserved --hold points--> held
//!       --issue voucher--> issued --commit hold--> completed
//! any step refused --> undo what was done --> failed
//! any step unreachable --> stays pending; a replay resumes it
//! ```

use questline_kit::DomainError;
use questline_kit::error::{Violation, precondition_kind};

use crate::domain::redemption::{HOLD_TTL_SECONDS, Status};

/// A pending redemption untouched this long is settled by rewards alone: any
/// hold it made has expired in the ledger by then.
pub const ABANDONED_AFTER_MS: i64 = (HOLD_TTL_SECONDS + 60) * 1000;
const _: () = assert!(ABANDONED_AFTER_MS > HOLD_TTL_SECONDS * 1000);

/// How far a pending redemption got; recorded after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One unit of stock is reserved for it.
    StockReserved,
    /// The ledger holds its price on the member's wallet.
    Held,
    /// Its voucher code is assigned.
    Issued,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::StockReserved => "stock_reserved",
            Step::Held => "held",
            Step::Issued => "issued",
        }
    }

    pub fn parse(s: &str) -> Result<Step, DomainError> {
        match s {
            "stock_reserved" => Ok(Step::StockReserved),
            "held" => Ok(Step::Held),
            "issued" => Ok(Step::Issued),
            other => Err(DomainError::internal(format!(
                "unknown redemption step {other}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateHold,
    IssueVoucher,
    /// Spend the held points, then mark the redemption completed.
    CommitHold,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The redemption is over and succeeded: answer with it.
    Answer,
    Run(Action),
}

/// What a redemption does next. A failed one answers its failure again.
pub fn next(status: Status, step: Step, failure: Option<&Failure>) -> Result<Next, DomainError> {
    match status {
        Status::Completed => Ok(Next::Answer),
        Status::Failed => Err(failure.map(Failure::to_error).unwrap_or_else(|| {
            DomainError::precondition("REDEMPTION_FAILED", "", "the redemption failed")
        })),
        Status::Pending => Ok(Next::Run(match step {
            Step::StockReserved => Action::CreateHold,
            Step::Held => Action::IssueVoucher,
            Step::Issued => Action::CommitHold,
        })),
    }
}

/// What a failing redemption must undo besides giving its stock unit back,
/// which every redemption reserved first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undo {
    pub void_hold: bool,
    pub return_voucher: bool,
}

/// Whether rewards may fail a redemption abandoned at `step` without asking
/// the ledger: only before the commit was ever tried. After that the points
/// may have been spent, and only a replay, which can commit, settles it.
pub fn settles_alone(step: Step) -> bool {
    matches!(step, Step::StockReserved | Step::Held)
}

pub fn undo(step: Step) -> Undo {
    Undo {
        void_hold: step != Step::StockReserved,
        return_voucher: step == Step::Issued,
    }
}

/// Why a redemption failed, stored on its row so a replay answers the same error.
/// `kind` is a precondition kind (e.g. `INSUFFICIENT_FUNDS`) or, for other
/// refusals, the gRPC code's name (e.g. `NOT_FOUND`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: String,
    pub subject: String,
    pub message: String,
}

impl Failure {
    /// The failure an error ends the redemption with, or `None` for a fault
    /// that may pass (a service unreachable or busy, a deadline, a lost race,
    /// an internal error): then the outcome of the step is unknown, so the
    /// redemption stays pending and a replay resumes it, every step being
    /// idempotent.
    pub fn of(err: &DomainError) -> Option<Failure> {
        let (kind, subject, message) = match err {
            DomainError::FailedPrecondition {
                kind,
                subject,
                message,
            } => (*kind, subject.clone(), message.clone()),
            DomainError::NotFound(m) => ("NOT_FOUND", String::new(), m.clone()),
            DomainError::AlreadyExists(m) => ("ALREADY_EXISTS", String::new(), m.clone()),
            DomainError::KeyReused { field } => ("ALREADY_EXISTS", field.clone(), err.to_string()),
            DomainError::PermissionDenied(m) => ("PERMISSION_DENIED", String::new(), m.clone()),
            DomainError::Unauthenticated(m) => ("UNAUTHENTICATED", String::new(), m.clone()),
            DomainError::Invalid(v) => {
                let first = v.first().cloned().unwrap_or(Violation {
                    field: String::new(),
                    description: err.to_string(),
                });
                ("INVALID_ARGUMENT", first.field, first.description)
            }
            DomainError::Aborted(_)
            | DomainError::ResourceExhausted(_)
            | DomainError::DeadlineExceeded(_)
            | DomainError::Unavailable(_)
            | DomainError::Internal(_) => return None,
        };
        Some(Failure {
            kind: kind.into(),
            subject,
            message,
        })
    }

    /// What a replay of an abandoned redemption answers.
    pub fn abandoned(redemption_id: &str) -> Failure {
        Failure {
            kind: "REDEMPTION_ABANDONED".into(),
            subject: format!("redemptions/{redemption_id}"),
            message: "the redemption was not finished in time and was undone".into(),
        }
    }

    pub fn to_error(&self) -> DomainError {
        let message = self.message.clone();
        match self.kind.as_str() {
            "NOT_FOUND" => DomainError::NotFound(message),
            "ALREADY_EXISTS" => DomainError::AlreadyExists(message),
            "PERMISSION_DENIED" => DomainError::PermissionDenied(message),
            "UNAUTHENTICATED" => DomainError::Unauthenticated(message),
            "INVALID_ARGUMENT" => DomainError::Invalid(vec![Violation {
                field: self.subject.clone(),
                description: message,
            }]),
            kind => DomainError::FailedPrecondition {
                kind: precondition_kind(kind),
                subject: self.subject.clone(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_redemption_resumes_from_its_recorded_step() {
        let run = |step| next(Status::Pending, step, None);
        assert_eq!(run(Step::StockReserved), Ok(Next::Run(Action::CreateHold)));
        assert_eq!(run(Step::Held), Ok(Next::Run(Action::IssueVoucher)));
        assert_eq!(run(Step::Issued), Ok(Next::Run(Action::CommitHold)));
    }

    #[test]
    fn a_completed_redemption_answers_as_before() {
        assert_eq!(
            next(Status::Completed, Step::Issued, None),
            Ok(Next::Answer)
        );
    }

    #[test]
    fn a_failed_redemption_answers_its_failure_again() {
        let failure = Failure {
            kind: "INSUFFICIENT_FUNDS".into(),
            subject: "member:m1".into(),
            message: "not enough stars available".into(),
        };
        assert_eq!(
            next(Status::Failed, Step::StockReserved, Some(&failure)),
            Err(DomainError::precondition(
                "INSUFFICIENT_FUNDS",
                "member:m1",
                "not enough stars available"
            ))
        );
    }

    #[test]
    fn undo_reverses_exactly_the_steps_done() {
        let undone = |step| {
            let u = undo(step);
            (u.void_hold, u.return_voucher)
        };
        assert_eq!(undone(Step::StockReserved), (false, false));
        assert_eq!(undone(Step::Held), (true, false));
        assert_eq!(undone(Step::Issued), (true, true));
    }

    #[test]
    fn refusals_fail_the_redemption_and_survive_storage() {
        for err in [
            DomainError::precondition("NO_VOUCHER_CODES", "rewards/pizza", "no codes left"),
            DomainError::precondition("HOLD_EXPIRED", "holds/h1", "expired"),
            DomainError::NotFound("currency stars not found".into()),
            DomainError::PermissionDenied("requires one of the scopes [Server]".into()),
            DomainError::invalid("amount", "must be at most 10^12"),
        ] {
            let failure = Failure::of(&err).expect("a refusal ends the redemption");
            assert_eq!(failure.to_error(), err);
        }
    }

    #[test]
    fn faults_that_may_pass_leave_the_redemption_pending() {
        assert_eq!(
            Failure::of(&DomainError::Unavailable("ledger down".into())),
            None
        );
        assert_eq!(Failure::of(&DomainError::Aborted("race".into())), None);
        assert_eq!(
            Failure::of(&DomainError::DeadlineExceeded("too slow".into())),
            None
        );
        assert_eq!(
            Failure::of(&DomainError::ResourceExhausted("busy".into())),
            None
        );
        assert_eq!(
            Failure::of(&DomainError::Internal("internal error".into())),
            None
        );
    }

    #[test]
    fn an_upstream_precondition_replays_as_upstream() {
        let failure = Failure {
            kind: "UPSTREAM".into(),
            subject: String::new(),
            message: "refused".into(),
        };
        assert!(matches!(
            failure.to_error(),
            DomainError::FailedPrecondition {
                kind: "UPSTREAM",
                ..
            }
        ));
    }

    #[test]
    fn only_redemptions_that_never_tried_to_commit_settle_alone() {
        assert!(settles_alone(Step::StockReserved));
        assert!(settles_alone(Step::Held));
        assert!(!settles_alone(Step::Issued));
    }
}
