//! Service clients for the services run in this process without a key of
//! their own: created at identity with the operator key and kept in the data
//! directory (owner-only), so a restart keeps the same client. `questline
//! dev` and the test harness enrol; a pod is given its key in settings
//! (`QUESTLINE__<SERVICE>__SERVICE_KEY`).

use questline_kit::client::Outgoing;
use questline_kit::config::{ServiceKind, Settings};
use questline_kit::events::INSTALLATION;
use questline_proto::identity::{self as id, identity_service_client::IdentityServiceClient};
use std::path::{Path, PathBuf};

use crate::mesh::Mesh;

/// Gives every keyless service of `mesh` its service key.
pub async fn enrol(mesh: &Mesh) -> anyhow::Result<()> {
    let missing = mesh.credentials.missing();
    let settings = &mesh.settings;
    if missing.is_empty() || settings.auth.operator_key.is_empty() {
        return Ok(());
    }
    for kind in missing {
        let file = key_file(settings, kind);
        let key = match std::fs::read_to_string(&file) {
            Ok(key) => key.trim().to_string(),
            Err(_) => {
                let key = create(settings, kind).await?;
                std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
                crate::write_private(&file, &key)?;
                key
            }
        };
        if let Some(credential) = mesh.credentials.get(kind) {
            credential.set_key(key).await;
        }
    }
    Ok(())
}

fn key_file(settings: &Settings, kind: ServiceKind) -> PathBuf {
    Path::new(&settings.data_dir)
        .join("service-keys")
        .join(format!("{}.key", kind.name()))
}

/// A new service client for `kind`; its key is shown this once.
async fn create(settings: &Settings, kind: ServiceKind) -> anyhow::Result<String> {
    let operator = crate::demo::token(settings, &settings.auth.operator_key).await?;
    let mut identity = IdentityServiceClient::with_interceptor(
        questline_kit::client::channel(&settings.endpoint(ServiceKind::Identity))?,
        Outgoing::bearer(&operator),
    );
    let created = identity
        .create_api_client(id::CreateApiClientRequest {
            tenant_id: INSTALLATION.into(),
            name: kind.name().into(),
            scopes: vec![id::Scope::Service as i32],
            idempotency_key: questline_kit::new_id(),
        })
        .await?
        .into_inner();
    Ok(created.api_key)
}
