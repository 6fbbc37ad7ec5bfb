//! A connection of a service's own to PostgreSQL for its hottest batches
//! (the ledger's committer, the rules engine's lookups, records and marks), where
//! statements travel in flights: a flight's statements are sent at once
//! and answered in order (pipelining), so it pays one round trip, not one
//! per statement, and the server runs them back to back. sqlx, under
//! sea-orm, sends one statement at a time; everything off the hot path
//! stays there.

use futures::future;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::DomainError;

/// Every statement sent on a link looks rows up by key, a few hundred at a
/// time: index probes joined by nested loops are the right plan at any
/// table size, so the connection says so, whatever statistics the tables
/// have (without autovacuum, none). Each statement is planned once per
/// connection: which index to probe is then the plan's one choice, right
/// once the tables have statistics, which their service keeps current
/// (`statistics`; ANALYZE has every connection plan again).
///
/// A batch holds its locks for milliseconds. One waiting 5 s for a row
/// another writer holds (a stalled replica, a migration) gives up, and its
/// callers retry, rather than every later batch queueing behind it; a
/// transaction left idle for a minute (a frozen process) is ended by the
/// server, releasing its locks.
const BY_KEY: &str = "-c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off \
     -c plan_cache_mode=force_generic_plan \
     -c lock_timeout=5s -c idle_in_transaction_session_timeout=60s";

/// The statements a link prepares on each connection it opens.
pub trait Statements: Sized + Send + Sync + 'static {
    fn prepare(client: &Client)
    -> impl Future<Output = Result<Self, tokio_postgres::Error>> + Send;
}

/// A connection, opened on first use and again after it broke.
pub struct Link<S> {
    config: Config,
    /// Whose link it is, for logs and errors ("ledger").
    owner: &'static str,
    session: Option<Session<S>>,
}

/// An open connection with its statements prepared.
pub struct Session<S> {
    /// Shared with the flights on their way (`Sent`), which outlive a borrow.
    client: Arc<Client>,
    pub sql: S,
    pub begin: Statement,
    pub commit: Statement,
    rollback: Statement,
    owner: &'static str,
}

impl<S: Statements> Link<S> {
    /// `owner`'s link to the database at `url` (`postgres://…`); connects
    /// lazily, as `questline-<owner>-<role>`.
    pub fn new(url: &str, owner: &'static str, role: &str) -> anyhow::Result<Link<S>> {
        let mut config: Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name(format!("questline-{owner}-{role}"));
        let options = config.get_options().unwrap_or_default();
        config.options(format!("{options} {BY_KEY}").trim());
        Ok(Link {
            config,
            owner,
            session: None,
        })
    }

    /// The open session, connecting first if there is none.
    pub async fn session(&mut self) -> Result<&Session<S>, DomainError> {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            self.session = None;
        }
        let session = match self.session.take() {
            Some(session) => session,
            None => Session::open(&self.config, self.owner).await?,
        };
        Ok(self.session.insert(session))
    }

    /// Runs `work` on the open session (connecting first if there is
    /// none), and `abandon`s it if `work` fails.
    pub async fn carry<T>(
        &mut self,
        work: impl AsyncFnOnce(&Session<S>) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let outcome = match self.session().await {
            Ok(session) => work(session).await,
            Err(err) => Err(err),
        };
        if let Err(err) = &outcome {
            self.abandon(err).await;
        }
        outcome
    }

    /// After a failed flight. One that lost a race rolls back whatever it
    /// left open (nothing, if its COMMIT went out: a failed statement turns
    /// COMMIT into ROLLBACK) and keeps the connection. After anything else
    /// the connection is dropped, and with it any open transaction: the
    /// next batch starts on a fresh one, with its statements prepared
    /// against the schema as it is then.
    pub async fn abandon(&mut self, cause: &DomainError) {
        let kept = match (&self.session, cause) {
            (Some(s), DomainError::Aborted(_)) => s.client.query(&s.rollback, &[]).await.is_ok(),
            _ => false,
        };
        if !kept {
            self.session = None;
        }
    }
}

impl<S: Statements> Session<S> {
    async fn open(config: &Config, owner: &'static str) -> Result<Session<S>, DomainError> {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|err| unavailable(err, owner))?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(%err, owner, "a pipelined database connection ended");
            }
        });
        let failed = |err| failed(err, owner);
        Ok(Session {
            sql: S::prepare(&client).await.map_err(failed)?,
            begin: client.prepare("BEGIN").await.map_err(failed)?,
            commit: client.prepare("COMMIT").await.map_err(failed)?,
            rollback: client.prepare("ROLLBACK").await.map_err(failed)?,
            client: Arc::new(client),
            owner,
        })
    }
}

/// `$model { field: row's column "field", … }`: a row decoded into a
/// store's row type, every field read from the column of the same name.
#[macro_export]
macro_rules! decode_row {
    ($row:expr => $($model:ident)::+ { $($field:ident),+ $(,)? }) => {
        Ok($($model)::+ { $($field: $row.try_get(stringify!($field))?),+ })
    };
}

/// One column array per named field of `rows`, as a statement's
/// parameters (`column` of each field).
#[macro_export]
macro_rules! columns {
    ($rows:expr => $($field:ident),+ $(,)?) => {
        vec![$($crate::pipelined::column($rows.iter().map(|r| &r.$field))),+]
    };
}

/// One statement's parameters: a value, or a column of values, each.
pub type Param<'a> = Box<dyn ToSql + Sync + Send + 'a>;

/// One column of a statement's parameters, as one array (for `unnest`).
pub fn column<'a, V>(values: impl Iterator<Item = V>) -> Param<'a>
where
    V: ToSql + Sync + Send + 'a,
{
    Box::new(values.collect::<Vec<V>>())
}

/// Statements sent together, answered together, in order.
#[derive(Default)]
pub struct Flight<'a> {
    statements: Vec<(Statement, Vec<Param<'a>>)>,
}

/// A flight sent and not answered yet. A flight sent after it on the same
/// session goes out behind it, and the server runs it after this one: the
/// ledger sends its next batch's reads behind the last batch's COMMIT.
pub struct Sent<'a> {
    /// The connection it went out on: its answers belong to that
    /// connection's transaction, and to no other.
    client: Arc<Client>,
    queries: Vec<Query<'a>>,
    owner: &'static str,
    started: Instant,
}

type Query<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// The rows of each statement of a flight, by its place in the flight.
pub struct Answers(Vec<Vec<Row>>);

impl<'a> Flight<'a> {
    /// Adds a statement; returns its place among the answers.
    pub fn add(&mut self, statement: &Statement, params: Vec<Param<'a>>) -> usize {
        self.statements.push((statement.clone(), params));
        self.statements.len() - 1
    }

    /// Sends every statement at once on `session` and waits for all the
    /// answers. The first failure is the flight's: the ones after it only
    /// report the transaction aborted.
    pub async fn send<S>(self, session: &Session<S>) -> Result<Answers, DomainError> {
        self.start(session).await?.answers().await
    }

    /// Sends every statement at once on `session`, without waiting for
    /// the answers (`Sent::answers`).
    pub async fn start<S>(self, session: &Session<S>) -> Result<Sent<'a>, DomainError> {
        // A query is sent when first polled. One that fails then was not
        // sent (its parameters did not encode, or the connection is gone):
        // the flight stops there, for a COMMIT sent behind it would commit
        // what went before. The caller drops the connection, and the
        // server rolls the open transaction back.
        let started = Instant::now();
        let mut queries: Vec<Query<'a>> = Vec::with_capacity(self.statements.len());
        for (statement, params) in self.statements {
            let client = Arc::clone(&session.client);
            let mut query: Query<'a> = Box::pin(async move {
                let params: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|b| b.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                client.query(&statement, &params).await
            });
            match futures::poll!(query.as_mut()) {
                Poll::Ready(Err(err)) => return Err(failed(err, session.owner)),
                Poll::Ready(Ok(rows)) => queries.push(Box::pin(future::ready(Ok(rows)))),
                Poll::Pending => queries.push(query),
            }
        }
        Ok(Sent {
            client: Arc::clone(&session.client),
            queries,
            owner: session.owner,
            started,
        })
    }
}

impl Sent<'_> {
    /// Whether it went out on `session`'s connection (not on one since
    /// dropped and replaced).
    pub fn sent_on<S>(&self, session: &Session<S>) -> bool {
        Arc::ptr_eq(&self.client, &session.client)
    }

    /// Every statement's rows, once all are answered; the first failure
    /// is the flight's.
    pub async fn answers(self) -> Result<Answers, DomainError> {
        let results = future::join_all(self.queries).await;
        crate::meter::observe_flight(self.owner, self.started.elapsed());
        let mut answers = Vec::with_capacity(results.len());
        let mut first_failure = None;
        for result in results {
            match result {
                Ok(rows) => answers.push(rows),
                Err(err) => {
                    first_failure.get_or_insert(err);
                    answers.push(Vec::new());
                }
            }
        }
        match first_failure {
            Some(err) => Err(failed(err, self.owner)),
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
/// broke) is ABORTED, which batches carry out again.
fn failed(err: tokio_postgres::Error, owner: &str) -> DomainError {
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
            tracing::warn!(%err, owner, "a batch gave up waiting for a lock");
            DomainError::Unavailable(
                "a record stayed locked by another writer; retry with the same key".into(),
            )
        }
        _ if err.is_closed() => unavailable(err, owner),
        _ => DomainError::internal(err),
    }
}

fn unavailable(err: tokio_postgres::Error, owner: &str) -> DomainError {
    tracing::warn!(%err, owner, "cannot reach the database");
    DomainError::Unavailable(format!("the {owner}'s database is unavailable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Insert(Statement);

    impl Statements for Insert {
        async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
            let table = table();
            Ok(Insert(
                client
                    .prepare(&format!("INSERT INTO {table} VALUES ($1)"))
                    .await?,
            ))
        }
    }

    /// A flight sent behind one not answered yet runs after it, in a
    /// transaction of its own: it sees the first's rows once committed,
    /// and each flight reports its own failure.
    #[tokio::test]
    async fn a_flight_sent_behind_another_runs_after_it_and_answers_alone() {
        let Some(url) = crate::test_postgres_url() else {
            return;
        };
        let behind_table = format!("{}_behind", table());
        let observer = connect(&url).await;
        observer
            .batch_execute(&format!(
                "CREATE TABLE {behind_table} (n int4 CHECK (n > 0))"
            ))
            .await
            .unwrap();
        struct Behind(Statement, Statement);
        impl Statements for Behind {
            async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
                let table = format!("{}_behind", table());
                let insert = format!("INSERT INTO {table} VALUES ($1)");
                let sum = format!("SELECT COALESCE(SUM(n), 0)::int4 FROM {table}");
                Ok(Behind(
                    client.prepare(&insert).await?,
                    client.prepare(&sum).await?,
                ))
            }
        }
        let mut link: Link<Behind> = Link::new(&url, "test", "behind").unwrap();
        let session = link.session().await.unwrap();
        let flight = |n: i32| {
            let mut flight = Flight::default();
            flight.add(&session.begin, Vec::new());
            flight.add(&session.sql.0, vec![Box::new(n)]);
            flight.add(&session.commit, Vec::new());
            flight
        };
        let summing = || {
            let mut flight = Flight::default();
            flight.add(&session.sql.1, Vec::new());
            flight
        };
        let sum = |answers: &mut Answers| answers.rows(Some(0), |r| r.try_get::<_, i32>(0));

        let first = flight(2).start(session).await.unwrap();
        let second = summing().start(session).await.unwrap();
        let mut elsewhere: Link<Behind> = Link::new(&url, "test", "elsewhere").unwrap();
        assert!(second.sent_on(session));
        assert!(!second.sent_on(elsewhere.session().await.unwrap()));
        assert!(first.answers().await.is_ok());
        assert_eq!(sum(&mut second.answers().await.unwrap()).unwrap(), [2]);

        let failing = flight(-1).start(session).await.unwrap();
        let fresh = flight(5).start(session).await.unwrap();
        let behind = summing().start(session).await.unwrap();
        assert!(matches!(
            failing.answers().await,
            Err(DomainError::Internal(_))
        ));
        assert!(fresh.answers().await.is_ok());
        assert_eq!(sum(&mut behind.answers().await.unwrap()).unwrap(), [7]);
        drop((link, elsewhere));
        observer
            .batch_execute(&format!("DROP TABLE {behind_table}"))
            .await
            .unwrap();
    }

    fn table() -> String {
        format!("ql_flight_{}", std::process::id())
    }

    async fn connect(url: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    /// A statement whose parameters do not encode is never sent, and
    /// neither is the COMMIT behind it: nothing before it commits.
    #[tokio::test]
    async fn a_statement_that_cannot_be_sent_stops_its_flight() {
        let Some(url) = crate::test_postgres_url() else {
            return;
        };
        let table = table();
        let observer = connect(&url).await;
        observer
            .batch_execute(&format!("CREATE TABLE {table} (n int4)"))
            .await
            .unwrap();
        let mut link: Link<Insert> = Link::new(&url, "test", "flight").unwrap();
        let session = link.session().await.unwrap();
        let mut flight = Flight::default();
        flight.add(&session.begin, Vec::new());
        flight.add(&session.sql.0, vec![Box::new(1i32)]);
        flight.add(&session.sql.0, vec![Box::new("two")]);
        flight.add(&session.commit, Vec::new());
        let outcome = flight.send(session).await;
        let count = format!("SELECT count(*) FROM {table}");
        let committed: i64 = observer.query_one(&count, &[]).await.unwrap().get(0);
        drop(link);
        observer
            .batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
        assert!(matches!(outcome, Err(DomainError::Internal(_))));
        assert_eq!(committed, 0);
    }
}
