//! The gateway's table.

pub mod answer {
    use sea_orm::entity::prelude::*;

    /// A POST sent with an `Idempotency-Key`, and its answer once given.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        /// `<tenant>/<client id>`: keys are the client's own namespace.
        #[sea_orm(primary_key, auto_increment = false)]
        pub client: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// SHA-256 of the method, path and body.
        pub fingerprint: String,
        /// The answer's status; none while the request runs.
        pub status: Option<i32>,
        pub content_type: String,
        pub body: Vec<u8>,
        /// Until when (ms since the epoch) the running request holds the key.
        pub lease_until: i64,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
