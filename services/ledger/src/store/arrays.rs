//! A batch's lookups on PostgreSQL, written with array parameters: the text
//! of each statement is the same whatever the batch holds, so a connection
//! parses it once, and each key is one probe of a unique index joined to
//! the `unnest` of the arrays. (A list of row values, as the portable
//! queries in `load` use, costs PostgreSQL an OR of one arm per key to plan
//! and to check.)

use sea_orm::{DbBackend, EntityTrait, SelectModel, SelectorRaw, Statement, Value};
use std::collections::BTreeSet;

use super::entities::{account, hold, lot};
use crate::domain::book::AccountKey;
use crate::domain::hold::HoldStatus;

/// The accounts among `keys`, locked in id order.
pub fn lock_accounts(keys: &BTreeSet<AccountKey>) -> Rows<account::Entity> {
    let (tenants, currencies, owners) =
        columns3(keys.iter().map(|(t, c, o)| (t.clone(), c.clone(), o.key())));
    raw::<account::Entity>(
        "SELECT a.* FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, currency, owner) \
         JOIN accounts a ON a.tenant_id = k.tenant_id AND a.currency = k.currency AND a.owner = k.owner \
         ORDER BY a.account_id FOR UPDATE OF a",
        vec![tenants, currencies, owners],
    )
}

/// Rows of `E` (transfers or holds) stored under `(tenant, idempotency
/// key)` pairs.
pub fn by_key<E: EntityTrait>(pairs: &BTreeSet<(&str, &str)>) -> Rows<E> {
    let (tenants, keys) = columns2(pairs);
    let table = E::default().table_name().to_string();
    raw::<E>(
        &format!(
            "SELECT r.* FROM unnest($1::text[], $2::text[]) AS k(tenant_id, idempotency_key) \
             JOIN {table} r ON r.tenant_id = k.tenant_id AND r.idempotency_key = k.idempotency_key"
        ),
        vec![tenants, keys],
    )
}

/// The lots with points left of the given accounts.
pub fn open_lots(account_ids: &[String]) -> Rows<lot::Entity> {
    raw::<lot::Entity>(
        "SELECT * FROM lots WHERE account_id = ANY($1::text[]) AND remaining > 0",
        vec![Value::from(account_ids.to_vec())],
    )
}

/// The pending holds of the given accounts that fell due by `now`.
pub fn due_holds(account_ids: &[String], now: i64) -> Rows<hold::Entity> {
    raw::<hold::Entity>(
        "SELECT * FROM holds WHERE account_id = ANY($1::text[]) AND status = $2 AND expires_at <= $3",
        vec![
            Value::from(account_ids.to_vec()),
            Value::from(HoldStatus::Pending.as_str()),
            Value::from(now),
        ],
    )
}

type Rows<E> = SelectorRaw<SelectModel<<E as EntityTrait>::Model>>;

fn raw<E: EntityTrait>(sql: &str, values: Vec<Value>) -> Rows<E> {
    E::find().from_raw_sql(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

fn columns2(pairs: &BTreeSet<(&str, &str)>) -> (Value, Value) {
    let (a, b): (Vec<String>, Vec<String>) = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unzip();
    (Value::from(a), Value::from(b))
}

fn columns3(rows: impl Iterator<Item = (String, String, String)>) -> (Value, Value, Value) {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for (x, y, z) in rows {
        a.push(x);
        b.push(y);
        c.push(z);
    }
    (Value::from(a), Value::from(b), Value::from(c))
}
