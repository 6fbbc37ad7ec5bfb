//! Rows to the book's types and back.

use questline_kit::DomainError;
use sea_orm::Set;

use super::entities::{account, currency, hold, leg, lot, transfer};
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

pub fn account_row(a: &Account) -> account::ActiveModel {
    account::ActiveModel {
        account_id: Set(a.account_id.clone()),
        tenant_id: Set(a.tenant_id.clone()),
        currency: Set(a.currency.clone()),
        owner: Set(a.owner.key()),
        balance: Set(a.balance),
        held: Set(a.held),
        allow_negative: Set(a.may_go_negative),
        created_at: Set(a.created_at),
        closed: Set(a.closed),
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

pub fn lot_row(l: &Lot) -> lot::ActiveModel {
    lot::ActiveModel {
        lot_id: Set(l.lot_id.clone()),
        account_id: Set(l.account_id.clone()),
        transfer_id: Set(l.transfer_id.clone()),
        expires_at: Set(l.expires_at),
        amount: Set(l.amount),
        remaining: Set(l.remaining),
        created_at: Set(l.created_at),
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

pub fn hold_row(h: &Hold, account_id: &str) -> hold::ActiveModel {
    hold::ActiveModel {
        hold_id: Set(h.hold_id.clone()),
        tenant_id: Set(h.tenant_id.clone()),
        currency: Set(h.currency.clone()),
        member_id: Set(h.member_id.clone()),
        account_id: Set(account_id.into()),
        amount: Set(h.amount),
        status: Set(h.status.as_str().into()),
        reason: Set(h.reason.clone()),
        expires_at: Set(h.expires_at),
        idempotency_key: Set(h.idempotency_key.clone()),
        fingerprint: Set(h.fingerprint.clone()),
        transfer_id: Set(h.transfer_id.clone()),
        created_at: Set(h.created_at),
        committed_amount: Set(h.committed_amount),
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

pub fn transfer_row(t: &Transfer) -> transfer::ActiveModel {
    transfer::ActiveModel {
        transfer_id: Set(t.transfer_id.clone()),
        tenant_id: Set(t.tenant_id.clone()),
        reason: Set(t.reason.clone()),
        idempotency_key: Set(t.idempotency_key.clone()),
        fingerprint: Set(t.fingerprint.clone()),
        member_total: Set(t.wallet.total),
        member_held: Set(t.wallet.held),
        created_at: Set(t.created_at),
        reference: Set(t.reference.clone()),
        metadata: Set(t.metadata.clone()),
        reverses: Set(t.reverses.clone()),
    }
}

/// A leg's row, with the ids of the accounts on its two sides.
pub fn leg_row(t: &Transfer, i: usize, l: &Leg, debit: String, credit: String) -> leg::ActiveModel {
    leg::ActiveModel {
        transfer_id: Set(t.transfer_id.clone()),
        leg: Set(i as i32),
        tenant_id: Set(t.tenant_id.clone()),
        currency: Set(l.currency.clone()),
        debit_account_id: Set(debit),
        credit_account_id: Set(credit),
        debit_owner: Set(l.debit.key()),
        credit_owner: Set(l.credit.key()),
        amount: Set(l.amount),
        reverses_leg: Set(l.reverses_leg.map(|i| i as i32)),
        created_at: Set(t.created_at),
    }
}
