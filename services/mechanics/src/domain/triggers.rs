//! Time triggers: events the engine tracks itself when a day comes rather
//! than when the member acts — their birthday, the anniversary of their
//! sign-up, and inactivity ("no qualifying event for 21 days", so a
//! programme can win a member back). Each is an ordinary tracked event of a
//! reserved type, judged by the rules like any other, with an id that makes
//! it happen once: once a year, or once per lapse.

use jiff::Timestamp;
use jiff::civil::Date;
use questline_kit::DomainError;
use serde_json::{Map, Value as Json, json};

use super::rules::MemberDates;
use super::rules::special_days::yearly;

/// Event types with this prefix are the engine's own; clients may not send them.
pub const PREFIX: &str = "questline.";
pub const BIRTHDAY: &str = "questline.birthday";
pub const SIGNUP_ANNIVERSARY: &str = "questline.signup_anniversary";
pub const INACTIVE: &str = "questline.inactive";
/// The engine's event types a rule may listen to.
pub const TYPES: [&str; 3] = [BIRTHDAY, SIGNUP_ANNIVERSARY, INACTIVE];

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One event a sweep tracks on a member's behalf.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub event_id: String,
    pub event_type: &'static str,
    pub member_id: String,
    pub attributes: Map<String, Json>,
}

/// Refuses an event type of the engine's own from a client.
pub fn client_may_send(event_type: &str) -> Result<(), DomainError> {
    if event_type.starts_with(PREFIX) {
        return Err(DomainError::invalid(
            "event_type",
            "types starting with 'questline.' are the engine's own (time triggers)",
        ));
    }
    Ok(())
}

/// The member's birthday event, when `today` is their birthday (29 February
/// falls on the 28th in other years).
pub fn birthday(member_id: &str, dates: MemberDates, today: Date) -> Option<Due> {
    let born = dates.birthday.filter(|b| yearly(*b, today))?;
    let age = today.year() - born.year();
    Some(Due {
        event_id: format!("birthday:{member_id}:{}", today.year()),
        event_type: BIRTHDAY,
        member_id: member_id.into(),
        attributes: object(json!({"year": today.year(), "age": age})),
    })
}

/// The anniversary of the member's sign-up, from the first year after it.
pub fn signup_anniversary(member_id: &str, dates: MemberDates, today: Date) -> Option<Due> {
    let joined = dates
        .joined
        .filter(|j| j.year() < today.year() && yearly(*j, today))?;
    Some(Due {
        event_id: format!("signup_anniversary:{member_id}:{}", today.year()),
        event_type: SIGNUP_ANNIVERSARY,
        member_id: member_id.into(),
        attributes: object(json!({"years": today.year() - joined.year()})),
    })
}

/// The inactivity event of `rule_id` (after `days` days) for a member whose
/// last qualifying event was at `last_ms` (or who joined at `joined_ms` and
/// has none), once per lapse: its id names the instant the lapse began.
pub fn inactivity(
    rule_id: &str,
    days: i32,
    member_id: &str,
    last_ms: Option<i64>,
    joined_ms: Option<i64>,
    now_ms: i64,
) -> Option<Due> {
    let since = last_ms.or(joined_ms)?;
    if now_ms - since < i64::from(days) * DAY_MS {
        return None;
    }
    let since_text = Timestamp::from_millisecond(since).ok()?.to_string();
    Some(Due {
        event_id: format!("inactive:{rule_id}:{member_id}:{since}"),
        event_type: INACTIVE,
        member_id: member_id.into(),
        attributes: object(json!({"days": days, "rule_id": rule_id, "since": since_text})),
    })
}

fn object(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
