//! A reward of the catalogue: what it costs, how many are left, where its codes come from.

use questline_kit::{DomainError, Violations};

/// The same bound as a single ledger movement, so every price can be held.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;
const SOURCE_REQUIRED: &str = "must be GENERATED or POOL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherSource {
    /// A fresh code is generated at each redemption.
    Generated,
    /// Codes come from an uploaded pool; redemption fails when it is empty.
    Pool,
}

impl VoucherSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherSource::Generated => "generated",
            VoucherSource::Pool => "pool",
        }
    }

    pub fn parse(s: &str) -> Result<VoucherSource, DomainError> {
        match s {
            "generated" => Ok(VoucherSource::Generated),
            "pool" => Ok(VoucherSource::Pool),
            other => Err(DomainError::internal(format!(
                "unknown voucher source {other}"
            ))),
        }
    }
}

/// A validated CreateReward request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReward {
    pub tenant_id: String,
    pub reward_id: String,
    pub name: String,
    pub currency: String,
    pub price: i64,
    pub stock: i64,
    pub voucher_source: VoucherSource,
    /// Fingerprint of the whole request: the reward id makes the call idempotent.
    pub fingerprint: String,
}

impl NewReward {
    /// `voucher_source` is `None` when the request left it unspecified.
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        tenant_id: &str,
        reward_id: &str,
        name: &str,
        currency: &str,
        price: i64,
        stock: i64,
        voucher_source: Option<VoucherSource>,
        fingerprint: String,
    ) -> Result<NewReward, DomainError> {
        Violations::new()
            .id("tenant_id", tenant_id)
            .id("reward_id", reward_id)
            .text("name", name)
            .id("currency", currency)
            .positive("price", price)
            .check(price <= MAX_PRICE, "price", "must be at most 10^12")
            .check(stock >= 0, "stock", "must not be negative")
            .check(stock <= MAX_STOCK, "stock", "must be at most 10^9")
            .check(voucher_source.is_some(), "voucher_source", SOURCE_REQUIRED)
            .finish()?;
        let Some(voucher_source) = voucher_source else {
            return Err(DomainError::invalid("voucher_source", SOURCE_REQUIRED));
        };
        Ok(NewReward {
            tenant_id: tenant_id.into(),
            reward_id: reward_id.into(),
            name: name.into(),
            currency: currency.into(),
            price,
            stock,
            voucher_source,
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reward(
        price: i64,
        stock: i64,
        source: Option<VoucherSource>,
    ) -> Result<NewReward, DomainError> {
        NewReward::validate(
            "acme",
            "pastry",
            "Pastry",
            "stars",
            price,
            stock,
            source,
            String::new(),
        )
    }

    fn fields<T: std::fmt::Debug>(result: Result<T, DomainError>) -> Vec<String> {
        let Err(DomainError::Invalid(v)) = result else {
            panic!("expected invalid, got {result:?}")
        };
        v.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn price_must_be_positive_and_holdable() {
        assert!(reward(20, 5, Some(VoucherSource::Pool)).is_ok());
        assert_eq!(fields(reward(0, 5, Some(VoucherSource::Pool))), ["price"]);
        assert!(reward(MAX_PRICE, 5, Some(VoucherSource::Pool)).is_ok());
        assert!(reward(MAX_PRICE + 1, 5, Some(VoucherSource::Pool)).is_err());
    }

    #[test]
    fn stock_is_bounded_and_may_start_empty() {
        assert!(reward(20, 0, Some(VoucherSource::Generated)).is_ok());
        assert_eq!(
            fields(reward(20, -1, Some(VoucherSource::Generated))),
            ["stock"]
        );
        assert!(reward(20, MAX_STOCK + 1, Some(VoucherSource::Generated)).is_err());
    }

    #[test]
    fn an_unspecified_voucher_source_is_refused_with_every_other_problem() {
        let err = NewReward::validate("acme", "", " ", "stars", 20, 1, None, String::new());
        assert_eq!(fields(err), ["reward_id", "name", "voucher_source"]);
    }

    #[test]
    fn voucher_sources_round_trip_through_storage() {
        for source in [VoucherSource::Generated, VoucherSource::Pool] {
            assert_eq!(VoucherSource::parse(source.as_str()), Ok(source));
        }
    }
}
