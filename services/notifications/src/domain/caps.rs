//! Frequency caps: at most so many marketing messages per member and
//! channel a day and a week, counted on the programme's calendar.
//!
//! Rules:
//! 1. Only marketing messages count and are capped: a transactional one
//!    (points, a voucher code) always goes.
//! 2. A day is the programme's local date, a week its ISO week (Monday
//!    first), in the tenant's time zone (UTC until identity names one).
//! 3. A message past either cap is not sent and counts against neither;
//!    the store takes both allowances in one transaction, so concurrent
//!    messages cannot overshoot.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use questline_kit::{DomainError, Violations};
use serde::{Deserialize, Serialize};

use super::channels::Channel;

/// The highest cap a programme may set.
pub const MOST: u32 = 1_000;

/// One channel's caps; 0 leaves a window uncapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    pub channel: Channel,
    pub per_day: u32,
    pub per_week: u32,
}

/// The calendar windows a message counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// E.g. `d2026-12-07`.
    pub day: String,
    /// E.g. `w2026-W49`.
    pub week: String,
}

/// The windows of the instant `now_ms` in `zone`.
pub fn windows(now_ms: i64, zone: &str) -> Windows {
    let zone = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
    let at = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    let local = at.to_zoned(zone);
    let week = local.date().iso_week_date();
    Windows {
        day: format!("d{}", local.date()),
        week: format!("w{:04}-W{:02}", week.year(), week.week()),
    }
}

/// The programme's caps as asked for: each channel once, each cap at most
/// `MOST`, and a week's cap no lower than a day's.
pub fn check(caps: &[Cap]) -> Result<(), DomainError> {
    let mut v = Violations::new();
    for (i, cap) in caps.iter().enumerate() {
        let at = |field: &str| format!("caps[{i}].{field}");
        if caps[..i].iter().any(|c| c.channel == cap.channel) {
            v.add(&at("channel"), "must name each channel once");
        }
        for (field, limit) in [("per_day", cap.per_day), ("per_week", cap.per_week)] {
            if limit > MOST {
                v.add(&at(field), format!("must be at most {MOST}"));
            }
        }
        if cap.per_day > 0 && cap.per_week > 0 && cap.per_week < cap.per_day {
            v.add(&at("per_week"), "must not be below per_day");
        }
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07T23:30:00Z, a Monday night in London, Tuesday in Singapore.
    const MONDAY_NIGHT: i64 = 1_796_686_200_000;

    #[test]
    fn days_and_weeks_follow_the_programmes_clock() {
        let london = windows(MONDAY_NIGHT, "Europe/London");
        assert_eq!(london.day, "d2026-12-07");
        assert_eq!(london.week, "w2026-W50");
        let singapore = windows(MONDAY_NIGHT, "Asia/Singapore");
        assert_eq!(singapore.day, "d2026-12-08");
        // No zone known: UTC.
        assert_eq!(windows(MONDAY_NIGHT, "").day, "d2026-12-07");
    }

    #[test]
    fn caps_name_each_channel_once_within_bounds() {
        let cap = |channel, per_day, per_week| Cap {
            channel,
            per_day,
            per_week,
        };
        assert!(check(&[cap(Channel::Inbox, 3, 10), cap(Channel::Push, 0, 2)]).is_ok());
        assert!(check(&[cap(Channel::Inbox, 3, 0), cap(Channel::Inbox, 1, 0)]).is_err());
        assert!(check(&[cap(Channel::Inbox, MOST + 1, 0)]).is_err());
        assert!(check(&[cap(Channel::Inbox, 5, 2)]).is_err());
    }
}
