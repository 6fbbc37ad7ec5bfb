//! Each tenant's rule book, compiled once and kept while the tenant's
//! revision stands: an event costs one read of the revision, not a load and
//! compile of every rule. Versions are immutable, so a reload reuses what
//! it compiled before. Event schemas, counters and segments ride along: a
//! change of any turns the same page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use questline_kit::DomainError;

use super::Store;
use super::entities::{counter, event_schema, rule_version, segment};
use crate::domain::book::{BookRule, Change, RuleBook};
use crate::domain::counters::CompiledCounter;
use crate::domain::rules::{CompiledRule, RuleSpec, RuleStatus, Strictness};
use crate::domain::schemas::{self, EventSchema};

/// A tenant's book as of `revision`.
struct Cached {
    revision: i64,
    book: Arc<RuleBook>,
}

/// The books of every tenant this instance has served.
#[derive(Clone, Default)]
pub struct Books(Arc<Mutex<HashMap<String, Cached>>>);

impl Books {
    fn get(&self, tenant_id: &str) -> Option<(i64, Arc<RuleBook>)> {
        let books = self.0.lock().unwrap_or_else(|p| p.into_inner());
        books
            .get(tenant_id)
            .map(|c| (c.revision, Arc::clone(&c.book)))
    }

    fn put(&self, tenant_id: &str, revision: i64, book: Arc<RuleBook>) {
        let mut books = self.0.lock().unwrap_or_else(|p| p.into_inner());
        books.insert(tenant_id.into(), Cached { revision, book });
    }
}

impl Store {
    /// The tenant's rule book as of now.
    pub async fn rule_book(&self, tenant_id: &str) -> Result<Arc<RuleBook>, DomainError> {
        let revision = self.book_revision(tenant_id).await?;
        self.book_at(tenant_id, revision).await
    }

    /// The tenant's rule book as of `revision`, read just before.
    pub async fn book_at(
        &self,
        tenant_id: &str,
        revision: i64,
    ) -> Result<Arc<RuleBook>, DomainError> {
        let cached = self.books.get(tenant_id);
        if let Some((at, book)) = &cached
            && *at == revision
        {
            return Ok(Arc::clone(book));
        }
        let (changes, versions) = self.book_rows(tenant_id).await?;
        let schemas = self.schema_rows(tenant_id).await?;
        let counters = self.counter_rows(tenant_id).await?;
        let segments = self.segment_rows(tenant_id).await?;
        let previous = cached.map(|(_, book)| book);
        let mut book = build(changes, versions, previous.as_deref());
        book.schemas = readable(schemas);
        book.counters = counters.into_iter().filter_map(compiled_counter).collect();
        book.segments = segments.into_iter().filter_map(predicate).collect();
        let book = Arc::new(book);
        self.books.put(tenant_id, revision, Arc::clone(&book));
        Ok(book)
    }
}

fn build(
    changes: Vec<super::entities::rule_change::Model>,
    versions: Vec<rule_version::Model>,
    previous: Option<&RuleBook>,
) -> RuleBook {
    let mut rules: Vec<BookRule> = Vec::new();
    for c in changes {
        let Ok(status) = RuleStatus::parse(&c.status) else {
            continue;
        };
        if rules.last().is_none_or(|r| r.rule_id != c.rule_id) {
            rules.push(BookRule {
                rule_id: c.rule_id.clone(),
                changes: vec![],
                versions: HashMap::new(),
            });
        }
        if let Some(rule) = rules.last_mut() {
            rule.changes.push(Change {
                from_ms: c.from_ms,
                version: c.version,
                status,
            });
        }
    }
    for v in versions {
        let Some(rule) = rules.iter_mut().find(|r| r.rule_id == v.rule_id) else {
            continue;
        };
        if let Some(compiled) = compiled(&v, previous) {
            rule.versions.insert(v.version, compiled);
        }
    }
    RuleBook {
        rules,
        ..RuleBook::default()
    }
}

/// A stored counter, compiled; one that no longer compiles is left out
/// (logged), never a reason to refuse events.
fn compiled_counter(row: counter::Model) -> Option<CompiledCounter> {
    let counter_id = row.counter_id.clone();
    super::counters::stored(row)
        .and_then(|c| c.spec.compile(&counter_id))
        .inspect_err(|err| tracing::warn!(%counter_id, %err, "stored counter skipped"))
        .ok()
}

/// The schemas by event type; one unreadable is left out (logged).
fn readable(rows: Vec<event_schema::Model>) -> HashMap<String, EventSchema> {
    rows.into_iter()
        .filter_map(|row| match schemas::read(&row.spec) {
            Ok(schema) => Some((row.event_type, schema)),
            Err(err) => {
                let event_type = &row.event_type;
                tracing::warn!(%event_type, %err, "stored event schema unreadable; skipped");
                None
            }
        })
        .collect()
}

/// A version compiled before, or compiled now; one that no longer compiles
/// is left out (logged), never a reason to refuse events.
fn compiled(v: &rule_version::Model, previous: Option<&RuleBook>) -> Option<Arc<CompiledRule>> {
    let known = previous
        .and_then(|b| b.rules.iter().find(|r| r.rule_id == v.rule_id))
        .and_then(|r| r.versions.get(&v.version));
    if let Some(known) = known {
        return Some(Arc::clone(known));
    }
    let rule_id = &v.rule_id;
    let spec: RuleSpec = serde_json::from_str(&v.spec)
        .inspect_err(
            |err| tracing::warn!(%rule_id, %err, "stored rule version unreadable; skipped"),
        )
        .ok()?;
    spec.compile(rule_id, v.version, Strictness::Stored)
        .inspect_err(|err| tracing::warn!(%rule_id, %err, "stored rule does not compile; skipped"))
        .ok()
        .map(Arc::new)
}

/// A kept segment's predicate, parsed; one that does not parse is left out
/// (logged): identity checked it at save.
fn predicate(row: segment::Model) -> Option<(String, cel::Program)> {
    let segment_id = row.segment_id;
    questline_kit::expr::parse(&row.predicate)
        .inspect_err(|_| tracing::warn!(%segment_id, "kept segment does not parse; skipped"))
        .ok()
        .map(|p| (segment_id, p))
}
