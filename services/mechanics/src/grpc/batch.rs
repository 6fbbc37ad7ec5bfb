//! `TrackBatch`: many events in one call, each tracked as `Track` would,
//! a few at a time, answered in the order sent.

use futures::stream::{self, StreamExt};
use questline_kit::auth::Caller;
use questline_kit::{DomainError, Violations};
use questline_proto::mechanics as pb;
use tonic::{Request, Response};

use super::{MechanicsApi, decode, encode};

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;

/// Events tracked at once within a batch: enough to overlap the ledger's
/// round trips, few enough to leave the rest of the service its share.
const IN_FLIGHT: usize = 8;

pub(super) async fn track_batch(
    api: &MechanicsApi,
    request: Request<pb::TrackBatchRequest>,
) -> tonic::Result<Response<pb::TrackBatchResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .batch("events", req.events.len(), MAX_BATCH)
        .finish()?;
    caller.require_server(&req.tenant_id)?;
    let tenant_id = req.tenant_id;
    let outcomes = stream::iter(req.events)
        .map(|event| one(api, &caller, &tenant_id, event))
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    Ok(Response::new(pb::TrackBatchResponse { outcomes }))
}

async fn one(
    api: &MechanicsApi,
    caller: &Caller,
    tenant_id: &str,
    mut event: pb::TrackRequest,
) -> pb::TrackOutcome {
    let event_id = event.event_id.clone();
    if event.tenant_id.is_empty() {
        event.tenant_id = tenant_id.to_string();
    }
    let tracked = async {
        if event.tenant_id != tenant_id {
            return Err(DomainError::invalid(
                "tenant_id",
                "must be the batch's tenant",
            ));
        }
        let track = decode::track(event)?;
        api.tracker.track(&caller.token, &track).await
    }
    .await;
    match tracked {
        Ok(tracked) => pb::TrackOutcome {
            event_id,
            tracked: Some(encode::tracked(tracked)),
            error: None,
        },
        Err(err) => {
            let status = tonic::Status::from(err);
            pb::TrackOutcome {
                event_id,
                tracked: None,
                error: Some(pb::TrackError {
                    code: questline_kit::error::code_name(status.code()),
                    message: status.message().to_string(),
                }),
            }
        }
    }
}
