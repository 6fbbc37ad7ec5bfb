//! Traits rules set on members (tags and attributes), read back into what
//! conditions see: `member.tags`, and `member.attributes` overlaid on the
//! profile's attributes.

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
        let mut traits = Traits::default();
        for row in self.trait_rows(tenant_id, Some(member_id)).await? {
            keep(&mut traits, row);
        }
        Ok(traits)
    }

    /// The tenant's trait rows (one member's, if named), by kind and name.
    pub(super) async fn trait_rows(
        &self,
        tenant_id: &str,
        member_id: Option<&str>,
    ) -> Result<Vec<member_trait::Model>, DomainError> {
        let mut query = member_trait::Entity::find()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .order_by_asc(member_trait::Column::Kind)
            .order_by_asc(member_trait::Column::Name);
        if let Some(member_id) = member_id {
            query = query.filter(member_trait::Column::MemberId.eq(member_id));
        }
        Ok(query.all(&self.db).await?)
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
