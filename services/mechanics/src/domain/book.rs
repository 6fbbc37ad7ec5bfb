//! A tenant's rule book: every rule's history of versions and statuses, so
//! an event is judged by the versions in force when it occurred — a late
//! event by the rules of its own time, not of its arrival.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Program;

use super::counters::CompiledCounter;
use super::judge::InForce;
use super::rules::{CompiledRule, RuleStatus};
use super::schemas::EventSchema;

/// From `from_ms` on, the rule stood at `version` with `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from_ms: i64,
    pub version: i32,
    pub status: RuleStatus,
}

/// One rule: its changes in order, and the versions they name.
#[derive(Clone)]
pub struct BookRule {
    pub rule_id: String,
    pub changes: Vec<Change>,
    pub versions: HashMap<i32, Arc<CompiledRule>>,
}

impl BookRule {
    /// The version and status in force at `at_ms`, if the rule existed then.
    pub fn at(&self, at_ms: i64) -> Option<Change> {
        let after = self.changes.partition_point(|c| c.from_ms <= at_ms);
        after.checked_sub(1).map(|i| self.changes[i])
    }
}

#[derive(Default)]
pub struct RuleBook {
    pub rules: Vec<BookRule>,
    /// The schema of each event type that has one.
    pub schemas: HashMap<String, EventSchema>,
    /// The programme's counters, by id.
    pub counters: Vec<CompiledCounter>,
    /// The programme's segments (identity's, kept from `segment.changed`):
    /// id and predicate over `member`.
    pub segments: Vec<(String, Program)>,
}

impl RuleBook {
    /// The live rules for an event of `event_type` at `at_ms`, lowest priority first.
    pub fn in_force(&self, event_type: &str, at_ms: i64) -> Vec<InForce<'_>> {
        let mut found: Vec<InForce> = self
            .rules
            .iter()
            .filter_map(|r| {
                let change = r.at(at_ms).filter(|c| c.status.is_live())?;
                let rule = r.versions.get(&change.version)?;
                let triggered = rule.spec.event_types.iter().any(|t| t == event_type);
                triggered.then_some(InForce {
                    rule,
                    shadow: change.status == RuleStatus::Shadow,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            (a.rule.spec.priority, &a.rule.rule_id).cmp(&(b.rule.spec.priority, &b.rule.rule_id))
        });
        found
    }
}

impl RuleBook {
    /// A what-if book for a backtest: `given` rules active from the dawn of
    /// time (each replacing the live rule of its id), with the other live
    /// rules as they were, or `given` alone.
    pub fn scenario(&self, given: Vec<Arc<CompiledRule>>, only_given: bool) -> RuleBook {
        let mut rules: Vec<BookRule> = if only_given {
            vec![]
        } else {
            self.rules
                .iter()
                .filter(|r| given.iter().all(|g| g.rule_id != r.rule_id))
                .cloned()
                .collect()
        };
        rules.extend(given.into_iter().map(|rule| BookRule {
            rule_id: rule.rule_id.clone(),
            changes: vec![Change {
                from_ms: i64::MIN,
                version: rule.version,
                status: RuleStatus::Active,
            }],
            versions: [(rule.version, rule)].into(),
        }));
        RuleBook {
            rules,
            ..RuleBook::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::{RuleSpec, Strictness};

    fn version(v: i32, points: &str) -> (i32, Arc<CompiledRule>) {
        let spec = RuleSpec::purchase("", points);
        (v, Arc::new(spec.compile("r1", v, Strictness::New).unwrap()))
    }

    fn book() -> RuleBook {
        use RuleStatus::*;
        let change = |from_ms, version, status| Change {
            from_ms,
            version,
            status,
        };
        RuleBook {
            rules: vec![BookRule {
                rule_id: "r1".into(),
                changes: vec![
                    change(100, 1, Draft),
                    change(200, 1, Active),
                    change(300, 2, Active),
                    change(400, 2, Paused),
                    change(500, 3, Shadow),
                    change(600, 3, Archived),
                ],
                versions: [version(1, "1"), version(2, "2"), version(3, "3")].into(),
            }],
            ..RuleBook::default()
        }
    }

    #[test]
    fn a_late_event_is_judged_by_the_version_of_its_time() {
        let book = book();
        let at = |ms| {
            book.in_force("purchase", ms)
                .iter()
                .map(|f| (f.rule.version, f.shadow))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(99), []); // before the rule existed
        assert_eq!(at(150), []); // a draft
        assert_eq!(at(200), [(1, false)]);
        assert_eq!(at(299), [(1, false)]);
        assert_eq!(at(300), [(2, false)]);
        assert_eq!(at(450), []); // paused
        assert_eq!(at(550), [(3, true)]); // in shadow
        assert_eq!(at(10_000), []); // archived
        assert!(book.in_force("scan", 250).is_empty());
    }

    #[test]
    fn a_scenario_puts_given_rules_in_force_throughout() {
        let live = book();
        let (_, draft) = version(0, "9");
        let with = live.scenario(vec![Arc::clone(&draft)], false);
        // r1 is replaced: the draft is in force even where r1 was paused.
        let versions = |b: &RuleBook, at| {
            b.in_force("purchase", at)
                .iter()
                .map(|f| f.rule.version)
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&with, 450), [0]);
        assert_eq!(versions(&with, i64::MIN + 1), [0]);
        let mut other = RuleSpec::purchase("", "1");
        other.name = "other".into();
        let other = Arc::new(other.compile("r2", 0, Strictness::New).unwrap());
        let both = live.scenario(vec![other], false);
        assert_eq!(versions(&both, 250), [1, 0]);
        let alone = live.scenario(vec![draft], true);
        assert_eq!(alone.rules.len(), 1);
    }
}
