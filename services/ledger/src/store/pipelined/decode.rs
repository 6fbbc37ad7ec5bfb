//! PostgreSQL rows into the store's row types, column by name: every field
//! is read from the column of the same name.

use questline_kit::decode_row;
use tokio_postgres::Row;

use crate::store::entities::{account, currency, hold, leg, lot, transfer};

type Decoded<T> = Result<T, tokio_postgres::Error>;

pub fn currency(row: &Row) -> Decoded<currency::Model> {
    decode_row!(row => currency::Model {
        tenant_id, code, name, created_at, expiry, time_zone, decimal_places,
        reversals_may_overdraw,
    })
}

pub fn account(row: &Row) -> Decoded<account::Model> {
    decode_row!(row => account::Model {
        account_id, tenant_id, currency, owner, balance, held, allow_negative, created_at, closed,
    })
}

pub fn transfer(row: &Row) -> Decoded<transfer::Model> {
    decode_row!(row => transfer::Model {
        transfer_id, tenant_id, reason, idempotency_key, fingerprint, member_total, member_held,
        created_at, reference, metadata, reverses,
    })
}

pub fn leg(row: &Row) -> Decoded<leg::Model> {
    decode_row!(row => leg::Model {
        transfer_id, leg, tenant_id, currency, debit_account_id, credit_account_id, debit_owner,
        credit_owner, amount, reverses_leg, created_at,
    })
}

/// A reversal's leg with the transfer it reverses.
pub fn reversal_leg(row: &Row) -> Decoded<(String, leg::Model)> {
    Ok((row.try_get("original")?, leg(row)?))
}

pub fn lot(row: &Row) -> Decoded<lot::Model> {
    decode_row!(row => lot::Model {
        lot_id, account_id, transfer_id, expires_at, amount, remaining, created_at,
    })
}

pub fn hold(row: &Row) -> Decoded<hold::Model> {
    decode_row!(row => hold::Model {
        hold_id, tenant_id, currency, member_id, account_id, amount, status, reason, expires_at,
        idempotency_key, fingerprint, transfer_id, created_at, committed_amount,
    })
}

/// `(tenant, member, erased)` of a member read model row.
pub fn member(row: &Row) -> Decoded<(String, String, bool)> {
    Ok((
        row.try_get("tenant_id")?,
        row.try_get("member_id")?,
        row.try_get("erased")?,
    ))
}
