//! The live inbox: new messages pushed to the members watching. A message
//! put by this process's consumer goes out at once; one put by another
//! replica is found by a look at the recent messages every `POLL`, made
//! only while someone watches and shared by every watcher, so a thousand
//! open streams cost one query. The look reaches `LOOKBACK` into the past
//! (a message is committed a moment after it is created) and remembers
//! what it sent, so none goes twice.

use questline_kit::DomainError;
use questline_kit::time::now_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::entities::message;

/// How often the feed looks for messages other replicas put.
const POLL: Duration = Duration::from_millis(200);
/// How far back a look reaches, in ms.
const LOOKBACK: i64 = 10_000;
/// Most messages one look reads.
const MOST: u64 = 1_000;
/// Messages a slow watcher may fall behind by before it is told it lagged.
const BACKLOG: usize = 256;

type Watchers = HashMap<(String, String), broadcast::Sender<Arc<message::Model>>>;

pub struct InboxFeed {
    store: Store,
    watchers: Mutex<Watchers>,
    /// Ids sent lately, with their creation time, so a look skips them.
    sent: Mutex<HashMap<String, i64>>,
}

impl InboxFeed {
    pub fn new(store: Store) -> Arc<InboxFeed> {
        Arc::new(InboxFeed {
            store,
            watchers: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
        })
    }

    /// The member's new messages, from now on.
    pub fn watch(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> broadcast::Receiver<Arc<message::Model>> {
        let mut watchers = lock(&self.watchers);
        let key = (tenant_id.to_string(), member_id.to_string());
        watchers
            .entry(key)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    /// Sends `messages` to whoever watches their inbox, each once.
    pub fn publish(&self, messages: &[message::Model]) {
        let fresh: Vec<&message::Model> = {
            let mut sent = lock(&self.sent);
            messages
                .iter()
                .filter(|m| sent.insert(m.message_id.clone(), m.created_at).is_none())
                .collect()
        };
        let mut watchers = lock(&self.watchers);
        // Nobody left on a channel: drop it.
        watchers.retain(|_, tx| tx.receiver_count() > 0);
        for m in fresh {
            let key = (m.tenant_id.clone(), m.member_id.clone());
            if let Some(tx) = watchers.get(&key) {
                // No receiver since the retain: nothing to do.
                let _ = tx.send(Arc::new(m.clone()));
            }
        }
    }

    /// Looks for other replicas' messages while anyone watches, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
            if let Err(err) = self.look().await {
                tracing::warn!(%err, "the inbox feed could not look for new messages");
            }
        }
    }

    async fn look(&self) -> Result<(), DomainError> {
        let watched = lock(&self.watchers)
            .values()
            .any(|tx| tx.receiver_count() > 0);
        let since = now_ms() - LOOKBACK;
        lock(&self.sent).retain(|_, created| *created >= since - LOOKBACK);
        if !watched {
            return Ok(());
        }
        let recent = self.store.messages_since(since, MOST).await?;
        self.publish(&recent);
        Ok(())
    }
}

/// The lock, even after a panic elsewhere: the maps stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{put, store, to};

    async fn deliver(store: &Store, member_id: &str, event_id: &str) -> Vec<message::Model> {
        put(store, to("acme", member_id, event_id), event_id).await
    }

    #[tokio::test]
    async fn a_watcher_gets_its_members_messages_once_from_either_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let feed = InboxFeed::new(store.clone());
        let mut m1 = feed.watch("acme", "m1");
        // Put here: published at once; the look finds it again and skips it.
        let here = deliver(&store, "m1", "e1").await;
        feed.publish(&here);
        feed.look().await.unwrap();
        // Put by "another replica": only the look finds it.
        deliver(&store, "m1", "e2").await;
        deliver(&store, "m2", "e3").await;
        feed.look().await.unwrap();
        let mut got = Vec::new();
        while let Ok(m) = m1.try_recv() {
            got.push(m.title.clone());
        }
        assert_eq!(got, ["e1", "e2"]);
    }

    #[tokio::test]
    async fn nobody_watching_costs_no_query_and_leaves_no_channel() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let feed = InboxFeed::new(store.clone());
        drop(feed.watch("acme", "m1"));
        feed.publish(&deliver(&store, "m1", "e1").await);
        assert!(lock(&feed.watchers).is_empty());
        feed.look().await.unwrap();
    }
}
