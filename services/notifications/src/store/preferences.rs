//! Members' preferences: what each turned off, under a version so two
//! apps changing them at once cannot lose one's change.

use questline_kit::db::expect_version;
use questline_kit::outbox;
use questline_kit::{DomainError, time::now_ms};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use std::collections::HashMap;

use super::Store;
use super::entities::preference;
use crate::domain::respect::Preferences;
use crate::events::published::{self, PreferencesChange};

/// A member's preferences as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub preferences: Preferences,
    /// 0 until first changed.
    pub version: i32,
    pub updated_at: i64,
}

impl Store {
    /// A member's preferences (none turned off until they choose).
    pub async fn preferences(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Stored, DomainError> {
        let row = preference::Entity::find_by_id((tenant_id.to_string(), member_id.to_string()))
            .one(&self.db)
            .await?;
        row.as_ref().map_or(Ok(Stored::default()), stored_of)
    }

    /// The preferences of each of `member_ids` of one tenant that has any.
    pub async fn preferences_among(
        &self,
        tenant_id: &str,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Preferences>, DomainError> {
        if member_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = preference::Entity::find()
            .filter(preference::Column::TenantId.eq(tenant_id))
            .filter(preference::Column::MemberId.is_in(member_ids.iter().copied()))
            .all(&self.db)
            .await?;
        rows.iter()
            .map(|row| Ok((row.member_id.clone(), stored_of(row)?.preferences)))
            .collect()
    }

    /// Replaces a member's preferences; the same again changes nothing.
    /// A change is announced as `message_preferences.changed`.
    pub async fn put_preferences(
        &self,
        tenant_id: &str,
        member_id: &str,
        wanted: &Preferences,
        expected_version: Option<i32>,
    ) -> Result<Stored, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let stored = self.preferences_in(&txn, tenant_id, member_id).await?;
            if stored.preferences == *wanted {
                return Ok((stored, false));
            }
            expect_version("message preferences", stored.version, expected_version)?;
            let written = write(&txn, tenant_id, member_id, wanted, stored.version).await?;
            let how = PreferencesChange::Api;
            announce(&txn, tenant_id, member_id, how, &written).await?;
            txn.commit().await?;
            Ok((written, true))
        })
        .await
        .map(|answer| self.relay.woken(answer))
    }

    /// Changes a member's preferences by `change` whatever their version
    /// (an unsubscribe link adds one opt-out; it cannot lose another's),
    /// announced as `message_preferences.changed` by `how`.
    pub async fn amend_preferences(
        &self,
        tenant_id: &str,
        member_id: &str,
        how: PreferencesChange,
        change: impl Fn(&mut Preferences),
    ) -> Result<Stored, DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let stored = self.preferences_in(&txn, tenant_id, member_id).await?;
            let mut wanted = stored.preferences.clone();
            change(&mut wanted);
            // Kept sorted, as a replacement is: the same set reads the same.
            wanted.channels_off.sort();
            wanted.topics_off.sort();
            if wanted == stored.preferences {
                return Ok((stored, false));
            }
            let written = write(&txn, tenant_id, member_id, &wanted, stored.version).await?;
            announce(&txn, tenant_id, member_id, how, &written).await?;
            txn.commit().await?;
            Ok((written, true))
        })
        .await
        .map(|answer| self.relay.woken(answer))
    }

    /// Deletes an erased member's preferences.
    pub async fn forget_preferences(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<(), DomainError> {
        preference::Entity::delete_many()
            .filter(preference::Column::TenantId.eq(tenant_id))
            .filter(preference::Column::MemberId.eq(member_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn preferences_in(
        &self,
        txn: &impl ConnectionTrait,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Stored, DomainError> {
        let row = preference::Entity::find_by_id((tenant_id.to_string(), member_id.to_string()))
            .one(txn)
            .await?;
        row.as_ref().map_or(Ok(Stored::default()), stored_of)
    }
}

/// Writes `wanted` over version `version` (0: no row yet); ABORTED when a
/// concurrent change got there first.
async fn write(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    member_id: &str,
    wanted: &Preferences,
    version: i32,
) -> Result<Stored, DomainError> {
    use preference::Column as P;
    let channels_off =
        serde_json::to_string(&wanted.channels_off).map_err(DomainError::internal)?;
    let topics_off = serde_json::to_string(&wanted.topics_off).map_err(DomainError::internal)?;
    let now = now_ms();
    let moved = if version == 0 {
        let row = preference::ActiveModel {
            tenant_id: Set(tenant_id.into()),
            member_id: Set(member_id.into()),
            channels_off: Set(channels_off),
            topics_off: Set(topics_off),
            version: Set(1),
            updated_at: Set(now),
        };
        // A concurrent first write fails this one as ABORTED; `retrying` reads again.
        row.insert(txn).await?;
        1
    } else {
        preference::Entity::update_many()
            .col_expr(P::ChannelsOff, Expr::value(channels_off))
            .col_expr(P::TopicsOff, Expr::value(topics_off))
            .col_expr(P::Version, Expr::value(version + 1))
            .col_expr(P::UpdatedAt, Expr::value(now))
            .filter(P::TenantId.eq(tenant_id))
            .filter(P::MemberId.eq(member_id))
            .filter(P::Version.eq(version))
            .exec(txn)
            .await?
            .rows_affected
    };
    if moved == 0 {
        return Err(DomainError::Aborted(
            "message preferences changed meanwhile".into(),
        ));
    }
    Ok(Stored {
        preferences: wanted.clone(),
        version: version + 1,
        updated_at: now,
    })
}

/// Stages `message_preferences.changed` for what `change` wrote.
async fn announce(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    member_id: &str,
    how: PreferencesChange,
    written: &Stored,
) -> Result<(), DomainError> {
    let prefs = &written.preferences;
    let event = published::preferences_changed(tenant_id, member_id, prefs, written.version, how);
    outbox::stage(txn, &event).await?;
    Ok(())
}

fn stored_of(row: &preference::Model) -> Result<Stored, DomainError> {
    Ok(Stored {
        preferences: Preferences {
            channels_off: serde_json::from_str(&row.channels_off).map_err(DomainError::internal)?,
            topics_off: serde_json::from_str(&row.topics_off).map_err(DomainError::internal)?,
        },
        version: row.version,
        updated_at: row.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channels::Channel;
    use crate::store::tests::store;
    use questline_proto::events::{MessagePreferencesChanged, event::Payload};

    async fn changes(store: &Store) -> Vec<MessagePreferencesChanged> {
        let staged = store.staged().await;
        let changes = staged.into_iter().filter_map(|e| match e.payload {
            Some(Payload::MessagePreferencesChanged(c)) => Some(c),
            _ => None,
        });
        changes.collect()
    }

    fn push_off() -> Preferences {
        Preferences {
            channels_off: vec![Channel::Push],
            topics_off: vec![],
        }
    }

    #[tokio::test]
    async fn a_change_is_announced_and_the_same_again_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let wanted = push_off();
        let put = store.put_preferences("acme", "m1", &wanted, Some(0));
        assert_eq!(put.await.unwrap().version, 1);
        let again = store.put_preferences("acme", "m1", &wanted, None);
        assert_eq!(again.await.unwrap().version, 1);
        let seen = changes(&store).await;
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].member_id.as_str(), seen[0].version), ("m1", 1));
        assert_eq!(seen[0].channels_off, ["push"]);
        assert_eq!(seen[0].change, "api");
    }

    #[tokio::test]
    async fn a_refused_change_announces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let wanted = push_off();
        let stale = store.put_preferences("acme", "m1", &wanted, Some(3));
        assert!(matches!(stale.await, Err(DomainError::Aborted(_))));
        assert!(changes(&store).await.is_empty());
    }

    #[tokio::test]
    async fn an_unsubscribe_link_is_announced_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        store
            .put_preferences("acme", "m1", &push_off(), None)
            .await
            .unwrap();
        let link = PreferencesChange::UnsubscribeLink;
        let offers_off = |p: &mut Preferences| p.topics_off.push("offers".into());
        let amended = store.amend_preferences("acme", "m1", link, offers_off);
        assert_eq!(amended.await.unwrap().version, 2);
        // The same click again changes nothing and says nothing.
        let again = store.amend_preferences("acme", "m1", link, |p| {
            if !p.topics_off.contains(&"offers".to_string()) {
                p.topics_off.push("offers".into());
            }
        });
        assert_eq!(again.await.unwrap().version, 2);
        let seen = changes(&store).await;
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].change, "unsubscribe_link");
        assert_eq!(seen[1].channels_off, ["push"]);
        assert_eq!(seen[1].topics_off, ["offers"]);
    }
}
