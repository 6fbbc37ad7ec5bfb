//! A programme's messaging: its triggers, its templates (every version
//! kept, at most one current per event type, channel and locale, which a
//! unique index holds to under concurrent saves), and a revision
//! counted up in the same transaction as each change, so the consumer
//! knows when what it compiled is stale. Each change is audited.

use questline_kit::audit::{self, Change};
use questline_kit::db::expect_version;
use questline_kit::paging::Page;
use questline_kit::{DomainError, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::Store;
use super::entities::{programme, template, trigger};
use crate::domain::channels::Channel;
use crate::domain::triggers::Trigger;
use crate::events::published::SOURCE;

/// A template's identity across its versions.
pub fn template_key(event_type: &str, channel: Channel, locale: &str) -> String {
    format!("{event_type}/{}/{locale}", channel.name())
}

/// A template's parts as an admin saves them.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSpec<'a> {
    pub event_type: &'a str,
    pub channel: Channel,
    pub locale: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub html: &'a str,
}

/// Everything the consumer compiles for one programme.
pub struct ProgrammeParts {
    pub triggers: Vec<trigger::Model>,
    pub templates: Vec<template::Model>,
}

impl Store {
    /// The programme's revision and tenant settings; None before either.
    pub async fn programme(
        &self,
        tenant_id: &str,
    ) -> Result<Option<programme::Model>, DomainError> {
        Ok(programme::Entity::find_by_id(tenant_id.to_string())
            .one(&self.db)
            .await?)
    }

    /// The programme's row with its unsubscribe key, drawn at random the
    /// first time one is needed (the row made if missing); once set, a key
    /// is never replaced, so every link sent stays good.
    pub async fn with_unsubscribe_key(
        &self,
        tenant_id: &str,
    ) -> Result<programme::Model, DomainError> {
        use base64::Engine;
        use programme::Column as P;
        let mut key = [0u8; crate::domain::unsubscribe::KEY_BYTES];
        getrandom::fill(&mut key).map_err(DomainError::internal)?;
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let row = programme::ActiveModel {
            tenant_id: Set(tenant_id.into()),
            revision: Set(0),
            default_locale: Set(String::new()),
            time_zone: Set(String::new()),
            tenant_as_of: Set(0),
            ..Default::default()
        };
        programme::Entity::insert(row)
            .on_conflict(OnConflict::column(P::TenantId).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        programme::Entity::update_many()
            .col_expr(P::UnsubscribeKey, Expr::value(key))
            .filter(P::TenantId.eq(tenant_id))
            .filter(P::UnsubscribeKey.eq(""))
            .exec(&self.db)
            .await?;
        self.programme(tenant_id)
            .await?
            .ok_or_else(|| DomainError::internal("the programme row vanished"))
    }

    /// The programme's triggers and current templates.
    pub async fn programme_parts(&self, tenant_id: &str) -> Result<ProgrammeParts, DomainError> {
        let triggers = trigger::Entity::find()
            .filter(trigger::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?;
        let templates = template::Entity::find()
            .filter(template::Column::TenantId.eq(tenant_id))
            .filter(template::Column::Current.eq(true))
            .all(&self.db)
            .await?;
        Ok(ProgrammeParts {
            triggers,
            templates,
        })
    }

    /// Keeps the tenant's default locale and time zone from `tenant.updated`
    /// (`as_of`, ms); an older event than the one kept changes nothing.
    pub async fn keep_tenant(
        &self,
        tenant_id: &str,
        default_locale: &str,
        time_zone: &str,
        as_of: i64,
    ) -> Result<(), DomainError> {
        use programme::Column as P;
        let row = programme::ActiveModel {
            tenant_id: Set(tenant_id.into()),
            revision: Set(0),
            default_locale: Set(default_locale.into()),
            time_zone: Set(time_zone.into()),
            tenant_as_of: Set(as_of),
            ..Default::default()
        };
        let newer = Expr::col((programme::Entity, P::TenantAsOf)).lte(as_of);
        let settings = OnConflict::column(P::TenantId)
            .update_columns([P::DefaultLocale, P::TimeZone, P::TenantAsOf])
            .action_and_where(newer)
            .to_owned();
        programme::Entity::insert(row)
            .on_conflict(settings)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    pub async fn put_trigger(
        &self,
        tenant_id: &str,
        spec: &Trigger,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<trigger::Model, DomainError> {
        let channels: Vec<&str> = spec.channels.iter().map(|c| c.name()).collect();
        let channels = serde_json::to_string(&channels).map_err(DomainError::internal)?;
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), spec.event_type.clone());
            let current = trigger::Entity::find_by_id(key).one(&txn).await?;
            let version = current.as_ref().map_or(0, |c| c.version);
            let wanted = |c: &trigger::Model| {
                c.channels == channels
                    && c.purpose == spec.purpose.name()
                    && c.topic == spec.topic
                    && c.enabled == spec.enabled
            };
            if let Some(c) = current.as_ref().filter(|c| wanted(c)) {
                return Ok(c.clone());
            }
            let what = format!("trigger {}", spec.event_type);
            expect_version(&what, version, expected_version)?;
            let row = trigger::Model {
                tenant_id: tenant_id.into(),
                event_type: spec.event_type.clone(),
                channels: channels.clone(),
                purpose: spec.purpose.name().into(),
                topic: spec.topic.clone(),
                enabled: spec.enabled,
                version: version + 1,
                updated_at: now_ms(),
            };
            match current {
                // Only over the version read: a put or delete in between
                // makes this one try again.
                Some(_) => {
                    let replaced = trigger::Entity::update_many()
                        .set(trigger::ActiveModel::from(row.clone()))
                        .filter(trigger::Column::TenantId.eq(tenant_id))
                        .filter(trigger::Column::EventType.eq(&spec.event_type))
                        .filter(trigger::Column::Version.eq(version))
                        .exec(&txn)
                        .await?;
                    if replaced.rows_affected == 0 {
                        return Err(DomainError::Aborted(format!("{what} changed meanwhile")));
                    }
                }
                None => {
                    trigger::Entity::insert(trigger::ActiveModel::from(row.clone()))
                        .exec_without_returning(&txn)
                        .await?;
                }
            }
            changed(&txn, tenant_id, change).await?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }

    pub async fn trigger(
        &self,
        tenant_id: &str,
        event_type: &str,
    ) -> Result<Option<trigger::Model>, DomainError> {
        let key = (tenant_id.to_string(), event_type.to_string());
        Ok(trigger::Entity::find_by_id(key).one(&self.db).await?)
    }

    /// The stored triggers after `after` by event type, at most `most`.
    pub async fn triggers(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        most: u64,
    ) -> Result<Vec<trigger::Model>, DomainError> {
        let mut query = trigger::Entity::find().filter(trigger::Column::TenantId.eq(tenant_id));
        if let Some(after) = after {
            query = query.filter(trigger::Column::EventType.gt(after));
        }
        Ok(query
            .order_by_asc(trigger::Column::EventType)
            .limit(most)
            .all(&self.db)
            .await?)
    }

    /// Removes the stored trigger; NOT_FOUND when there is none.
    pub async fn delete_trigger(
        &self,
        tenant_id: &str,
        event_type: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let gone = trigger::Entity::delete_many()
            .filter(trigger::Column::TenantId.eq(tenant_id))
            .filter(trigger::Column::EventType.eq(event_type))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 0 {
            return Err(DomainError::NotFound(format!(
                "no stored trigger for {event_type}"
            )));
        }
        changed(&txn, tenant_id, change).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Saves `spec` as the template's next version, current from now on;
    /// the same parts as the current version save nothing and answer it.
    pub async fn put_template(
        &self,
        tenant_id: &str,
        spec: &TemplateSpec<'_>,
        saved_by: &str,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<template::Model, DomainError> {
        use template::Column as T;
        let key = template_key(spec.event_type, spec.channel, spec.locale);
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let current = current_template(&txn, tenant_id, &key).await?;
            let version = current.as_ref().map_or(0, |c| c.version);
            // After a delete, numbering goes on from the last version.
            let last = last_version(&txn, tenant_id, &key).await?;
            let same = |c: &template::Model| {
                c.subject == spec.subject && c.body == spec.body && c.html == spec.html
            };
            if let Some(c) = current.as_ref().filter(|c| same(c)) {
                return Ok(c.clone());
            }
            let what = format!("template {key}");
            expect_version(&what, version, expected_version)?;
            template::Entity::update_many()
                .col_expr(T::Current, Expr::value(false))
                .filter(T::TenantId.eq(tenant_id))
                .filter(T::TemplateKey.eq(&key))
                .exec(&txn)
                .await?;
            let row = template::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                template_key: Set(key.clone()),
                version: Set(last + 1),
                event_type: Set(spec.event_type.into()),
                channel: Set(spec.channel.name().into()),
                locale: Set(spec.locale.into()),
                subject: Set(spec.subject.into()),
                body: Set(spec.body.into()),
                html: Set(spec.html.into()),
                current: Set(true),
                saved_by: Set(saved_by.into()),
                created_at: Set(now_ms()),
            }
            .insert(&txn)
            .await?;
            changed(&txn, tenant_id, change).await?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }

    /// The template's current version, or `version`; NOT_FOUND when absent.
    pub async fn template(
        &self,
        tenant_id: &str,
        key: &str,
        version: Option<i32>,
    ) -> Result<template::Model, DomainError> {
        let found = match version {
            None => current_template(&self.db, tenant_id, key).await?,
            Some(version) => {
                let id = (tenant_id.to_string(), key.to_string(), version);
                template::Entity::find_by_id(id).one(&self.db).await?
            }
        };
        found.ok_or_else(|| match version {
            None => DomainError::NotFound(format!("no template {key}")),
            Some(v) => DomainError::NotFound(format!("no version {v} of template {key}")),
        })
    }

    /// One page of current templates by key, for `Page::finish`.
    pub async fn templates(
        &self,
        tenant_id: &str,
        event_type: Option<&str>,
        page: &Page,
    ) -> Result<Vec<template::Model>, DomainError> {
        use template::Column as T;
        let mut query = template::Entity::find()
            .filter(T::TenantId.eq(tenant_id))
            .filter(T::Current.eq(true));
        if let Some(event_type) = event_type {
            query = query.filter(T::EventType.eq(event_type));
        }
        if let Some(after) = &page.after {
            query = query.filter(T::TemplateKey.gt(after.as_str()));
        }
        Ok(query
            .order_by_asc(T::TemplateKey)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?)
    }

    /// One page of a template's versions, newest first, for `Page::finish`;
    /// NOT_FOUND when it has none.
    pub async fn template_versions(
        &self,
        tenant_id: &str,
        key: &str,
        page: &Page,
    ) -> Result<Vec<template::Model>, DomainError> {
        use template::Column as T;
        let mut query = template::Entity::find()
            .filter(T::TenantId.eq(tenant_id))
            .filter(T::TemplateKey.eq(key));
        if let Some(after) = &page.after {
            // A token this list never made reads as past the oldest version.
            let after: i32 = after.parse().unwrap_or(0);
            query = query.filter(T::Version.lt(after));
        }
        let rows = query
            .order_by_desc(T::Version)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        if rows.is_empty() && page.after.is_none() {
            return Err(DomainError::NotFound(format!("no template {key}")));
        }
        Ok(rows)
    }

    /// Retires a template: no version is current, so members read the
    /// next one in fallback order; the versions are kept. NOT_FOUND when
    /// none is current.
    pub async fn delete_template(
        &self,
        tenant_id: &str,
        key: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        use template::Column as T;
        let txn = self.db.begin().await?;
        let gone = template::Entity::update_many()
            .col_expr(T::Current, Expr::value(false))
            .filter(T::TenantId.eq(tenant_id))
            .filter(T::TemplateKey.eq(key))
            .filter(T::Current.eq(true))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 0 {
            return Err(DomainError::NotFound(format!("no template {key}")));
        }
        changed(&txn, tenant_id, change).await?;
        txn.commit().await?;
        Ok(())
    }
}

async fn last_version(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    key: &str,
) -> Result<i32, DomainError> {
    use template::Column as T;
    let last: Option<Option<i32>> = template::Entity::find()
        .select_only()
        .column_as(T::Version.max(), "last")
        .filter(T::TenantId.eq(tenant_id))
        .filter(T::TemplateKey.eq(key))
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

async fn current_template(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    key: &str,
) -> Result<Option<template::Model>, DomainError> {
    use template::Column as T;
    Ok(template::Entity::find()
        .filter(T::TenantId.eq(tenant_id))
        .filter(T::TemplateKey.eq(key))
        .filter(T::Current.eq(true))
        .one(db)
        .await?)
}

/// Counts the programme's revision up and audits `change`, in `txn`.
pub(super) async fn changed(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    change: &Change,
) -> Result<(), DomainError> {
    use programme::Column as P;
    let row = programme::ActiveModel {
        tenant_id: Set(tenant_id.into()),
        revision: Set(1),
        default_locale: Set(String::new()),
        time_zone: Set(String::new()),
        tenant_as_of: Set(0),
        ..Default::default()
    };
    let next = Expr::col((programme::Entity, P::Revision)).add(1);
    let bump = OnConflict::column(P::TenantId)
        .value(P::Revision, next)
        .to_owned();
    programme::Entity::insert(row)
        .on_conflict(bump)
        .exec_without_returning(txn)
        .await?;
    audit::stage(txn, SOURCE, change).await?;
    Ok(())
}
