//! The redemption flow against a real store and an in-memory ledger and identity: after
//! any refusal the wallet and the stock end exactly as they were.

use async_trait::async_trait;
use questline_kit::DomainError;
use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::domain::redemption::hold_key;
use crate::domain::reward::VoucherSource;
use crate::store::tests::{change, kind, redeem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Pending,
    Committed,
    Voided,
}

/// One member wallet with holds, keyed like the real ledger.
#[derive(Default)]
struct Wallet {
    total: i64,
    held: i64,
    holds: HashMap<String, (String, i64, HoldState)>,
    hold_outages: usize,
    commit_outages: usize,
}

#[derive(Default)]
struct FakeLedger {
    wallet: Mutex<Wallet>,
}

impl FakeLedger {
    fn funded(total: i64) -> Arc<FakeLedger> {
        let ledger = FakeLedger::default();
        ledger.lock().total = total;
        Arc::new(ledger)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wallet> {
        self.wallet.lock().expect("wallet lock")
    }

    /// (total, held) of the wallet.
    fn figures(&self) -> (i64, i64) {
        let w = self.lock();
        (w.total, w.held)
    }
}

fn find<'a>(
    w: &'a mut Wallet,
    hold_id: &str,
) -> Result<&'a mut (String, i64, HoldState), DomainError> {
    w.holds
        .values_mut()
        .find(|h| h.0 == hold_id)
        .ok_or_else(|| DomainError::NotFound(format!("hold {hold_id} not found")))
}

/// Ends a pending hold as `to`, like the ledger: ending it the same way
/// again changes nothing, ending it the other way is refused.
fn end(w: &mut Wallet, hold_id: &str, to: HoldState) -> Result<(), DomainError> {
    let hold = find(w, hold_id)?;
    let (amount, state) = (hold.1, hold.2);
    match state {
        HoldState::Pending => hold.2 = to,
        done if done == to => return Ok(()),
        HoldState::Committed => {
            return Err(DomainError::precondition(
                "HOLD_NOT_PENDING",
                "hold",
                "committed",
            ));
        }
        HoldState::Voided => {
            return Err(DomainError::precondition(
                "HOLD_NOT_PENDING",
                "hold",
                "voided",
            ));
        }
    }
    w.held -= amount;
    if to == HoldState::Committed {
        w.total -= amount;
    }
    Ok(())
}

#[async_trait]
impl Points for FakeLedger {
    async fn hold(&self, _token: &str, r: &redemption::Model) -> Result<String, DomainError> {
        let mut w = self.lock();
        if w.hold_outages > 0 {
            w.hold_outages -= 1;
            return Err(DomainError::Unavailable("ledger unreachable".into()));
        }
        let key = hold_key(&r.redemption_id);
        if let Some((id, _, _)) = w.holds.get(&key) {
            return Ok(id.clone());
        }
        if w.total - w.held < r.price {
            return Err(DomainError::precondition(
                "INSUFFICIENT_FUNDS",
                "member:m1",
                "not enough stars available",
            ));
        }
        w.held += r.price;
        let id = format!("hold-{}", w.holds.len() + 1);
        w.holds
            .insert(key, (id.clone(), r.price, HoldState::Pending));
        Ok(id)
    }

    async fn commit(
        &self,
        _token: &str,
        _tenant_id: &str,
        hold_id: &str,
    ) -> Result<(), DomainError> {
        let mut w = self.lock();
        if w.commit_outages > 0 {
            w.commit_outages -= 1;
            return Err(DomainError::Unavailable("ledger unreachable".into()));
        }
        end(&mut w, hold_id, HoldState::Committed)
    }

    async fn void(&self, _token: &str, _tenant_id: &str, hold_id: &str) -> Result<(), DomainError> {
        end(&mut self.lock(), hold_id, HoldState::Voided)
    }
}

struct Setup {
    redemptions: Redemptions,
    store: Store,
    ledger: Arc<FakeLedger>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// The redemption `redemption_id` of `acme` as stored, if any.
    async fn stored(&self, redemption_id: &str) -> Option<redemption::Model> {
        self.store
            .redemption("acme", redemption_id)
            .await
            .expect("read")
    }
}

async fn setup(balance: i64, source: VoucherSource) -> Setup {
    let (store, dir) = Store::with_reward("pizza", 5, source).await;
    let ledger = FakeLedger::funded(balance);
    let members = store.directory(&["m1"]).await;
    let redemptions = Redemptions::new(store.clone(), ledger.clone(), members);
    Setup {
        redemptions,
        store,
        ledger,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_redemption_spends_the_price_takes_a_unit_and_issues_a_code() {
    let s = setup(50, VoucherSource::Generated).await;
    let done = s
        .redemptions
        .redeem("token", &redeem("r1", "pizza"))
        .await
        .expect("redeemed");
    assert_eq!(done.status, "completed");
    assert!(
        done.voucher_code
            .as_deref()
            .is_some_and(|c| c.starts_with("QL-"))
    );
    assert_eq!(s.ledger.figures(), (30, 0));
    assert_eq!(s.store.stock("acme", "pizza").await, 4);

    let replay = s
        .redemptions
        .redeem("token", &redeem("r1", "pizza"))
        .await
        .expect("replayed");
    assert_eq!(replay.voucher_code, done.voucher_code);
    assert_eq!(s.ledger.figures(), (30, 0));
    assert_eq!(s.store.staged().await.len(), 1);
}

#[tokio::test]
async fn too_few_points_leave_wallet_and_stock_as_they_were() {
    let s = setup(10, VoucherSource::Generated).await;
    let refused = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    assert_eq!(
        kind(refused.expect_err("insufficient")),
        "INSUFFICIENT_FUNDS"
    );
    assert_eq!(s.ledger.figures(), (10, 0));
    assert_eq!(s.store.stock("acme", "pizza").await, 5);

    let replay = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    let err = replay.expect_err("the same failure");
    assert_eq!(
        err,
        DomainError::precondition(
            "INSUFFICIENT_FUNDS",
            "member:m1",
            "not enough stars available"
        )
    );
    assert!(s.store.staged().await.is_empty());
}

#[tokio::test]
async fn an_empty_pool_voids_the_hold_and_gives_the_unit_back() {
    let s = setup(50, VoucherSource::Pool).await;
    let refused = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    assert_eq!(kind(refused.expect_err("no codes")), "NO_VOUCHER_CODES");
    assert_eq!(s.ledger.figures(), (50, 0));
    assert_eq!(s.store.stock("acme", "pizza").await, 5);
    let row = s.stored("r1").await.expect("r1");
    assert_eq!(
        (row.status.as_str(), row.failure_kind.as_deref()),
        ("failed", Some("NO_VOUCHER_CODES"))
    );
}

#[tokio::test]
async fn a_pool_redemption_hands_out_an_uploaded_code() {
    let s = setup(50, VoucherSource::Pool).await;
    s.store
        .add_voucher_codes("acme", "pizza", &["PZ-1".to_string()], &change())
        .await
        .expect("uploaded");
    let done = s
        .redemptions
        .redeem("token", &redeem("r1", "pizza"))
        .await
        .expect("redeemed");
    assert_eq!(done.voucher_code.as_deref(), Some("PZ-1"));
    assert_eq!(
        s.store
            .reward("acme", "pizza")
            .await
            .expect("reward")
            .codes_available,
        0
    );
}

#[tokio::test]
async fn an_outage_at_commit_leaves_it_pending_until_a_replay_finishes_it() {
    let s = setup(50, VoucherSource::Generated).await;
    s.ledger.lock().commit_outages = 1;
    let outage = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    assert!(matches!(outage, Err(DomainError::Unavailable(_))));
    let pending = s.stored("r1").await.expect("r1");
    assert_eq!(
        (pending.status.as_str(), pending.step.as_str()),
        ("pending", "issued")
    );
    assert_eq!(s.ledger.figures(), (50, 20));

    let done = s
        .redemptions
        .redeem("token", &redeem("r1", "pizza"))
        .await
        .expect("resumed");
    assert_eq!(done.status, "completed");
    assert_eq!(done.voucher_code, pending.voucher_code);
    assert_eq!(s.ledger.figures(), (30, 0));
    assert_eq!(s.store.stock("acme", "pizza").await, 4);
    assert_eq!(s.store.staged().await.len(), 1);
}

#[tokio::test]
async fn a_redemption_id_reused_for_another_request_is_refused() {
    let s = setup(50, VoucherSource::Generated).await;
    s.redemptions
        .redeem("token", &redeem("r1", "pizza"))
        .await
        .expect("redeemed");
    let other = Redeem {
        fingerprint: "another request".into(),
        ..redeem("r1", "pizza")
    };
    assert!(matches!(
        s.redemptions.redeem("token", &other).await,
        Err(DomainError::AlreadyExists(_))
    ));
}

#[tokio::test]
async fn a_member_identity_cannot_vouch_for_reserves_nothing() {
    let s = setup(100, VoucherSource::Generated).await;
    let stranger = Redeem {
        member_id: "m2".into(),
        ..redeem("r1", "pizza")
    };
    assert!(s.redemptions.redeem("token", &stranger).await.is_err());
    assert_eq!(s.store.stock("acme", "pizza").await, 5);
    assert!(s.stored("r1").await.is_none());
}

#[tokio::test]
async fn an_abandoned_redemption_is_undone_once_its_hold_has_surely_expired() {
    let s = setup(50, VoucherSource::Generated).await;
    s.ledger.lock().hold_outages = 1;
    let outage = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    assert!(matches!(outage, Err(DomainError::Unavailable(_))));
    assert_eq!(
        s.store.stock("acme", "pizza").await,
        4,
        "the unit is reserved"
    );

    let now = questline_kit::time::now_ms();
    assert_eq!(
        s.redemptions.settle_abandoned(now).await.expect("swept"),
        0,
        "too recent"
    );
    let later = now + steps::ABANDONED_AFTER_MS + 1;
    assert_eq!(
        s.redemptions.settle_abandoned(later).await.expect("swept"),
        1
    );
    assert_eq!(
        s.redemptions.settle_abandoned(later).await.expect("swept"),
        0,
        "once"
    );
    assert_eq!(s.store.stock("acme", "pizza").await, 5, "the unit is back");
    assert_eq!(s.ledger.figures(), (50, 0));

    let replay = s.redemptions.redeem("token", &redeem("r1", "pizza")).await;
    assert_eq!(kind(replay.expect_err("abandoned")), "REDEMPTION_ABANDONED");
}
