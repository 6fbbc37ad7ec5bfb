//! Webhooks by the Standard Webhooks specification. Pure: no I/O.
//!
//! Rules:
//! 1. A delivery is one domain event for one endpoint, at most once per
//!    (endpoint, event); its `webhook-id` stays the same for every attempt,
//!    so a receiver can drop repeats.
//! 2. Every attempt is signed anew: HMAC-SHA256 over `id.timestamp.body`
//!    with each secret in force (`signature`).
//! 3. Only a 2xx answer delivers. 410 Gone disables the endpoint; any other
//!    answer or none is retried on the schedule (`schedule`), a
//!    `Retry-After` pushing the next attempt later, never sooner; after the
//!    last, the delivery is a dead letter until redelivered.
//! 4. An address outside the public internet is reached only where the
//!    operator allows its network (`destination`).

pub mod destination;
pub mod endpoint;
pub mod payload;
pub mod schedule;
pub mod signature;

/// What an attempt's answer means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// The receiver wants no more: disable the endpoint, end the delivery.
    Gone,
    Retry,
}

/// The verdict on an attempt that got `status` back (`None`: no answer).
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        _ => Verdict::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_delivers_and_410_is_gone() {
        let cases = [
            (Some(200), Verdict::Delivered),
            (Some(204), Verdict::Delivered),
            (Some(299), Verdict::Delivered),
            (Some(301), Verdict::Retry),
            (Some(404), Verdict::Retry),
            (Some(410), Verdict::Gone),
            (Some(429), Verdict::Retry),
            (Some(503), Verdict::Retry),
            (None, Verdict::Retry),
        ];
        for (status, expected) in cases {
            assert_eq!(verdict(status), expected, "{status:?}");
        }
    }
}
