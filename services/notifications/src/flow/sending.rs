//! What every sender shares: the loop that looks for due work, jitter
//! for retries, and errors in words short enough for a log.

use questline_kit::DomainError;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest wait between looks.
pub const POLL: Duration = Duration::from_secs(1);

/// Runs `look` (a sender's look for due work) now, again whenever `wake`
/// is notified, and at least once a second, until `shutdown`.
pub async fn keep_looking<F, Fut>(
    what: &str,
    wake: &Notify,
    shutdown: CancellationToken,
    mut look: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), DomainError>>,
{
    loop {
        if let Err(err) = look().await {
            tracing::warn!(%err, "{what}: looking for due work failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Most bytes of a receiver's error kept in the log.
const MOST_ERROR_BYTES: usize = 300;

/// A draw in [0, 1) to stretch a retry's wait by.
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `text` cut to what a log keeps, on a character boundary.
pub fn truncated(mut text: String) -> String {
    if text.len() > MOST_ERROR_BYTES {
        let mut end = MOST_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Why no answer came, in words for the delivery log.
pub fn describe(err: reqwest::Error) -> String {
    use std::error::Error;
    let mut words = if err.is_timeout() {
        "no answer within the timeout".to_string()
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = err.source();
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}
