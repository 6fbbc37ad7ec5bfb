//! Keys by shape and checksum; tokens accepted only when everything about
//! them is right. Every way a token can be wrong is refused UNAUTHENTICATED.

use super::*;
use async_trait::async_trait;
use questline_kit::access::{AccessList, Blocked};
use questline_kit::auth::{KeySource, PublicKey, TokenVerifier};
use std::sync::Arc;

#[test]
fn keys_are_recognised_by_shape_and_checksum_and_hashed() {
    let key = NewApiKey::from_random([1; 6], [2; 16]);
    let full = key.full();
    assert!(full.starts_with("ql_live_010101010101_"));
    assert_eq!(prefix_of(&full), Some(key.prefix.as_str()));
    assert_ne!(hash(&full), full);
    assert_eq!(hash(&full).len(), 64);

    // One character off anywhere, cut short, or in upper case: refused unseen.
    let mut typo = full.clone().into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        typo.as_str(),
        &full[..full.len() - 1],
        &full.to_uppercase(),
        &full.replace("ql_live_", "ql_test_"),
        "ql_live__",
        "",
    ] {
        assert_eq!(prefix_of(bad), None, "{bad}");
    }
}

struct Fixed(Vec<SigningMaterial>);

#[async_trait]
impl KeySource for Fixed {
    async fn public_keys(&self) -> Result<Vec<PublicKey>, DomainError> {
        Ok(self
            .0
            .iter()
            .map(|k| PublicKey {
                kid: k.kid.clone(),
                x: k.x.clone(),
            })
            .collect())
    }
}

fn now() -> i64 {
    questline_kit::time::now_ms() / 1000
}

fn grant() -> Claims {
    claims(
        Grant {
            subject: "c1",
            client: "c1",
            tenant: "acme",
            scopes: vec![Scope::Server],
            service: "",
        },
        now(),
        60,
    )
}

/// A JWT from raw parts, for the forms `sign` would never produce.
fn raw(header: serde_json::Value, claims: &Claims, signature: &[u8]) -> String {
    let part = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.{}",
        part(header.to_string().as_bytes()),
        part(&serde_json::to_vec(claims).unwrap()),
        part(signature)
    )
}

#[tokio::test]
async fn a_signed_token_verifies_with_its_claims() {
    let key = SigningMaterial::from_seed([7; 32]).unwrap();
    let verifier = TokenVerifier::new(Arc::new(Fixed(vec![key.clone()])));
    let verified = verifier
        .verify(&sign(&grant(), &key).unwrap())
        .await
        .unwrap();
    assert_eq!(verified, grant());
}

#[tokio::test]
async fn every_malformed_forged_or_stale_token_is_refused() {
    let key = SigningMaterial::from_seed([7; 32]).unwrap();
    let other = SigningMaterial::from_seed([8; 32]).unwrap();
    let retired = SigningMaterial::from_seed([9; 32]).unwrap();
    let access = AccessList::default();
    access.set(Blocked::SigningKey, &retired.kid, true);
    let source = Fixed(vec![key.clone(), retired.clone()]);
    let verifier = TokenVerifier::guarded(Arc::new(source), access);

    let good = sign(&grant(), &key).unwrap();
    let header =
        |alg: &str, typ: &str| serde_json::json!({"alg": alg, "typ": typ, "kid": key.kid.clone()});
    let with = |change: fn(&mut Claims)| {
        let mut c = grant();
        change(&mut c);
        sign(&c, &key).unwrap()
    };
    let (body, signature) = good.rsplit_once('.').unwrap();
    let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
    flipped[0] ^= 1;

    let cases: Vec<(&str, String)> = vec![
        ("alg none", raw(header("none", TOKEN_TYPE), &grant(), b"")),
        (
            "HS256 keyed with the public key",
            hs256_with_public_key(&key, &grant()),
        ),
        ("wrong typ", raw(header("EdDSA", "JWT"), &grant(), &[0; 64])),
        ("wrong iss", with(|c| c.iss = "someone-else".into())),
        ("wrong aud", with(|c| c.aud = "another-api".into())),
        (
            "expired",
            with(|c| {
                c.iat -= 3600;
                c.exp = c.iat + 60;
            }),
        ),
        (
            "tampered signature",
            format!("{body}.{}", URL_SAFE_NO_PAD.encode(&flipped)),
        ),
        (
            "tampered claims",
            tampered_claims(&good, |c| c.scopes = vec![Scope::Admin]),
        ),
        (
            "signed by an unknown key under a known kid",
            sign(
                &grant(),
                &SigningMaterial {
                    kid: key.kid.clone(),
                    ..other.clone()
                },
            )
            .unwrap(),
        ),
        ("signed by an unknown key", sign(&grant(), &other).unwrap()),
        ("signed by a retired key", sign(&grant(), &retired).unwrap()),
        ("not a JWT", "not-a-token".into()),
        ("empty", String::new()),
    ];
    let mut accepted = Vec::new();
    for (name, token) in &cases {
        match verifier.verify(token).await {
            Err(DomainError::Unauthenticated(_)) => {}
            other => accepted.push(format!("{name}: {other:?}")),
        }
    }
    assert!(accepted.is_empty(), "not refused: {accepted:#?}");
    assert!(verifier.verify(&good).await.is_ok());
}

/// The classic confusion attack: an HMAC token keyed with the public key.
fn hs256_with_public_key(key: &SigningMaterial, claims: &Claims) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(TOKEN_TYPE.into());
    header.kid = Some(key.kid.clone());
    let secret = jsonwebtoken::EncodingKey::from_secret(key.x.as_bytes());
    jsonwebtoken::encode(&header, claims, &secret).unwrap()
}

/// `token` with its claims changed and its signature kept.
fn tampered_claims(token: &str, change: fn(&mut Claims)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut claims);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{}.{}", parts[0], body, parts[2])
}

/// The verifier remembers tokens it verified; a remembered token still
/// meets every block, its key's retirement and its own expiry.
#[tokio::test]
async fn a_remembered_token_is_still_checked_for_blocks_and_expiry() {
    let key = SigningMaterial::from_seed([7; 32]).unwrap();
    let access = AccessList::default();
    let source = Fixed(vec![key.clone()]);
    let verifier = TokenVerifier::guarded(Arc::new(source), access.clone());
    let good = sign(&grant(), &key).unwrap();
    assert_eq!(verifier.verify(&good).await.unwrap(), grant());
    assert_eq!(verifier.verify(&good).await.unwrap(), grant());

    for (kind, id) in [
        (Blocked::Client, "c1"),
        (Blocked::Tenant, "acme"),
        (Blocked::SigningKey, key.kid.as_str()),
    ] {
        access.set(kind, id, true);
        assert!(verifier.verify(&good).await.is_err(), "{id} blocked");
        access.set(kind, id, false);
        assert!(verifier.verify(&good).await.is_ok(), "{id} let through");
    }

    // Good for one more second of leeway only.
    let mut ending = grant();
    ending.exp = now() - 4;
    let ending = sign(&ending, &key).unwrap();
    assert!(verifier.verify(&ending).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(
        verifier.verify(&ending).await,
        Err(DomainError::Unauthenticated(_))
    ));
}
