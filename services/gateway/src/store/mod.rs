//! The gateway's one table: the answers to POSTs sent with an
//! `Idempotency-Key`, kept 24 hours in a database every replica shares, so
//! a retry is answered the same after a restart or on another replica.
//!
//! Invariants: a (client, key) pair has at most one row; a row with an
//! answer never changes until it expires; a row without one is leased to
//! one request at a time, and a lapsed lease (its gateway died) passes to
//! the next request with the same key and body.

mod entities;
pub mod migrations;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr,
};

use entities::answer;

/// How long a key and its answer are kept.
pub const KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// An answer as first given, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What a request with a key may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First with this key (or the first one's gateway died): run it.
    Run,
    /// Answered before: replay the answer.
    Replay(Answer),
    /// The key was used for another request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// One key as stored, seen at `now`.
struct Seen<'a> {
    row: &'a answer::Model,
    fingerprint: &'a str,
    now: i64,
}

/// What a stored key means for a new request: the rules, free of I/O.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Expired,
    Mismatch,
    Replay,
    InFlight,
    TakeOver,
}

impl Seen<'_> {
    fn verdict(&self) -> Verdict {
        let row = self.row;
        if row.expires_at <= self.now {
            Verdict::Expired
        } else if row.fingerprint != self.fingerprint {
            Verdict::Mismatch
        } else if row.status.is_some() {
            Verdict::Replay
        } else if row.lease_until > self.now {
            Verdict::InFlight
        } else {
            Verdict::TakeOver
        }
    }
}

#[derive(Clone)]
pub struct Keys {
    db: DatabaseConnection,
}

impl Keys {
    pub fn new(db: DatabaseConnection) -> Keys {
        Keys { db }
    }

    /// Claims `key` for a request of `fingerprint` by `client`, leased
    /// until `lease_until` (ms since the epoch).
    pub async fn claim(
        &self,
        client: &str,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Claim, DbErr> {
        // Each turn either decides or removes what stood in the way; two
        // racing requests end in one `Run` and one `InFlight`.
        for _ in 0..4 {
            let fresh = answer::ActiveModel {
                client: Set(client.into()),
                key: Set(key.into()),
                fingerprint: Set(fingerprint.into()),
                status: Set(None),
                content_type: Set(String::new()),
                body: Set(Vec::new()),
                lease_until: Set(lease_until),
                expires_at: Set(now + KEPT_MS),
            };
            match fresh.insert(&self.db).await {
                Ok(_) => return Ok(Claim::Run),
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                }
                Err(err) => return Err(err),
            }
            let Some(row) = answer::Entity::find_by_id((client.to_string(), key.to_string()))
                .one(&self.db)
                .await?
            else {
                continue;
            };
            let seen = Seen {
                row: &row,
                fingerprint,
                now,
            };
            match seen.verdict() {
                Verdict::Mismatch => return Ok(Claim::Mismatch),
                Verdict::InFlight => return Ok(Claim::InFlight),
                Verdict::Replay => {
                    return Ok(Claim::Replay(Answer {
                        status: row
                            .status
                            .and_then(|s| u16::try_from(s).ok())
                            .unwrap_or(500),
                        content_type: row.content_type,
                        body: row.body,
                    }));
                }
                Verdict::Expired => {
                    let expired = answer::Column::ExpiresAt.eq(row.expires_at);
                    self.remove_if(client, key, expired).await?;
                }
                Verdict::TakeOver => {
                    let taken = answer::Entity::update_many()
                        .col_expr(answer::Column::LeaseUntil, Expr::value(lease_until))
                        .filter(answer::Column::Client.eq(client))
                        .filter(answer::Column::Key.eq(key))
                        .filter(answer::Column::Status.is_null())
                        .filter(answer::Column::LeaseUntil.eq(row.lease_until))
                        .exec(&self.db)
                        .await?;
                    if taken.rows_affected == 1 {
                        return Ok(Claim::Run);
                    }
                }
            }
        }
        // Still contended after every turn: as good as in flight.
        Ok(Claim::InFlight)
    }

    /// Keeps the answer of a request that ran under `key`.
    pub async fn keep(&self, client: &str, key: &str, answer: &Answer) -> Result<(), DbErr> {
        answer::Entity::update_many()
            .col_expr(
                answer::Column::Status,
                Expr::value(i32::from(answer.status)),
            )
            .col_expr(
                answer::Column::ContentType,
                Expr::value(answer.content_type.clone()),
            )
            .col_expr(answer::Column::Body, Expr::value(answer.body.clone()))
            .filter(answer::Column::Client.eq(client))
            .filter(answer::Column::Key.eq(key))
            .filter(answer::Column::Status.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets a key whose request did not finish, so it may be tried again.
    pub async fn release(&self, client: &str, key: &str) -> Result<(), DbErr> {
        self.remove_if(client, key, answer::Column::Status.is_null())
            .await
    }

    /// Removes every key expired by `now`; returns how many.
    pub async fn prune(&self, now: i64) -> Result<u64, DbErr> {
        let gone = answer::Entity::delete_many()
            .filter(answer::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(gone.rows_affected)
    }

    async fn remove_if(
        &self,
        client: &str,
        key: &str,
        condition: sea_orm::sea_query::SimpleExpr,
    ) -> Result<(), DbErr> {
        answer::Entity::delete_many()
            .filter(answer::Column::Client.eq(client))
            .filter(answer::Column::Key.eq(key))
            .filter(condition)
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
