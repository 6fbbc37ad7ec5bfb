//! The ledger's storage. Every write is a `Command` carried out by the
//! committer (group commit, see `committer`); reads go straight to the
//! database (see `queries`).

mod batch;
mod committer;
pub mod entities;
mod export;
mod figures;
mod load;
pub mod migrations;
mod pipelined;
mod queries;
mod rows;
mod stepwise;
mod sweeper;
mod write;

use questline_kit::error::same_or_exists;
use questline_kit::{DomainError, outbox, time::now_ms};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use committer::Clock;
pub use load::is_unseen;
pub use queries::{Entry, EntryFilter, TransferLookup, WalletView};

use crate::domain::book::{Account, AccountKey, Answer, Command, Hold, Transfer};
use crate::domain::currency::CurrencySpec;
use crate::events;
use committer::Committer;
use entities::currency;
use questline_kit::audit::{self, Change};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
    committer: Committer,
    clock: Clock,
}

impl Store {
    /// The store of the database `db` opened from `url`.
    pub fn new(db: DatabaseConnection, url: &str, relay: outbox::Relay) -> anyhow::Result<Store> {
        Store::with_clock(db, url, relay, Arc::new(now_ms))
    }

    /// A store whose idea of now is `clock` (tests move time with it).
    pub fn with_clock(
        db: DatabaseConnection,
        url: &str,
        relay: outbox::Relay,
        clock: Clock,
    ) -> anyhow::Result<Store> {
        let committer = Committer::start(db.clone(), url, relay.clone(), clock.clone())?;
        Ok(Store {
            db,
            relay,
            committer,
            clock,
        })
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Creates a currency; the same definition again is a no-op, another is
    /// ALREADY_EXISTS. Currencies never change afterwards.
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
                let same = same_currency(&existing, spec);
                return same_or_exists((existing, false), same, "currency", code);
            }
            let row = currency::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                code: Set(code.into()),
                name: Set(spec.name.clone()),
                created_at: Set(now_ms()),
                expiry: Set(spec.expiry.to_text()),
                time_zone: Set(spec.time_zone.clone()),
                decimal_places: Set(spec.decimal_places),
                reversals_may_overdraw: Set(spec.reversals_may_overdraw),
            };
            let row = row.insert(&txn).await?;
            audit::stage(&txn, events::SOURCE, change).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// Carries out a write with whatever else is waiting (group commit).
    pub async fn run(&self, command: Command) -> Result<Answer, DomainError> {
        self.committer.submit(command, None, false).await
    }

    pub async fn transfer(&self, command: Command) -> Result<Transfer, DomainError> {
        transfer_of(self.run(command).await?)
    }

    /// `transfer`, refused in the batch's own reads when a member it names
    /// is erased (NOT_FOUND) or not in the member read model yet
    /// (`is_unseen`): a request's path, where the caller names the members.
    pub async fn transfer_checking_members(
        &self,
        command: Command,
    ) -> Result<Transfer, DomainError> {
        transfer_of(self.committer.submit(command, None, true).await?)
    }

    /// `transfer_checking_members` for one request's commands together,
    /// each with the trace it belongs to; each answered on its own.
    pub async fn transfers_checking_members(
        &self,
        commands: Vec<(Command, BTreeMap<String, String>)>,
    ) -> Vec<Result<Transfer, DomainError>> {
        let answers = self.committer.submit_together(commands, true).await;
        answers.into_iter().map(|a| transfer_of(a?)).collect()
    }

    pub async fn hold_command(&self, command: Command) -> Result<Hold, DomainError> {
        match self.run(command).await? {
            Answer::Hold(h) => Ok(h),
            other => Err(unexpected(other)),
        }
    }

    /// Opens a partner's account (see `Account::may_open`), audited in its
    /// batch; again with the same flag, the same answer.
    pub async fn open_account(
        &self,
        key: AccountKey,
        may_go_negative: bool,
        change: Change,
    ) -> Result<Account, DomainError> {
        let command = Command::OpenAccount {
            key,
            may_go_negative,
        };
        self.account_command(command, change).await
    }

    /// Closes an empty account, audited in its batch; again, the same answer.
    pub async fn close_account(
        &self,
        key: AccountKey,
        change: Change,
    ) -> Result<Account, DomainError> {
        self.account_command(Command::CloseAccount { key }, change)
            .await
    }

    /// An administrator's change to an account, audited in its transaction.
    async fn account_command(
        &self,
        command: Command,
        change: Change,
    ) -> Result<Account, DomainError> {
        match self.committer.submit(command, Some(change), false).await? {
            Answer::Account(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(answer: Answer) -> DomainError {
    DomainError::internal(format!("unexpected answer {answer:?}"))
}

fn transfer_of(answer: Answer) -> Result<Transfer, DomainError> {
    match answer {
        Answer::Transfer(t) => Ok(t),
        other => Err(unexpected(other)),
    }
}

fn same_currency(row: &currency::Model, spec: &CurrencySpec) -> bool {
    row.name == spec.name
        && row.expiry == spec.expiry.to_text()
        && row.time_zone == spec.time_zone
        && row.decimal_places == spec.decimal_places
        && row.reversals_may_overdraw == spec.reversals_may_overdraw
}

#[cfg(test)]
mod tests;
