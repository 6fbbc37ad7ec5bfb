//! Every hour, stored events older than the retention window are deleted,
//! a batch at a time so no transaction grows large.

use questline_kit::time::now_ms;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::store::{RETENTION_DAYS, Store};

const EVERY: Duration = Duration::from_secs(3600);
const BATCH: u64 = 500;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub async fn run(store: Store, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let before = now_ms() - RETENTION_DAYS * DAY_MS;
        loop {
            match store.prune_events(before, BATCH).await {
                Ok(deleted) if deleted == BATCH => continue,
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::info!(deleted, "stored events past retention deleted");
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(%err, "retention sweep stopped early");
                    break;
                }
            }
        }
    }
}
