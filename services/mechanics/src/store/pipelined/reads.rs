//! The lookup's reads of one tenant, in one flight.

use questline_kit::DomainError;
use questline_kit::members::snapshot_of;
use questline_kit::pipelined::{Flight, Param, Session, column};

use super::{Link, Sql, decode};
use crate::store::lookups::Known;
use crate::store::{counters, tracked, traits};

/// Everything the lookup reads of `tenant_id` for `events` of `members`.
pub async fn known(
    link: &mut Link,
    tenant_id: &str,
    events: &[&str],
    members: &[&str],
) -> Result<Known, DomainError> {
    link.carry(async |session| read(session, tenant_id, events, members).await)
        .await
}

async fn read<'a>(
    session: &'a Session<Sql>,
    tenant_id: &'a str,
    events: &[&'a str],
    members: &[&'a str],
) -> Result<Known, DomainError> {
    let sql = &session.sql;
    let mut f = Flight::default();
    let revision = f.add(&sql.revision, vec![Box::new(tenant_id)]);
    let found = f.add(&sql.events, keyed(tenant_id, events));
    let awarded = f.add(&sql.awards, keyed(tenant_id, events));
    let held = f.add(&sql.members, keyed(tenant_id, members));
    let set = f.add(&sql.traits, keyed(tenant_id, members));
    let counted = f.add(&sql.buckets, keyed(tenant_id, members));
    let mut answers = f.send(session).await?;
    let revision = answers.rows(Some(revision), |r| r.try_get::<_, i64>("revision"))?;
    let found = answers.rows(Some(found), decode::tracked_event)?;
    let awarded = answers.rows(Some(awarded), decode::award)?;
    let mut known = Known {
        tracked: tracked::assembled(found, awarded),
        revision: revision.first().copied().unwrap_or(0),
        ..Known::default()
    };
    for row in answers.rows(Some(held), decode::member_snapshot)? {
        known
            .members
            .insert(row.member_id.clone(), snapshot_of(&row));
    }
    for row in answers.rows(Some(set), decode::member_trait)? {
        traits::keep(known.traits.entry(row.member_id.clone()).or_default(), row);
    }
    for row in answers.rows(Some(counted), decode::member_counter)? {
        let member = known.buckets.entry(row.member_id.clone()).or_default();
        member.push(counters::bucket(row));
    }
    Ok(known)
}

/// A statement's parameters: the tenant, then its keys as one array.
fn keyed<'a>(tenant_id: &'a str, keys: &[&'a str]) -> Vec<Param<'a>> {
    vec![Box::new(tenant_id), column(keys.iter().copied())]
}
