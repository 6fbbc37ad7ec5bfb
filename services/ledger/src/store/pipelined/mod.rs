//! A batch on PostgreSQL in two flights: its reads (BEGIN, the locks and
//! everything read under them), then its writes and COMMIT. A flight's
//! statements are sent at once and answered in order (pipelining), so a
//! batch pays two round trips, not one per statement, and the server
//! runs them back to back. The committer keeps its own connection for
//! this (sqlx, under sea-orm, sends one statement at a time).

mod decode;
mod read;
mod sql;
mod write;

use futures::future::{self, Either};
use questline_kit::DomainError;
use std::task::Poll;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

pub use read::Batch;
use sql::Sql;

/// Every statement of a batch looks rows up by key, a few dozen at a time:
/// index probes joined by nested loops are the right plan at any table
/// size, so the connection says so, whatever statistics the tables have
/// (without autovacuum, none), and plans each statement once.
///
/// A batch holds its locks for milliseconds. One waiting 5 s for a row
/// another writer holds (a stalled replica, a migration) gives up, and its
/// callers retry, rather than every later batch queueing behind it; a
/// transaction left idle for a minute (a frozen process) is ended by the
/// server, releasing its locks.
const SESSION: &str = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off \
     -c enable_hashjoin=off -c enable_mergejoin=off \
     -c lock_timeout=5s -c idle_in_transaction_session_timeout=60s";

/// The committer's connection, opened on first use and again after it broke.
pub struct Link {
    config: Config,
    session: Option<Session>,
}

/// An open connection with the batch statements prepared on it.
pub struct Session {
    client: Client,
    sql: Sql,
}

impl Link {
    /// A link to the database at `url` (`postgres://…`); connects lazily.
    pub fn new(url: &str) -> anyhow::Result<Link> {
        let mut config: Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("questline-ledger-committer");
        let options = config.get_options().unwrap_or_default();
        config.options(format!("{options} {SESSION}").trim());
        Ok(Link {
            config,
            session: None,
        })
    }

    /// The open session, connecting first if there is none.
    pub async fn session(&mut self) -> Result<&Session, DomainError> {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            self.session = None;
        }
        let session = match self.session.take() {
            Some(session) => session,
            None => Session::open(&self.config).await?,
        };
        Ok(self.session.insert(session))
    }

    /// After a failed batch. One that lost a race rolls back whatever it
    /// left open (nothing, if its COMMIT went out: a failed statement turns
    /// COMMIT into ROLLBACK) and keeps the connection. After anything else
    /// the connection is dropped, and with it any open transaction: the
    /// next batch starts on a fresh one, with its statements prepared
    /// against the schema as it is then.
    pub async fn abandon(&mut self, cause: &DomainError) {
        let kept = match (&self.session, cause) {
            (Some(s), DomainError::Aborted(_)) => {
                s.client.query(&s.sql.rollback, &[]).await.is_ok()
            }
            _ => false,
        };
        if !kept {
            self.session = None;
        }
    }
}

impl Session {
    async fn open(config: &Config) -> Result<Session, DomainError> {
        let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(%err, "the ledger committer's database connection ended");
            }
        });
        let sql = Sql::prepare(&client).await.map_err(failed)?;
        Ok(Session { client, sql })
    }
}

/// One statement's parameters: a value, or a column of values, each.
pub type Param<'a> = Box<dyn ToSql + Sync + Send + 'a>;

/// Statements sent together, answered together, in order.
#[derive(Default)]
pub struct Flight<'a> {
    statements: Vec<(&'a Statement, Vec<Param<'a>>)>,
}

/// The rows of each statement of a flight, by its place in the flight.
pub struct Answers(Vec<Vec<Row>>);

impl<'a> Flight<'a> {
    /// Adds a statement; returns its place among the answers.
    pub fn add(&mut self, statement: &'a Statement, params: Vec<Param<'a>>) -> usize {
        self.statements.push((statement, params));
        self.statements.len() - 1
    }

    /// Sends every statement at once and waits for all the answers. The
    /// first failure is the batch's: the ones after it only report the
    /// transaction aborted.
    pub async fn send(self, client: &Client) -> Result<Answers, DomainError> {
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = self
            .statements
            .iter()
            .map(|(_, p)| {
                p.iter()
                    .map(|b| b.as_ref() as &(dyn ToSql + Sync))
                    .collect()
            })
            .collect();
        // A query is sent when first polled. One that fails then was not
        // sent (its parameters did not encode, or the connection is gone):
        // the flight stops there, for a COMMIT sent behind it would commit
        // what went before. The caller drops the connection, and the
        // server rolls the open transaction back.
        let mut sent = Vec::with_capacity(params.len());
        for ((statement, _), p) in self.statements.iter().zip(&params) {
            let mut query = Box::pin(client.query(*statement, p));
            match futures::poll!(query.as_mut()) {
                Poll::Ready(Err(err)) => return Err(failed(err)),
                Poll::Ready(Ok(rows)) => sent.push(Either::Left(future::ready(Ok(rows)))),
                Poll::Pending => sent.push(Either::Right(query)),
            }
        }
        let mut answers = Vec::with_capacity(params.len());
        let mut first_failure = None;
        for result in future::join_all(sent).await {
            match result {
                Ok(rows) => answers.push(rows),
                Err(err) => {
                    first_failure.get_or_insert(err);
                    answers.push(Vec::new());
                }
            }
        }
        match first_failure {
            Some(err) => Err(failed(err)),
            None => Ok(Answers(answers)),
        }
    }
}

impl Answers {
    /// The rows answering the statement at `place`, decoded.
    pub fn rows<T>(
        &mut self,
        place: Option<usize>,
        decode: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>, DomainError> {
        let Some(rows) = place.and_then(|i| self.0.get_mut(i)) else {
            return Ok(Vec::new());
        };
        std::mem::take(rows)
            .iter()
            .map(|r| decode(r).map_err(DomainError::internal))
            .collect()
    }
}

/// A lost race (a key or row another replica wrote, a deadlock the server
/// broke) is ABORTED, which the committer carries out again.
fn failed(err: tokio_postgres::Error) -> DomainError {
    let raced = [
        SqlState::UNIQUE_VIOLATION,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
    ];
    match err.code() {
        Some(code) if raced.contains(code) => {
            DomainError::Aborted("a concurrent request wrote the same record".into())
        }
        Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            tracing::warn!(%err, "a ledger batch gave up waiting for a lock");
            DomainError::Unavailable(
                "an account stayed locked by another writer; retry with the same key".into(),
            )
        }
        _ if err.is_closed() => unavailable(err),
        _ => DomainError::internal(err),
    }
}

fn unavailable(err: tokio_postgres::Error) -> DomainError {
    tracing::warn!(%err, "the ledger cannot reach its database");
    DomainError::Unavailable("the ledger's database is unavailable".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connect(url: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    /// A statement whose parameters do not encode is never sent, and
    /// neither is the COMMIT behind it: nothing before it commits.
    #[tokio::test]
    async fn a_statement_that_cannot_be_sent_stops_its_flight() {
        let Some(url) = std::env::var("QUESTLINE_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return;
        };
        let table = format!("ql_flight_{}", std::process::id());
        let observer = connect(&url).await;
        observer
            .batch_execute(&format!("CREATE TABLE {table} (n int4)"))
            .await
            .unwrap();
        let client = connect(&url).await;
        let begin = client.prepare("BEGIN").await.unwrap();
        let insert = client
            .prepare(&format!("INSERT INTO {table} VALUES ($1)"))
            .await
            .unwrap();
        let commit = client.prepare("COMMIT").await.unwrap();
        let mut flight = Flight::default();
        flight.add(&begin, Vec::new());
        flight.add(&insert, vec![Box::new(1i32)]);
        flight.add(&insert, vec![Box::new("two")]);
        flight.add(&commit, Vec::new());
        let outcome = flight.send(&client).await;
        let count = format!("SELECT count(*) FROM {table}");
        let committed: i64 = observer.query_one(&count, &[]).await.unwrap().get(0);
        drop(client);
        observer
            .batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
        assert!(matches!(outcome, Err(DomainError::Internal(_))));
        assert_eq!(committed, 0);
    }
}
