//! Nothing left pending: an event whose outcome was recorded but whose
//! awards did not all reach the ledger — its caller gave up, the process
//! died, the ledger was down — is finished here, acting with the service's
//! own token for the event's tenant. Credits keep their derived keys, so a
//! sweep racing a caller's replay still credits once.

use questline_kit::DomainError;
use questline_kit::credential::ServiceCredential;
use questline_kit::meter::EVENTS_RECOVERED;
use questline_kit::time::now_ms;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Tracker;

/// How often the loop looks for pending events.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// An event younger than this is left to the request still working on it.
pub const PENDING_FOR_MS: i64 = 5_000;
/// Events read at a time.
const PAGE: u64 = 100;

/// Sweeps until `stop`. Without a service key it waits for one (enrolment
/// may come after start); pending events then wait for a caller's replay.
pub async fn run(
    tracker: Arc<Tracker>,
    credential: Arc<ServiceCredential>,
    stop: CancellationToken,
) {
    let mut warned = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        if !credential.has_key() {
            if !warned {
                tracing::warn!("no service key: pending events are finished only when replayed");
                warned = true;
            }
            continue;
        }
        if let Err(err) = sweep(&tracker, &credential).await {
            tracing::warn!(%err, "recovery sweep stopped early");
        }
    }
}

/// Finishes every event pending for `PENDING_FOR_MS` or more, page by page;
/// one that fails is counted and left for the next sweep.
pub async fn sweep(tracker: &Tracker, credential: &ServiceCredential) -> Result<(), DomainError> {
    let before = now_ms() - PENDING_FOR_MS;
    let mut from = 0;
    let mut seen = HashSet::new();
    loop {
        let page = tracker.store.pending(from, before, PAGE).await?;
        let fresh: Vec<_> = page
            .into_iter()
            .filter(|t| seen.insert((t.event.tenant_id.clone(), t.event.event_id.clone())))
            .collect();
        let Some(last) = fresh.last() else {
            return Ok(());
        };
        from = last.event.created_at;
        for mut tracked in fresh {
            let outcome = match credential.token(&tracked.event.tenant_id).await {
                Ok(token) => tracker.finish(&token, &mut tracked, true).await,
                Err(err) => Err(err),
            };
            let counted = match outcome {
                Ok(()) => "finished",
                Err(err) => {
                    tracing::warn!(
                        tenant_id = %tracked.event.tenant_id,
                        event_id = %tracked.event.event_id,
                        %err,
                        "pending event not finished; next sweep retries"
                    );
                    "failed"
                }
            };
            metrics::counter!(EVENTS_RECOVERED, "outcome" => counted).increment(1);
        }
    }
}
