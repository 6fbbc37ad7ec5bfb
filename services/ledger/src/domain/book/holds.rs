//! Holds: reserve points, then spend all or part of them, or release them.

use questline_kit::{DomainError, fingerprint, new_id};

use super::transfers::Posting;
use super::{AccountKey, Book, Hold, Leg};
use crate::domain::Owner;
use crate::domain::hold::HoldStatus;
use crate::domain::requests::HoldSpec;

impl HoldSpec {
    /// The wallet the hold reserves points on.
    pub fn wallet(&self) -> AccountKey {
        let owner = Owner::Member(self.member_id.clone());
        AccountKey::new(&self.tenant_id, &self.currency, owner)
    }
}

impl Book {
    pub(super) fn create_hold(&mut self, spec: &HoldSpec) -> Result<Hold, DomainError> {
        let key_of = (spec.tenant_id.clone(), spec.idempotency_key.clone());
        if let Some(first) = self
            .hold_keys
            .get(&key_of)
            .and_then(|id| self.holds.get(id))
        {
            fingerprint::same_fields(&first.fingerprint, &spec.fingerprint)?;
            return Ok(first.clone());
        }
        self.currency(&spec.tenant_id, &spec.currency)?;
        let wallet = spec.wallet();
        self.usable(&wallet)?;
        let (balance, held, _) = self.standing(&wallet);
        if balance - held < spec.amount {
            return Err(DomainError::precondition(
                "INSUFFICIENT_FUNDS",
                wallet.owner.key(),
                format!("not enough {} available to hold", spec.currency),
            ));
        }
        let account_id = self.open_or_get(&wallet);
        self.account_mut(&account_id).held += spec.amount;
        let hold = Hold {
            hold_id: new_id(),
            tenant_id: spec.tenant_id.clone(),
            currency: spec.currency.clone(),
            member_id: spec.member_id.clone(),
            amount: spec.amount,
            status: HoldStatus::Pending,
            reason: spec.reason.clone(),
            expires_at: self.now + spec.ttl_seconds * 1000,
            idempotency_key: spec.idempotency_key.clone(),
            fingerprint: spec.fingerprint.clone(),
            transfer_id: None,
            committed_amount: 0,
            created_at: self.now,
        };
        self.changes.new_holds.insert(hold.hold_id.clone());
        self.add_hold(hold.clone());
        Ok(hold)
    }

    /// Spends `amount` (`None`: all) of a pending hold and releases the rest.
    /// A second commit of the same amount answers as the first.
    pub(super) fn commit_hold(
        &mut self,
        tenant_id: &str,
        hold_id: &str,
        amount: Option<i64>,
    ) -> Result<Hold, DomainError> {
        let hold = self.tenant_hold(tenant_id, hold_id)?;
        let subject = format!("holds/{hold_id}");
        match hold.status {
            HoldStatus::Pending => {}
            HoldStatus::Committed if amount.is_none_or(|a| a == hold.committed_amount) => {
                return Ok(hold);
            }
            HoldStatus::Committed => {
                return Err(DomainError::precondition(
                    "HOLD_NOT_PENDING",
                    subject,
                    format!(
                        "the hold was already committed for {}",
                        hold.committed_amount
                    ),
                ));
            }
            status => return Err(ended(status, &subject)),
        }
        let spend = amount.unwrap_or(hold.amount);
        if spend > hold.amount {
            return Err(DomainError::precondition(
                "HOLD_AMOUNT_EXCEEDED",
                subject,
                format!("the hold reserves only {}", hold.amount),
            ));
        }
        let wallet = hold.wallet();
        let account_id = self.open_or_get(&wallet);
        self.account_mut(&account_id).held -= hold.amount;
        let legs = vec![Leg {
            currency: hold.currency.clone(),
            debit: wallet.owner.clone(),
            credit: Owner::REDEMPTION,
            amount: spend,
            reverses_leg: None,
        }];
        // The hold reserved these points: the check cannot fail.
        let expiries = self.check(tenant_id, &legs, super::transfers::Shortfall::Refuse)?;
        let transfer = self.post(Posting {
            tenant_id,
            legs,
            reason: &hold.reason,
            reference: "",
            metadata: "",
            idempotency_key: format!("hold:{hold_id}"),
            fingerprint: &hold.fingerprint,
            reverses: None,
            expiries,
        });
        self.end_hold(hold_id, HoldStatus::Committed, |h| {
            h.transfer_id = Some(transfer.transfer_id.clone());
            h.committed_amount = spend;
        });
        self.tenant_hold(tenant_id, hold_id)
    }

    /// Releases a pending hold; voiding twice, or an expired hold, is harmless.
    pub(super) fn void_hold(
        &mut self,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<Hold, DomainError> {
        let hold = self.tenant_hold(tenant_id, hold_id)?;
        match hold.status {
            HoldStatus::Pending => {
                self.release(&hold, HoldStatus::Voided);
                self.tenant_hold(tenant_id, hold_id)
            }
            HoldStatus::Voided | HoldStatus::Expired => Ok(hold),
            HoldStatus::Committed => Err(DomainError::precondition(
                "HOLD_NOT_PENDING",
                format!("holds/{hold_id}"),
                "the hold was already committed",
            )),
        }
    }

    /// Gives a pending hold's points back to `available` and ends it.
    pub(super) fn release(&mut self, hold: &Hold, end: HoldStatus) {
        let account_id = self.open_or_get(&hold.wallet());
        self.account_mut(&account_id).held -= hold.amount;
        self.end_hold(&hold.hold_id, end, |_| {});
    }

    fn end_hold(&mut self, hold_id: &str, end: HoldStatus, also: impl FnOnce(&mut Hold)) {
        if let Some(h) = self.holds.get_mut(hold_id) {
            h.status = end;
            also(h);
            self.changes.holds.insert(hold_id.to_string());
        }
    }

    fn tenant_hold(&self, tenant_id: &str, hold_id: &str) -> Result<Hold, DomainError> {
        self.holds
            .get(hold_id)
            .filter(|h| h.tenant_id == tenant_id)
            .cloned()
            .ok_or_else(|| DomainError::NotFound(format!("hold {hold_id} not found")))
    }
}

fn ended(status: HoldStatus, subject: &str) -> DomainError {
    match status {
        HoldStatus::Expired => DomainError::precondition(
            "HOLD_EXPIRED",
            subject,
            "the hold expired before it was committed",
        ),
        _ => DomainError::precondition("HOLD_NOT_PENDING", subject, "the hold was voided"),
    }
}
