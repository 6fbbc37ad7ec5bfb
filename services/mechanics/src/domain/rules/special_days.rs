//! Special days: a rule can be limited to the member's birthday, the
//! anniversary of their sign-up, or listed dates — each read as a date in the
//! rule's time zone.
//!
//! A birthday or sign-up on 29 February is celebrated on 28 February in
//! years without one, so it comes every year and before the month turns.

use jiff::civil::Date;
use questline_kit::Violations;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDays {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub birthday: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signup_anniversary: bool,
    /// "YYYY-MM-DD" for one date, "MM-DD" for the same date every year.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<String>,
}

/// A listed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Once(Date),
    Yearly { month: i8, day: i8 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledSpecialDays {
    birthday: bool,
    signup_anniversary: bool,
    dates: Vec<Listed>,
}

/// What the member's profile says about their special days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberDates {
    pub birthday: Option<Date>,
    pub joined: Option<Date>,
}

/// At most this many listed dates per rule.
pub const MAX_DATES: usize = 366;

impl SpecialDays {
    pub fn compile(&self, v: &mut Violations, field: &str) -> CompiledSpecialDays {
        v.check(
            self.dates.len() <= MAX_DATES,
            &format!("{field}.dates"),
            "must be at most 366",
        );
        let mut dates = Vec::new();
        for (i, text) in self.dates.iter().enumerate() {
            match listed(text) {
                Some(d) => dates.push(d),
                None => {
                    v.add(
                        &format!("{field}.dates[{i}]"),
                        "must be a date YYYY-MM-DD, or MM-DD for every year",
                    );
                }
            }
        }
        CompiledSpecialDays {
            birthday: self.birthday,
            signup_anniversary: self.signup_anniversary,
            dates,
        }
    }
}

fn listed(text: &str) -> Option<Listed> {
    if text.len() == 10 {
        return text.parse::<Date>().ok().map(Listed::Once);
    }
    let (m, d) = text.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (month, day): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    // Any year that has the day: 2024 is a leap year.
    Date::new(2024, month, day).ok()?;
    Some(Listed::Yearly { month, day })
}

impl CompiledSpecialDays {
    /// True when no special day is asked for.
    pub fn is_everyday(&self) -> bool {
        !self.birthday && !self.signup_anniversary && self.dates.is_empty()
    }

    /// Whether `today` (in the rule's zone) is one of the member's special days.
    pub fn includes(&self, today: Date, member: MemberDates) -> bool {
        if self.is_everyday() {
            return true;
        }
        let birthday = self.birthday && member.birthday.is_some_and(|b| yearly(b, today));
        let anniversary = self.signup_anniversary
            && member
                .joined
                .is_some_and(|j| j.year() < today.year() && yearly(j, today));
        let listed = self.dates.iter().any(|d| match *d {
            Listed::Once(date) => date == today,
            Listed::Yearly { month, day } => yearly_on(month, day, today),
        });
        birthday || anniversary || listed
    }
}

/// Whether `today` is the yearly return of `date`.
pub(crate) fn yearly(date: Date, today: Date) -> bool {
    yearly_on(date.month(), date.day(), today)
}

fn yearly_on(month: i8, day: i8, today: Date) -> bool {
    let leap_day_moved = month == 2 && day == 29 && !today.in_leap_year();
    if leap_day_moved {
        today.month() == 2 && today.day() == 28
    } else {
        today.month() == month && today.day() == day
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn compiled(days: SpecialDays) -> CompiledSpecialDays {
        let mut v = Violations::new();
        let c = days.compile(&mut v, "special_days");
        v.finish().expect("valid special days");
        c
    }

    fn born(on: Date) -> MemberDates {
        MemberDates {
            birthday: Some(on),
            joined: None,
        }
    }

    #[test]
    fn birthdays_every_year_and_29_february_on_the_28th_when_there_is_none() {
        let birthday = compiled(SpecialDays {
            birthday: true,
            ..SpecialDays::default()
        });
        let table = [
            (date(1990, 7, 14), date(2026, 7, 14), true),
            (date(1990, 7, 14), date(2026, 7, 15), false),
            (date(2000, 2, 29), date(2024, 2, 29), true),
            (date(2000, 2, 29), date(2024, 2, 28), false),
            (date(2000, 2, 29), date(2026, 2, 28), true),
            (date(2000, 2, 29), date(2026, 3, 1), false),
            (date(1999, 2, 28), date(2026, 2, 28), true),
            (date(1999, 2, 28), date(2024, 2, 29), false),
        ];
        for (birthday_on, today, want) in table {
            assert_eq!(
                birthday.includes(today, born(birthday_on)),
                want,
                "born {birthday_on}, today {today}"
            );
        }
        assert!(!birthday.includes(date(2026, 7, 14), MemberDates::default()));
    }

    #[test]
    fn anniversaries_start_the_year_after_sign_up() {
        let anniversary = compiled(SpecialDays {
            signup_anniversary: true,
            ..SpecialDays::default()
        });
        let joined = |d| MemberDates {
            birthday: None,
            joined: Some(d),
        };
        assert!(!anniversary.includes(date(2025, 3, 1), joined(date(2025, 3, 1))));
        assert!(anniversary.includes(date(2026, 3, 1), joined(date(2025, 3, 1))));
        assert!(anniversary.includes(date(2025, 2, 28), joined(date(2024, 2, 29))));
    }

    #[test]
    fn listed_dates_once_or_every_year() {
        let days = compiled(SpecialDays {
            dates: vec!["2026-12-24".into(), "12-25".into(), "02-29".into()],
            ..SpecialDays::default()
        });
        let nobody = MemberDates::default();
        assert!(days.includes(date(2026, 12, 24), nobody));
        assert!(!days.includes(date(2027, 12, 24), nobody));
        assert!(days.includes(date(2031, 12, 25), nobody));
        assert!(days.includes(date(2027, 2, 28), nobody));
        assert!(!days.includes(date(2028, 2, 28), nobody));
        assert!(days.includes(date(2028, 2, 29), nobody));
    }

    #[test]
    fn no_special_day_means_every_day_and_bad_dates_are_refused() {
        assert!(
            compiled(SpecialDays::default()).includes(date(2026, 1, 1), MemberDates::default())
        );
        let mut v = Violations::new();
        SpecialDays {
            dates: vec![
                "2026-02-30".into(),
                "13-01".into(),
                "1-1".into(),
                "02-29".into(),
            ],
            ..SpecialDays::default()
        }
        .compile(&mut v, "special_days");
        let Err(questline_kit::DomainError::Invalid(found)) = v.finish() else {
            panic!("expected violations");
        };
        let fields: Vec<_> = found.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "special_days.dates[0]",
                "special_days.dates[1]",
                "special_days.dates[2]"
            ]
        );
    }
}
