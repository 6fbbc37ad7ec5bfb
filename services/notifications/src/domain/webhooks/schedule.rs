//! When a failed delivery is tried again: the waits of the retry schedule
//! (Standard Webhooks' example by default), each stretched by a random
//! tenth so receivers that failed together are not hit together again, and
//! never sooner than the receiver's `Retry-After` asked.

use std::time::Duration;

/// Longest `Retry-After` honoured: a day, whatever the receiver says.
const MOST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The waits between attempts after the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<Duration>);

impl Schedule {
    /// Reads `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`); an empty text is
    /// a single attempt.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let waits = text
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(wait)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule(waits))
    }

    /// Attempts in a round: the first and one per wait.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// How long after attempt `made` (1 for the first) of a round the next
    /// one goes, `None` when that was the last; `jitter` in [0, 1) stretches
    /// the wait by up to a tenth; `retry_after` is the receiver's own ask.
    pub fn next(
        &self,
        made: usize,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let wait = *self.0.get(made.checked_sub(1)?)?;
        let stretched = wait.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 10.0);
        let asked = retry_after.map_or(Duration::ZERO, |r| r.min(MOST_RETRY_AFTER));
        Some(stretched.max(asked))
    }
}

fn wait(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = |s: u64| Duration::from_secs(n.saturating_mul(s));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(seconds(1)),
        "m" => Ok(seconds(60)),
        "h" => Ok(seconds(3600)),
        _ => Err(format!("{text:?} has an unknown unit (ms, s, m or h)")),
    }
}

/// A `Retry-After` value in seconds (the HTTP-date form is not honoured:
/// a receiver's clock is not ours).
pub fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Schedule {
        Schedule::parse("5s,5m,30m,2h,5h,10h,14h,20h,24h").unwrap()
    }

    #[test]
    fn the_standard_schedule_spans_ten_attempts_over_three_days() {
        let s = standard();
        assert_eq!(s.attempts(), 10);
        let total: Duration = (1..s.attempts())
            .map(|n| s.next(n, 0.0, None).unwrap())
            .sum();
        assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
        assert_eq!(s.next(10, 0.0, None), None);
    }

    #[test]
    fn jitter_stretches_by_at_most_a_tenth() {
        let s = standard();
        assert_eq!(s.next(1, 0.0, None), Some(Duration::from_secs(5)));
        assert_eq!(s.next(1, 0.5, None), Some(Duration::from_millis(5250)));
        let most = s.next(2, 0.999_999, None).unwrap();
        assert!(most < Duration::from_secs(330) && most > Duration::from_secs(329));
    }

    #[test]
    fn retry_after_pushes_later_never_sooner_and_at_most_a_day() {
        let s = standard();
        let later = Some(Duration::from_secs(60));
        assert_eq!(s.next(1, 0.0, later), Some(Duration::from_secs(60)));
        let sooner = Some(Duration::from_secs(1));
        assert_eq!(s.next(2, 0.0, sooner), Some(Duration::from_secs(300)));
        let huge = Some(Duration::from_secs(90 * 24 * 3600));
        assert_eq!(s.next(1, 0.0, huge), Some(MOST_RETRY_AFTER));
        assert_eq!(
            s.next(10, 0.0, later),
            None,
            "the last attempt stays the last"
        );
    }

    #[test]
    fn schedules_read_units_and_refuse_nonsense() {
        assert_eq!(
            Schedule::parse(" 50ms, 2s ,1m").unwrap().0,
            [
                Duration::from_millis(50),
                Duration::from_secs(2),
                Duration::from_secs(60)
            ]
        );
        assert_eq!(Schedule::parse("").unwrap().attempts(), 1);
        for bad in ["5", "5d", "s", "-5s", "5 s"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
    }
}
