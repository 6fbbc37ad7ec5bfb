//! Reversals: a transfer's legs turned around, wholly or in part, never by
//! more than remains of them.
//!
//! Policy for points already spent: reversing a credit takes the points back
//! from the wallet, the credit's own points first (the lot it opened or
//! joined). When the wallet no longer has them, the reversal is refused
//! with POINTS_ALREADY_SPENT, unless the currency's `reversals_may_overdraw`
//! lets the wallet go below zero; later earns then pay that debt before
//! they can be spent.

use questline_kit::DomainError;

use super::transfers::{Posting, Shortfall};
use super::{Book, Leg, Transfer};
use crate::domain::lots::Preferred;
use crate::domain::requests::ReversalSpec;

impl Book {
    pub(super) fn reverse(&mut self, spec: &ReversalSpec) -> Result<Transfer, DomainError> {
        if let Some(first) =
            self.replayed(&spec.tenant_id, &spec.idempotency_key, &spec.fingerprint)?
        {
            return Ok(first);
        }
        let original = self
            .transfers
            .get(&spec.transfer_id)
            .filter(|t| t.tenant_id == spec.tenant_id)
            .cloned()
            .ok_or_else(|| {
                DomainError::NotFound(format!("transfer {} not found", spec.transfer_id))
            })?;
        let legs = self.reversal_legs(&original, spec.amount)?;
        let expiries = self.check(&spec.tenant_id, &legs, Shortfall::ReversalPolicy)?;
        let transfer = self.post(Posting {
            tenant_id: &spec.tenant_id,
            legs,
            reason: &spec.reason,
            reference: &original.reference,
            metadata: "",
            idempotency_key: spec.idempotency_key.clone(),
            fingerprint: &spec.fingerprint,
            reverses: Some(&original.transfer_id),
            expiries,
        });
        let done = self
            .reversed
            .entry(original.transfer_id.clone())
            .or_insert_with(|| vec![0; original.legs.len()]);
        for leg in &transfer.legs {
            if let Some(i) = leg.reverses_leg {
                done[i] += leg.amount;
            }
        }
        Ok(transfer)
    }

    /// The original's points on the wallets it credited: the lots it opened,
    /// and for points it brought from outside, the lots of the expiry it gave
    /// them (which it may have joined).
    pub(super) fn preferred(&self, original: &Transfer) -> Preferred {
        let expiries = original
            .legs
            .iter()
            .filter(|l| l.credit.is_wallet() && !l.debit.is_wallet())
            .filter_map(|l| {
                self.currencies
                    .get(&(original.tenant_id.clone(), l.currency.clone()))
            })
            .filter_map(|c| c.expiry.expires_at(original.created_at, &c.zone).ok())
            .collect();
        Preferred {
            transfer_id: original.transfer_id.clone(),
            expiries,
        }
    }

    /// The legs that move back `amount` (`None`: all that remains).
    fn reversal_legs(
        &self,
        original: &Transfer,
        amount: Option<i64>,
    ) -> Result<Vec<Leg>, DomainError> {
        let subject = format!("transfers/{}", original.transfer_id);
        if original.reverses.is_some() {
            return Err(DomainError::precondition(
                "NOTHING_TO_REVERSE",
                subject,
                "a reversal cannot itself be reversed; make a new transfer instead",
            ));
        }
        let done = self.reversed.get(&original.transfer_id);
        let remaining: Vec<i64> = original
            .legs
            .iter()
            .enumerate()
            .map(|(i, l)| l.amount - done.and_then(|d| d.get(i)).copied().unwrap_or(0))
            .collect();
        let amounts = match amount {
            None => remaining.clone(),
            Some(_) if original.legs.len() > 1 => {
                return Err(DomainError::invalid(
                    "amount",
                    "a part may only be reversed of a single-leg transfer; give 0 to reverse all of it",
                ));
            }
            Some(a) if a > remaining.first().copied().unwrap_or(0) => {
                return Err(DomainError::precondition(
                    "REVERSAL_TOO_LARGE",
                    subject,
                    format!(
                        "only {} of the transfer is left to reverse",
                        remaining.first().copied().unwrap_or(0)
                    ),
                ));
            }
            Some(a) => vec![a],
        };
        if amounts.iter().all(|&a| a == 0) {
            return Err(DomainError::precondition(
                "NOTHING_TO_REVERSE",
                subject,
                "the transfer has already been reversed in full",
            ));
        }
        Ok(original
            .legs
            .iter()
            .zip(amounts)
            .enumerate()
            .filter(|(_, (_, a))| *a > 0)
            .map(|(i, (l, a))| Leg {
                currency: l.currency.clone(),
                debit: l.credit.clone(),
                credit: l.debit.clone(),
                amount: a,
                reverses_leg: Some(i),
            })
            .collect())
    }
}
