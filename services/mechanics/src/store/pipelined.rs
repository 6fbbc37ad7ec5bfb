//! Track's hot reads and marks on PostgreSQL, each batch in one flight
//! (`kit::pipelined`) on a connection of its own: the lookup's six reads
//! go out together, and so do the marks' BEGIN, updates and COMMIT. Each
//! text is fixed whatever the batch holds (keys travel as arrays), so a
//! connection parses it once; it is planned at every execution
//! (`Plans::PerExecution`): `tracked_events` and `member_snapshots` have
//! secondary indexes that lead with the tenant too, and a plan made while
//! they were empty kept probing those long after they grew.

use std::collections::HashSet;

use questline_kit::members::{entity as snapshot, snapshot_of};
use questline_kit::pipelined::{self, Flight, Statements};
use questline_kit::{DomainError, decode_row};
use tokio_postgres::{Client, Error, Row, Statement};

use super::entities::{award, member_counter, member_trait, tracked_event};
use super::lookups::Known;
use super::marks::Marks;
use super::{counters, marks, tracked, traits};
use crate::domain::track::EventStatus;

pub type Link = pipelined::Link<Sql>;

/// Every statement the lookup and the marks send.
pub struct Sql {
    revision: Statement,
    events: Statement,
    awards: Statement,
    members: Statement,
    traits: Statement,
    buckets: Statement,
    no_fsync: Statement,
    carried: Statement,
    applied: Statement,
}

impl Statements for Sql {
    async fn prepare(client: &Client) -> Result<Sql, Error> {
        let among = |table: &str, key: &str, order: &str| {
            format!(
                "SELECT * FROM {table} WHERE tenant_id = $1 AND {key} = ANY($2::text[]) {order}"
            )
        };
        Ok(Sql {
            revision: client
                .prepare("SELECT revision FROM rule_books WHERE tenant_id = $1")
                .await?,
            events: client
                .prepare(&among("tracked_events", "event_id", ""))
                .await?,
            awards: client
                .prepare(&among("awards", "event_id", "ORDER BY event_id, rule_id"))
                .await?,
            members: client
                .prepare(&among("member_snapshots", "member_id", ""))
                .await?,
            traits: client
                .prepare(&among("member_traits", "member_id", "ORDER BY kind, name"))
                .await?,
            buckets: client
                .prepare(&among("member_counters", "member_id", ""))
                .await?,
            no_fsync: client.prepare("SET LOCAL synchronous_commit = off").await?,
            carried: client.prepare(CARRIED).await?,
            applied: client.prepare(APPLIED).await?,
        })
    }
}

/// Each award with the transfer that carried it, probed by primary key.
const CARRIED: &str = "UPDATE awards a SET transfer_id = k.transfer_id \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(tenant_id, event_id, rule_id, transfer_id) \
     WHERE a.tenant_id = k.tenant_id AND a.event_id = k.event_id AND a.rule_id = k.rule_id";

/// The events still pending marked applied (`$3`); answers those it marked.
const APPLIED: &str = "UPDATE tracked_events e SET status = $3 \
     FROM unnest($1::text[], $2::text[]) AS k(tenant_id, event_id) \
     WHERE e.tenant_id = k.tenant_id AND e.event_id = k.event_id AND e.status <> $3 \
     RETURNING e.tenant_id, e.event_id";

/// Everything the lookup reads of `tenant_id` for `events` of `members`.
pub async fn known(
    link: &mut Link,
    tenant_id: &str,
    events: &[&str],
    members: &[&str],
) -> Result<Known, DomainError> {
    let outcome = read(link, tenant_id, events, members).await;
    if let Err(err) = &outcome {
        link.abandon(err).await;
    }
    outcome
}

async fn read<'a>(
    link: &'a mut Link,
    tenant_id: &'a str,
    events: &[&'a str],
    members: &[&'a str],
) -> Result<Known, DomainError> {
    let session = link.session().await?;
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
    let found = answers.rows(Some(found), tracked_event)?;
    let awarded = answers.rows(Some(awarded), award)?;
    let mut known = Known {
        tracked: tracked::assembled(found, awarded),
        revision: revision.first().copied().unwrap_or(0),
        ..Known::default()
    };
    for row in answers.rows(Some(held), member_snapshot)? {
        known
            .members
            .insert(row.member_id.clone(), snapshot_of(&row));
    }
    for row in answers.rows(Some(set), member_trait)? {
        traits::keep(known.traits.entry(row.member_id.clone()).or_default(), row);
    }
    for row in answers.rows(Some(counted), member_counter)? {
        let member = known.buckets.entry(row.member_id.clone()).or_default();
        member.push(counters::bucket(row));
    }
    Ok(known)
}

/// A statement's parameters: the tenant, then its keys as one array.
fn keyed<'a>(tenant_id: &'a str, keys: &[&'a str]) -> Vec<pipelined::Param<'a>> {
    vec![Box::new(tenant_id), Box::new(keys.to_vec())]
}

/// Marks `jobs` in one transaction that does not wait for the disk
/// (`marks`); answers the (tenant, event) pairs it marked applied.
pub async fn mark(
    link: &mut Link,
    jobs: &[Marks],
) -> Result<HashSet<(String, String)>, DomainError> {
    let outcome = write_marks(link, jobs).await;
    if let Err(err) = &outcome {
        link.abandon(err).await;
    }
    outcome
}

async fn write_marks(
    link: &mut Link,
    jobs: &[Marks],
) -> Result<HashSet<(String, String)>, DomainError> {
    let session = link.session().await?;
    let sql = &session.sql;
    let awards = marks::carried_awards(jobs);
    let column = |pick: fn(&award::Model) -> Option<&str>| -> pipelined::Param<'_> {
        Box::new(awards.iter().map(|a| pick(a)).collect::<Vec<_>>())
    };
    let mut f = Flight::default();
    f.add(&session.begin, Vec::new());
    f.add(&sql.no_fsync, Vec::new());
    f.add(
        &sql.carried,
        vec![
            column(|a| Some(&a.tenant_id)),
            column(|a| Some(&a.event_id)),
            column(|a| Some(&a.rule_id)),
            column(|a| a.transfer_id.as_deref()),
        ],
    );
    let tenants: Vec<&str> = jobs.iter().map(|m| m.tenant_id.as_str()).collect();
    let events: Vec<&str> = jobs.iter().map(|m| m.event_id.as_str()).collect();
    let applied = f.add(
        &sql.applied,
        vec![
            Box::new(tenants),
            Box::new(events),
            Box::new(EventStatus::Applied.as_str()),
        ],
    );
    f.add(&session.commit, Vec::new());
    let mut answers = f.send(session).await?;
    let marked = answers.rows(Some(applied), |r| {
        Ok((r.try_get("tenant_id")?, r.try_get("event_id")?))
    })?;
    Ok(marked.into_iter().collect())
}

type Decoded<T> = Result<T, Error>;

fn tracked_event(row: &Row) -> Decoded<tracked_event::Model> {
    decode_row!(row => tracked_event::Model {
        tenant_id, event_id, member_id, event_type, fingerprint, status, occurred_at,
        created_at, attributes, verdicts,
    })
}

fn award(row: &Row) -> Decoded<award::Model> {
    decode_row!(row => award::Model {
        tenant_id, event_id, rule_id, rule_name, member_id, currency, points, transfer_id,
        rule_version,
    })
}

fn member_snapshot(row: &Row) -> Decoded<snapshot::Model> {
    decode_row!(row => snapshot::Model { tenant_id, member_id, external_id, facts, erased, as_of })
}

fn member_trait(row: &Row) -> Decoded<member_trait::Model> {
    decode_row!(row => member_trait::Model { tenant_id, member_id, kind, name, value, updated_at })
}

fn member_counter(row: &Row) -> Decoded<member_counter::Model> {
    decode_row!(row => member_counter::Model { tenant_id, member_id, counter_id, bucket, value })
}
