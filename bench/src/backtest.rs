//! `backtest-load`: how fast `SimulateRules` replays stored history. Builds
//! a mechanics database (SQLite by default, or `--database-url`) holding
//! `--events` stored events of `--members` members over 28 days and
//! Snapping Saturday's rules plus a scheduled, a capped and a budgeted one,
//! then per run times (1) the same pages read bare — the floor any replay
//! pays — and (2) the backtest itself (`Store::replay`, the code behind the
//! RPC). Prints one line per run: `scan_s=… backtest_s=… ratio=… events=…`.

use anyhow::Context;
use clap::Parser;
use questline_kit::audit::Change;
use questline_kit::bus::{EventBus, MemoryBus};
use questline_kit::members::entity as snapshot;
use questline_mechanics::domain::rules::{
    Action, Budget, Cap, Day, Measure, Period, Rounding, RuleSpec, RuleStatus, Schedule, Window,
};
use questline_mechanics::store::Store;
use questline_mechanics::store::entities::tracked_event;
use questline_mechanics::store::migrations::Migrator;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "backtest-load")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    events: i64,
    #[arg(long, default_value_t = 1_000)]
    members: i64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A fresh database; default a SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
}

const TENANT: &str = "snapping-saturday";
/// 2026-11-01T00:00:00Z: the history's first instant.
const START_MS: i64 = 1_793_491_200_000;
const DAYS: i64 = 28;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("ql-backtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("mechanics.db").display()));
    let result = bench(&args, &url).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench(args: &Args, url: &str) -> anyhow::Result<()> {
    let db = questline_kit::db::connect::<Migrator>(url)
        .await
        .context("a migrated database")?;
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let relay = questline_kit::outbox::Relay::new(db.clone(), bus, "mechanics");
    let store = Store::new(db.clone(), url, relay)?;
    let started = Instant::now();
    create_rules(&store).await?;
    members(&db, args.members).await?;
    events(&db, args.events, args.members).await?;
    eprintln!(
        "generated {} events in {:.1} s",
        args.events,
        started.elapsed().as_secs_f64()
    );
    let range = (START_MS, START_MS + DAYS * 86_400_000);
    // The rules as a manager tries them on last month: in force throughout.
    let book = store.rule_book(TENANT).await?;
    let given = book
        .rules
        .iter()
        .filter_map(|r| r.versions.values().next().cloned())
        .collect();
    let book = book.scenario(given, true);
    for _ in 0..args.runs {
        let t = Instant::now();
        let scanned = scan(&db).await?;
        let scan_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let replayed = store
            .replay(TENANT, &book, range, 10, |_, _| true)
            .await?
            .context("a report")?;
        let backtest_s = t.elapsed().as_secs_f64();
        let points: i64 = replayed.report.simulated.values().sum();
        writeln!(
            std::io::stdout().lock(),
            "scan_s={scan_s:.2} backtest_s={backtest_s:.2} ratio={:.2} events={} scanned={scanned} matched={} points={points}",
            backtest_s / scan_s,
            replayed.report.replayed,
            replayed.report.matched,
        )?;
    }
    Ok(())
}

fn award(points: &str) -> Action {
    Action::AwardPoints {
        currency: "stars".into(),
        points: points.into(),
        rounding: Rounding::Floor,
    }
}

fn spec(name: &str, event_type: &str, condition: &str, actions: Vec<Action>) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        description: String::new(),
        event_types: vec![event_type.into()],
        condition: condition.into(),
        time_zone: "Europe/London".into(),
        schedule: Schedule::default(),
        special_days: Default::default(),
        priority: 0,
        stop_after: false,
        caps: vec![],
        budget: None,
        actions,
        inactive_days: 0,
        inactive_of: vec![],
    }
}

async fn create_rules(store: &Store) -> anyhow::Result<()> {
    let per_purchase = spec(
        "1 star per 10 spent",
        "purchase",
        "event.amount > 0.0",
        vec![award("event.amount / 10.0")],
    );
    let scan = RuleSpec {
        caps: vec![Cap {
            period: Period::Day,
            measure: Measure::Count,
            limit: 1,
        }],
        ..spec(
            "partner scan bonus",
            "qr_scan",
            "event.store in ['bakery', 'coffee-bar'] && distance(event.location.lat, event.location.lng, 51.5138, -0.1349) <= 200.0",
            vec![award("1")],
        )
    };
    let birthday = RuleSpec {
        priority: 10,
        special_days: questline_mechanics::domain::rules::SpecialDays {
            birthday: true,
            ..Default::default()
        },
        ..spec(
            "birthday double",
            "purchase",
            "",
            vec![Action::MultiplyAwards {
                currency: "stars".into(),
                factor: 2.0,
            }],
        )
    };
    let saturday = RuleSpec {
        schedule: Schedule {
            days: vec![Day::Saturday],
            windows: vec![Window {
                start: "09:00".into(),
                end: "15:00".into(),
            }],
            ..Schedule::default()
        },
        ..spec(
            "Saturday morning bonus",
            "purchase",
            "event.amount >= 20.0",
            vec![award("5")],
        )
    };
    let big_basket = RuleSpec {
        caps: vec![Cap {
            period: Period::Week,
            measure: Measure::Points,
            limit: 50,
        }],
        ..spec(
            "big basket",
            "purchase",
            "event.amount >= 150.0 && member.country == 'GB'",
            vec![award("event.amount / 20.0")],
        )
    };
    let promo = RuleSpec {
        budget: Some(Budget {
            period: Period::Month,
            limit: 100_000,
        }),
        ..spec(
            "coffee promo",
            "purchase",
            "event.store == 'coffee-bar'",
            vec![
                award("3"),
                Action::AddTag {
                    tag: "coffee".into(),
                },
            ],
        )
    };
    let rules = [
        ("stars-per-purchase", per_purchase),
        ("partner-scan-bonus", scan),
        ("birthday-double", birthday),
        ("saturday-bonus", saturday),
        ("big-basket", big_basket),
        ("coffee-promo", promo),
    ];
    for (rule_id, spec) in rules {
        let change = Change::new(
            TENANT,
            "bench",
            "bench/CreateRule".into(),
            format!("rules/{rule_id}"),
        );
        store
            .create_rule(TENANT, rule_id, &spec, RuleStatus::Active, &change)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

async fn members(db: &DatabaseConnection, count: i64) -> anyhow::Result<()> {
    let rows: Vec<_> = (0..count)
        .map(|i| {
            let facts = serde_json::json!({
                "country": if i % 3 == 0 { "SG" } else { "GB" },
                "birthday": format!("19{:02}-11-{:02}", 60 + i % 40, 1 + i % 28),
                "attributes": {"tier": "green"},
            });
            snapshot::ActiveModel {
                tenant_id: Set(TENANT.into()),
                member_id: Set(format!("m{i}")),
                external_id: Set(format!("crm-{i}")),
                facts: Set(facts.to_string()),
                erased: Set(false),
                as_of: Set(0),
            }
        })
        .collect();
    questline_kit::db::insert_all(db, rows, None).await?;
    Ok(())
}

/// `count` events spread evenly over the 28 days: four purchases to one
/// QR scan, amounts and stores varying with the index.
async fn events(db: &DatabaseConnection, count: i64, members: i64) -> anyhow::Result<()> {
    let step = DAYS * 86_400_000 / count.max(1);
    let stores = ["bakery", "coffee-bar", "bookshop", "florist"];
    for chunk in (0..count).collect::<Vec<_>>().chunks(50_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let store = stores[(i % 4) as usize];
                let (event_type, attributes) = if i % 5 == 4 {
                    let near = if i % 2 == 0 { 0.0005 } else { 0.01 };
                    ("qr_scan", serde_json::json!({"store": store, "location": {"lat": 51.5138 + near, "lng": -0.1349}}))
                } else {
                    ("purchase", serde_json::json!({"amount": (i * 7919 % 200) as f64 + 0.5, "store": store}))
                };
                tracked_event::ActiveModel {
                    tenant_id: Set(TENANT.into()),
                    event_id: Set(format!("e{i:08}")),
                    member_id: Set(format!("m{}", i * 7 % members)),
                    event_type: Set(event_type.into()),
                    fingerprint: Set(String::new()),
                    status: Set("applied".into()),
                    occurred_at: Set(START_MS + i * step),
                    created_at: Set(START_MS + i * step),
                    attributes: Set(attributes.to_string()),
                    verdicts: Set("[]".into()),
                }
            })
            .collect();
        let txn = db.begin().await?;
        questline_kit::db::insert_all(&txn, rows, None).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// The same pages the backtest reads, read and parsed, nothing judged.
async fn scan(db: &DatabaseConnection) -> anyhow::Result<usize> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use tracked_event::Column as E;
    let mut after = (i64::MIN, String::new());
    let mut scanned = 0;
    loop {
        let key = Expr::tuple([Expr::col(E::OccurredAt), Expr::col(E::EventId)]);
        let from = Expr::tuple([Expr::value(after.0), Expr::value(after.1.clone())]);
        let page: Vec<(String, String, String, i64, String)> = tracked_event::Entity::find()
            .select_only()
            .columns([
                E::EventId,
                E::MemberId,
                E::EventType,
                E::OccurredAt,
                E::Attributes,
            ])
            .filter(E::TenantId.eq(TENANT))
            .filter(key.gt(from))
            .order_by_asc(E::OccurredAt)
            .order_by_asc(E::EventId)
            .limit(10_000)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = page.last() else {
            return Ok(scanned);
        };
        after = (last.3, last.0.clone());
        for row in &page {
            let attributes: serde_json::Value = serde_json::from_str(&row.4)?;
            scanned += usize::from(attributes.is_object());
        }
    }
}
