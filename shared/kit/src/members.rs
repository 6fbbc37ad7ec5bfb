//! A service's local read model of members, fed by `member.upserted` events so
//! the hot path never waits on identity. A member not seen yet (the event is
//! still on its way) is read through from identity once and kept.

use async_trait::async_trait;
use questline_proto::events::{Event, event::Payload};
use questline_proto::identity::{GetMemberRequest, identity_service_client::IdentityServiceClient};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Set,
    TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text};
use std::collections::BTreeMap;
use tonic::transport::Channel;

use crate::bus::EventHandler;
use crate::client::Outgoing;
use crate::error::{DomainError, from_upstream};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "member_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub member_id: String,
        pub external_id: String,
        /// JSON object of string → string.
        pub profile: String,
        /// Time of the newest event applied, so an older one never overwrites it.
        pub as_of: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the `member_snapshots` table.
pub struct CreateMemberSnapshots;

impl MigrationName for CreateMemberSnapshots {
    fn name(&self) -> &str {
        "m0000_kit_create_member_snapshots"
    }
}

#[async_trait]
impl MigrationTrait for CreateMemberSnapshots {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("member_snapshots")
                    .if_not_exists()
                    .col(string("tenant_id"))
                    .col(string("member_id"))
                    .col(string("external_id"))
                    .col(text("profile"))
                    .col(big_integer("as_of"))
                    .primary_key(Index::create().col("tenant_id").col("member_id"))
                    .to_owned(),
            )
            .await
    }
}

/// What a service knows of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub external_id: String,
    pub profile: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct MemberDirectory {
    db: DatabaseConnection,
    identity: Channel,
    /// The consuming service's name, its inbox key.
    consumer: &'static str,
}

impl MemberDirectory {
    pub fn new(db: DatabaseConnection, identity: Channel, consumer: &'static str) -> Self {
        MemberDirectory {
            db,
            identity,
            consumer,
        }
    }

    /// The member, from the local snapshot or else from identity (acting as
    /// `caller_token`); NOT_FOUND when identity does not know it either.
    pub async fn get(
        &self,
        tenant_id: &str,
        member_id: &str,
        caller_token: &str,
    ) -> Result<MemberSnapshot, DomainError> {
        let key = (tenant_id.to_string(), member_id.to_string());
        if let Some(row) = entity::Entity::find_by_id(key).one(&self.db).await? {
            return Ok(snapshot_of(&row));
        }
        let mut identity = IdentityServiceClient::with_interceptor(
            self.identity.clone(),
            Outgoing::bearer(caller_token),
        );
        let member = identity
            .get_member(GetMemberRequest {
                tenant_id: tenant_id.into(),
                member_id: member_id.into(),
            })
            .await
            .map_err(from_upstream)?
            .into_inner()
            .member
            .ok_or_else(|| DomainError::internal("identity answered without a member"))?;
        let as_of = member
            .update_time
            .as_ref()
            .map(crate::time::from_timestamp)
            .unwrap_or_default();
        let snapshot = MemberSnapshot {
            member_id: member.member_id,
            external_id: member.external_id,
            profile: member.profile,
        };
        // Two first reads of one member race to insert it: the loser updates.
        crate::db::retrying(|| keep(&self.db, tenant_id, &snapshot, as_of)).await?;
        Ok(snapshot)
    }
}

#[async_trait]
impl EventHandler for MemberDirectory {
    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        let Some(Payload::MemberUpserted(upserted)) = &event.payload else {
            return Ok(());
        };
        let txn = self.db.begin().await?;
        if crate::inbox::first_delivery(&txn, self.consumer, &event.event_id).await? {
            let snapshot = MemberSnapshot {
                member_id: upserted.member_id.clone(),
                external_id: upserted.external_id.clone(),
                profile: upserted.profile.clone(),
            };
            let as_of = event
                .time
                .as_ref()
                .map(crate::time::from_timestamp)
                .unwrap_or_default();
            keep(&txn, &event.tenant_id, &snapshot, as_of).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Stores `snapshot` unless a newer one is already kept.
async fn keep<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    snapshot: &MemberSnapshot,
    as_of: i64,
) -> Result<(), DomainError> {
    let profile = serde_json::to_string(&snapshot.profile).map_err(DomainError::internal)?;
    let key = (tenant_id.to_string(), snapshot.member_id.clone());
    let row = entity::ActiveModel {
        tenant_id: Set(tenant_id.into()),
        member_id: Set(snapshot.member_id.clone()),
        external_id: Set(snapshot.external_id.clone()),
        profile: Set(profile),
        as_of: Set(as_of),
    };
    match entity::Entity::find_by_id(key).one(c).await? {
        None => {
            row.insert(c).await?;
        }
        Some(stored) if stored.as_of <= as_of => {
            row.update(c).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

fn snapshot_of(row: &entity::Model) -> MemberSnapshot {
    MemberSnapshot {
        member_id: row.member_id.clone(),
        external_id: row.external_id.clone(),
        profile: serde_json::from_str(&row.profile).unwrap_or_default(),
    }
}
