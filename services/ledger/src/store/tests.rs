//! The ledger's invariants against a real SQLite database.

use super::*;
use crate::domain::book::{AccountKey, Command};
use crate::domain::currency::CurrencySpec;
use crate::domain::expiry::ExpiryPolicy;
use crate::domain::hold::HoldStatus;
use crate::domain::requests::{Header, HoldSpec, RawLeg, ReversalSpec, TransferSpec};
use crate::domain::{Figures, Owner};
use entities::{account, hold as hold_row, lot};
use questline_kit::bus::MemoryBus;
use questline_kit::fingerprint::Fields;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use std::sync::atomic::{AtomicI64, Ordering};

const DAY: i64 = 86_400_000;

struct Ledger {
    store: Store,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

impl Ledger {
    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

async fn ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let db = questline_kit::db::connect::<migrations::Migrator>(&url)
        .await
        .unwrap();
    let relay = outbox::Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])), "ledger");
    let clock = Arc::new(AtomicI64::new(1_700_000_000_000));
    let time = clock.clone();
    let store = Store::with_clock(
        db,
        &url,
        relay,
        Arc::new(move || time.load(Ordering::SeqCst)),
    )
    .unwrap();
    store
        .create_currency(
            "acme",
            &currency("stars", ExpiryPolicy::Never, false),
            &change(),
        )
        .await
        .unwrap();
    let days = ExpiryPolicy::DaysAfterEarn(30);
    store
        .create_currency("acme", &currency("miles", days, true), &change())
        .await
        .unwrap();
    Ledger {
        store,
        clock,
        _dir: dir,
    }
}

/// The member as the member read model holds it once identity announced
/// it (`erased`: once identity announced its erasure).
async fn signed_up(db: &sea_orm::DatabaseConnection, member: &str, erased: bool) {
    use questline_kit::members::entity::ActiveModel;
    use sea_orm::{ActiveModelTrait, Set};
    ActiveModel {
        tenant_id: Set("acme".into()),
        member_id: Set(member.into()),
        external_id: Set(String::new()),
        facts: Set("{}".into()),
        erased: Set(erased),
        as_of: Set(0),
    }
    .insert(db)
    .await
    .unwrap();
}

fn currency(code: &str, expiry: ExpiryPolicy, overdraw: bool) -> CurrencySpec {
    let mut spec = CurrencySpec::validate("acme", code, code, expiry, "", 0).unwrap();
    spec.reversals_may_overdraw = overdraw;
    spec
}

fn header(key: &str, print: String) -> Header<'_> {
    Header {
        tenant_id: "acme",
        reason: "test",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: print,
    }
}

/// A transfer of `(currency, from, to, amount)` legs under `key`.
fn transfer(key: &str, legs: &[(&str, &str, &str, i64)]) -> Command {
    let raw: Vec<RawLeg<'_>> = legs
        .iter()
        .map(|&(currency, debit, credit, amount)| RawLeg {
            currency,
            debit,
            credit,
            amount,
        })
        .collect();
    let print = Fields::new("Transfer")
        .field("legs", format!("{legs:?}"))
        .finish();
    Command::Transfer(TransferSpec::validate(header(key, print), &raw).unwrap())
}

fn credit(member: &str, amount: i64, key: &str) -> Command {
    transfer(
        key,
        &[(
            "stars",
            "system:issuance",
            &format!("member:{member}"),
            amount,
        )],
    )
}

fn debit(member: &str, amount: i64, key: &str) -> Command {
    transfer(
        key,
        &[(
            "stars",
            &format!("member:{member}"),
            "system:redemption",
            amount,
        )],
    )
}

fn hold(amount: i64, key: &str, ttl: i64) -> Command {
    let print = Fields::new("CreateHold")
        .field("amount", amount.to_string())
        .finish();
    Command::CreateHold(HoldSpec::validate(header(key, print), "m1", "stars", amount, ttl).unwrap())
}

fn reverse(transfer_id: &str, amount: i64, key: &str) -> Command {
    let print = Fields::new("Reverse")
        .field("amount", amount.to_string())
        .finish();
    Command::Reverse(ReversalSpec::validate(header(key, print), transfer_id, amount).unwrap())
}

fn commit(hold_id: &str, amount: Option<i64>) -> Command {
    Command::CommitHold {
        tenant_id: "acme".into(),
        hold_id: hold_id.into(),
        amount,
    }
}

fn void(hold_id: &str) -> Command {
    Command::VoidHold {
        tenant_id: "acme".into(),
        hold_id: hold_id.into(),
    }
}

fn kind(result: Result<impl std::fmt::Debug, DomainError>) -> &'static str {
    match result {
        Err(DomainError::FailedPrecondition { kind, .. }) => kind,
        Err(DomainError::NotFound(_)) => "NOT_FOUND",
        Err(DomainError::KeyReused { .. }) => "KEY_REUSED",
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn total(store: &Store, member: &str, code: &str) -> Figures {
    store
        .balances("acme", member, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.currency == code)
        .map(|w| w.figures)
        .unwrap_or_default()
}

/// m1's `(balance, held)` in `code` after a sweep.
async fn swept_wallet(store: &Store, code: &str) -> (i64, i64) {
    store.sweep_due().await.unwrap();
    let key = AccountKey::new("acme", code, Owner::Member("m1".into()));
    let wallet = store.account(&key).await.unwrap();
    (wallet.balance, wallet.held)
}

/// Double entry: each currency's balances sum to zero; a wallet's `held` is
/// exactly its pending holds and its lots hold exactly its positive balance.
async fn assert_books_balance(store: &Store) {
    let sums: Vec<(String, Option<i64>)> = account::Entity::find()
        .select_only()
        .column(account::Column::Currency)
        .column_as(Expr::col(account::Column::Balance).sum(), "total")
        .group_by(account::Column::Currency)
        .into_tuple()
        .all(&store.db)
        .await
        .unwrap();
    for (code, sum) in sums {
        assert_eq!(sum.unwrap_or(0), 0, "{code} balances do not sum to zero");
    }
    for wallet in account::Entity::find().all(&store.db).await.unwrap() {
        let pending: i64 = hold_row::Entity::find()
            .filter(hold_row::Column::AccountId.eq(wallet.account_id.as_str()))
            .filter(hold_row::Column::Status.eq(HoldStatus::Pending.as_str()))
            .all(&store.db)
            .await
            .unwrap()
            .iter()
            .map(|h| h.amount)
            .sum();
        assert_eq!(wallet.held, pending, "held drifted on {}", wallet.owner);
        if wallet.owner.starts_with("member:") {
            let lots: i64 = lot::Entity::find()
                .filter(lot::Column::AccountId.eq(wallet.account_id.as_str()))
                .all(&store.db)
                .await
                .unwrap()
                .iter()
                .map(|l| l.remaining)
                .sum();
            assert_eq!(
                lots,
                Ord::max(wallet.balance, 0),
                "lots drifted on {}",
                wallet.owner
            );
        }
        if !wallet.allow_negative && wallet.currency == "stars" {
            assert!(wallet.balance >= wallet.held, "{} overdrawn", wallet.owner);
        }
    }
}

#[tokio::test]
async fn a_currency_is_defined_once_and_keeps_its_policy() {
    let l = ledger().await;
    let again = l
        .store
        .create_currency(
            "acme",
            &currency("miles", ExpiryPolicy::DaysAfterEarn(30), true),
            &change(),
        )
        .await
        .unwrap();
    assert_eq!(again.expiry, "days:30");
    let other = currency("miles", ExpiryPolicy::DaysAfterEarn(30), false);
    let clash = l.store.create_currency("acme", &other, &change()).await;
    assert!(
        matches!(clash, Err(DomainError::AlreadyExists(_))),
        "{clash:?}"
    );
}

#[tokio::test]
async fn credits_and_debits_are_balanced_transfers_and_replays_are_free() {
    let l = ledger().await;
    let first = l.store.transfer(credit("m1", 100, "c1")).await.unwrap();
    let again = l.store.transfer(credit("m1", 100, "c1")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(again.wallet.total, 100);
    assert_eq!(
        kind(l.store.transfer(credit("m1", 99, "c1")).await),
        "KEY_REUSED"
    );
    l.store.transfer(debit("m1", 30, "d1")).await.unwrap();
    let refused = l.store.transfer(debit("m1", 71, "d2")).await;
    assert_eq!(kind(refused), "INSUFFICIENT_FUNDS");
    assert_eq!(total(&l.store, "m1", "stars").await.total, 70);
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn a_member_the_read_model_lacks_or_erased_gets_nothing_and_others_pass() {
    let l = ledger().await;
    signed_up(&l.store.db, "m1", false).await;
    signed_up(&l.store.db, "gone", true).await;
    let checked = |command| l.store.transfer_checking_members(command);
    let (unseen, erased, known) = tokio::join!(
        checked(credit("new", 10, "c-new")),
        checked(credit("gone", 10, "c-gone")),
        checked(credit("m1", 10, "c-m1")),
    );
    assert!(is_unseen(&unseen.unwrap_err()));
    assert!(
        matches!(erased, Err(DomainError::NotFound(_))),
        "{erased:?}"
    );
    assert_eq!(known.unwrap().wallet.total, 10);
    // A debit from, or a transfer to, such a member is refused the same way.
    let to_new = [("stars", "member:m1", "member:new", 5)];
    assert!(is_unseen(
        &checked(transfer("t-new", &to_new)).await.unwrap_err()
    ));
    assert_eq!(total(&l.store, "m1", "stars").await.total, 10);
    assert_eq!(total(&l.store, "new", "stars").await.total, 0);
    assert_eq!(total(&l.store, "gone", "stars").await.total, 0);
    // Once the read model holds the member, the same request goes through.
    signed_up(&l.store.db, "new", false).await;
    assert_eq!(
        checked(credit("new", 10, "c-new"))
            .await
            .unwrap()
            .wallet
            .total,
        10
    );
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn the_programme_figures_read_without_wallets_equal_the_totals() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 100, "c1")).await.unwrap();
    l.store.transfer(credit("m2", 50, "c2")).await.unwrap();
    l.store.transfer(debit("m1", 30, "d1")).await.unwrap();
    let cafe = AccountKey::new("acme", "stars", Owner::Partner("cafe".into()));
    l.store.open_account(cafe, false, change()).await.unwrap();
    let to_partner = [("stars", "member:m2", "partner:cafe", 5)];
    l.store.transfer(transfer("p1", &to_partner)).await.unwrap();
    let adjust = [("stars", "system:adjustments", "member:m1", 7)];
    l.store.transfer(transfer("a1", &adjust)).await.unwrap();
    let figures = l.store.programme_figures().await.unwrap();
    let totals = l.store.totals("acme", Some("stars")).await.unwrap();
    let stars = &figures[&("acme".to_string(), "stars".to_string())];
    assert_eq!(stars, &totals[0]);
    assert_eq!(
        (stars.issued, stars.burned, stars.adjusted, stars.partners),
        (150, 30, 7, 5)
    );
    assert_eq!(stars.outstanding, 150 - 30 + 7 - 5);
    // A currency that never moved a point has no figures yet.
    assert_eq!(figures.len(), 1);
}

#[tokio::test]
async fn a_multi_leg_transfer_moves_all_or_nothing() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 50, "c1")).await.unwrap();
    let cafe = AccountKey::new("acme", "stars", Owner::Partner("cafe".into()));
    l.store.open_account(cafe, false, change()).await.unwrap();
    // The second leg cannot be covered: the first must not move either.
    let greedy = transfer(
        "split",
        &[
            ("stars", "member:m1", "partner:cafe", 30),
            ("stars", "member:m1", "member:m2", 30),
        ],
    );
    assert_eq!(kind(l.store.transfer(greedy).await), "INSUFFICIENT_FUNDS");
    assert_eq!(total(&l.store, "m1", "stars").await.total, 50);
    assert!(l.store.balances("acme", "m2", 0).await.unwrap().is_empty());
    let split = transfer(
        "split-2",
        &[
            ("stars", "member:m1", "partner:cafe", 30),
            ("stars", "member:m1", "member:m2", 20),
        ],
    );
    let t = l.store.transfer(split).await.unwrap();
    assert_eq!(t.legs.len(), 2);
    assert_eq!(total(&l.store, "m2", "stars").await.total, 20);
    let cafe = l
        .store
        .account(&AccountKey::new(
            "acme",
            "stars",
            Owner::Partner("cafe".into()),
        ))
        .await
        .unwrap();
    assert_eq!(cafe.balance, 30);
    // A partner account nobody opened is not found; no transfer touches a closed one.
    let typo = transfer("typo", &[("stars", "partner:caffe", "member:m1", 1)]);
    assert_eq!(kind(l.store.transfer(typo).await), "NOT_FOUND");
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn an_empty_account_closes_and_then_takes_nothing() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 5, "c1")).await.unwrap();
    let key = AccountKey::new("acme", "stars", Owner::Member("m1".into()));
    assert_eq!(
        kind(l.store.close_account(key.clone(), change()).await),
        "ACCOUNT_NOT_EMPTY"
    );
    l.store.transfer(debit("m1", 5, "d1")).await.unwrap();
    let closed = l.store.close_account(key, change()).await.unwrap();
    assert!(closed.closed);
    assert_eq!(
        kind(l.store.transfer(credit("m1", 5, "c2")).await),
        "ACCOUNT_CLOSED"
    );
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn held_points_cannot_be_spent_and_a_partial_commit_releases_the_rest() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 50, "c1")).await.unwrap();
    let held = l.store.hold_command(hold(40, "h1", 300)).await.unwrap();
    let refused = l.store.transfer(debit("m1", 20, "d1")).await;
    assert_eq!(kind(refused), "INSUFFICIENT_FUNDS", "40 of 50 are held");
    let too_much = l.store.hold_command(commit(&held.hold_id, Some(41))).await;
    assert_eq!(kind(too_much), "HOLD_AMOUNT_EXCEEDED");
    let committed = l
        .store
        .hold_command(commit(&held.hold_id, Some(25)))
        .await
        .unwrap();
    assert_eq!(committed.committed_amount, 25);
    let again = l
        .store
        .hold_command(commit(&held.hold_id, None))
        .await
        .unwrap();
    assert_eq!(committed, again);
    assert_eq!(
        kind(l.store.hold_command(commit(&held.hold_id, Some(30))).await),
        "HOLD_NOT_PENDING"
    );
    assert_eq!(
        kind(l.store.hold_command(void(&held.hold_id)).await),
        "HOLD_NOT_PENDING"
    );
    let figures = total(&l.store, "m1", "stars").await;
    assert_eq!((figures.total, figures.held), (25, 0));
    let elsewhere = Command::CommitHold {
        tenant_id: "other".into(),
        hold_id: held.hold_id.clone(),
        amount: None,
    };
    assert_eq!(kind(l.store.hold_command(elsewhere).await), "NOT_FOUND");
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn a_hold_past_its_time_voids_itself() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 50, "c1")).await.unwrap();
    let voided = l.store.hold_command(hold(30, "h1", 300)).await.unwrap();
    l.store.hold_command(void(&voided.hold_id)).await.unwrap();
    assert_eq!(
        kind(l.store.hold_command(commit(&voided.hold_id, None)).await),
        "HOLD_NOT_PENDING"
    );
    let lapsing = l.store.hold_command(hold(50, "h2", 60)).await.unwrap();
    assert_eq!(total(&l.store, "m1", "stars").await.available(), 0);
    l.advance(61_000);
    assert_eq!(total(&l.store, "m1", "stars").await.available(), 50);
    assert_eq!(l.store.sweep_due().await.unwrap(), 1);
    let stored = l.store.hold("acme", &lapsing.hold_id).await.unwrap();
    assert_eq!(stored.status, crate::domain::hold::HoldStatus::Expired);
    let late = l.store.hold_command(commit(&lapsing.hold_id, None)).await;
    assert_eq!(kind(late), "HOLD_EXPIRED");
    l.store.transfer(debit("m1", 50, "d1")).await.unwrap();
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn debits_take_the_soonest_expiring_points_and_the_rest_expire_to_breakage() {
    let l = ledger().await;
    let miles = |member: &str, amount, key: &str| {
        transfer(
            key,
            &[(
                "miles",
                "system:issuance",
                &format!("member:{member}"),
                amount,
            )],
        )
    };
    l.store.transfer(miles("m1", 100, "early")).await.unwrap();
    l.advance(10 * DAY);
    l.store.transfer(miles("m1", 50, "late")).await.unwrap();
    let spend = transfer("spend", &[("miles", "member:m1", "system:redemption", 80)]);
    l.store.transfer(spend).await.unwrap();
    let view = &l.store.balances("acme", "m1", 25).await.unwrap()[0];
    assert_eq!(
        (view.figures.total, view.expiring),
        (70, 20),
        "20 of the early 100 expire in 20 days"
    );
    // Day 31: the early lot's 20 are past due; held points would wait.
    l.advance(21 * DAY);
    assert_eq!(
        total(&l.store, "m1", "miles").await.total,
        50,
        "already left out"
    );
    assert_eq!(l.store.sweep_due().await.unwrap(), 1);
    let totals = l.store.totals("acme", Some("miles")).await.unwrap();
    assert_eq!(
        (
            totals[0].issued,
            totals[0].burned,
            totals[0].expired,
            totals[0].outstanding
        ),
        (150, 80, 20, 50)
    );
    assert_eq!(l.store.sweep_due().await.unwrap(), 0, "nothing left due");
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn held_points_wait_for_their_hold_before_they_expire() {
    let l = ledger().await;
    let miles = transfer("m", &[("miles", "system:issuance", "member:m1", 40)]);
    l.store.transfer(miles).await.unwrap();
    l.advance(29 * DAY + DAY / 2);
    let print = Fields::new("CreateHold").finish();
    let spec = HoldSpec::validate(header("h", print), "m1", "miles", 30, 86_400).unwrap();
    let held = l
        .store
        .hold_command(Command::CreateHold(spec))
        .await
        .unwrap();
    // Two hours into day 31 (the miles expired at the end of day 30, a
    // local midnight nearly two hours after the earn's time of day): the
    // miles are due, the hold still pending.
    l.advance(DAY / 2 + DAY / 12);
    assert_eq!(
        swept_wallet(&l.store, "miles").await,
        (30, 30),
        "10 expired, 30 wait for the hold"
    );
    l.store
        .hold_command(commit(&held.hold_id, Some(20)))
        .await
        .unwrap();
    assert_eq!(
        swept_wallet(&l.store, "miles").await,
        (0, 0),
        "the 10 released expire too"
    );
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn a_reversal_never_moves_more_than_remains_and_follows_the_spent_points_policy() {
    let l = ledger().await;
    let earned = l.store.transfer(credit("m1", 100, "c1")).await.unwrap();
    let refund = l
        .store
        .transfer(reverse(&earned.transfer_id, 30, "r1"))
        .await
        .unwrap();
    assert_eq!(
        refund.reverses.as_deref(),
        Some(earned.transfer_id.as_str())
    );
    let too_much = l
        .store
        .transfer(reverse(&earned.transfer_id, 71, "r2"))
        .await;
    assert_eq!(kind(too_much), "REVERSAL_TOO_LARGE");
    l.store.transfer(debit("m1", 60, "d1")).await.unwrap();
    // 70 remain to reverse but only 10 are left: stars never overdraw.
    let spent = l
        .store
        .transfer(reverse(&earned.transfer_id, 0, "r3"))
        .await;
    assert_eq!(kind(spent), "POINTS_ALREADY_SPENT");
    let (_, reversed) = l
        .store
        .find_transfer("acme", TransferLookup::Id(&earned.transfer_id))
        .await
        .unwrap();
    assert_eq!(reversed, [30]);
    // Miles let a reversal overdraw; the next earn pays the debt first.
    let miles = transfer("m", &[("miles", "system:issuance", "member:m2", 40)]);
    let m = l.store.transfer(miles).await.unwrap();
    l.store
        .transfer(transfer(
            "ms",
            &[("miles", "member:m2", "system:redemption", 40)],
        ))
        .await
        .unwrap();
    l.store
        .transfer(reverse(&m.transfer_id, 0, "mr"))
        .await
        .unwrap();
    assert_eq!(total(&l.store, "m2", "miles").await.total, -40);
    let nothing_left = l.store.transfer(reverse(&m.transfer_id, 0, "mr2")).await;
    assert_eq!(kind(nothing_left), "NOTHING_TO_REVERSE");
    l.store
        .transfer(transfer(
            "m2",
            &[("miles", "system:issuance", "member:m2", 50)],
        ))
        .await
        .unwrap();
    assert_eq!(total(&l.store, "m2", "miles").await.total, 10);
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn concurrent_spends_never_overdraw() {
    let l = ledger().await;
    l.store.transfer(credit("m1", 100, "c1")).await.unwrap();
    let spends = (0..12).map(|i| {
        let store = l.store.clone();
        tokio::spawn(async move { store.transfer(debit("m1", 30, &format!("d{i}"))).await })
    });
    let mut spent = 0;
    for spend in spends {
        if spend.await.unwrap().is_ok() {
            spent += 1;
        }
    }
    assert_eq!(spent, 3);
    assert_eq!(total(&l.store, "m1", "stars").await.total, 10);
    assert_books_balance(&l.store).await;
}

#[tokio::test]
async fn an_unknown_currency_is_refused_and_changes_nothing() {
    let l = ledger().await;
    let coins = transfer("c1", &[("coins", "system:issuance", "member:m1", 10)]);
    assert_eq!(kind(l.store.transfer(coins).await), "UNKNOWN_CURRENCY");
    assert!(l.store.balances("acme", "m1", 0).await.unwrap().is_empty());
    assert!(
        account::Entity::find()
            .all(&l.store.db)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The audit entry store calls need; its content is not under test here.
fn change() -> questline_kit::audit::Change {
    questline_kit::audit::Change::new("acme", "test-admin", "test/Change".into(), "test".into())
}

#[tokio::test]
async fn books_written_before_legs_and_lots_carry_over() {
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    // Every migration before legs and lots.
    migrations::Migrator::up(&db, Some(7)).await.unwrap();
    for sql in [
        "INSERT INTO currencies (tenant_id, code, name, created_at) VALUES ('acme', 'stars', 'Stars', 1)",
        "INSERT INTO accounts VALUES ('a-iss', 'acme', 'stars', 'system:issuance', -50, 0, 1, 1)",
        "INSERT INTO accounts VALUES ('a-m1', 'acme', 'stars', 'member:m1', 50, 0, 0, 1)",
        "INSERT INTO transfers VALUES ('t1', 'acme', 'stars', 'system:issuance', 'member:m1', 50, \
         'welcome', 'k1', 'fp', 50, 0, 1)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    migrations::Migrator::up(&db, None).await.unwrap();
    let relay = outbox::Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])), "ledger");
    let store = Store::new(db, &url, relay).unwrap();
    let (t1, reversed) = store
        .find_transfer("acme", TransferLookup::Id("t1"))
        .await
        .unwrap();
    assert_eq!(
        (t1.legs.len(), t1.legs[0].amount, reversed),
        (1, 50, vec![0])
    );
    assert_eq!(t1.legs[0].credit, Owner::Member("m1".into()));
    assert_books_balance(&store).await;
    store.transfer(debit("m1", 50, "spend-all")).await.unwrap();
    assert_books_balance(&store).await;
}
