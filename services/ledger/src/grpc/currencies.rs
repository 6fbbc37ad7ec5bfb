//! Currencies: defined once by an administrator, never changed after; the
//! same definition again answers the stored one.

use questline_kit::audit::Change;
use questline_proto::ledger::{self as pb, ledger_service_server::SERVICE_NAME};
use tonic::{Request, Response};

use super::{LedgerApi, decode, encode};

pub(super) async fn create(
    api: &LedgerApi,
    request: Request<pb::CreateCurrencyRequest>,
) -> tonic::Result<Response<pb::CreateCurrencyResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let spec = decode::currency(req)?;
    caller.require_admin(&req.tenant_id)?;
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "CreateCurrency",
        format!("currencies/{}", spec.code),
    )
    .with("name", spec.name.as_str())
    .with("expiry", spec.expiry.to_text())
    .with("time_zone", spec.time_zone.as_str())
    .with("decimal_places", spec.decimal_places)
    .with("reversals_may_overdraw", spec.reversals_may_overdraw);
    let row = api
        .store
        .create_currency(&req.tenant_id, &spec, &change)
        .await?;
    Ok(Response::new(pb::CreateCurrencyResponse {
        currency: Some(encode::currency(row)?),
    }))
}

#[cfg(test)]
mod tests {
    use questline_kit::DomainError;
    use questline_proto::ledger::{self as pb, expiry_policy::Rule};

    use super::{decode, encode};
    use crate::domain::expiry::ExpiryPolicy;
    use crate::store::entities::currency;

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
        let miles = decode::currency(&request(Some(quarterly))).unwrap();
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
        let back = encode::currency(row).unwrap();
        assert_eq!(back.expiry_policy.unwrap().rule, Some(quarterly));
        assert!(back.reversals_may_overdraw);
        let never = decode::currency(&request(None)).unwrap();
        assert_eq!(never.expiry, ExpiryPolicy::Never);

        let unspecified = Rule::EndOfPeriod(pb::PeriodEnd::default());
        let Err(DomainError::Invalid(v)) = decode::currency(&request(Some(unspecified))) else {
            panic!("expected a violation");
        };
        assert_eq!(v[0].field, "expiry_policy.end_of_period.period");
    }
}
