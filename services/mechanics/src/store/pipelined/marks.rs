//! The marks of a batch in one flight that does not wait for the disk.

use questline_kit::DomainError;
use questline_kit::pipelined::{Flight, Session, column};

use super::{Link, Sql};
use crate::domain::track::EventStatus;
use crate::store::marks::{self, Marks};

/// Marks `jobs` in one transaction that does not wait for the disk
/// (`marks`).
pub async fn mark(link: &mut Link, jobs: &[Marks]) -> Result<(), DomainError> {
    link.carry(async |session| write_marks(session, jobs).await)
        .await
}

async fn write_marks(session: &Session<Sql>, jobs: &[Marks]) -> Result<(), DomainError> {
    let sql = &session.sql;
    let awards = marks::carried_awards(jobs);
    let mut f = Flight::default();
    f.add(&session.begin, Vec::new());
    f.add(&sql.no_fsync, Vec::new());
    f.add(
        &sql.carried,
        vec![
            column(awards.iter().map(|a| &a.tenant_id)),
            column(awards.iter().map(|a| &a.event_id)),
            column(awards.iter().map(|a| &a.rule_id)),
            column(awards.iter().map(|a| &a.transfer_id)),
        ],
    );
    f.add(
        &sql.applied,
        vec![
            column(jobs.iter().map(|m| &m.tenant_id)),
            column(jobs.iter().map(|m| &m.event_id)),
            Box::new(EventStatus::Applied.as_str()),
        ],
    );
    f.add(&session.commit, Vec::new());
    f.send(session).await?;
    Ok(())
}
