//! Currencies between protobuf and the domain.

use questline_kit::DomainError;
use questline_proto::ledger::{self as pb, expiry_policy::Rule};

use crate::domain::currency::CurrencySpec;
use crate::domain::expiry::{ExpiryPolicy, Period};
use crate::store::entities::currency;

/// The request's currency, validated.
pub fn spec(req: &pb::CreateCurrencyRequest) -> Result<CurrencySpec, DomainError> {
    let expiry = match req.expiry_policy.as_ref().and_then(|p| p.rule.as_ref()) {
        None | Some(Rule::Never(_)) => ExpiryPolicy::Never,
        Some(Rule::DaysAfterEarn(days)) => ExpiryPolicy::DaysAfterEarn(i64::from(*days)),
        Some(Rule::EndOfPeriod(end)) => ExpiryPolicy::EndOfPeriod {
            period: period(end.period)?,
            after: i64::from(end.periods_after),
        },
    };
    let mut spec = CurrencySpec::validate(
        &req.tenant_id,
        &req.code,
        &req.name,
        expiry,
        &req.time_zone,
        req.decimal_places,
    )?;
    spec.reversals_may_overdraw = req.reversals_may_overdraw;
    Ok(spec)
}

fn period(value: i32) -> Result<Period, DomainError> {
    match pb::Period::try_from(value) {
        Ok(pb::Period::Month) => Ok(Period::Month),
        Ok(pb::Period::Quarter) => Ok(Period::Quarter),
        Ok(pb::Period::Year) => Ok(Period::Year),
        _ => Err(DomainError::invalid(
            "expiry_policy.end_of_period.period",
            "must be PERIOD_MONTH, PERIOD_QUARTER or PERIOD_YEAR",
        )),
    }
}

pub fn currency_pb(row: currency::Model) -> Result<pb::Currency, DomainError> {
    let rule = match ExpiryPolicy::parse(&row.expiry)? {
        ExpiryPolicy::Never => Rule::Never(pb::NeverExpire {}),
        ExpiryPolicy::DaysAfterEarn(days) => Rule::DaysAfterEarn(days as i32),
        ExpiryPolicy::EndOfPeriod { period, after } => Rule::EndOfPeriod(pb::PeriodEnd {
            period: match period {
                Period::Month => pb::Period::Month,
                Period::Quarter => pb::Period::Quarter,
                Period::Year => pb::Period::Year,
            } as i32,
            periods_after: after as i32,
        }),
    };
    Ok(pb::Currency {
        tenant_id: row.tenant_id,
        code: row.code,
        name: row.name,
        expiry_policy: Some(pb::ExpiryPolicy { rule: Some(rule) }),
        time_zone: row.time_zone,
        decimal_places: row.decimal_places,
        reversals_may_overdraw: row.reversals_may_overdraw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(rule: Option<Rule>) -> pb::CreateCurrencyRequest {
        pb::CreateCurrencyRequest {
            tenant_id: "acme".into(),
            code: "miles".into(),
            name: "Miles".into(),
            expiry_policy: rule.map(|rule| pb::ExpiryPolicy { rule: Some(rule) }),
            time_zone: "Asia/Singapore".into(),
            decimal_places: 2,
            reversals_may_overdraw: true,
        }
    }

    #[test]
    fn a_policy_survives_the_round_trip_and_a_bad_period_is_named() {
        let quarterly = Rule::EndOfPeriod(pb::PeriodEnd {
            period: pb::Period::Quarter as i32,
            periods_after: 2,
        });
        let miles = spec(&request(Some(quarterly))).unwrap();
        let row = currency::Model {
            tenant_id: "acme".into(),
            code: miles.code,
            name: miles.name,
            created_at: 0,
            expiry: miles.expiry.to_text(),
            time_zone: miles.time_zone,
            decimal_places: miles.decimal_places,
            reversals_may_overdraw: miles.reversals_may_overdraw,
        };
        let back = currency_pb(row).unwrap();
        assert_eq!(back.expiry_policy.unwrap().rule, Some(quarterly));
        assert!(back.reversals_may_overdraw);
        assert_eq!(spec(&request(None)).unwrap().expiry, ExpiryPolicy::Never);

        let unspecified = Rule::EndOfPeriod(pb::PeriodEnd::default());
        let Err(DomainError::Invalid(v)) = spec(&request(Some(unspecified))) else {
            panic!("expected a violation");
        };
        assert_eq!(v[0].field, "expiry_policy.end_of_period.period");
    }
}
