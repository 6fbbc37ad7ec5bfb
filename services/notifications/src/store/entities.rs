//! The notifications tables.

pub mod message {
    use sea_orm::entity::prelude::*;

    /// One message in a member's in-app inbox.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox_messages")]
    pub struct Model {
        /// UUIDv7: orders messages by time, so it is also the paging key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: String,
        pub tenant_id: String,
        pub member_id: String,
        /// The domain event that caused it.
        pub event_id: String,
        pub event_type: String,
        pub title: String,
        pub body: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
