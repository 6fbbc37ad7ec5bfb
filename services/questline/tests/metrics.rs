//! The admin ports of a running `questline dev`: the probes answer, and after
//! the demo flow `/metrics` counts the calls made and shows the programme's
//! figures exactly as the ledger's own totals give them.

#![allow(clippy::unwrap_used)]

mod support;

use questline_kit::client::Outgoing;
use questline_proto::ledger::GetProgrammeTotalsRequest;
use questline_proto::ledger::ledger_service_client::LedgerServiceClient;
use support::{Dev, PARTS, Sample, demo_flow, find, parse_metrics, settled_all, start, value};

const SERVICES: [&str; 5] = [
    "identity",
    "ledger",
    "mechanics",
    "rewards",
    "notifications",
];

#[test]
fn probes_answer_on_every_admin_port() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    for part in PARTS {
        assert_eq!(dev.admin(part, "/livez"), (200, "live\n".into()), "{part}");
        assert_eq!(
            dev.admin(part, "/readyz"),
            (200, "ready\n".into()),
            "{part}"
        );
        let (status, _) = dev.admin(part, "/nothing-here");
        assert_eq!(status, 404, "{part}");
    }
    dev.terminate();
}

#[test]
fn metrics_after_the_demo_flow_match_the_books() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    let messages = demo_flow(&dev);
    // Until every event is out of the outboxes and the notices are counted.
    let samples = settled_all(&dev, |s| {
        let sent = [("channel", "inbox"), ("outcome", "sent")];
        find(s, "questline_notifications_total", &sent) == Some(messages as f64)
            && ["identity", "ledger", "mechanics", "rewards"]
                .iter()
                .all(|service| {
                    find(
                        s,
                        "questline_outbox_pending",
                        &[("questline_service", service)],
                    ) == Some(0.0)
                })
    });

    // Calls, by method and status code, as each server saw them.
    let calls = |service: &str, method: &str, code: &str| {
        value(
            &samples,
            "rpc_server_call_duration_seconds_count",
            &[
                ("rpc_system", "grpc"),
                ("rpc_service", service),
                ("rpc_method", method),
                ("rpc_grpc_status_code", code),
            ],
        )
    };
    assert_eq!(
        calls("questline.mechanics.v1.MechanicsService", "Track", "0"),
        3.0
    );
    assert_eq!(
        calls("questline.rewards.v1.RewardsService", "Redeem", "0"),
        1.0
    );
    // FAILED_PRECONDITION: the refused pizza.
    assert_eq!(
        calls("questline.rewards.v1.RewardsService", "Redeem", "9"),
        1.0
    );
    let http = |route: &str, status: &str| {
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &[("http_route", route), ("http_response_status_code", status)],
        )
    };
    assert_eq!(http("/v1/events", "200"), 3.0);
    assert_eq!(http("/v1/redemptions", "409"), 1.0);

    // The programme's figures equal the ledger's totals.
    let totals = programme_totals(&dev);
    let figure = |name: &str| {
        value(
            &samples,
            name,
            &[("tenant", &dev.tenant_id), ("currency", "stars")],
        )
    };
    assert_eq!(figure("questline_points_issued"), totals.issued as f64);
    assert_eq!(figure("questline_points_burned"), totals.burned as f64);
    assert_eq!(figure("questline_points_expired"), totals.expired as f64);
    assert_eq!(
        figure("questline_points_outstanding"),
        totals.outstanding as f64
    );
    assert_eq!(
        (totals.issued, totals.burned, totals.outstanding),
        (35, 20, 15)
    );

    let count = |name: &str, with: &[(&str, &str)]| value(&samples, name, with);
    assert_eq!(
        count("questline_events_tracked_total", &[("outcome", "awarded")]),
        2.0
    );
    assert_eq!(
        count("questline_redemptions_total", &[("outcome", "redeemed")]),
        1.0
    );
    assert_eq!(
        count("questline_redemptions_total", &[("outcome", "failed")]),
        1.0
    );
    assert_eq!(
        count(
            "questline_notifications_total",
            &[("channel", "inbox"), ("outcome", "sent")]
        ),
        messages as f64
    );
    assert_eq!(
        count("questline_event_credit_latency_seconds_count", &[]),
        2.0
    );

    for service in SERVICES {
        let of = [("questline_service", service)];
        assert_eq!(count("questline_ready", &of), 1.0, "{service}");
        assert!(
            count(
                "db_client_connection_max",
                &[("db_client_connection_pool_name", service)]
            ) >= 1.0
        );
        assert!(
            has(&samples, "db_client_operation_duration_seconds_count", &of),
            "{service}"
        );
    }
    // Every event is out of the outboxes and through every consumer.
    for service in ["identity", "ledger", "mechanics", "rewards"] {
        let of = [("questline_service", service)];
        assert_eq!(count("questline_outbox_pending", &of), 0.0, "{service}");
        assert_eq!(count("questline_outbox_lag_seconds", &of), 0.0, "{service}");
    }
    assert!(
        count(
            "questline_outbox_published_total",
            &[("questline_service", "ledger")]
        ) >= 3.0
    );
    assert_eq!(
        count(
            "questline_consumer_pending",
            &[("consumer", "notifications")]
        ),
        0.0
    );
    assert!(
        count(
            "questline_events_handled_total",
            &[("consumer", "notifications"), ("outcome", "ok")]
        ) >= 3.0
    );
    dev.terminate();
}

/// `promtool check metrics` on every admin port after the demo flow: the
/// names, units and types Prometheus users expect. `.ci/run` installs
/// promtool (Debian's `prometheus`); a machine without it skips, CI never.
#[test]
fn promtool_finds_nothing_to_say_on_any_admin_port() {
    let Some(promtool) = promtool() else {
        assert!(std::env::var_os("CI").is_none(), "CI must have promtool");
        eprintln!("promtool not installed: skipped");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    demo_flow(&dev);
    for part in PARTS {
        let (status, text) = dev.admin(part, "/metrics");
        assert_eq!(status, 200);
        assert!(!text.is_empty(), "{part} serves no series");
        let mut check = std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{part}: {said}"
        );
    }
    dev.terminate();
}

fn promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join("promtool"))
        .find(|path| path.is_file())
}

#[test]
fn made_up_methods_share_one_series() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut grpc = tonic::client::Grpc::new(dev.channel("ledger"));
        for n in 0..3 {
            grpc.ready().await.unwrap();
            let path =
                tonic::codegen::http::uri::PathAndQuery::try_from(format!("/made.Up/Method{n}"))
                    .unwrap();
            let answer: Result<tonic::Response<()>, _> = grpc
                .unary(
                    tonic::Request::new(()),
                    path,
                    tonic_prost::ProstCodec::<(), ()>::default(),
                )
                .await;
            assert_eq!(answer.unwrap_err().code(), tonic::Code::Unimplemented);
        }
    });
    let samples = parse_metrics(&dev.admin("ledger", "/metrics").1);
    let with = [
        ("rpc_service", "unknown"),
        ("rpc_method", "unknown"),
        ("rpc_grpc_status_code", "12"),
    ];
    assert_eq!(
        value(&samples, "rpc_server_call_duration_seconds_count", &with),
        3.0
    );
    assert!(
        !samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains("made.Up")))
    );
    dev.terminate();
}

fn has(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> bool {
    samples.iter().any(|s| {
        s.name == name
            && with
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
    })
}

/// The ledger's own totals of the demo's stars, over gRPC as the demo key.
fn programme_totals(dev: &Dev) -> questline_proto::ledger::CurrencyTotals {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let token = dev.token().await;
        let mut ledger =
            LedgerServiceClient::with_interceptor(dev.channel("ledger"), Outgoing::bearer(&token));
        ledger
            .get_programme_totals(GetProgrammeTotalsRequest {
                tenant_id: dev.tenant_id.clone(),
                currency: "stars".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .totals
            .pop()
            .unwrap()
    })
}
