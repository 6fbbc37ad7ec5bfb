//! `questline dev` as a user runs it: the real binary, its demo programme, a
//! purchase through the gateway, SIGTERM, and a restart that keeps the data.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;
use support::start;

#[test]
fn dev_stops_on_sigterm_within_five_seconds_and_keeps_its_data() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    let purchase = format!(
        r#"{{"event_id":"first-coffee","member_id":"{}","type":"purchase","attributes":{{"amount":250}}}}"#,
        dev.member_id
    );
    let (status, body) = dev.http("POST", "/v1/events", &purchase);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""points":25"#), "{body}");
    let before = dev.stars();
    assert!(before.contains(r#""total":25"#), "{before}");
    let first_key = dev.api_key.clone();
    let took = dev.terminate();
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let again = start(data.path());
    assert_eq!(again.api_key, first_key, "the demo is loaded once");
    assert_eq!(again.stars(), before);
    let (status, body) = again.http("POST", "/v1/events", &purchase);
    assert_eq!(status, 200, "{body}");
    assert_eq!(again.stars(), before, "a replayed purchase earns nothing");
    let took = again.terminate();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// The total of the demo member's stars, from the balances answer.
fn total(dev: &support::Dev) -> u64 {
    let body = dev.stars();
    let at = body
        .find(r#""total":"#)
        .map(|i| i + 8)
        .unwrap_or(body.len());
    body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

#[test]
fn events_cut_off_by_a_kill_are_finished_after_restart_and_credited_once() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    let (gateway, key, member) = (
        dev.gateway.clone(),
        dev.api_key.clone(),
        dev.member_id.clone(),
    );
    // Eight clients send purchases of 100 (10 stars each) until the engine dies.
    let sent: Vec<_> = (0..8)
        .map(|client| {
            let (gateway, key, member) = (gateway.clone(), key.clone(), member.clone());
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                for i in 0.. {
                    let id = format!("kill-{client}-{i}");
                    sent.push(id.clone());
                    let body = support::purchase(&member, &id, 100);
                    let answer = support::try_exchange(&gateway, "POST", "/v1/events", &key, &body);
                    if !matches!(answer, Some((200, _))) {
                        return sent;
                    }
                }
                sent
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    dev.kill();
    let sent: Vec<String> = sent.into_iter().flat_map(|t| t.join().unwrap()).collect();

    let again = start(data.path());
    // Every event the engine recorded is credited without a replay.
    let recorded = sent
        .iter()
        .filter(|id| {
            again
                .http("GET", &format!("/v1/events/{id}/explanation"), "")
                .0
                == 200
        })
        .count() as u64;
    assert!(recorded > 0, "nothing was recorded before the kill");
    eprintln!("{} sent, {recorded} recorded before the kill", sent.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while total(&again) != 10 * recorded {
        assert!(
            std::time::Instant::now() < deadline,
            "{} stars for {recorded} recorded events",
            total(&again)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, metrics) = again.admin("mechanics", "/metrics");
    let recovered = support::find(
        &support::parse_metrics(&metrics),
        "questline_events_recovered_total",
        &[("outcome", "finished")],
    );
    eprintln!("finished by the recovery loop: {recovered:?}");
    // Replaying everything sent credits each event exactly once.
    for id in &sent {
        let (status, body) = again.http("POST", "/v1/events", &support::purchase(&member, id, 100));
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(total(&again), 10 * sent.len() as u64);
    again.terminate();
}

#[test]
fn with_migrations_left_to_a_job_services_wait_for_questline_migrate() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let questline = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_questline"));
        command
            .env("QUESTLINE__DATA_DIR", dir)
            .env("QUESTLINE__MIGRATE_ON_START", "false");
        for part in support::PARTS {
            let part = part.to_uppercase();
            command.env(format!("QUESTLINE__{part}__LISTEN"), "127.0.0.1:0");
            command.env(format!("QUESTLINE__{part}__ADMIN_LISTEN"), "127.0.0.1:0");
        }
        command
    };
    let refused = questline()
        .args(["dev", "--data-dir", dir])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("run `questline migrate` first"), "{said}");

    let migrated = questline().args(["migrate", "ledger"]).output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let migrated = questline().arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let unknown = questline().args(["migrate", "billing"]).output().unwrap();
    assert!(!unknown.status.success());

    let dev = support::start_with(
        data.path(),
        &[("QUESTLINE__MIGRATE_ON_START", "false")],
        std::process::Stdio::null(),
    );
    // Every service answers from its migrated database.
    dev.stars();
    dev.terminate();
}
