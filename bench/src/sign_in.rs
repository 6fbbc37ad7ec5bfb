//! A load generator's sign-in: the admin's API key exchanged at identity
//! for a bearer token, as a brand's backend does before calling.

use anyhow::Context;
use questline_proto::identity::IssueTokenRequest;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// Identity, reached, and what the key's exchange gave.
pub struct SignedIn {
    pub identity: IdentityServiceClient<Channel>,
    pub tenant_id: String,
    /// The `authorization` header's value.
    pub bearer: MetadataValue<Ascii>,
}

/// Exchanges `api_key` at identity (`identity_url`).
pub async fn sign_in(identity_url: &str, api_key: &str) -> anyhow::Result<SignedIn> {
    let channel = Endpoint::from_shared(identity_url.to_string())?
        .connect()
        .await?;
    let mut identity = IdentityServiceClient::new(channel);
    let issued = identity
        .issue_token(IssueTokenRequest {
            api_key: api_key.into(),
            tenant_id: String::new(),
        })
        .await
        .context("exchanging the API key")?
        .into_inner();
    let bearer = format!("Bearer {}", issued.access_token).parse()?;
    Ok(SignedIn {
        identity,
        tenant_id: issued.tenant_id,
        bearer,
    })
}
