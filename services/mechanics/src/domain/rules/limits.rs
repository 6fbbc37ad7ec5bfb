//! Caps (per member) and budgets (per rule) over calendar periods read in
//! the rule's time zone.
//!
//! Invariants, held by `grant` and by the store taking each usage row under
//! lock in the event's own transaction:
//! - a member's count or points under a cap never pass its limit in a period;
//! - the points a rule awards under its budget never pass the budget in a period.
//!
//! An award that would pass a points limit is cut to what remains (so a
//! budget is spent to the last point); a rule whose count cap is reached, or
//! with nothing left, does not apply at all.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use questline_kit::Violations;
use serde::{Deserialize, Serialize};

/// Weeks start on Monday (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Period {
    Day,
    Week,
    Month,
    Lifetime,
}

impl Period {
    /// The period holding `at_ms` in `zone`, e.g. `day:2026-12-05`,
    /// `week:2026-W49`, `month:2026-12`, `lifetime`.
    pub fn key(self, zone: &TimeZone, at_ms: i64) -> String {
        let Ok(instant) = Timestamp::from_millisecond(at_ms) else {
            return "lifetime".into();
        };
        let local = instant.to_zoned(zone.clone()).date();
        match self {
            Period::Day => format!("day:{local}"),
            Period::Week => {
                let week = local.iso_week_date();
                format!("week:{:04}-W{:02}", week.year(), week.week())
            }
            Period::Month => format!("month:{:04}-{:02}", local.year(), local.month()),
            Period::Lifetime => "lifetime".into(),
        }
    }
}

/// What a cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Measure {
    /// Times the rule applied to the member.
    Count,
    /// Points the rule awarded the member.
    Points,
}

/// A limit per member per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    pub period: Period,
    pub measure: Measure,
    pub limit: i64,
}

/// The most points a rule awards all members together per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub period: Period,
    pub limit: i64,
}

/// The largest limit accepted (the ledger's own bound on one amount).
pub const MAX_LIMIT: i64 = 1_000_000_000_000;

/// At most one cap per period and measure.
pub fn check(v: &mut Violations, caps: &[Cap], budget: Option<&Budget>, awards_points: bool) {
    for (i, cap) in caps.iter().enumerate() {
        let field = format!("caps[{i}].limit");
        v.check(
            (1..=MAX_LIMIT).contains(&cap.limit),
            &field,
            "must be 1 to 1000000000000",
        );
        let twin = caps[..i]
            .iter()
            .any(|c| c.period == cap.period && c.measure == cap.measure);
        v.check(
            !twin,
            &format!("caps[{i}]"),
            "repeats the period and measure of an earlier cap",
        );
        v.check(
            cap.measure == Measure::Count || awards_points,
            &format!("caps[{i}].measure"),
            "POINTS needs an action that awards points",
        );
    }
    if let Some(b) = budget {
        v.check(
            (1..=MAX_LIMIT).contains(&b.limit),
            "budget.limit",
            "must be 1 to 1000000000000",
        );
        v.check(
            awards_points,
            "budget",
            "needs an action that awards points",
        );
    }
}

/// A member's use of one cap in the current period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub count: i64,
    pub points: i64,
}

/// Why a rule gave less than it asked, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Cap(Period, Measure),
    Budget(Period),
}

/// What the limits allow of an award of `asked` points (0 for a rule without points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Applies with these points; `cut_by` names a limit that cut them.
    Allowed {
        points: i64,
        cut_by: Option<Limit>,
    },
    Refused(Limit),
}

/// Applies caps (with the member's use) and the budget (with its spend) to an award.
pub fn grant(asked: i64, caps: &[(Cap, Used)], budget: Option<(Budget, i64)>) -> Grant {
    let mut points = asked;
    let mut cut_by = None;
    let mut cut = |room: i64, limit: Limit, points: &mut i64| {
        if room < *points {
            *points = room.max(0);
            cut_by = Some(limit);
        }
    };
    for (cap, used) in caps {
        let limit = Limit::Cap(cap.period, cap.measure);
        match cap.measure {
            Measure::Count if used.count >= cap.limit => return Grant::Refused(limit),
            Measure::Count => {}
            Measure::Points => cut(cap.limit - used.points, limit, &mut points),
        }
    }
    if let Some((b, spent)) = budget {
        cut(b.limit - spent, Limit::Budget(b.period), &mut points);
    }
    match cut_by {
        Some(limit) if points == 0 => Grant::Refused(limit),
        _ => Grant::Allowed { points, cut_by },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn periods_turn_at_local_midnight_and_weeks_start_on_monday() {
        let sg = TimeZone::get("Asia/Singapore").unwrap();
        let table = [
            // 23:59:59 on Sunday 2026-12-06 in Singapore, then Monday 00:00.
            ("2026-12-06T15:59:59Z", Period::Day, "day:2026-12-06"),
            ("2026-12-06T16:00:00Z", Period::Day, "day:2026-12-07"),
            ("2026-12-06T15:59:59Z", Period::Week, "week:2026-W49"),
            ("2026-12-06T16:00:00Z", Period::Week, "week:2026-W50"),
            ("2026-11-30T15:59:59Z", Period::Month, "month:2026-11"),
            ("2026-11-30T16:00:00Z", Period::Month, "month:2026-12"),
            // 1 January 2027 is in ISO week 53 of 2026.
            ("2027-01-01T04:00:00Z", Period::Week, "week:2026-W53"),
            ("2027-01-01T04:00:00Z", Period::Lifetime, "lifetime"),
        ];
        for (instant, period, want) in table {
            assert_eq!(period.key(&sg, at(instant)), want, "{instant} {period:?}");
        }
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        // The same instant is still the 6th in Los Angeles.
        assert_eq!(
            Period::Day.key(&la, at("2026-12-06T16:00:00Z")),
            "day:2026-12-06"
        );
    }

    #[test]
    fn days_keep_their_dates_across_dst_changes() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 23:30 local on the 8th of March (EDT, UTC-4) and on the 1st of November (EST, UTC-5).
        assert_eq!(
            Period::Day.key(&ny, at("2026-03-09T03:30:00Z")),
            "day:2026-03-08"
        );
        assert_eq!(
            Period::Day.key(&ny, at("2026-03-09T04:30:00Z")),
            "day:2026-03-09"
        );
        assert_eq!(
            Period::Day.key(&ny, at("2026-11-02T04:30:00Z")),
            "day:2026-11-01"
        );
        assert_eq!(
            Period::Day.key(&ny, at("2026-11-02T05:30:00Z")),
            "day:2026-11-02"
        );
    }

    const DAILY_ONCE: Cap = Cap {
        period: Period::Day,
        measure: Measure::Count,
        limit: 1,
    };
    const DAILY_100: Cap = Cap {
        period: Period::Day,
        measure: Measure::Points,
        limit: 100,
    };
    const BUDGET: Budget = Budget {
        period: Period::Lifetime,
        limit: 5_000,
    };

    #[test]
    fn count_caps_refuse_once_reached() {
        let fresh = Used::default();
        let once = Used {
            count: 1,
            points: 1,
        };
        assert_eq!(
            grant(1, &[(DAILY_ONCE, fresh)], None),
            Grant::Allowed {
                points: 1,
                cut_by: None
            }
        );
        assert_eq!(
            grant(1, &[(DAILY_ONCE, once)], None),
            Grant::Refused(Limit::Cap(Period::Day, Measure::Count))
        );
        // A rule that awards no points is still counted.
        assert_eq!(
            grant(0, &[(DAILY_ONCE, fresh)], None),
            Grant::Allowed {
                points: 0,
                cut_by: None
            }
        );
    }

    #[test]
    fn points_caps_and_budgets_cut_to_what_remains_then_refuse() {
        let used = |points| Used { count: 3, points };
        let table = [
            (
                30,
                0,
                0,
                Grant::Allowed {
                    points: 30,
                    cut_by: None,
                },
            ),
            (
                30,
                80,
                0,
                Grant::Allowed {
                    points: 20,
                    cut_by: Some(Limit::Cap(Period::Day, Measure::Points)),
                },
            ),
            (
                30,
                100,
                0,
                Grant::Refused(Limit::Cap(Period::Day, Measure::Points)),
            ),
            (
                30,
                0,
                4_990,
                Grant::Allowed {
                    points: 10,
                    cut_by: Some(Limit::Budget(Period::Lifetime)),
                },
            ),
            (
                30,
                0,
                5_000,
                Grant::Refused(Limit::Budget(Period::Lifetime)),
            ),
            // The tighter of the two names itself.
            (
                30,
                85,
                4_990,
                Grant::Allowed {
                    points: 10,
                    cut_by: Some(Limit::Budget(Period::Lifetime)),
                },
            ),
            (
                30,
                95,
                4_990,
                Grant::Allowed {
                    points: 5,
                    cut_by: Some(Limit::Cap(Period::Day, Measure::Points)),
                },
            ),
        ];
        for (asked, member_points, spent, want) in table {
            assert_eq!(
                grant(
                    asked,
                    &[(DAILY_100, used(member_points))],
                    Some((BUDGET, spent))
                ),
                want,
                "asked {asked}, member {member_points}, spent {spent}"
            );
        }
    }

    #[test]
    fn limits_are_checked_at_save() {
        let mut v = Violations::new();
        let caps = [
            DAILY_100,
            DAILY_100,
            Cap {
                limit: 0,
                ..DAILY_ONCE
            },
        ];
        check(
            &mut v,
            &caps,
            Some(&Budget {
                limit: -1,
                ..BUDGET
            }),
            false,
        );
        let Err(questline_kit::DomainError::Invalid(found)) = v.finish() else {
            panic!("expected violations");
        };
        let fields: Vec<_> = found.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "caps[0].measure",
                "caps[1]",
                "caps[1].measure",
                "caps[2].limit",
                "budget.limit",
                "budget"
            ]
        );
    }
}
