//! A request's fingerprint, stored beside its idempotency key: the same key with
//! another request is refused instead of silently answered with the first result.

use sha2::{Digest, Sha256};

use crate::error::DomainError;

/// SHA-256 of the protobuf encoding (maps are ordered, so it is deterministic).
pub fn of<M: prost::Message>(request: &M) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

/// Like `of`, for keys shared by several calls: two calls whose requests
/// encode alike (a credit and a debit) still differ.
pub fn of_call<M: prost::Message>(call: &str, request: &M) -> String {
    let mut hash = Sha256::new();
    hash.update(call.as_bytes());
    hash.update([0]);
    hash.update(request.encode_to_vec());
    hex::encode(hash.finalize())
}

/// A key for another service derived from `parts`: `prefix` and 64 hex
/// digits, so it fits any key limit, and parts are length-prefixed so
/// `("a:b", "c")` and `("a", "b:c")` never meet.
pub fn key_of(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{prefix}{}", hex::encode(hash.finalize()))
}

/// Refuses a reused key whose request differs from the first one.
pub fn same_request(stored: &str, incoming: &str) -> Result<(), DomainError> {
    if stored == incoming {
        Ok(())
    } else {
        Err(DomainError::AlreadyExists(
            "the idempotency key was already used for a different request".into(),
        ))
    }
}

/// A request's fingerprint field by field, so a reused key can name what
/// changed: `call;name=hash;...`, 16 hex digits of SHA-256 per field.
#[derive(Debug, Clone)]
pub struct Fields(String);

impl Fields {
    pub fn new(call: &str) -> Fields {
        Fields(call.to_string())
    }

    /// Adds a field; `value` is any stable encoding of it.
    pub fn field(mut self, name: &str, value: impl AsRef<[u8]>) -> Fields {
        let digest = Sha256::digest(value.as_ref());
        self.0.push(';');
        self.0.push_str(name);
        self.0.push('=');
        self.0.push_str(&hex::encode(&digest[..8]));
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// Refuses a reused key whose request differs, naming the first field that
/// differs (`call` when it was another kind of request).
pub fn same_fields(stored: &str, incoming: &str) -> Result<(), DomainError> {
    if stored == incoming {
        return Ok(());
    }
    let mut theirs = stored.split(';');
    let mut ours = incoming.split(';');
    if theirs.next() != ours.next() {
        return Err(DomainError::KeyReused {
            field: "call".into(),
        });
    }
    let stored_fields: std::collections::HashMap<&str, &str> =
        theirs.filter_map(|f| f.split_once('=')).collect();
    let field = ours
        .filter_map(|f| f.split_once('='))
        .find(|(name, hash)| stored_fields.get(name) != Some(hash))
        .map(|(name, _)| name)
        .unwrap_or("request");
    Err(DomainError::KeyReused {
        field: field.into(),
    })
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
        assert_ne!(super::of_call("Credit", &a), super::of_call("Debit", &a));
        assert!(super::same_request("x", "y").is_err());
        assert_ne!(
            super::key_of("t:", &["a:b", "c"]),
            super::key_of("t:", &["a", "b:c"])
        );
        assert_eq!(super::key_of("t:", &[&"e".repeat(300)]).len(), 66);
    }

    #[test]
    fn a_reused_key_names_the_field_that_differs() {
        use super::{Fields, same_fields};
        use crate::error::DomainError;
        let first = Fields::new("Credit")
            .field("member_id", "m1")
            .field("amount", "5");
        let again = first.clone().finish();
        let more = Fields::new("Credit")
            .field("member_id", "m1")
            .field("amount", "6");
        let debit = Fields::new("Debit")
            .field("member_id", "m1")
            .field("amount", "5");
        let first = first.finish();
        assert!(same_fields(&first, &again).is_ok());
        let named = |incoming: &str| match same_fields(&first, incoming) {
            Err(DomainError::KeyReused { field }) => field,
            other => panic!("expected a reused key, got {other:?}"),
        };
        assert_eq!(named(&more.finish()), "amount");
        assert_eq!(named(&debit.finish()), "call");
    }
}
