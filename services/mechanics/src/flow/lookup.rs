//! Everything Track reads before judging, for all the events that arrive
//! together (`kit::group`): whether each was tracked before, its tenant's
//! rule book revision, its member from the read model, and the member's
//! traits and counter buckets. A handful of statements per batch instead
//! of five round trips per event. What was read is as fresh as a read
//! just before judging: caps and budgets are still settled under lock.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::group::Batch;
use questline_kit::members::{MemberDirectory, MemberSnapshot};

use crate::domain::counters::Bucket;
use crate::domain::track::{Track, Traits};
use crate::store::{Store, Tracked};

/// Most events looked up in one batch.
pub const MOST: usize = 256;

/// The event a caller is about to track.
pub struct Asked {
    tenant_id: String,
    event_id: String,
    member_id: String,
}

impl Asked {
    pub fn of(t: &Track) -> Asked {
        Asked {
            tenant_id: t.tenant_id.clone(),
            event_id: t.event_id.clone(),
            member_id: t.member_id.clone(),
        }
    }
}

/// What the engine knew of an asked event when it arrived.
pub struct Seen {
    /// The event as tracked before, if it was.
    pub tracked: Option<Tracked>,
    pub revision: i64,
    /// The member from the read model; `None` when not there yet (identity
    /// is then asked), NOT_FOUND when erased.
    pub member: Option<Result<MemberSnapshot, DomainError>>,
    pub traits: Traits,
    pub buckets: Vec<Bucket>,
}

pub struct Lookup {
    pub store: Store,
    pub members: MemberDirectory,
}

#[async_trait]
impl Batch for Lookup {
    type Job = Asked;
    type Answer = Seen;

    async fn carry_out(&mut self, jobs: Vec<Asked>) -> Vec<Result<Seen, DomainError>> {
        let mut by_tenant: BTreeMap<&str, Vec<&Asked>> = BTreeMap::new();
        for job in &jobs {
            by_tenant.entry(&job.tenant_id).or_default().push(job);
        }
        let mut tenants = HashMap::new();
        for (tenant_id, asked) in by_tenant {
            tenants.insert(tenant_id, self.read(tenant_id, &asked).await);
        }
        jobs.iter()
            .map(|job| match &tenants[job.tenant_id.as_str()] {
                Ok(tenant) => Ok(tenant.seen(job)),
                Err(err) => Err(err.clone()),
            })
            .collect()
    }
}

/// One tenant's part of a batch, as read.
struct Tenant {
    tracked: HashMap<String, Tracked>,
    revision: i64,
    members: HashMap<String, Result<MemberSnapshot, DomainError>>,
    traits: HashMap<String, Traits>,
    buckets: HashMap<String, Vec<Bucket>>,
}

impl Tenant {
    fn seen(&self, job: &Asked) -> Seen {
        let member = job.member_id.as_str();
        Seen {
            tracked: self.tracked.get(&job.event_id).cloned(),
            revision: self.revision,
            member: self.members.get(member).cloned(),
            traits: self.traits.get(member).cloned().unwrap_or_default(),
            buckets: self.buckets.get(member).cloned().unwrap_or_default(),
        }
    }
}

impl Lookup {
    async fn read(&self, tenant_id: &str, asked: &[&Asked]) -> Result<Tenant, DomainError> {
        let events: Vec<&str> = asked.iter().map(|a| a.event_id.as_str()).collect();
        let mut members: Vec<&str> = asked.iter().map(|a| a.member_id.as_str()).collect();
        members.sort_unstable();
        members.dedup();
        Ok(Tenant {
            tracked: self.store.tracked_among(tenant_id, &events).await?,
            revision: self.store.book_revision(tenant_id).await?,
            members: self.members.stored_among(tenant_id, &members).await?,
            traits: self
                .store
                .traits_by_member(tenant_id, Some(&members))
                .await?,
            buckets: self
                .store
                .buckets_by_member(tenant_id, Some(&members))
                .await?,
        })
    }
}
