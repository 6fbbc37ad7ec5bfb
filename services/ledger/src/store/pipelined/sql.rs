//! The statements of a batch on PostgreSQL. Each text is fixed, whatever
//! the batch holds (keys and rows travel as arrays), so a connection
//! prepares it once; `unnest` turns the arrays back into rows, and each key
//! is one probe of a unique index.

use questline_kit::pipelined::Statements;
use tokio_postgres::{Client, Error, Statement};

use crate::domain::hold::HoldStatus;

/// `k`: `(tenant_id, currency, owner)` of accounts, from `$1..$3`.
const ACCOUNT_KEYS: &str = "unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, currency, owner) \
     JOIN accounts a ON a.tenant_id = k.tenant_id AND a.currency = k.currency AND a.owner = k.owner";

const MEMBERS: &str = "SELECT m.tenant_id, m.member_id, m.erased \
     FROM unnest($1::text[], $2::text[]) AS k(tenant_id, member_id) \
     JOIN member_snapshots m ON m.tenant_id = k.tenant_id AND m.member_id = k.member_id";

/// Every statement a batch may send, prepared on one connection.
pub struct Sql {
    pub currencies: Statement,
    pub accounts: Statement,
    pub lock_accounts: Statement,
    pub holds_by_id: Statement,
    pub transfers_by_id: Statement,
    pub legs_by_id: Statement,
    pub reversal_legs: Statement,
    pub transfers_by_key: Statement,
    pub holds_by_key: Statement,
    pub open_lots: Statement,
    pub due_holds: Statement,
    /// The member read model's rows of `(tenant, member)` pairs.
    pub members: Statement,
    /// Every row a batch writes but the system accounts', in one statement.
    pub write: Statement,
    pub move_system: Statement,
}

impl Statements for Sql {
    /// Prepares every statement (once per connection, so one at a time).
    async fn prepare(client: &Client) -> Result<Sql, Error> {
        let by_key = |table: &str| {
            format!(
                "SELECT r.* FROM unnest($1::text[], $2::text[]) AS k(tenant_id, idempotency_key) \
                 JOIN {table} r ON r.tenant_id = k.tenant_id AND r.idempotency_key = k.idempotency_key"
            )
        };
        let accounts = format!("SELECT a.* FROM {ACCOUNT_KEYS}");
        let lock = format!("{accounts} ORDER BY a.account_id FOR UPDATE OF a");
        let open_lots = format!(
            "SELECT l.* FROM {ACCOUNT_KEYS} JOIN lots l ON l.account_id = a.account_id WHERE l.remaining > 0"
        );
        let pending = HoldStatus::Pending.as_str();
        let due_holds = format!(
            "SELECT h.* FROM {ACCOUNT_KEYS} JOIN holds h ON h.account_id = a.account_id \
             WHERE a.held > 0 AND h.status = '{pending}' AND h.expires_at <= $4"
        );
        Ok(Sql {
            currencies: client.prepare(CURRENCIES).await?,
            accounts: client.prepare(&accounts).await?,
            lock_accounts: client.prepare(&lock).await?,
            holds_by_id: client.prepare("SELECT * FROM holds WHERE hold_id = ANY($1::text[])").await?,
            transfers_by_id: client
                .prepare("SELECT * FROM transfers WHERE transfer_id = ANY($1::text[])")
                .await?,
            legs_by_id: client
                .prepare("SELECT * FROM transfer_legs WHERE transfer_id = ANY($1::text[])")
                .await?,
            reversal_legs: client.prepare(REVERSAL_LEGS).await?,
            transfers_by_key: client.prepare(&by_key("transfers")).await?,
            holds_by_key: client.prepare(&by_key("holds")).await?,
            open_lots: client.prepare(&open_lots).await?,
            due_holds: client.prepare(&due_holds).await?,
            members: client.prepare(MEMBERS).await?,
            write: client.prepare(&write()).await?,
            move_system: client
                .prepare("UPDATE accounts SET balance = balance + $2, held = held + $3 WHERE account_id = $1")
                .await?,
        })
    }
}

/// The row changes of a batch as one statement of data-modifying CTEs: one
/// execution and one answer instead of one per table. `$1…` are the
/// column arrays of each table in turn (each part's parameters moved past
/// the highest of the part before); a table with nothing to write gets
/// empty arrays.
fn write() -> String {
    let parts = [
        ("accounts_opened", OPEN_ACCOUNTS),
        ("accounts_changed", CHANGE_ACCOUNTS),
        ("lots_opened", OPEN_LOTS),
        ("lots_changed", CHANGE_LOTS),
        (
            "lots_emptied",
            "DELETE FROM lots WHERE lot_id = ANY($1::text[])",
        ),
        ("holds_written", UPSERT_HOLDS),
        ("transfers_written", INSERT_TRANSFERS),
        ("legs_written", INSERT_LEGS),
        ("outbox_written", questline_kit::outbox::INSERT_ARRAYS),
    ];
    let mut offset = 0;
    let mut ctes = Vec::with_capacity(parts.len());
    for (name, sql) in parts {
        let (sql, highest) = renumbered(sql, offset);
        ctes.push(format!("{name} AS ({sql})"));
        offset = highest;
    }
    format!("WITH {} SELECT 1", ctes.join(", "))
}

/// `sql` with every parameter `$n` moved to `$(n + offset)`, and the
/// highest parameter it then has (`offset` if none).
fn renumbered(sql: &str, offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = offset;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                highest = highest.max(n + offset);
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, highest)
}

const CURRENCIES: &str = "SELECT c.* FROM unnest($1::text[], $2::text[]) AS k(tenant_id, code) \
     JOIN currencies c ON c.tenant_id = k.tenant_id AND c.code = k.code";

/// The legs of the reversals of `$1`, each with the transfer it reverses.
const REVERSAL_LEGS: &str = "SELECT t.reverses AS original, l.* FROM transfers t \
     JOIN transfer_legs l ON l.transfer_id = t.transfer_id WHERE t.reverses = ANY($1::text[])";

const OPEN_ACCOUNTS: &str = "INSERT INTO accounts (account_id, tenant_id, currency, owner, balance, held, \
     allow_negative, created_at, closed) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
     $7::bool[], $8::int8[], $9::bool[])";

/// Stored rows change by a plain UPDATE: the batch holds their locks, and
/// an upsert would lock each row again (a WAL record apiece) to find it.
const CHANGE_ACCOUNTS: &str = "UPDATE accounts a SET balance = u.balance, held = u.held, \
     allow_negative = u.allow_negative, closed = u.closed \
     FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bool[], $5::bool[]) \
     AS u(account_id, balance, held, allow_negative, closed) WHERE a.account_id = u.account_id";

const OPEN_LOTS: &str = "INSERT INTO lots (lot_id, account_id, transfer_id, expires_at, amount, remaining, created_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])";

const CHANGE_LOTS: &str = "UPDATE lots l SET amount = u.amount, remaining = u.remaining \
     FROM unnest($1::text[], $2::int8[], $3::int8[]) AS u(lot_id, amount, remaining) \
     WHERE l.lot_id = u.lot_id";

const UPSERT_HOLDS: &str = "INSERT INTO holds (hold_id, tenant_id, currency, member_id, account_id, amount, \
     status, reason, expires_at, idempotency_key, fingerprint, transfer_id, created_at, committed_amount) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], \
     $7::text[], $8::text[], $9::int8[], $10::text[], $11::text[], $12::text[], $13::int8[], $14::int8[]) \
     ON CONFLICT (hold_id) DO UPDATE SET status = excluded.status, transfer_id = excluded.transfer_id, \
     committed_amount = excluded.committed_amount";

const INSERT_TRANSFERS: &str = "INSERT INTO transfers (transfer_id, tenant_id, reason, idempotency_key, \
     fingerprint, member_total, member_held, created_at, reference, metadata, reverses) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], \
     $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[])";

const INSERT_LEGS: &str = "INSERT INTO transfer_legs (transfer_id, leg, tenant_id, currency, debit_account_id, \
     credit_account_id, debit_owner, credit_owner, amount, reverses_leg, created_at) \
     SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::text[], $9::int8[], $10::int4[], $11::int8[])";

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_move_past_the_earlier_tables() {
        assert_eq!(
            super::renumbered("unnest($1::text[], $10::int8[]) WHERE x = $2", 9),
            (
                "unnest($10::text[], $19::int8[]) WHERE x = $11".to_string(),
                19
            )
        );
        let all = super::write();
        assert!(all.contains("$66::text[]") && !all.contains("$67"));
    }
}
