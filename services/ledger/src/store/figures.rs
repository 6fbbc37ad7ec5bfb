//! The programme's figures as metrics: points issued, burned, expired and
//! outstanding per tenant and currency, read at every scrape. They come from
//! the programme's own accounts only; what members hold follows, since every
//! currency's balances sum to zero.

use async_trait::async_trait;
use questline_kit::admin::Sampler;
use questline_kit::meter;
use sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeMap;

use super::{Store, rows};
use crate::domain::Totals;

/// Every account that is not a member's wallet (the partial index's rule).
pub(super) const NOT_A_WALLET: &str = "owner NOT LIKE 'member:%'";

impl Store {
    /// Totals per (tenant, currency) of every currency that has moved points.
    pub async fn programme_figures(&self) -> anyhow::Result<BTreeMap<(String, String), Totals>> {
        let sql = format!(
            "SELECT tenant_id, currency, owner, balance FROM accounts WHERE {NOT_A_WALLET}"
        );
        let statement = Statement::from_string(self.db.get_database_backend(), sql);
        let mut figures: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for row in self.db.query_all_raw(statement).await? {
            let tenant: String = row.try_get("", "tenant_id")?;
            let currency: String = row.try_get("", "currency")?;
            let owner: String = row.try_get("", "owner")?;
            let balance: i64 = row.try_get("", "balance")?;
            let totals = figures
                .entry((tenant, currency.clone()))
                .or_insert_with(|| Totals::new(&currency));
            totals.count(&rows::owner(&owner)?, balance);
        }
        for totals in figures.values_mut() {
            totals.infer_outstanding();
        }
        Ok(figures)
    }
}

#[async_trait]
impl Sampler for Store {
    async fn sample(&self) -> anyhow::Result<()> {
        for ((tenant, currency), t) in self.programme_figures().await? {
            let labels = [("tenant", tenant), ("currency", currency)];
            metrics::gauge!(meter::POINTS_ISSUED, &labels).set(t.issued as f64);
            metrics::gauge!(meter::POINTS_BURNED, &labels).set(t.burned as f64);
            metrics::gauge!(meter::POINTS_EXPIRED, &labels).set(t.expired as f64);
            metrics::gauge!(meter::POINTS_OUTSTANDING, &labels).set(t.outstanding as f64);
        }
        Ok(())
    }
}
