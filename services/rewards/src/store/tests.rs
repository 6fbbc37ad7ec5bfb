//! The store on a real SQLite file: stock and pool codes move atomically and
//! exactly once, however often a step is replayed.

use questline_kit::DomainError;
use questline_kit::bus::{EventBus, EventHandler, MemoryBus};
use questline_kit::members::MemberDirectory;
use questline_proto::events::{Event, MemberUpserted, event::Payload};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;

use super::entities::redemption;
use super::migrations::Migrator;
use super::{Store, outbox};
use crate::domain::redemption::{Redeem, Status};
use crate::domain::reward::{NewReward, VoucherSource};
use crate::domain::steps::{Failure, Step, undo};
use crate::events;

impl Store {
    /// A store on a fresh SQLite file, deleted with the returned directory.
    pub(crate) async fn temporary() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rewards.db").display()
        );
        let db = questline_kit::db::connect::<Migrator>(&url)
            .await
            .expect("a migrated database");
        let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
        let relay = outbox::Relay::new(db.clone(), bus, "rewards");
        (Store::new(db, relay), dir)
    }

    /// A fresh store with one reward of `acme` on its catalogue.
    pub(crate) async fn with_reward(
        reward_id: &str,
        stock: i64,
        source: VoucherSource,
    ) -> (Store, tempfile::TempDir) {
        let (store, dir) = Store::temporary().await;
        store
            .create_reward(&new_reward(reward_id, stock, source), &change())
            .await
            .expect("created");
        (store, dir)
    }

    /// Every domain event staged in the outbox so far (audit entries aside).
    pub(crate) async fn staged(&self) -> Vec<Event> {
        outbox::entity::Entity::find()
            .filter(outbox::entity::Column::EventType.ne("audit.recorded"))
            .all(&self.db)
            .await
            .expect("the outbox")
            .iter()
            .map(|row| questline_kit::events::decode(&row.payload).expect("an event"))
            .collect()
    }

    /// The member directory on this store's database, knowing `members` of
    /// `acme`; identity itself is unreachable.
    pub(crate) async fn directory(&self, members: &[&str]) -> MemberDirectory {
        let identity = questline_kit::client::channel("http://127.0.0.1:1").expect("a channel");
        let directory = MemberDirectory::new(self.db.clone(), identity, events::CONSUMER);
        for member_id in members {
            let upserted = Payload::MemberUpserted(MemberUpserted {
                member_id: member_id.to_string(),
                external_id: format!("crm-{member_id}"),
                facts: None,
            });
            let event = questline_kit::events::new_event("acme", "identity", member_id, upserted);
            directory.handle(&event).await.expect("a member event");
        }
        directory
    }

    pub(crate) async fn stock(&self, tenant_id: &str, reward_id: &str) -> i64 {
        self.reward(tenant_id, reward_id)
            .await
            .expect("a reward")
            .reward
            .stock
    }
}

pub(crate) fn new_reward(reward_id: &str, stock: i64, source: VoucherSource) -> NewReward {
    NewReward {
        tenant_id: "acme".into(),
        reward_id: reward_id.into(),
        name: format!("Reward {reward_id}"),
        currency: "stars".into(),
        price: 20,
        stock,
        voucher_source: source,
        fingerprint: format!("{reward_id}-{stock}-{}", source.as_str()),
    }
}

pub(crate) fn redeem(redemption_id: &str, reward_id: &str) -> Redeem {
    Redeem {
        tenant_id: "acme".into(),
        redemption_id: redemption_id.into(),
        member_id: "m1".into(),
        reward_id: reward_id.into(),
        fingerprint: format!("{redemption_id}-{reward_id}"),
    }
}

fn failure(kind: &str) -> Failure {
    Failure {
        kind: kind.into(),
        subject: "member:m1".into(),
        message: "refused".into(),
    }
}

fn codes(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| c.to_string()).collect()
}

/// Runs a redemption through the hold and the voucher, as the flow would.
async fn issued(
    store: &Store,
    redemption_id: &str,
    reward_id: &str,
) -> Result<redemption::Model, DomainError> {
    let row = store
        .start_redemption(&redeem(redemption_id, reward_id))
        .await?;
    let row = store
        .record_hold(&row, &format!("hold-{redemption_id}"))
        .await?;
    store.issue_voucher(&row).await
}

pub(crate) fn kind(err: DomainError) -> &'static str {
    match err {
        DomainError::FailedPrecondition { kind, .. } => kind,
        other => panic!("expected a failed precondition, got {other:?}"),
    }
}

#[tokio::test]
async fn stock_is_reserved_once_per_redemption_and_given_back_once() {
    let (store, _dir) = Store::with_reward("pastry", 1, VoucherSource::Generated).await;

    let first = store
        .start_redemption(&redeem("r1", "pastry"))
        .await
        .expect("reserved");
    assert_eq!(
        (first.status.as_str(), first.step.as_str()),
        ("pending", "stock_reserved")
    );
    assert_eq!(store.stock("acme", "pastry").await, 0);

    let replay = store
        .start_redemption(&redeem("r1", "pastry"))
        .await
        .expect("replayed");
    assert_eq!(replay, first);
    assert_eq!(store.stock("acme", "pastry").await, 0);

    let sold_out = store.start_redemption(&redeem("r2", "pastry")).await;
    assert_eq!(kind(sold_out.expect_err("no stock left")), "OUT_OF_STOCK");

    let failed = store
        .fail(
            &first,
            &failure("INSUFFICIENT_FUNDS"),
            undo(Step::StockReserved),
        )
        .await
        .expect("failed");
    assert_eq!(failed.status, Status::Failed.as_str());
    assert_eq!(failed.failure_kind.as_deref(), Some("INSUFFICIENT_FUNDS"));
    assert_eq!(store.stock("acme", "pastry").await, 1);

    store
        .fail(
            &first,
            &failure("INSUFFICIENT_FUNDS"),
            undo(Step::StockReserved),
        )
        .await
        .expect("failed again");
    assert_eq!(store.stock("acme", "pastry").await, 1);
}

#[tokio::test]
async fn concurrent_redemptions_never_oversell() {
    let (store, _dir) = Store::with_reward("pizza", 3, VoucherSource::Generated).await;
    let attempts = (0..10).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .start_redemption(&redeem(&format!("r{i}"), "pizza"))
                .await
        })
    });
    let mut reserved = 0;
    for attempt in attempts {
        match attempt.await.expect("joined") {
            Ok(_) => reserved += 1,
            Err(err) => assert_eq!(kind(err), "OUT_OF_STOCK"),
        }
    }
    assert_eq!(reserved, 3);
    assert_eq!(store.stock("acme", "pizza").await, 0);
}

#[tokio::test]
async fn pool_codes_are_assigned_once_and_come_back_on_failure() {
    let (store, _dir) = Store::with_reward("pizza", 10, VoucherSource::Pool).await;

    let upload = store
        .add_voucher_codes("acme", "pizza", &codes(&["A", "B"]), &change())
        .await
        .expect("uploaded");
    assert_eq!((upload.added, upload.codes_available), (2, 2));
    let upload = store
        .add_voucher_codes("acme", "pizza", &codes(&["B", "C"]), &change())
        .await
        .expect("uploaded");
    assert_eq!((upload.added, upload.codes_available), (1, 3));

    let r1 = issued(&store, "r1", "pizza").await.expect("issued");
    let r2 = issued(&store, "r2", "pizza").await.expect("issued");
    let r3 = issued(&store, "r3", "pizza").await.expect("issued");
    let mut given: Vec<_> = [&r1, &r2, &r3]
        .iter()
        .filter_map(|r| r.voucher_code.clone())
        .collect();
    given.sort();
    assert_eq!(given, ["A", "B", "C"]);

    // Issuing again from the stale row hands out nothing new.
    let held_r1 = redemption::Model {
        step: Step::Held.as_str().into(),
        voucher_code: None,
        ..r1.clone()
    };
    assert_eq!(store.issue_voucher(&held_r1).await.expect("replayed"), r1);

    let empty = issued(&store, "r4", "pizza").await;
    assert_eq!(kind(empty.expect_err("pool is empty")), "NO_VOUCHER_CODES");
    assert_eq!(
        store
            .reward("acme", "pizza")
            .await
            .expect("reward")
            .codes_available,
        0
    );

    let failed = store
        .fail(&r2, &failure("HOLD_EXPIRED"), undo(Step::Issued))
        .await
        .expect("failed");
    assert_eq!(failed.voucher_code, None);
    let listing = store.reward("acme", "pizza").await.expect("reward");
    assert_eq!(
        (listing.codes_available, listing.reward.stock),
        (1, 10 - 4 + 1)
    );

    let r4 = store
        .redemption("acme", "r4")
        .await
        .expect("read")
        .expect("r4");
    let again = store
        .issue_voucher(&r4)
        .await
        .expect("issued from the returned code");
    assert_eq!(again.voucher_code, r2.voucher_code);
}

#[tokio::test]
async fn completing_stages_one_event_however_often_it_is_replayed() {
    let (store, _dir) = Store::with_reward("pastry", 5, VoucherSource::Generated).await;
    let row = issued(&store, "r1", "pastry").await.expect("issued");
    let code = row.voucher_code.clone().expect("a generated code");
    assert!(code.starts_with("QL-") && code.len() == 17, "{code}");

    let done = store.complete(&row).await.expect("completed");
    assert_eq!(done.status, Status::Completed.as_str());
    store.complete(&row).await.expect("completed again");

    let events = store.staged().await;
    assert_eq!(events.len(), 1);
    let Some(Payload::RewardRedeemed(e)) = &events[0].payload else {
        panic!("expected reward.redeemed, got {:?}", events[0])
    };
    assert_eq!(
        (e.voucher_code.as_str(), e.price, e.reward_name.as_str()),
        (code.as_str(), 20, "Reward pastry")
    );
    assert_eq!(events[0].subject, "m1");
}

#[tokio::test]
async fn rewards_are_idempotent_by_id_and_scoped_by_tenant() {
    let (store, _dir) = Store::temporary().await;
    let pastry = new_reward("pastry", 5, VoucherSource::Pool);
    let first = store
        .create_reward(&pastry, &change())
        .await
        .expect("created");
    let again = store
        .create_reward(&pastry, &change())
        .await
        .expect("replayed");
    assert_eq!(again.reward, first.reward);

    let other = NewReward {
        fingerprint: "other".into(),
        ..pastry.clone()
    };
    assert!(matches!(
        store.create_reward(&other, &change()).await,
        Err(DomainError::AlreadyExists(_))
    ));

    assert!(matches!(
        store.reward("globex", "pastry").await,
        Err(DomainError::NotFound(_))
    ));
    let elsewhere = Redeem {
        tenant_id: "globex".into(),
        ..redeem("r1", "pastry")
    };
    assert!(matches!(
        store.start_redemption(&elsewhere).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(
        store
            .add_voucher_codes("globex", "pastry", &codes(&["A"]), &change())
            .await,
        Err(DomainError::NotFound(_))
    ));
}

#[tokio::test]
async fn generated_rewards_take_no_uploads() {
    let (store, _dir) = Store::with_reward("pastry", 5, VoucherSource::Generated).await;
    let refused = store
        .add_voucher_codes("acme", "pastry", &codes(&["A"]), &change())
        .await;
    assert_eq!(kind(refused.expect_err("not a pool")), "NOT_A_POOL_REWARD");
}

/// The audit entry store calls need; its content is not under test here.
pub(crate) fn change() -> questline_kit::audit::Change {
    questline_kit::audit::Change::new("acme", "test-admin", "test/Change".into(), "test".into())
}
