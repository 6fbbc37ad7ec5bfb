//! Model-based test: random sequences of ledger commands run against the
//! real store and against a small in-memory model of the same rules. After
//! every step the two must agree (answer, balances, held points, holds),
//! and the books must balance: issued - burned - expired = outstanding,
//! no wallet below zero, held <= balance. At the end every transfer still
//! reads as first answered. Replays and reversals go out twice at once, so
//! the same key often meets itself in one batch. Thousands of cases on SQLite, fewer on
//! PostgreSQL when `QUESTLINE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model;

use model::{Model, Op};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use questline_kit::bus::MemoryBus;
use questline_kit::outbox;
use questline_ledger::domain::currency::CurrencySpec;
use questline_ledger::domain::expiry::ExpiryPolicy;
use questline_ledger::store::{Store, migrations::Migrator};
use sea_orm::{ConnectionTrait, Database};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

fn op() -> impl Strategy<Value = Op> {
    let member = 0..model::MEMBERS;
    let amount = 1i64..60;
    prop_oneof![
        4 => (member.clone(), amount.clone()).prop_map(|(m, a)| Op::Credit(m, a)),
        2 => (member.clone(), amount.clone()).prop_map(|(m, a)| Op::Debit(m, a)),
        2 => (member.clone(), 1..model::MEMBERS, amount.clone()).prop_map(|(m, k, a)| Op::Gift(m, k, a)),
        1 => (member.clone(), amount.clone(), amount.clone()).prop_map(|(m, a, b)| Op::Split(m, a, b)),
        2 => (member.clone(), amount.clone()).prop_map(|(m, a)| Op::Hold(m, a)),
        2 => (any::<usize>(), proptest::option::of(amount.clone())).prop_map(|(h, p)| Op::Commit(h, p)),
        1 => any::<usize>().prop_map(Op::Void),
        2 => (any::<usize>(), proptest::option::of(amount)).prop_map(|(t, p)| Op::Reverse(t, p)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(t, tamper)| Op::Replay(t, tamper)),
        2 => (0i64..30).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

/// One store for every case; each case is its own tenant.
struct Bench {
    store: Store,
    clock: Arc<AtomicI64>,
    cases: AtomicUsize,
}

impl Bench {
    async fn open(url: &str) -> Bench {
        let db = questline_kit::db::connect::<Migrator>(url).await.unwrap();
        let relay = outbox::Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])), "ledger");
        let clock = Arc::new(AtomicI64::new(1_700_000_000_000));
        let time = clock.clone();
        let store = Store::with_clock(
            db,
            url,
            relay,
            Arc::new(move || time.load(Ordering::SeqCst)),
        )
        .unwrap();
        Bench {
            store,
            clock,
            cases: AtomicUsize::new(0),
        }
    }

    async fn case(&self, ops: &[Op]) -> Result<(), TestCaseError> {
        let tenant = format!("t{}", self.cases.fetch_add(1, Ordering::SeqCst));
        let mut spec = CurrencySpec::validate(
            &tenant,
            model::CURRENCY,
            "Points",
            ExpiryPolicy::DaysAfterEarn(model::EXPIRY_DAYS),
            "",
            0,
        )
        .unwrap();
        spec.reversals_may_overdraw = false;
        let change =
            questline_kit::audit::Change::new(&tenant, "model", "test".into(), "test".into());
        self.store
            .create_currency(&tenant, &spec, &change)
            .await
            .unwrap();
        let mut model = Model::new(tenant, self.clock.load(Ordering::SeqCst));
        for (step, op) in ops.iter().enumerate() {
            model
                .step(&self.store, &self.clock, op)
                .await
                .map_err(|why| TestCaseError::fail(format!("step {step} {op:?}: {why}")))?;
        }
        model
            .transfers_unchanged(&self.store)
            .await
            .map_err(TestCaseError::fail)
    }
}

fn run(url: &str, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bench = runtime.block_on(Bench::open(url));
    // QUESTLINE_MODEL_CASES overrides the count, e.g. for a longer soak.
    let cases = std::env::var("QUESTLINE_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = proptest::collection::vec(op(), 1..40);
    let outcome = runner.run(&ops, |ops| runtime.block_on(bench.case(&ops)));
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[test]
fn the_ledger_agrees_with_its_model_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    run(&url, 2_000);
}

#[test]
fn the_ledger_agrees_with_its_model_on_postgres() {
    let Some(admin) = std::env::var("QUESTLINE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let name = format!("ql_model_{}", std::process::id());
    let server = runtime.block_on(Database::connect(admin.as_str())).unwrap();
    runtime
        .block_on(server.execute_unprepared(&format!("CREATE DATABASE {name}")))
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let outcome = std::panic::catch_unwind(|| run(&format!("{base}/{name}"), 150));
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    runtime.block_on(server.execute_unprepared(&drop)).unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
