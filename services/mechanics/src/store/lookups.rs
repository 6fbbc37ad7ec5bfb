//! What Track reads before judging the events of one tenant that arrive
//! together: whether each was tracked before, the rule book's revision,
//! the members from the read model, their traits and counter buckets. On
//! PostgreSQL the reads go out in one flight on a connection of the
//! lookup's own (`pipelined`); on SQLite, one statement at a time.

use std::collections::HashMap;

use questline_kit::DomainError;
use questline_kit::members::{MemberDirectory, MemberSnapshot};

use super::pipelined::{self, Link};
use super::{Store, Tracked};
use crate::domain::counters::Bucket;
use crate::domain::track::Traits;

/// One tenant's part of a lookup, as read.
#[derive(Default)]
pub struct Known {
    /// The events tracked before, by id.
    pub tracked: HashMap<String, Tracked>,
    pub revision: i64,
    /// The members in the read model (NOT_FOUND when erased), by id.
    pub members: HashMap<String, Result<MemberSnapshot, DomainError>>,
    pub traits: HashMap<String, Traits>,
    pub buckets: HashMap<String, Vec<Bucket>>,
}

/// Where the lookup's reads go.
pub enum Reader {
    Stepwise {
        store: Box<Store>,
        members: MemberDirectory,
    },
    Pipelined(Box<Link>),
}

impl Reader {
    /// What is known of `events` and `members` of `tenant_id`.
    pub async fn read(
        &mut self,
        tenant_id: &str,
        events: &[&str],
        members: &[&str],
    ) -> Result<Known, DomainError> {
        match self {
            Reader::Pipelined(link) => pipelined::known(link, tenant_id, events, members).await,
            Reader::Stepwise {
                store,
                members: directory,
            } => Ok(Known {
                tracked: store.tracked_among(tenant_id, events).await?,
                revision: store.book_revision(tenant_id).await?,
                members: directory.stored_among(tenant_id, members).await?,
                traits: store.traits_by_member(tenant_id, Some(members)).await?,
                buckets: store.buckets_by_member(tenant_id, Some(members)).await?,
            }),
        }
    }
}
