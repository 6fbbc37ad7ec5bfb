//! The inbox: a member's messages, listed, counted, marked read, deleted
//! and watched live. A server or admin client reaches any member of its
//! tenant, a member token only its own; another tenant's or an erased
//! member is NOT_FOUND.

use questline_kit::auth::Caller;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::notifications as pb;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response};

use super::{NotificationsApi, encode};
use crate::store::Store;
use crate::store::entities::message;
use crate::store::inbox::Marked;

type Answer<T> = tonic::Result<Response<T>>;

pub type Stream = ReceiverStream<tonic::Result<pb::WatchInboxResponse>>;

/// Most ids one MarkInboxRead names.
const MOST_MARKED: usize = 500;
/// Most messages a resumed watch sends from before it started.
const MOST_RESUMED: u64 = 500;

/// Checks the member's ids, the caller's access, and that the member exists.
pub(super) async fn member(
    api: &NotificationsApi,
    caller: &Caller,
    tenant_id: &str,
    member_id: &str,
) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("member_id", member_id)
        .finish()?;
    caller.require_member_access(tenant_id, member_id)?;
    api.members.get(tenant_id, member_id, &caller.token).await?;
    Ok(())
}

pub(super) async fn list(
    api: &NotificationsApi,
    request: Request<pb::ListInboxRequest>,
) -> Answer<pb::ListInboxResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let page = paging::parse(req.page_size, &req.page_token)?;
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let found = api
        .store
        .inbox(&req.tenant_id, &req.member_id, req.unread_only, &page)
        .await?;
    Ok(Response::new(pb::ListInboxResponse {
        messages: found.messages.into_iter().map(encode::message).collect(),
        next_page_token: found.next_page_token,
    }))
}

pub(super) async fn summary(
    api: &NotificationsApi,
    request: Request<pb::GetInboxSummaryRequest>,
) -> Answer<pb::GetInboxSummaryResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let found = api
        .store
        .inbox_summary(&req.tenant_id, &req.member_id)
        .await?;
    Ok(Response::new(pb::GetInboxSummaryResponse {
        message_count: count(found.messages),
        unread_count: count(found.unread),
    }))
}

pub(super) async fn mark_read(
    api: &NotificationsApi,
    request: Request<pb::MarkInboxReadRequest>,
) -> Answer<pb::MarkInboxReadResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id);
    match (req.all, req.message_ids.len()) {
        (true, 0) => {}
        (true, _) => {
            v.add("message_ids", "must be empty when all is true");
        }
        (false, 0) => {
            v.add("message_ids", "name at least one message, or set all");
        }
        (false, n) if n > MOST_MARKED => {
            v.add("message_ids", format!("must name at most {MOST_MARKED}"));
        }
        (false, _) => {
            for (i, id) in req.message_ids.iter().enumerate() {
                v.id(&format!("message_ids[{i}]"), id);
            }
        }
    }
    v.finish()?;
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let which = if req.all {
        Marked::All
    } else {
        Marked::These(&req.message_ids)
    };
    let (tenant_id, member_id) = (&req.tenant_id, &req.member_id);
    let marked = api
        .store
        .mark_read(tenant_id, member_id, which, now_ms())
        .await?;
    let summary = api.store.inbox_summary(tenant_id, member_id).await?;
    Ok(Response::new(pb::MarkInboxReadResponse {
        marked: i32::try_from(marked).unwrap_or(i32::MAX),
        unread_count: count(summary.unread),
    }))
}

pub(super) async fn delete(
    api: &NotificationsApi,
    request: Request<pb::DeleteInboxMessageRequest>,
) -> Answer<pb::DeleteInboxMessageResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    Violations::new()
        .id("message_id", &req.message_id)
        .finish()?;
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    api.store
        .delete_message(&req.tenant_id, &req.member_id, &req.message_id)
        .await?;
    Ok(Response::new(pb::DeleteInboxMessageResponse {}))
}

/// Starts a watch: what came after `after_message_id`, then each new
/// message, until the caller hangs up or the token expires.
pub(super) async fn watch(
    api: &NotificationsApi,
    request: Request<pb::WatchInboxRequest>,
) -> tonic::Result<Response<Stream>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    if !req.after_message_id.is_empty() {
        Violations::new()
            .id("after_message_id", &req.after_message_id)
            .finish()?;
    }
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    // Watching before reading the backlog: nothing falls between the two.
    let live = api.feed.watch(&req.tenant_id, &req.member_id);
    let expires = Duration::from_secs(
        u64::try_from(caller.claims.exp.saturating_sub(now_ms() / 1000)).unwrap_or(0),
    );
    let watch = Watch {
        store: api.store.clone(),
        tenant_id: req.tenant_id,
        member_id: req.member_id,
        sent: VecDeque::new(),
        last: req.after_message_id,
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(watch.run(live, tx, expires));
    Ok(Response::new(ReceiverStream::new(rx)))
}

type Sender = mpsc::Sender<tonic::Result<pb::WatchInboxResponse>>;

/// One member's watch: the ids it sent lately, so none goes twice.
struct Watch {
    store: Store,
    tenant_id: String,
    member_id: String,
    sent: VecDeque<String>,
    /// The last id sent (or resumed after), to catch up from after a lag.
    last: String,
}

impl Watch {
    /// Ids remembered to skip repeats: the feed's lookback holds fewer.
    const REMEMBERED: usize = 1_000;

    async fn run(
        mut self,
        mut live: broadcast::Receiver<Arc<message::Model>>,
        tx: Sender,
        expires: Duration,
    ) {
        let ended = tokio::time::sleep(expires);
        tokio::pin!(ended);
        if !self.last.is_empty() && self.catch_up(&tx).await.is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                () = tx.closed() => return,
                () = &mut ended => {
                    let expired = tonic::Status::unauthenticated("the token expired; watch again with a fresh one");
                    let _ = tx.send(Err(expired)).await;
                    return;
                }
                next = live.recv() => next,
            };
            let sent = match next {
                Ok(m) => self.send(&tx, &m).await,
                // Fell behind: read what was missed from the store.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&tx).await,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sent.is_err() {
                return;
            }
        }
    }

    /// Sends what the store holds after `last`.
    async fn catch_up(&mut self, tx: &Sender) -> Result<(), ()> {
        let missed = self
            .store
            .inbox_after(&self.tenant_id, &self.member_id, &self.last, MOST_RESUMED)
            .await;
        match missed {
            Ok(rows) => {
                for m in rows {
                    self.send(tx, &m).await?;
                }
                Ok(())
            }
            Err(err) => {
                let _ = tx.send(Err(err.into())).await;
                Err(())
            }
        }
    }

    async fn send(&mut self, tx: &Sender, m: &message::Model) -> Result<(), ()> {
        if self.sent.contains(&m.message_id) {
            return Ok(());
        }
        if self.sent.len() == Self::REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back(m.message_id.clone());
        if m.message_id > self.last {
            self.last = m.message_id.clone();
        }
        let answer = pb::WatchInboxResponse {
            message: Some(encode::message(m.clone())),
        };
        tx.send(Ok(answer)).await.map_err(|_| ())
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
