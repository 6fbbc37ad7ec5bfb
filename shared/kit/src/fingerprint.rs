//! A request's fingerprint, stored beside its idempotency key: the same key with
//! another request is refused instead of silently answered with the first result.

use sha2::{Digest, Sha256};

/// SHA-256 of the protobuf encoding (maps are ordered, so it is deterministic).
pub fn of<M: prost::Message>(request: &M) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn differs_when_the_request_differs() {
        let a = prost_types::Timestamp {
            seconds: 1,
            nanos: 0,
        };
        let b = prost_types::Timestamp {
            seconds: 2,
            nanos: 0,
        };
        assert_eq!(super::of(&a), super::of(&a.clone()));
        assert_ne!(super::of(&a), super::of(&b));
    }
}
