//! The ledger's storage: every movement is one transaction that moves the
//! balances, records the transfer under its idempotency key, and stages the event.

pub mod entities;
mod export;
pub mod migrations;

use questline_kit::{DomainError, fingerprint, new_id, outbox, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use crate::domain::currency::CurrencySpec;
use crate::domain::hold::{self, HoldStatus, Step};
use crate::domain::requests::{HOLD_KEY_PREFIX, Movement};
use crate::domain::{Figures, Owner};
use crate::events;
use entities::{account, currency, hold as hold_row, transfer};
use questline_kit::audit::{self, Change};

/// A transfer as recorded, with the member wallet's figures after it.
pub struct Posted {
    pub transfer: transfer::Model,
    pub wallet: Figures,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

    /// Creates a currency; creating it again with the same name is a no-op.
    pub async fn create_currency(
        &self,
        tenant_id: &str,
        spec: &CurrencySpec,
        change: &Change,
    ) -> Result<currency::Model, DomainError> {
        let code = spec.code.as_str();
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), code.to_string());
            if let Some(existing) = currency::Entity::find_by_id(key).one(&txn).await? {
                return if same_currency(&existing, spec) {
                    Ok((existing, false))
                } else {
                    Err(DomainError::AlreadyExists(format!(
                        "currency {code} already exists with another definition"
                    )))
                };
            }
            let row = currency::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                code: Set(code.into()),
                name: Set(spec.name.clone()),
                created_at: Set(now_ms()),
                expiry: Set(spec.expiry.to_text()),
                time_zone: Set(spec.time_zone.clone()),
                decimal_places: Set(spec.decimal_places),
            };
            let row = row.insert(&txn).await?;
            audit::stage(&txn, events::SOURCE, change).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// Issuance → member wallet.
    pub async fn credit(&self, m: &Movement) -> Result<Posted, DomainError> {
        let member = Owner::Member(m.member_id.clone());
        self.post(m, &Owner::Issuance, &member).await
    }

    /// Member wallet → redemption; refused when the wallet cannot cover it.
    pub async fn debit(&self, m: &Movement) -> Result<Posted, DomainError> {
        let member = Owner::Member(m.member_id.clone());
        self.post(m, &member, &Owner::Redemption).await
    }

    async fn post(&self, m: &Movement, from: &Owner, to: &Owner) -> Result<Posted, DomainError> {
        let posted = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if let Some(first) = find_transfer(&txn, &m.tenant_id, &m.idempotency_key).await? {
                fingerprint::same_request(&first.fingerprint, &m.fingerprint)?;
                let wallet = Figures {
                    total: first.member_total,
                    held: first.member_held,
                };
                return Ok((
                    Posted {
                        transfer: first,
                        wallet,
                    },
                    false,
                ));
            }
            require_currency(&txn, &m.tenant_id, &m.currency).await?;
            let from_account = open_account(&txn, &m.tenant_id, &m.currency, from).await?;
            let to_account = open_account(&txn, &m.tenant_id, &m.currency, to).await?;
            expire_due_holds(&txn, &from_account, now_ms()).await?;
            withdraw(&txn, &from_account, m.amount, false).await?;
            deposit(&txn, &to_account.account_id, m.amount).await?;
            let wallet = figures(&txn, &m.tenant_id, &m.currency, &m.member_id).await?;
            let transfer = record_transfer(&txn, m, from, to, wallet).await?;
            let event = events::movement(m, from, &transfer.transfer_id, wallet.total);
            outbox::stage(&txn, &event).await?;
            txn.commit().await?;
            Ok((Posted { transfer, wallet }, true))
        })
        .await?;
        Ok(self.relay.woken(posted))
    }

    /// Every wallet of a member, one per currency it has ever held.
    pub async fn balances(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Vec<(String, Figures)>, DomainError> {
        let txn = self.db.begin().await?;
        let now = now_ms();
        for wallet in member_wallets(&txn, tenant_id, member_id).await? {
            expire_due_holds(&txn, &wallet, now).await?;
        }
        // Read again: a concurrent reader may have expired a hold first, and
        // the figures read before that are stale.
        let out = member_wallets(&txn, tenant_id, member_id)
            .await?
            .into_iter()
            .map(|w| {
                let figures = Figures {
                    total: w.balance,
                    held: w.held,
                };
                (w.currency, figures)
            })
            .collect();
        txn.commit().await?;
        Ok(out)
    }

    /// Reserves points on the member's wallet until `ttl_seconds` from now.
    pub async fn create_hold(
        &self,
        m: &Movement,
        ttl_seconds: i64,
    ) -> Result<hold_row::Model, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let existing = hold_row::Entity::find()
                .filter(hold_row::Column::TenantId.eq(m.tenant_id.as_str()))
                .filter(hold_row::Column::IdempotencyKey.eq(m.idempotency_key.as_str()))
                .one(&txn)
                .await?;
            if let Some(first) = existing {
                fingerprint::same_request(&first.fingerprint, &m.fingerprint)?;
                return Ok(first);
            }
            require_currency(&txn, &m.tenant_id, &m.currency).await?;
            let owner = Owner::Member(m.member_id.clone());
            let wallet = open_account(&txn, &m.tenant_id, &m.currency, &owner).await?;
            let now = now_ms();
            expire_due_holds(&txn, &wallet, now).await?;
            withdraw(&txn, &wallet, m.amount, true).await?;
            let row = hold_row::ActiveModel {
                hold_id: Set(new_id()),
                tenant_id: Set(m.tenant_id.clone()),
                currency: Set(m.currency.clone()),
                member_id: Set(m.member_id.clone()),
                account_id: Set(wallet.account_id.clone()),
                amount: Set(m.amount),
                status: Set(HoldStatus::Pending.as_str().into()),
                reason: Set(m.reason.clone()),
                expires_at: Set(now + ttl_seconds * 1000),
                idempotency_key: Set(m.idempotency_key.clone()),
                fingerprint: Set(m.fingerprint.clone()),
                transfer_id: Set(None),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }

    /// Spends the held points: wallet → redemption. A second commit answers as the first.
    pub async fn commit_hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<hold_row::Model, DomainError> {
        let (row, committed) = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let stored = find_hold(&txn, tenant_id, hold_id).await?;
            let status = HoldStatus::parse(&stored.status)?;
            match hold::commit(status, stored.expires_at, now_ms())? {
                Step::Nothing => Ok((stored, false)),
                Step::Release(end) => {
                    let row = release(&txn, stored, end).await?;
                    txn.commit().await?;
                    Ok((row, false))
                }
                Step::Commit => {
                    let row = commit(&txn, stored).await?;
                    txn.commit().await?;
                    Ok((row, true))
                }
            }
        })
        .await?;
        if committed {
            self.relay.wake();
        }
        match HoldStatus::parse(&row.status)? {
            HoldStatus::Committed => Ok(row),
            HoldStatus::Expired => Err(DomainError::precondition(
                "HOLD_EXPIRED",
                format!("holds/{hold_id}"),
                "the hold expired before it was committed",
            )),
            _ => Err(DomainError::precondition(
                "HOLD_NOT_PENDING",
                format!("holds/{hold_id}"),
                "the hold was voided",
            )),
        }
    }

    pub async fn hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<hold_row::Model, DomainError> {
        find_hold(&self.db, tenant_id, hold_id).await
    }

    /// Releases the held points; nothing moves.
    pub async fn void_hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<hold_row::Model, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let stored = find_hold(&txn, tenant_id, hold_id).await?;
            let status = HoldStatus::parse(&stored.status)?;
            let row = match hold::void(status, stored.expires_at, now_ms())? {
                Step::Release(end) => {
                    let row = release(&txn, stored, end).await?;
                    txn.commit().await?;
                    row
                }
                Step::Nothing | Step::Commit => stored,
            };
            match HoldStatus::parse(&row.status)? {
                HoldStatus::Committed => Err(DomainError::precondition(
                    "HOLD_NOT_PENDING",
                    format!("holds/{hold_id}"),
                    "the hold was already committed",
                )),
                _ => Ok(row),
            }
        })
        .await
    }
}

fn same_currency(row: &currency::Model, spec: &CurrencySpec) -> bool {
    row.name == spec.name
        && row.expiry == spec.expiry.to_text()
        && row.time_zone == spec.time_zone
        && row.decimal_places == spec.decimal_places
}

async fn member_wallets<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    member_id: &str,
) -> Result<Vec<account::Model>, DomainError> {
    Ok(account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant_id))
        .filter(account::Column::Owner.eq(Owner::Member(member_id.into()).key()))
        .order_by_asc(account::Column::Currency)
        .all(c)
        .await?)
}

async fn require_currency<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    code: &str,
) -> Result<(), DomainError> {
    let key = (tenant_id.to_string(), code.to_string());
    match currency::Entity::find_by_id(key).one(c).await? {
        Some(_) => Ok(()),
        None => Err(DomainError::NotFound(format!("currency {code} not found"))),
    }
}

async fn find_transfer<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    key: &str,
) -> Result<Option<transfer::Model>, DomainError> {
    Ok(transfer::Entity::find()
        .filter(transfer::Column::TenantId.eq(tenant_id))
        .filter(transfer::Column::IdempotencyKey.eq(key))
        .one(c)
        .await?)
}

async fn find_hold<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    hold_id: &str,
) -> Result<hold_row::Model, DomainError> {
    hold_row::Entity::find_by_id(hold_id.to_string())
        .filter(hold_row::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("hold {hold_id} not found")))
}

/// The account of `owner`, opened on first use.
async fn open_account<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    currency: &str,
    owner: &Owner,
) -> Result<account::Model, DomainError> {
    let found = account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant_id))
        .filter(account::Column::Currency.eq(currency))
        .filter(account::Column::Owner.eq(owner.key()))
        .one(c)
        .await?;
    if let Some(account) = found {
        return Ok(account);
    }
    let row = account::ActiveModel {
        account_id: Set(new_id()),
        tenant_id: Set(tenant_id.into()),
        currency: Set(currency.into()),
        owner: Set(owner.key()),
        balance: Set(0),
        held: Set(0),
        allow_negative: Set(owner.allows_negative()),
        created_at: Set(now_ms()),
    };
    Ok(row.insert(c).await?)
}

/// Takes `amount` off the balance (or, with `hold`, reserves it), refusing to
/// spend what a member wallet does not have. The check and the write are one
/// statement, so concurrent spends on the same wallet cannot both pass.
async fn withdraw<C: ConnectionTrait>(
    c: &C,
    account: &account::Model,
    amount: i64,
    hold: bool,
) -> Result<(), DomainError> {
    let (column, expr) = if hold {
        (
            account::Column::Held,
            Expr::col(account::Column::Held).add(amount),
        )
    } else {
        (
            account::Column::Balance,
            Expr::col(account::Column::Balance).sub(amount),
        )
    };
    let mut update = account::Entity::update_many()
        .col_expr(column, expr)
        .filter(account::Column::AccountId.eq(account.account_id.as_str()));
    if !account.allow_negative {
        update = update.filter(
            Expr::col(account::Column::Balance)
                .sub(Expr::col(account::Column::Held))
                .gte(amount),
        );
    }
    if update.exec(c).await?.rows_affected == 1 {
        Ok(())
    } else {
        Err(DomainError::precondition(
            "INSUFFICIENT_FUNDS",
            account.owner.clone(),
            format!("not enough {} available", account.currency),
        ))
    }
}

async fn deposit<C: ConnectionTrait>(
    c: &C,
    account_id: &str,
    amount: i64,
) -> Result<(), DomainError> {
    account::Entity::update_many()
        .col_expr(
            account::Column::Balance,
            Expr::col(account::Column::Balance).add(amount),
        )
        .filter(account::Column::AccountId.eq(account_id))
        .exec(c)
        .await?;
    Ok(())
}

async fn record_transfer<C: ConnectionTrait>(
    c: &C,
    m: &Movement,
    from: &Owner,
    to: &Owner,
    wallet: Figures,
) -> Result<transfer::Model, DomainError> {
    let row = transfer::ActiveModel {
        transfer_id: Set(new_id()),
        tenant_id: Set(m.tenant_id.clone()),
        currency: Set(m.currency.clone()),
        debit_owner: Set(from.key()),
        credit_owner: Set(to.key()),
        amount: Set(m.amount),
        reason: Set(m.reason.clone()),
        idempotency_key: Set(m.idempotency_key.clone()),
        fingerprint: Set(m.fingerprint.clone()),
        member_total: Set(wallet.total),
        member_held: Set(wallet.held),
        created_at: Set(now_ms()),
    };
    Ok(row.insert(c).await?)
}

async fn figures<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    currency: &str,
    member_id: &str,
) -> Result<Figures, DomainError> {
    let wallet = account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant_id))
        .filter(account::Column::Currency.eq(currency))
        .filter(account::Column::Owner.eq(Owner::Member(member_id.into()).key()))
        .one(c)
        .await?;
    Ok(wallet
        .map(|w| Figures {
            total: w.balance,
            held: w.held,
        })
        .unwrap_or_default())
}

/// Expires the wallet's pending holds that are past due; returns the points released.
async fn expire_due_holds<C: ConnectionTrait>(
    c: &C,
    wallet: &account::Model,
    now: i64,
) -> Result<i64, DomainError> {
    let due = hold_row::Entity::find()
        .filter(hold_row::Column::AccountId.eq(wallet.account_id.as_str()))
        .filter(hold_row::Column::Status.eq(HoldStatus::Pending.as_str()))
        .filter(hold_row::Column::ExpiresAt.lte(now))
        .all(c)
        .await?;
    let mut released = 0;
    for row in due {
        if end_hold(c, &row, HoldStatus::Expired).await? {
            released += row.amount;
        }
    }
    Ok(released)
}

/// Moves a pending hold to `end` and gives its points back to `available`.
/// The status change is conditional, so of two transactions ending the same
/// hold only one releases it: false for the one that lost.
async fn end_hold<C: ConnectionTrait>(
    c: &C,
    row: &hold_row::Model,
    end: HoldStatus,
) -> Result<bool, DomainError> {
    let claimed = hold_row::Entity::update_many()
        .col_expr(hold_row::Column::Status, Expr::value(end.as_str()))
        .filter(hold_row::Column::HoldId.eq(row.hold_id.as_str()))
        .filter(hold_row::Column::Status.eq(HoldStatus::Pending.as_str()))
        .exec(c)
        .await?
        .rows_affected
        == 1;
    if claimed {
        account::Entity::update_many()
            .col_expr(
                account::Column::Held,
                Expr::col(account::Column::Held).sub(row.amount),
            )
            .filter(account::Column::AccountId.eq(row.account_id.as_str()))
            .exec(c)
            .await?;
    }
    Ok(claimed)
}

async fn reload<C: ConnectionTrait>(
    c: &C,
    row: &hold_row::Model,
) -> Result<hold_row::Model, DomainError> {
    find_hold(c, &row.tenant_id, &row.hold_id).await
}

/// Ends a pending hold without moving points.
async fn release<C: ConnectionTrait>(
    c: &C,
    row: hold_row::Model,
    end: HoldStatus,
) -> Result<hold_row::Model, DomainError> {
    end_hold(c, &row, end).await?;
    reload(c, &row).await
}

/// Spends a pending hold: release it and move its points to redemption.
async fn commit<C: ConnectionTrait>(
    c: &C,
    row: hold_row::Model,
) -> Result<hold_row::Model, DomainError> {
    if !end_hold(c, &row, HoldStatus::Committed).await? {
        return reload(c, &row).await;
    }
    let member = Owner::Member(row.member_id.clone());
    let wallet = open_account(c, &row.tenant_id, &row.currency, &member).await?;
    let redemption = open_account(c, &row.tenant_id, &row.currency, &Owner::Redemption).await?;
    withdraw(c, &wallet, row.amount, false).await?;
    deposit(c, &redemption.account_id, row.amount).await?;
    let movement = Movement {
        tenant_id: row.tenant_id.clone(),
        member_id: row.member_id.clone(),
        currency: row.currency.clone(),
        amount: row.amount,
        reason: row.reason.clone(),
        idempotency_key: format!("{HOLD_KEY_PREFIX}{}", row.hold_id),
        fingerprint: row.fingerprint.clone(),
    };
    let after = figures(c, &row.tenant_id, &row.currency, &row.member_id).await?;
    let transfer = record_transfer(c, &movement, &member, &Owner::Redemption, after).await?;
    let event = events::movement(&movement, &member, &transfer.transfer_id, after.total);
    outbox::stage(c, &event).await?;
    hold_row::Entity::update_many()
        .col_expr(
            hold_row::Column::TransferId,
            Expr::value(transfer.transfer_id),
        )
        .filter(hold_row::Column::HoldId.eq(row.hold_id.as_str()))
        .exec(c)
        .await?;
    reload(c, &row).await
}

#[cfg(test)]
mod tests;
