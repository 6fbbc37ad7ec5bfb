//! The sweep: holds past their time to live are voided and points past
//! their expiry move to breakage, even on wallets nobody touches. Each
//! wallet found goes through the committer like any other write.

use questline_kit::DomainError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::entities::{account, hold, lot};
use super::{Store, rows};
use crate::domain::Owner;
use crate::domain::book::{AccountKey, Command};
use crate::domain::hold::HoldStatus;

/// Wallets swept per round; the next round takes the rest.
const ROUND: u64 = 500;

impl Store {
    /// Sweeps every `every` until `shutdown`.
    pub async fn sweep_every(self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.sweep_due().await {
                Ok(0) => {}
                Ok(swept) => tracing::debug!(swept, "ledger sweep looked at due wallets"),
                Err(err) => tracing::warn!(%err, "ledger sweep failed; the next round retries"),
            }
        }
    }

    /// One round: the wallets with a due hold or a due lot; returns how many.
    pub async fn sweep_due(&self) -> Result<usize, DomainError> {
        let now = self.now();
        let mut wallets: BTreeSet<AccountKey> = BTreeSet::new();
        let holds: Vec<(String, String, String)> = hold::Entity::find()
            .select_only()
            .columns([
                hold::Column::TenantId,
                hold::Column::Currency,
                hold::Column::MemberId,
            ])
            .filter(hold::Column::Status.eq(HoldStatus::Pending.as_str()))
            .filter(hold::Column::ExpiresAt.lte(now))
            .limit(ROUND)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (tenant, currency, member) in holds {
            wallets.insert(AccountKey::new(&tenant, &currency, Owner::Member(member)));
        }
        let lot_accounts: Vec<String> = lot::Entity::find()
            .select_only()
            .column(lot::Column::AccountId)
            .distinct()
            .filter(lot::Column::Remaining.gt(0))
            .filter(lot::Column::ExpiresAt.lte(now))
            .limit(ROUND)
            .into_tuple()
            .all(&self.db)
            .await?;
        if !lot_accounts.is_empty() {
            for row in account::Entity::find()
                .filter(account::Column::AccountId.is_in(lot_accounts))
                .all(&self.db)
                .await?
            {
                wallets.insert(rows::account(row)?.key());
            }
        }
        let count = wallets.len();
        let sweeps = wallets
            .into_iter()
            .map(|key| self.run(Command::Sweep { key }));
        for done in futures::future::join_all(sweeps).await {
            done?;
        }
        Ok(count)
    }
}
