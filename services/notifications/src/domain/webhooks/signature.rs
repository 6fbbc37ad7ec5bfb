//! Standard Webhooks signatures: `v1,` and the base64 of HMAC-SHA256 over
//! `msg_id.timestamp.body`, keyed with the secret's bytes; secrets travel
//! as `whsec_` and the base64 of those bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// Bytes of a new secret (the spec asks for 24 to 64).
pub const NEW_SECRET_BYTES: usize = 32;

/// A signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A new secret of `bytes`, which the caller draws at random.
    pub fn new(bytes: [u8; NEW_SECRET_BYTES]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Secret> {
        let bytes = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (!bytes.is_empty()).then_some(Secret(bytes))
    }

    /// `whsec_<base64>`.
    pub fn serialize(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 of the HMAC>` of one attempt.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret in force,
/// space-separated, so a receiver holding either secret can verify.
pub fn header(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's reference libraries' vector.
    #[test]
    fn signs_the_reference_vector() {
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn a_new_secret_reads_back() {
        let a = Secret::new([7; NEW_SECRET_BYTES]);
        let text = a.serialize();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text), Some(a));
        assert_ne!(
            Secret::parse(&text),
            Some(Secret::new([8; NEW_SECRET_BYTES]))
        );
    }

    #[test]
    fn what_is_not_a_secret_is_refused() {
        for text in [
            "",
            "whsec_",
            "C2FVsBQIhrscChlQIMV",
            "whsec_not base64!",
            "whsk_AAAA",
        ] {
            assert_eq!(Secret::parse(text), None, "{text}");
        }
    }

    #[test]
    fn the_header_carries_one_signature_per_secret() {
        let (a, b) = (
            Secret::new([1; NEW_SECRET_BYTES]),
            Secret::new([2; NEW_SECRET_BYTES]),
        );
        let header = header(&[a.clone(), b.clone()], "msg_1", 10, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("msg_1", 10, b"{}"), b.sign("msg_1", 10, b"{}")]
        );
        assert_ne!(parts[0], parts[1]);
    }
}
