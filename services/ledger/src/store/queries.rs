//! Reads: balances, accounts, history, transfers, programme totals. They
//! see committed batches only, so every figure they sum is conserved.

use questline_kit::DomainError;
use questline_kit::paging::{self, Page};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeMap, HashMap};

use super::entities::{account, currency, hold, leg, lot, transfer};
use super::{Store, rows, stepwise};
use crate::domain::book::{Account, AccountKey, Hold, Transfer};
use crate::domain::hold::HoldStatus;
use crate::domain::{Figures, Owner, Totals, lots};

/// A wallet as its member sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    pub currency: String,
    pub figures: Figures,
    /// Points that expire before `before` (when asked).
    pub expiring: i64,
    pub before: Option<i64>,
}

/// One leg as the account sees it: positive when points came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub transfer_id: String,
    pub leg: i32,
    pub counterparty: String,
    pub amount: i64,
    pub reason: String,
    pub reference: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub counterparty: Option<Owner>,
}

impl Store {
    /// Every wallet of a member. Points past their expiry that the next
    /// sweep will move are already left out, unless a hold still keeps them.
    pub async fn balances(
        &self,
        tenant_id: &str,
        member_id: &str,
        expiring_within_days: i64,
    ) -> Result<Vec<WalletView>, DomainError> {
        let now = self.now();
        let wallets = account::Entity::find()
            .filter(account::Column::TenantId.eq(tenant_id))
            .filter(account::Column::Owner.eq(Owner::Member(member_id.into()).key()))
            .order_by_asc(account::Column::Currency)
            .all(&self.db)
            .await?;
        let ids: Vec<&str> = wallets.iter().map(|w| w.account_id.as_str()).collect();
        let mut lots_of: HashMap<String, Vec<lots::Lot>> = HashMap::new();
        for row in lot::Entity::find()
            .filter(lot::Column::AccountId.is_in(ids))
            .filter(lot::Column::Remaining.gt(0))
            .filter(lot::Column::ExpiresAt.is_not_null())
            .all(&self.db)
            .await?
        {
            lots_of
                .entry(row.account_id.clone())
                .or_default()
                .push(rows::lot(row));
        }
        let before = (expiring_within_days > 0).then(|| now + expiring_within_days * 86_400_000);
        let pending = self.pending_held(&wallets, now).await?;
        let mut out = Vec::with_capacity(wallets.len());
        for w in wallets {
            let held = pending.get(&w.account_id).copied().unwrap_or(0);
            let lots = lots_of.remove(&w.account_id).unwrap_or_default();
            let (expired, expiring) = lots::outlook(&lots, w.balance, held, now, before);
            out.push(WalletView {
                currency: w.currency,
                figures: Figures {
                    total: w.balance - expired,
                    held,
                },
                expiring,
                before,
            });
        }
        Ok(out)
    }

    /// Per wallet, the points held by pending holds not yet past their expiry.
    async fn pending_held(
        &self,
        wallets: &[account::Model],
        now: i64,
    ) -> Result<HashMap<String, i64>, DomainError> {
        let ids = wallets.iter().map(|w| w.account_id.as_str());
        let sums: Vec<(String, Option<i64>)> = hold::Entity::find()
            .select_only()
            .column(hold::Column::AccountId)
            // PostgreSQL sums bigint as numeric.
            .column_as(
                Expr::col(hold::Column::Amount).sum().cast_as("BIGINT"),
                "held",
            )
            .filter(hold::Column::AccountId.is_in(ids))
            .filter(hold::Column::Status.eq(HoldStatus::Pending.as_str()))
            .filter(hold::Column::ExpiresAt.gt(now))
            .group_by(hold::Column::AccountId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(sums
            .into_iter()
            .map(|(id, held)| (id, held.unwrap_or(0)))
            .collect())
    }

    pub async fn account(&self, key: &AccountKey) -> Result<Account, DomainError> {
        let AccountKey {
            tenant_id,
            currency,
            owner,
        } = key;
        let row = account::Entity::find()
            .filter(account::Column::TenantId.eq(tenant_id))
            .filter(account::Column::Currency.eq(currency))
            .filter(account::Column::Owner.eq(owner.key()))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                DomainError::NotFound(format!("account {} in {currency} not found", owner.key()))
            })?;
        rows::account(row)
    }

    /// The account's entries, newest first, a page at a time.
    pub async fn entries(
        &self,
        account: &Account,
        filter: &EntryFilter,
        page: &Page,
    ) -> Result<(Vec<Entry>, String), DomainError> {
        let id = account.account_id.as_str();
        let mut sides = Condition::any();
        for (mine, theirs) in [
            (leg::Column::DebitAccountId, leg::Column::CreditOwner),
            (leg::Column::CreditAccountId, leg::Column::DebitOwner),
        ] {
            let mut side = Condition::all().add(mine.eq(id));
            if let Some(other) = &filter.counterparty {
                side = side.add(theirs.eq(other.key()));
            }
            sides = sides.add(side);
        }
        let mut query = leg::Entity::find().filter(sides);
        if let Some(since) = filter.since {
            query = query.filter(leg::Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(leg::Column::CreatedAt.lt(until));
        }
        if let Some((transfer_id, leg_no)) = page.after.as_deref().and_then(cursor) {
            query = query.filter(
                Condition::any()
                    .add(leg::Column::TransferId.lt(transfer_id))
                    .add(
                        Condition::all()
                            .add(leg::Column::TransferId.eq(transfer_id))
                            .add(leg::Column::Leg.lt(leg_no)),
                    ),
            );
        }
        let mut found = query
            .order_by_desc(leg::Column::TransferId)
            .order_by_desc(leg::Column::Leg)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        let fetched = found.len();
        found.truncate(page.size as usize);
        let last = found.last().map(|l| format!("{}/{}", l.transfer_id, l.leg));
        let token = paging::next_token(page.size, fetched, last.as_deref());
        let heads = self
            .heads(found.iter().map(|l| l.transfer_id.as_str()))
            .await?;
        let entries = found
            .into_iter()
            .map(|l| {
                let incoming = l.credit_account_id == id;
                let head = heads.get(&l.transfer_id);
                Entry {
                    counterparty: if incoming {
                        l.debit_owner
                    } else {
                        l.credit_owner
                    },
                    amount: if incoming { l.amount } else { -l.amount },
                    reason: head.map(|h| h.reason.clone()).unwrap_or_default(),
                    reference: head.map(|h| h.reference.clone()).unwrap_or_default(),
                    transfer_id: l.transfer_id,
                    leg: l.leg,
                    created_at: l.created_at,
                }
            })
            .collect();
        Ok((entries, token))
    }

    async fn heads<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, transfer::Model>, DomainError> {
        let ids: Vec<&str> = ids.collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(transfer::Entity::find()
            .filter(transfer::Column::TransferId.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|t| (t.transfer_id.clone(), t))
            .collect())
    }

    /// A transfer by id or by its idempotency key, with how much of each leg was reversed.
    pub async fn find_transfer(
        &self,
        tenant_id: &str,
        by: TransferLookup<'_>,
    ) -> Result<(Transfer, Vec<i64>), DomainError> {
        let query = transfer::Entity::find().filter(transfer::Column::TenantId.eq(tenant_id));
        let query = match by {
            TransferLookup::Id(id) => query.filter(transfer::Column::TransferId.eq(id)),
            TransferLookup::Key(key) => query.filter(transfer::Column::IdempotencyKey.eq(key)),
        };
        let found = query.one(&self.db).await?.into_iter().collect();
        stepwise::transfers(&self.db, found)
            .await?
            .pop()
            .ok_or_else(|| DomainError::NotFound("transfer not found".into()))
    }

    pub async fn hold(&self, tenant_id: &str, hold_id: &str) -> Result<Hold, DomainError> {
        let row = hold::Entity::find_by_id(hold_id.to_string())
            .filter(hold::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("hold {hold_id} not found")))?;
        rows::hold(row)
    }

    /// Issued, burned, expired, adjusted and outstanding points per currency.
    pub async fn totals(
        &self,
        tenant_id: &str,
        only: Option<&str>,
    ) -> Result<Vec<Totals>, DomainError> {
        let mut currencies =
            currency::Entity::find().filter(currency::Column::TenantId.eq(tenant_id));
        let mut sums = account::Entity::find()
            .select_only()
            .column(account::Column::Currency)
            .column(account::Column::Owner)
            .column(account::Column::Balance)
            .filter(account::Column::TenantId.eq(tenant_id));
        if let Some(code) = only {
            currencies = currencies.filter(currency::Column::Code.eq(code));
            sums = sums.filter(account::Column::Currency.eq(code));
        }
        let mut out: BTreeMap<String, Totals> = currencies
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.code.clone(), Totals::new(&c.code)))
            .collect();
        let balances: Vec<(String, String, i64)> = sums.into_tuple().all(&self.db).await?;
        for (code, owner, balance) in balances {
            let Some(t) = out.get_mut(&code) else {
                continue;
            };
            t.count(&rows::owner(&owner)?, balance);
        }
        Ok(out.into_values().collect())
    }
}

pub enum TransferLookup<'a> {
    Id(&'a str),
    Key(&'a str),
}

/// `transfer_id/leg` from a page token.
fn cursor(after: &str) -> Option<(&str, i32)> {
    let (id, leg) = after.rsplit_once('/')?;
    Some((id, leg.parse().ok()?))
}
