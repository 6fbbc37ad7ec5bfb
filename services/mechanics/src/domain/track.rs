//! A tracked event: its checks (shape, skew and lateness), what the rules
//! see of it, and the keys that make its credits happen once.

use questline_kit::{DomainError, Violations};
use serde_json::{Map, Value as Json};

use cel::Program;
use jiff::civil::Date;

use questline_kit::members::MemberSnapshot;

use super::rules::MemberDates;

/// An event to track, decoded and checked: what the flow records and evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub tenant_id: String,
    pub event_id: String,
    /// Empty until resolved when the caller named the member by `external_id`.
    pub member_id: String,
    /// The brand's own id for the member, instead of `member_id`.
    pub external_id: String,
    pub event_type: String,
    pub attributes: Map<String, Json>,
    /// When it happened, in ms; `None` means when it is recorded.
    pub occurred_at: Option<i64>,
    /// The request's fingerprint: the same event id with another request is refused.
    pub fingerprint: String,
}

/// Where a tracked event stands: `Pending` until every award has reached the
/// ledger, then `Applied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Pending,
    Applied,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Applied => "applied",
        }
    }

    pub fn parse(s: &str) -> Result<EventStatus, DomainError> {
        match s {
            "pending" => Ok(EventStatus::Pending),
            "applied" => Ok(EventStatus::Applied),
            other => Err(DomainError::internal(format!(
                "unknown tracked event status {other}"
            ))),
        }
    }
}

/// Largest attributes object accepted, as JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// How far ahead of the engine's clock an occurrence time may be (clock skew).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// How late an event may arrive: it is judged by the rules of its own time.
pub const MAX_LATENESS_MS: i64 = 7 * 24 * 60 * 60 * 1000;

pub fn validate(t: &Track, attributes_len: usize, now_ms: i64) -> Result<(), DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &t.tenant_id).id("event_id", &t.event_id);
    questline_kit::members::check_one(&mut v, &t.member_id, &t.external_id);
    v.id("event_type", &t.event_type).check(
        attributes_len <= MAX_ATTRIBUTES_BYTES,
        "attributes",
        "must be at most 16 KiB as JSON",
    );
    if let Some(at) = t.occurred_at {
        v.check(
            at <= now_ms.saturating_add(MAX_SKEW_MS),
            "occur_time",
            "must not be more than 5 minutes ahead of the engine's clock",
        )
        .check(
            at >= now_ms.saturating_sub(MAX_LATENESS_MS),
            "occur_time",
            "must be within the last 7 days (the lateness window)",
        );
    }
    v.finish()
}

/// What the rules see of the event: its attributes, `type` and `id`.
pub fn event_facts(event_type: &str, event_id: &str, attributes: Map<String, Json>) -> Json {
    let mut event = attributes;
    event.insert("type".into(), event_type.into());
    event.insert("id".into(), event_id.into());
    Json::Object(event)
}

/// What rules have set on one member: tags and attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traits {
    pub tags: Vec<String>,
    pub attributes: Map<String, Json>,
}

/// What the engine knows of a member beyond identity's facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    pub traits: Traits,
    /// `member.counters`: each counter's value.
    pub counters: Map<String, Json>,
    /// `member.segments`: the ids of the segments the member is in.
    pub segments: Vec<String>,
}

/// What the rules see of the member: identity's facts with `id` and
/// `external_id`, the tags rules set, their attributes overlaid on the
/// profile's, the member's counters and segments.
pub fn member_facts(member: &MemberSnapshot, standing: Standing) -> Json {
    let mut facts = member.facts.clone();
    let attributes = facts
        .entry("attributes")
        .or_insert_with(|| Json::Object(Map::new()));
    if let Json::Object(attributes) = attributes {
        attributes.extend(standing.traits.attributes);
    }
    facts.insert("tags".into(), standing.traits.tags.into());
    facts.insert("counters".into(), Json::Object(standing.counters));
    facts.insert("segments".into(), standing.segments.into());
    questline_kit::expr::member(&member.member_id, &member.external_id, &facts)
}

/// The ids of `segments` whose predicate holds for the member as identity
/// knows them (what identity's `EvaluateSegment` answers): none without
/// profiling consent; a predicate that fails holds nothing.
pub fn segments_of(segments: &[(String, Program)], member: &MemberSnapshot) -> Vec<String> {
    if segments.is_empty() || !questline_kit::expr::may_profile(&member.facts) {
        return vec![];
    }
    let facts = questline_kit::expr::member(&member.member_id, &member.external_id, &member.facts);
    let bound = questline_kit::expr::value(&facts);
    questline_kit::expr::in_scope(&[("member", &bound)], |scope| {
        segments
            .iter()
            .filter(|(_, predicate)| scope.holds(predicate).unwrap_or(false))
            .map(|(id, _)| id.clone())
            .collect()
    })
}

/// The member's special days from their facts (`birthday` is YYYY-MM-DD,
/// `joined` an RFC 3339 instant, read as a UTC date).
pub fn member_dates(facts: &Map<String, Json>) -> MemberDates {
    let text = |name: &str| facts.get(name).and_then(Json::as_str).unwrap_or_default();
    MemberDates {
        birthday: text("birthday").parse::<Date>().ok(),
        joined: text("joined")
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date()),
    }
}

/// The ledger idempotency key of an award: one credit per (event, rule), ever.
pub fn award_key(event_id: &str, rule_id: &str) -> String {
    questline_kit::fingerprint::key_of("track:", &[event_id, rule_id])
}

/// What the member's history shows for an award, within the ledger's limit.
pub fn award_reason(rule_name: &str) -> String {
    questline_kit::error::clip(&format!("rule {rule_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(occurred_at: Option<i64>) -> Track {
        Track {
            tenant_id: "acme".into(),
            event_id: "e1".into(),
            member_id: "m1".into(),
            external_id: String::new(),
            event_type: "purchase".into(),
            attributes: Map::new(),
            occurred_at,
            fingerprint: String::new(),
        }
    }

    #[test]
    fn award_keys_are_stable_short_and_never_collide() {
        assert_eq!(award_key("e1", "r1"), award_key("e1", "r1"));
        assert_ne!(award_key("e1", "r1"), award_key("e1", "r2"));
        assert_ne!(award_key("a:b", "c"), award_key("a", "b:c"));
        let long = "x".repeat(256);
        assert!(award_key(&long, &long).len() <= 256);
        assert_eq!(award_reason(&long).chars().count(), 256);
    }

    #[test]
    fn an_award_key_is_track_then_the_sha256_of_event_and_rule() {
        let key = award_key("e1", "r1");
        let digest = key.strip_prefix("track:").expect("the track: prefix");
        assert_eq!(digest.len(), 64);
        assert!(digest.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        // Length-prefixed parts, not `track:e1:r1`.
        assert_ne!(key, "track:e1:r1");
        assert_eq!(
            key,
            questline_kit::fingerprint::key_of("track:", &["e1", "r1"])
        );
    }

    #[test]
    fn event_statuses_round_trip_and_unknown_ones_are_refused() {
        for status in [EventStatus::Pending, EventStatus::Applied] {
            assert_eq!(EventStatus::parse(status.as_str()).ok(), Some(status));
        }
        assert!(EventStatus::parse("done").is_err());
    }

    #[test]
    fn oversized_attributes_and_empty_ids_are_refused() {
        let now = 1_000_000_000_000;
        assert!(validate(&track(None), MAX_ATTRIBUTES_BYTES + 1, now).is_err());
        assert!(validate(&track(None), 10, now).is_ok());
        let mut no_tenant = track(None);
        no_tenant.tenant_id.clear();
        assert!(validate(&no_tenant, 10, now).is_err());
    }

    #[test]
    fn occurrence_times_within_the_skew_and_lateness_windows() {
        let now = 1_000_000_000_000;
        let table = [
            (now, true),
            (now + MAX_SKEW_MS, true),
            (now + MAX_SKEW_MS + 1, false),
            (now - MAX_LATENESS_MS, true),
            (now - MAX_LATENESS_MS - 1, false),
            (i64::MIN, false),
            (i64::MAX, false),
        ];
        for (at, ok) in table {
            assert_eq!(validate(&track(Some(at)), 10, now).is_ok(), ok, "{at}");
        }
    }

    #[test]
    fn special_days_come_from_the_facts() {
        let facts = serde_json::json!({"birthday": "2000-02-29", "joined": "2025-03-01T23:30:00Z"});
        let dates = member_dates(facts.as_object().unwrap());
        assert_eq!(dates.birthday, Some(jiff::civil::date(2000, 2, 29)));
        assert_eq!(dates.joined, Some(jiff::civil::date(2025, 3, 1)));
        assert_eq!(member_dates(&Map::new()), MemberDates::default());
    }
}
