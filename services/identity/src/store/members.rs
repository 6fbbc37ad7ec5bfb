//! Members. Every change publishes what other services may know (`facts`):
//! `member.upserted` for the profile, `member.consent_changed` for consent,
//! `member.erased` when the member asks to be forgotten.

use questline_kit::paging::Page;
use questline_kit::{DomainError, new_id, outbox, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::Store;
use super::entities::member;
use crate::domain::members::{self, Consent, Profile};
use crate::events::{self, SOURCE};
use questline_kit::audit::{self, Change};

impl Store {
    /// Creates or updates the member with this external id, replacing its
    /// profile; publishes `member.upserted` when anything changed.
    pub async fn upsert_member(
        &self,
        tenant_id: &str,
        external_id: &str,
        profile: &Profile,
    ) -> Result<(member::Model, bool), DomainError> {
        let attributes = to_text(&profile.attributes)?;
        let (row, created, changed) = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let now = now_ms();
            let existing = member::Entity::find()
                .filter(member::Column::TenantId.eq(tenant_id))
                .filter(member::Column::ExternalId.eq(external_id))
                .one(&txn)
                .await?;
            let (row, created) = match existing {
                Some(row) if profile_of(&row) == *profile => return Ok((row, false, false)),
                Some(row) => {
                    let mut active: member::ActiveModel = row.into();
                    set_profile(&mut active, profile, &attributes);
                    active.updated_at = Set(now);
                    (active.update(&txn).await?, false)
                }
                None => {
                    let mut active = member::ActiveModel {
                        member_id: Set(new_id()),
                        tenant_id: Set(tenant_id.into()),
                        external_id: Set(external_id.into()),
                        consent: Set("{}".into()),
                        created_at: Set(now),
                        updated_at: Set(now),
                        erased_at: Set(None),
                        ..Default::default()
                    };
                    set_profile(&mut active, profile, &attributes);
                    (active.insert(&txn).await?, true)
                }
            };
            let facts = members::facts(profile, &consent_of(&row), row.created_at);
            outbox::stage(&txn, &events::member_upserted(&row, &facts)).await?;
            txn.commit().await?;
            Ok((row, created, true))
        })
        .await?;
        if changed {
            self.relay.wake();
        }
        Ok((row, created))
    }

    /// A member that has not been erased.
    pub async fn member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<member::Model, DomainError> {
        let row = find(&self.db, tenant_id, member_id).await?;
        if row.erased_at.is_some() {
            return Err(not_found(member_id));
        }
        Ok(row)
    }

    /// The member the brand knows by `external_id`; NOT_FOUND once erased.
    pub async fn member_by_external_id(
        &self,
        tenant_id: &str,
        external_id: &str,
    ) -> Result<member::Model, DomainError> {
        member::Entity::find()
            .filter(member::Column::TenantId.eq(tenant_id))
            .filter(member::Column::ExternalId.eq(external_id))
            .filter(member::Column::ErasedAt.is_null())
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                DomainError::NotFound(format!("no member with external id {external_id}"))
            })
    }

    /// One page of a tenant's members in joining order, matching `query` if given.
    pub async fn members(
        &self,
        tenant_id: &str,
        query: &str,
        page: &Page,
    ) -> Result<Vec<member::Model>, DomainError> {
        let mut select = member::Entity::find()
            .filter(member::Column::TenantId.eq(tenant_id))
            .filter(member::Column::ErasedAt.is_null())
            .order_by_asc(member::Column::MemberId);
        if !query.is_empty() {
            let folded = query.to_lowercase();
            let escaped = folded
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let name = Expr::expr(Func::lower(Expr::col(member::Column::DisplayName)))
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'));
            select = select.filter(
                Condition::any()
                    .add(member::Column::ExternalId.eq(query))
                    .add(member::Column::Email.eq(folded.as_str()))
                    .add(name),
            );
        }
        if let Some(after) = &page.after {
            select = select.filter(member::Column::MemberId.gt(after.as_str()));
        }
        Ok(select.limit(page.fetch_limit()).all(&self.db).await?)
    }

    /// Records `choices` from `source`; publishes `member.consent_changed` when any changed.
    pub async fn update_consent(
        &self,
        tenant_id: &str,
        member_id: &str,
        choices: &[(&'static str, bool)],
        source: &str,
    ) -> Result<member::Model, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let row = find(&txn, tenant_id, member_id).await?;
            if row.erased_at.is_some() {
                return Err(not_found(member_id));
            }
            let mut consent = consent_of(&row);
            if !members::choose(&mut consent, choices, now_ms(), source) {
                return Ok((row, false));
            }
            let mut active: member::ActiveModel = row.into();
            active.consent = Set(to_text(&consent)?);
            active.updated_at = Set(now_ms());
            let row = active.update(&txn).await?;
            let facts = members::facts(&profile_of(&row), &consent, row.created_at);
            outbox::stage(&txn, &events::member_consent_changed(&row, &facts)).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// Removes every personal value, keeping the id for the books; the first
    /// time publishes `member.erased`. Erasing again answers the same.
    pub async fn erase_member(
        &self,
        tenant_id: &str,
        member_id: &str,
        change: &Change,
    ) -> Result<member::Model, DomainError> {
        let (row, newly) = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let row = find(&txn, tenant_id, member_id).await?;
            if row.erased_at.is_some() {
                return Ok((row, false));
            }
            let mut active: member::ActiveModel = row.into();
            active.external_id = Set(members::erased_external_id(member_id));
            set_profile(&mut active, &Profile::default(), "{}");
            active.consent = Set("{}".into());
            active.erased_at = Set(Some(now_ms()));
            active.updated_at = Set(now_ms());
            let row = active.update(&txn).await?;
            outbox::forget_subject(&txn, member_id).await?;
            outbox::stage(&txn, &events::member_erased(&row)).await?;
            audit::stage(&txn, SOURCE, change).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        if newly {
            self.relay.wake();
            tracing::info!(member_id, "member erased");
        }
        Ok(row)
    }
}

fn not_found(member_id: &str) -> DomainError {
    DomainError::NotFound(format!("member {member_id} not found"))
}

async fn find<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    member_id: &str,
) -> Result<member::Model, DomainError> {
    member::Entity::find_by_id(member_id.to_string())
        .filter(member::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?
        .ok_or_else(|| not_found(member_id))
}

fn set_profile(active: &mut member::ActiveModel, profile: &Profile, attributes: &str) {
    active.display_name = Set(profile.display_name.clone());
    active.email = Set(profile.email.clone());
    active.phone = Set(profile.phone.clone());
    active.birthday = Set(profile.birthday.clone());
    active.locale = Set(profile.locale.clone());
    active.country = Set(profile.country.clone());
    active.attributes = Set(attributes.into());
}

fn to_text<T: serde::Serialize>(value: &T) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(DomainError::internal)
}

/// A member's profile as stored.
pub fn profile_of(row: &member::Model) -> Profile {
    Profile {
        display_name: row.display_name.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
        birthday: row.birthday.clone(),
        locale: row.locale.clone(),
        country: row.country.clone(),
        attributes: serde_json::from_str(&row.attributes).unwrap_or_default(),
    }
}

/// A member's consent as stored.
pub fn consent_of(row: &member::Model) -> Consent {
    serde_json::from_str(&row.consent).unwrap_or_default()
}
