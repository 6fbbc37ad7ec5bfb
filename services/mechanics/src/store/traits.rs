//! Traits rules set on members (tags and attributes), read back into what
//! conditions see: `member.tags`, and `member.attributes` overlaid on the
//! profile's attributes.

use std::collections::HashMap;

use questline_kit::DomainError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value as Json;

use super::Store;
use super::entities::member_trait;
use crate::domain::track::Traits;

pub const TAG: &str = "tag";
pub const ATTRIBUTE: &str = "attribute";

impl Store {
    pub async fn traits(&self, tenant_id: &str, member_id: &str) -> Result<Traits, DomainError> {
        let mut one = self.traits_by_member(tenant_id, Some(&[member_id])).await?;
        Ok(one.remove(member_id).unwrap_or_default())
    }

    /// What rules have set on the tenant's members (those of `member_ids`
    /// when given), by member; a member with nothing set is absent.
    pub async fn traits_by_member(
        &self,
        tenant_id: &str,
        member_ids: Option<&[&str]>,
    ) -> Result<HashMap<String, Traits>, DomainError> {
        let mut query = member_trait::Entity::find()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .order_by_asc(member_trait::Column::Kind)
            .order_by_asc(member_trait::Column::Name);
        if let Some(member_ids) = member_ids {
            let member_ids = member_ids.iter().copied();
            query = query.filter(member_trait::Column::MemberId.is_in(member_ids));
        }
        let mut by_member: HashMap<String, Traits> = HashMap::new();
        for row in query.all(&self.db).await? {
            keep(by_member.entry(row.member_id.clone()).or_default(), row);
        }
        Ok(by_member)
    }
}

/// Adds a stored row to what rules set on its member.
pub(super) fn keep(traits: &mut Traits, row: member_trait::Model) {
    match row.kind.as_str() {
        TAG => traits.tags.push(row.name),
        _ => {
            let value = serde_json::from_str(&row.value).unwrap_or(Json::Null);
            traits.attributes.insert(row.name, value);
        }
    }
}
