//! The rewards service's tables.

pub mod reward {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rewards")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reward_id: String,
        pub name: String,
        pub currency: String,
        pub price: i64,
        /// Units left to redeem; pending redemptions have taken theirs already.
        pub stock: i64,
        /// `generated` or `pool`.
        pub voucher_source: String,
        pub fingerprint: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod voucher_code {
    use sea_orm::entity::prelude::*;

    /// One code of a reward's pool; free while `redemption_id` is null.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "voucher_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reward_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub redemption_id: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod redemption {
    use sea_orm::entity::prelude::*;

    /// A redemption: its request, how far it got, and how it ended.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "redemptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub redemption_id: String,
        pub member_id: String,
        pub reward_id: String,
        /// Copied at the start so a resumed redemption asks the ledger the same thing.
        pub reward_name: String,
        pub currency: String,
        pub price: i64,
        /// `pending`, `completed` or `failed`.
        pub status: String,
        /// The last step done: `stock_reserved`, `held` or `issued`.
        pub step: String,
        pub hold_id: Option<String>,
        pub voucher_code: Option<String>,
        pub fingerprint: String,
        pub failure_kind: Option<String>,
        pub failure_subject: Option<String>,
        pub failure_message: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
