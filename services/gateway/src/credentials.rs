//! Who a partner app acts as. It sends `X-Api-Key: <key>`, which the gateway
//! exchanges with identity for a short-lived token, or a token of its own as
//! `Authorization: Bearer <token>` (with `X-Tenant-Id` only for an operator's
//! token, which belongs to no tenant). The services verify the token on every
//! call; the gateway verifies it too where it must know who is calling: to
//! scope idempotency keys to their client and to find `/v1/me`.

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use questline_kit::auth::{Claims, RemoteKeys, TokenVerifier};
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_proto::identity::IssueTokenRequest;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::problem::Problem;

pub const API_KEY_HEADER: &str = "x-api-key";
pub const TENANT_HEADER: &str = "x-tenant-id";

/// Renew a token this long before it expires, so none dies in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// The token every call of the request carries, and the tenant it acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub token: String,
    pub tenant_id: String,
}

/// What the request presented.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    ApiKey(&'a str),
    Bearer {
        token: &'a str,
        tenant_id: Option<&'a str>,
    },
}

fn presented(headers: &HeaderMap) -> Result<Presented<'_>, Problem> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::trim).unwrap_or_default())
    };
    // Both sent: the API key decides (a key is the stronger, longer-lived
    // credential; the bearer is ignored).
    match (header(API_KEY_HEADER), header("authorization")) {
        (Some(""), _) => Err(unauthenticated("X-Api-Key is empty or malformed")),
        (Some(key), _) => Ok(Presented::ApiKey(key)),
        (None, Some(authorization)) => {
            let token = authorization
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .filter(|token| !token.is_empty())
                .ok_or_else(|| unauthenticated("expected Authorization: Bearer <token>"))?;
            let tenant_id = header(TENANT_HEADER).filter(|t| !t.is_empty());
            Ok(Presented::Bearer { token, tenant_id })
        }
        (None, None) => Err(unauthenticated(
            "send an API key as X-Api-Key, or a token as Authorization: Bearer",
        )),
    }
}

fn unauthenticated(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, detail)
}

struct Cached {
    credentials: Credentials,
    renew_at: Instant,
}

/// Tokens issued for API keys, each kept until shortly before it expires.
/// Keyed by the key's SHA-256: the keys themselves are never kept.
pub struct TokenCache {
    identity: Channel,
    /// Read by every request, written once per key per token lifetime.
    tokens: RwLock<HashMap<[u8; 32], Cached>>,
    verifier: Arc<TokenVerifier>,
}

impl TokenCache {
    pub fn new(identity: Channel) -> TokenCache {
        TokenCache {
            verifier: TokenVerifier::new(RemoteKeys::new(identity.clone())),
            identity,
            tokens: RwLock::new(HashMap::new()),
        }
    }

    pub async fn resolve(&self, headers: &HeaderMap) -> Result<Credentials, Problem> {
        match presented(headers)? {
            Presented::ApiKey(key) => self.exchange(key).await,
            Presented::Bearer {
                token,
                tenant_id: Some(tenant_id),
            } => Ok(Credentials {
                token: token.into(),
                tenant_id: tenant_id.into(),
            }),
            Presented::Bearer {
                token,
                tenant_id: None,
            } => {
                let claims = self.claims(token).await?;
                if claims.tenant.is_empty() {
                    return Err(Problem::invalid(
                        "X-Tenant-Id",
                        "is required with a token that belongs to no tenant",
                    ));
                }
                Ok(Credentials {
                    token: token.into(),
                    tenant_id: claims.tenant,
                })
            }
        }
    }

    /// The claims of `token`, verified against identity's published keys
    /// (revocations are the services' to enforce).
    pub async fn claims(&self, token: &str) -> Result<Claims, Problem> {
        Ok(self.verifier.verify(token).await?)
    }

    /// Who is calling, verified: for the layers that must know before the
    /// handler does (idempotency keys, `/v1/me`). They leave the
    /// credentials in the request's extensions, where the handler finds them.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<(Credentials, Claims), Problem> {
        let credentials = self.resolve(headers).await?;
        let claims = self.claims(&credentials.token).await?;
        Ok((credentials, claims))
    }

    async fn exchange(&self, api_key: &str) -> Result<Credentials, Problem> {
        let digest: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let now = Instant::now();
        if let Some(credentials) = self.cached(&digest, now) {
            return Ok(credentials);
        }
        // The key is the credential here: no bearer yet.
        let mut identity =
            IdentityServiceClient::with_interceptor(self.identity.clone(), Outgoing::default());
        let issued = identity
            .issue_token(IssueTokenRequest {
                api_key: api_key.into(),
                tenant_id: String::new(),
            })
            .await?
            .into_inner();
        if issued.tenant_id.is_empty() {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this API key does not belong to a tenant",
            ));
        }
        let credentials = Credentials {
            token: issued.access_token,
            tenant_id: issued.tenant_id,
        };
        if let Some(renew_at) = renew_at(now, issued.expires_in_seconds)
            && let Ok(mut tokens) = self.tokens.write()
        {
            // Forget tokens of keys no longer used (rotated, revoked) as we go.
            tokens.retain(|_, cached| cached.renew_at > now);
            tokens.insert(
                digest,
                Cached {
                    credentials: credentials.clone(),
                    renew_at,
                },
            );
        }
        Ok(credentials)
    }

    fn cached(&self, digest: &[u8; 32], now: Instant) -> Option<Credentials> {
        let tokens = self.tokens.read().ok()?;
        let cached = tokens.get(digest).filter(|c| c.renew_at > now)?;
        Some(cached.credentials.clone())
    }
}

/// When a token issued at `now` must be renewed; `None` when it lives too
/// briefly to be worth keeping.
fn renew_at(now: Instant, expires_in_seconds: i64) -> Option<Instant> {
    let lifetime = Duration::from_secs(u64::try_from(expires_in_seconds).ok()?);
    let kept = lifetime
        .checked_sub(RENEW_BEFORE)
        .filter(|d| !d.is_zero())?;
    now.checked_add(kept)
}

impl<S> FromRequestParts<S> for Credentials
where
    Arc<TokenCache>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(resolved) = parts.extensions.get::<Credentials>() {
            return Ok(resolved.clone());
        }
        Arc::<TokenCache>::from_ref(state)
            .resolve(&parts.headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn an_api_key_or_a_bearer_token_with_its_tenant() {
        assert_eq!(
            presented(&headers(&[("x-api-key", "ql_3f9a.secret")])).unwrap(),
            Presented::ApiKey("ql_3f9a.secret")
        );
        assert_eq!(
            presented(&headers(&[
                ("authorization", "Bearer eyJ.a.b"),
                ("x-tenant-id", "acme")
            ]))
            .unwrap(),
            Presented::Bearer {
                token: "eyJ.a.b",
                tenant_id: Some("acme")
            }
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer eyJ.a.b")])).unwrap(),
            Presented::Bearer {
                token: "eyJ.a.b",
                tenant_id: None
            }
        );
    }

    #[test]
    fn with_both_the_api_key_decides() {
        assert_eq!(
            presented(&headers(&[
                ("x-api-key", "k"),
                ("authorization", "Bearer t")
            ]))
            .unwrap(),
            Presented::ApiKey("k")
        );
    }

    #[test]
    fn missing_credentials_are_refused() {
        let status = |pairs| presented(&headers(pairs)).unwrap_err().status;
        assert_eq!(status(&[]), StatusCode::UNAUTHORIZED);
        assert_eq!(status(&[("x-api-key", " ")]), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(&[("authorization", "Basic dXNlcg=="), ("x-tenant-id", "acme")]),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn tokens_are_renewed_a_minute_before_they_expire() {
        let now = Instant::now();
        assert_eq!(renew_at(now, 900), Some(now + Duration::from_secs(840)));
        assert_eq!(renew_at(now, 60), None);
        assert_eq!(renew_at(now, -1), None);
    }
}
