//! Whose account it is. Accounts are named `member:<id>`, `partner:<id>` or
//! `system:<name>`, per tenant and currency.

use questline_kit::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemAccount {
    /// Where points come from when they are given out.
    Issuance,
    /// Where points go when they are spent.
    Redemption,
    /// Where points go when they expire.
    Breakage,
    /// Manual corrections by the programme.
    Adjustments,
}

impl SystemAccount {
    pub const ALL: [SystemAccount; 4] = [
        SystemAccount::Issuance,
        SystemAccount::Redemption,
        SystemAccount::Breakage,
        SystemAccount::Adjustments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemAccount::Issuance => "issuance",
            SystemAccount::Redemption => "redemption",
            SystemAccount::Breakage => "breakage",
            SystemAccount::Adjustments => "adjustments",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Member(String),
    /// A partner merchant's settlement account in a coalition programme.
    Partner(String),
    System(SystemAccount),
}

impl Owner {
    pub const ISSUANCE: Owner = Owner::System(SystemAccount::Issuance);
    pub const REDEMPTION: Owner = Owner::System(SystemAccount::Redemption);
    pub const BREAKAGE: Owner = Owner::System(SystemAccount::Breakage);

    pub fn key(&self) -> String {
        match self {
            Owner::Member(id) => format!("member:{id}"),
            Owner::Partner(id) => format!("partner:{id}"),
            Owner::System(s) => format!("system:{}", s.name()),
        }
    }

    /// Reads an account name given in `field`.
    pub fn parse(field: &str, name: &str) -> Result<Owner, DomainError> {
        let bad = || {
            DomainError::invalid(
                field,
                "must be member:<id>, partner:<id> or system:issuance|redemption|breakage|adjustments",
            )
        };
        let (kind, rest) = name.split_once(':').ok_or_else(bad)?;
        let id_ok = questline_kit::Violations::new()
            .id(field, rest)
            .finish()
            .is_ok();
        match kind {
            "member" if id_ok => Ok(Owner::Member(rest.into())),
            "partner" if id_ok => Ok(Owner::Partner(rest.into())),
            "system" => SystemAccount::ALL
                .into_iter()
                .find(|s| s.name() == rest)
                .map(Owner::System)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// Like `parse`, recording a mistake in `v` (as `expiry::time_zone`
    /// does), so a request's every mistake is reported at once.
    pub fn checked(v: &mut questline_kit::Violations, field: &str, name: &str) -> Option<Owner> {
        match Owner::parse(field, name) {
            Ok(owner) => Some(owner),
            Err(err) => {
                if let DomainError::Invalid(found) = err {
                    for f in found {
                        v.add(&f.field, f.description);
                    }
                }
                None
            }
        }
    }

    pub fn member_id(&self) -> Option<&str> {
        match self {
            Owner::Member(id) => Some(id),
            _ => None,
        }
    }

    pub fn is_wallet(&self) -> bool {
        matches!(self, Owner::Member(_))
    }

    /// System accounts (issuance, redemption, breakage, adjustments): never
    /// checked, never closed, so a batch moves them without locking them
    /// first (docs/ledger.md, "Hot accounts").
    pub fn is_system(&self) -> bool {
        matches!(self, Owner::System(_))
    }

    /// System accounts mirror member balances and may be negative; the
    /// others open refusing to.
    pub fn may_go_negative_by_default(&self) -> bool {
        matches!(self, Owner::System(_))
    }

    /// Wallets and system accounts open on first use; a partner's is opened
    /// on purpose, so a typo cannot make a new one.
    pub fn opens_itself(&self) -> bool {
        !matches!(self, Owner::Partner(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        for name in ["member:m1", "partner:cafe", "system:breakage"] {
            assert_eq!(Owner::parse("a", name).unwrap().key(), name);
        }
        for bad in ["", "m1", "member:", "system:bank", "vendor:x", "member:a b"] {
            assert!(Owner::parse("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_system_accounts_go_negative_by_default() {
        assert!(!Owner::Member("m1".into()).may_go_negative_by_default());
        assert!(!Owner::Partner("p".into()).may_go_negative_by_default());
        assert!(Owner::ISSUANCE.may_go_negative_by_default());
    }
}
