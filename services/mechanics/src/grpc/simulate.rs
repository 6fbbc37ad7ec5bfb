//! `SimulateRules`: a backtest of a rule set over the tenant's stored
//! events, streamed — progress after each page, then the report. It reads
//! and never writes.

use std::collections::HashMap;
use std::sync::Arc;

use questline_kit::DomainError;
use questline_proto::mechanics as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response};

use super::{MechanicsApi, decode, encode};
use crate::domain::backtest::{MemberView, Replay};
use crate::domain::book::RuleBook;
use crate::store::{After, Store};

pub type Stream = ReceiverStream<tonic::Result<pb::SimulateRulesResponse>>;

/// Stored events read per page (and per progress message).
const PAGE: u64 = 10_000;

/// A backtest, decoded.
struct Backtest {
    tenant_id: String,
    book: RuleBook,
    range: (i64, i64),
    sample_size: usize,
}

pub(super) async fn simulate(
    api: &MechanicsApi,
    request: Request<pb::SimulateRulesRequest>,
) -> tonic::Result<Response<Stream>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let asked = decode::simulation(&req)?;
    caller.require_server(&req.tenant_id)?;
    let live = api.store.rule_book(&req.tenant_id).await?;
    let given = asked.rules.into_iter().map(Arc::new).collect();
    let backtest = Backtest {
        tenant_id: req.tenant_id,
        book: live.scenario(given, req.only_given),
        range: asked.range,
        sample_size: asked.sample_size,
    };
    let (tx, rx) = mpsc::channel(16);
    let store = api.store.clone();
    tokio::spawn(async move {
        if let Err(err) = run(&store, &backtest, &tx).await {
            let _ = tx.send(Err(err.into())).await;
        }
    });
    Ok(Response::new(ReceiverStream::new(rx)))
}

type Sender = mpsc::Sender<tonic::Result<pb::SimulateRulesResponse>>;

async fn run(store: &Store, b: &Backtest, tx: &Sender) -> Result<(), DomainError> {
    let total = store.count_events(&b.tenant_id, b.range).await?;
    let members = store.member_views(&b.tenant_id).await?;
    let mut replay = Replay::new(&b.book, b.sample_size);
    let mut after = After {
        at_ms: b.range.0.saturating_sub(1),
        event_id: String::new(),
    };
    loop {
        let page = store
            .events_page(&b.tenant_id, &after, b.range.1, PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = After {
            at_ms: last.at_ms,
            event_id: last.event_id.clone(),
        };
        replay_page(&mut replay, &page, &members);
        let progress = encode::progress(replay.replayed(), total);
        if tx.send(Ok(progress)).await.is_err() {
            return Ok(()); // the caller left
        }
    }
    let live = store.live_points(&b.tenant_id, b.range).await?;
    let _ = tx.send(Ok(encode::report(replay.finish(), live))).await;
    Ok(())
}

fn replay_page(
    replay: &mut Replay,
    page: &[crate::domain::backtest::StoredEvent],
    members: &HashMap<String, MemberView>,
) {
    let unknown = MemberView {
        facts: serde_json::json!({}),
        dates: Default::default(),
    };
    for e in page {
        replay.replay(e, members.get(&e.member_id).unwrap_or(&unknown));
    }
}
