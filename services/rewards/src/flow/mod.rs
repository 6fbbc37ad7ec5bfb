//! A redemption, run: reserve stock, hold the points, issue the voucher,
//! commit the points — or undo every step done. Each step is recorded before
//! the ledger call that follows it, and the decisions are `domain::steps`';
//! every step is idempotent, so a replay of the same redemption id resumes a
//! redemption that an outage or a crash left pending.

pub mod upstream;

use questline_kit::DomainError;
use questline_kit::fingerprint::same_request;
use questline_kit::members::MemberDirectory;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::domain::redemption::{Redeem, Status};
use crate::domain::steps::{self, Action, Failure, Next, Step};
use crate::store::Store;
use crate::store::entities::redemption;
use upstream::Points;

pub struct Redemptions {
    store: Store,
    points: Arc<dyn Points>,
    members: MemberDirectory,
}

impl Redemptions {
    pub fn new(store: Store, points: Arc<dyn Points>, members: MemberDirectory) -> Redemptions {
        Redemptions {
            store,
            points,
            members,
        }
    }

    /// The member read model, for checks outside the hot path (exports).
    pub fn members(&self) -> &MemberDirectory {
        &self.members
    }

    /// Runs, replays or resumes a redemption, acting downstream with `token`.
    pub async fn redeem(&self, token: &str, r: &Redeem) -> Result<redemption::Model, DomainError> {
        let row = match self
            .store
            .redemption(&r.tenant_id, &r.redemption_id)
            .await?
        {
            Some(row) => row,
            None => {
                // NOT_FOUND unless identity knows the member (the read model
                // asks identity when the member's event has not arrived yet).
                self.members.get(&r.tenant_id, &r.member_id, token).await?;
                self.store.start_redemption(r).await?
            }
        };
        same_request(&row.fingerprint, &r.fingerprint)?;
        self.drive(token, row).await
    }

    async fn drive(
        &self,
        token: &str,
        mut row: redemption::Model,
    ) -> Result<redemption::Model, DomainError> {
        loop {
            let status = Status::parse(&row.status)?;
            let step = Step::parse(&row.step)?;
            let Next::Run(action) = steps::next(status, step, failure(&row).as_ref())? else {
                return Ok(row);
            };
            row = match self.run(token, action, &row).await {
                Ok(advanced) => advanced,
                Err(err) => return Err(self.settle(token, &row, err).await),
            };
        }
    }

    async fn run(
        &self,
        token: &str,
        action: Action,
        row: &redemption::Model,
    ) -> Result<redemption::Model, DomainError> {
        match action {
            Action::CreateHold => {
                let hold_id = self.points.hold(token, row).await?;
                self.store.record_hold(row, &hold_id).await
            }
            Action::IssueVoucher => self.store.issue_voucher(row).await,
            Action::CommitHold => {
                self.points
                    .commit(token, &row.tenant_id, hold_id(row)?)
                    .await?;
                self.store.complete(row).await
            }
        }
    }

    /// After a step went wrong: a refusal undoes every step done and fails the
    /// redemption; a fault that may pass leaves it pending for a replay.
    async fn settle(&self, token: &str, row: &redemption::Model, err: DomainError) -> DomainError {
        let Some(failure) = Failure::of(&err) else {
            tracing::warn!(redemption_id = %row.redemption_id, %err, "redemption left pending");
            return err;
        };
        match self.undo(token, row, &failure).await {
            Ok(()) => err,
            Err(undo_err) => {
                tracing::warn!(
                    redemption_id = %row.redemption_id,
                    %undo_err,
                    "undo interrupted; redemption left pending"
                );
                undo_err
            }
        }
    }

    async fn undo(
        &self,
        token: &str,
        row: &redemption::Model,
        failure: &Failure,
    ) -> Result<(), DomainError> {
        let undo = steps::undo(Step::parse(&row.step)?);
        // The hold first: if the ledger is unreachable the redemption stays
        // pending, and a replay tries again instead of stranding the points.
        if undo.void_hold {
            self.points
                .void(token, &row.tenant_id, hold_id(row)?)
                .await?;
        }
        self.store.fail(row, failure, undo).await?;
        tracing::info!(
            redemption_id = %row.redemption_id,
            kind = %failure.kind,
            "redemption failed and undone"
        );
        Ok(())
    }
}

impl Redemptions {
    /// Fails the redemptions abandoned before their commit and gives their
    /// stock back; their holds have expired in the ledger by `now`.
    pub async fn settle_abandoned(&self, now: i64) -> Result<usize, DomainError> {
        let steps = [Step::StockReserved, Step::Held];
        debug_assert!(steps.into_iter().all(steps::settles_alone));
        let stalled = self
            .store
            .stalled(&steps, now - steps::ABANDONED_AFTER_MS, 100)
            .await?;
        let undo = steps::Undo {
            void_hold: false,
            return_voucher: false,
        };
        for row in &stalled {
            let failure = Failure::abandoned(&row.redemption_id);
            self.store.fail(row, &failure, undo).await?;
            tracing::info!(redemption_id = %row.redemption_id, "abandoned redemption undone");
        }
        Ok(stalled.len())
    }

    /// Settles abandoned redemptions every `every` until `shutdown`.
    pub async fn keep_settling(
        self: Arc<Self>,
        every: std::time::Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(err) = self.settle_abandoned(questline_kit::time::now_ms()).await {
                tracing::warn!(%err, "settling abandoned redemptions failed; will retry");
            }
        }
    }
}

fn hold_id(row: &redemption::Model) -> Result<&str, DomainError> {
    row.hold_id.as_deref().ok_or_else(|| {
        DomainError::internal(format!(
            "redemption {} is past its hold but has none",
            row.redemption_id
        ))
    })
}

fn failure(row: &redemption::Model) -> Option<Failure> {
    Some(Failure {
        kind: row.failure_kind.clone()?,
        subject: row.failure_subject.clone().unwrap_or_default(),
        message: row.failure_message.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
