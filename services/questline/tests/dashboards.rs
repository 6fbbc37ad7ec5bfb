//! The Grafana dashboard and the alert rules shipped with the Helm chart:
//! well formed, every alert with its runbook, and every series their PromQL
//! reads present in what a running `questline dev` exposes after the demo flow.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use support::{PARTS, demo_flow, parse_metrics, start};
use yaml_rust2::{Yaml, YamlLoader};

fn chart_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn dashboards_and_alerts_read_only_series_questline_exposes() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    demo_flow(&dev);
    let exposed: BTreeSet<String> = PARTS
        .iter()
        .flat_map(|part| parse_metrics(&dev.admin(part, "/metrics").1))
        .map(|s| s.name)
        .collect();
    dev.terminate();

    let mut read = BTreeSet::new();
    for expr in dashboard_queries().iter().chain(&alert_queries()) {
        let series = series_in(expr);
        assert!(!series.is_empty(), "no series in {expr}");
        read.extend(series);
    }
    let missing: Vec<_> = read.difference(&exposed).collect();
    assert!(missing.is_empty(), "read but never exposed: {missing:?}");
    for needed in [
        "questline_points_outstanding",
        "questline_event_credit_latency_seconds_bucket",
        "questline_outbox_lag_seconds",
        "questline_dead_letters_total",
        "questline_consumer_pending",
    ] {
        assert!(read.contains(needed), "nothing shows {needed}");
    }
}

#[test]
fn every_alert_is_complete_and_has_a_runbook_section() {
    let rules = YamlLoader::load_from_str(&chart_file("helm/questline/files/alerts.yaml")).unwrap();
    let operations = chart_file("docs/operations.md");
    let anchors: BTreeSet<String> = operations
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_lowercase())
        .collect();
    let mut alerts = BTreeSet::new();
    for rule in rules_of(&rules[0]) {
        let name = rule["alert"].as_str().unwrap();
        assert!(alerts.insert(name.to_string()), "{name} twice");
        assert!(rule["expr"].as_str().is_some(), "{name}: no expr");
        // `for` may be left out (fire at once), never malformed.
        let pending = &rule["for"];
        assert!(
            pending.is_badvalue()
                || pending
                    .as_str()
                    .is_some_and(|d| d.ends_with(['s', 'm', 'h'])),
            "{name}: for {pending:?}"
        );
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: {severity:?}"
        );
        let notes = &rule["annotations"];
        for field in ["summary", "description", "runbook_url"] {
            assert!(
                notes[field].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {field}"
            );
        }
        let anchor = notes["runbook_url"]
            .as_str()
            .unwrap()
            .rsplit_once('#')
            .unwrap()
            .1;
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook anchor");
        assert!(
            anchors.contains(anchor),
            "{name}: no section {anchor} in docs/operations.md"
        );
    }
    for wanted in [
        "RpcErrors",
        "Latency",
        "Outbox",
        "Consumer",
        "DeadLetters",
        "NotReady",
    ] {
        assert!(
            alerts.iter().any(|a| a.contains(wanted)),
            "no alert on {wanted}: {alerts:?}"
        );
    }
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard: serde_json::Value = serde_json::from_str(&chart_file(
        "helm/questline/files/dashboards/questline.json",
    ))
    .unwrap();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    assert!(
        dashboard["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty() && u.len() <= 40)
    );
    let panels = all_panels(&dashboard);
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id used twice"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            !panel["targets"].as_array().unwrap().is_empty(),
            "{title}: no query"
        );
    }
}

#[test]
fn series_are_told_from_labels_functions_and_variables() {
    let expr = r#"sum by (questline_service, le) (rate(rpc_server_call_duration_seconds_bucket{rpc_service=~"questline[.].+", questline_service=~"$questline_service"}[$__rate_interval]))
        / ignoring (rpc_grpc_status_code) group_left questline_ready offset 5m > bool 0 and on (questline_service) questline_outbox_pending"#;
    assert_eq!(
        series_in(expr),
        BTreeSet::from([
            "rpc_server_call_duration_seconds_bucket".to_string(),
            "questline_ready".into(),
            "questline_outbox_pending".into(),
        ])
    );
    assert_eq!(
        series_in("label_values(questline_ready, questline_service)"),
        BTreeSet::from(["questline_ready".to_string()])
    );
}

fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(&chart_file(
        "helm/questline/files/dashboards/questline.json",
    ))
    .unwrap();
    let mut queries: Vec<String> = all_panels(&dashboard)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(String::from))
        .collect();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            queries.push(variable["query"]["query"].as_str().unwrap().to_string());
        }
    }
    queries
}

/// Panels, with those folded inside rows.
fn all_panels(dashboard: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        panels.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        panels.push(panel.clone());
    }
    panels
}

fn alert_queries() -> Vec<String> {
    let rules = YamlLoader::load_from_str(&chart_file("helm/questline/files/alerts.yaml")).unwrap();
    rules_of(&rules[0])
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect()
}

fn rules_of(file: &Yaml) -> Vec<Yaml> {
    file["groups"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap().clone())
        .collect()
}

/// The series a PromQL expression reads: its identifiers outside label
/// matchers, ranges, strings and grouping lists, that are neither functions,
/// keywords nor dashboard variables. `label_values(m, label)` reads `m`.
fn series_in(expr: &str) -> BTreeSet<String> {
    // Operators and aggregations, which may stand before `by (…)` or alone.
    const KEYWORDS: [&str; 18] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "group_left",
        "group_right",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
    ];
    const LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let expr = match expr.strip_prefix("label_values(") {
        Some(args) => args.split(',').next().unwrap().to_string(),
        None => expr.to_string(),
    };
    let plain = outside(&expr);
    let tokens = tokens(&plain);
    let mut series = BTreeSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let (word, next) = (tokens[i], tokens.get(i + 1).copied());
        if LISTS.contains(&word) && next == Some("(") {
            while i < tokens.len() && tokens[i] != ")" {
                i += 1;
            }
        } else if is_identifier(word) && next != Some("(") && !KEYWORDS.contains(&word) {
            series.insert(word.to_string());
        }
        i += 1;
    }
    series
}

/// Words (letters, digits, `_`, `:`, `.`, `$`) and single other characters.
fn tokens(text: &str) -> Vec<&str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "_:.$".contains(c);
    let mut tokens = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (start, is_word(c)) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                tokens.push(&text[from..at]);
                start = None;
            }
            _ => {}
        }
        if !is_word(c) && !c.is_whitespace() {
            tokens.push(&text[at..at + c.len_utf8()]);
        }
    }
    if let Some(from) = start {
        tokens.push(&text[from..]);
    }
    tokens
}

/// A metric name: not a number, a duration or a `$variable`.
fn is_identifier(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

/// `expr` without strings, label matchers and range selectors.
fn outside(expr: &str) -> String {
    let (mut out, mut depth, mut quoted) = (String::new(), 0, false);
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}
