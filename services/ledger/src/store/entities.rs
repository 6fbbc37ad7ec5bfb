//! The ledger's tables.

pub mod currency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "currencies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub created_at: i64,
        /// `ExpiryPolicy::to_text`.
        pub expiry: String,
        pub time_zone: String,
        pub decimal_places: i32,
        pub reversals_may_overdraw: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        pub tenant_id: String,
        pub currency: String,
        /// `member:<id>` or `system:<name>`.
        pub owner: String,
        pub balance: i64,
        /// Points reserved by pending holds; part of `balance`.
        pub held: i64,
        pub allow_negative: bool,
        pub created_at: i64,
        pub closed: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod transfer {
    use sea_orm::entity::prelude::*;

    /// Never updated once inserted; its legs are in `transfer_legs`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transfers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub transfer_id: String,
        pub tenant_id: String,
        pub reason: String,
        pub idempotency_key: String,
        /// `fingerprint::Fields` of the request.
        pub fingerprint: String,
        /// The first member wallet right after this transfer, so a replay
        /// answers with the figures of the first answer.
        pub member_total: i64,
        pub member_held: i64,
        pub created_at: i64,
        pub reference: String,
        /// JSON text.
        pub metadata: String,
        pub reverses: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leg {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transfer_legs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub transfer_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub leg: i32,
        pub tenant_id: String,
        pub currency: String,
        pub debit_account_id: String,
        pub credit_account_id: String,
        pub debit_owner: String,
        pub credit_owner: String,
        pub amount: i64,
        pub reverses_leg: Option<i32>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod lot {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub lot_id: String,
        pub account_id: String,
        pub transfer_id: String,
        pub expires_at: Option<i64>,
        pub amount: i64,
        pub remaining: i64,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod hold {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "holds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hold_id: String,
        pub tenant_id: String,
        pub currency: String,
        pub member_id: String,
        pub account_id: String,
        pub amount: i64,
        pub status: String,
        pub reason: String,
        pub expires_at: i64,
        pub idempotency_key: String,
        pub fingerprint: String,
        pub transfer_id: Option<String>,
        pub created_at: i64,
        pub committed_amount: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
