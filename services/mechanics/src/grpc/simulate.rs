//! `SimulateRules`: a backtest of a rule set over the tenant's stored
//! events, streamed — progress after each page, then the report. It reads
//! and never writes.

use std::sync::Arc;

use questline_kit::DomainError;
use questline_proto::mechanics as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response};

use super::{MechanicsApi, decode, encode, zones};
use crate::domain::book::RuleBook;
use crate::store::Store;

pub type Stream = ReceiverStream<tonic::Result<pb::SimulateRulesResponse>>;

type Sender = mpsc::Sender<tonic::Result<pb::SimulateRulesResponse>>;

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
    let mut req = request.into_inner();
    let given = req.rules.iter_mut().map(|r| &mut r.time_zone);
    zones::fill(api, &caller, &req.tenant_id, given).await?;
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

async fn run(store: &Store, b: &Backtest, tx: &Sender) -> Result<(), DomainError> {
    // Progress is best effort: a slow reader misses some, never the report.
    let progress = |replayed, total| {
        let _ = tx.try_send(Ok(encode::progress(replayed, total)));
        !tx.is_closed()
    };
    let replayed = store
        .replay(&b.tenant_id, &b.book, b.range, b.sample_size, progress)
        .await?;
    if let Some(done) = replayed {
        let _ = tx.send(Ok(encode::report(done.report, done.live))).await;
    }
    Ok(())
}
