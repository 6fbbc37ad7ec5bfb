//! Rows to the book's types and back.

use questline_kit::DomainError;
use std::collections::HashMap;

use super::entities::{account, currency, hold, leg, lot, transfer};
use super::load::Tallied;
use crate::domain::book::{Account, Currency, Hold, Leg, Transfer};
use crate::domain::expiry::ExpiryPolicy;
use crate::domain::hold::HoldStatus;
use crate::domain::lots::Lot;
use crate::domain::{Figures, Owner};

pub fn currency(row: &currency::Model) -> Result<Currency, DomainError> {
    Ok(Currency {
        expiry: ExpiryPolicy::parse(&row.expiry)?,
        zone: jiff::tz::TimeZone::get(&row.time_zone).map_err(DomainError::internal)?,
        reversals_may_overdraw: row.reversals_may_overdraw,
    })
}

pub fn owner(stored: &str) -> Result<Owner, DomainError> {
    Owner::parse("owner", stored).map_err(|_| DomainError::internal(format!("bad owner {stored}")))
}

pub fn account(row: account::Model) -> Result<Account, DomainError> {
    Ok(Account {
        owner: owner(&row.owner)?,
        account_id: row.account_id,
        tenant_id: row.tenant_id,
        currency: row.currency,
        balance: row.balance,
        held: row.held,
        may_go_negative: row.allow_negative,
        closed: row.closed,
        created_at: row.created_at,
    })
}

pub fn account_row(a: &Account) -> account::Model {
    account::Model {
        account_id: a.account_id.clone(),
        tenant_id: a.tenant_id.clone(),
        currency: a.currency.clone(),
        owner: a.owner.key(),
        balance: a.balance,
        held: a.held,
        allow_negative: a.may_go_negative,
        created_at: a.created_at,
        closed: a.closed,
    }
}

pub fn lot(row: lot::Model) -> Lot {
    Lot {
        lot_id: row.lot_id,
        account_id: row.account_id,
        transfer_id: row.transfer_id,
        expires_at: row.expires_at,
        amount: row.amount,
        remaining: row.remaining,
        created_at: row.created_at,
    }
}

pub fn lot_row(l: &Lot) -> lot::Model {
    lot::Model {
        lot_id: l.lot_id.clone(),
        account_id: l.account_id.clone(),
        transfer_id: l.transfer_id.clone(),
        expires_at: l.expires_at,
        amount: l.amount,
        remaining: l.remaining,
        created_at: l.created_at,
    }
}

pub fn hold(row: hold::Model) -> Result<Hold, DomainError> {
    Ok(Hold {
        status: HoldStatus::parse(&row.status)?,
        hold_id: row.hold_id,
        tenant_id: row.tenant_id,
        currency: row.currency,
        member_id: row.member_id,
        amount: row.amount,
        reason: row.reason,
        expires_at: row.expires_at,
        idempotency_key: row.idempotency_key,
        fingerprint: row.fingerprint,
        transfer_id: row.transfer_id,
        committed_amount: row.committed_amount,
        created_at: row.created_at,
    })
}

pub fn hold_row(h: &Hold, account_id: &str) -> hold::Model {
    hold::Model {
        hold_id: h.hold_id.clone(),
        tenant_id: h.tenant_id.clone(),
        currency: h.currency.clone(),
        member_id: h.member_id.clone(),
        account_id: account_id.into(),
        amount: h.amount,
        status: h.status.as_str().into(),
        reason: h.reason.clone(),
        expires_at: h.expires_at,
        idempotency_key: h.idempotency_key.clone(),
        fingerprint: h.fingerprint.clone(),
        transfer_id: h.transfer_id.clone(),
        created_at: h.created_at,
        committed_amount: h.committed_amount,
    }
}

/// A transfer from its row and its legs (in leg order).
pub fn transfer(row: transfer::Model, legs: Vec<leg::Model>) -> Result<Transfer, DomainError> {
    let legs = legs
        .into_iter()
        .map(|l| {
            Ok(Leg {
                debit: owner(&l.debit_owner)?,
                credit: owner(&l.credit_owner)?,
                currency: l.currency,
                amount: l.amount,
                reverses_leg: l.reverses_leg.map(|i| i as usize),
            })
        })
        .collect::<Result<_, DomainError>>()?;
    Ok(Transfer {
        transfer_id: row.transfer_id,
        tenant_id: row.tenant_id,
        legs,
        reason: row.reason,
        reference: row.reference,
        metadata: row.metadata,
        idempotency_key: row.idempotency_key,
        fingerprint: row.fingerprint,
        reverses: row.reverses,
        created_at: row.created_at,
        wallet: Figures {
            total: row.member_total,
            held: row.member_held,
        },
    })
}

pub fn transfer_row(t: &Transfer) -> transfer::Model {
    transfer::Model {
        transfer_id: t.transfer_id.clone(),
        tenant_id: t.tenant_id.clone(),
        reason: t.reason.clone(),
        idempotency_key: t.idempotency_key.clone(),
        fingerprint: t.fingerprint.clone(),
        member_total: t.wallet.total,
        member_held: t.wallet.held,
        created_at: t.created_at,
        reference: t.reference.clone(),
        metadata: t.metadata.clone(),
        reverses: t.reverses.clone(),
    }
}

/// A leg's row, with the ids of the accounts on its two sides.
pub fn leg_row(t: &Transfer, i: usize, l: &Leg, debit: String, credit: String) -> leg::Model {
    leg::Model {
        transfer_id: t.transfer_id.clone(),
        leg: i as i32,
        tenant_id: t.tenant_id.clone(),
        currency: l.currency.clone(),
        debit_account_id: debit,
        credit_account_id: credit,
        debit_owner: l.debit.key(),
        credit_owner: l.credit.key(),
        amount: l.amount,
        reverses_leg: l.reverses_leg.map(|i| i as i32),
        created_at: t.created_at,
    }
}

/// Legs grouped by transfer, each group in leg order.
pub fn by_transfer(legs: Vec<leg::Model>) -> HashMap<String, Vec<leg::Model>> {
    let mut out: HashMap<String, Vec<leg::Model>> = HashMap::new();
    for l in legs {
        out.entry(l.transfer_id.clone()).or_default().push(l);
    }
    for group in out.values_mut() {
        group.sort_by_key(|l| l.leg);
    }
    out
}

/// Transfers with their legs and, per leg, how much the legs of their
/// reversals (`(original transfer id, reversal leg)`) moved back.
pub fn tallied(
    found: Vec<transfer::Model>,
    mut legs: HashMap<String, Vec<leg::Model>>,
    reversal_legs: Vec<(String, leg::Model)>,
) -> Result<Tallied, DomainError> {
    let mut tally: HashMap<String, Vec<i64>> = HashMap::new();
    for (original, l) in reversal_legs {
        let Some(i) = l.reverses_leg.map(|i| i as usize) else {
            continue;
        };
        let done = tally.entry(original).or_default();
        if done.len() <= i {
            done.resize(i + 1, 0);
        }
        done[i] += l.amount;
    }
    let mut out = Vec::with_capacity(found.len());
    for row in found {
        let id = row.transfer_id.clone();
        let transfer = transfer(row, legs.remove(&id).unwrap_or_default())?;
        let mut done = tally.remove(&id).unwrap_or_default();
        done.resize(transfer.legs.len(), 0);
        out.push((transfer, done));
    }
    Ok(out)
}
