//! API keys and token signing keys.
//!
//! An API key reads `ql_<prefix>_<secret>`: the prefix is stored in clear so a
//! key can be found and shown ("ql_3f9a1c2e…"); only the SHA-256 of the whole
//! key is stored, so a leaked database does not leak API keys. Keys carry 128
//! bits of randomness, which makes a plain hash (not a slow password hash) right.
//! The token signing key is kept in identity's database as it is: protect that
//! database like a secret (encryption at rest comes with the identity issue).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use questline_kit::DomainError;
use questline_kit::auth::{Claims, ISSUER, Scope};
use sha2::{Digest, Sha256};

/// A freshly made key, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub prefix: String,
    pub secret: String,
}

impl NewApiKey {
    /// From 6 + 16 random bytes.
    pub fn from_random(prefix: [u8; 6], secret: [u8; 16]) -> NewApiKey {
        NewApiKey {
            prefix: format!("ql_{}", hex::encode(prefix)),
            secret: hex::encode(secret),
        }
    }

    pub fn full(&self) -> String {
        format!("{}_{}", self.prefix, self.secret)
    }
}

/// The visible prefix of a presented key, if it has our shape.
pub fn prefix_of(api_key: &str) -> Option<&str> {
    let rest = api_key.strip_prefix("ql_")?;
    let (prefix, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    (hexy(prefix, 12) && hexy(secret, 32)).then(|| &api_key[..15])
}

pub fn hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
}

/// An Ed25519 signing key as stored: PKCS#8 for signing, `x` for the JWK.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningMaterial {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    pub x: String,
}

impl SigningMaterial {
    pub fn from_seed(seed: [u8; 32]) -> Result<SigningMaterial, DomainError> {
        let key = SigningKey::from_bytes(&seed);
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(DomainError::internal)?
            .as_bytes()
            .to_vec();
        let public = key.verifying_key().to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        // RFC 7638 thumbprint of the OKP key: a stable, content-derived key id.
        let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
        Ok(SigningMaterial { kid, pkcs8, x })
    }
}

/// The claims of a token for `subject` acting in `tenant` with `scopes`.
pub fn claims(subject: &str, tenant: &str, scopes: Vec<Scope>, now_s: i64, ttl_s: i64) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: subject.into(),
        tenant: tenant.into(),
        scopes,
        iat: now_s,
        exp: now_s + ttl_s,
    }
}

pub fn sign(claims: &Claims, key: &SigningMaterial) -> Result<String, DomainError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(&key.pkcs8);
    jsonwebtoken::encode(&header, claims, &encoding).map_err(DomainError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use questline_kit::auth::{KeySource, PublicKey, TokenVerifier};
    use std::sync::Arc;

    #[test]
    fn keys_are_recognised_by_shape_and_hashed() {
        let key = NewApiKey::from_random([1; 6], [2; 16]);
        let full = key.full();
        assert_eq!(prefix_of(&full), Some(key.prefix.as_str()));
        assert_eq!(prefix_of("ql_zz_secret"), None);
        assert_eq!(prefix_of(""), None);
        assert_ne!(hash(&full), full);
        assert_eq!(hash(&full).len(), 64);
    }

    struct Fixed(SigningMaterial);

    #[async_trait]
    impl KeySource for Fixed {
        async fn public_keys(&self) -> Result<Vec<PublicKey>, DomainError> {
            Ok(vec![PublicKey {
                kid: self.0.kid.clone(),
                x: self.0.x.clone(),
            }])
        }
    }

    #[tokio::test]
    async fn a_signed_token_verifies_and_a_tampered_one_does_not() {
        let key = SigningMaterial::from_seed([7; 32]).unwrap();
        let now = questline_kit::time::now_ms() / 1000;
        let token = sign(&claims("c1", "acme", vec![Scope::Server], now, 60), &key).unwrap();
        let verifier = TokenVerifier::new(Arc::new(Fixed(key.clone())));
        let verified = verifier.verify(&token).await.unwrap();
        assert_eq!(verified.tenant, "acme");
        assert_eq!(verified.scopes, vec![Scope::Server]);

        let other = SigningMaterial::from_seed([8; 32]).unwrap();
        let forged = sign(
            &claims("c1", "acme", vec![Scope::Admin], now, 60),
            &SigningMaterial {
                kid: key.kid.clone(),
                ..other
            },
        )
        .unwrap();
        assert!(verifier.verify(&forged).await.is_err());

        let expired = sign(
            &claims("c1", "acme", vec![Scope::Server], now - 3600, 60),
            &key,
        )
        .unwrap();
        assert!(verifier.verify(&expired).await.is_err());
    }
}
