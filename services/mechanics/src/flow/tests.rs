//! The Track flow against a real SQLite store and an in-memory ledger: an
//! award is recorded before its credit, and however often an event is
//! replayed, each award is credited exactly once.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::audit::Change;
use questline_kit::bus::{EventBus, EventHandler, MemoryBus};
use questline_kit::members::MemberDirectory;
use questline_kit::outbox;
use questline_proto::events::{Event, MemberErased, MemberUpserted, event::Payload};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::*;
use crate::domain::rules::{Action, Budget, Period, RuleSpec, RuleStatus};
use crate::domain::track::{Traits, award_key};
use crate::store::entities::award;
use crate::store::migrations::Migrator;

/// The ledger's credits, keyed like the real ledger: one transfer per key.
#[derive(Default)]
struct Credits {
    transfers: HashMap<String, String>,
    calls: usize,
    outages: usize,
    /// Whether each credit found its award already recorded, pending.
    recorded_first: Vec<bool>,
}

struct FakeLedger {
    store: Store,
    credits: Mutex<Credits>,
}

impl FakeLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Credits> {
        self.credits.lock().expect("credits lock")
    }

    /// (calls, distinct transfers) so far.
    fn counts(&self) -> (usize, usize) {
        let c = self.lock();
        (c.calls, c.transfers.len())
    }
}

#[async_trait]
impl Points for FakeLedger {
    async fn credit(&self, _token: &str, a: &award::Model) -> Result<String, DomainError> {
        let stored = self.store.tracked(&a.tenant_id, &a.event_id).await?;
        let recorded = stored.is_some_and(|t| {
            t.event.status == EventStatus::Pending.as_str()
                && t.awards
                    .iter()
                    .any(|s| s.rule_id == a.rule_id && s.transfer_id.is_none())
        });
        let mut c = self.lock();
        c.calls += 1;
        c.recorded_first.push(recorded);
        if c.outages > 0 {
            c.outages -= 1;
            return Err(DomainError::Unavailable("ledger unreachable".into()));
        }
        let next = format!("t-{}", c.transfers.len() + 1);
        let key = award_key(&a.event_id, &a.rule_id);
        Ok(c.transfers.entry(key).or_insert(next).clone())
    }
}

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Setup {
    tracker: Tracker,
    store: Store,
    ledger: Arc<FakeLedger>,
    _dir: TempDir,
}

/// A store on a fresh SQLite file with one rule, `purchase` → amount / 10
/// stars, and a directory that knows member m1 and has seen m9 erased.
async fn setup() -> Setup {
    let dir =
        TempDir(std::env::temp_dir().join(format!("mechanics-flow-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).expect("a temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.0.join("mechanics.db").display());
    let db = questline_kit::db::connect::<Migrator>(&url)
        .await
        .expect("a migrated database");
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let relay = outbox::Relay::new(db.clone(), bus, "mechanics");
    let store = Store::new(db.clone(), &url, relay).expect("a store");
    let identity = questline_kit::client::channel("http://127.0.0.1:1").expect("a channel");
    let members = MemberDirectory::new(db, identity, crate::events::CONSUMER);
    member_event(
        &members,
        "m1",
        Payload::MemberUpserted(MemberUpserted {
            member_id: "m1".into(),
            external_id: "crm-m1".into(),
            facts: None,
        }),
    )
    .await;
    member_event(
        &members,
        "m9",
        Payload::MemberErased(MemberErased {
            member_id: "m9".into(),
        }),
    )
    .await;
    let spec = RuleSpec::purchase("event.amount > 0.0", "event.amount / 10.0");
    store
        .create_rule("acme", "r1", &spec, RuleStatus::Active, &change())
        .await
        .expect("a rule");
    let ledger = Arc::new(FakeLedger {
        store: store.clone(),
        credits: Mutex::default(),
    });
    let tracker = Tracker::new(store.clone(), members, ledger.clone()).expect("a tracker");
    Setup {
        tracker,
        store,
        ledger,
        _dir: dir,
    }
}

impl Setup {
    async fn track(&self, t: &Track) -> Result<Tracked, DomainError> {
        self.tracker.track("token", t).await
    }
}

async fn member_event(members: &MemberDirectory, member_id: &str, payload: Payload) {
    let event: Event = questline_kit::events::new_event("acme", "identity", member_id, payload);
    members.handle(&event).await.expect("a member event");
}

fn change() -> Change {
    Change::new(
        "acme",
        "test-admin",
        "test/CreateRule".into(),
        "rules/r1".into(),
    )
}

fn purchase(event_id: &str, member_id: &str, amount: f64) -> Track {
    let mut attributes = serde_json::Map::new();
    attributes.insert("amount".into(), amount.into());
    Track {
        tenant_id: "acme".into(),
        event_id: event_id.into(),
        member_id: member_id.into(),
        external_id: String::new(),
        event_type: "purchase".into(),
        attributes,
        occurred_at: None,
        fingerprint: format!("{event_id}-{member_id}-{amount}"),
    }
}

/// (rule, points, transfer) of each award, and the event's status.
fn summary(t: &Tracked) -> (Vec<(String, i64, Option<String>)>, String) {
    let awards = t
        .awards
        .iter()
        .map(|a| (a.rule_id.clone(), a.points, a.transfer_id.clone()))
        .collect();
    (awards, t.event.status.clone())
}

async fn stored(store: &Store, event_id: &str) -> Option<Tracked> {
    store.tracked("acme", event_id).await.expect("a read")
}

/// The event once its marks have landed (Track answers before them).
async fn marked(store: &Store, event_id: &str) -> Tracked {
    for _ in 0..500 {
        match stored(store, event_id).await {
            Some(t) if t.event.status == "applied" => return t,
            _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    panic!("{event_id} was not marked applied within 5 s");
}

#[tokio::test]
async fn an_award_is_recorded_then_credited() {
    let s = setup().await;
    let tracked = s
        .track(&purchase("e1", "m1", 125.0))
        .await
        .expect("tracked");
    let applied = (
        vec![("r1".to_string(), 12, Some("t-1".to_string()))],
        "applied".to_string(),
    );
    assert_eq!(summary(&tracked), applied);
    assert_eq!(s.ledger.lock().recorded_first, [true]);
    assert_eq!(s.ledger.counts(), (1, 1));
    let row = marked(&s.store, "e1").await;
    assert_eq!(summary(&row), applied);
}

#[tokio::test]
async fn a_ledger_outage_leaves_the_award_pending_and_a_replay_credits_it_once() {
    let s = setup().await;
    s.ledger.lock().outages = 1;
    let event = purchase("e1", "m1", 125.0);
    let failed = s.track(&event).await;
    assert!(
        matches!(failed, Err(DomainError::Unavailable(_))),
        "{failed:?}"
    );
    let pending = stored(&s.store, "e1").await.expect("recorded");
    assert_eq!(
        summary(&pending),
        (vec![("r1".to_string(), 12, None)], "pending".to_string())
    );

    let resumed = s.track(&event).await.expect("resumed");
    assert_eq!(resumed.awards[0].transfer_id.as_deref(), Some("t-1"));
    assert_eq!(resumed.event.status, "applied");
    assert_eq!(s.ledger.counts(), (2, 1));

    marked(&s.store, "e1").await;
    s.track(&event).await.expect("replayed");
    assert_eq!(s.ledger.counts(), (2, 1));
    assert_eq!(s.ledger.lock().recorded_first, [true, true]);
}

#[tokio::test]
async fn a_replay_of_a_finished_event_answers_the_first_answer_without_the_ledger() {
    let s = setup().await;
    let event = purchase("e1", "m1", 125.0);
    let first = s.track(&event).await.expect("tracked");
    marked(&s.store, "e1").await;
    s.ledger.lock().outages = usize::MAX;
    let replay = s.track(&event).await.expect("replayed");
    assert_eq!(replay, first);
    assert_eq!(s.ledger.counts(), (1, 1));
}

#[tokio::test]
async fn a_replay_before_the_marks_land_gets_the_same_transfer_from_the_ledger() {
    let s = setup().await;
    let event = purchase("e1", "m1", 125.0);
    let first = s.track(&event).await.expect("tracked");
    // Within the marks' gather the event is still pending: the replay
    // credits again under the same key and answers as the first time.
    let replay = s.track(&event).await.expect("replayed");
    assert_eq!(summary(&replay), summary(&first));
    assert_eq!(s.ledger.counts().1, 1);
    assert_eq!(summary(&marked(&s.store, "e1").await), summary(&first));
}

#[tokio::test]
async fn the_same_event_id_with_another_request_is_refused() {
    let s = setup().await;
    s.track(&purchase("e1", "m1", 125.0))
        .await
        .expect("tracked");
    let reused = s.track(&purchase("e1", "m1", 500.0)).await;
    assert!(
        matches!(reused, Err(DomainError::AlreadyExists(_))),
        "{reused:?}"
    );
    assert_eq!(s.ledger.counts(), (1, 1));
}

#[tokio::test]
async fn an_event_no_rule_matches_writes_no_award() {
    let s = setup().await;
    let unmatched = s.track(&purchase("e1", "m1", 0.0)).await.expect("tracked");
    assert_eq!(summary(&unmatched), (vec![], "applied".to_string()));
    let mut other_type = purchase("e2", "m1", 125.0);
    other_type.event_type = "signup".into();
    let untyped = s.track(&other_type).await.expect("tracked");
    assert!(untyped.awards.is_empty());
    for event_id in ["e1", "e2"] {
        let row = stored(&s.store, event_id).await.expect("recorded");
        assert!(row.awards.is_empty());
    }
    assert_eq!(s.ledger.counts(), (0, 0));
}

#[tokio::test]
async fn an_erased_member_is_not_found_and_nothing_is_recorded() {
    let s = setup().await;
    let refused = s.track(&purchase("e1", "m9", 125.0)).await;
    assert!(
        matches!(refused, Err(DomainError::NotFound(_))),
        "{refused:?}"
    );
    assert!(stored(&s.store, "e1").await.is_none());
    assert_eq!(s.ledger.counts(), (0, 0));
}

#[tokio::test]
async fn a_late_event_is_judged_by_the_version_in_force_when_it_happened() {
    let s = setup().await;
    let before = now_ms() - 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let doubled = RuleSpec::purchase("event.amount > 0.0", "event.amount / 5.0");
    let v2 = s
        .store
        .update_rule("acme", "r1", &doubled, Some(1), &change())
        .await
        .expect("version 2");
    assert_eq!(v2.version, 2);
    let stale = s
        .store
        .update_rule(
            "acme",
            "r1",
            &RuleSpec::purchase("", "1"),
            Some(1),
            &change(),
        )
        .await;
    assert!(matches!(stale, Err(DomainError::Aborted(_))), "{stale:?}");

    let now = s
        .track(&purchase("e-now", "m1", 100.0))
        .await
        .expect("tracked");
    let mut late = purchase("e-late", "m1", 100.0);
    late.occurred_at = Some(before);
    let late = s.track(&late).await.expect("tracked");
    let got = |t: &Tracked| (t.awards[0].points, t.awards[0].rule_version);
    assert_eq!(got(&now), (20, 2));
    assert_eq!(got(&late), (10, 1));
}

#[tokio::test]
async fn traits_set_by_one_event_are_read_by_the_next() {
    let s = setup().await;
    let mut tagger = RuleSpec::purchase("event.amount >= 100.0", "0");
    tagger.actions = vec![
        Action::AddTag {
            tag: "big-spender".into(),
        },
        Action::SetAttribute {
            name: "last_store".into(),
            value: "event.store".into(),
        },
    ];
    let mut loyal = RuleSpec::purchase(
        "'big-spender' in member.tags && member.attributes.last_store == 'orchard'",
        "7",
    );
    loyal.priority = -1;
    for (id, spec) in [("tagger", tagger), ("loyal", loyal)] {
        s.store
            .create_rule("acme", id, &spec, RuleStatus::Active, &change())
            .await
            .expect("a rule");
    }
    let mut first = purchase("e1", "m1", 150.0);
    first.attributes.insert("store".into(), "orchard".into());
    let first = s.track(&first).await.expect("tracked");
    let rules: Vec<_> = first.awards.iter().map(|a| a.rule_id.as_str()).collect();
    assert_eq!(rules, ["r1"]);
    let second = s.track(&purchase("e2", "m1", 20.0)).await.expect("tracked");
    let rules: Vec<_> = second
        .awards
        .iter()
        .map(|a| (a.rule_id.as_str(), a.points))
        .collect();
    assert_eq!(rules, [("loyal", 7), ("r1", 2)]);
}

#[tokio::test]
async fn a_budget_holds_under_concurrent_events() {
    let s = setup().await;
    s.store
        .set_rule_status("acme", "r1", RuleStatus::Archived, &change())
        .await
        .expect("archived");
    let mut promo = RuleSpec::purchase("", "3");
    promo.budget = Some(Budget {
        period: Period::Lifetime,
        limit: 100,
    });
    s.store
        .create_rule("acme", "promo", &promo, RuleStatus::Active, &change())
        .await
        .expect("a rule");
    let events: Vec<_> = (0..50)
        .map(|i| purchase(&format!("e{i}"), "m1", 1.0))
        .collect();
    let tracked =
        futures::future::join_all(events.iter().map(|e| s.tracker.track("token", e))).await;
    let total: i64 = tracked
        .iter()
        .map(|t| {
            t.as_ref()
                .expect("tracked")
                .awards
                .iter()
                .map(|a| a.points)
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, 100);
    // 33 awards of 3 and one cut to the last point.
    let cut = tracked
        .iter()
        .filter(|t| {
            t.as_ref()
                .is_ok_and(|t| t.awards.first().is_some_and(|a| a.points == 1))
        })
        .count();
    assert_eq!(cut, 1);
}

#[tokio::test]
async fn every_verdict_is_stored_for_explain() {
    let s = setup().await;
    let mut broken = RuleSpec::purchase("event.coupon > 1", "1");
    broken.priority = 5;
    s.store
        .create_rule("acme", "broken", &broken, RuleStatus::Active, &change())
        .await
        .expect("a rule");
    s.track(&purchase("e1", "m1", 125.0))
        .await
        .expect("tracked");
    let row = stored(&s.store, "e1").await.expect("recorded");
    let verdicts: Vec<crate::store::StoredVerdict> =
        serde_json::from_str(&row.event.verdicts).expect("verdicts");
    let got: Vec<_> = verdicts
        .iter()
        .map(|v| (v.rule_id.as_str(), v.verdict.name(), v.points.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("r1", "applied", Some(("stars".to_string(), 12))),
            ("broken", "error", None)
        ]
    );
    assert_eq!(row.event.attributes, r#"{"amount":125.0}"#);
}

#[tokio::test]
async fn an_erased_member_is_forgotten_but_their_events_are_not_awarded_again() {
    let s = setup().await;
    let mut tagger = RuleSpec::purchase("", "0");
    tagger.actions = vec![Action::SetAttribute {
        name: "last_store".into(),
        value: "event.store".into(),
    }];
    s.store
        .create_rule("acme", "tagger", &tagger, RuleStatus::Active, &change())
        .await
        .expect("a rule");
    let mut first = purchase("e1", "m1", 150.0);
    first.attributes.insert("store".into(), "orchard".into());
    s.track(&first).await.expect("tracked");
    assert!(
        !s.store
            .traits("acme", "m1")
            .await
            .unwrap()
            .attributes
            .is_empty()
    );

    s.store.forget("acme", "m1").await.expect("forgotten");
    assert_eq!(
        s.store.traits("acme", "m1").await.unwrap(),
        Traits::default()
    );
    let row = stored(&s.store, "e1")
        .await
        .expect("the event's id is kept");
    assert_eq!(
        (row.event.attributes.as_str(), row.event.verdicts.as_str()),
        ("{}", "[]")
    );
    assert_eq!(
        row.awards.len(),
        1,
        "the award stays, as the ledger's transfer does"
    );
}

#[tokio::test]
async fn events_past_retention_go_with_their_awards_and_newer_ones_stay() {
    let s = setup().await;
    let day = 24 * 60 * 60 * 1000;
    let mut old = purchase("e-old", "m1", 100.0);
    old.occurred_at = Some(now_ms() - 401 * day);
    s.track(&old).await.expect("tracked");
    s.track(&purchase("e-new", "m1", 100.0))
        .await
        .expect("tracked");
    let before = now_ms() - crate::store::RETENTION_DAYS * day;
    assert_eq!(s.store.prune_events(before, 10).await.unwrap(), 1);
    assert_eq!(s.store.prune_events(before, 10).await.unwrap(), 0);
    assert!(stored(&s.store, "e-old").await.is_none());
    assert_eq!(
        stored(&s.store, "e-new").await.expect("kept").awards.len(),
        1
    );
}
