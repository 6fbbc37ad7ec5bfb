//! PostgreSQL rows into the store's row types, column by name.

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::store::entities::{account, currency, hold, leg, lot, transfer};

type Decoded<T> = Result<T, tokio_postgres::Error>;

fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> Decoded<T> {
    row.try_get(column)
}

pub fn currency(row: &Row) -> Decoded<currency::Model> {
    Ok(currency::Model {
        tenant_id: get(row, "tenant_id")?,
        code: get(row, "code")?,
        name: get(row, "name")?,
        created_at: get(row, "created_at")?,
        expiry: get(row, "expiry")?,
        time_zone: get(row, "time_zone")?,
        decimal_places: get(row, "decimal_places")?,
        reversals_may_overdraw: get(row, "reversals_may_overdraw")?,
    })
}

pub fn account(row: &Row) -> Decoded<account::Model> {
    Ok(account::Model {
        account_id: get(row, "account_id")?,
        tenant_id: get(row, "tenant_id")?,
        currency: get(row, "currency")?,
        owner: get(row, "owner")?,
        balance: get(row, "balance")?,
        held: get(row, "held")?,
        allow_negative: get(row, "allow_negative")?,
        created_at: get(row, "created_at")?,
        closed: get(row, "closed")?,
    })
}

pub fn transfer(row: &Row) -> Decoded<transfer::Model> {
    Ok(transfer::Model {
        transfer_id: get(row, "transfer_id")?,
        tenant_id: get(row, "tenant_id")?,
        reason: get(row, "reason")?,
        idempotency_key: get(row, "idempotency_key")?,
        fingerprint: get(row, "fingerprint")?,
        member_total: get(row, "member_total")?,
        member_held: get(row, "member_held")?,
        created_at: get(row, "created_at")?,
        reference: get(row, "reference")?,
        metadata: get(row, "metadata")?,
        reverses: get(row, "reverses")?,
    })
}

pub fn leg(row: &Row) -> Decoded<leg::Model> {
    Ok(leg::Model {
        transfer_id: get(row, "transfer_id")?,
        leg: get(row, "leg")?,
        tenant_id: get(row, "tenant_id")?,
        currency: get(row, "currency")?,
        debit_account_id: get(row, "debit_account_id")?,
        credit_account_id: get(row, "credit_account_id")?,
        debit_owner: get(row, "debit_owner")?,
        credit_owner: get(row, "credit_owner")?,
        amount: get(row, "amount")?,
        reverses_leg: get(row, "reverses_leg")?,
        created_at: get(row, "created_at")?,
    })
}

/// A reversal's leg with the transfer it reverses.
pub fn reversal_leg(row: &Row) -> Decoded<(String, leg::Model)> {
    Ok((get(row, "original")?, leg(row)?))
}

pub fn lot(row: &Row) -> Decoded<lot::Model> {
    Ok(lot::Model {
        lot_id: get(row, "lot_id")?,
        account_id: get(row, "account_id")?,
        transfer_id: get(row, "transfer_id")?,
        expires_at: get(row, "expires_at")?,
        amount: get(row, "amount")?,
        remaining: get(row, "remaining")?,
        created_at: get(row, "created_at")?,
    })
}

pub fn hold(row: &Row) -> Decoded<hold::Model> {
    Ok(hold::Model {
        hold_id: get(row, "hold_id")?,
        tenant_id: get(row, "tenant_id")?,
        currency: get(row, "currency")?,
        member_id: get(row, "member_id")?,
        account_id: get(row, "account_id")?,
        amount: get(row, "amount")?,
        status: get(row, "status")?,
        reason: get(row, "reason")?,
        expires_at: get(row, "expires_at")?,
        idempotency_key: get(row, "idempotency_key")?,
        fingerprint: get(row, "fingerprint")?,
        transfer_id: get(row, "transfer_id")?,
        created_at: get(row, "created_at")?,
        committed_amount: get(row, "committed_amount")?,
    })
}
