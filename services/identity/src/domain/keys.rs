//! API keys and token signing keys.
//!
//! An API key reads `ql_live_<id>_<secret><check>`: 12 hex digits of key id,
//! 32 of secret (128 random bits) and 8 of checksum (the first 4 bytes of the
//! SHA-256 of everything before it). The checksum lets a mistyped or truncated
//! key be refused before any lookup, and `ql_live_` lets secret scanners spot
//! a leaked one. The prefix `ql_live_<id>` is stored in clear to find and show
//! the key; only the SHA-256 of the whole key is stored. With 128 bits of
//! randomness a plain hash (not a slow password hash) is right.
//! The token signing key is kept in identity's database as it is: protect
//! that database like a secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use questline_kit::DomainError;
use questline_kit::auth::{AUDIENCE, Claims, ISSUER, Scope, TOKEN_TYPE};
use sha2::{Digest, Sha256};

const KEY_START: &str = "ql_live_";

/// A freshly made key, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub prefix: String,
    secret: String,
}

impl NewApiKey {
    /// From 6 bytes of key id and 16 of secret.
    pub fn from_random(id: [u8; 6], secret: [u8; 16]) -> NewApiKey {
        NewApiKey {
            prefix: format!("{KEY_START}{}", hex::encode(id)),
            secret: hex::encode(secret),
        }
    }

    pub fn full(&self) -> String {
        let body = format!("{}_{}", self.prefix, self.secret);
        let check = checksum(&body);
        format!("{body}{check}")
    }
}

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..4])
}

/// The stored prefix of a presented key, if it has our shape and checksum.
pub fn prefix_of(api_key: &str) -> Option<&str> {
    let rest = api_key.strip_prefix(KEY_START)?;
    let (id, secret_and_check) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    if !hexy(id, 12) || !hexy(secret_and_check, 40) {
        return None;
    }
    let (body, check) = api_key.split_at(api_key.len() - 8);
    (checksum(body) == check).then(|| &api_key[..KEY_START.len() + 12])
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

/// Who a token is for: `subject` (a client or a member) acting in `tenant`
/// with `scopes`, obtained by the API client `client`.
pub struct Grant<'a> {
    pub subject: &'a str,
    pub client: &'a str,
    pub tenant: &'a str,
    pub scopes: Vec<Scope>,
    /// A service token's service, empty for any other token.
    pub service: &'a str,
}

pub fn claims(grant: Grant<'_>, now_s: i64, ttl_s: i64) -> Claims {
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: grant.subject.into(),
        cid: grant.client.into(),
        tenant: grant.tenant.into(),
        scopes: grant.scopes,
        iat: now_s,
        exp: now_s + ttl_s,
        svc: grant.service.into(),
    }
}

pub fn sign(claims: &Claims, key: &SigningMaterial) -> Result<String, DomainError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some(TOKEN_TYPE.into());
    header.kid = Some(key.kid.clone());
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(&key.pkcs8);
    jsonwebtoken::encode(&header, claims, &encoding).map_err(DomainError::internal)
}

#[cfg(test)]
mod tests;
