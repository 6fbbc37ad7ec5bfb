//! The bank test: 32 tasks move points at random between 1,000 wallets and
//! the hot issuance account — credits, gifts, debits, two-leg splits and
//! redemption holds — through two ledger replicas sharing one PostgreSQL
//! database, each call cut off by an injected client timeout now and then
//! and retried under the same idempotency key. Readers sum the books all
//! the while and must always see them balanced. At the end: no wallet below
//! zero, no hold left pending, every key applied exactly once. Also: a
//! batch that waits too long for a row another writer holds gives up and
//! writes nothing. Runs when `QUESTLINE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use questline_kit::DomainError;
use questline_kit::bus::MemoryBus;
use questline_kit::fingerprint::Fields;
use questline_kit::outbox;
use questline_ledger::domain::book::{Answer, Command, Transfer};
use questline_ledger::domain::currency::CurrencySpec;
use questline_ledger::domain::expiry::ExpiryPolicy;
use questline_ledger::domain::hold::HoldStatus;
use questline_ledger::domain::requests::{Header, HoldSpec, RawLeg, TransferSpec};
use questline_ledger::store::{Store, migrations::Migrator};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const TENANT: &str = "bank";
const WALLETS: usize = 1_000;
const TASKS: usize = 32;
const OPS_PER_TASK: usize = 120;
const SEED: i64 = 100;

#[test]
fn the_books_stay_balanced_under_concurrency_on_postgres() {
    on_postgres("ql_bank", |url| Box::pin(bank(url)));
}

#[test]
fn a_batch_that_waits_too_long_for_a_lock_changes_nothing_and_can_be_retried() {
    on_postgres("ql_locked", |url| Box::pin(locked_elsewhere(url)));
}

#[test]
fn a_batch_is_answered_while_the_one_read_behind_it_waits_for_a_lock() {
    on_postgres("ql_behind", |url| {
        Box::pin(answered_while_behind_waits(url))
    });
}

#[test]
fn a_batch_that_loses_a_race_drops_the_reads_sent_behind_it() {
    on_postgres("ql_dropped", |url| Box::pin(reads_behind_a_lost_race(url)));
}

/// Runs `test` on a database of its own on the PostgreSQL of
/// `QUESTLINE_TEST_POSTGRES_URL`, dropped afterwards; nothing without it.
fn on_postgres(prefix: &str, test: impl FnOnce(&str) -> futures::future::BoxFuture<'_, ()>) {
    let Some(admin) = std::env::var("QUESTLINE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let name = format!("{prefix}_{}", std::process::id());
    let server = runtime.block_on(Database::connect(admin.as_str())).unwrap();
    runtime
        .block_on(server.execute_unprepared(&format!("CREATE DATABASE {name}")))
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(test(&url))
    }));
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    runtime.block_on(server.execute_unprepared(&drop)).unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Another writer holds a wallet's row (a stalled replica, say): the batch
/// that needs it gives up after the committer's lock timeout with
/// UNAVAILABLE, writes nothing, and the same request succeeds once the row
/// is free.
async fn locked_elsewhere(url: &str) {
    let store = replica(url).await;
    let spec = CurrencySpec::validate(TENANT, "pts", "Points", ExpiryPolicy::Never, "", 0).unwrap();
    let change = questline_kit::audit::Change::new(TENANT, "bank", "test".into(), "test".into());
    store.create_currency(TENANT, &spec, &change).await.unwrap();
    let seed = [("system:issuance".to_string(), wallet(0), SEED)];
    store.transfer(transfer("seed", &seed)).await.unwrap();

    let other = Database::connect(url).await.unwrap();
    let stalled = other.begin().await.unwrap();
    let lock = format!(
        "SELECT balance FROM accounts WHERE owner = '{}' FOR UPDATE",
        wallet(0)
    );
    stalled.execute_unprepared(&lock).await.unwrap();
    let spend = [(wallet(0), "system:redemption".to_string(), 30)];
    let started = std::time::Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        store.transfer(transfer("spend", &spend)),
    )
    .await
    .expect("the batch waited for the lock without end");
    assert!(
        matches!(refused, Err(DomainError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    stalled.rollback().await.unwrap();

    let wallets =
        "SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts WHERE owner LIKE 'member:%'";
    assert_eq!(
        one_number(&other, wallets).await,
        SEED,
        "the refused batch wrote"
    );
    let stored = one_number(&other, "SELECT COUNT(*) FROM transfers").await;
    assert_eq!(stored, 1);
    let retried = store.transfer(transfer("spend", &spend)).await.unwrap();
    assert_eq!(retried.wallet.total, SEED - 30);
    assert_eq!(one_number(&other, wallets).await, SEED - 30);
}

/// The transfer stored under `key` takes `seconds` longer to write and,
/// with `fail_once`, its first write fails as a lost race would (a unique
/// violation; `write_tries`, a sequence, survives the rollback): the
/// batch's writes are on their way long enough for the next batch's reads
/// to go out behind them.
async fn slow_write(db: &DatabaseConnection, key: &str, seconds: f64, fail_once: bool) {
    let setup = format!(
        "CREATE SEQUENCE write_tries;
         CREATE FUNCTION slow_write() RETURNS trigger AS $$
         BEGIN
             IF NEW.idempotency_key = '{key}' THEN
                 PERFORM pg_sleep({seconds});
                 IF nextval('write_tries') = 1 AND {fail_once} THEN
                     RAISE EXCEPTION 'lost a race' USING ERRCODE = 'unique_violation';
                 END IF;
             END IF;
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER slow_write BEFORE INSERT ON transfers
             FOR EACH ROW EXECUTE FUNCTION slow_write();"
    );
    db.execute_unprepared(&setup).await.unwrap();
}

/// A store with the bank's currency and wallets 0 and 1 seeded.
async fn seeded(url: &str) -> (Store, DatabaseConnection) {
    let store = replica(url).await;
    let spec = CurrencySpec::validate(TENANT, "pts", "Points", ExpiryPolicy::Never, "", 0).unwrap();
    let change = questline_kit::audit::Change::new(TENANT, "bank", "test".into(), "test".into());
    store.create_currency(TENANT, &spec, &change).await.unwrap();
    for w in 0..2 {
        let seed = [("system:issuance".to_string(), wallet(w), SEED)];
        store
            .transfer(transfer(&format!("seed-{w}"), &seed))
            .await
            .unwrap();
    }
    (store, Database::connect(url).await.unwrap())
}

/// The batch behind a slow write reads a wallet another writer holds: its
/// reads went out behind the slow batch's COMMIT and wait there, yet the
/// slow batch is answered at once, and the one behind once the row is free.
async fn answered_while_behind_waits(url: &str) {
    let (store, other) = seeded(url).await;
    slow_write(&other, "slow", 0.5, false).await;
    let stalled = other.begin().await.unwrap();
    let lock = format!(
        "SELECT 1 FROM accounts WHERE owner = '{}' FOR UPDATE",
        wallet(1)
    );
    stalled.execute_unprepared(&lock).await.unwrap();

    let slow = spend(&store, "slow", 0, 10);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let behind = spend(&store, "behind", 1, 10);
    let answered = tokio::time::timeout(Duration::from_secs(3), slow).await;
    let slow = answered.expect("the slow batch waited for the one behind it");
    assert_eq!(slow.unwrap().unwrap().wallet.total, SEED - 10);
    assert!(
        !behind.is_finished(),
        "the batch behind did not wait for the lock"
    );
    stalled.rollback().await.unwrap();
    let behind = tokio::time::timeout(Duration::from_secs(10), behind).await;
    assert_eq!(behind.unwrap().unwrap().unwrap().wallet.total, SEED - 10);
    assert_eq!(
        one_number(&other, "SELECT COUNT(*) FROM transfers").await,
        4
    );
}

/// The slow batch fails once as a lost race while the batch behind it has
/// its reads out: both are carried out, each once, and the one behind
/// sees what the slow one spent (both spend from one wallet).
async fn reads_behind_a_lost_race(url: &str) {
    let (store, other) = seeded(url).await;
    slow_write(&other, "doomed", 0.3, true).await;
    let doomed = spend(&store, "doomed", 0, 30);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let behind = spend(&store, "behind", 0, 60);
    let doomed = doomed.await.unwrap().unwrap();
    let behind = behind.await.unwrap().unwrap();
    assert_eq!(doomed.wallet.total, SEED - 30);
    assert_eq!(behind.wallet.total, SEED - 90);
    let tries = one_number(&other, "SELECT last_value FROM write_tries").await;
    assert_eq!(tries, 2, "the doomed write failed once, then passed");
    assert_eq!(
        one_number(&other, "SELECT COUNT(*) FROM transfers").await,
        4
    );
    let wallets =
        "SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts WHERE owner LIKE 'member:%'";
    assert_eq!(one_number(&other, wallets).await, 2 * SEED - 90);
    let books = "SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts";
    assert_eq!(one_number(&other, books).await, 0);
}

/// Spends `amount` of wallet `w` under `key`, in a task of its own.
fn spend(
    store: &Store,
    key: &str,
    w: usize,
    amount: i64,
) -> tokio::task::JoinHandle<Result<Transfer, DomainError>> {
    let store = store.clone();
    let legs = [(wallet(w), "system:redemption".to_string(), amount)];
    let command = transfer(key, &legs);
    tokio::spawn(async move { store.transfer(command).await })
}

async fn replica(url: &str) -> Store {
    let db = questline_kit::db::connect::<Migrator>(url).await.unwrap();
    let relay = outbox::Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])), "ledger");
    Store::new(db, url, relay).unwrap()
}

async fn bank(url: &str) {
    let replicas = [replica(url).await, replica(url).await];
    let spec = CurrencySpec::validate(TENANT, "pts", "Points", ExpiryPolicy::Never, "", 0).unwrap();
    let change = questline_kit::audit::Change::new(TENANT, "bank", "test".into(), "test".into());
    replicas[0]
        .create_currency(TENANT, &spec, &change)
        .await
        .unwrap();
    let seeds = (0..WALLETS).map(|w| {
        let store = replicas[w % 2].clone();
        let legs = [("system:issuance".to_string(), wallet(w), SEED)];
        async move { store.transfer(transfer(&format!("seed-{w}"), &legs)).await }
    });
    for seeded in futures::future::join_all(seeds).await {
        seeded.unwrap();
    }

    let reader_db = Database::connect(url).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(read_totals(reader_db.clone(), stop.clone(), reads.clone())))
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(customer(replicas[task % 2].clone(), task)))
        .collect();
    let mut applied: HashMap<String, String> = HashMap::new();
    let mut timeouts = 0;
    for task in tasks {
        let (keys, cut) = task.await.unwrap();
        applied.extend(keys);
        timeouts += cut;
    }
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }
    eprintln!(
        "bank: {} transfers applied, {timeouts} calls cut off and retried, {} balanced reads",
        applied.len(),
        reads.load(Ordering::SeqCst)
    );
    assert!(timeouts > 0, "the test must cut some calls off");
    assert!(reads.load(Ordering::SeqCst) > 10);
    assert_final_books(&reader_db, &applied).await;
}

fn wallet(w: usize) -> String {
    format!("member:w{w}")
}

fn transfer(key: &str, legs: &[(String, String, i64)]) -> Command {
    let raw: Vec<RawLeg<'_>> = legs
        .iter()
        .map(|(debit, credit, amount)| RawLeg {
            currency: "pts",
            debit,
            credit,
            amount: *amount,
        })
        .collect();
    Command::Transfer(TransferSpec::validate(header(key, &format!("{legs:?}")), &raw).unwrap())
}

fn header<'a>(key: &'a str, what: &str) -> Header<'a> {
    Header {
        tenant_id: TENANT,
        reason: "bank",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: Fields::new("bank").field("what", what).finish(),
    }
}

/// A small pseudo-random sequence, so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One client: random writes, each retried under its key until answered.
/// Returns the keys it saw applied (key → transfer id) and how many calls
/// it cut off.
async fn customer(store: Store, task: usize) -> (Vec<(String, String)>, usize) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1));
    let mut applied = Vec::new();
    let mut cut = 0;
    for op in 0..OPS_PER_TASK {
        let key = format!("t{task}-{op}");
        let (a, b) = (dice.roll(WALLETS), dice.roll(WALLETS));
        let amount = 1 + dice.roll(40) as i64;
        let command = match dice.roll(10) {
            0..=2 => transfer(&key, &[("system:issuance".into(), wallet(a), amount)]),
            3..=4 if a != b => transfer(&key, &[(wallet(a), wallet(b), amount)]),
            5 if a != b => transfer(
                &key,
                &[
                    (wallet(a), "system:redemption".into(), amount),
                    (wallet(a), wallet(b), amount),
                ],
            ),
            6..=7 => {
                let spec =
                    HoldSpec::validate(header(&key, "hold"), &format!("w{a}"), "pts", amount, 600);
                Command::CreateHold(spec.unwrap())
            }
            _ => transfer(&key, &[(wallet(a), "system:redemption".into(), amount)]),
        };
        let (answer, retries) = persist(&store, &command, &mut dice).await;
        cut += retries;
        match answer {
            Ok(Answer::Transfer(t)) => applied.push((key, t.transfer_id)),
            Ok(Answer::Hold(h)) => {
                let end = if dice.roll(2) == 0 {
                    Command::CommitHold {
                        tenant_id: TENANT.into(),
                        hold_id: h.hold_id.clone(),
                        amount: Some(1 + dice.roll(h.amount as usize) as i64),
                    }
                } else {
                    Command::VoidHold {
                        tenant_id: TENANT.into(),
                        hold_id: h.hold_id.clone(),
                    }
                };
                let (ended, retries) = persist(&store, &end, &mut dice).await;
                cut += retries;
                if let Ok(Answer::Hold(h)) = ended {
                    if let Some(id) = h.transfer_id {
                        applied.push((format!("hold:{}", h.hold_id), id));
                    }
                } else {
                    panic!("ending a hold failed: {ended:?}");
                }
            }
            Ok(other) => panic!("unexpected answer {other:?}"),
            Err(DomainError::FailedPrecondition {
                kind: "INSUFFICIENT_FUNDS",
                ..
            }) => {}
            Err(err) => panic!("{key}: {err:?}"),
        }
    }
    (applied, cut)
}

/// Calls until answered, cutting one call in five off after a few
/// milliseconds, as an impatient client would; returns the answer and how
/// many calls were cut.
async fn persist(
    store: &Store,
    command: &Command,
    dice: &mut Dice,
) -> (Result<Answer, DomainError>, usize) {
    let mut cut = 0;
    loop {
        let patience = if dice.roll(5) == 0 {
            Duration::from_millis(1 + dice.roll(8) as u64)
        } else {
            Duration::from_secs(30)
        };
        match tokio::time::timeout(patience, store.run(command.clone())).await {
            Ok(Err(DomainError::Aborted(_) | DomainError::Unavailable(_))) | Err(_) => cut += 1,
            Ok(answer) => return (answer, cut),
        }
    }
}

async fn one_number(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Reads the books while the clients run: each read is one statement, so
/// it sees whole batches only, and the total must always be zero.
async fn read_totals(db: DatabaseConnection, stop: Arc<AtomicBool>, reads: Arc<AtomicUsize>) {
    while !stop.load(Ordering::SeqCst) {
        let total = one_number(
            &db,
            "SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts",
        )
        .await;
        assert_eq!(total, 0, "a reader saw the books unbalanced");
        let members = one_number(
            &db,
            "SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts WHERE owner LIKE 'member:%'",
        )
        .await;
        assert!(members > 0);
        reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn assert_final_books(db: &DatabaseConnection, applied: &HashMap<String, String>) {
    let negative = one_number(
        db,
        "SELECT COUNT(*) FROM accounts WHERE owner LIKE 'member:%' AND (balance < 0 OR held > balance)",
    )
    .await;
    assert_eq!(
        negative, 0,
        "a wallet went below zero or held more than it has"
    );
    let pending = format!(
        "SELECT COUNT(*) FROM holds WHERE status = '{}'",
        HoldStatus::Pending.as_str()
    );
    let pending = one_number(db, &pending).await;
    assert_eq!(pending, 0, "every hold was committed or voided");
    let held = one_number(db, "SELECT COALESCE(SUM(held), 0)::BIGINT FROM accounts").await;
    assert_eq!(held, 0);
    let drift = one_number(
        db,
        "SELECT COUNT(*) FROM accounts a WHERE owner LIKE 'member:%' AND balance <> \
         (SELECT COALESCE(SUM(remaining), 0) FROM lots l WHERE l.account_id = a.account_id)",
    )
    .await;
    assert_eq!(drift, 0, "lots drifted from balances");
    // Every key the clients saw applied is one stored transfer with that id;
    // the other stored transfers are the seeds.
    let stored = one_number(db, "SELECT COUNT(*) FROM transfers").await;
    assert_eq!(
        stored as usize,
        applied.len() + WALLETS,
        "a key applied twice or lost"
    );
    let per_key = one_number(
        db,
        "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM transfers \
         GROUP BY tenant_id, idempotency_key) k",
    )
    .await;
    assert_eq!(per_key, 1);
    for (key, id) in applied.iter().take(200) {
        let sql = format!(
            "SELECT COUNT(*) FROM transfers WHERE idempotency_key = '{key}' AND transfer_id = '{id}'"
        );
        assert_eq!(one_number(db, &sql).await, 1, "{key} answered {id}");
    }
}
