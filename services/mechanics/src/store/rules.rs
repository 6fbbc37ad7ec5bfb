//! Rules: a head (current version and status), immutable versions, and the
//! history of changes that says which version was in force when. Every
//! change bumps the tenant's rule book revision, audits itself and
//! publishes `rule.changed`, in one transaction.

use questline_kit::DomainError;
use questline_kit::audit::{self, Change};
use questline_kit::db::expect_version;
use questline_kit::error::same_or_exists;
use questline_kit::outbox;
use questline_kit::paging::Page;
use questline_kit::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::Store;
use super::entities::{rule, rule_book, rule_change, rule_version};
use crate::domain::rules::{RuleSpec, RuleStatus};
use crate::events;

/// A rule as stored: its head and the definition of one version.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub head: rule::Model,
    pub version: i32,
    pub spec: RuleSpec,
    pub version_created_at: i64,
}

/// A rule's whole history.
pub struct RuleHistory {
    pub head: rule::Model,
    /// Newest first.
    pub versions: Vec<StoredRule>,
    /// Oldest first.
    pub changes: Vec<rule_change::Model>,
}

impl Store {
    /// Creates a rule at version 1 with `status`; the same definition again
    /// answers the stored rule, another under the same id is ALREADY_EXISTS.
    pub async fn create_rule(
        &self,
        tenant_id: &str,
        rule_id: &str,
        spec: &RuleSpec,
        status: RuleStatus,
        change: &Change,
    ) -> Result<StoredRule, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if let Some(head) = head(&txn, tenant_id, rule_id).await? {
                let first = version_of(&txn, head.clone(), 1).await?;
                let same = first.spec == *spec && head.version == 1;
                let current = version_of(&txn, head, 0).await?;
                return same_or_exists(current, same, "rule", rule_id).map(|r| (r, false));
            }
            let now = now_ms();
            let head = rule::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                rule_id: Set(rule_id.into()),
                version: Set(1),
                status: Set(status.as_str().into()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            let stored = save_version(&txn, head, spec, now).await?;
            changed(&txn, &stored, change).await?;
            txn.commit().await?;
            Ok((stored, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// Saves `spec` as the rule's next version, keeping its status. The same
    /// definition as the current version answers it unchanged.
    pub async fn update_rule(
        &self,
        tenant_id: &str,
        rule_id: &str,
        spec: &RuleSpec,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<StoredRule, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let head = existing(&txn, tenant_id, rule_id).await?;
            RuleStatus::parse(&head.status)?.may_edit()?;
            let current = version_of(&txn, head.clone(), 0).await?;
            if current.spec == *spec {
                return Ok((current, false));
            }
            expect_version(&format!("rule {rule_id}"), head.version, expected_version)?;
            let now = now_ms();
            let mut head: rule::ActiveModel = head.into();
            let version = current.version + 1;
            head.version = Set(version);
            head.updated_at = Set(now);
            let head = head.update(&txn).await?;
            let stored = save_version(&txn, head, spec, now).await?;
            changed(&txn, &stored, change).await?;
            txn.commit().await?;
            Ok((stored, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// Moves the rule to `to`; moving to the status it has changes nothing.
    pub async fn set_rule_status(
        &self,
        tenant_id: &str,
        rule_id: &str,
        to: RuleStatus,
        change: &Change,
    ) -> Result<StoredRule, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let head = existing(&txn, tenant_id, rule_id).await?;
            let from = RuleStatus::parse(&head.status)?;
            from.may_become(to)?;
            if from == to {
                return Ok((version_of(&txn, head, 0).await?, false));
            }
            let mut head: rule::ActiveModel = head.into();
            head.status = Set(to.as_str().into());
            head.updated_at = Set(now_ms());
            let head = head.update(&txn).await?;
            let stored = version_of(&txn, head, 0).await?;
            changed(&txn, &stored, change).await?;
            txn.commit().await?;
            Ok((stored, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// The rule at `version` (0 for the current one).
    pub async fn rule(
        &self,
        tenant_id: &str,
        rule_id: &str,
        version: i32,
    ) -> Result<StoredRule, DomainError> {
        let head = existing(&self.db, tenant_id, rule_id).await?;
        version_of(&self.db, head, version).await
    }

    pub async fn list_rules(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<StoredRule>, DomainError> {
        let mut query = rule::Entity::find()
            .filter(rule::Column::TenantId.eq(tenant_id))
            .order_by_asc(rule::Column::RuleId)
            .limit(page.fetch_limit());
        if let Some(after) = &page.after {
            query = query.filter(rule::Column::RuleId.gt(after.as_str()));
        }
        let mut rules = Vec::new();
        for head in query.all(&self.db).await? {
            rules.push(version_of(&self.db, head, 0).await?);
        }
        Ok(rules)
    }

    pub async fn rule_history(
        &self,
        tenant_id: &str,
        rule_id: &str,
    ) -> Result<RuleHistory, DomainError> {
        let head = existing(&self.db, tenant_id, rule_id).await?;
        let versions = rule_version::Entity::find()
            .filter(rule_version::Column::TenantId.eq(tenant_id))
            .filter(rule_version::Column::RuleId.eq(rule_id))
            .order_by_desc(rule_version::Column::Version)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| stored(head.clone(), row))
            .collect::<Result<_, _>>()?;
        let changes = changes(&self.db, tenant_id, Some(rule_id)).await?;
        Ok(RuleHistory {
            head,
            versions,
            changes,
        })
    }

    /// The tenant's rule book revision: 0 before its first rule.
    pub async fn book_revision(&self, tenant_id: &str) -> Result<i64, DomainError> {
        let row = rule_book::Entity::find_by_id(tenant_id.to_string())
            .one(&self.db)
            .await?;
        Ok(row.map_or(0, |r| r.revision))
    }

    /// Every change and every version of the tenant's rules, to build its book.
    pub async fn book_rows(
        &self,
        tenant_id: &str,
    ) -> Result<(Vec<rule_change::Model>, Vec<rule_version::Model>), DomainError> {
        let changes = changes(&self.db, tenant_id, None).await?;
        let versions = rule_version::Entity::find()
            .filter(rule_version::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?;
        Ok((changes, versions))
    }
}

async fn head<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    rule_id: &str,
) -> Result<Option<rule::Model>, DomainError> {
    let key = (tenant_id.to_string(), rule_id.to_string());
    Ok(rule::Entity::find_by_id(key).one(db).await?)
}

async fn existing<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    rule_id: &str,
) -> Result<rule::Model, DomainError> {
    head(db, tenant_id, rule_id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("rule {rule_id} not found")))
}

/// The rule at `version`, 0 meaning its current one.
async fn version_of<C: ConnectionTrait>(
    db: &C,
    head: rule::Model,
    version: i32,
) -> Result<StoredRule, DomainError> {
    let version = if version == 0 { head.version } else { version };
    let key = (head.tenant_id.clone(), head.rule_id.clone(), version);
    let row = rule_version::Entity::find_by_id(key)
        .one(db)
        .await?
        .ok_or_else(|| {
            DomainError::NotFound(format!("rule {} has no version {version}", head.rule_id))
        })?;
    stored(head, row)
}

fn stored(head: rule::Model, row: rule_version::Model) -> Result<StoredRule, DomainError> {
    let spec = serde_json::from_str(&row.spec).map_err(DomainError::internal)?;
    Ok(StoredRule {
        head,
        version: row.version,
        spec,
        version_created_at: row.created_at,
    })
}

async fn save_version(
    txn: &DatabaseTransaction,
    head: rule::Model,
    spec: &RuleSpec,
    now: i64,
) -> Result<StoredRule, DomainError> {
    let row = rule_version::ActiveModel {
        tenant_id: Set(head.tenant_id.clone()),
        rule_id: Set(head.rule_id.clone()),
        version: Set(head.version),
        spec: Set(serde_json::to_string(spec).map_err(DomainError::internal)?),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    stored(head, row)
}

async fn changes<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    rule_id: Option<&str>,
) -> Result<Vec<rule_change::Model>, DomainError> {
    let mut query = rule_change::Entity::find()
        .filter(rule_change::Column::TenantId.eq(tenant_id))
        .order_by_asc(rule_change::Column::RuleId)
        .order_by_asc(rule_change::Column::Seq);
    if let Some(rule_id) = rule_id {
        query = query.filter(rule_change::Column::RuleId.eq(rule_id));
    }
    Ok(query.all(db).await?)
}

async fn next_seq(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    rule_id: &str,
) -> Result<i32, DomainError> {
    let last = rule_change::Entity::find()
        .filter(rule_change::Column::TenantId.eq(tenant_id))
        .filter(rule_change::Column::RuleId.eq(rule_id))
        .order_by_desc(rule_change::Column::Seq)
        .one(txn)
        .await?;
    Ok(last.map_or(1, |c| c.seq + 1))
}

/// Records that the rule stands at its head's version and status from now
/// on, moves the tenant's book on, audits and publishes the change.
async fn changed(
    txn: &DatabaseTransaction,
    rule: &StoredRule,
    change: &Change,
) -> Result<(), DomainError> {
    let head = &rule.head;
    rule_change::ActiveModel {
        tenant_id: Set(head.tenant_id.clone()),
        rule_id: Set(head.rule_id.clone()),
        seq: Set(next_seq(txn, &head.tenant_id, &head.rule_id).await?),
        from_ms: Set(head.updated_at),
        version: Set(head.version),
        status: Set(head.status.clone()),
    }
    .insert(txn)
    .await?;
    turn_page(txn, &head.tenant_id).await?;
    audit::stage(txn, events::SOURCE, change).await?;
    outbox::stage(txn, &events::rule_changed(head, &change.action)).await?;
    Ok(())
}

/// Moves the tenant's rule book revision on, so every instance reloads its
/// book (rules and event schemas) at its next event.
pub(super) async fn turn_page(
    txn: &DatabaseTransaction,
    tenant_id: &str,
) -> Result<(), DomainError> {
    let book = rule_book::ActiveModel {
        tenant_id: Set(tenant_id.into()),
        revision: Set(1),
    };
    rule_book::Entity::insert(book)
        .on_conflict(
            OnConflict::column(rule_book::Column::TenantId)
                .value(
                    rule_book::Column::Revision,
                    Expr::col((rule_book::Entity, rule_book::Column::Revision)).add(1),
                )
                .to_owned(),
        )
        .exec(txn)
        .await?;
    Ok(())
}
