//! A service's local read model of members, fed by identity's `member.*`
//! events so the hot path never waits on identity. A member not seen yet (the
//! event is still on its way) is read through from identity once and kept.
//! It holds only what identity shares (`facts`: locale, country, birthday,
//! attributes, consent; never a name, email or phone), and an erased member
//! leaves only a tombstone: its id, so it is refused from then on.

use crate::client::Channel;
use async_trait::async_trait;
use questline_proto::events::{Event, event::Payload};
use questline_proto::identity::{
    self as pb, GetMemberRequest, identity_service_client::IdentityServiceClient,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, text};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};

use crate::Violations;
use crate::bus::EventHandler;
use crate::client::Outgoing;
use crate::error::{DomainError, from_upstream};
use crate::group::{Batch, Group};

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
        /// JSON object of the member's facts.
        pub facts: String,
        pub erased: bool,
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
                    .col(text("facts"))
                    .col(boolean("erased"))
                    .col(big_integer("as_of"))
                    .primary_key(Index::create().col("tenant_id").col("member_id"))
                    .to_owned(),
            )
            .await
    }
}

/// Adds the (tenant, external id) index Track's lookup by external id reads.
pub struct IndexMemberExternalIds;

impl MigrationName for IndexMemberExternalIds {
    fn name(&self) -> &str {
        "m0000_kit_index_member_external_ids"
    }
}

#[async_trait]
impl MigrationTrait for IndexMemberExternalIds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("member_snapshots_by_external_id")
                    .table("member_snapshots")
                    .if_not_exists()
                    .col("tenant_id")
                    .col("external_id")
                    .to_owned(),
            )
            .await
    }
}

/// Checks that a request names its member one way: by `member_id`, or by
/// `external_id`, the brand's own id for them — exactly one.
pub fn check_one(v: &mut Violations, member_id: &str, external_id: &str) {
    match (member_id.is_empty(), external_id.is_empty()) {
        (_, true) => {
            v.id("member_id", member_id);
        }
        (true, false) => {
            v.text("external_id", external_id);
        }
        (false, false) => {
            v.add("external_id", "must be empty when member_id is given");
        }
    }
}

/// What a service knows of a member.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub external_id: String,
    pub facts: Map<String, Json>,
}

/// The consent purposes, as `facts.consent` names them.
pub const PURPOSES: [(&str, pb::ConsentPurpose); 4] = [
    ("marketing_email", pb::ConsentPurpose::MarketingEmail),
    ("sms", pb::ConsentPurpose::Sms),
    ("push", pb::ConsentPurpose::Push),
    ("profiling", pb::ConsentPurpose::Profiling),
];

/// The facts other services may know of a member, never a name, email or
/// phone: `profile` for locale, country, birthday and attributes, and whether
/// each purpose is `granted`.
pub fn facts(profile: Facts, granted: impl Fn(&str) -> bool) -> Map<String, Json> {
    let consent: Map<String, Json> = PURPOSES
        .iter()
        .map(|(name, _)| (String::from(*name), Json::Bool(granted(name))))
        .collect();
    let mut facts = Map::new();
    facts.insert("locale".into(), profile.locale.into());
    facts.insert("country".into(), profile.country.into());
    facts.insert("birthday".into(), profile.birthday.into());
    facts.insert("attributes".into(), Json::Object(profile.attributes));
    facts.insert("consent".into(), Json::Object(consent));
    facts.insert("joined".into(), profile.joined.into());
    facts
}

/// The parts of a profile other services may know.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub locale: String,
    pub country: String,
    pub birthday: String,
    pub attributes: Map<String, Json>,
    /// When the member signed up (RFC 3339), for anniversaries.
    pub joined: String,
}

/// The facts of a member as identity answers it.
pub fn facts_of(member: &pb::Member) -> Map<String, Json> {
    let profile = member.profile.clone().unwrap_or_default();
    let parts = Facts {
        locale: profile.locale,
        country: profile.country,
        birthday: profile.birthday,
        attributes: crate::structs::to_json(profile.attributes.unwrap_or_default()),
        joined: member
            .create_time
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    };
    facts(parts, |name| {
        member.consent.iter().any(|c| {
            c.granted
                && PURPOSES
                    .iter()
                    .any(|(n, p)| *n == name && *p as i32 == c.purpose)
        })
    })
}

#[derive(Clone)]
pub struct MemberDirectory {
    db: DatabaseConnection,
    identity: Channel,
    /// The consuming service's name, its inbox key.
    consumer: &'static str,
    /// Reads of single members that arrive together, made as one query.
    snapshots: Group<Snapshots>,
}

impl MemberDirectory {
    /// Starts the task that reads snapshots; call it within the runtime.
    pub fn new(db: DatabaseConnection, identity: Channel, consumer: &'static str) -> Self {
        MemberDirectory {
            snapshots: Group::start(Snapshots { db: db.clone() }, Snapshots::MOST),
            db,
            identity,
            consumer,
        }
    }

    /// The member, from the local snapshot or else from identity (acting as
    /// `caller_token`); NOT_FOUND when identity does not know it either, or
    /// when it has been erased.
    pub async fn get(
        &self,
        tenant_id: &str,
        member_id: &str,
        caller_token: &str,
    ) -> Result<MemberSnapshot, DomainError> {
        if let Some(row) = self.stored(tenant_id, member_id).await? {
            return snapshot_of(&row);
        }
        let request = GetMemberRequest {
            tenant_id: tenant_id.into(),
            member_id: member_id.into(),
            external_id: String::new(),
        };
        self.read_through(request, caller_token).await
    }

    /// The member the brand knows by `external_id`, as `get` finds one.
    pub async fn by_external_id(
        &self,
        tenant_id: &str,
        external_id: &str,
        caller_token: &str,
    ) -> Result<MemberSnapshot, DomainError> {
        let stored = entity::Entity::find()
            .filter(entity::Column::TenantId.eq(tenant_id))
            .filter(entity::Column::ExternalId.eq(external_id))
            .filter(entity::Column::Erased.eq(false))
            .one(&self.db)
            .await?;
        if let Some(row) = stored {
            return snapshot_of(&row);
        }
        let request = GetMemberRequest {
            tenant_id: tenant_id.into(),
            member_id: String::new(),
            external_id: external_id.into(),
        };
        self.read_through(request, caller_token).await
    }

    /// Asks identity for the member and keeps what it answers.
    async fn read_through(
        &self,
        request: GetMemberRequest,
        caller_token: &str,
    ) -> Result<MemberSnapshot, DomainError> {
        let tenant_id = request.tenant_id.clone();
        let mut identity = IdentityServiceClient::with_interceptor(
            self.identity.clone(),
            Outgoing::bearer(caller_token),
        );
        let member = identity
            .get_member(request)
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
            member_id: member.member_id.clone(),
            external_id: member.external_id.clone(),
            facts: facts_of(&member),
        };
        keep(
            &self.db,
            &tenant_id,
            Some(&snapshot),
            &snapshot.member_id,
            as_of,
        )
        .await?;
        Ok(snapshot)
    }

    /// What this service holds of the member (no call to identity).
    pub async fn held(&self, tenant_id: &str, member_id: &str) -> Result<Held, DomainError> {
        Ok(match self.stored(tenant_id, member_id).await? {
            None => Held::Unknown,
            Some(row) if row.erased => Held::Erased,
            Some(row) => Held::Known(snapshot_of(&row)?),
        })
    }

    /// The stored snapshots among `member_ids` of one tenant, by id (an
    /// erased member as NOT_FOUND); one missing is for `get` to ask about.
    pub async fn stored_among(
        &self,
        tenant_id: &str,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Result<MemberSnapshot, DomainError>>, DomainError> {
        let rows = rows_among(&self.db, tenant_id, member_ids).await?;
        Ok(rows
            .iter()
            .map(|row| (row.member_id.clone(), snapshot_of(row)))
            .collect())
    }

    async fn stored(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Option<entity::Model>, DomainError> {
        let key = (tenant_id.to_string(), member_id.to_string());
        self.snapshots.submit(key).await
    }
}

/// Reads the stored rows of the members asked for together: one query per
/// tenant among them (a busy ledger checks a member on every credit).
struct Snapshots {
    db: DatabaseConnection,
}

impl Snapshots {
    /// Most members read in one query.
    const MOST: usize = 256;

    async fn read(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), entity::Model>, DomainError> {
        let mut by_tenant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tenant_id, member_id) in keys {
            by_tenant.entry(tenant_id).or_default().push(member_id);
        }
        let mut rows = HashMap::with_capacity(keys.len());
        for (tenant_id, member_ids) in by_tenant {
            let found = rows_among(&self.db, tenant_id, &member_ids).await?;
            rows.extend(
                found
                    .into_iter()
                    .map(|row| ((row.tenant_id.clone(), row.member_id.clone()), row)),
            );
        }
        Ok(rows)
    }
}

/// The stored rows of `member_ids` of one tenant, erased ones included.
async fn rows_among(
    db: &DatabaseConnection,
    tenant_id: &str,
    member_ids: &[&str],
) -> Result<Vec<entity::Model>, DbErr> {
    entity::Entity::find()
        .filter(entity::Column::TenantId.eq(tenant_id))
        .filter(entity::Column::MemberId.is_in(member_ids.iter().copied()))
        .all(db)
        .await
}

#[async_trait]
impl Batch for Snapshots {
    type Job = (String, String);
    type Answer = Option<entity::Model>;

    async fn carry_out(
        &mut self,
        keys: Vec<(String, String)>,
    ) -> Vec<Result<Option<entity::Model>, DomainError>> {
        match self.read(&keys).await {
            // A member asked for twice in the batch gets the row twice.
            Ok(rows) => keys.iter().map(|key| Ok(rows.get(key).cloned())).collect(),
            Err(err) => keys.iter().map(|_| Err(err.clone())).collect(),
        }
    }
}

/// What a service's read model holds of one member.
#[derive(Debug)]
pub enum Held {
    /// No event about the member has arrived here yet.
    Unknown,
    /// Erased: never served or notified again.
    Erased,
    Known(MemberSnapshot),
}

/// The snapshot an event brings: `Some` for an upsert or consent change,
/// `None` for an erasure; nothing for other events.
fn change_of(event: &Event) -> Option<(String, Option<MemberSnapshot>)> {
    let snapshot =
        |member_id: &str, external_id: &str, facts: &Option<prost_types::Struct>| MemberSnapshot {
            member_id: member_id.into(),
            external_id: external_id.into(),
            facts: crate::structs::to_json(facts.clone().unwrap_or_default()),
        };
    match event.payload.as_ref()? {
        Payload::MemberUpserted(m) => Some((
            m.member_id.clone(),
            Some(snapshot(&m.member_id, &m.external_id, &m.facts)),
        )),
        Payload::MemberConsentChanged(m) => Some((
            m.member_id.clone(),
            Some(snapshot(&m.member_id, &m.external_id, &m.facts)),
        )),
        Payload::MemberErased(m) => Some((m.member_id.clone(), None)),
        _ => None,
    }
}

#[async_trait]
impl EventHandler for MemberDirectory {
    fn wants(&self, event: &Event) -> bool {
        change_of(event).is_some()
    }

    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        let Some((member_id, snapshot)) = change_of(event) else {
            return Ok(());
        };
        let txn = self.db.begin().await?;
        if crate::inbox::first_delivery(&txn, self.consumer, &event.event_id).await? {
            let as_of = event
                .time
                .as_ref()
                .map(crate::time::from_timestamp)
                .unwrap_or_default();
            keep(&txn, &event.tenant_id, snapshot.as_ref(), &member_id, as_of).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Stores `snapshot` (or, for `None`, the erasure) unless a newer one is
/// already kept. An erasure is final: nothing overwrites it.
async fn keep<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    snapshot: Option<&MemberSnapshot>,
    member_id: &str,
    as_of: i64,
) -> Result<(), DomainError> {
    let facts = match snapshot {
        Some(s) => serde_json::to_string(&s.facts).map_err(DomainError::internal)?,
        None => "{}".into(),
    };
    let key = (tenant_id.to_string(), member_id.to_string());
    let row = entity::ActiveModel {
        tenant_id: Set(tenant_id.into()),
        member_id: Set(member_id.into()),
        external_id: Set(snapshot.map(|s| s.external_id.clone()).unwrap_or_default()),
        facts: Set(facts),
        erased: Set(snapshot.is_none()),
        as_of: Set(as_of),
    };
    let stored = match entity::Entity::find_by_id(key.clone()).one(c).await? {
        Some(stored) => stored,
        None => {
            // A read through identity and the member's event may both find
            // nothing and insert: the second does nothing, then compares.
            let conflict = sea_orm::sea_query::OnConflict::columns([
                entity::Column::TenantId,
                entity::Column::MemberId,
            ])
            .do_nothing()
            .to_owned();
            let inserted = entity::Entity::insert(row.clone())
                .on_conflict(conflict)
                .exec_without_returning(c)
                .await?;
            if inserted > 0 {
                return Ok(());
            }
            entity::Entity::find_by_id(key)
                .one(c)
                .await?
                .ok_or_else(|| DomainError::Aborted("a member snapshot went missing".into()))?
        }
    };
    match stored {
        stored if stored.erased => {}
        stored if snapshot.is_none() || stored.as_of <= as_of => {
            row.update(c).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The member a stored row holds; NOT_FOUND when erased.
pub fn snapshot_of(row: &entity::Model) -> Result<MemberSnapshot, DomainError> {
    if row.erased {
        return Err(DomainError::NotFound(format!(
            "member {} not found",
            row.member_id
        )));
    }
    Ok(MemberSnapshot {
        member_id: row.member_id.clone(),
        external_id: row.external_id.clone(),
        facts: serde_json::from_str(&row.facts).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Database;

    fn snapshot(member_id: &str) -> MemberSnapshot {
        MemberSnapshot {
            member_id: member_id.into(),
            external_id: format!("card-{member_id}"),
            facts: Map::new(),
        }
    }

    #[tokio::test]
    async fn a_snapshot_is_kept_once_and_the_newest_wins() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let manager = SchemaManager::new(&db);
        CreateMemberSnapshots.up(&manager).await.unwrap();
        keep(&db, "acme", Some(&snapshot("ann")), "ann", 5)
            .await
            .unwrap();
        // An older one arriving later (a read through identity, an event) changes nothing.
        let mut older = snapshot("ann");
        older.external_id = "old-card".into();
        keep(&db, "acme", Some(&older), "ann", 3).await.unwrap();
        let mut newer = snapshot("ann");
        newer.external_id = "new-card".into();
        keep(&db, "acme", Some(&newer), "ann", 9).await.unwrap();
        let rows = entity::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].external_id, "new-card");
    }

    #[tokio::test]
    async fn members_read_together_each_get_their_own_row() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let manager = SchemaManager::new(&db);
        CreateMemberSnapshots.up(&manager).await.unwrap();
        keep(&db, "acme", Some(&snapshot("ann")), "ann", 1)
            .await
            .unwrap();
        keep(&db, "acme", None, "bob", 1).await.unwrap();
        keep(&db, "other", Some(&snapshot("cy")), "cy", 1)
            .await
            .unwrap();
        let mut batch = Snapshots { db };
        let key = |t: &str, m: &str| (t.to_string(), m.to_string());
        let keys = vec![
            key("acme", "ann"),
            key("acme", "bob"),
            key("acme", "ann"),
            key("acme", "cy"),
            key("other", "cy"),
            key("other", "nobody"),
        ];
        let rows: Vec<_> = batch
            .carry_out(keys)
            .await
            .into_iter()
            .map(|row| row.unwrap().map(|r| (r.member_id, r.erased)))
            .collect();
        let row = |m: &str, erased| Some((m.to_string(), erased));
        assert_eq!(
            rows,
            [
                row("ann", false),
                row("bob", true),
                row("ann", false),
                None,
                row("cy", false),
                None
            ]
        );
    }
}
