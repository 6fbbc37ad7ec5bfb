//! A redemption's local steps. Each is one transaction guarded by the
//! step it expects (`status = pending AND step = …`), so two replays of the
//! same redemption racing each other apply every step once.

use questline_kit::{DomainError, outbox, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::entities::{redemption, reward, voucher_code};
use super::{Store, find_reward};
use crate::domain::redemption::{Redeem, Status};
use crate::domain::reward::VoucherSource;
use crate::domain::steps::{Failure, Step, Undo};
use crate::domain::voucher::{ENTROPY_BYTES, generated_code};
use crate::events;

/// Attempts at taking a free pool code before leaving it to `retrying`.
const CODE_ATTEMPTS: usize = 3;

impl Store {
    pub async fn redemption(
        &self,
        tenant_id: &str,
        redemption_id: &str,
    ) -> Result<Option<redemption::Model>, DomainError> {
        find_redemption(&self.db, tenant_id, redemption_id).await
    }

    /// Pending redemptions, of any tenant, last moved before `before` at one
    /// of `steps`: the abandoned ones, oldest first.
    pub async fn stalled(
        &self,
        steps: &[Step],
        before: i64,
        limit: u64,
    ) -> Result<Vec<redemption::Model>, DomainError> {
        Ok(redemption::Entity::find()
            .filter(redemption::Column::Status.eq(Status::Pending.as_str()))
            .filter(redemption::Column::Step.is_in(steps.iter().map(|s| s.as_str())))
            .filter(redemption::Column::UpdatedAt.lt(before))
            .order_by_asc(redemption::Column::UpdatedAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// The first step: reserves one unit of stock and records the pending
    /// redemption. When the id is taken (a replay, or a twin racing this one)
    /// it returns the stored redemption instead.
    pub async fn start_redemption(&self, r: &Redeem) -> Result<redemption::Model, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if let Some(found) = find_redemption(&txn, &r.tenant_id, &r.redemption_id).await? {
                return Ok(found);
            }
            let reward = find_reward(&txn, &r.tenant_id, &r.reward_id).await?;
            reserve_stock(&txn, &reward).await?;
            let now = now_ms();
            let row = redemption::ActiveModel {
                tenant_id: Set(r.tenant_id.clone()),
                redemption_id: Set(r.redemption_id.clone()),
                member_id: Set(r.member_id.clone()),
                reward_id: Set(r.reward_id.clone()),
                reward_name: Set(reward.name.clone()),
                currency: Set(reward.currency.clone()),
                price: Set(reward.price),
                status: Set(Status::Pending.as_str().into()),
                step: Set(Step::StockReserved.as_str().into()),
                hold_id: Set(None),
                voucher_code: Set(None),
                fingerprint: Set(r.fingerprint.clone()),
                failure_kind: Set(None),
                failure_subject: Set(None),
                failure_message: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }

    /// Records the ledger hold: stock_reserved → held.
    pub async fn record_hold(
        &self,
        row: &redemption::Model,
        hold_id: &str,
    ) -> Result<redemption::Model, DomainError> {
        redemption::Entity::update_many()
            .col_expr(redemption::Column::HoldId, Expr::value(hold_id))
            .col_expr(redemption::Column::Step, Expr::value(Step::Held.as_str()))
            .col_expr(redemption::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(at_step(row, Step::StockReserved))
            .exec(&self.db)
            .await?;
        reload(&self.db, row).await
    }

    /// Assigns the voucher code: held → issued. A pool with no free code
    /// refuses with `NO_VOUCHER_CODES`.
    pub async fn issue_voucher(
        &self,
        row: &redemption::Model,
    ) -> Result<redemption::Model, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let current = reload(&txn, row).await?;
            if !is_at(&current, Step::Held) {
                return Ok(current);
            }
            let reward = find_reward(&txn, &row.tenant_id, &row.reward_id).await?;
            let code = match VoucherSource::parse(&reward.voucher_source)? {
                VoucherSource::Pool => take_pool_code(&txn, &current).await?,
                VoucherSource::Generated => new_generated_code()?,
            };
            let issued = redemption::Entity::update_many()
                .col_expr(redemption::Column::VoucherCode, Expr::value(code))
                .col_expr(redemption::Column::Step, Expr::value(Step::Issued.as_str()))
                .col_expr(redemption::Column::UpdatedAt, Expr::value(now_ms()))
                .filter(at_step(&current, Step::Held))
                .exec(&txn)
                .await?;
            if issued.rows_affected == 0 {
                // A twin issued first; dropping the transaction gives our code back.
                return Err(DomainError::Aborted(
                    "the voucher was issued concurrently".into(),
                ));
            }
            let done = reload(&txn, row).await?;
            txn.commit().await?;
            Ok(done)
        })
        .await
    }

    /// Ends the redemption: issued → completed, with `reward.redeemed` staged in the
    /// same transaction.
    pub async fn complete(
        &self,
        row: &redemption::Model,
    ) -> Result<redemption::Model, DomainError> {
        let txn = self.db.begin().await?;
        let completed = redemption::Entity::update_many()
            .col_expr(
                redemption::Column::Status,
                Expr::value(Status::Completed.as_str()),
            )
            .col_expr(redemption::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(at_step(row, Step::Issued))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if completed {
            outbox::stage(&txn, &events::redeemed(row)).await?;
        }
        let done = reload(&txn, row).await?;
        txn.commit().await?;
        if completed {
            self.relay.wake();
            ended("redeemed");
        }
        Ok(done)
    }

    /// Fails a pending redemption still at the step `row` shows: gives its
    /// stock unit back and, per `undo`, its code back to the pool, once.
    pub async fn fail(
        &self,
        row: &redemption::Model,
        failure: &Failure,
        undo: Undo,
    ) -> Result<redemption::Model, DomainError> {
        let step = Step::parse(&row.step)?;
        let txn = self.db.begin().await?;
        let failed = redemption::Entity::update_many()
            .col_expr(
                redemption::Column::Status,
                Expr::value(Status::Failed.as_str()),
            )
            .col_expr(
                redemption::Column::VoucherCode,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                redemption::Column::FailureKind,
                Expr::value(failure.kind.as_str()),
            )
            .col_expr(
                redemption::Column::FailureSubject,
                Expr::value(failure.subject.as_str()),
            )
            .col_expr(
                redemption::Column::FailureMessage,
                Expr::value(failure.message.as_str()),
            )
            .col_expr(redemption::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(at_step(row, step))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if failed {
            release_stock(&txn, &row.tenant_id, &row.reward_id).await?;
            if undo.return_voucher {
                return_code(&txn, row).await?;
            }
        }
        let done = reload(&txn, row).await?;
        txn.commit().await?;
        if failed {
            ended("failed");
        }
        Ok(done)
    }
}

/// Counts a redemption that reached its end, once: `redeemed` or `failed`.
fn ended(outcome: &'static str) {
    metrics::counter!(questline_kit::meter::REDEMPTIONS, "outcome" => outcome).increment(1);
}

async fn find_redemption<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    redemption_id: &str,
) -> Result<Option<redemption::Model>, DomainError> {
    let key = (tenant_id.to_string(), redemption_id.to_string());
    Ok(redemption::Entity::find_by_id(key).one(c).await?)
}

async fn reload<C: ConnectionTrait>(
    c: &C,
    row: &redemption::Model,
) -> Result<redemption::Model, DomainError> {
    find_redemption(c, &row.tenant_id, &row.redemption_id)
        .await?
        .ok_or_else(|| DomainError::internal(format!("redemption {} vanished", row.redemption_id)))
}

/// The row of this redemption, if it is still pending at `step`.
fn at_step(row: &redemption::Model, step: Step) -> Condition {
    Condition::all()
        .add(redemption::Column::TenantId.eq(row.tenant_id.as_str()))
        .add(redemption::Column::RedemptionId.eq(row.redemption_id.as_str()))
        .add(redemption::Column::Status.eq(Status::Pending.as_str()))
        .add(redemption::Column::Step.eq(step.as_str()))
}

fn is_at(row: &redemption::Model, step: Step) -> bool {
    row.status == Status::Pending.as_str() && row.step == step.as_str()
}

/// Takes one unit; the check and the write are one statement, so two
/// redemptions of the last unit cannot both pass.
async fn reserve_stock<C: ConnectionTrait>(
    c: &C,
    reward: &reward::Model,
) -> Result<(), DomainError> {
    let reserved = reward::Entity::update_many()
        .col_expr(
            reward::Column::Stock,
            Expr::col(reward::Column::Stock).sub(1),
        )
        .filter(reward::Column::TenantId.eq(reward.tenant_id.as_str()))
        .filter(reward::Column::RewardId.eq(reward.reward_id.as_str()))
        .filter(reward::Column::Stock.gte(1))
        .exec(c)
        .await?;
    if reserved.rows_affected == 1 {
        Ok(())
    } else {
        Err(DomainError::precondition(
            "OUT_OF_STOCK",
            format!("rewards/{}", reward.reward_id),
            format!("reward {} is out of stock", reward.reward_id),
        ))
    }
}

async fn release_stock<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    reward_id: &str,
) -> Result<(), DomainError> {
    reward::Entity::update_many()
        .col_expr(
            reward::Column::Stock,
            Expr::col(reward::Column::Stock).add(1),
        )
        .filter(reward::Column::TenantId.eq(tenant_id))
        .filter(reward::Column::RewardId.eq(reward_id))
        .exec(c)
        .await?;
    Ok(())
}

/// Assigns the oldest free code of the pool to the redemption. The assignment
/// is conditional on the code still being free, so a code is never given twice.
async fn take_pool_code<C: ConnectionTrait>(
    c: &C,
    row: &redemption::Model,
) -> Result<String, DomainError> {
    for _ in 0..CODE_ATTEMPTS {
        let free = voucher_code::Entity::find()
            .filter(voucher_code::Column::TenantId.eq(row.tenant_id.as_str()))
            .filter(voucher_code::Column::RewardId.eq(row.reward_id.as_str()))
            .filter(voucher_code::Column::RedemptionId.is_null())
            .order_by_asc(voucher_code::Column::CreatedAt)
            .order_by_asc(voucher_code::Column::Code)
            .one(c)
            .await?;
        let Some(free) = free else {
            return Err(DomainError::precondition(
                "NO_VOUCHER_CODES",
                format!("rewards/{}", row.reward_id),
                format!("no voucher codes left for reward {}", row.reward_id),
            ));
        };
        let taken = voucher_code::Entity::update_many()
            .col_expr(
                voucher_code::Column::RedemptionId,
                Expr::value(row.redemption_id.as_str()),
            )
            .filter(voucher_code::Column::TenantId.eq(row.tenant_id.as_str()))
            .filter(voucher_code::Column::RewardId.eq(row.reward_id.as_str()))
            .filter(voucher_code::Column::Code.eq(free.code.as_str()))
            .filter(voucher_code::Column::RedemptionId.is_null())
            .exec(c)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(free.code);
        }
    }
    Err(DomainError::Aborted(
        "free voucher codes were taken concurrently".into(),
    ))
}

async fn return_code<C: ConnectionTrait>(
    c: &C,
    row: &redemption::Model,
) -> Result<(), DomainError> {
    voucher_code::Entity::update_many()
        .col_expr(
            voucher_code::Column::RedemptionId,
            Expr::value(Option::<String>::None),
        )
        .filter(voucher_code::Column::TenantId.eq(row.tenant_id.as_str()))
        .filter(voucher_code::Column::RedemptionId.eq(row.redemption_id.as_str()))
        .exec(c)
        .await?;
    Ok(())
}

fn new_generated_code() -> Result<String, DomainError> {
    Ok(generated_code(
        &questline_kit::random_bytes::<ENTROPY_BYTES>()?,
    ))
}
