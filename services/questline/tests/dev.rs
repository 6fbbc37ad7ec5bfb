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
