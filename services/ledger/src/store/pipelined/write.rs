//! A batch's writes on PostgreSQL: one flight — every row change in one
//! statement of column arrays, the system accounts' moves, COMMIT.

use questline_kit::{DomainError, columns};

use super::{Batch, Sent};
use crate::store::write::Rows;

impl Batch<'_> {
    /// Sends `rows` and COMMIT, without waiting for the answers. Every
    /// answer must be checked: after a failed statement the server answers
    /// COMMIT by rolling back, without an error.
    pub async fn send_write<'r>(mut self, rows: &'r Rows) -> Result<Sent<'r>, DomainError> {
        let session = self.session;
        let sql = &session.sql;
        let mut f = self.flight();
        let r = rows;
        let mut params = columns!(r.accounts_opened =>
            account_id, tenant_id, currency, owner, balance, held, allow_negative, created_at, closed);
        params.extend(columns!(r.accounts_changed =>
            account_id, balance, held, allow_negative, closed));
        params.extend(columns!(r.lots_opened =>
            lot_id, account_id, transfer_id, expires_at, amount, remaining, created_at));
        params.extend(columns!(r.lots_changed => lot_id, amount, remaining));
        params.push(Box::new(&r.lots_emptied));
        params.extend(columns!(r.holds =>
            hold_id, tenant_id, currency, member_id, account_id, amount, status, reason,
            expires_at, idempotency_key, fingerprint, transfer_id, created_at, committed_amount));
        params.extend(columns!(r.transfers =>
            transfer_id, tenant_id, reason, idempotency_key, fingerprint, member_total,
            member_held, created_at, reference, metadata, reverses));
        params.extend(columns!(r.legs =>
            transfer_id, leg, tenant_id, currency, debit_account_id, credit_account_id,
            debit_owner, credit_owner, amount, reverses_leg, created_at));
        params.extend(columns!(r.outbox =>
            event_id, event_type, payload, created_at, subject));
        f.add(&sql.write, params);
        for (id, balance, held) in &r.system {
            f.add(
                &sql.move_system,
                vec![Box::new(id), Box::new(balance), Box::new(held)],
            );
        }
        f.add(&session.commit, Vec::new());
        f.start(session).await
    }
}
