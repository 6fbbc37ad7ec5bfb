//! Backtest: stored events replayed through a rule set in memory, in
//! occurrence order, with caps and budgets counted from zero at the start of
//! the range. Nothing is written; the report says what the rule set would
//! have done and how that differs from what the live rules did.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use serde_json::Value as Json;

use super::book::RuleBook;
use super::judge::{self, Considered, Occasion, UsageKey, Verdict};
use super::rules::MemberDates;
use super::rules::limits::Used;

/// A stored event, as the rules see it.
pub struct StoredEvent {
    pub event_id: String,
    pub member_id: String,
    pub event_type: String,
    pub at_ms: i64,
    /// The attributes with `type` and `id`.
    pub facts: Json,
}

/// A member, as the rules see them (`kit::expr::value` of their facts).
pub struct MemberView {
    pub facts: questline_kit::expr::Variable,
    pub dates: MemberDates,
}

/// What one rule did over the replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTally {
    pub version: i32,
    pub matched: i64,
    pub points: i64,
    pub currency: String,
    pub cap_hits: i64,
    pub budget_hits: i64,
    pub errors: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub event_id: String,
    pub member_id: String,
    pub rule_id: String,
    pub points: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub replayed: i64,
    pub matched: i64,
    pub members_reached: i64,
    /// (UTC date, currency) → points.
    pub by_day: BTreeMap<(String, String), i64>,
    pub rules: BTreeMap<String, RuleTally>,
    /// Currency → points the replay awards.
    pub simulated: BTreeMap<String, i64>,
    pub samples: Vec<Sample>,
}

/// A replay in progress.
pub struct Replay<'b> {
    book: &'b RuleBook,
    /// Usage rows; member rows carry their member.
    usage: HashMap<(Option<String>, UsageKey), Used>,
    members: HashSet<String>,
    sample_size: usize,
    report: Report,
}

impl<'b> Replay<'b> {
    pub fn new(book: &'b RuleBook, sample_size: usize) -> Replay<'b> {
        Replay {
            book,
            usage: HashMap::new(),
            members: HashSet::new(),
            sample_size,
            report: Report::default(),
        }
    }

    /// Judges a page of events (pages must come in occurrence order):
    /// conditions and actions on every core, then caps and budgets settled
    /// one event after the other.
    pub fn replay_page<'m>(
        &mut self,
        page: &[StoredEvent],
        member: impl Fn(&str) -> &'m MemberView + Sync,
    ) {
        let book = self.book;
        let consider = |events: &[StoredEvent]| -> Vec<Vec<Considered<'b>>> {
            events
                .iter()
                .map(|e| consider(book, e, member(&e.member_id)))
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let chunk = page.len().div_ceil(threads).max(1);
        let judged: Vec<Vec<Considered>> = std::thread::scope(|s| {
            let workers: Vec<_> = page
                .chunks(chunk)
                .map(|events| s.spawn(move || consider(events)))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for (e, considered) in page.iter().zip(judged) {
            self.settle(e, considered);
        }
    }

    /// Judges one event (events must come in occurrence order).
    pub fn replay(&mut self, e: &StoredEvent, member: &MemberView) {
        let considered = consider(self.book, e, member);
        self.settle(e, considered);
    }

    fn settle(&mut self, e: &StoredEvent, considered: Vec<Considered>) {
        self.report.replayed += 1;
        if considered.is_empty() {
            return;
        }
        let holder = |key: &UsageKey| match key {
            UsageKey::Member { .. } => Some(e.member_id.clone()),
            UsageKey::Rule { .. } => None,
        };
        let usage: HashMap<UsageKey, Used> = judge::usage_keys(&considered, e.at_ms)
            .into_iter()
            .map(|k| {
                let used = self.usage.get(&(holder(&k), k.clone())).copied();
                (k, used.unwrap_or_default())
            })
            .collect();
        let settlement = judge::settle(considered, &usage, e.at_ms);
        for (key, delta) in settlement.usage {
            let row = self.usage.entry((holder(&key), key)).or_default();
            row.count += delta.count;
            row.points += delta.points;
        }
        self.tally(e, &settlement.rules);
    }

    fn tally(&mut self, e: &StoredEvent, rules: &[judge::Settled]) {
        let day = utc_date(e.at_ms);
        let mut matched = false;
        for s in rules.iter().filter(|s| !s.shadow) {
            let tally = self.report.rules.entry(s.rule_id.clone()).or_default();
            tally.version = s.version;
            match &s.verdict {
                Verdict::Applied { .. } => {
                    matched = true;
                    tally.matched += 1;
                }
                Verdict::CapReached { .. } => tally.cap_hits += 1,
                Verdict::BudgetExhausted { .. } => tally.budget_hits += 1,
                Verdict::Error { .. } => tally.errors += 1,
                _ => {}
            }
            let Some((currency, points)) = &s.points else {
                continue;
            };
            tally.points += points;
            tally.currency.clone_from(currency);
            *self.report.simulated.entry(currency.clone()).or_default() += points;
            *self
                .report
                .by_day
                .entry((day.clone(), currency.clone()))
                .or_default() += points;
            if self.report.samples.len() < self.sample_size {
                self.report.samples.push(Sample {
                    event_id: e.event_id.clone(),
                    member_id: e.member_id.clone(),
                    rule_id: s.rule_id.clone(),
                    points: *points,
                    currency: currency.clone(),
                });
            }
        }
        if matched {
            self.report.matched += 1;
            self.members.insert(e.member_id.clone());
        }
    }

    /// Events replayed so far.
    pub fn replayed(&self) -> i64 {
        self.report.replayed
    }

    pub fn finish(mut self) -> Report {
        self.report.members_reached = self.members.len() as i64;
        self.report
    }
}

/// The rules in force for the event, considered (none in force: empty).
fn consider<'b>(book: &'b RuleBook, e: &StoredEvent, member: &MemberView) -> Vec<Considered<'b>> {
    let in_force = book.in_force(&e.event_type, e.at_ms);
    if in_force.is_empty() {
        return vec![];
    }
    let occasion = Occasion {
        at_ms: e.at_ms,
        event: &e.facts,
        member: &member.facts,
        dates: member.dates,
    };
    judge::consider(&in_force, &occasion)
}

fn utc_date(at_ms: i64) -> String {
    Timestamp::from_millisecond(at_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::{Budget, Cap, Measure, Period, RuleSpec, Strictness};
    use serde_json::json;
    use std::sync::Arc;

    fn rule(id: &str, spec: RuleSpec) -> Arc<crate::domain::rules::CompiledRule> {
        Arc::new(spec.compile(id, 0, Strictness::New).unwrap())
    }

    fn event(i: i64, member: &str, amount: f64) -> StoredEvent {
        StoredEvent {
            event_id: format!("e{i}"),
            member_id: member.into(),
            event_type: "purchase".into(),
            // One event an hour from 2026-12-01T00:00Z.
            at_ms: 1_796_083_200_000 + i * 3_600_000,
            facts: json!({"type": "purchase", "id": format!("e{i}"), "amount": amount}),
        }
    }

    fn member(id: &str) -> MemberView {
        MemberView {
            facts: questline_kit::expr::value(&json!({"id": id, "tags": []})),
            dates: MemberDates::default(),
        }
    }

    #[test]
    fn caps_and_budgets_are_replayed_in_order_and_reported() {
        let mut daily = RuleSpec::purchase("", "event.amount / 10.0");
        daily.caps = vec![Cap {
            period: Period::Day,
            measure: Measure::Count,
            limit: 2,
        }];
        daily.budget = Some(Budget {
            period: Period::Lifetime,
            limit: 100,
        });
        let book = RuleBook::default().scenario(vec![rule("daily", daily)], true);
        let mut replay = Replay::new(&book, 3);
        let (alice, bob) = (member("alice"), member("bob"));
        // 48 hours of events, alternating members, 25 points each.
        for i in 0..48 {
            let (id, view) = if i % 2 == 0 {
                ("alice", &alice)
            } else {
                ("bob", &bob)
            };
            replay.replay(&event(i, id, 250.0), view);
        }
        let report = replay.finish();
        assert_eq!(report.replayed, 48);
        // Two a day each for two days would be 8 × 25 = 200; the budget stops at 100.
        assert_eq!(report.simulated["stars"], 100);
        assert_eq!(report.matched, 4);
        assert_eq!(report.members_reached, 2);
        let tally = &report.rules["daily"];
        assert_eq!((tally.matched, tally.points, tally.version), (4, 100, 0));
        // Day 1: four awards spend the budget, the other 20 meet the daily
        // cap; day 2: the cap is fresh, the budget refuses all 24.
        assert_eq!(tally.cap_hits, 20);
        assert_eq!(tally.budget_hits, 24);
        assert_eq!(
            report.by_day[&("2026-12-01".to_string(), "stars".to_string())],
            100
        );
        assert_eq!(report.samples.len(), 3);
        assert_eq!(report.samples[0].event_id, "e0");
    }
}
