//! When earned points expire, per currency.
//!
//! A policy turns the instant points were earned into the instant they stop
//! being spendable (exclusive: at that instant they are expired). Period
//! ends are computed in the currency's time zone, so "end of the month"
//! means midnight at the start of the next month where the programme runs,
//! whatever daylight saving does.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use questline_kit::{DomainError, Violations};

/// The longest horizon a policy may name: 100 years of days or periods.
pub const MAX_DAYS: i64 = 36_600;
pub const MAX_PERIODS: i64 = 1_200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    Never,
    /// At the end of the `n`th calendar day after the earn's day (local
    /// midnight): a day's earns share one expiry, and so one lot.
    DaysAfterEarn(i64),
    /// At the end of the `n`th period after the one of the earn (0: the
    /// earn's own period).
    EndOfPeriod {
        period: Period,
        after: i64,
    },
}

impl ExpiryPolicy {
    /// Checks the policy's figures, adding each problem to `v`.
    pub fn validate(self, v: &mut Violations) -> ExpiryPolicy {
        match self {
            ExpiryPolicy::Never => {}
            ExpiryPolicy::DaysAfterEarn(days) => {
                v.check(
                    (1..=MAX_DAYS).contains(&days),
                    "expiry_policy.days_after_earn",
                    "must be 1 to 36600",
                );
            }
            ExpiryPolicy::EndOfPeriod { after, .. } => {
                v.check(
                    (0..=MAX_PERIODS).contains(&after),
                    "expiry_policy.end_of_period.periods_after",
                    "must be 0 to 1200",
                );
            }
        }
        self
    }

    /// As stored: `never`, `days:<n>`, `month:<n>`, `quarter:<n>`, `year:<n>`.
    pub fn to_text(self) -> String {
        match self {
            ExpiryPolicy::Never => "never".into(),
            ExpiryPolicy::DaysAfterEarn(n) => format!("days:{n}"),
            ExpiryPolicy::EndOfPeriod { period, after } => {
                let name = match period {
                    Period::Month => "month",
                    Period::Quarter => "quarter",
                    Period::Year => "year",
                };
                format!("{name}:{after}")
            }
        }
    }

    pub fn parse(text: &str) -> Result<ExpiryPolicy, DomainError> {
        let bad = || DomainError::internal(format!("stored expiry policy {text:?} is not one"));
        if text == "never" {
            return Ok(ExpiryPolicy::Never);
        }
        let (kind, n) = text.split_once(':').ok_or_else(bad)?;
        let n: i64 = n.parse().map_err(|_| bad())?;
        let period = match kind {
            "days" => return Ok(ExpiryPolicy::DaysAfterEarn(n)),
            "month" => Period::Month,
            "quarter" => Period::Quarter,
            "year" => Period::Year,
            _ => return Err(bad()),
        };
        Ok(ExpiryPolicy::EndOfPeriod { period, after: n })
    }

    /// When points earned at `earned_ms` (Unix ms) expire, in `zone`; `None` never.
    pub fn expires_at(self, earned_ms: i64, zone: &TimeZone) -> Result<Option<i64>, DomainError> {
        let earned = Timestamp::from_millisecond(earned_ms).map_err(DomainError::internal)?;
        let local = earned.to_zoned(zone.clone());
        let expiry = match self {
            ExpiryPolicy::Never => return Ok(None),
            ExpiryPolicy::DaysAfterEarn(days) => local
                .date()
                .checked_add(Span::new().days(days + 1))
                .map_err(DomainError::internal)?
                .to_zoned(zone.clone())
                .map_err(DomainError::internal)?,
            ExpiryPolicy::EndOfPeriod { period, after } => {
                let (start, months) = period_start(local.date(), period)?;
                let end = start
                    .checked_add(Span::new().months(months * (after + 1)))
                    .map_err(DomainError::internal)?;
                end.to_zoned(zone.clone()).map_err(DomainError::internal)?
            }
        };
        Ok(Some(expiry.timestamp().as_millisecond()))
    }
}

/// The first day of the period holding `date`, and the period's length in months.
fn period_start(date: Date, period: Period) -> Result<(Date, i64), DomainError> {
    let (month, months) = match period {
        Period::Month => (date.month(), 1),
        Period::Quarter => ((date.month() - 1) / 3 * 3 + 1, 3),
        Period::Year => (1, 12),
    };
    let start = Date::new(date.year(), month, 1).map_err(DomainError::internal)?;
    Ok((start, months))
}

/// The IANA time zone `name` (from the bundled database, so every machine
/// agrees), or a violation of `field`.
pub fn time_zone(v: &mut Violations, field: &str, name: &str) -> TimeZone {
    if name.is_empty() {
        return TimeZone::UTC;
    }
    match TimeZone::get(name) {
        Ok(zone) => zone,
        Err(_) => {
            v.add(field, "must be an IANA time zone name, e.g. Asia/Singapore");
            TimeZone::UTC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn expiry(policy: ExpiryPolicy, earned: &str, tz: &str) -> Option<i64> {
        policy.expires_at(ms(earned), &zone(tz)).unwrap()
    }

    #[test]
    fn never_means_never() {
        assert_eq!(
            expiry(ExpiryPolicy::Never, "2026-01-31T10:00:00Z", "UTC"),
            None
        );
    }

    #[test]
    fn days_after_earn_end_at_a_local_midnight_across_daylight_saving() {
        // Earned 10 March 11:00 in Paris; day 30 after is 9 April, which ends
        // at midnight local — summer time by then (UTC+2).
        let got = expiry(
            ExpiryPolicy::DaysAfterEarn(30),
            "2026-03-10T10:00:00Z",
            "Europe/Paris",
        );
        assert_eq!(got, Some(ms("2026-04-09T22:00:00Z")));
        // Every earn of one local day shares the expiry.
        let early = expiry(
            ExpiryPolicy::DaysAfterEarn(1),
            "2026-12-31T00:00:00Z",
            "UTC",
        );
        let late = expiry(
            ExpiryPolicy::DaysAfterEarn(1),
            "2026-12-31T23:59:59.999Z",
            "UTC",
        );
        assert_eq!(early, Some(ms("2027-01-02T00:00:00Z")));
        assert_eq!(late, early);
    }

    #[test]
    fn month_ends_are_local_midnights() {
        let month = |after| ExpiryPolicy::EndOfPeriod {
            period: Period::Month,
            after,
        };
        // 31 Jan 20:00 UTC is already 1 Feb in Singapore: February's end, then March's.
        let sg = expiry(month(0), "2026-01-31T20:00:00Z", "Asia/Singapore");
        assert_eq!(sg, Some(ms("2026-02-28T16:00:00Z")));
        let sg = expiry(month(1), "2026-01-31T20:00:00Z", "Asia/Singapore");
        assert_eq!(sg, Some(ms("2026-03-31T16:00:00Z")));
        // In UTC the same instant is January's.
        let utc = expiry(month(0), "2026-01-31T20:00:00Z", "UTC");
        assert_eq!(utc, Some(ms("2026-02-01T00:00:00Z")));
        // A leap February.
        let leap = expiry(month(0), "2028-02-10T00:00:00Z", "UTC");
        assert_eq!(leap, Some(ms("2028-03-01T00:00:00Z")));
    }

    #[test]
    fn quarters_and_years_end_where_the_calendar_says() {
        let quarter = |after| ExpiryPolicy::EndOfPeriod {
            period: Period::Quarter,
            after,
        };
        let year = |after| ExpiryPolicy::EndOfPeriod {
            period: Period::Year,
            after,
        };
        let q = expiry(quarter(0), "2026-05-15T12:00:00Z", "UTC");
        assert_eq!(q, Some(ms("2026-07-01T00:00:00Z")));
        let q = expiry(quarter(2), "2026-11-15T12:00:00Z", "UTC");
        assert_eq!(q, Some(ms("2027-07-01T00:00:00Z")));
        // End of the year after next, in New York (UTC-5 in winter).
        let y = expiry(year(1), "2026-06-01T12:00:00Z", "America/New_York");
        assert_eq!(y, Some(ms("2028-01-01T05:00:00Z")));
    }

    #[test]
    fn policies_round_trip_through_their_stored_text() {
        for policy in [
            ExpiryPolicy::Never,
            ExpiryPolicy::DaysAfterEarn(90),
            ExpiryPolicy::EndOfPeriod {
                period: Period::Month,
                after: 0,
            },
            ExpiryPolicy::EndOfPeriod {
                period: Period::Quarter,
                after: 3,
            },
            ExpiryPolicy::EndOfPeriod {
                period: Period::Year,
                after: 1,
            },
        ] {
            assert_eq!(ExpiryPolicy::parse(&policy.to_text()).unwrap(), policy);
        }
        assert!(ExpiryPolicy::parse("weeks:2").is_err());
        assert!(ExpiryPolicy::parse("days:x").is_err());
    }

    #[test]
    fn out_of_range_figures_and_unknown_zones_are_violations() {
        let mut v = Violations::new();
        ExpiryPolicy::DaysAfterEarn(0).validate(&mut v);
        ExpiryPolicy::DaysAfterEarn(MAX_DAYS + 1).validate(&mut v);
        ExpiryPolicy::EndOfPeriod {
            period: Period::Year,
            after: -1,
        }
        .validate(&mut v);
        time_zone(&mut v, "time_zone", "Mars/Olympus_Mons");
        let Err(DomainError::Invalid(problems)) = v.finish() else {
            panic!("expected violations");
        };
        assert_eq!(problems.len(), 4);
        let mut ok = Violations::new();
        ExpiryPolicy::DaysAfterEarn(365).validate(&mut ok);
        assert_eq!(time_zone(&mut ok, "time_zone", ""), TimeZone::UTC);
        time_zone(&mut ok, "time_zone", "Asia/Singapore");
        assert!(ok.finish().is_ok());
    }
}
