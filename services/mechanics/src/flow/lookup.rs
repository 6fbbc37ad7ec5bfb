//! Everything Track reads before judging, for all the events that arrive
//! together (`kit::group`): whether each was tracked before, its tenant's
//! rule book revision, its member from the read model, and the member's
//! traits and counter buckets (`store::Reader`): one flight per batch on
//! PostgreSQL instead of five round trips per event. What was read is as fresh as a read
//! just before judging: caps and budgets are still settled under lock.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::group::Batch;
use questline_kit::members::MemberSnapshot;

use crate::domain::counters::Bucket;
use crate::domain::track::{Track, Traits};
use crate::store::{Known, Reader, Tracked};

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
    pub reader: Reader,
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
                Ok(known) => Ok(seen(known, job)),
                Err(err) => Err(err.clone()),
            })
            .collect()
    }
}

fn seen(known: &Known, job: &Asked) -> Seen {
    let member = job.member_id.as_str();
    Seen {
        tracked: known.tracked.get(&job.event_id).cloned(),
        revision: known.revision,
        member: known.members.get(member).cloned(),
        traits: known.traits.get(member).cloned().unwrap_or_default(),
        buckets: known.buckets.get(member).cloned().unwrap_or_default(),
    }
}

impl Lookup {
    async fn read(&mut self, tenant_id: &str, asked: &[&Asked]) -> Result<Known, DomainError> {
        let events: Vec<&str> = asked.iter().map(|a| a.event_id.as_str()).collect();
        let mut members: Vec<&str> = asked.iter().map(|a| a.member_id.as_str()).collect();
        members.sort_unstable();
        members.dedup();
        self.reader.read(tenant_id, &events, &members).await
    }
}
