//! The ledger's invariants against a real SQLite database.

use super::*;
use crate::domain::requests::Movement;
use questline_kit::bus::MemoryBus;
use sea_orm::{QuerySelect, sea_query::Expr};
use std::sync::Arc;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let db = questline_kit::db::connect::<migrations::Migrator>(&url)
        .await
        .unwrap();
    let relay = outbox::Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])));
    let store = Store::new(db, relay);
    store
        .create_currency("acme", &stars(), &change())
        .await
        .unwrap();
    (store, dir)
}

fn movement(amount: i64, key: &str) -> Movement {
    Movement::validate(
        "acme",
        "m1",
        "stars",
        amount,
        "test",
        key,
        format!("fp-{key}-{amount}"),
    )
    .unwrap()
}

/// Double entry: the balances of a currency always sum to zero, and a
/// wallet's `held` is exactly its pending holds.
async fn assert_books_balance(store: &Store) {
    let total: Option<i64> = account::Entity::find()
        .select_only()
        .column_as(Expr::col(account::Column::Balance).sum(), "total")
        .into_tuple()
        .one(&store.db)
        .await
        .unwrap()
        .flatten();
    assert_eq!(total.unwrap_or(0), 0, "balances do not sum to zero");
    for wallet in account::Entity::find().all(&store.db).await.unwrap() {
        let pending: i64 = hold_row::Entity::find()
            .filter(hold_row::Column::AccountId.eq(wallet.account_id.as_str()))
            .filter(hold_row::Column::Status.eq("pending"))
            .all(&store.db)
            .await
            .unwrap()
            .iter()
            .map(|h| h.amount)
            .sum();
        assert_eq!(wallet.held, pending, "held drifted on {}", wallet.owner);
        if !wallet.allow_negative {
            assert!(wallet.balance >= wallet.held, "{} overdrawn", wallet.owner);
        }
    }
}

#[tokio::test]
async fn a_currency_is_defined_once_and_keeps_its_policy() {
    use crate::domain::currency::CurrencySpec;
    use crate::domain::expiry::{ExpiryPolicy, Period};
    let (store, _dir) = store().await;
    let yearly = ExpiryPolicy::EndOfPeriod {
        period: Period::Year,
        after: 1,
    };
    let miles =
        CurrencySpec::validate("acme", "miles", "Miles", yearly, "Asia/Singapore", 2).unwrap();
    let row = store
        .create_currency("acme", &miles, &change())
        .await
        .unwrap();
    assert_eq!(
        (
            row.expiry.as_str(),
            row.time_zone.as_str(),
            row.decimal_places
        ),
        ("year:1", "Asia/Singapore", 2)
    );
    let again = store
        .create_currency("acme", &miles, &change())
        .await
        .unwrap();
    assert_eq!(again, row);
    let monthly = CurrencySpec {
        expiry: ExpiryPolicy::EndOfPeriod {
            period: Period::Month,
            after: 1,
        },
        ..miles
    };
    let clash = store.create_currency("acme", &monthly, &change()).await;
    assert!(
        matches!(clash, Err(DomainError::AlreadyExists(_))),
        "{clash:?}"
    );
    // The existing currency was created by the first migration's defaults too.
    let stars = currency::Entity::find_by_id(("acme".to_string(), "stars".to_string()))
        .one(&store.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stars.expiry.as_str(), stars.decimal_places), ("never", 0));
}

#[tokio::test]
async fn credits_and_debits_are_balanced_transfers_and_replays_are_free() {
    let (store, _dir) = store().await;
    let first = store.credit(&movement(100, "c1")).await.unwrap();
    let again = store.credit(&movement(100, "c1")).await.unwrap();
    assert_eq!(first.transfer, again.transfer);
    assert_eq!(again.wallet.total, 100);
    assert!(matches!(
        store.credit(&movement(99, "c1")).await,
        Err(DomainError::AlreadyExists(_))
    ));
    store.debit(&movement(30, "d1")).await.unwrap();
    let refused = store.debit(&movement(71, "d2")).await;
    assert!(matches!(
        refused,
        Err(DomainError::FailedPrecondition {
            kind: "INSUFFICIENT_FUNDS",
            ..
        })
    ));
    assert_eq!(store.balances("acme", "m1").await.unwrap()[0].1.total, 70);
    assert_books_balance(&store).await;
}

#[tokio::test]
async fn held_points_cannot_be_spent_and_commit_moves_them_once() {
    let (store, _dir) = store().await;
    store.credit(&movement(50, "c1")).await.unwrap();
    let hold = store.create_hold(&movement(40, "h1"), 300).await.unwrap();
    assert!(
        store.debit(&movement(20, "d1")).await.is_err(),
        "40 of 50 are held"
    );
    assert_books_balance(&store).await;
    let committed = store.commit_hold("acme", &hold.hold_id).await.unwrap();
    let again = store.commit_hold("acme", &hold.hold_id).await.unwrap();
    assert_eq!(committed, again);
    assert!(store.void_hold("acme", &hold.hold_id).await.is_err());
    let figures = store.balances("acme", "m1").await.unwrap()[0].1;
    assert_eq!((figures.total, figures.held), (10, 0));
    assert!(matches!(
        store.commit_hold("other", &hold.hold_id).await,
        Err(DomainError::NotFound(_))
    ));
    assert_books_balance(&store).await;
}

#[tokio::test]
async fn a_voided_or_expired_hold_gives_its_points_back() {
    let (store, _dir) = store().await;
    store.credit(&movement(50, "c1")).await.unwrap();
    let voided = store.create_hold(&movement(30, "h1"), 300).await.unwrap();
    store.void_hold("acme", &voided.hold_id).await.unwrap();
    assert!(store.commit_hold("acme", &voided.hold_id).await.is_err());

    let expiring = store.create_hold(&movement(50, "h2"), 1).await.unwrap();
    assert_eq!(
        store.balances("acme", "m1").await.unwrap()[0].1.available(),
        0
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        store.balances("acme", "m1").await.unwrap()[0].1.available(),
        50
    );
    let late = store.commit_hold("acme", &expiring.hold_id).await;
    assert!(matches!(
        late,
        Err(DomainError::FailedPrecondition {
            kind: "HOLD_EXPIRED",
            ..
        })
    ));
    store.debit(&movement(50, "d1")).await.unwrap();
    assert_books_balance(&store).await;
}

#[tokio::test]
async fn concurrent_spends_never_overdraw() {
    let (store, _dir) = store().await;
    store.credit(&movement(100, "c1")).await.unwrap();
    let spends = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.debit(&movement(30, &format!("d{i}"))).await })
    });
    let mut spent = 0;
    for spend in spends {
        if spend.await.unwrap().is_ok() {
            spent += 1;
        }
    }
    assert_eq!(spent, 3);
    assert_eq!(store.balances("acme", "m1").await.unwrap()[0].1.total, 10);
    assert_books_balance(&store).await;
}

#[tokio::test]
async fn an_unknown_currency_is_not_found_and_changes_nothing() {
    let (store, _dir) = store().await;
    let mut m = movement(10, "c1");
    m.currency = "coins".into();
    assert!(matches!(
        store.credit(&m).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(store.balances("acme", "m1").await.unwrap().is_empty());
}

/// The audit entry store calls need; its content is not under test here.
fn change() -> questline_kit::audit::Change {
    questline_kit::audit::Change::new("acme", "test-admin", "test/Change".into(), "test".into())
}

fn stars() -> crate::domain::currency::CurrencySpec {
    use crate::domain::expiry::ExpiryPolicy;
    crate::domain::currency::CurrencySpec::validate(
        "acme",
        "stars",
        "Stars",
        ExpiryPolicy::Never,
        "",
        0,
    )
    .expect("a valid currency")
}
