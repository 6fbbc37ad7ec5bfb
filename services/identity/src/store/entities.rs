//! Identity's tables.

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub name: String,
        pub time_zone: String,
        pub default_locale: String,
        /// `active` or `suspended`.
        pub status: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub tenant_id: String,
        pub name: String,
        /// Comma-separated scope names.
        pub scopes: String,
        /// `active` or `revoked`.
        pub status: String,
        pub idempotency_key: String,
        pub fingerprint: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    /// One key of a client; a rotation adds one and gives the old one an end.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        /// `ql_live_<id>`: the visible part of the key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_prefix: String,
        pub client_id: String,
        /// SHA-256 of the whole key; the key itself is never stored.
        pub key_hash: String,
        /// Of the create or rotate call that made it.
        pub idempotency_key: String,
        pub fingerprint: String,
        pub created_at: i64,
        pub expires_at: Option<i64>,
        pub last_used_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod signing_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_pkcs8: Vec<u8>,
        pub public_x: String,
        pub created_at: i64,
        /// When it stops verifying; unset while it signs.
        pub retire_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub member_id: String,
        pub tenant_id: String,
        pub external_id: String,
        pub display_name: String,
        pub email: String,
        pub phone: String,
        pub birthday: String,
        pub locale: String,
        pub country: String,
        /// JSON object of typed custom attributes.
        pub attributes: String,
        /// JSON object: purpose → { granted, at, source }.
        pub consent: String,
        pub created_at: i64,
        pub updated_at: i64,
        /// Set once erased: every personal field is then empty.
        pub erased_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod segment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "segments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: String,
        pub name: String,
        pub description: String,
        /// CEL over `member`.
        pub predicate: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_entry {
    use sea_orm::entity::prelude::*;

    /// One admin change from any service, kept from its `audit.recorded` event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_entries")]
    pub struct Model {
        /// The event id: UUIDv7, so it orders entries by time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub audit_id: String,
        pub tenant_id: String,
        pub client_id: String,
        pub action: String,
        pub resource: String,
        /// JSON object.
        pub details: String,
        pub occurred_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
