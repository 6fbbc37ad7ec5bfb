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
        /// When the member read it (ms); 0 while unread.
        pub read_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod endpoint {
    use sea_orm::entity::prelude::*;

    /// A brand's webhook endpoint.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub endpoint_id: String,
        pub url: String,
        pub description: String,
        /// JSON list of event types; `[]`: every type webhooks carry.
        pub event_types: String,
        pub enabled: bool,
        pub disabled_reason: String,
        /// `whsec_…`: deliveries are signed with it.
        pub secret: String,
        /// The secret before the last rotation, signing beside the current
        /// one until `previous_expires_at` (ms); empty when none.
        pub previous_secret: String,
        pub previous_expires_at: i64,
        /// The idempotency key of the last rotation.
        pub rotation_key: String,
        pub version: i32,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The secret rotated out, while its grace lasts at `at_ms`.
        pub fn previous_secret_at(&self, at_ms: i64) -> Option<&str> {
            (self.previous_expires_at > at_ms && !self.previous_secret.is_empty())
                .then_some(self.previous_secret.as_str())
        }
    }

    /// Never the secrets.
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Endpoint")
                .field("tenant_id", &self.tenant_id)
                .field("endpoint_id", &self.endpoint_id)
                .field("url", &self.url)
                .field("enabled", &self.enabled)
                .field("version", &self.version)
                .finish_non_exhaustive()
        }
    }
}

pub mod delivery {
    use sea_orm::entity::prelude::*;

    /// One domain event for one endpoint, tried until delivered or dead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        /// `msg_…`, UUIDv7 inside: the `webhook-id` of every attempt, and
        /// the paging key (newest first).
        #[sea_orm(primary_key, auto_increment = false)]
        pub delivery_id: String,
        pub tenant_id: String,
        pub endpoint_id: String,
        pub event_id: String,
        pub event_type: String,
        /// The member the event is about, if any (erasure removes theirs).
        pub member_id: String,
        /// The JSON body, the same for every attempt.
        pub payload: String,
        /// `pending`, `delivered` or `failed`.
        pub status: String,
        /// Attempts made in all.
        pub attempts: i32,
        /// Attempts made since the last (re)delivery began: the place in
        /// the retry schedule.
        pub round_attempts: i32,
        pub last_status_code: i32,
        pub last_error: String,
        /// When it is due (ms); while an attempt is under way, when its
        /// lease ends.
        pub next_attempt_at: i64,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attempt {
    use sea_orm::entity::prelude::*;

    /// One try of a delivery: what came back and how long it took.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub delivery_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub attempt: i32,
        pub tenant_id: String,
        pub at: i64,
        /// 0: no answer.
        pub status_code: i32,
        pub latency_ms: i64,
        pub error: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod template {
    use sea_orm::entity::prelude::*;

    /// One version of a programme's message template.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_templates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// `event_type/channel/locale`: what the versions share, and the
        /// paging key of the list.
        #[sea_orm(primary_key, auto_increment = false)]
        pub template_key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub event_type: String,
        pub channel: String,
        pub locale: String,
        pub subject: String,
        pub body: String,
        pub html: String,
        /// Whether this is the version members read.
        pub current: bool,
        /// The API client that saved it.
        pub saved_by: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod trigger {
    use sea_orm::entity::prelude::*;

    /// A programme's trigger: an event type, the channels it sends on.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_triggers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_type: String,
        /// JSON list of channel names, e.g. `["inbox"]`.
        pub channels: String,
        pub purpose: String,
        pub topic: String,
        pub enabled: bool,
        pub version: i32,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod programme {
    use sea_orm::entity::prelude::*;

    /// What the consumer needs of a programme beside its templates and
    /// triggers: their revision, and the tenant's settings from identity.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "programmes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Counts changes to templates and triggers, so a consumer knows
        /// when what it compiled is stale.
        pub revision: i64,
        /// From `tenant.updated`; empty until one arrives.
        pub default_locale: String,
        pub time_zone: String,
        /// The time of the last `tenant.updated` kept (ms): older ones lose.
        pub tenant_as_of: i64,
        /// JSON list of frequency caps (`domain::caps::Cap`).
        pub caps: String,
        /// Counts changes to the settings (caps), for expected versions.
        pub settings_version: i32,
        pub settings_updated_at: i64,
        /// JSON quiet hours (`domain::quiet_hours::QuietHours`); empty: none.
        pub quiet_hours: String,
        /// Base64 of the key unsubscribe links are signed with; empty
        /// until the first email needs one.
        pub unsubscribe_key: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod count {
    use sea_orm::entity::prelude::*;

    /// How many capped messages a member was sent on a channel in one
    /// calendar window (`d2026-12-07`, `w2026-W50`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_counts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub member_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        pub sent: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod dispatch {
    use sea_orm::entity::prelude::*;

    /// One message to a member by email, push or SMS, and its fate: sent,
    /// waiting (for its time or a retry), failed, or not sent and why.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dispatches")]
    pub struct Model {
        /// UUIDv7: orders a member's log by time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub dispatch_id: String,
        pub tenant_id: String,
        pub member_id: String,
        pub event_id: String,
        pub event_type: String,
        pub channel: String,
        pub purpose: String,
        pub topic: String,
        pub subject: String,
        pub body: String,
        pub html: String,
        /// An email's unsubscribe token; empty on other channels.
        pub unsubscribe_token: String,
        /// `PENDING`, `SENT`, `FAILED` or `SUPPRESSED`.
        pub status: String,
        /// Why it waits or was not sent (`QUIET_HOURS`, `NO_CONSENT`, ...).
        pub reason: String,
        /// Not before (ms): quiet hours' end, the next retry, or the end of
        /// the lease of an attempt under way.
        pub due_at: i64,
        pub attempts: i32,
        pub last_error: String,
        pub created_at: i64,
        pub sent_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod preference {
    use sea_orm::entity::prelude::*;

    /// What a member turned off (`domain::respect::Preferences`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_preferences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub member_id: String,
        /// JSON list of channel names.
        pub channels_off: String,
        /// JSON list of topics.
        pub topics_off: String,
        pub version: i32,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
