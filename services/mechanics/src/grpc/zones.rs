//! Rules and counters that name no time zone take their tenant's when they
//! are saved or checked. The version records the zone it was judged in, so
//! a later change of the tenant's zone moves no stored rule or counter.

use questline_kit::DomainError;
use questline_kit::auth::Caller;

use super::{MechanicsApi, decode};

/// Fills each empty zone of `zones` with the tenant's. A malformed tenant
/// id is left to the handler's checks; a caller without even server access
/// to the tenant is refused before its zone is asked for.
pub(super) async fn fill<'a>(
    api: &MechanicsApi,
    caller: &Caller,
    tenant_id: &str,
    zones: impl IntoIterator<Item = &'a mut String>,
) -> Result<(), DomainError> {
    let empty: Vec<_> = zones.into_iter().filter(|z| z.is_empty()).collect();
    if empty.is_empty() || decode::tenant(tenant_id).is_err() {
        return Ok(());
    }
    caller.require_server(tenant_id)?;
    let zone = api.zones.of(tenant_id).await?;
    for z in empty {
        z.clone_from(&zone);
    }
    Ok(())
}
