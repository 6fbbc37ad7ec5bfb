//! A record batch in two flights: BEGIN with its usage rows locked (only
//! when it has some), then every row it writes with COMMIT. Every answer
//! is checked: after a failed statement the server answers COMMIT by
//! rolling back, without an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use questline_kit::pipelined::{Flight, Param, Session, column};
use questline_kit::{DomainError, columns, outbox};

use super::{Link, Sql};
use crate::domain::rules::limits::Used;
use crate::store::outcomes::Outcomes;
use crate::store::recorder::Answers;
use crate::store::tracked::UsageRow;

/// Locks `rows`, settles with what they hold (`settle`), writes what that
/// gives and commits.
pub async fn record(
    link: &mut Link,
    rows: &BTreeSet<UsageRow>,
    settle: impl FnOnce(HashMap<UsageRow, Used>) -> Result<(Answers, Outcomes), DomainError>,
) -> Result<(Answers, Outcomes), DomainError> {
    link.carry(async |session| carry_out(session, rows, settle).await)
        .await
}

async fn carry_out(
    session: &Session<Sql>,
    rows: &BTreeSet<UsageRow>,
    settle: impl FnOnce(HashMap<UsageRow, Used>) -> Result<(Answers, Outcomes), DomainError>,
) -> Result<(Answers, Outcomes), DomainError> {
    let usage = if rows.is_empty() {
        HashMap::new()
    } else {
        lock(session, rows).await?
    };
    let (answers, outcomes) = settle(usage)?;
    let mut f = Flight::default();
    if rows.is_empty() {
        f.add(&session.begin, Vec::new());
    }
    write(&mut f, &session.sql, &outcomes);
    f.add(&session.commit, Vec::new());
    f.send(session).await?;
    Ok((answers, outcomes))
}

/// BEGIN, and each usage row locked in the order given: what each holds.
async fn lock(
    session: &Session<Sql>,
    rows: &BTreeSet<UsageRow>,
) -> Result<HashMap<UsageRow, Used>, DomainError> {
    let mut f = Flight::default();
    f.add(&session.begin, Vec::new());
    let locked = f.add(&session.sql.lock_usage, key_columns(rows.iter()));
    let mut answers = f.send(session).await?;
    let held = answers.rows(Some(locked), |r| {
        let row = (
            r.try_get("tenant_id")?,
            r.try_get("rule_id")?,
            r.try_get("holder")?,
            r.try_get("period")?,
        );
        let used = Used {
            count: r.try_get("count")?,
            points: r.try_get("points")?,
        };
        Ok((row, used))
    })?;
    Ok(held.into_iter().collect())
}

/// Every row change of the batch, one statement per table it touches.
fn write<'a>(f: &mut Flight<'a>, sql: &'a Sql, out: &'a Outcomes) {
    if !out.usage.is_empty() {
        let usage = &out.usage;
        let mut params = keys(usage);
        params.push(column(usage.values().map(|u| u.count)));
        params.push(column(usage.values().map(|u| u.points)));
        f.add(&sql.add_usage, params);
    }
    if !out.traits.is_empty() {
        let traits = &out.traits;
        let mut params = keys(traits);
        params.push(column(traits.values().map(|v| &v.0)));
        params.push(column(traits.values().map(|v| v.1)));
        f.add(&sql.keep_traits, params);
    }
    if !out.messages.is_empty() {
        let staged = outbox::rows(&out.messages);
        let params = vec![
            column(staged.iter().map(|r| r.event_id.clone())),
            column(staged.iter().map(|r| r.event_type.clone())),
            column(staged.iter().map(|r| r.payload.clone())),
            column(staged.iter().map(|r| r.created_at)),
            column(staged.iter().map(|r| r.subject.clone())),
        ];
        f.add(&sql.stage, params);
    }
    if !out.counters.is_empty() {
        let counters = &out.counters;
        let mut params = keys(counters);
        params.push(column(counters.values().copied()));
        f.add(&sql.add_counters, params);
    }
    if !out.oldest.is_empty() {
        let oldest = &out.oldest;
        let params = vec![
            column(oldest.keys().map(|k| &k.0)),
            column(oldest.keys().map(|k| &k.1)),
            column(oldest.keys().map(|k| &k.2)),
            column(oldest.values()),
        ];
        f.add(&sql.prune_counters, params);
    }
    if !out.awards.is_empty() {
        let a = &out.awards;
        let params = columns!(a => tenant_id, event_id, rule_id, rule_name, member_id, currency,
            points, transfer_id, rule_version);
        f.add(&sql.insert_awards, params);
    }
    if !out.events.is_empty() {
        let e = &out.events;
        let params = columns!(e => tenant_id, event_id, member_id, event_type, fingerprint,
            status, occurred_at, created_at, attributes, verdicts);
        f.add(&sql.insert_events, params);
    }
}

/// Four-part keys (tenant, then three ids), one column per part.
type Key = (String, String, String, String);

fn keys<V>(rows: &BTreeMap<Key, V>) -> Vec<Param<'_>> {
    key_columns(rows.keys())
}

fn key_columns<'a>(keys: impl Iterator<Item = &'a Key> + Clone) -> Vec<Param<'a>> {
    vec![
        column(keys.clone().map(|k| &k.0)),
        column(keys.clone().map(|k| &k.1)),
        column(keys.clone().map(|k| &k.2)),
        column(keys.map(|k| &k.3)),
    ]
}
