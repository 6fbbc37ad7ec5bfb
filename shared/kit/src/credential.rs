//! A service's own credential: its service key, exchanged at identity for a
//! short-lived token per tenant (scope service, the duties of its service),
//! kept until half its life is gone. Work no caller asked for — recovering
//! pending events, time sweeps — acts with it.

use questline_proto::identity::{
    IssueTokenRequest, identity_service_client::IdentityServiceClient,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use crate::client::{Channel, Outgoing};
use crate::config::{ServiceKind, Settings};
use crate::error::{DomainError, from_upstream};

pub struct ServiceCredential {
    key: RwLock<String>,
    identity: Channel,
    /// Tokens by tenant, with when to ask for a new one.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl ServiceCredential {
    pub fn new(key: String, identity: Channel) -> ServiceCredential {
        ServiceCredential {
            key: RwLock::new(key),
            identity,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the service has a key at all.
    pub fn has_key(&self) -> bool {
        self.key.read().is_ok_and(|k| !k.is_empty())
    }

    /// Takes a new key (enrolment, rotation); tokens of the old one are
    /// dropped, so a revoked key stops being used at once.
    pub async fn set_key(&self, key: String) {
        if let Ok(mut held) = self.key.write() {
            *held = key;
        }
        self.tokens.lock().await.clear();
    }

    /// A token acting for `tenant_id`, from the cache or fresh from identity.
    pub async fn token(&self, tenant_id: &str) -> Result<String, DomainError> {
        let mut tokens = self.tokens.lock().await;
        if let Some((token, renew_at)) = tokens.get(tenant_id)
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let api_key = self
            .key
            .read()
            .map(|k| k.clone())
            .map_err(DomainError::internal)?;
        if api_key.is_empty() {
            return Err(DomainError::Unavailable(
                "this service has no service key configured".into(),
            ));
        }
        let issued =
            IdentityServiceClient::with_interceptor(self.identity.clone(), Outgoing::default())
                .issue_token(IssueTokenRequest {
                    api_key,
                    tenant_id: tenant_id.into(),
                })
                .await
                .map_err(from_upstream)?
                .into_inner();
        let half_life = Duration::from_secs(issued.expires_in_seconds.max(2) as u64 / 2);
        let token = issued.access_token;
        tokens.insert(
            tenant_id.into(),
            (token.clone(), Instant::now() + half_life),
        );
        Ok(token)
    }
}

/// The credentials of the services running in one process, by service.
#[derive(Clone, Default)]
pub struct Credentials(Arc<BTreeMap<ServiceKind, Arc<ServiceCredential>>>);

impl Credentials {
    /// One credential per service in `kinds` but identity (which signs its
    /// own tokens), each with its configured key, possibly empty.
    pub fn of(settings: &Settings, kinds: &[ServiceKind]) -> anyhow::Result<Credentials> {
        let mut map = BTreeMap::new();
        for kind in kinds.iter().filter(|k| **k != ServiceKind::Identity) {
            let identity = crate::client::channel(&settings.endpoint(ServiceKind::Identity))?;
            let key = settings.service(*kind).service_key.clone();
            map.insert(*kind, Arc::new(ServiceCredential::new(key, identity)));
        }
        Ok(Credentials(Arc::new(map)))
    }

    pub fn get(&self, kind: ServiceKind) -> Option<Arc<ServiceCredential>> {
        self.0.get(&kind).cloned()
    }

    /// The services that run here without a key yet.
    pub fn missing(&self) -> Vec<ServiceKind> {
        self.0
            .iter()
            .filter(|(_, c)| !c.has_key())
            .map(|(k, _)| *k)
            .collect()
    }
}
