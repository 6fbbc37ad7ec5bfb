//! Latencies and counts gathered by the drivers, and what they add up to.

use std::time::Duration;

/// What one task (or the whole run, once merged) saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per completed request (done or refused), in microseconds.
    pub latencies_us: Vec<u64>,
    pub refused: u64,
    pub failed: u64,
    /// The first few failures, for the report.
    pub failures: Vec<String>,
}

const KEPT_FAILURES: usize = 5;

impl Tally {
    pub fn completed(&mut self, latency: Duration, refused: bool) {
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        if refused {
            self.refused += 1;
        }
    }

    pub fn failed(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(why);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.refused += other.refused;
        self.failed += other.failed;
        for f in other.failures {
            if self.failures.len() < KEPT_FAILURES {
                self.failures.push(f);
            }
        }
    }

    /// Sorts the latencies and sums the run up over `elapsed`.
    pub fn summary(mut self, elapsed: Duration) -> Summary {
        self.latencies_us.sort_unstable();
        let completed = self.latencies_us.len() as u64;
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        Summary {
            completed,
            tps: completed as f64 / secs,
            p50_ms: percentile(&self.latencies_us, 0.50),
            p99_ms: percentile(&self.latencies_us, 0.99),
            max_ms: percentile(&self.latencies_us, 1.0),
            refused: self.refused,
            failed: self.failed,
            failures: self.failures,
            elapsed_s: secs,
        }
    }
}

#[derive(Debug)]
pub struct Summary {
    pub completed: u64,
    pub tps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub refused: u64,
    pub failed: u64,
    pub failures: Vec<String>,
    pub elapsed_s: f64,
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&us, 0.50), 50.0);
        assert_eq!(percentile(&us, 0.99), 99.0);
        assert_eq!(percentile(&us, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
