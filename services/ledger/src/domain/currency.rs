//! A currency's definition: how it counts and when its points expire.

use questline_kit::{DomainError, Violations};

use super::expiry::{self, ExpiryPolicy};

/// Amounts are `i64` minor units; at most 4 decimal places keeps a
/// programme's whole liability far inside `i64`.
pub const MAX_DECIMAL_PLACES: i32 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencySpec {
    pub code: String,
    pub name: String,
    pub expiry: ExpiryPolicy,
    /// An IANA name, checked against the bundled time zone database.
    pub time_zone: String,
    pub decimal_places: i32,
    /// See `book::reversals`: may reversing spent points overdraw a wallet?
    pub reversals_may_overdraw: bool,
}

impl CurrencySpec {
    /// Checks every field, collecting every problem; an empty zone is UTC.
    pub fn validate(
        tenant_id: &str,
        code: &str,
        name: &str,
        expiry: ExpiryPolicy,
        time_zone: &str,
        decimal_places: i32,
    ) -> Result<CurrencySpec, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", tenant_id)
            .id("code", code)
            .text("name", name);
        let expiry = expiry.validate(&mut v);
        let zone = expiry::time_zone(&mut v, "time_zone", time_zone);
        v.check(
            (0..=MAX_DECIMAL_PLACES).contains(&decimal_places),
            "decimal_places",
            "must be 0 to 4",
        );
        v.finish()?;
        Ok(CurrencySpec {
            code: code.into(),
            name: name.into(),
            expiry,
            time_zone: zone.iana_name().unwrap_or("UTC").into(),
            decimal_places,
            reversals_may_overdraw: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::expiry::Period;

    #[test]
    fn a_valid_currency_is_normalised_and_a_bad_one_names_every_field() {
        let spec =
            CurrencySpec::validate("acme", "stars", "Stars", ExpiryPolicy::Never, "", 0).unwrap();
        assert_eq!(spec.time_zone, "UTC");
        let policy = ExpiryPolicy::EndOfPeriod {
            period: Period::Year,
            after: 1,
        };
        let spec = CurrencySpec::validate("acme", "miles", "Miles", policy, "Asia/Singapore", 2);
        assert_eq!(spec.unwrap().time_zone, "Asia/Singapore");

        let bad = CurrencySpec::validate("", "", "", ExpiryPolicy::DaysAfterEarn(-3), "Nowhere", 9);
        let Err(DomainError::Invalid(problems)) = bad else {
            panic!("expected violations");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        for field in [
            "tenant_id",
            "code",
            "name",
            "expiry_policy.days_after_earn",
            "time_zone",
            "decimal_places",
        ] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
    }
}
