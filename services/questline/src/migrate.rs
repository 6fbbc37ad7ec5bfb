//! `questline migrate`: every service's schema brought up to date by one
//! job before new pods start, so replicas never race to migrate.

use questline_kit::config::{ServiceKind, Settings};
use sea_orm_migration::MigratorTrait;

use crate::mesh::Part;

/// Migrates the databases of `parts`, one after the other.
pub async fn run(settings: &Settings, parts: &[Part]) -> anyhow::Result<()> {
    for &part in parts {
        let Part::Service(kind) = part else {
            migrate::<questline_gateway::store::migrations::Migrator>(
                &settings.gateway_database_url(),
            )
            .await
            .map_err(|err| err.context("gateway: migration failed"))?;
            tracing::info!(service = "gateway", "database up to date");
            continue;
        };
        let url = settings.database_url(kind);
        match kind {
            ServiceKind::Identity => {
                migrate::<questline_identity::store::migrations::Migrator>(&url).await
            }
            ServiceKind::Ledger => {
                migrate::<questline_ledger::store::migrations::Migrator>(&url).await
            }
            ServiceKind::Mechanics => {
                migrate::<questline_mechanics::store::migrations::Migrator>(&url).await
            }
            ServiceKind::Rewards => {
                migrate::<questline_rewards::store::migrations::Migrator>(&url).await
            }
            ServiceKind::Notifications => {
                migrate::<questline_notifications::store::migrations::Migrator>(&url).await
            }
        }
        .map_err(|err| err.context(format!("{}: migration failed", kind.name())))?;
        tracing::info!(service = kind.name(), "database up to date");
    }
    Ok(())
}

async fn migrate<M: MigratorTrait>(url: &str) -> anyhow::Result<()> {
    let db = questline_kit::db::open(url).await?;
    questline_kit::db::migrate::<M>(&db, true).await?;
    db.close().await?;
    Ok(())
}
