//! Quiet hours: a nightly window in the member's time zone when marketing
//! messages on intrusive channels wait (or are dropped, by setting).
//!
//! Rules:
//! 1. The window runs from `start` to `end`, wall-clock minutes of the
//!    member's day; a start after the end spans midnight ("21:00" to
//!    "08:00"). Start and end differ.
//! 2. Across a change of clocks the window ends when the wall clock shows
//!    `end`; an `end` the clocks skip is moved on by the gap (as RFC 5545
//!    does), an `end` shown twice is its first showing.
//! 3. Only the channels named are quiet, never the inbox (it makes no
//!    sound), and only marketing messages wait.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use questline_kit::{DomainError, Violations};
use serde::{Deserialize, Serialize};

use super::channels::{Channel, Purpose};

/// The programme's quiet hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// Minutes after midnight, 0..1440.
    pub start: u16,
    pub end: u16,
    pub channels: Vec<Channel>,
    /// Hold a quiet message until the window ends (true) or drop it.
    pub hold: bool,
}

/// What quiet hours make of a message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// Not quiet: send now.
    Send,
    /// Quiet: hold until this instant (ms).
    HoldUntil(i64),
    /// Quiet, and the programme drops such messages.
    Drop,
}

const DAY: u16 = 24 * 60;

impl QuietHours {
    /// What to do now with a message of `purpose` on `channel` for a
    /// member in `zone`.
    pub fn judge(&self, channel: Channel, purpose: Purpose, now_ms: i64, zone: &str) -> Quiet {
        if purpose != Purpose::Marketing || !self.channels.contains(&channel) {
            return Quiet::Send;
        }
        let Some(ends) = self.ends_after(now_ms, zone) else {
            return Quiet::Send;
        };
        if self.hold {
            Quiet::HoldUntil(ends)
        } else {
            Quiet::Drop
        }
    }

    /// When the window `now_ms` is in ends; None when it is in none.
    pub fn ends_after(&self, now_ms: i64, zone: &str) -> Option<i64> {
        let zone = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
        let now = Timestamp::from_millisecond(now_ms).ok()?.to_zoned(zone);
        let minute = now.hour() as u16 * 60 + now.minute() as u16;
        let (start, end) = (self.start, self.end);
        let quiet = if start < end {
            (start..end).contains(&minute)
        } else {
            minute >= start || minute < end
        };
        if !quiet {
            return None;
        }
        // The end is today unless the window spans midnight and began today.
        let days = i64::from(start > end && minute >= start);
        let date = now.date().checked_add(jiff::Span::new().days(days)).ok()?;
        let end_time = Time::new((end / 60) as i8, (end % 60) as i8, 0, 0).ok()?;
        let ends: Zoned = date
            .to_datetime(end_time)
            .to_zoned(now.time_zone().clone())
            .ok()?;
        Some(ends.timestamp().as_millisecond())
    }
}

/// Parses "HH:MM" into minutes after midnight.
pub fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Formats minutes after midnight as "HH:MM".
pub fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Quiet hours as asked for: a window of some length on named channels.
pub fn check(quiet: &QuietHours) -> Result<(), DomainError> {
    let mut v = Violations::new();
    v.check(quiet.start < DAY, "quiet_hours.start", "must be HH:MM");
    v.check(quiet.end < DAY, "quiet_hours.end", "must be HH:MM");
    v.check(
        quiet.start != quiet.end,
        "quiet_hours.end",
        "must differ from start",
    );
    v.check(
        !quiet.channels.is_empty(),
        "quiet_hours.channels",
        "must name at least one channel",
    );
    v.check(
        !quiet.channels.contains(&Channel::Inbox),
        "quiet_hours.channels",
        "must not name the inbox, which makes no sound",
    );
    let mut seen = quiet.channels.clone();
    seen.sort();
    seen.dedup();
    v.check(
        seen.len() == quiet.channels.len(),
        "quiet_hours.channels",
        "must name each channel once",
    );
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nightly(hold: bool) -> QuietHours {
        QuietHours {
            start: minutes("21:00").unwrap(),
            end: minutes("08:00").unwrap(),
            channels: vec![Channel::Push, Channel::Sms],
            hold,
        }
    }

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_night_window_holds_marketing_until_the_morning_in_the_members_zone() {
        let quiet = nightly(true);
        // 23:30 in Singapore (15:30Z): held until 08:00 there (00:00Z).
        let late = at("2026-12-07T15:30:00Z");
        assert_eq!(
            quiet.judge(Channel::Push, Purpose::Marketing, late, "Asia/Singapore"),
            Quiet::HoldUntil(at("2026-12-08T00:00:00Z"))
        );
        // 06:00 there: held until 08:00 the same day.
        let early = at("2026-12-07T22:00:00Z");
        assert_eq!(
            quiet.ends_after(early, "Asia/Singapore"),
            Some(at("2026-12-08T00:00:00Z"))
        );
        // 15:30 in London at the same instant: not quiet.
        assert_eq!(
            quiet.judge(Channel::Push, Purpose::Marketing, late, "Europe/London"),
            Quiet::Send
        );
        // Transactional, the inbox or a channel not named: at once.
        assert_eq!(
            quiet.judge(
                Channel::Push,
                Purpose::Transactional,
                late,
                "Asia/Singapore"
            ),
            Quiet::Send
        );
        assert_eq!(
            quiet.judge(Channel::Email, Purpose::Marketing, late, "Asia/Singapore"),
            Quiet::Send
        );
        let dropping = nightly(false);
        assert_eq!(
            dropping.judge(Channel::Sms, Purpose::Marketing, late, "Asia/Singapore"),
            Quiet::Drop
        );
    }

    #[test]
    fn a_day_window_and_a_change_of_clocks() {
        let lunch = QuietHours {
            start: minutes("12:00").unwrap(),
            end: minutes("14:00").unwrap(),
            channels: vec![Channel::Sms],
            hold: true,
        };
        assert_eq!(lunch.ends_after(at("2026-12-07T11:59:00Z"), "UTC"), None);
        assert_eq!(
            lunch.ends_after(at("2026-12-07T12:00:00Z"), "UTC"),
            Some(at("2026-12-07T14:00:00Z"))
        );
        assert_eq!(lunch.ends_after(at("2026-12-07T14:00:00Z"), "UTC"), None);
        // London springs forward on 2027-03-28 at 01:00 GMT: 01:30 is
        // skipped, and the window ends at 02:30 BST.
        let night = QuietHours {
            start: minutes("23:00").unwrap(),
            end: minutes("01:30").unwrap(),
            channels: vec![Channel::Push],
            hold: true,
        };
        assert_eq!(
            night.ends_after(at("2027-03-27T23:30:00Z"), "Europe/London"),
            Some(at("2027-03-28T01:30:00Z"))
        );
    }

    #[test]
    fn windows_are_checked() {
        assert!(check(&nightly(true)).is_ok());
        let same = QuietHours {
            end: minutes("21:00").unwrap(),
            ..nightly(true)
        };
        assert!(check(&same).is_err());
        let inbox = QuietHours {
            channels: vec![Channel::Inbox],
            ..nightly(true)
        };
        assert!(check(&inbox).is_err());
        assert_eq!(minutes("24:00"), None);
        assert_eq!(minutes("7:00"), None);
        assert_eq!(clock(minutes("07:05").unwrap()), "07:05");
    }
}
