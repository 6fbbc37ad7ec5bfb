//! Each tenant's rule book, compiled once and kept while the tenant's
//! revision stands: an event costs one read of the revision, not a load and
//! compile of every rule. Versions are immutable, so a reload reuses what
//! it compiled before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use questline_kit::DomainError;

use super::Store;
use super::entities::rule_version;
use crate::domain::book::{BookRule, Change, RuleBook};
use crate::domain::rules::{CompiledRule, RuleSpec, RuleStatus, Strictness};

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
        let cached = self.books.get(tenant_id);
        if let Some((at, book)) = &cached
            && *at == revision
        {
            return Ok(Arc::clone(book));
        }
        let (changes, versions) = self.book_rows(tenant_id).await?;
        let previous = cached.map(|(_, book)| book);
        let book = Arc::new(build(changes, versions, previous.as_deref()));
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
    RuleBook { rules }
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
