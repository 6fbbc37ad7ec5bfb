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
        let rows = member_trait::Entity::find()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .filter(member_trait::Column::MemberId.eq(member_id))
            .order_by_asc(member_trait::Column::Kind)
            .order_by_asc(member_trait::Column::Name)
            .all(&self.db)
            .await?;
        let mut traits = Traits::default();
        for row in rows {
            match row.kind.as_str() {
                TAG => traits.tags.push(row.name),
                _ => {
                    let value = serde_json::from_str(&row.value).unwrap_or(Json::Null);
                    traits.attributes.insert(row.name, value);
                }
            }
        }
        Ok(traits)
    }
}
