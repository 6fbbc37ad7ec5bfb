//! A programme's totals per currency, from its accounts' balances. Every
//! currency's balances sum to zero, so what members hold can be counted
//! from their wallets or inferred from the programme's own accounts alone
//! (the metrics do the latter, to skip the wallets).

use super::{Owner, SystemAccount};

/// Always `issued − burned − expired + adjusted = outstanding + partners`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub currency: String,
    /// Points given out: what the issuance account is below zero.
    pub issued: i64,
    /// Points spent: the redemption account.
    pub burned: i64,
    /// Points past their expiry: the breakage account.
    pub expired: i64,
    /// Manual corrections given out: what the adjustments account is below zero.
    pub adjusted: i64,
    /// The programme's liability: the sum of member wallets.
    pub outstanding: i64,
    /// The sum of partner accounts.
    pub partners: i64,
}

impl Totals {
    /// Nothing counted yet.
    pub fn new(currency: &str) -> Totals {
        Totals {
            currency: currency.into(),
            ..Totals::default()
        }
    }

    /// Adds one account's balance to the figure it belongs to.
    pub fn count(&mut self, owner: &Owner, balance: i64) {
        match owner {
            Owner::Member(_) => self.outstanding += balance,
            Owner::Partner(_) => self.partners += balance,
            Owner::System(SystemAccount::Issuance) => self.issued -= balance,
            Owner::System(SystemAccount::Redemption) => self.burned += balance,
            Owner::System(SystemAccount::Breakage) => self.expired += balance,
            Owner::System(SystemAccount::Adjustments) => self.adjusted -= balance,
        }
    }

    /// After counting every account but the wallets: members hold what the
    /// programme's accounts do not.
    pub fn infer_outstanding(&mut self) {
        self.outstanding = self.issued - self.burned - self.expired + self.adjusted - self.partners;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A programme's accounts after 150 issued, 30 spent, 20 expired, 7
    /// adjusted and 5 paid to a partner: balances summing to zero.
    fn accounts() -> Vec<(Owner, i64)> {
        vec![
            (Owner::ISSUANCE, -150),
            (Owner::REDEMPTION, 30),
            (Owner::BREAKAGE, 20),
            (Owner::System(SystemAccount::Adjustments), -7),
            (Owner::Partner("cafe".into()), 5),
            (Owner::Member("m1".into()), 60),
            (Owner::Member("m2".into()), 42),
        ]
    }

    #[test]
    fn each_balance_counts_towards_its_figure() {
        let mut totals = Totals::new("stars");
        for (owner, balance) in accounts() {
            totals.count(&owner, balance);
        }
        let figures = (
            totals.issued,
            totals.burned,
            totals.expired,
            totals.adjusted,
            totals.partners,
            totals.outstanding,
        );
        assert_eq!(figures, (150, 30, 20, 7, 5, 102));
        assert_eq!(
            totals.issued - totals.burned - totals.expired + totals.adjusted,
            totals.outstanding + totals.partners
        );
    }

    #[test]
    fn outstanding_inferred_without_wallets_equals_the_wallets_sum() {
        let mut counted = Totals::new("stars");
        let mut inferred = Totals::new("stars");
        for (owner, balance) in accounts() {
            counted.count(&owner, balance);
            if !owner.is_wallet() {
                inferred.count(&owner, balance);
            }
        }
        inferred.infer_outstanding();
        assert_eq!(inferred, counted);
    }
}
