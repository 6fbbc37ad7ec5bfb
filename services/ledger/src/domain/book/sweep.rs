//! What falls due before a batch runs: holds past their time to live are
//! released, and points past their expiry move to breakage.

use questline_kit::new_id;

use super::transfers::Posting;
use super::{AccountKey, Book, Leg};
use crate::domain::Owner;
use crate::domain::hold::HoldStatus;
use crate::domain::lots;

impl Book {
    /// Releases every loaded pending hold past its expiry, then expires the
    /// due lots of `wallets` — except points still held, which wait for
    /// their hold to end.
    pub fn sweep(&mut self, wallets: &[AccountKey]) {
        let due: Vec<_> = self
            .holds
            .values()
            .filter(|h| h.status == HoldStatus::Pending && h.expires_at <= self.now)
            .filter(|h| self.account(&h.wallet()).is_some())
            .cloned()
            .collect();
        for hold in due {
            self.release(&hold, HoldStatus::Expired);
        }
        for wallet in wallets {
            self.expire_lots(wallet);
        }
    }

    fn expire_lots(&mut self, wallet: &AccountKey) {
        let Some(account) = self.account(wallet) else {
            return;
        };
        let due = self
            .lots
            .get(&account.account_id)
            .map_or(0, |l| lots::due(l, self.now));
        let amount = due.min(account.balance - account.held);
        if amount <= 0 {
            return;
        }
        let AccountKey {
            tenant_id,
            currency,
            owner,
        } = wallet.clone();
        let legs = vec![Leg {
            currency,
            debit: owner,
            credit: Owner::BREAKAGE,
            amount,
            reverses_leg: None,
        }];
        self.post(Posting {
            tenant_id: &tenant_id,
            legs,
            reason: "expired",
            reference: "",
            metadata: "",
            idempotency_key: format!("expiry:{}", new_id()),
            fingerprint: "",
            reverses: None,
            expiries: vec![None],
        });
    }
}
