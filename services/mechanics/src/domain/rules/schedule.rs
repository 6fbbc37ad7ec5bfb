//! When a rule is in force: an active range of instants, then days of the
//! week and hours of the day read on the wall clock of the rule's time zone.
//!
//! Windows are wall-clock times, so "Saturdays 09:00–15:00" stays 09:00–15:00
//! local across daylight-saving changes; an hour the clock skips matches no
//! instant, an hour it repeats matches both.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use questline_kit::Violations;
use serde::{Deserialize, Serialize};

/// A day of the week, as rules name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];

    /// 1 for Monday to 7 for Sunday (ISO 8601).
    pub fn number(self) -> i8 {
        Day::ALL.iter().position(|d| *d == self).unwrap_or(0) as i8 + 1
    }

    pub fn from_number(n: i8) -> Option<Day> {
        Day::ALL
            .get(usize::try_from(n).ok()?.checked_sub(1)?)
            .copied()
    }
}

/// Hours of a day, `start` included, `end` excluded, as "HH:MM" (`end` may be "24:00").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// A rule's schedule; every part left empty means "always".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// First instant in force, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// First instant no longer in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
}

/// A window as minutes of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Minutes {
    start: u16,
    end: u16,
}

/// A schedule ready to test instants against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledSchedule {
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    days: Vec<Day>,
    windows: Vec<Minutes>,
}

/// "HH:MM" as minutes since midnight; "24:00" only where `end` allows it.
fn minutes(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    let ok = m < 60 && (h < 24 || (end && total == 24 * 60));
    ok.then_some(total)
}

impl Schedule {
    pub fn compile(&self, v: &mut Violations, field: &str) -> CompiledSchedule {
        if let (Some(start), Some(end)) = (self.start_ms, self.end_ms) {
            v.check(
                start < end,
                &format!("{field}.end_time"),
                "must be after start_time",
            );
        }
        v.check(
            self.windows.len() <= 24,
            &format!("{field}.windows"),
            "must be at most 24",
        );
        let mut windows = Vec::new();
        for (i, w) in self.windows.iter().enumerate() {
            let at = format!("{field}.windows[{i}]");
            match (minutes(&w.start, false), minutes(&w.end, true)) {
                (Some(start), Some(end)) if start < end => windows.push(Minutes { start, end }),
                (Some(_), Some(_)) => {
                    v.add(
                        &format!("{at}.end"),
                        "must be after start (split a window that crosses midnight in two)",
                    );
                }
                (start, end) => {
                    if start.is_none() {
                        v.add(
                            &format!("{at}.start"),
                            "must be a time HH:MM, 00:00 to 23:59",
                        );
                    }
                    if end.is_none() {
                        v.add(&format!("{at}.end"), "must be a time HH:MM, 00:01 to 24:00");
                    }
                }
            }
        }
        let mut days = self.days.clone();
        days.sort_by_key(|d| d.number());
        days.dedup();
        CompiledSchedule {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            days,
            windows,
        }
    }
}

impl CompiledSchedule {
    /// Whether the rule is in force at `at_ms` in `zone`.
    pub fn contains(&self, zone: &TimeZone, at_ms: i64) -> bool {
        if self.start_ms.is_some_and(|s| at_ms < s) || self.end_ms.is_some_and(|e| at_ms >= e) {
            return false;
        }
        if self.days.is_empty() && self.windows.is_empty() {
            return true;
        }
        let Ok(instant) = Timestamp::from_millisecond(at_ms) else {
            return false;
        };
        let local = instant.to_zoned(zone.clone());
        let day = Day::from_number(local.weekday().to_monday_one_offset());
        let day_ok = self.days.is_empty() || day.is_some_and(|d| self.days.contains(&d));
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let hour_ok = self.windows.is_empty()
            || self
                .windows
                .iter()
                .any(|w| w.start <= minute && minute < w.end);
        day_ok && hour_ok
    }
}

#[cfg(test)]
mod tests;
