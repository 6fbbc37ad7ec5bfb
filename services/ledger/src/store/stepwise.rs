//! A batch through sea-orm, one statement at a time: SQLite's way (one
//! connection in the same process, no round trips to save). Every lookup
//! is a list of row values, so the planner probes the unique index per
//! key whatever statistics it has.

use questline_kit::DomainError;
use questline_kit::db::insert_all;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap};

use super::entities::{account, currency, hold, leg, lot, transfer};
use super::load::{Found, Reads, Referenced, Tallied, Wanted};
use super::rows;
use super::write::Rows;
use crate::domain::book::AccountKey;
use crate::domain::hold::HoldStatus;

/// The reads of a batch, in its transaction `c`.
pub struct Stepwise<'a, C>(pub &'a C);

#[async_trait::async_trait]
impl<C: ConnectionTrait + Sync> Reads for Stepwise<'_, C> {
    async fn referenced(
        &mut self,
        hold_ids: &[String],
        transfer_ids: &[String],
    ) -> Result<Referenced, DomainError> {
        let c = self.0;
        let mut found = Referenced::default();
        if !hold_ids.is_empty() {
            found.holds = hold::Entity::find()
                .filter(hold::Column::HoldId.is_in(hold_ids.iter().map(String::as_str)))
                .all(c)
                .await?;
        }
        if !transfer_ids.is_empty() {
            let rows = transfer::Entity::find()
                .filter(transfer::Column::TransferId.is_in(transfer_ids.iter().map(String::as_str)))
                .all(c)
                .await?;
            found.transfers = transfers(c, rows).await?;
        }
        Ok(found)
    }

    async fn locked(&mut self, wanted: &Wanted) -> Result<Found, DomainError> {
        let c = self.0;
        let mut found = Found {
            currencies: currencies(c, &wanted.currencies).await?,
            system: accounts_among(&wanted.system).all(c).await?,
            ..Found::default()
        };
        if !wanted.locked.is_empty() {
            found.accounts = accounts_among(&wanted.locked)
                .order_by_asc(account::Column::AccountId)
                .lock_exclusive()
                .all(c)
                .await?;
        }
        found.referenced = self
            .referenced(&wanted.hold_ids, &wanted.transfer_ids)
            .await?;
        let keyed = by_key::<transfer::Entity, _>(
            c,
            &wanted.transfer_keys,
            transfer::Column::TenantId,
            transfer::Column::IdempotencyKey,
        )
        .await?;
        found.replays = transfers(c, keyed).await?;
        found.replayed_holds = by_key::<hold::Entity, _>(
            c,
            &wanted.hold_keys,
            hold::Column::TenantId,
            hold::Column::IdempotencyKey,
        )
        .await?;
        let ids = ids_of(&found.accounts, &wanted.wallets, |_| true);
        found.lots = open_lots(c, &ids).await?;
        let holding = ids_of(&found.accounts, &wanted.drawn, |a| a.held > 0);
        found.due_holds = due_holds(c, &holding, wanted.now).await?;
        found.members = members(c, &wanted.members).await?;
        Ok(found)
    }
}

/// The ids of the accounts among `rows` named in `keys` that pass `keep`.
fn ids_of(
    rows: &[account::Model],
    keys: &[AccountKey],
    keep: impl Fn(&account::Model) -> bool,
) -> Vec<String> {
    let keys: BTreeSet<(&str, &str, String)> = keys
        .iter()
        .map(|k| (k.tenant_id.as_str(), k.currency.as_str(), k.owner.key()))
        .collect();
    rows.iter()
        .filter(|a| keep(a))
        .filter(|a| keys.contains(&(a.tenant_id.as_str(), a.currency.as_str(), a.owner.clone())))
        .map(|a| a.account_id.clone())
        .collect()
}

async fn currencies<C: ConnectionTrait>(
    c: &C,
    wanted: &[(String, String)],
) -> Result<Vec<currency::Model>, DomainError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let filter = pairs_in(currency::Column::TenantId, currency::Column::Code, wanted);
    Ok(currency::Entity::find().filter(filter).all(c).await?)
}

/// Rows of `E` stored under `(tenant, key)` pairs, found by its unique index.
async fn by_key<E: EntityTrait, C: ConnectionTrait>(
    c: &C,
    keys: &[(String, String)],
    tenant: E::Column,
    key: E::Column,
) -> Result<Vec<E::Model>, DomainError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(E::find().filter(pairs_in(tenant, key, keys)).all(c).await?)
}

/// `(tenant, member, erased)` of the read model's rows among `pairs`.
async fn members<C: ConnectionTrait>(
    c: &C,
    pairs: &[(String, String)],
) -> Result<Vec<(String, String, bool)>, DomainError> {
    use questline_kit::members::entity::{Column, Entity};
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Entity::find()
        .filter(pairs_in(Column::TenantId, Column::MemberId, pairs))
        .all(c)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| (m.tenant_id, m.member_id, m.erased))
        .collect())
}

/// `(a, b) IN ((…), …)`: row values, so the planner looks every pair up in
/// the unique index, whatever statistics it has (an `IN` on the second
/// column alone may end up a filter over all the tenant's rows).
fn pairs_in<A: IntoColumnRef, B: IntoColumnRef>(a: A, b: B, pairs: &[(String, String)]) -> Expr {
    Expr::tuple([Expr::col(a), Expr::col(b)]).is_in(
        pairs
            .iter()
            .map(|(x, y)| Expr::tuple([Expr::val(x.as_str()), Expr::val(y.as_str())])),
    )
}

/// Each key is one row value, looked up exactly in the `accounts_owner` index.
fn accounts_among(keys: &[AccountKey]) -> sea_orm::Select<account::Entity> {
    let cols = Expr::tuple([
        Expr::col(account::Column::TenantId),
        Expr::col(account::Column::Currency),
        Expr::col(account::Column::Owner),
    ]);
    let rows = keys.iter().map(|k| {
        Expr::tuple([
            Expr::val(k.tenant_id.as_str()),
            Expr::val(k.currency.as_str()),
            Expr::val(k.owner.key()),
        ])
    });
    account::Entity::find().filter(cols.is_in(rows))
}

async fn open_lots<C: ConnectionTrait>(
    c: &C,
    account_ids: &[String],
) -> Result<Vec<lot::Model>, DomainError> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lot::Entity::find()
        .filter(lot::Column::AccountId.is_in(account_ids.iter().map(String::as_str)))
        .filter(lot::Column::Remaining.gt(0))
        .all(c)
        .await?)
}

async fn due_holds<C: ConnectionTrait>(
    c: &C,
    account_ids: &[String],
    now: i64,
) -> Result<Vec<hold::Model>, DomainError> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(hold::Entity::find()
        .filter(hold::Column::AccountId.is_in(account_ids.iter().map(String::as_str)))
        .filter(hold::Column::Status.eq(HoldStatus::Pending.as_str()))
        .filter(hold::Column::ExpiresAt.lte(now))
        .all(c)
        .await?)
}

/// Transfers with their legs and, per leg, how much was reversed so far.
pub async fn transfers<C: ConnectionTrait>(
    c: &C,
    found: Vec<transfer::Model>,
) -> Result<Tallied, DomainError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = found.iter().map(|t| t.transfer_id.clone()).collect();
    let legs = legs_of(c, &ids).await?;
    let reversals = transfer::Entity::find()
        .filter(transfer::Column::Reverses.is_in(ids))
        .all(c)
        .await?;
    let reversal_ids: Vec<String> = reversals.iter().map(|t| t.transfer_id.clone()).collect();
    let reversal_of: HashMap<String, String> = reversals
        .into_iter()
        .filter_map(|t| t.reverses.map(|r| (t.transfer_id, r)))
        .collect();
    let mut reversal_legs = Vec::new();
    for (reversal_id, legs) in legs_of(c, &reversal_ids).await? {
        if let Some(original) = reversal_of.get(&reversal_id) {
            reversal_legs.extend(legs.into_iter().map(|l| (original.clone(), l)));
        }
    }
    rows::tallied(found, legs, reversal_legs)
}

/// The legs of `ids`, by transfer, in leg order (`rows::by_transfer` sorts).
async fn legs_of<C: ConnectionTrait>(
    c: &C,
    ids: &[String],
) -> Result<HashMap<String, Vec<leg::Model>>, DomainError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = leg::Entity::find()
        .filter(leg::Column::TransferId.is_in(ids.iter().map(String::as_str)))
        .all(c)
        .await?;
    Ok(rows::by_transfer(found))
}

/// Writes a batch's rows: accounts, lots and holds as upserts (opened and
/// changed ones in one statement), then the new transfers, legs and
/// events, and the system accounts last.
pub async fn write<C: ConnectionTrait>(c: &C, rows: Rows) -> Result<(), DomainError> {
    let accounts = [rows.accounts_opened, rows.accounts_changed].concat();
    insert_all(
        c,
        accounts,
        upsert(account::Column::AccountId, &ACCOUNT_CHANGES),
    )
    .await?;
    let lots = [rows.lots_opened, rows.lots_changed].concat();
    insert_all(c, lots, upsert(lot::Column::LotId, &LOT_CHANGES)).await?;
    if !rows.lots_emptied.is_empty() {
        lot::Entity::delete_many()
            .filter(lot::Column::LotId.is_in(rows.lots_emptied))
            .exec(c)
            .await?;
    }
    insert_all(c, rows.holds, upsert(hold::Column::HoldId, &HOLD_CHANGES)).await?;
    insert_all(c, rows.transfers, None).await?;
    insert_all(c, rows.legs, None).await?;
    insert_all(c, rows.outbox, None).await?;
    for (id, balance, held) in rows.system {
        account::Entity::update_many()
            .col_expr(
                account::Column::Balance,
                Expr::col(account::Column::Balance).add(balance),
            )
            .col_expr(
                account::Column::Held,
                Expr::col(account::Column::Held).add(held),
            )
            .filter(account::Column::AccountId.eq(id))
            .exec(c)
            .await?;
    }
    Ok(())
}

/// What an upsert of a stored account, lot or hold may change.
const ACCOUNT_CHANGES: [account::Column; 4] = [
    account::Column::Balance,
    account::Column::Held,
    account::Column::AllowNegative,
    account::Column::Closed,
];
const LOT_CHANGES: [lot::Column; 2] = [lot::Column::Amount, lot::Column::Remaining];
const HOLD_CHANGES: [hold::Column; 3] = [
    hold::Column::Status,
    hold::Column::TransferId,
    hold::Column::CommittedAmount,
];

fn upsert<C: sea_orm::sea_query::IntoIden + Copy>(key: C, set: &[C]) -> Option<OnConflict> {
    Some(
        OnConflict::column(key)
            .update_columns(set.iter().copied())
            .to_owned(),
    )
}
