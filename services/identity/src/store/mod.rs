//! Identity's storage: one file per resource, and the create every resource
//! created under its own id shares.

mod audit;
mod clients;
pub mod entities;
mod members;
pub mod migrations;
mod segments;
mod signing;
mod tenants;

pub use audit::AuditFilter;
pub use clients::{ClientOutcome, ClientWithKeys, Rotation};
pub use members::{consent_of, profile_of};
pub use segments::{SegmentChange, membership};
pub use signing::SigningRotation;

use questline_kit::DomainError;
use questline_kit::error::same_or_exists;
use questline_kit::outbox;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PrimaryKeyTrait, TransactionTrait,
};

use questline_proto::events::Event;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

    /// Inserts `row` under `key` with the events of the change (`staged`:
    /// its audit entry, and what it announces). Creates are
    /// idempotent: when a row is stored under `key`, the same definition
    /// (`same`) answers that row again, another one is ALREADY_EXISTS for
    /// the `what` called `id`.
    async fn create_once<E>(
        &self,
        row: E::Model,
        key: <E::PrimaryKey as PrimaryKeyTrait>::ValueType,
        same: fn(&E::Model, &E::Model) -> bool,
        what: &str,
        id: &str,
        staged: &[Event],
    ) -> Result<E::Model, DomainError>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
        E::ActiveModel: ActiveModelBehavior + Send,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: Clone,
    {
        let created = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if let Some(stored) = E::find_by_id(key.clone()).one(&txn).await? {
                let same = same(&stored, &row);
                return same_or_exists(stored, same, what, id).map(|stored| (stored, false));
            }
            let inserted = row.clone().into_active_model().insert(&txn).await?;
            for event in staged {
                outbox::stage(&txn, event).await?;
            }
            txn.commit().await?;
            Ok((inserted, true))
        })
        .await?;
        Ok(self.relay.woken(created))
    }
}
