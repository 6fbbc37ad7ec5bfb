//! Which part a series belongs to, so each admin port serves only its own
//! part's series even when `questline dev` runs every part on one recorder.
//! A series names its part by a label (`questline_service`, the pool's name,
//! the consumer's name); the few a single service records name none and
//! belong to that service.

/// The labels that name a series' part, in the order they are looked for.
const PART_LABELS: [&str; 3] = [
    "questline_service",
    "db_client_connection_pool_name",
    "consumer",
];

/// Series only one service records, by the name of their family.
const ONLY_IN: [(&str, &str); 10] = [
    ("questline_points_issued", "ledger"),
    ("questline_points_burned", "ledger"),
    ("questline_points_expired", "ledger"),
    ("questline_points_outstanding", "ledger"),
    ("questline_events_tracked_total", "mechanics"),
    ("questline_event_credit_latency_seconds", "mechanics"),
    ("questline_events_recovered_total", "mechanics"),
    ("questline_rule_verdicts_total", "mechanics"),
    ("questline_redemptions_total", "rewards"),
    ("questline_notifications_total", "notifications"),
];

/// The lines of a text exposition that belong to `part`: its samples, and
/// the `# HELP`/`# TYPE` lines of every family with at least one of them.
pub fn keep_part(exposition: &str, part: &str) -> String {
    let mut out = String::with_capacity(exposition.len() / 4);
    let mut header = String::new();
    for line in exposition.lines() {
        if line.starts_with('#') {
            if line.starts_with("# HELP") {
                header.clear();
            }
            header.push_str(line);
            header.push('\n');
        } else if !line.trim().is_empty() && owner(line) == Some(part) {
            out.push_str(&header);
            header.clear();
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The part a sample line belongs to; `None` for a line no part claims.
fn owner(line: &str) -> Option<&str> {
    let name = line.split(['{', ' ']).next().unwrap_or_default();
    for label in PART_LABELS {
        if let Some(value) = label_value(line, label) {
            // A consumer's access feed (`ledger-access`) is its service's.
            return Some(value.split('-').next().unwrap_or(value));
        }
    }
    ONLY_IN
        .iter()
        .find(|(family, _)| name.starts_with(family))
        .map(|(_, part)| *part)
}

/// `label`'s value among the sample's labels (values hold no quotes here).
fn label_value<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let labels = line.split_once('{')?.1.split_once('}')?.0;
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == label).then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "\
# HELP rpc_server_call_duration_seconds Inbound gRPC calls
# TYPE rpc_server_call_duration_seconds histogram
rpc_server_call_duration_seconds_bucket{rpc_method=\"Track\",questline_service=\"mechanics\",le=\"0.5\"} 3
rpc_server_call_duration_seconds_count{rpc_method=\"Credit\",questline_service=\"ledger\"} 2
# HELP questline_events_handled_total Deliveries
# TYPE questline_events_handled_total counter
questline_events_handled_total{consumer=\"ledger-access\",outcome=\"ok\"} 4
questline_events_handled_total{consumer=\"notifications\",outcome=\"ok\"} 5
# HELP questline_points_issued Ledger: points
# TYPE questline_points_issued gauge
questline_points_issued{tenant=\"t\",currency=\"stars\"} 35
# HELP questline_notifications_total Notices
# TYPE questline_notifications_total counter
questline_notifications_total{channel=\"inbox\",outcome=\"sent\"} 2
";

    #[test]
    fn a_port_serves_its_own_parts_series_with_their_headers() {
        let ledger = keep_part(EXPOSITION, "ledger");
        assert!(ledger.contains("questline_service=\"ledger\"} 2"));
        assert!(ledger.contains("consumer=\"ledger-access\""));
        assert!(ledger.contains("questline_points_issued{"));
        assert!(!ledger.contains("mechanics"));
        assert!(!ledger.contains("questline_notifications_total"));
        // Every kept family keeps its HELP and TYPE, once.
        assert_eq!(ledger.matches("# TYPE").count(), 3);
        let mechanics = keep_part(EXPOSITION, "mechanics");
        assert_eq!(mechanics.lines().count(), 3);
        let notifications = keep_part(EXPOSITION, "notifications");
        assert!(notifications.contains("consumer=\"notifications\""));
        assert!(notifications.contains("questline_notifications_total{"));
        assert!(keep_part(EXPOSITION, "gateway").is_empty());
    }
}
