//! The README's partner walk-through, run as written (issue 18, check 6)
//! against the real `questline dev`: a member signed up, a member token,
//! a purchase, balance and history, the catalogue, a redemption, the inbox,
//! the programme's triggers and templates, the CRM's webhooks verified, and
//! another member's wallet refused.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

const MARK: &str = "<!-- partner walk-through";

/// The first `sh` block after the walk-through's mark.
fn walk_through(readme: &str) -> &str {
    let after = &readme[readme
        .find(MARK)
        .expect("the README marks its walk-through")..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    let length = after[start..].find("```").unwrap();
    &after[start..start + length]
}

#[test]
fn the_partner_walk_through_runs_as_written() {
    let root = tempfile::tempdir().unwrap();
    let dev = support::start(&root.path().join("data"));
    let readme = include_str!("../../../README.md");
    let script = walk_through(readme);
    assert!(script.contains("QL=localhost:8080"));
    let script = script
        .replace("QL=localhost:8080", &format!("QL={}", dev.gateway))
        .replace(
            "cargo run -q -p questline --",
            env!("CARGO_BIN_EXE_questline"),
        );
    let ran = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let expected = [
        r#""points":25"#,
        r#""event_id":"till-7-0815","member_id":"#,
        r#""field":"attributes.amount","description":"must be a number""#,
        r#"{"counter_id":"spend_month","value":250"#,
        r#""available":25"#,
        r#""reference":"events/till-7-0815""#,
        r#""reward_id":"pizza""#,
        r#""redemption_id":"bob-pastry-1","status":"completed""#,
        r#""event_type":"reward.redeemed""#,
        r#""event_type":"points.credited""#,
        r#""member_in_segment":true"#,
        r#""action":"questline."#,
        r#""outcome":"OUTCOME_APPLIED""#,
        r#""difference":[{"currency":"stars","difference":25,"live":25,"simulated":50}]"#,
        r#""status":403"#,
        r#""verified":true"#,
        r#""type":"points.credited""#,
        r#""type":"reward.redeemed""#,
        r#""type":"message.dispatched""#,
        r#""channel":"inbox""#,
        r#""type":"message_preferences.changed""#,
        r#""channels_off":["sms"]"#,
        r#""topics_off":["offers"]"#,
        r#""status":"WEBHOOK_DELIVERY_STATUS_DELIVERED""#,
        r#""event_type":"rule.message.thanks_for_visiting""#,
        r#""message_count":2,"unread_count":2"#,
        r#""caps":[{"channel":"CHANNEL_INBOX","per_day":3,"per_week":10}]"#,
        r#""marked":2,"unread_count":0"#,
        r#""source":"tenant fr v1","subject":"+25 étoiles""#,
        r#""field":"subject","description":"line 1, column 12: syntax error"#,
        r#""field":"body","description":"line 1, column 4: unknown variable `solde`"#,
    ];
    for text in expected {
        assert!(said.contains(text), "{text} not in:\n{said}");
    }
    dev.terminate();
}
